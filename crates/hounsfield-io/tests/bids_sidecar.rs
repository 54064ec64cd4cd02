//! BIDS sidecars against dcm2niix's (`-b y`, default anonymisation) for the shared series and
//! single files, the Siemens mosaics among them: every key both write has the same value
//! (strings equal, numbers within 1e-5 relative, as dcm2niix prints 6 significant digits),
//! SliceTiming and PhaseEncodingDirection compared through the axis permutation between its grid
//! and ours; the keys fMRIPrep and heudiconv rely on are never missing where dcm2niix writes
//! them; nothing identifying the patient is written.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_core::Geometry;
use hounsfield_io::dicom::{DicomVolume, read_dicom_dir, read_dicom_file, sidecar};
use hounsfield_io::nifti::read_nifti;
use serde_json::Value;

/// Keys that must be there whenever dcm2niix writes them.
const REQUIRED: &[&str] = &[
    "Modality",
    "MagneticFieldStrength",
    "Manufacturer",
    "ManufacturersModelName",
    "SeriesDescription",
    "ProtocolName",
    "ImageType",
    "SeriesNumber",
    "AcquisitionTime",
    "SliceThickness",
    "EchoTime",
    "RepetitionTime",
    "FlipAngle",
    "SliceTiming",
    "PhaseEncodingDirection",
    "EffectiveEchoSpacing",
    "TotalReadoutTime",
    "InPlanePhaseEncodingDirectionDICOM",
    "ImageOrientationPatientDICOM",
];

/// Keys whose values differ by design.
const OURS_BY_DESIGN: &[&str] = &["ConversionSoftware", "ConversionSoftwareVersion"];

/// Keys that would identify the patient or the study.
const IDENTIFYING: &[&str] = &[
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientWeight",
    "AccessionNumber",
    "SeriesInstanceUID",
    "StudyInstanceUID",
    "AcquisitionDateTime",
    "ReferringPhysicianName",
    "ImageComments",
];

fn dcm2niix(tool: &Path, input: &Path) -> (Value, Geometry) {
    let out = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(tool);
    cmd.args(["-z", "n", "-b", "y", "-f", "out", "-o"]).arg(out.path());
    if input.is_file() {
        cmd.args(["-s", "y"]);
    }
    let run = cmd.arg(input).output().unwrap();
    assert!(run.status.success(), "{run:?}");
    let json = common::load_json(&out.path().join("out.json"));
    let nifti = read_nifti(out.path().join("out.nii")).unwrap();
    (json, nifti.geometry().clone())
}

/// For each of our voxel axes, dcm2niix's axis along the same line and the sign between them.
fn axis_map(ours: &Geometry, theirs: &Geometry) -> [(usize, f64); 3] {
    let (a, b) = (ours.direction(), theirs.direction());
    [0, 1, 2].map(|k| {
        let (best, dot) = (0..3)
            .map(|j| (j, (0..3).map(|r| a[r][k] * b[r][j]).sum::<f64>()))
            .fold((0, 0.0f64), |x, y| if y.1.abs() > x.1.abs() { y } else { x });
        assert!(dot.abs() > 0.999, "axis {k} has no counterpart: {a:?} vs {b:?}");
        (best, dot.signum())
    })
}

fn same_number(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-5 * a.abs().max(b.abs()).max(1e-3)
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            same_number(x.as_f64().unwrap(), y.as_f64().unwrap())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        _ => a == b,
    }
}

