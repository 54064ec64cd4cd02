//! Choosing and reading a series from a directory: sub-series of one UID and number are labelled
//! and chosen by label; a DICOM image that cannot be read stops the conversion (it may be a
//! slice) and is never interpolated over; reports and other non-image files do not; copies of one
//! slice are dropped on request; colour images take no modality LUT.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use hounsfield_io::dicom::{SeriesOptions, read_dicom_dir, read_dicom_file, scan_dicom_dir};
use hounsfield_io::{Error, SeriesProblem};

fn shared(case: &str) -> Option<PathBuf> {
    let p =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti").join(case);
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not found", p.display());
        None
    }
}

/// Copies the files of `from` into `to`, changing each data set with `edit`.
fn copy_with(from: &Path, to: &Path, edit: impl Fn(&mut dicom_object::DefaultDicomObject)) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let mut obj = dicom_object::open_file(&path).unwrap();
        edit(&mut obj);
        obj.write_to_file(to.join(path.file_name().unwrap())).unwrap();
    }
}

fn series_number(n: &str) -> DataElement<dicom_object::mem::InMemDicomObject> {
    DataElement::new(tags::SERIES_NUMBER, VR::IS, PrimitiveValue::from(n))
}

/// failing/sliceorientation holds a sagittal (number 202) and an axial (501) pair under one UID;
/// numbered alike they become sub-series 202.1 and 202.2, which --series 202 cannot tell apart.
#[test]
fn sub_series_of_one_uid_and_number_are_chosen_by_label() {
    let Some(src) = shared("failing/sliceorientation/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    copy_with(&src, dir.path(), |obj| {
        obj.put(series_number("202"));
    });
    let scan = scan_dicom_dir(dir.path()).unwrap();
    let labels: Vec<&str> = scan.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(labels, ["202.1", "202.2"]);
    let planes: Vec<String> = scan.series.iter().map(|s| s.plane()).collect();
    assert_ne!(planes[0], planes[1]);
    let err = read_dicom_dir(dir.path(), Some("202"), &SeriesOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Ambiguous { .. }), "{err}");
    assert!(err.to_string().contains("202.1") && err.to_string().contains("202.2"), "{err}");
    let err = read_dicom_dir(dir.path(), None, &SeriesOptions::default()).unwrap_err();
    assert!(err.to_string().contains("--series"), "{err}");
    // Series of different UIDs numbered alike are labelled apart too.
    let other = tempfile::tempdir().unwrap();
    copy_with(&src, other.path(), |obj| {
        obj.put(series_number("202"));
        if obj.element(tags::SERIES_NUMBER).is_ok()
            && obj.element(tags::IMAGE_ORIENTATION_PATIENT).unwrap().to_multi_float64().unwrap()[0]
                .abs()
                > 0.5
        {
            obj.put(DataElement::new(
                tags::SERIES_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from("1.2.3.4"),
            ));
        }
    });
    let scan_other = scan_dicom_dir(other.path()).unwrap();
    let uids: Vec<&str> = scan_other.series.iter().map(|s| s.uid.as_str()).collect();
    assert_ne!(uids[0], uids[1]);
    let other_labels: Vec<&str> = scan_other.series.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(other_labels, ["202.1", "202.2"]);
    assert!(matches!(
        read_dicom_dir(other.path(), Some("202"), &SeriesOptions::default()),
        Err(Error::Ambiguous { .. })
    ));
    for (label, plane) in labels.iter().zip(&planes) {
        let v = read_dicom_dir(dir.path(), Some(label), &SeriesOptions::default()).unwrap();
        let chosen = scan.select(dir.path(), Some(label)).unwrap();
        assert_eq!(&chosen.plane(), plane);
        assert_eq!(v.volumes[0].shape()[0], 2, "{label}");
    }
}

