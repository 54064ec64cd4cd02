//! The parts of a STOW-RS request body (PS3.18 10.5): `multipart/related` with a boundary, each
//! part `application/dicom` (a Part 10 file); or one `application/dicom` body.

use crate::error::{Error, Result};

/// The DICOM files in a request body of type `content_type`.
pub fn parts<'a>(content_type: &str, body: &'a [u8]) -> Result<Vec<&'a [u8]>> {
    let refuse = |why: String| Error::instance("STOW-RS request", why);
    let lower = content_type.to_ascii_lowercase();
    if lower.starts_with("application/dicom") {
        return Ok(vec![body]);
    }
    if !lower.starts_with("multipart/related") {
        return Err(refuse(format!(
            "Content-Type {content_type:?}: expected multipart/related; type=\"application/dicom\""
        )));
    }
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| refuse("multipart/related without a boundary".into()))?;
    let delimiter = format!("--{boundary}").into_bytes();
    let mut out = Vec::new();
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let start =
        find(rest, &delimiter).ok_or_else(|| refuse("no part delimiter in the body".into()))?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            break; // the close delimiter
        }
        let rest_line = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| refuse("a delimiter not followed by CRLF".into()))?;
        let header_end = find(rest_line, b"\r\n\r\n")
            .ok_or_else(|| refuse("a part without its header end".into()))?;
        let headers = String::from_utf8_lossy(&rest_line[..header_end]).to_ascii_lowercase();
        let content = &rest_line[header_end + 4..];
        let mut close = delimiter.clone();
        close.splice(0..0, *b"\r\n");
        let end = find(content, &close)
            .ok_or_else(|| refuse("a part that does not end with the boundary".into()))?;
        let part_type = headers
            .lines()
            .find_map(|l| l.strip_prefix("content-type:"))
            .map(str::trim)
            .unwrap_or("application/dicom");
        if !part_type.starts_with("application/dicom") {
            return Err(refuse(format!(
                "a part of type {part_type:?}: only application/dicom is stored"
            )));
        }
        out.push(&content[..end]);
        rest = &content[end + close.len()..];
    }
    if out.is_empty() {
        return Err(refuse("no parts".into()));
    }
    Ok(out)
}

/// What a part says it is, when its header reads.
#[derive(Clone, Debug, PartialEq)]
pub struct PartUids {
    /// SOPClassUID.
    pub sop_class: String,
    /// SOPInstanceUID.
    pub sop_instance: String,
    /// StudyInstanceUID.
    pub study: String,
}

/// The UIDs of a Part 10 file's data set, read up to the pixel data; `None` when it is not one.
pub fn uids_of(file: &[u8]) -> Option<PartUids> {
    use dicom_dictionary_std::tags;
    if file.len() < 132 || &file[128..132] != b"DICM" {
        return None;
    }
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .from_reader(&file[128..])
        .ok()?;
    let text = |tag| crate::uid::text_of(&obj, tag);
    Some(PartUids {
        sop_class: text(tags::SOP_CLASS_UID),
        sop_instance: text(tags::SOP_INSTANCE_UID),
        study: text(tags::STUDY_INSTANCE_UID),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_cut_at_the_boundary_and_nothing_else() {
        let body = b"preamble\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nfirst\r\n--XyZ\r\nContent-Type: application/dicom\r\n\r\nsec\r\n--Xy\r\nond\r\n--XyZ--\r\n";
        let got =
            parts("multipart/related; type=\"application/dicom\"; boundary=\"XyZ\"", body).unwrap();
        assert_eq!(got, vec![&b"first"[..], &b"sec\r\n--Xy\r\nond"[..]]);
        assert_eq!(parts("application/dicom", b"raw").unwrap(), vec![&b"raw"[..]]);
        for (ct, body) in [
            ("text/plain", &b"x"[..]),
            ("multipart/related", &b"--a\r\n\r\nx\r\n--a--"[..]),
            (
                "multipart/related; boundary=a",
                &b"--a\r\nContent-Type: text/plain\r\n\r\nx\r\n--a--"[..],
            ),
            ("multipart/related; boundary=a", &b"--a\r\n\r\nunterminated"[..]),
            ("multipart/related; boundary=a", &b"--a--"[..]),
        ] {
            assert!(parts(ct, body).is_err(), "{ct} {body:?}");
        }
    }
}
