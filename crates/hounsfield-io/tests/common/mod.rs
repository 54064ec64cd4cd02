//! Comparing what hounsfield-io reads with what nibabel (reference/nifti/describe.py),
//! dicom2nifti and dcm2niix read.
#![allow(dead_code, clippy::unwrap_used)] // shared by several test binaries; test code

use std::path::{Path, PathBuf};

use hounsfield_core::{DType, DynVolume, with_dyn_volume};
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

/// Compares volumes read from DICOM with a reference NIfTI (ground truth, dcm2niix) in physical
/// space: every reference voxel centre maps to one of ours within 1e-3 voxel and 1e-3 mm (the
/// grids are the same up to a signed axis permutation), and the values agree within
/// `atol + rtol * |reference|`.
pub fn assert_same_in_physical_space(
    name: &str,
    ours: &[DynVolume],
    gt: &NiftiImage,
    atol: f64,
    rtol: f64,
) {
    let mut worst = 0.0f64;
    for (c, idx, a, b) in values_in_physical_space(name, ours, gt) {
        assert!(
            (a - b).abs() <= atol + rtol * b.abs(),
            "{name}: component {c} at {idx:?}: {a} vs reference {b}"
        );
        worst = worst.max((a - b).abs());
    }
    eprintln!("{name}: matches, largest difference {worst}");
}

/// Checks that the grids coincide (as [`assert_same_in_physical_space`]) and returns, for every
/// reference voxel and component, (component, reference index, our value, reference value).
pub fn values_in_physical_space(
    name: &str,
    ours: &[DynVolume],
    gt: &NiftiImage,
) -> Vec<(usize, [f64; 3], f64, f64)> {
    let components = ours.len();
    assert!(
        gt.components() >= components,
        "{name}: reference has {} components, we have {components}",
        gt.components()
    );
    let g_ours = ours[0].geometry();
    let g_gt = gt.geometry();
    // Index map reference -> ours: columns are the images of the unit steps.
    let origin = g_ours.physical_to_index(g_gt.index_to_physical([0.0; 3]));
    let mut map = [[0.0; 3]; 3];
    for k in 0..3 {
        let mut e = [0.0; 3];
        e[k] = 1.0;
        let p = g_ours.physical_to_index(g_gt.index_to_physical(e));
        for r in 0..3 {
            map[r][k] = p[r] - origin[r];
        }
    }
    for row in &map {
        for v in row {
            assert!(
                (v.abs() - v.abs().round()).abs() < 1e-3 && v.abs().round() <= 1.0,
                "{name}: not a signed permutation: {map:?}"
            );
        }
    }
    for corner in 0..8 {
        let [gz, gy, gx] = gt.volumes()[0].shape();
        let idx = [0, 1, 2]
            .map(|k| if corner >> k & 1 == 1 { [gx, gy, gz][k] as f64 - 1.0 } else { 0.0 });
        let ours_idx = g_ours.physical_to_index(g_gt.index_to_physical(idx)).map(f64::round);
        let (a, b) = (g_gt.index_to_physical(idx), g_ours.index_to_physical(ours_idx));
        let mm = (0..3).map(|k| (a[k] - b[k]).abs()).fold(0.0, f64::max);
        assert!(mm < 1e-3, "{name}: corner {idx:?} is {mm} mm from our nearest voxel centre");
    }
    for o in origin {
        assert!(
            (o - o.round()).abs() < 1e-3,
            "{name}: grids are offset by a fraction of a voxel: {origin:?}"
        );
    }
    let [gz, gy, gx] = gt.volumes()[0].shape();
    let [oz, oy, ox] = ours[0].shape();
    assert_eq!(gz * gy * gx, oz * oy * ox, "{name}: voxel counts differ");
    let truth_values: Vec<Vec<f64>> =
        (0..components).map(|c| gt.scaled_f64(c).unwrap().as_slice().to_vec()).collect();
    let our_values: Vec<Vec<f64>> = ours.iter().map(|v| v.to_f64().as_slice().to_vec()).collect();
    let mut pairs = Vec::with_capacity(gz * gy * gx * components);
    for k in 0..gz {
        for j in 0..gy {
            for i in 0..gx {
                let idx = [i as f64, j as f64, k as f64];
                let t: Vec<f64> = (0..3)
                    .map(|r| origin[r] + (0..3).map(|c| map[r][c] * idx[c]).sum::<f64>())
                    .collect();
                let (x, y, z) = (t[0].round() as i64, t[1].round() as i64, t[2].round() as i64);
                assert!(
                    x >= 0
                        && y >= 0
                        && z >= 0
                        && (x as usize) < ox
                        && (y as usize) < oy
                        && (z as usize) < oz,
                    "{name}: voxel {idx:?} maps outside our grid to {t:?}"
                );
                let ours_i = (z as usize * oy + y as usize) * ox + x as usize;
                let gt_i = (k * gy + j) * gx + i;
                for c in 0..components {
                    pairs.push((c, idx, our_values[c][ours_i], truth_values[c][gt_i]));
                }
            }
        }
    }
    pairs
}
