//! Against scipy.ndimage and scikit-image (tests/reference/filter_ref.py, run with the peers'
//! Python from `cargo xtask peers`) on generated inputs: Gaussian smoothing within 1e-5 (values
//! in 0..1) for every boundary mode and anisotropic sigma, connected components identical
//! (labels and their numbering) for 6/18/26-connectivity, Otsu's threshold equal to 1e-12,
//! trilinear resampling onto an oblique grid within 1e-4 of SimpleITK's ResampleImageFilter
//! (outside samples included), binary dilation and erosion by a ball in mm on an anisotropic
//! grid and hole filling identical to scipy's, rank filters (median 3^3 through the selection
//! network, larger windows per voxel) identical to scipy's rank_filter for every boundary, and
//! reorientation to RAS equal to nibabel's as_closest_canonical (data and affine), cubic
//! B-spline resampling within 1e-4 of scipy's map_coordinates(order=3, mode='mirror') on
//! oblique and axis-aligned grids, box means within 1e-5 of uniform_filter, gradients within
//! 1e-4 of numpy.gradient, histogram matching equal to scikit-image's match_histograms.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_core::{Geometry, Volume, mat3, rng::SplitMix64};
use hounsfield_filter::{
    Boundary, Connectivity, Element3, GaussianOptions, Interpolation, ResampleOptions, derivative,
    gaussian, intensity, label, morphology, rank, resample, reshape, threshold,
};

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("HOUNSFIELD_PYTHON").map(PathBuf::from);
    if p.is_none() {
        eprintln!(
            "SKIPPED: HOUNSFIELD_PYTHON is not set; run `cargo xtask peers` (cargo xtask ci sets it)"
        );
    }
    p
}

fn reference(python: &Path, args: &[String]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/filter_ref.py");
    let out = Command::new(python).arg(script).args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Smooth structure plus noise in 0..1, on an anisotropic grid.
fn field(shape: [usize; 3], seed: u64) -> Volume<f32> {
    let mut rng = SplitMix64::new(seed);
    let [nz, ny, nx] = shape;
    let v = (0..nz * ny * nx)
        .map(|i| {
            let (z, y, x) = ((i / (ny * nx)) as f64, ((i / nx) % ny) as f64, (i % nx) as f64);
            let smooth = 0.5 + 0.25 * (0.3 * x).sin() * (0.2 * y + 0.1 * z).cos();
            (smooth + 0.2 * (rng.next_f64() - 0.5)) as f32
        })
        .collect();
    let g = Geometry::axis_aligned([0.8, 1.0, 2.5], [0.0; 3]).unwrap();
    Volume::from_vec(shape, v, g).unwrap()
}

fn write_f32(path: &Path, v: &Volume<f32>) {
    let bytes: Vec<u8> = v.as_slice().iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, bytes).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    std::fs::read(path)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn shape_args(v: [usize; 3]) -> Vec<String> {
    v.iter().map(|n| n.to_string()).collect()
}

#[test]
fn gaussian_matches_scipy_for_every_boundary() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = field([23, 31, 37], 7);
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &input);
    let sigma_mm = [1.2, 1.5, 4.0];
    let sigma_vox: Vec<f64> = (0..3).map(|k| sigma_mm[k] / input.geometry().spacing()[k]).collect();
    for (boundary, mode, cval) in [
        (Boundary::Reflect, "reflect", 0.0),
        (Boundary::Mirror, "mirror", 0.0),
        (Boundary::Nearest, "nearest", 0.0),
        (Boundary::Wrap, "wrap", 0.0),
        (Boundary::Constant(-0.75), "constant", -0.75),
    ] {
        let options = GaussianOptions::new(1.0).with_sigma_xyz(sigma_mm).with_boundary(boundary);
        let ours = gaussian::gaussian(&input, &options).unwrap();
        let out = dir.path().join(format!("{mode}.f32"));
        let mut args = vec!["gaussian".to_owned(), inp.display().to_string()];
        args.extend(shape_args(input.shape()));
        // scipy takes sigma per array axis: z, y, x.
        args.extend([sigma_vox[2], sigma_vox[1], sigma_vox[0]].map(|s| s.to_string()));
        args.extend([mode.to_owned(), cval.to_string(), out.display().to_string()]);
        reference(&py, &args);
        let want = read_f32(&out);
        let worst =
            ours.as_slice().iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-5, "{mode}: largest difference from scipy {worst}");
    }
}

