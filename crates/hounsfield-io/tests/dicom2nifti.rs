//! DICOM series from the dicom2nifti project (../shared/data/dicom2nifti) against that project's
//! ground-truth NIfTI files, compared as dicom2nifti compares them: both in the same physical
//! frame, affines equal (every ground-truth voxel centre maps to one of ours within 1e-3 voxel,
//! by a signed axis permutation covering the whole grid), values within rtol 0.01 / atol 1.
//! Series in failing/ must be refused with the matching typed error, or handled by the option.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};

mod common;

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

/// Compares our volume(s) with a ground-truth NIfTI as dicom2nifti does (rtol 0.01, atol 1).
fn assert_matches_ground_truth(ours: &DicomVolume, truth: &Path) {
    let gt = read_nifti(truth).unwrap();
    let name = truth.file_name().unwrap().to_string_lossy();
    common::assert_same_in_physical_space(&name, &ours.volumes, &gt, 1.0, 0.01);
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
        // JPEG-LS, through CharLS (the default `jpeg-ls` feature).
        "generic/compressed_jpegls/001",
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

/// failing/sliceincrement/001: slices 5, 5 and 10 mm apart (one missing). With `resample_gaps`
/// the missing slice is the mean of its two neighbours and the acquired slices are unchanged
/// (f32, exact for these integer inputs), 5 mm apart.
#[test]
fn a_missing_slice_is_interpolated_when_asked() {
    let Some(root) = data() else { return };
    let dir = root.join("failing/sliceincrement/001");
    let options = SeriesOptions::default().with_resample_gaps(true);
    let filled = read_single_series(&dir, &options).unwrap();
    let v = filled.volumes[0].to_f64();
    assert_eq!(v.shape()[0], 5, "4 acquired slices and the missing one");
    assert!((v.geometry().spacing()[2] - 5.0).abs() < 1e-3, "{:?}", v.geometry());
    // The acquired slices, read one by one, in order along the normal.
    let scan = scan_dicom_dir(&dir).unwrap();
    let n = v.geometry().direction();
    let mut acquired: Vec<(f64, Vec<f64>)> = scan.series[0]
        .files
        .iter()
        .map(|h| {
            let one = hounsfield_io::dicom::read_dicom_file(&h.path).unwrap();
            let p = one.volumes[0].geometry().origin();
            let along = (0..3).map(|r| p[r] * n[r][2]).sum::<f64>();
            (along, one.volumes[0].to_f64().as_slice().to_vec())
        })
        .collect();
    acquired.sort_by(|a, b| a.0.total_cmp(&b.0));
    let plane = v.shape()[1] * v.shape()[2];
    let slice = |k: usize| &v.as_slice()[k * plane..(k + 1) * plane];
    for (k, want) in [(0, 0), (1, 1), (2, 2), (4, 3)] {
        assert_eq!(slice(k), acquired[want].1.as_slice(), "slice {k}");
    }
    for (i, value) in slice(3).iter().enumerate() {
        let mean = (acquired[2].1[i] + acquired[3].1[i]) / 2.0;
        assert!((value - mean).abs() < 1e-3, "voxel {i}: {value} vs {mean}");
    }
}

/// failing/sliceincrement/002 is tilted (15.5 degrees) as well as missing a slice: it needs
/// both options. The planes are 0.7497 mm apart along their normal (table steps of 0.778 and
/// 1.556 mm); the result is 512 x 514 x 5 (widened for the shift), slice 3 midway between the
/// de-sheared slices 2 and 4. dicom2nifti's ground truth has the same grid size but puts the
/// slices 0.778 mm apart (the table increment, not the distance between the planes), so it is
/// not compared voxel by voxel.
#[test]
fn a_tilted_stack_with_a_gap_needs_both_options() {
    let Some(root) = data() else { return };
    let dir = root.join("failing/sliceincrement/002");
    let gaps_only = SeriesOptions::default().with_resample_gaps(true);
    let err = read_single_series(&dir, &gaps_only).unwrap_err();
    assert!(
        matches!(err, Error::Series { problem: SeriesProblem::GantryTilt { .. }, .. }),
        "{err}"
    );
    let both = gaps_only.with_correct_tilt(true);
    let v = read_single_series(&dir, &both).unwrap().volumes[0].to_f64();
    assert_eq!(v.shape(), [5, 514, 512]);
    assert!((v.geometry().spacing()[2] - 0.7497).abs() < 1e-3, "{:?}", v.geometry().spacing());
    assert!(v.geometry().is_orthonormal(1e-9));
    let plane = 514 * 512;
    let s = v.as_slice();
    for i in 0..plane {
        let mean = (s[2 * plane + i] + s[4 * plane + i]) / 2.0;
        assert!((s[3 * plane + i] - mean).abs() < 1e-3, "voxel {i}");
    }
}
