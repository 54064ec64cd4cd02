//! Bad DICOM input is a typed error naming the file, never a panic.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use hounsfield_io::Error;
use hounsfield_io::dicom::{read_dicom_file, read_header, scan_dicom_dir};
use proptest::prelude::*;

fn series_file() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom2nifti/generic/anatomical/001/IM-0001-0001-0001.dcm");
    p.exists().then_some(p)
}

#[test]
fn non_dicom_files_are_the_wrong_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.dcm");
    std::fs::write(&p, b"just some text, not a DICOM file at all").unwrap();
    let err = read_dicom_file(&p).unwrap_err();
    assert!(matches!(err, Error::WrongFormat { .. }), "{err}");
    assert!(err.to_string().contains("notes.dcm"), "{err}");
    // A directory scan skips it and says why.
    let scan = scan_dicom_dir(dir.path()).unwrap();
    assert!(scan.series.is_empty());
    assert_eq!(scan.skipped.len(), 1);
}

#[test]
fn truncated_files_are_refused() {
    let Some(src) = series_file() else { return };
    let bytes = std::fs::read(src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [100, 140, 600, bytes.len() / 2, bytes.len() - 2] {
        let p = dir.path().join(format!("cut_{cut}.dcm"));
        std::fs::write(&p, &bytes[..cut]).unwrap();
        let err = read_dicom_file(&p).expect_err("a truncated file must be refused");
        assert!(err.to_string().contains(&format!("cut_{cut}.dcm")), "{err}");
    }
    // pydicom's own truncated file.
    if let Some(data) = common::testdata() {
        let p = data.join("pydicom/pydicom/data/test_files/MR_truncated.dcm");
        let err = read_dicom_file(&p).unwrap_err();
        assert!(err.to_string().contains("MR_truncated.dcm"), "{err}");
    }
}

#[test]
fn a_header_read_stops_before_the_pixels() {
    let Some(src) = series_file() else { return };
    // Header fields survive when the pixel data is cut off entirely.
    let bytes = std::fs::read(&src).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("header_only.dcm");
    std::fs::write(&p, &bytes[..bytes.len() - 256 * 256 * 2 + 16]).unwrap();
    let h = read_header(&p).unwrap();
    assert_eq!((h.rows, h.columns), (256, 256));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Random corruption of a real file: a volume or a typed error, never a panic.
    #[test]
    fn corrupted_files_never_panic(edits in prop::collection::vec((0usize..4000, any::<u8>()), 1..16), cut in 0usize..140_000) {
        let Some(src) = series_file() else { return Ok(()) };
        let mut b = std::fs::read(src).unwrap();
        for (pos, val) in edits {
            let i = pos % b.len();
            b[i] = val;
        }
        b.truncate(cut.max(1));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fuzz.dcm");
        std::fs::write(&p, &b).unwrap();
        let _ = read_dicom_file(&p);
    }
}

/// Preamble, magic and a file meta group for Explicit VR Little Endian.
fn explicit_le_preamble() -> Vec<u8> {
    let mut bytes = vec![0u8; 128];
    bytes.extend_from_slice(b"DICM");
    let ts = b"1.2.840.10008.1.2.1\0";
    let mut meta = Vec::new();
    meta.extend_from_slice(&[0x02, 0x00, 0x10, 0x00, b'U', b'I']);
    meta.extend_from_slice(&(ts.len() as u16).to_le_bytes());
    meta.extend_from_slice(ts);
    bytes.extend_from_slice(&[0x02, 0x00, 0x00, 0x00, b'U', b'L', 4, 0]);
    bytes.extend_from_slice(&(meta.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&meta);
    bytes
}

/// An explicit-VR element with a 4-byte length (OB, OW, UN...).
fn long_element(group: u16, element: u16, vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&group.to_le_bytes());
    e.extend_from_slice(&element.to_le_bytes());
    e.extend_from_slice(vr);
    e.extend_from_slice(&[0, 0]);
    e.extend_from_slice(&len.to_le_bytes());
    e.extend_from_slice(value);
    e
}

/// A short explicit-VR element (US).
fn us(group: u16, element: u16, v: u16) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&group.to_le_bytes());
    e.extend_from_slice(&element.to_le_bytes());
    e.extend_from_slice(b"US");
    e.extend_from_slice(&2u16.to_le_bytes());
    e.extend_from_slice(&v.to_le_bytes());
    e
}

/// A 200-byte file whose one element declares 4 GiB: refused before anything is allocated
/// (dicom-parser would zero-fill the declared length; found by the dicom_read fuzz target).
#[test]
fn an_element_longer_than_the_file_is_refused_before_allocating() {
    let mut bytes = explicit_le_preamble();
    bytes.extend(long_element(0x0009, 0x0010, b"OB", 0xFFFF_FFF0, &[1, 2, 3, 4, 5, 6, 7, 8]));
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge_element.dcm");
    std::fs::write(&p, &bytes).unwrap();
    let err = read_dicom_file(&p).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("huge_element.dcm") && text.contains("4294967280"), "{err}");

    // In the file meta group, which dicom-object reads (and allocates) before anything else.
    let mut meta = vec![0u8; 128];
    meta.extend_from_slice(b"DICM");
    meta.extend(long_element(0x0002, 0x0001, b"OB", 0xFFFF_FF00, &[0, 1]));
    let p = dir.path().join("huge_meta.dcm");
    std::fs::write(&p, &meta).unwrap();
    let err = read_dicom_file(&p).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("(0002,0001)"), "{err}");

    // A binary value whose length is not a multiple of its size (FD of 2 bytes): dicom-parser
    // would skip more than it reads and then meet garbage lengths (third fuzz find).
    let mut odd = explicit_le_preamble();
    odd.extend_from_slice(&[0x28, 0x00, 0x02, 0x01, b'F', b'D', 2, 0, 0, 0]);
    let p = dir.path().join("short_fd.dcm");
    std::fs::write(&p, &odd).unwrap();
    let err = read_dicom_file(&p).unwrap_err();
    assert!(matches!(err, Error::InvalidHeader { .. }), "{err}");
    assert!(err.to_string().contains("not a multiple of 8"), "{err}");

    // The same after valid pixel data: the header read stops before it, the decode must not.
    let mut image = explicit_le_preamble();
    for (element, v) in [(0x0002, 1), (0x0010, 2), (0x0011, 2), (0x0100, 8), (0x0101, 8)] {
        image.extend(us(0x0028, element, v));
    }
    image.extend(long_element(0x7FE0, 0x0010, b"OB", 4, &[10, 20, 30, 40]));
    let p = dir.path().join("two_by_two.dcm");
    std::fs::write(&p, &image).unwrap();
    let ok = read_dicom_file(&p).unwrap();
    assert_eq!(ok.volumes[0].to_f64().as_slice(), [10.0, 20.0, 30.0, 40.0]);
    image.extend(long_element(0xFFFC, 0xFFFC, b"OB", 0xFFFF_FFF0, &[0; 8]));
    let p = dir.path().join("trailing_huge.dcm");
    std::fs::write(&p, &image).unwrap();
    let err = read_dicom_file(&p).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("(FFFC,FFFC)"), "{err}");
}