#[test]
fn labels_match_scipy_exactly() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Blobs: a smoothed random field, thresholded near its median, so components of every size.
    let noise = field([24, 29, 33], 11);
    let blobs = gaussian::gaussian(&noise, &GaussianOptions::new(1.0)).unwrap();
    let mask = threshold::binary_threshold(&blobs, 0.52, f64::INFINITY);
    let inp = dir.path().join("mask.u8");
    std::fs::write(&inp, mask.as_slice()).unwrap();
    for (connectivity, name) in
        [(Connectivity::Six, "6"), (Connectivity::Eighteen, "18"), (Connectivity::TwentySix, "26")]
    {
        let ours = label::label(&mask, connectivity).unwrap();
        let out = dir.path().join(format!("labels{name}.i32"));
        let mut args = vec!["label".to_owned(), inp.display().to_string()];
        args.extend(shape_args(mask.shape()));
        args.extend([name.to_owned(), out.display().to_string()]);
        reference(&py, &args);
        let want: Vec<u32> = std::fs::read(&out)
            .unwrap()
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32)
            .collect();
        assert!(ours.count > 5, "{name}: only {} components, a weak test", ours.count);
        assert_eq!(ours.volume.as_slice(), want.as_slice(), "{name}-connectivity labels differ");
    }
}

/// Otsu, Li, triangle and three-class multi-Otsu on a skewed three-mode volume (air, tissue,
/// bone), equal to scikit-image's.
#[test]
fn thresholds_match_scikit_image() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let v = field([17, 19, 23], 41).map(|x| {
        if x > 0.7 {
            700.0 + x * 300.0
        } else if x > 0.45 {
            40.0 + x * 30.0
        } else {
            -1000.0 + x * 50.0
        }
    });
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &v);
    let mut args = vec!["thresholds".to_owned(), inp.display().to_string()];
    args.extend(shape_args(v.shape()));
    let want: Vec<f64> =
        reference(&py, &args).split_whitespace().map(|t| t.parse().unwrap()).collect();
    let ours = [
        threshold::otsu_threshold(&v, 256).unwrap(),
        threshold::li_threshold(&v).unwrap(),
        threshold::triangle_threshold(&v, 256).unwrap(),
    ]
    .into_iter()
    .chain(threshold::multi_otsu_thresholds(&v, 3, 256).unwrap())
    .collect::<Vec<f64>>();
    for (name, (a, b)) in ["otsu", "li", "triangle", "multi-otsu 1", "multi-otsu 2"]
        .iter()
        .zip(ours.iter().zip(&want))
    {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{name}: {a} vs scikit-image {b}");
    }
}

#[test]
fn otsu_matches_scikit_image() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let v = field([17, 19, 23], 3).map(|x| if x > 0.55 { x * 400.0 } else { x * 80.0 - 1000.0 });
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &v);
    let mut args = vec!["otsu".to_owned(), inp.display().to_string()];
    args.extend(shape_args(v.shape()));
    let want: f64 = reference(&py, &args).trim().parse().unwrap();
    let ours = threshold::otsu_threshold(&v, 256).unwrap();
    assert!((ours - want).abs() <= 1e-12 * want.abs().max(1.0), "{ours} vs scikit-image {want}");
}

fn geometry_args(g: &Geometry) -> Vec<String> {
    let d = g.direction();
    let mut v: Vec<f64> = g.spacing().to_vec();
    v.extend(g.origin());
    v.extend(d.iter().flatten());
    v.iter().map(|x| format!("{x:.17e}")).collect()
}

