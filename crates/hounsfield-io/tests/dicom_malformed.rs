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
