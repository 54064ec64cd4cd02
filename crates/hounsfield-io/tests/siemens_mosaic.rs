//! Siemens mosaics (nibabel's nicom test files, and copies made by
//! reference/dicom/make_mosaic.py with random pixels and with the CSA slice normal reversed):
//! every file unpacks to the volume nibabel's mosaic reader and dcm2niix give (shape, every voxel
//! centre within 1e-3 mm, every value equal), a two-file DWI series becomes two volumes with
//! dcm2niix's b-values and gradient directions, and mosaics that cannot be unpacked are refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_core::Geometry;
use hounsfield_io::dicom::{
    DicomVolume, SeriesOptions, fsl_tables, read_dicom_file, read_dicom_series, read_header,
    scan_dicom_dir,
};
use hounsfield_io::nifti::{NiftiImage, read_nifti};

struct Fixture {
    dir: tempfile::TempDir,
    dcm2niix: PathBuf,
}

/// Runs make_mosaic.py into a temporary directory; `None` (test skipped, with a message) without
/// the test data or the peers' Python.
fn fixture() -> Option<Fixture> {
    let (Some(data), Some(python)) = (common::testdata(), common::python()) else { return None };
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/dicom/make_mosaic.py");
    let made = Command::new(python)
        .arg(script)
        .arg(data.join("nibabel/nibabel/nicom/tests/data"))
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    Some(Fixture { dir, dcm2niix: data.join("dcm2niix/bin/dcm2niix") })
}

impl Fixture {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// dcm2niix's conversion of `input` (a file with -s y, or a directory): the NIfTI and the
    /// .bval/.bvec text when written.
    fn dcm2niix(&self, input: &Path) -> (NiftiImage, Option<(String, String)>) {
        let out = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(&self.dcm2niix);
        cmd.args(["-z", "n", "-b", "y", "-f", "out", "-o"]).arg(out.path());
        if input.is_file() {
            cmd.args(["-s", "y"]);
        }
        let run = cmd.arg(input).output().unwrap();
        assert!(run.status.success(), "{run:?}");
        let nifti = read_nifti(out.path().join("out.nii")).unwrap();
        let tables = std::fs::read_to_string(out.path().join("out.bval"))
            .ok()
            .map(|b| (b, std::fs::read_to_string(out.path().join("out.bvec")).unwrap()));
        (nifti, tables)
    }
}

/// nibabel's affine (LPS, indices (row, column, slice)) and values (slice, row, column order).
fn nibabel(fx: &Fixture, name: &str) -> ([[f64; 4]; 4], Vec<usize>, Vec<f64>) {
    let json = common::load_json(&fx.path(&format!("{name}.json")));
    let affine: Vec<Vec<f64>> = serde_json::from_value(json["affine"].clone()).unwrap();
    let shape: Vec<usize> = serde_json::from_value(json["shape"].clone()).unwrap();
    let bytes = std::fs::read(fx.path(&format!("{name}.f64"))).unwrap();
    let values = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect();
    let a = |r: usize| [affine[r][0], affine[r][1], affine[r][2], affine[r][3]];
    ([a(0), a(1), a(2), a(3)], shape, values)
}

/// Our volume against nibabel's mosaic reader: the same shape, each of our voxel centres where
/// nibabel's affine puts the voxel of the same (row, column, slice) within 1e-3 mm, and the
/// same values.
fn assert_matches_nibabel(fx: &Fixture, name: &str, ours: &DicomVolume) {
    let (affine, shape, values) = nibabel(fx, name);
    let volume = &ours.volumes[0];
    let [nz, ny, nx] = volume.shape();
    assert_eq!([ny, nx, nz], [shape[0], shape[1], shape[2]], "{name}: shape");
    let g = volume.geometry();
    for (k, j, i) in
        [(0, 0, 0), (nz - 1, 0, 0), (0, ny - 1, 0), (0, 0, nx - 1), (nz - 1, ny - 1, nx - 1)]
    {
        let ours = g.index_to_physical([i as f64, j as f64, k as f64]);
        let theirs: Vec<f64> = (0..3)
            .map(|r| {
                affine[r][0] * j as f64
                    + affine[r][1] * i as f64
                    + affine[r][2] * k as f64
                    + affine[r][3]
            })
            .collect();
        for r in 0..3 {
            assert!(
                (ours[r] - theirs[r]).abs() < 1e-3,
                "{name}: voxel (slice {k}, row {j}, column {i}) at {ours:?}, nibabel {theirs:?}"
            );
        }
    }
    let got = volume.to_f64();
    assert_eq!(got.as_slice(), &values[..], "{name}: values differ from nibabel's");
}

