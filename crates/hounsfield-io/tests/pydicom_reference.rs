//! Every image in pydicom's and pydicom-data's test files that pydicom decodes: hounsfield-io
//! gives the same values after the modality LUT (SHA-256 of each frame and sample, at float32
//! precision; frames compared as a set, since we order frames along the slice normal), or the
//! file is on the KNOWN list below with the reason. The list must match exactly, so it is also
//! the documentation of what differs. Lossy JPEG references come from pydicom's Pillow plugin
//! (libjpeg-turbo), see reference/dicom/make_pydicom_refs.py.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use hounsfield_io::dicom::read_dicom_file;
use sha2::{Digest, Sha256};

/// Where the files are, relative to the test data directory (the reference's keys).
const TEST_FILES: &str = "pydicom/pydicom/data/test_files/";

/// pydicom-data's files, relative to the test data directory.
const DATA_FILES: &str = "pydicom-data/data_store/data/";

/// pydicom-data's files where we differ from pydicom, and why.
const KNOWN_DATA: &[(&str, &str)] = &[(
    "eCT_Supplemental.dcm",
    "pydicom's apply_modality_lut ignores the Enhanced CT's Pixel Value Transformation functional group (RescaleIntercept -1024 in the shared groups); we apply it, as dcm2niix does (dcm2niix_reference.rs), so every value is pydicom's - 1024",
)];

/// Files where we differ from pydicom, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "JPGExtended.dcm",
        "12-bit lossy JPEG: Pillow cannot decode it, and pydicom's pylibjpeg-libjpeg (Richter's libjpeg, another IDCT) differs from libjpeg-turbo by at most 1 level (twelve_bit_jpeg_is_within_one_level)",
    ),
    (
        "SC_rgb_jpeg.dcm",
        "refused: dicom-object cannot parse this file's data set (pydicom tolerates it)",
    ),
];

#[test]
fn pydicom_test_images_decode_identically() {
    let Some(data) = common::testdata() else { return };
    let refs = common::load_json(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/reference/dicom/pydicom_refs.json"),
    );
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut matched = 0;
    for (name, want) in refs["files"].as_object().unwrap() {
        if want.get("error").is_some() {
            continue;
        }
        let ours = match read_dicom_file(data.join(name)) {
            Ok(v) => v,
            Err(e) => {
                failures.insert(name.clone(), format!("refused: {e}"));
                continue;
            }
        };
        let (frames, samples) =
            (want["frames"].as_u64().unwrap() as usize, want["samples"].as_u64().unwrap() as usize);
        let shape = ours.volumes[0].shape();
        if ours.volumes.len() != samples
            || shape
                != [
                    frames,
                    want["rows"].as_u64().unwrap() as usize,
                    want["columns"].as_u64().unwrap() as usize,
                ]
        {
            failures
                .insert(name.clone(), format!("shape {shape:?} x {} samples", ours.volumes.len()));
            continue;
        }
        let planes = want["planes"].as_array().unwrap();
        let plane = shape[1] * shape[2];
        let values: Vec<Vec<f64>> =
            ours.volumes.iter().map(|v| v.to_f64().as_slice().to_vec()).collect();
        // Our frames (ordered along the normal) against pydicom's (in file order), as sets.
        let hash = |s: usize, f: usize| -> String {
            let bytes: Vec<u8> = values[s][f * plane..(f + 1) * plane]
                .iter()
                .flat_map(|v| f64::from(*v as f32).to_le_bytes())
                .collect();
            Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
        };
        let mut ok = true;
        for s in 0..samples {
            let mut ours: Vec<String> = (0..frames).map(|f| hash(s, f)).collect();
            let mut theirs: Vec<String> = (0..frames)
                .map(|f| planes[f * samples + s]["sha256"].as_str().unwrap().to_owned())
                .collect();
            ours.sort();
            theirs.sort();
            if ours != theirs {
                let f = (0..frames).find(|&f| !theirs.contains(&hash(s, f))).unwrap_or(0);
                let sum: f64 = values[s][f * plane..(f + 1) * plane].iter().sum();
                failures.insert(
                    name.clone(),
                    format!("sample {s}: our frame {f} (sum {sum}) is none of pydicom's"),
                );
                ok = false;
            }
        }
        matched += usize::from(ok);
    }
    for (name, why) in &failures {
        eprintln!("differs from pydicom: {name}: {why}");
    }
    eprintln!("{matched} files identical to pydicom, {} differ", failures.len());
    let mut known: Vec<String> = KNOWN.iter().map(|(n, _)| format!("{TEST_FILES}{n}")).collect();
    known.extend(KNOWN_DATA.iter().map(|(n, _)| format!("{DATA_FILES}{n}")));
    known.sort();
    let failed: Vec<&str> = failures.keys().map(String::as_str).collect();
    assert_eq!(failed, known, "the files that differ from pydicom are not the documented ones");
}

