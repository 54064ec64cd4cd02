//! DICOM files and series converted by dcm2niix (the PyPI build fetched by `cargo xtask
//! testdata`) and read by us: the same voxels at the same physical positions (every reference
//! voxel centre within 1e-3 mm of ours) and the same values (within f32 rounding of dcm2niix's
//! scl_slope/scl_inter, relative 1e-6). Cases dcm2niix does not convert are listed with why.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_io::dicom::{
    DicomVolume, SeriesOptions, read_dicom_file, read_dicom_series, scan_dicom_dir,
};
use hounsfield_io::nifti::read_nifti;

/// Single files (dcm2niix `-s y`), relative to the test data directory.
const FILES: &[&str] = &[
    "pydicom/pydicom/data/test_files/CT_small.dcm",
    "pydicom/pydicom/data/test_files/MR_small.dcm",
    "pydicom/pydicom/data/test_files/MR_small_bigendian.dcm",
    "pydicom/pydicom/data/test_files/MR_small_RLE.dcm",
    "pydicom/pydicom/data/test_files/MR_small_jp2klossless.dcm",
    "pydicom/pydicom/data/test_files/JPEG2000.dcm",
    "pydicom/pydicom/data/test_files/MR_small_jpeg_ls_lossless.dcm",
    "pydicom/pydicom/data/test_files/JPGExtended.dcm",
    "pydicom-data/data_store/data/JPGLosslessP14SV1_1s_1f_8b.dcm",
    "pydicom/pydicom/data/test_files/rtdose.dcm",
    "pydicom/pydicom/data/test_files/rtdose_expb.dcm",
    "pydicom/pydicom/data/test_files/rtdose_rle.dcm",
    "pydicom-data/data_store/data/eCT_Supplemental.dcm",
    "pydicom-data/data_store/data/emri_small.dcm",
    "pydicom-data/data_store/data/emri_small_big_endian.dcm",
    "pydicom-data/data_store/data/emri_small_RLE.dcm",
    "pydicom-data/data_store/data/MR2_UNCR.dcm",
    "pydicom-data/data_store/data/RG1_UNCR.dcm",
];

/// Series directories in ../shared/data/dicom2nifti.
const SERIES: &[&str] = &[
    "generic/anatomical/001",
    "generic/anatomical/001_implicit",
    "generic/anatomical/002_non_isotropic",
    "generic/compressed/001",
    "generic/compressed_j2k/001",
    "generic/compressed_jpegls/001",
    "generic/compressed_rle/001",
    "anatomical/001",
];

/// Inputs dcm2niix converts differently or not at all, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "pydicom/pydicom/data/test_files/JPGExtended.dcm",
        "dcm2niix writes no NIfTI for 12-bit lossy JPEG; we decode it (libjpeg-turbo), within 1 level of pydicom",
    ),
    ("pydicom/pydicom/data/test_files/rtdose.dcm", GRID_OFFSETS),
    ("pydicom/pydicom/data/test_files/rtdose_expb.dcm", GRID_OFFSETS),
    ("pydicom/pydicom/data/test_files/rtdose_rle.dcm", GRID_OFFSETS),
    ("pydicom-data/data_store/data/emri_small.dcm", NO_ORIENTATION),
    ("pydicom-data/data_store/data/emri_small_big_endian.dcm", NO_ORIENTATION),
    ("pydicom-data/data_store/data/emri_small_RLE.dcm", NO_ORIENTATION),
    (
        "pydicom-data/data_store/data/RG1_UNCR.dcm",
        "no PixelSpacing: dcm2niix writes an all-zero affine, which we refuse to read as a grid",
    ),
];

/// dcm2niix stacks RT Dose frames 1 mm apart; GridFrameOffsetVector (3004,000C) puts them 5 mm
/// apart, and we follow it as GDCM does. The stored values agree (neither applies
/// DoseGridScaling).
const GRID_OFFSETS: &str = "dcm2niix ignores GridFrameOffsetVector";

/// Without ImageOrientationPatient the orientation is a convention: ours is DICOM's identity
/// (rows along +x, columns along +y in LPS, as SimpleITK); dcm2niix keeps the rows as stored but
/// writes an affine whose column axis runs along -y. Both centre the grid on the origin.
const NO_ORIENTATION: &str = "no ImageOrientationPatient: a different default orientation";

/// Runs dcm2niix on `input` and returns the one NIfTI it wrote, or why there is none.
fn dcm2niix(tool: &Path, input: &Path, single_file: bool, out: &Path) -> Result<PathBuf, String> {
    let mut cmd = Command::new(tool);
    cmd.args(["-z", "n", "-b", "n", "-f", "%f_%s_%e", "-o"]).arg(out);
    if single_file {
        cmd.args(["-s", "y"]);
    }
    let output = cmd.arg(input).output().map_err(|e| format!("cannot run dcm2niix: {e}"))?;
    let written: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "nii"))
        .collect();
    match written.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "dcm2niix wrote {} NIfTI files: {}",
            written.len(),
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|l| l.contains("rror") || l.contains("arning"))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

fn compare(
    name: &str,
    ours: Result<DicomVolume, hounsfield_io::Error>,
    reference: Result<PathBuf, String>,
) -> Result<(), String> {
    let reference = reference?;
    let ours = ours.map_err(|e| format!("we refuse it: {e}"))?;
    let nifti =
        read_nifti(&reference).map_err(|e| format!("cannot read dcm2niix's output: {e}"))?;
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        common::assert_same_in_physical_space(name, &ours.volumes, &nifti, 0.0, 1e-6)
    }));
    caught.map_err(|p| {
        p.downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default()
    })
}