/// FSL .bvec columns as unit vectors in LPS patient space, for the grid they belong to: x
/// un-negated where the voxel-to-world determinant is positive, then along the voxel axes.
fn world_vectors(bvec: &str, geometry: &Geometry) -> Vec<[f64; 3]> {
    let rows: Vec<Vec<f64>> =
        bvec.lines().map(|l| l.split_whitespace().map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 3, "{bvec:?}");
    let d = geometry.direction();
    let det = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
        - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
        + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
    (0..rows[0].len())
        .map(|t| {
            let mut v = [rows[0][t], rows[1][t], rows[2][t]];
            if det > 0.0 {
                v[0] = -v[0];
            }
            [0, 1, 2].map(|r| (0..3).map(|c| d[r][c] * v[c]).sum())
        })
        .collect()
}

fn values(line: &str) -> Vec<f64> {
    line.split_whitespace().map(|v| v.parse().unwrap()).collect()
}

/// Our tables (computed for our grid) and dcm2niix's (for its grid) say the same: equal b-values
/// and, in patient space, directions within 1e-5 (dcm2niix prints 6 significant digits).
fn assert_same_tables(name: &str, ours: &DicomVolume, theirs: &(String, String), grid: &Geometry) {
    let tables =
        fsl_tables(&ours.info.diffusion, ours.volumes[0].geometry(), Path::new(name)).unwrap();
    assert_eq!(values(&tables.bval_text()), values(&theirs.0), "{name}: bvals");
    let a = world_vectors(&tables.bvec_text(), ours.volumes[0].geometry());
    let b = world_vectors(&theirs.1, grid);
    assert_eq!(a.len(), b.len());
    for (t, (x, y)) in a.iter().zip(&b).enumerate() {
        for k in 0..3 {
            assert!((x[k] - y[k]).abs() < 1e-5, "{name}: volume {t}: {x:?} vs dcm2niix {y:?}");
        }
    }
}

#[test]
fn single_mosaics_unpack_as_nibabel_and_dcm2niix_do() {
    let Some(fx) = fixture() else { return };
    for name in ["siemens_dwi_0", "siemens_dwi_1000", "pattern", "reversed"] {
        let path = if name.starts_with("siemens") {
            fx.path(&format!("dwi/{name}.dcm"))
        } else {
            fx.path(&format!("{name}.dcm"))
        };
        let ours = read_dicom_file(&path).unwrap();
        assert_eq!(ours.volumes.len(), 1, "{name}");
        assert_matches_nibabel(&fx, name, &ours);
        let (reference, tables) = fx.dcm2niix(&path);
        common::assert_same_in_physical_space(name, &ours.volumes, &reference, 0.0, 0.0);
        let tables = tables.unwrap();
        if name == "siemens_dwi_0" {
            assert_same_tables(name, &ours, &tables, reference.geometry());
        } else {
            // A single volume whose b-value and vector are those of every volume (here the only
            // one): dcm2niix writes b = 0 and a zero vector ("assuming volumes without
            // gradients are b = 0"); we write what the CSA header says.
            assert_eq!(tables, ("0 \n".to_owned(), "0 \n0 \n0 \n".to_owned()), "{name}");
            let t = fsl_tables(&ours.info.diffusion, ours.volumes[0].geometry(), &path).unwrap();
            assert_eq!(t.bvals, [1000.0], "{name}");
            let world = world_vectors(&t.bvec_text(), ours.volumes[0].geometry());
            for (got, want) in world[0].iter().zip([0.99997449, 0.00505012, -0.00505012]) {
                assert!((got - want).abs() < 1e-5, "{name}: {world:?}");
            }
        }
        // Slice times follow the slices as stored: ascending tiles, whichever way they stack.
        let times = ours.info.slice_times_ms.as_ref().unwrap();
        assert_eq!(times.len(), 48, "{name}");
    }
    let pattern = read_dicom_file(fx.path("pattern.dcm")).unwrap();
    let (sum, max) = pattern.volumes[0]
        .to_f64()
        .as_slice()
        .iter()
        .fold((0.0, 0.0f64), |(s, m), v| (s + v, m.max(*v)));
    assert!(sum > 0.0 && max <= 4095.0, "the random pattern survived: sum {sum}, max {max}");
}