fn compare(name: &str, ours: &DicomVolume, theirs: &Value, grid: &Geometry) -> usize {
    let side = sidecar(&ours.info).unwrap();
    let text = side.to_json();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.as_object().unwrap().len(), side.entries.len(), "{name}: duplicate keys");
    for key in IDENTIFYING {
        assert!(side.get(key).is_none(), "{name}: writes {key}");
    }
    let map = axis_map(ours.volumes[0].geometry(), grid);
    let theirs = theirs.as_object().unwrap();
    let mut common = 0;
    for (key, value) in &side.entries {
        let Some(want) = theirs.get(key) else { continue };
        if OURS_BY_DESIGN.contains(&key.as_str()) {
            continue;
        }
        common += 1;
        match key.as_str() {
            "PhaseEncodingDirection" => {
                // "j" = our axis 1, positive; in dcm2niix's axes.
                let v = value.as_str().unwrap();
                let k = usize::from(v.as_bytes()[0] - b'i');
                let sign = if v.ends_with('-') { -1.0 } else { 1.0 } * map[k].1;
                let theirs_v = format!(
                    "{}{}",
                    (b'i' + map[k].0 as u8) as char,
                    if sign < 0.0 { "-" } else { "" }
                );
                assert_eq!(theirs_v, want.as_str().unwrap(), "{name}: {key} {v}");
            }
            "SliceTiming" => {
                let mut ours_t: Vec<Value> = value.as_array().unwrap().clone();
                assert_eq!(map[2].0, 2, "{name}: slices along another axis");
                if map[2].1 < 0.0 {
                    ours_t.reverse();
                }
                assert!(
                    same(&Value::Array(ours_t), want),
                    "{name}: {key}: ours {value} vs dcm2niix {want}"
                );
            }
            _ => assert!(same(value, want), "{name}: {key}: ours {value} vs dcm2niix {want}"),
        }
    }
    for key in REQUIRED {
        assert!(
            !theirs.contains_key(*key) || side.get(key).is_some(),
            "{name}: dcm2niix writes {key}, we do not"
        );
    }
    eprintln!("{name}: {common} keys in common, all equal");
    common
}

#[test]
fn sidecars_agree_with_dcm2niix() {
    let Some(data) = common::testdata() else { return };
    let tool = data.join("dcm2niix/bin/dcm2niix");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti");
    let mut inputs: Vec<PathBuf> = [
        "pydicom/pydicom/data/test_files/CT_small.dcm",
        "pydicom/pydicom/data/test_files/MR_small.dcm",
        "pydicom-data/data_store/data/eCT_Supplemental.dcm",
        "pydicom-data/data_store/data/MR2_UNCR.dcm",
    ]
    .iter()
    .map(|f| data.join(f))
    .collect();
    if shared.exists() {
        for s in [
            "generic/anatomical/001",
            "generic/anatomical/002_non_isotropic",
            "generic/compressed/001",
            "anatomical/001",
        ] {
            inputs.push(shared.join(s));
        }
    }
    let mosaics = tempfile::tempdir().unwrap();
    for name in ["siemens_dwi_0", "siemens_dwi_1000"] {
        let raw =
            std::fs::read(data.join(format!("nibabel/nibabel/nicom/tests/data/{name}.dcm.gz")))
                .unwrap();
        let mut dcm = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut dcm).unwrap();
        let path = mosaics.path().join(format!("{name}.dcm"));
        std::fs::write(&path, dcm).unwrap();
        inputs.push(path);
    }
    let mut total = 0;
    for input in &inputs {
        let name = input.display().to_string();
        let ours = if input.is_dir() {
            read_dicom_dir(input, None, &Default::default()).unwrap()
        } else {
            read_dicom_file(input).unwrap()
        };
        let (theirs, grid) = dcm2niix(&tool, input);
        total += compare(&name, &ours, &theirs, &grid);
    }
    // The mosaic's sidecar carries what fMRIPrep needs.
    let dwi = read_dicom_file(mosaics.path().join("siemens_dwi_0.dcm")).unwrap();
    let side = sidecar(&dwi.info).unwrap();
    for key in ["SliceTiming", "PhaseEncodingDirection", "TotalReadoutTime", "RepetitionTime"] {
        assert!(side.get(key).is_some(), "mosaic sidecar lacks {key}");
    }
    assert!(total > 100, "{total} keys compared");
}