#[test]
fn linear_resampling_matches_simpleitk() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = field([14, 17, 19], 5);
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &input);
    // An oblique target that overlaps the input and reaches beyond it (outside = -5).
    let rot = mat3::rotation_from_quaternion([0.95, 0.12, -0.2, 0.1]);
    let target = Geometry::new([0.6, 0.75, 1.3], [2.0, 1.0, 4.0], rot).unwrap();
    let size = [21, 18, 25];
    let options = ResampleOptions::default().with_outside(-5.0);
    let ours = resample::resample(&input, &target, size, &options).unwrap();
    let out = dir.path().join("sitk.f32");
    let mut args = vec!["resample".to_owned(), inp.display().to_string()];
    args.extend(shape_args(input.shape()));
    args.extend(geometry_args(input.geometry()));
    args.extend(size.iter().map(|n| n.to_string()));
    args.extend(geometry_args(&target));
    args.extend(["-5".to_owned(), out.display().to_string()]);
    reference(&py, &args);
    let want = read_f32(&out);
    let outside = want.iter().filter(|&&v| v == -5.0).count();
    assert!(
        outside > 100 && outside < want.len() * 3 / 4,
        "{outside} outside samples: a weak test"
    );
    let worst = ours.as_slice().iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "largest difference from SimpleITK {worst}");
}

#[test]
fn binary_morphology_matches_scipy_exactly() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let noise = field([21, 26, 29], 13);
    let blobs = gaussian::gaussian(&noise, &GaussianOptions::new(1.2)).unwrap();
    let s = blobs.geometry().spacing();
    let cases = [
        ("dilate", 2.6, Element3::Ball, "ball"),
        ("erode", 2.6, Element3::Ball, "ball"),
        ("dilate", 1.0, Element3::Ball, "ball"),
        ("erode", 5.1, Element3::Ball, "ball"),
        ("dilate", 2.6, Element3::Cross, "cross"),
        ("erode", 2.6, Element3::Cross, "cross"),
        ("dilate", 2.0, Element3::Box, "box"),
        ("erode", 2.0, Element3::Box, "box"),
        ("fill", 0.0, Element3::Ball, "ball"),
    ];
    for (op, radius, element, element_name) in cases {
        let mask = if op == "fill" {
            // The complement of the blobs, with two closed shells carved in: hollow 5^3 and
            // 7^3 cubes, so that there are holes to fill.
            let mut m = threshold::binary_threshold(&blobs, f64::NEG_INFINITY, 0.5);
            for (c, h) in [([6usize, 7, 8], 2usize), ([13, 16, 18], 3)] {
                for ((z, y, x), v) in m.view_mut().indexed_iter_mut() {
                    let d = [z.abs_diff(c[0]), y.abs_diff(c[1]), x.abs_diff(c[2])];
                    if d.iter().all(|&d| d <= h) {
                        *v = u8::from(d.contains(&h));
                    }
                }
            }
            m
        } else {
            threshold::binary_threshold(&blobs, 0.5, f64::INFINITY)
        };
        let inp = dir.path().join(format!("mask_{op}{radius}.u8"));
        std::fs::write(&inp, mask.as_slice()).unwrap();
        let ours = match op {
            "dilate" => morphology::dilate(&mask, element, radius).unwrap(),
            "erode" => morphology::erode(&mask, element, radius).unwrap(),
            _ => morphology::fill_holes(&mask).unwrap(),
        };
        let out = dir.path().join(format!("{op}{radius}{element_name}.u8"));
        let mut args = vec!["morph".to_owned(), inp.display().to_string()];
        args.extend(shape_args(mask.shape()));
        args.push(op.to_owned());
        args.extend([s[0], s[1], s[2], radius].map(|v| v.to_string()));
        args.extend([element_name.to_owned(), out.display().to_string()]);
        reference(&py, &args);
        let want = std::fs::read(&out).unwrap();
        let changed = ours.as_slice().iter().zip(mask.as_slice()).filter(|(a, b)| a != b).count();
        assert!(changed > 0, "{op} {radius} {element_name}: changed nothing, a weak test");
        let differ = ours.as_slice().iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(differ, 0, "{op} {radius} mm {element_name}: {differ} voxels differ from scipy");
    }
}

