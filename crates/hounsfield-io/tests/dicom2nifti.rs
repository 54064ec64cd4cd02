//! DICOM series from the dicom2nifti project (../shared/data/dicom2nifti) against that project's
//! ground-truth NIfTI files, compared as dicom2nifti compares them: both in the same physical
//! frame, affines equal (every ground-truth voxel centre maps to one of ours within 1e-3 voxel,
//! by a signed axis permutation covering the whole grid), values within rtol 0.01 / atol 1.
//! Series in failing/ must be refused with the matching typed error, or handled by the option.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

use hounsfield_core::DynVolume;
use hounsfield_io::dicom::{DicomVolume, SeriesOptions, read_dicom_series, scan_dicom_dir};
use hounsfield_io::nifti::read_nifti;
use hounsfield_io::{Error, SeriesProblem};

fn data() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti");
    if p.exists() {
        Some(p)
    } else {
        eprintln!("SKIPPED: {} not found (../shared beside the checkout)", p.display());
        None
    }
}

fn read_single_series(dir: &Path, options: &SeriesOptions) -> Result<DicomVolume, Error> {
    let scan = scan_dicom_dir(dir).unwrap();
    assert!(scan.skipped.is_empty(), "{:?}", scan.skipped);
    assert_eq!(scan.series.len(), 1, "{}: expected one series", dir.display());
    read_dicom_series(&scan.series[0], options)
}

/// Compares our volume(s) with a ground-truth NIfTI in physical space.
fn assert_matches_ground_truth(ours: &DicomVolume, truth: &Path) {
    let gt = read_nifti(truth).unwrap();
    let name = truth.file_name().unwrap().to_string_lossy();
    let components = ours.volumes.len();
    assert!(
        gt.components() >= components,
        "{name}: ground truth has {} components, we have {components}",
        gt.components()
    );
    let g_ours = ours.volumes[0].geometry();
    let g_gt = gt.geometry();
    // Index map ground truth -> ours: columns are the images of the unit steps.
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
    for o in origin {
        assert!(
            (o - o.round()).abs() < 1e-3,
            "{name}: grids are offset by a fraction of a voxel: {origin:?}"
        );
    }
    let [gz, gy, gx] = gt.volumes()[0].shape();
    let [oz, oy, ox] = ours.volumes[0].shape();
    assert_eq!(gz * gy * gx, oz * oy * ox, "{name}: voxel counts differ");
    let truth_values: Vec<Vec<f64>> =
        (0..components).map(|c| gt.scaled_f64(c).unwrap().as_slice().to_vec()).collect();
    let our_values: Vec<Vec<f64>> =
        ours.volumes.iter().map(|v| v.to_f64().as_slice().to_vec()).collect();
    let mut worst = 0.0f64;
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
                    let (a, b) = (our_values[c][ours_i], truth_values[c][gt_i]);
                    assert!(
                        (a - b).abs() <= 1.0 + 0.01 * b.abs(),
                        "{name}: component {c} at {idx:?}: {a} vs ground truth {b}"
                    );
                    worst = worst.max((a - b).abs());
                }
            }
        }
    }
    eprintln!("{name}: matches, largest difference {worst}");
}

#[test]
fn generic_and_anatomical_series_match_their_ground_truth() {
    let Some(root) = data() else { return };
    let cases = [
        "generic/anatomical/001",
        "generic/anatomical/001_implicit",
        "generic/anatomical/002_non_isotropic",
        "generic/compressed/001",
        "generic/compressed_j2k/001",
        "generic/compressed_jpeg/001",
        "generic/compressed_rle/001",
        "generic/rgb/001",
        "anatomical/001",
        "anatomical/001_implicit",
        // Two slices: dicom2nifti's "failing" minimum, but a valid volume here.
        "failing/slicecount/001",
    ];
    for case in cases {
        let ours = read_single_series(&root.join(case), &SeriesOptions::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_matches_ground_truth(&ours, &root.join(format!("{case}_ground_truth.nii.gz")));
    }
}

#[test]
fn jpeg_ls_is_refused_naming_the_transfer_syntax() {
    let Some(root) = data() else { return };
    let err =
        read_single_series(&root.join("generic/compressed_jpegls/001"), &SeriesOptions::default())
            .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Unsupported { .. }), "{msg}");
    assert!(msg.contains("1.2.840.10008.1.2.4.80"), "{msg}");
}

#[test]
fn failing_series_are_refused_with_the_reason() {
    let Some(root) = data() else { return };
    let refuse = |case: &str| match read_single_series(&root.join(case), &SeriesOptions::default())
    {
        Err(Error::Series { problem, path }) => {
            assert!(path.starts_with(root.join(case)), "{case}: error names {}", path.display());
            problem
        }
        other => panic!("{case}: expected a series error, got {other:?}"),
    };
    assert!(
        matches!(refuse("failing/gantrytilting/001"), SeriesProblem::GantryTilt { degrees } if (degrees - 14.0).abs() < 1.0)
    );
    assert_eq!(refuse("failing/notavolume/001"), SeriesProblem::NotAVolume(4));
    assert!(
        matches!(refuse("failing/sliceincrement/001"), SeriesProblem::UnevenSpacing { first_mm, found_mm, .. } if (first_mm - 5.0).abs() < 0.01 && (found_mm - 10.0).abs() < 0.01)
    );
    assert!(matches!(refuse("failing/sliceincrement/002"), SeriesProblem::UnevenSpacing { .. }));
}

#[test]
fn a_tilted_stack_kept_sheared_puts_every_slice_at_its_position() {
    let Some(root) = data() else { return };
    let dir = root.join("failing/gantrytilting/001");
    let ours =
        read_single_series(&dir, &SeriesOptions::default().with_keep_tilt_shear(true)).unwrap();
    let g = ours.volumes[0].geometry();
    assert!(!g.is_orthonormal(1e-3));
    let scan = scan_dicom_dir(&dir).unwrap();
    let mut positions: Vec<[f64; 3]> =
        scan.series[0].files.iter().map(|h| h.position.unwrap()).collect();
    positions.sort_by(|a, b| a[2].total_cmp(&b[2]));
    for (k, p) in positions.iter().enumerate() {
        let q = g.index_to_physical([0.0, 0.0, k as f64]);
        assert!(
            (0..3).all(|i| (p[i] - q[i]).abs() < 1e-3),
            "slice {k}: {q:?} vs ImagePositionPatient {p:?}"
        );
    }
}

#[test]
fn mixed_orientations_under_one_uid_become_two_series() {
    let Some(root) = data() else { return };
    let scan = scan_dicom_dir(root.join("failing/sliceorientation/001")).unwrap();
    assert_eq!(
        scan.series.len(),
        2,
        "{:?}",
        scan.series.iter().map(|s| s.files.len()).collect::<Vec<_>>()
    );
    assert_eq!(scan.series[0].uid, scan.series[1].uid);
    for s in &scan.series {
        assert_eq!(s.files.len(), 2);
        let v = read_dicom_series(s, &SeriesOptions::default()).unwrap();
        assert_eq!(v.volumes[0].shape(), [2, 288, 288]);
        assert!(matches!(v.volumes[0], DynVolume::U16(_)));
    }
}
