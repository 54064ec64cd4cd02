//! DICOM UIDs as the store uses them: as directory and file names, so a UID that is not one
//! (empty, too long, letters, `..`, a slash) must never reach the file system. Also how their
//! text is read from a data set.

/// Whether `uid` is a valid DICOM UID (PS3.5 9.1): 1 to 64 characters, dot-separated components
/// of digits, no empty component, no leading zero in a multi-digit component. Trailing NUL or
/// space padding must be trimmed first.
pub fn is_valid_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c.len() == 1 || !c.starts_with('0'))
        })
}

/// A UID as read from the wire or a file: padding (NUL, space) removed.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' ']).trim_start_matches(' ')
}

/// The text of attribute `tag` of `obj` without its padding; empty when absent or not text.
pub fn text_of(obj: &dicom_object::InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element_opt(tag)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
        .unwrap_or_default()
}

/// Checks `uid` and names the attribute when it is not a UID.
pub fn checked_uid<'a>(uid: &'a str, attribute: &str) -> Result<&'a str, String> {
    let uid = trim_uid(uid);
    if is_valid_uid(uid) {
        Ok(uid)
    } else {
        let shown: String = uid.chars().take(80).collect();
        Err(format!(
            "{attribute} {shown:?} is not a valid UID (digits and dots, at most 64 characters)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_that_could_leave_the_store_are_refused() {
        assert!(is_valid_uid("1.2.840.10008.5.1.4.1.1.2"));
        assert!(is_valid_uid("2.25.0"));
        for bad in
            ["", ".", "..", "../1", "1/2", "1..2", "1.2.", ".1", "1.02", "1.2a", "1.2\\3", "C:1"]
        {
            assert!(!is_valid_uid(bad), "{bad:?} accepted");
        }
        assert!(!is_valid_uid(&"1".repeat(65)));
        assert_eq!(checked_uid("1.2.3\0", "SOPInstanceUID"), Ok("1.2.3"));
        assert!(
            checked_uid("../../etc", "StudyInstanceUID").unwrap_err().contains("StudyInstanceUID")
        );
    }
}