#[test]
fn rank_filters_match_scipy_exactly() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Quantised so that ties are common.
    let input = field([13, 16, 19], 17).map(|v| (v * 20.0).round() / 20.0);
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &input);
    let cases = [
        ([1, 1, 1], 13, Boundary::Reflect, "reflect", 0.0),
        ([1, 1, 1], 13, Boundary::Nearest, "nearest", 0.0),
        ([1, 1, 1], 13, Boundary::Mirror, "mirror", 0.0),
        ([1, 1, 1], 3, Boundary::Constant(0.25), "constant", 0.25),
        ([2, 1, 0], 7, Boundary::Wrap, "wrap", 0.0),
        ([2, 2, 2], 62, Boundary::Reflect, "reflect", 0.0),
    ];
    for (radius, r, boundary, mode, cval) in cases {
        let ours = rank::rank_filter(&input, radius, r, boundary).unwrap();
        let out = dir.path().join(format!("rank{r}{mode}.f32"));
        let mut args = vec!["rank".to_owned(), inp.display().to_string()];
        args.extend(shape_args(input.shape()));
        args.extend([radius[2], radius[1], radius[0], r].map(|v| v.to_string()));
        args.extend([mode.to_owned(), cval.to_string(), out.display().to_string()]);
        reference(&py, &args);
        let want = read_f32(&out);
        let differ = ours.as_slice().iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ, 0,
            "radius {radius:?} rank {r} {mode}: {differ} voxels differ from scipy"
        );
    }
}

#[test]
fn reorienting_to_ras_matches_nibabel() {
    let Some(py) = python() else { return };
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    let dir = tempfile::tempdir().unwrap();
    for file in ["mricron/ch2.nii.gz", "dicom2nifti/generic/anatomical/001_ground_truth.nii.gz"] {
        let path = shared.join(file);
        if !path.exists() {
            eprintln!("SKIPPED: {} not found", path.display());
            continue;
        }
        let image = hounsfield_io::nifti::read_nifti(&path).unwrap();
        let ours = reshape::reorient(&image.scaled_f32(0).unwrap(), "RAS").unwrap();
        let out = dir.path().join("canonical.f32");
        let printed = reference(
            &py,
            &["canonical".into(), path.display().to_string(), out.display().to_string()],
        );
        let affine: Vec<f64> = printed.split_whitespace().map(|v| v.parse().unwrap()).collect();
        let ras = ours.geometry().ras_affine();
        for r in 0..4 {
            for c in 0..4 {
                assert!(
                    (ras[r][c] - affine[4 * r + c]).abs() < 1e-4,
                    "{file}: affine {ras:?} vs {affine:?}"
                );
            }
        }
        assert_eq!(
            ours.as_slice(),
            read_f32(&out).as_slice(),
            "{file}: voxels differ from nibabel"
        );
    }
}

