//! De-identification (PS3.15 Basic Profile): identifying attributes gone or blank at every
//! nesting level, UIDs replaced consistently under one key, pixels and geometry unchanged (read
//! back by us and by pydicom).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, open_file};
use hounsfield_io::dicom::{
    AnonymizeOptions, SeriesOptions, anonymize_dir, anonymize_file, read_dicom_file,
    read_dicom_series, replacement_uid, scan_dicom_dir,
};

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<String> {
    obj.get(tag).map(|e| e.to_str().unwrap().trim_end_matches('\0').trim().to_owned())
}

/// Every private attribute, at any depth.
fn private_tags(obj: &InMemDicomObject) -> Vec<dicom_core::Tag> {
    let mut found = Vec::new();
    for e in obj.iter() {
        if e.header().tag.group() % 2 == 1 {
            found.push(e.header().tag);
        }
        if let Some(items) = e.items() {
            for item in items {
                found.extend(private_tags(item));
            }
        }
    }
    found
}

fn shared_series() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom2nifti/generic/anatomical/001");
    p.exists().then_some(p)
}

#[test]
fn a_file_loses_its_identity_and_keeps_its_image() {
    let Some(data) = common::testdata() else { return };
    let input = data.join("pydicom/pydicom/data/test_files/CT_small.dcm");
    let original = open_file(&input).unwrap();
    assert!(!text(&original, tags::PATIENT_NAME).unwrap().is_empty(), "the input has a name");
    assert!(!private_tags(&original).is_empty(), "the input has private attributes");
    let out = tempfile::tempdir().unwrap();
    let output = out.path().join("anon.dcm");
    let options = AnonymizeOptions::with_key("test key");
    let report = anonymize_file(&input, &output, &options).unwrap();
    assert!(report.removed > 0 && report.blanked > 0 && report.uids_replaced >= 3, "{report:?}");

    let anon = open_file(&output).unwrap();
    for tag in [tags::PATIENT_NAME, tags::PATIENT_ID, tags::PATIENT_BIRTH_DATE, tags::STUDY_DATE] {
        assert_eq!(text(&anon, tag).as_deref(), Some(""), "{tag} is kept empty");
    }
    for tag in [tags::INSTITUTION_NAME, tags::OPERATORS_NAME, tags::PATIENT_AGE] {
        assert!(anon.get(tag).is_none(), "{tag} is removed");
    }
    assert!(private_tags(&anon).is_empty(), "{:?}", private_tags(&anon));
    assert_eq!(text(&anon, tags::PATIENT_IDENTITY_REMOVED).as_deref(), Some("YES"));
    for tag in [tags::STUDY_INSTANCE_UID, tags::SERIES_INSTANCE_UID, tags::SOP_INSTANCE_UID] {
        let (old, new) = (text(&original, tag).unwrap(), text(&anon, tag).unwrap());
        assert_eq!(new, replacement_uid(b"test key", &old), "{tag}");
        assert!(new.len() <= 64 && new.starts_with("2.25."), "{new}");
    }
    assert_eq!(
        anon.meta().media_storage_sop_instance_uid.trim_end_matches('\0'),
        text(&anon, tags::SOP_INSTANCE_UID).unwrap()
    );

    let (a, b) = (read_dicom_file(&input).unwrap(), read_dicom_file(&output).unwrap());
    assert_eq!(a.volumes, b.volumes, "pixels and geometry are unchanged");

    // The same key gives the same file; another key other UIDs.
    let again = out.path().join("again.dcm");
    anonymize_file(&input, &again, &options).unwrap();
    assert_eq!(std::fs::read(&output).unwrap(), std::fs::read(&again).unwrap());
    let other = out.path().join("other.dcm");
    anonymize_file(&input, &other, &AnonymizeOptions::with_key("another")).unwrap();
    let other = open_file(&other).unwrap();
    assert_ne!(text(&other, tags::STUDY_INSTANCE_UID), text(&anon, tags::STUDY_INSTANCE_UID));

    // pydicom reads the copy: the same pixels, no name.
    let Some(python) = common::python() else { return };
    let script = "import sys, pydicom\n\
        a, b = (pydicom.dcmread(p) for p in sys.argv[1:3])\n\
        print(int((a.pixel_array == b.pixel_array).all()), repr(str(b.PatientName)))";
    let run = Command::new(python).args(["-c", script]).arg(&input).arg(&output).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "1 ''", "{run:?}");
}

#[test]
fn a_series_stays_one_series_with_the_same_volume() {
    let Some(series) = shared_series() else {
        eprintln!("SKIPPED: ../shared/data/dicom2nifti not found");
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let options = AnonymizeOptions::random_key();
    let done = anonymize_dir(&series, out.path(), &options).unwrap();
    assert!(done.skipped.is_empty(), "{:?}", done.skipped);
    let before = scan_dicom_dir(&series).unwrap();
    let after = scan_dicom_dir(out.path()).unwrap();
    assert_eq!(done.files.len(), before.series[0].files.len());
    assert_eq!(after.series.len(), 1, "one series under one new UID");
    assert_ne!(after.series[0].uid, before.series[0].uid);
    let a = read_dicom_series(&before.series[0], &SeriesOptions::default()).unwrap();
    let b = read_dicom_series(&after.series[0], &SeriesOptions::default()).unwrap();
    assert_eq!(a.volumes, b.volumes, "pixels and geometry are unchanged");
}

#[test]
fn non_dicom_input_is_a_typed_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.txt");
    std::fs::write(&input, "not DICOM").unwrap();
    let output = dir.path().join("out.dcm");
    let err = anonymize_file(&input, &output, &AnonymizeOptions::with_key("k")).unwrap_err();
    assert!(matches!(err, hounsfield_io::Error::WrongFormat { .. }), "{err}");
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert!(!output.exists());
}