/// A slice whose header was cut short: the directory is refused, naming the file; with
/// skip_unreadable the rest converts (here: refused as uneven, the hole shows); resample_gaps never
/// fills the hole. A structured report in the directory is no obstacle.
#[test]
fn an_unreadable_slice_is_named_and_never_interpolated_over() {
    let Some(src) = shared("generic/anatomical/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let whole = read_dicom_dir(dir.path(), None, &SeriesOptions::default()).unwrap();
    if let Some(data) = common::testdata() {
        std::fs::copy(
            data.join("pydicom/pydicom/data/test_files/test-SR.dcm"),
            dir.path().join("report.dcm"),
        )
        .unwrap();
        let with_report = read_dicom_dir(dir.path(), None, &SeriesOptions::default()).unwrap();
        assert_eq!(with_report.volumes, whole.volumes, "a report is not a slice");
        let scan = scan_dicom_dir(dir.path()).unwrap();
        assert!(scan.skipped.iter().any(|s| !s.unreadable && s.reason.contains("not an image")));
    }
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("IM"))
        .collect();
    names.sort();
    let victim = &names[1];
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..700]).unwrap();

    let err = read_dicom_dir(dir.path(), None, &SeriesOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Incomplete { .. }), "{err}");
    assert!(err.to_string().contains(&victim.display().to_string()), "{err}");
    let skip = SeriesOptions::default().with_skip_unreadable(true);
    let err = read_dicom_dir(dir.path(), None, &skip).unwrap_err();
    assert!(
        matches!(err, Error::Series { problem: SeriesProblem::UnevenSpacing { .. }, .. }),
        "{err}"
    );
    let err = read_dicom_dir(dir.path(), None, &skip.with_resample_gaps(true)).unwrap_err();
    assert!(matches!(err, Error::Incomplete { .. }), "{err}");
    assert!(err.to_string().contains("never interpolated"), "{err}");
}

/// A slice whose pixel data was cut short is named at scan time, with the bytes missing.
#[test]
fn truncated_pixel_data_is_found_by_the_scan() {
    let Some(src) = shared("generic/anatomical/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(dir.path().join("cut.dcm"), &bytes[..bytes.len() - 300]).unwrap();
    let scan = scan_dicom_dir(dir.path()).unwrap();
    assert_eq!(scan.skipped.len(), 1);
    assert!(
        scan.skipped[0].unreadable && scan.skipped[0].reason.contains("300 bytes missing"),
        "{:?}",
        scan.skipped
    );
    let err = read_dicom_file(dir.path().join("cut.dcm")).unwrap_err();
    assert!(matches!(err, Error::Truncated { .. }), "{err}");
}

/// Two copies of one slice: not a volume, unless duplicates are dropped.
#[test]
fn copies_of_one_slice_are_dropped_on_request() {
    let Some(src) = shared("generic/anatomical/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let first = std::fs::read_dir(&src).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    std::fs::copy(&first, dir.path().join("a.dcm")).unwrap();
    std::fs::copy(&first, dir.path().join("b.dcm")).unwrap();
    let err = read_dicom_dir(dir.path(), None, &SeriesOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Series { problem: SeriesProblem::NotAVolume(2), .. }), "{err}");
    let one =
        read_dicom_dir(dir.path(), None, &SeriesOptions::default().with_drop_duplicates(true))
            .unwrap();
    let alone = read_dicom_file(&first).unwrap();
    assert_eq!(one.volumes, alone.volumes);
}

/// An RGB secondary capture with RescaleSlope/Intercept (as CT workstations write them): the
/// modality LUT is for greyscale (PS3.3 C.11.1), so the colours come out as stored.
#[test]
fn colour_images_ignore_a_rescale() {
    let Some(data) = common::testdata() else { return };
    let src = data.join("pydicom-data/data_store/data/SC_rgb.dcm");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rgb_ct.dcm");
    let mut obj = dicom_object::open_file(&src).unwrap();
    obj.put(DataElement::new(tags::RESCALE_INTERCEPT, VR::DS, PrimitiveValue::from("-1024")));
    obj.put(DataElement::new(tags::RESCALE_SLOPE, VR::DS, PrimitiveValue::from("2")));
    obj.write_to_file(&path).unwrap();
    let rescaled = read_dicom_file(&path).unwrap();
    let plain = read_dicom_file(&src).unwrap();
    assert_eq!(rescaled.samples, 3);
    assert_eq!(rescaled.volumes, plain.volumes);
}
