//! NIfTI files read by hounsfield-io match what nibabel reads from them: element type, shape,
//! frames, components, affine (1e-6 mm), scaling (exact) and every value (SHA-256 of the f64
//! values). Files: a corpus written by nibabel (reference/nifti/make_corpus.py) and nibabel's
//! own test data (from `cargo xtask testdata`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use common::{assert_matches_nibabel, load_json, reference_dir, testdata};
use hounsfield_io::nifti::{NiftiVersion, XformSource, read_nifti, read_nifti_header};

#[test]
fn every_corpus_file_matches_nibabel() {
    let refs = load_json(&reference_dir().join("corpus.json"));
    let files = refs["files"].as_object().unwrap();
    assert!(files.len() >= 34);
    for (name, want) in files {
        let image = read_nifti(reference_dir().join("corpus").join(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_matches_nibabel(name, &image, want, 1e-6);
    }
}

#[test]
fn corpus_headers_report_version_transform_and_extensions() {
    let dir = reference_dir().join("corpus");
    assert_eq!(read_nifti_header(dir.join("v2_f4.nii")).unwrap().version, NiftiVersion::V2);
    assert!(read_nifti_header(dir.join("be_i2.nii")).unwrap().big_endian);
    assert!(read_nifti_header(dir.join("pair_i2.hdr")).unwrap().pair);
    assert_eq!(read_nifti(dir.join("qform_only.nii")).unwrap().xform_source(), XformSource::Qform);
    assert_eq!(read_nifti(dir.join("no_xform.nii")).unwrap().xform_source(), XformSource::Fallback);
    assert_eq!(read_nifti(dir.join("dtype_i2.nii")).unwrap().xform_source(), XformSource::Sform);
    let ext = read_nifti_header(dir.join("extension_i2.nii")).unwrap().extensions;
    assert_eq!(ext.len(), 1);
    assert_eq!(ext[0].code, 6);
    assert!(ext[0].data.starts_with(b"hounsfield test extension"));
    // Either file of a pair names the image.
    let by_img = read_nifti(dir.join("pair_i2.img")).unwrap();
    assert_eq!(by_img, read_nifti(dir.join("pair_i2.hdr")).unwrap());
}

#[test]
fn every_nibabel_test_file_matches_nibabel() {
    let Some(data) = testdata() else { return };
    let refs = load_json(&reference_dir().join("testdata.json"));
    let dir = data.join("nibabel/nibabel/tests/data");
    let mut checked = 0;
    for (name, want) in refs["files"].as_object().unwrap() {
        let image = read_nifti(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_matches_nibabel(name, &image, want, 1e-6);
        checked += 1;
    }
    assert_eq!(checked, 8, "nibabel 5.4.2 ships 8 .nii/.nii.gz files");
    // Header-only files and the Analyze header.
    assert_eq!(read_nifti_header(dir.join("nifti2.hdr")).unwrap().version, NiftiVersion::V2);
    assert_eq!(read_nifti_header(dir.join("nifti1.hdr")).unwrap().version, NiftiVersion::V1);
    let analyze = read_nifti_header(dir.join("analyze.hdr")).unwrap_err().to_string();
    assert!(analyze.contains("analyze.hdr") && analyze.contains("Analyze"), "{analyze}");
}

#[test]
fn real_brain_mri_reads_with_its_geometry() {
    // ../shared/data/mricron/ch2.nii.gz: Colin27, 181 x 217 x 181 uint8, 1 mm, sform code 4.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/mricron/ch2.nii.gz");
    if !path.exists() {
        eprintln!("SKIPPED: {} not found", path.display());
        return;
    }
    let image = read_nifti(&path).unwrap();
    let v = image.single().unwrap();
    assert_eq!(v.shape(), [181, 217, 181]);
    assert_eq!(v.dtype(), hounsfield_core::DType::U8);
    assert_eq!(image.geometry().orientation_code(), "RAS");
    assert_eq!(image.geometry().spacing(), [1.0, 1.0, 1.0]);
}