#[test]
fn a_mosaic_dwi_series_becomes_volumes_with_dcm2niix_tables() {
    let Some(fx) = fixture() else { return };
    let dir = fx.path("dwi");
    let scan = scan_dicom_dir(&dir).unwrap();
    assert_eq!(scan.series.len(), 1);
    let ours = read_dicom_series(&scan.series[0], &SeriesOptions::default()).unwrap();
    assert_eq!(ours.time_points(), 2);
    let b: Vec<f64> = ours.info.diffusion.iter().map(|d| d.unwrap().b_value).collect();
    assert_eq!(b, [0.0, 1000.0]);
    let (reference, tables) = fx.dcm2niix(&dir);
    assert_eq!(reference.frames(), 2);
    for t in 0..2 {
        let frame = NiftiImage::from_volumes(reference.frame(t).unwrap().to_vec(), 1).unwrap();
        common::assert_same_in_physical_space("dwi", &ours.volumes[t..t + 1], &frame, 0.0, 0.0);
    }
    assert_same_tables("dwi", &ours, &tables.unwrap(), reference.geometry());
    let text = fsl_tables(&ours.info.diffusion, ours.volumes[0].geometry(), &dir).unwrap();
    assert_eq!(text.bval_text(), "0 1000\n");
    // Dropping duplicates keeps volumes of different weightings: they are not copies.
    let options = SeriesOptions::default().with_drop_duplicates(true);
    let kept = read_dicom_series(&scan.series[0], &options).unwrap();
    assert_eq!(kept.volumes, ours.volumes);
    assert_eq!(kept.info.diffusion, ours.info.diffusion);
}

/// nibabel's nicom 0.dcm and 1.dcm are 256 x 256 images that say they pack 48 slices in a 7 x 7
/// grid: 256 is not a multiple of 7 (resized after acquisition). dcm2niix writes 36 x 36 x 48
/// volumes of misaligned tiles; we refuse. csa_slice_norm.dcm is cut short (its header alone is
/// kept): the header unpacks with nibabel's geometry, the pixels are refused as truncated.
#[test]
fn mosaics_that_cannot_be_unpacked_are_refused() {
    let Some(data) = common::testdata() else { return };
    let nicom = data.join("nibabel/nibabel/nicom/tests/data");
    for name in ["0.dcm", "1.dcm"] {
        let err = read_dicom_file(nicom.join(name)).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains("whole tiles"), "{err}");
    }
    let path = nicom.join("csa_slice_norm.dcm");
    let h = read_header(&path).unwrap();
    assert_eq!((h.rows, h.columns, h.frames), (384 / 6, 384 / 6, 32));
    // nibabel: affine translation (-43.70732, -80.34648, -11.29078) LPS for voxel (0, 0, 0).
    let p = h.position.unwrap();
    for (got, want) in p.iter().zip([-43.70732, -80.34648, -11.29078]) {
        assert!((got - want).abs() < 1e-4, "{p:?}");
    }
    let err = read_dicom_file(&path).unwrap_err();
    assert!(matches!(err, hounsfield_io::Error::Truncated { .. }), "{err}");
}
