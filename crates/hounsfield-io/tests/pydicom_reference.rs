//! Every image in pydicom's test files that pydicom decodes: hounsfield-io gives the same values
//! after the modality LUT (SHA-256 of each frame and sample, at float32 precision), or refuses
//! the file with a typed error and the file is on the KNOWN list below with the reason. The list
//! must match exactly, so it is also the documentation of what is not handled.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::collections::BTreeMap;

use hounsfield_io::dicom::read_dicom_file;
use sha2::{Digest, Sha256};

const JPEG_LS: &str =
    "refused: JPEG-LS has no pure-Rust decoder in dicom-pixeldata (CharLS needs a C++/cmake build)";
const LOSSY_JPEG: &str = "lossy JPEG: jpeg-decoder and libjpeg (pydicom's) differ by 1-2 levels in a few pixels (IDCT and chroma upsampling)";

/// Files where we differ from pydicom, and why.
const KNOWN: &[(&str, &str)] = &[
    ("JPEGLSNearLossless_08.dcm", JPEG_LS),
    ("JPEGLSNearLossless_16.dcm", JPEG_LS),
    ("JPGExtended.dcm", "refused: 12-bit extended JPEG is not decoded by jpeg-decoder"),
    ("MR_small_jpeg_ls_lossless.dcm", JPEG_LS),
    (
        "SC_jpeg_no_color_transform.dcm",
        "colour: the APP14 marker says no YCbCr transform; jpeg-decoder applies one",
    ),
    ("SC_jpeg_no_color_transform_2.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cr.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cy+n1.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cy+n2.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cy+np.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cy+s2.dcm", LOSSY_JPEG),
    ("SC_rgb_dcmtk_+eb+cy+s4.dcm", LOSSY_JPEG),
    ("SC_rgb_jls_lossy_line.dcm", JPEG_LS),
    ("SC_rgb_jls_lossy_sample.dcm", JPEG_LS),
    (
        "SC_rgb_jpeg.dcm",
        "refused: dicom-object cannot parse this file's data set (pydicom tolerates it)",
    ),
    ("SC_rgb_jpeg_app14_dcmd.dcm", LOSSY_JPEG),
    ("SC_rgb_jpeg_dcmtk.dcm", LOSSY_JPEG),
    ("SC_rgb_jpeg_lossy_gdcm.dcm", LOSSY_JPEG),
    ("examples_ybr_color.dcm", LOSSY_JPEG),
];

#[test]
fn pydicom_test_images_decode_identically() {
    let Some(data) = common::testdata() else { return };
    let refs = common::load_json(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/reference/dicom/pydicom_refs.json"),
    );
    let dir = data.join("pydicom/pydicom/data/test_files");
    let mut failures: BTreeMap<String, String> = BTreeMap::new();
    let mut matched = 0;
    for (name, want) in refs["files"].as_object().unwrap() {
        if want.get("error").is_some() {
            continue;
        }
        let ours = match read_dicom_file(dir.join(name)) {
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
        let mut ok = true;
        for f in 0..frames {
            for s in 0..samples {
                let bytes: Vec<u8> = values[s][f * plane..(f + 1) * plane]
                    .iter()
                    .flat_map(|v| f64::from(*v as f32).to_le_bytes())
                    .collect();
                let got: String =
                    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
                let p = &planes[f * samples + s];
                if got != p["sha256"].as_str().unwrap() {
                    let sum: f64 = values[s][f * plane..(f + 1) * plane].iter().sum();
                    failures.insert(
                        name.clone(),
                        format!("frame {f} sample {s}: sum {sum} vs pydicom {}", p["sum"]),
                    );
                    ok = false;
                }
            }
        }
        matched += usize::from(ok);
    }
    for (name, why) in &failures {
        eprintln!("differs from pydicom: {name}: {why}");
    }
    eprintln!("{matched} files identical to pydicom, {} differ", failures.len());
    let known: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
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