#[test]
fn bspline_resampling_matches_scipy_map_coordinates() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = field([15, 18, 21], 23);
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &input);
    let rot = mat3::rotation_from_quaternion([0.95, 0.12, -0.2, 0.1]);
    let targets = [
        (Geometry::new([0.6, 0.75, 1.3], [2.0, 1.0, 4.0], rot).unwrap(), [21, 18, 25]),
        (Geometry::axis_aligned([0.45, 1.3, 0.9], [-0.3, 0.5, -1.0]).unwrap(), [40, 16, 44]),
    ];
    for (n, (target, size)) in targets.into_iter().enumerate() {
        let options = ResampleOptions::default()
            .with_interpolation(Interpolation::BSpline3)
            .with_outside(f64::NAN);
        let ours = resample::resample(&input, &target, size, &options).unwrap();
        // Where every output voxel centre falls in the input, as (z, y, x) index rows.
        let mut coords = [Vec::new(), Vec::new(), Vec::new()];
        for ((z, y, x), _) in ours.data().indexed_iter() {
            let p = target.index_to_physical([x as f64, y as f64, z as f64]);
            let i = input.geometry().physical_to_index(p);
            for (row, v) in coords.iter_mut().zip([i[2], i[1], i[0]]) {
                row.push(v);
            }
        }
        let path = dir.path().join(format!("coords{n}.f64"));
        let bytes: Vec<u8> = coords.concat().iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&path, bytes).unwrap();
        let out = dir.path().join(format!("bspline{n}.f32"));
        let mut args = vec!["bspline".to_owned(), inp.display().to_string()];
        args.extend(shape_args(input.shape()));
        args.extend([path.display().to_string(), out.display().to_string()]);
        reference(&py, &args);
        let want = read_f32(&out);
        let inside: Vec<(f32, f32)> = ours
            .as_slice()
            .iter()
            .zip(&want)
            .filter(|(a, _)| !a.is_nan())
            .map(|(a, b)| (*a, *b))
            .collect();
        assert!(inside.len() > ours.len() / 4, "target {n}: only {} samples inside", inside.len());
        let worst = inside.iter().map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        assert!(worst < 1e-4, "target {n}: largest difference from scipy {worst}");
    }
}

#[test]
fn box_means_and_gradients_match_scipy_and_numpy() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let input = field([12, 17, 20], 29);
    let inp = dir.path().join("in.f32");
    write_f32(&inp, &input);
    for (radius, boundary, mode) in [
        ([1, 2, 3], Boundary::Reflect, "reflect"),
        ([2, 0, 1], Boundary::Nearest, "nearest"),
        ([3, 1, 1], Boundary::Wrap, "wrap"),
    ] {
        let ours = derivative::box_mean(&input, radius, boundary).unwrap();
        let out = dir.path().join(format!("uniform{mode}.f32"));
        let mut args = vec!["uniform".to_owned(), inp.display().to_string()];
        args.extend(shape_args(input.shape()));
        args.extend([radius[2], radius[1], radius[0]].map(|v| v.to_string()));
        args.extend([mode.to_owned(), out.display().to_string()]);
        reference(&py, &args);
        let worst = ours
            .as_slice()
            .iter()
            .zip(read_f32(&out))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-5, "box {radius:?} {mode}: largest difference from scipy {worst}");
    }
    let [gx, gy, gz] = derivative::gradient(&input).unwrap();
    let out = dir.path().join("gradient.f32");
    let s = input.geometry().spacing();
    let mut args = vec!["gradient".to_owned(), inp.display().to_string()];
    args.extend(shape_args(input.shape()));
    args.extend(s.map(|v| v.to_string()));
    args.push(out.display().to_string());
    reference(&py, &args);
    let want = read_f32(&out);
    let ours: Vec<f32> = [gx, gy, gz].iter().flat_map(|g| g.as_slice().to_vec()).collect();
    let worst = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "gradient: largest difference from numpy {worst}");
}

#[test]
fn histogram_matching_matches_scikit_image() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    // Quantised so that both have repeated values.
    let source = field([9, 11, 13], 51).map(|v| (v * 40.0).round());
    let reference_volume = field([7, 12, 10], 52).map(|v| (v * v * 900.0 - 300.0).round() / 3.0);
    let (inp, refp) = (dir.path().join("in.f32"), dir.path().join("ref.f32"));
    write_f32(&inp, &source);
    write_f32(&refp, &reference_volume);
    let out = dir.path().join("matched.f32");
    let mut args = vec!["match".to_owned(), inp.display().to_string()];
    args.extend(shape_args(source.shape()));
    args.extend([refp.display().to_string(), out.display().to_string()]);
    reference(&py, &args);
    let ours = intensity::match_histogram(&source, &reference_volume).unwrap();
    let worst =
        ours.as_slice().iter().zip(read_f32(&out)).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "largest difference from scikit-image {worst}");
}
