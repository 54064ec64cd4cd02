//! DICOM UIDs as the store uses them: as directory and file names, so a UID that is not one
//! (empty, too long, letters, `..`, a slash) must never reach the file system. Also how their
//! text is read from a data set.

/// Whether `uid` can name a directory or file of the store: 1 to 64 characters, dot-separated
/// components of digits, none empty (PS3.5 9.1). A component with a leading zero, which the
/// standard forbids, is accepted: legacy modalities write them, and it cannot leave the store.
/// Trailing NUL or space padding must be trimmed first.
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// A UID as read from the wire or a file: padding (NUL, space) removed.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' ']).trim_start_matches(' ')
}

/// The text of attribute `tag` of `obj` without its padding; empty when absent or not text.
/// A value encoded as UN (unknown VR, as some writers store standard attributes in explicit
/// VR files) is read as the text its bytes are: every attribute read here is a string VR
/// (UI, LO, PN, DA, CS, IS, SH), which PS3.5 6.2.2 says to decode by the dictionary's VR.
pub fn text_of(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    let Some(e) = obj.element_opt(tag).ok().flatten() else { return String::new() };
    let text = if e.vr() == dicom_core::VR::UN {
        e.to_bytes().ok().map(|b| String::from_utf8_lossy(&b).into_owned())
    } else {
        e.to_str().ok().map(|s| s.into_owned())
    };
    text.map(|s| s.trim_end_matches(['\0', ' ']).trim_start_matches(' ').to_string())
        .unwrap_or_default()
}

/// Checks `uid` and names the attribute when it is not a UID.
pub fn checked_uid<'a>(uid: &'a str, attribute: &str) -> Result<&'a str, String> {
    let uid = trim_uid(uid);
    if is_valid_uid(uid) {
        Ok(uid)
    } else {
        // The reason first: a peer sees only the first 64 characters.
        let shown: String = uid.chars().take(24).collect();
        let more = if uid.chars().count() > 24 { "..." } else { "" };
        Err(format!("{attribute} is not a UID (digits and dots, 1 to 64): {shown:?}{more}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_that_could_leave_the_store_are_refused() {
        assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.2"));
        assert!(is_valid_uid("2.25.0"));
        assert!(is_valid_uid("1.2.03.102"), "legacy leading zeros");
        for bad in ["", ".", "..", "../1", "1/2", "1..2", "1.2.", ".1", "1.2a", "1.2\\3", "C:1"] {
            assert!(!is_valid_uid(bad), "{bad:?} accepted");
        }
        assert!(!is_valid_uid(&"1".repeat(65)));
        assert_eq!(checked_uid("1.2.3\0", "SOPInstanceUID"), Ok("1.2.3"));
        assert!(
            checked_uid("../../etc", "StudyInstanceUID").unwrap_err().contains("StudyInstanceUID")
        );
    }
}
