//! Metrics against values computed by scikit-image and scipy on the same arrays
//! (reference/metrics/make_refs.py wrote both the arrays and refs.json). Tolerance: 1e-6
//! relative, as every quantity is computed in f64 on both sides.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use hounsfield_core::metrics::{self, SsimOptions};
use hounsfield_core::{Element, Error, Geometry, Volume};
use serde_json::Value;

const RTOL: f64 = 1e-6;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/metrics")
}

fn refs() -> Value {
    let text = std::fs::read_to_string(dir().join("refs.json")).expect("refs.json is committed");
    serde_json::from_str(&text).expect("refs.json parses")
}

fn shape(case: &Value) -> [usize; 3] {
    let s: Vec<usize> = case["shape_zyx"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    [s[0], s[1], s[2]]
}

fn load<T: Element>(
    case: &Value,
    key: &str,
    geometry: Geometry,
    decode: fn(&[u8]) -> T,
) -> Volume<T> {
    let bytes = std::fs::read(dir().join(case[key].as_str().unwrap())).unwrap();
    let size = size_of::<T>();
    let values = bytes.chunks_exact(size).map(decode).collect();
    Volume::from_vec(shape(case), values, geometry).unwrap()
}

fn f32_le(b: &[u8]) -> f32 {
    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn assert_close(name: &str, got: f64, want: &Value) {
    let want = want.as_f64().unwrap_or_else(|| panic!("{name}: reference missing"));
    let err = (got - want).abs() / want.abs().max(1e-300);
    assert!(err <= RTOL, "{name}: got {got}, scikit-image/scipy {want}, relative error {err:e}");
}

fn check_intensity_case(key: &str) {
    let refs = refs();
    let case = &refs[key];
    let a = load(case, "a", Geometry::default(), f32_le);
    let b = load(case, "b", Geometry::default(), f32_le);
    let range = case["data_range"].as_f64().unwrap();
    assert_close(&format!("{key} psnr"), metrics::psnr(&a, &b, range).unwrap(), &case["psnr"]);
    assert_close(&format!("{key} rmse"), metrics::rmse(&a, &b).unwrap(), &case["rmse"]);
    assert_close(&format!("{key} mae"), metrics::mae(&a, &b).unwrap(), &case["mae"]);
    let opts = SsimOptions::new(range);
    assert_close(&format!("{key} ssim"), metrics::ssim(&a, &b, &opts).unwrap(), &case["ssim"]);
    let opts1 = opts.with_sigma(1.0);
    assert_close(
        &format!("{key} ssim sigma 1"),
        metrics::ssim(&a, &b, &opts1).unwrap(),
        &case["ssim_sigma_1"],
    );
}

#[test]
fn image_metrics_2d_match_scikit_image() {
    check_intensity_case("image_2d");
}

#[test]
fn image_metrics_3d_match_scikit_image() {
    check_intensity_case("image_3d");
}

#[test]
fn ssim_does_not_depend_on_the_thread_count() {
    let refs = refs();
    let case = &refs["image_3d"];
    let a = load(case, "a", Geometry::default(), f32_le);
    let b = load(case, "b", Geometry::default(), f32_le);
    let opts = SsimOptions::new(4.0);
    let run = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| metrics::ssim(&a, &b, &opts).unwrap())
    };
    let one = run(1);
    for threads in [2, 3, 7] {
        assert_eq!(run(threads).to_bits(), one.to_bits(), "{threads} threads");
    }
}

fn masks() -> (Value, Volume<u8>, Volume<u8>) {
    let refs = refs();
    let case = refs["masks"].clone();
    let s: Vec<f64> =
        case["spacing_xyz"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let g = Geometry::axis_aligned([s[0], s[1], s[2]], [0.0; 3]).unwrap();
    let a = load(&case, "a", g.clone(), |b| b[0]);
    let b = load(&case, "b", g, |b| b[0]);
    (case, a, b)
}

#[test]
fn overlap_metrics_match_scipy() {
    let (case, a, b) = masks();
    assert_close("dice", metrics::dice(&a, &b).unwrap(), &case["dice"]);
    assert_close("jaccard", metrics::jaccard(&a, &b).unwrap(), &case["jaccard"]);
}

#[test]
fn hausdorff_distances_match_scipy_in_mm() {
    let (case, a, b) = masks();
    assert_close("hd95", metrics::hausdorff95(&a, &b).unwrap(), &case["hd95"]);
    assert_close("hd50", metrics::hausdorff_percentile(&a, &b, 50.0).unwrap(), &case["hd50"]);
    assert_close("hd100", metrics::hausdorff_percentile(&a, &b, 100.0).unwrap(), &case["hd100"]);
    // Symmetric by definition.
    assert_eq!(metrics::hausdorff95(&a, &b).unwrap(), metrics::hausdorff95(&b, &a).unwrap());
}

#[test]
fn unit_spacing_hausdorff_matches_scikit_image() {
    let (case, a, b) = masks();
    let unit = Geometry::default();
    let (a, b) = (a.with_geometry(unit.clone()), b.with_geometry(unit));
    let hd = metrics::hausdorff_percentile(&a, &b, 100.0).unwrap();
    assert_close("hd100 unit spacing", hd, &case["hd100_unit_spacing_skimage"]);
}

#[test]
fn bad_metric_inputs_are_typed_errors() {
    let (_, a, b) = masks();
    let empty = a.map(|_| 0u8);
    assert!(matches!(metrics::hausdorff95(&a, &empty), Err(Error::Empty(_))));
    assert_eq!(metrics::dice(&empty, &empty).unwrap(), 1.0, "two empty masks agree");
    let other_spacing =
        b.clone().with_geometry(Geometry::axis_aligned([1.0, 1.0, 1.0], [0.0; 3]).unwrap());
    assert!(matches!(metrics::hausdorff95(&a, &other_spacing), Err(Error::InvalidGeometry(_))));
    assert!(metrics::hausdorff_percentile(&a, &b, 101.0).is_err());

    let g = Geometry::default();
    let x = Volume::from_vec([1, 12, 12], vec![0.5f32; 144], g.clone()).unwrap();
    let mut y = x.clone();
    y.as_slice_mut()[17] = f32::NAN;
    assert!(matches!(metrics::psnr(&x, &y, 1.0), Err(Error::NotFinite { index: 17, .. })));
    assert!(matches!(metrics::psnr(&x, &x, 0.0), Err(Error::InvalidParameter { .. })));
    assert_eq!(metrics::psnr(&x, &x, 1.0).unwrap(), f64::INFINITY);
    let small = Volume::from_vec([1, 12, 10], vec![0.5f32; 120], g.clone()).unwrap();
    assert!(matches!(
        metrics::ssim(&small, &small, &SsimOptions::new(1.0)),
        Err(Error::InvalidParameter { .. })
    ));
    assert!(matches!(metrics::rmse(&x, &small), Err(Error::ShapeMismatch { .. })));
    // A 3D volume thinner than the window along z is refused rather than treated as 2D.
    let thin = Volume::from_vec([3, 12, 12], vec![0.5f32; 432], g).unwrap();
    assert!(metrics::ssim(&thin, &thin, &SsimOptions::new(1.0)).is_err());
}

#[test]
fn ssim_of_identical_images_is_one() {
    let (_, a, _) = masks();
    let f = a.to_f32();
    let s = metrics::ssim(&f, &f, &SsimOptions::new(1.0)).unwrap();
    assert!((s - 1.0).abs() < 1e-12, "{s}");
}