/// eCT_Supplemental.dcm (Enhanced CT, 2 frames): geometry and rescale live only in the functional
/// groups. As pydicom prints them: shared PlaneOrientation (-1,0,0, 0,1,0), PixelSpacing 0.388672,
/// SliceThickness 10, RescaleIntercept -1024; per-frame ImagePositionPatient (99.5, -301.5, -159)
/// and (99.5, -301.5, -149). The normal (row x column) is (0,0,-1), so sorted along it the frame at
/// z = -149 comes first and the slice step is 10 mm.
#[test]
fn enhanced_ct_geometry_comes_from_the_functional_groups() {
    let Some(data) = common::testdata() else { return };
    let path = data.join("pydicom-data/data_store/data/eCT_Supplemental.dcm");
    let v = read_dicom_file(&path).unwrap();
    let volume = &v.volumes[0];
    let g = volume.geometry();
    assert_eq!(volume.shape(), [2, 512, 512]);
    let close = |a: [f64; 3], b: [f64; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9);
    assert!(close(g.spacing(), [0.388672, 0.388672, 10.0]), "{:?}", g.spacing());
    assert!(close(g.origin(), [99.5, -301.5, -149.0]), "{:?}", g.origin());
    let d = g.direction();
    let columns = [0, 1, 2].map(|c| [d[0][c], d[1][c], d[2][c]]);
    assert!(close(columns[0], [-1.0, 0.0, 0.0]) && close(columns[1], [0.0, 1.0, 0.0]));
    assert!(close(columns[2], [0.0, 0.0, -1.0]), "{d:?}");
    // The intercept came from the shared groups: unsigned 16-bit stored values minus 1024.
    let (min, _) = volume.min_max().unwrap();
    assert!((-1024.0..0.0).contains(&min), "min {min}");
}

/// Uncompressed YBR_FULL (pydicom-data's SC_ybr_full_uncompressed.dcm) comes out as RGB with
/// exactly pydicom's values (pixel_array converts YBR to RGB by default).
#[test]
fn uncompressed_ybr_full_becomes_pydicoms_rgb() {
    let (Some(data), Some(python)) = (common::testdata(), common::python()) else { return };
    let path = data.join("pydicom-data/data_store/data/SC_ybr_full_uncompressed.dcm");
    let ours = read_dicom_file(&path).unwrap();
    assert_eq!(ours.samples, 3);
    let script = "import sys, pydicom\n\
        a = pydicom.dcmread(sys.argv[1]).pixel_array\n\
        print(' '.join(str(int(a[..., c].sum())) for c in range(3)), int(a[17, 42, 1]))";
    let out = std::process::Command::new(python).args(["-c", script]).arg(&path).output().unwrap();
    let want: Vec<f64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(want.len(), 4, "{out:?}");
    for (c, (volume, want)) in ours.volumes.iter().zip(&want).enumerate() {
        let sum: f64 = volume.to_f64().as_slice().iter().sum();
        assert_eq!(sum, *want, "sample {c}");
    }
    assert_eq!(ours.volumes[1].to_f64().as_slice()[17 * 100 + 42], want[3]);
}

/// JPGExtended.dcm (12-bit extended JPEG, process 4): within 1 level of pydicom's decoding
/// (pylibjpeg-libjpeg) everywhere.
#[test]
fn twelve_bit_jpeg_is_within_one_level() {
    let (Some(data), Some(python)) = (common::testdata(), common::python()) else { return };
    let path = data.join(format!("{TEST_FILES}JPGExtended.dcm"));
    let ours = read_dicom_file(&path).unwrap();
    let script = "import sys, warnings; warnings.simplefilter('ignore')\n\
        import pydicom, numpy as np\n\
        ds = pydicom.dcmread(sys.argv[1])\n\
        sys.stdout.buffer.write(ds.pixel_array.astype('<f8').tobytes())";
    let out = std::process::Command::new(python).args(["-c", script]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let theirs: Vec<f64> =
        out.stdout.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
    let ours = ours.volumes[0].to_f64();
    assert_eq!(ours.as_slice().len(), theirs.len());
    let worst = ours.as_slice().iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let (lo, hi) = theirs.iter().fold((f64::MAX, f64::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert!(hi > 255.0, "12-bit values expected, pydicom's range is {lo}..{hi}");
    assert!(worst <= 1.0, "largest difference {worst}");
}