#[test]
fn files_and_series_agree_with_dcm2niix() {
    let Some(data) = common::testdata() else { return };
    let tool = data.join("dcm2niix/bin/dcm2niix");
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti");
    let mut failures = Vec::new();
    let mut matched = 0;
    let mut check = |name: &str, ours, reference| match compare(name, ours, reference) {
        Ok(()) => matched += 1,
        Err(why) => {
            eprintln!("differs from dcm2niix: {name}: {why}");
            failures.push(name.to_owned());
        }
    };
    for file in FILES {
        let out = tempfile::tempdir().unwrap();
        let path = data.join(file);
        check(file, read_dicom_file(&path), dcm2niix(&tool, &path, true, out.path()));
    }
    if shared.exists() {
        for series in SERIES {
            let out = tempfile::tempdir().unwrap();
            let dir = shared.join(series);
            let scan = scan_dicom_dir(&dir).unwrap();
            let ours = read_dicom_series(&scan.series[0], &SeriesOptions::default());
            check(series, ours, dcm2niix(&tool, &dir, false, out.path()));
        }
    } else {
        eprintln!("SKIPPED the series: {} not found", shared.display());
    }
    eprintln!("{matched} inputs agree with dcm2niix, {} differ", failures.len());
    let known: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
    assert_eq!(failures, known, "the inputs that differ from dcm2niix are not the documented ones");
}

/// dicom2nifti's gantry-tilted CT (14 degrees, 4 slices): de-sheared (`correct_tilt`) against
/// dcm2niix's tilt-corrected output (`*_Tilt_1.nii`): the same 512 x 521 x 4 grid (every voxel
/// centre within 1e-3 mm) and the same values within 1 (dcm2niix rounds its interpolation to
/// int16), except along the edge of the shifted field of view: where a sample falls less than
/// one voxel outside the acquired plane dcm2niix repeats the edge row and we write the fill
/// value (the volume's minimum). Those edge voxels number at most one row per slice.
#[test]
fn a_tilted_stack_deshears_onto_dcm2niix_grid() {
    let Some(data) = common::testdata() else { return };
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/dicom2nifti/failing/gantrytilting/001");
    if !dir.exists() {
        eprintln!("SKIPPED: {} not found", dir.display());
        return;
    }
    let out = tempfile::tempdir().unwrap();
    let status = Command::new(data.join("dcm2niix/bin/dcm2niix"))
        .args(["-z", "n", "-b", "n", "-f", "tilt", "-o"])
        .arg(out.path())
        .arg(&dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let reference = read_nifti(out.path().join("tilt_Tilt_1.nii")).unwrap();
    let scan = scan_dicom_dir(&dir).unwrap();
    let options = SeriesOptions::default().with_correct_tilt(true);
    let ours = read_dicom_series(&scan.series[0], &options).unwrap();
    let fill = ours.volumes[0].min_max().unwrap().0;
    let pairs = common::values_in_physical_space("gantrytilting", &ours.volumes, &reference);
    let [slices, _, columns] = ours.volumes[0].shape();
    let mut edge = 0;
    for (_, idx, a, b) in pairs {
        if (a - b).abs() > 1.0 {
            assert_eq!(a, fill, "at {idx:?}: {a} vs dcm2niix {b}");
            edge += 1;
        }
    }
    assert!(edge <= slices * columns, "{edge} edge voxels differ");
}

/// A synthetic 4D series (reference/dicom/make_4d.py: 3 oblique slices x 4 time points, file
/// names shuffled): 4 time points, each matching dcm2niix's 4D NIfTI frame for frame in physical
/// space, and every voxel holding the value the generator gave its (time, slice, row, column).
/// The same image twice is refused as a duplicate, not taken for a fifth time point.
#[test]
fn a_4d_series_becomes_time_points_in_order() {
    let (Some(data), Some(python)) = (common::testdata(), common::python()) else { return };
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("fmri");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/dicom/make_4d.py");
    let made = Command::new(python).arg(script).arg(&series).output().unwrap();
    assert!(made.status.success(), "{made:?}");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let reference =
        read_nifti(dcm2niix(&data.join("dcm2niix/bin/dcm2niix"), &series, false, &out).unwrap())
            .unwrap();
    assert_eq!(reference.frames(), 4);

    let scan = scan_dicom_dir(&series).unwrap();
    assert_eq!(scan.series.len(), 1);
    let ours = read_dicom_series(&scan.series[0], &SeriesOptions::default()).unwrap();
    assert_eq!((ours.time_points(), ours.samples), (4, 1));
    for t in 0..4 {
        let frame =
            hounsfield_io::nifti::NiftiImage::from_volumes(reference.frame(t).unwrap().to_vec(), 1)
                .unwrap();
        let ours_t = &ours.volumes[t..t + 1];
        common::assert_same_in_physical_space(&format!("time point {t}"), ours_t, &frame, 0.0, 0.0);
        let v = ours_t[0].to_f64();
        for ((z, r, c), value) in v.data().indexed_iter().map(|((z, r, c), v)| ((z, r, c), *v)) {
            let want = 1000.0 * (t + 1) as f64 + 100.0 * z as f64 + 5.0 * r as f64 + c as f64;
            assert_eq!(value, want, "time {t}, slice {z}, row {r}, column {c}");
        }
    }

    std::fs::copy(series.join("img00.dcm"), series.join("copy.dcm")).unwrap();
    let scan = scan_dicom_dir(&series).unwrap();
    let err = read_dicom_series(&scan.series[0], &SeriesOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            hounsfield_io::Error::Series {
                problem: hounsfield_io::SeriesProblem::DuplicatePositions { .. },
                ..
            }
        ),
        "{err}"
    );
}
