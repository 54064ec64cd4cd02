//! Comparing what hounsfield-io reads with what nibabel read (reference/nifti/describe.py).
#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries; test code

use std::path::{Path, PathBuf};

use hounsfield_core::{DType, with_dyn_volume};
use hounsfield_io::nifti::NiftiImage;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn reference_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/nifti")
}

pub fn load_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The test data directory from `cargo xtask testdata`, or `None` with a message saying so.
pub fn testdata() -> Option<PathBuf> {
    match std::env::var_os("HOUNSFIELD_TESTDATA") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!(
                "SKIPPED: HOUNSFIELD_TESTDATA is not set; run `cargo xtask testdata` (cargo xtask ci sets it)"
            );
            None
        }
    }
}

/// The peers' Python (with nibabel), or `None` with a message saying so.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("HOUNSFIELD_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!(
                "SKIPPED: HOUNSFIELD_PYTHON is not set; run `cargo xtask peers` (cargo xtask ci sets it)"
            );
            None
        }
    }
}

/// What the reader must produce for a nibabel dtype string: element type and components.
pub fn expected_type(nibabel_dtype: &str) -> (DType, usize) {
    if nibabel_dtype.contains("'A'") {
        return (DType::U8, 4);
    }
    if nibabel_dtype.contains("'R'") {
        return (DType::U8, 3);
    }
    match nibabel_dtype.trim_start_matches(['<', '>', '=', '|']) {
        "uint8" | "u1" => (DType::U8, 1),
        "int8" | "i1" => (DType::I8, 1),
        "uint16" | "u2" => (DType::U16, 1),
        "int16" | "i2" => (DType::I16, 1),
        "uint32" | "u4" => (DType::U32, 1),
        "int32" | "i4" => (DType::I32, 1),
        "float32" | "f4" => (DType::F32, 1),
        "float64" | "f8" => (DType::F64, 1),
        // 64-bit integers are read as f64 (exact below 2^53, an error above).
        "int64" | "i8" | "uint64" | "u8" => (DType::F64, 1),
        "complex64" | "c8" => (DType::F32, 2),
        "complex128" | "c16" => (DType::F64, 2),
        other => panic!("unexpected nibabel dtype {other}"),
    }
}

/// Asserts that `image` holds what nibabel described in `want`. `affine_tol` in mm.
pub fn assert_matches_nibabel(name: &str, image: &NiftiImage, want: &Value, affine_tol: f64) {
    let shape: Vec<usize> =
        want["shape"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
    let spatial: Vec<usize> = (0..3).map(|k| shape.get(k).copied().unwrap_or(1)).collect();
    let frames: usize = shape.iter().skip(3).product();
    let (dtype, components) = expected_type(want["dtype"].as_str().unwrap());
    assert_eq!(image.components(), components, "{name}: components");
    assert_eq!(image.frames(), frames, "{name}: frames");
    let first = &image.volumes()[0];
    assert_eq!(first.dtype(), dtype, "{name}: element type");
    assert_eq!(first.shape(), [spatial[2], spatial[1], spatial[0]], "{name}: shape");

    let affine = image.geometry().ras_affine();
    for (r, row) in want["affine"].as_array().unwrap().iter().enumerate() {
        for (c, v) in row.as_array().unwrap().iter().enumerate() {
            let w = v.as_f64().unwrap();
            assert!(
                (affine[r][c] - w).abs() <= affine_tol,
                "{name}: affine[{r}][{c}] = {} but nibabel has {w}",
                affine[r][c]
            );
        }
    }
    assert_eq!(
        image.geometry().orientation_code(),
        want["axcodes"].as_str().unwrap(),
        "{name}: orientation"
    );
    let (slope, inter) = image.scaling().unwrap_or((1.0, 0.0));
    assert_eq!(
        (slope, inter),
        (want["slope"].as_f64().unwrap(), want["inter"].as_f64().unwrap()),
        "{name}: scaling"
    );

    let hashes: Vec<&str> =
        want["volumes"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(hashes.len(), image.volumes().len(), "{name}: volume count");
    for (i, (v, h)) in image.volumes().iter().zip(&hashes).enumerate() {
        let bytes: Vec<u8> = with_dyn_volume!(v, t => t.to_f64().as_slice().iter().flat_map(|x| x.to_le_bytes()).collect());
        let got: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&got, h, "{name}: values of volume {i} differ from nibabel's");
    }
    let scaled: Vec<f64> = (0..image.volumes().len())
        .flat_map(|i| image.scaled_f64(i).unwrap().as_slice().to_vec())
        .collect();
    let sum: f64 = scaled.iter().filter(|v| !v.is_nan()).sum();
    let nans = scaled.iter().filter(|v| v.is_nan()).count();
    let want_sum = want["scaled_sum"].as_f64().unwrap();
    assert!(
        (sum - want_sum).abs() <= 1e-9 * want_sum.abs().max(1.0),
        "{name}: scaled sum {sum} vs nibabel {want_sum}"
    );
    assert_eq!(nans as u64, want["nan_count"].as_u64().unwrap(), "{name}: NaN count");
}
