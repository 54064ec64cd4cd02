#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Against ASTRA 2.5 (CPU), run at test time from the peers venv (`HOUNSFIELD_PYTHON`, set by
//! `cargo xtask ci`): our geometry's ASTRA vectors must describe the same rays, and our FBP must
//! be at least as accurate as ASTRA's on the same exact sinogram.

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_core::LinearOperator;
use hounsfield_ct::{
    Detector, FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp, uniform_angles,
};
use ndarray::ArrayD;
use serde_json::{Value, json};
use std::f64::consts::PI;

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("HOUNSFIELD_PYTHON").map(PathBuf::from);
    if p.is_none() {
        eprintln!(
            "SKIPPED: HOUNSFIELD_PYTHON is not set; run `cargo xtask peers` (cargo xtask ci sets it)"
        );
    }
    p
}

fn astra(python: &Path, request: Value) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/astra_ref.py");
    let out = Command::new(python).arg(script).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn request(geometry: &ScanGeometry, grid: &ImageGrid, projector: &str) -> Value {
    let (kind, vectors) = geometry.to_astra().unwrap();
    json!({"geometry_type": kind, "det_cols": geometry.detector_shape().1, "vectors": vectors,
           "ny": grid.shape[1], "nx": grid.shape[2], "projector": projector})
}

#[test]
fn astra_projects_our_vectors_like_we_do() {
    let Some(py) = python() else { return };
    // ASTRA's `linear` projector is Joseph's method, like ours: agreement to float rounding
    // (measured 2e-6). Its `line_fanflat` takes exact chord lengths: agreement to the
    // discretisation of a smooth image (measured 0.2%); a mirrored or shifted geometry would be
    // off by O(1).
    let grid = ImageGrid::new_2d(48, 48, 1.0).unwrap();
    let mut rng = hounsfield_core::rng::SplitMix64::new(4);
    let blobs: Vec<[f64; 3]> = (0..10)
        .map(|_| [rng.uniform(10.0, 38.0), rng.uniform(10.0, 38.0), rng.uniform(2.0, 7.0)])
        .collect();
    let image = ArrayD::from_shape_fn(vec![48, 48], |i| {
        let (y, x) = (i[0] as f64, i[1] as f64);
        blobs
            .iter()
            .map(|[cy, cx, r]| (-((y - cy).powi(2) + (x - cx).powi(2)) / (2.0 * r * r)).exp())
            .sum::<f64>() as f32
    });
    let cases = [
        (
            ScanGeometry::Parallel2d {
                angles: uniform_angles(37, 0.13, PI),
                detector: Detector::line(64, 0.9).with_offset(1.3, 0.0),
            },
            "linear",
            1e-5,
        ),
        (
            ScanGeometry::fan_2d(
                uniform_angles(41, 0.0, 2.0 * PI),
                Detector::line(80, 1.5).with_offset(2.0, 0.0),
                80.0,
                150.0,
                false,
            )
            .unwrap(),
            "line_fanflat",
            0.01,
        ),
    ];
    for (geometry, projector, tolerance) in cases {
        let ours =
            Projector::new(grid.clone(), geometry.clone()).unwrap().apply(image.view()).unwrap();
        let mut req = request(&geometry, &grid, projector);
        req["op"] = json!("project");
        req["image"] = json!(image.iter().copied().collect::<Vec<f32>>());
        let theirs = floats(&astra(&py, req)["sinogram"]);
        let (mut diff, mut norm) = (0.0f64, 0.0f64);
        for (a, b) in ours.iter().zip(&theirs) {
            diff += f64::from(a - b).powi(2);
            norm += f64::from(*b).powi(2);
        }
        let rel = (diff / norm).sqrt();
        assert!(rel < tolerance, "{projector}: relative difference {rel}");
    }
}

#[test]
fn our_fbp_is_at_least_as_accurate_as_astras_on_the_same_sinogram() {
    let Some(py) = python() else { return };
    // 256^2 Shepp-Logan, 360 views, exact line integrals; PSNR (range 1) inside the circle.
    let n = 256;
    let grid = ImageGrid::new_2d(n, n, 1.0).unwrap();
    let phantom = Phantom::shepp_logan_2d(128.0);
    let truth = phantom.rasterize(&grid, 16).unwrap();
    let geometry = ScanGeometry::parallel_2d(uniform_angles(360, 0.0, PI), n, 1.0).unwrap();
    let sinogram = phantom.project(&geometry, 1).unwrap();
    let ours = fbp(&geometry, &grid, sinogram.view(), &FbpOptions::default()).unwrap();
    let mut req = request(&geometry, &grid, "linear");
    req["op"] = json!("fbp");
    req["angles"] = json!(geometry.angles().unwrap());
    req["sinogram"] = json!(sinogram.iter().copied().collect::<Vec<f32>>());
    let theirs = ArrayD::from_shape_vec(vec![n, n], floats(&astra(&py, req)["image"])).unwrap();
    let psnr = |image: &ArrayD<f32>| {
        let c = (n as f64 - 1.0) / 2.0;
        let (mut se, mut k) = (0.0, 0usize);
        for ((idx, &t), &v) in truth.indexed_iter().zip(image.iter()) {
            if (idx[0] as f64 - c).hypot(idx[1] as f64 - c) <= n as f64 / 2.0 {
                se += f64::from(t - v).powi(2);
                k += 1;
            }
        }
        10.0 * (k as f64 / se).log10()
    };
    let (a, b) = (psnr(&ours), psnr(&theirs));
    eprintln!("FBP PSNR: ours {a:.2} dB, ASTRA {b:.2} dB");
    assert!(
        b > 25.0,
        "ASTRA's FBP did not line up with the phantom ({b:.2} dB): convention drift?"
    );
    assert!(a >= b - 0.05, "ours {a:.2} dB vs ASTRA {b:.2} dB");
}
