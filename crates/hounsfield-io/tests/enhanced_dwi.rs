//! A Philips-style Enhanced MR diffusion file (reference/dicom/make_enhanced_dwi.py: b = 0 and
//! three directions at b = 1000, 8 slices, the 32 frames stored shuffled) comes out as 4 volumes
//! in the order of their DimensionIndexValues, every voxel holding the value the generator gave
//! its (volume, slice, row, column), with the b-values and directions of the frames it came from.
//! Without dimension indices the volumes are still pure (matched by their diffusion weighting).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_io::dicom::{DicomVolume, fsl_tables, read_dicom_file};

/// The generator's directions per volume (None: b = 0).
const DIRECTIONS: [Option<[f64; 3]>; 4] =
    [None, Some([1.0, 0.0, 0.0]), Some([0.0, 0.6, 0.8]), Some([0.0, -0.8, 0.6])];

fn make(dir: &Path, name: &str, flags: &[&str]) -> Option<PathBuf> {
    let python = common::python()?;
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/dicom/make_enhanced_dwi.py");
    let path = dir.join(name);
    let made = Command::new(python).arg(script).arg(&path).args(flags).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    Some(path)
}

/// Every voxel of volume t holds 1000 (v + 1) + 100 z + 5 r + c for one generator volume v;
/// returns v for each t.
fn generator_volumes(ours: &DicomVolume) -> Vec<usize> {
    ours.volumes
        .iter()
        .enumerate()
        .map(|(t, volume)| {
            let values = volume.to_f64();
            let v = (values.data()[[0, 0, 0]] / 1000.0).round() as usize - 1;
            for ((z, r, c), value) in values.data().indexed_iter() {
                let want = 1000.0 * (v + 1) as f64 + 100.0 * z as f64 + 5.0 * r as f64 + c as f64;
                assert_eq!(
                    *value, want,
                    "volume {t} (generator's {v}): slice {z}, row {r}, column {c}"
                );
            }
            v
        })
        .collect()
}

/// Volume t's weighting is that of the generator volume its voxels came from.
fn assert_weights_follow_voxels(ours: &DicomVolume, from: &[usize]) {
    for (t, &v) in from.iter().enumerate() {
        let d = ours.info.diffusion[t].unwrap();
        assert_eq!(d.b_value, if v == 0 { 0.0 } else { 1000.0 }, "volume {t}");
        match (d.direction, DIRECTIONS[v]) {
            (None, None) => {}
            (Some(got), Some(want)) => {
                assert!((0..3).all(|k| (got[k] - want[k]).abs() < 1e-12), "volume {t}: {got:?}")
            }
            other => panic!("volume {t}: {other:?}"),
        }
    }
}

#[test]
fn shuffled_frames_come_out_in_dimension_index_order() {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = make(dir.path(), "dwi.dcm", &[]) else { return };
    let ours = read_dicom_file(&path).unwrap();
    assert_eq!((ours.time_points(), ours.volumes[0].shape()), (4, [8, 5, 6]));
    let from = generator_volumes(&ours);
    assert_eq!(from, [0, 1, 2, 3], "volumes in DimensionIndexValues order, b = 0 first");
    assert_weights_follow_voxels(&ours, &from);

    // Slice 0 at the first position, slices 3 mm apart along row x column.
    let g = ours.volumes[0].geometry();
    let origin = g.origin();
    assert!((0..3).all(|k| (origin[k] - [-20.0, 10.0, 40.0][k]).abs() < 1e-9), "{origin:?}");
    assert!((g.spacing()[2] - 3.0).abs() < 1e-9);

    let tables = fsl_tables(&ours.info.diffusion, g, &path).unwrap();
    assert_eq!(tables.bval_text(), "0 1000 1000 1000\n");
    // Axis-aligned rows (det > 0, so FSL negates x): (1,0,0) becomes (-1, 0, 0) in voxel axes.
    assert!((tables.bvecs[1][0] + 1.0).abs() < 1e-12, "{:?}", tables.bvecs);
}

#[test]
fn without_dimension_indices_volumes_are_matched_by_their_weighting() {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = make(dir.path(), "dwi.dcm", &["--no-index"]) else { return };
    let ours = read_dicom_file(&path).unwrap();
    assert_eq!(ours.time_points(), 4);
    let mut from = generator_volumes(&ours);
    assert_weights_follow_voxels(&ours, &from);
    from.sort_unstable();
    assert_eq!(from, [0, 1, 2, 3], "each generator volume once");
}

#[test]
fn an_isotropic_volume_gets_a_zero_vector() {
    let dir = tempfile::tempdir().unwrap();
    let Some(path) = make(dir.path(), "dwi.dcm", &["--isotropic"]) else { return };
    let ours = read_dicom_file(&path).unwrap();
    assert_eq!(generator_volumes(&ours), [0, 1, 2, 3]);
    let d = ours.info.diffusion[3].unwrap();
    assert!(d.isotropic && d.direction.is_none() && d.b_value == 1000.0, "{d:?}");
    let tables = fsl_tables(&ours.info.diffusion, ours.volumes[0].geometry(), &path).unwrap();
    assert_eq!(tables.bval_text(), "0 1000 1000 1000\n");
    assert_eq!(tables.bvecs[3], [0.0; 3]);
}
