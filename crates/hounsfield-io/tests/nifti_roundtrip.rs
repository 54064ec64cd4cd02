//! Writing then reading NIfTI: hounsfield-io reads back what it wrote (values exact, geometry
//! within f32 precision), and nibabel reads our files as it reads the originals.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::process::Command;

use common::{load_json, python, reference_dir};
use hounsfield_core::{DynVolume, Geometry, Volume};
use hounsfield_io::nifti::{
    NiftiImage, NiftiVersion, WriteOptions, read_nifti, read_nifti_header, write_nifti,
    write_nifti_with,
};
use proptest::prelude::*;

fn corpus_names() -> Vec<String> {
    load_json(&reference_dir().join("corpus.json"))["files"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

fn same_values(a: &NiftiImage, b: &NiftiImage, what: &str) {
    assert_eq!(a.frames(), b.frames(), "{what}: frames");
    assert_eq!(a.components(), b.components(), "{what}: components");
    for (x, y) in a.volumes().iter().zip(b.volumes()) {
        assert_eq!(x.dtype(), y.dtype(), "{what}");
        assert_eq!(x.shape(), y.shape(), "{what}");
        // Compare bit patterns: NaN must survive too.
        let bits =
            |v: &DynVolume| v.to_f64().as_slice().iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(x), bits(y), "{what}: values");
    }
    assert!(
        a.geometry().approx_eq(b.geometry(), 1e-4),
        "{what}: geometry {:?} vs {:?}",
        a.geometry(),
        b.geometry()
    );
    assert_eq!(a.scaling(), b.scaling(), "{what}: scaling");
    assert_eq!(a.header.extensions, b.header.extensions, "{what}: extensions");
}

#[test]
fn every_corpus_file_survives_our_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for name in corpus_names() {
        let original = read_nifti(reference_dir().join("corpus").join(&name)).unwrap();
        for ext in ["nii", "nii.gz"] {
            let out = dir.path().join(format!("{name}.{ext}"));
            write_nifti(&out, &original).unwrap_or_else(|e| panic!("{name}: {e}"));
            same_values(&original, &read_nifti(&out).unwrap(), &format!("{name} -> .{ext}"));
        }
    }
}

#[test]
fn nibabel_reads_our_files_as_it_read_the_originals() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let refs = load_json(&reference_dir().join("corpus.json"));
    let mut written = Vec::new();
    for name in corpus_names() {
        let original = read_nifti(reference_dir().join("corpus").join(&name)).unwrap();
        let out = dir.path().join(format!("{}.nii.gz", name.replace('.', "_")));
        write_nifti(&out, &original).unwrap();
        written.push((name, out));
    }
    let output = Command::new(&python)
        .arg(reference_dir().join("describe.py"))
        .args(written.iter().map(|(_, p)| p))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "describe.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    for (name, path) in &written {
        let want = &refs["files"][name];
        let have = &got[path.to_string_lossy().as_ref()];
        assert!(
            have.get("error").is_none(),
            "{name}: nibabel cannot read our file: {}",
            have["error"]
        );
        for key in ["shape", "slope", "inter", "volumes", "nan_count", "axcodes"] {
            assert_eq!(have[key], want[key], "{name}: nibabel sees another {key}");
        }
        let (ws, hs) = (want["scaled_sum"].as_f64().unwrap(), have["scaled_sum"].as_f64().unwrap());
        assert!((ws - hs).abs() <= 1e-9 * ws.abs().max(1.0), "{name}: scaled sum {hs} vs {ws}");
        let flat = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
                .collect()
        };
        for (a, b) in flat(&want["affine"]).iter().zip(flat(&have["affine"])) {
            assert!(
                (a - b).abs() < 1e-4,
                "{name}: affine {:?} vs {:?}",
                want["affine"],
                have["affine"]
            );
        }
        // Byte order is not kept (we write little-endian) and 64-bit integers come back as f64,
        // so compare what each dtype means to the reader.
        let (h, w) = (have["dtype"].as_str().unwrap(), want["dtype"].as_str().unwrap());
        assert_eq!(common::expected_type(h), common::expected_type(w), "{name}: dtype {h} vs {w}");
    }
}

#[test]
fn large_dimensions_switch_to_nifti_2_and_v1_can_be_refused() {
    let dir = tempfile::tempdir().unwrap();
    let v = Volume::from_vec([1, 1, 40_000], vec![7u8; 40_000], Geometry::default()).unwrap();
    let image = NiftiImage::from_volume(v);
    let out = dir.path().join("wide.nii");
    write_nifti(&out, &image).unwrap();
    assert_eq!(read_nifti_header(&out).unwrap().version, NiftiVersion::V2);
    same_values(&image, &read_nifti(&out).unwrap(), "wide");
    let forced = write_nifti_with(
        dir.path().join("v1.nii"),
        &image,
        &WriteOptions::default().with_version(NiftiVersion::V1),
    );
    assert!(forced.unwrap_err().to_string().contains("do not fit NIfTI-1"));
    let small = NiftiImage::from_volume(
        Volume::from_vec([1, 1, 2], vec![1.5f64, -2.0], Geometry::default()).unwrap(),
    );
    let v2 = dir.path().join("v2.nii");
    write_nifti_with(&v2, &small, &WriteOptions::default().with_version(NiftiVersion::V2)).unwrap();
    assert_eq!(read_nifti_header(&v2).unwrap().version, NiftiVersion::V2);
    same_values(&small, &read_nifti(&v2).unwrap(), "forced v2");
}

#[test]
fn a_sheared_grid_keeps_its_sform_and_drops_the_qform() {
    let (s, c) = 20f64.to_radians().sin_cos();
    let g = Geometry::new(
        [0.5, 0.5, 3.0],
        [10.0, -20.0, 30.0],
        [[1.0, 0.0, 0.0], [0.0, 1.0, s], [0.0, 0.0, c]],
    )
    .unwrap();
    let image = NiftiImage::from_volume(
        Volume::from_vec([2, 2, 2], (0..8).map(|v| v as i16).collect(), g).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tilted.nii");
    write_nifti(&out, &image).unwrap();
    let h = read_nifti_header(&out).unwrap();
    assert_eq!((h.qform_code, h.sform_code), (0, 1));
    same_values(&image, &read_nifti(&out).unwrap(), "sheared");
}

#[test]
fn bad_write_requests_are_errors_naming_the_file() {
    let image = NiftiImage::from_volume(
        Volume::from_vec([1, 1, 1], vec![1u8], Geometry::default()).unwrap(),
    );
    let err = write_nifti("/nonexistent-dir-hounsfield/x.nii", &image).unwrap_err().to_string();
    assert!(err.contains("/nonexistent-dir-hounsfield/x.nii"), "{err}");
    let err = write_nifti("out.png", &image).unwrap_err().to_string();
    assert!(err.contains("out.png") && err.contains(".nii"), "{err}");
    let mixed = NiftiImage::from_volumes(
        vec![
            Volume::from_vec([1, 1, 1], vec![1u8], Geometry::default()).unwrap().into(),
            Volume::from_vec([1, 1, 1], vec![1i16], Geometry::default()).unwrap().into(),
        ],
        1,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    assert!(
        write_nifti(dir.path().join("mixed.nii"), &mixed)
            .unwrap_err()
            .to_string()
            .contains("volume 1")
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a failed write left a file behind"
    );
}

fn geometry_strategy() -> impl Strategy<Value = Geometry> {
    (
        prop::array::uniform4(-1.0f64..1.0),
        any::<bool>(),
        prop::array::uniform3(0.1f64..4.0),
        prop::array::uniform3(-300.0f64..300.0),
    )
        .prop_filter("non-degenerate quaternion", |(q, ..)| {
            q.iter().map(|v| v * v).sum::<f64>() > 0.05
        })
        .prop_map(|(q, mirror, spacing, origin)| {
            let mut d = hounsfield_core::mat3::rotation_from_quaternion(q);
            if mirror {
                d.iter_mut().for_each(|r| r[0] = -r[0]);
            }
            Geometry::new(spacing, origin, d).unwrap()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random oblique (and mirrored) geometries and random values of every element type.
    #[test]
    fn random_volumes_round_trip(g in geometry_strategy(), shape in prop::array::uniform3(1usize..6), seed in any::<u64>(), kind in 0usize..8, gz in any::<bool>()) {
        let mut rng = hounsfield_core::rng::SplitMix64::new(seed);
        let n = shape.iter().product::<usize>();
        let mut vals = || (0..n).map(|_| rng.uniform(-1e4, 1e4)).collect::<Vec<f64>>();
        let v: DynVolume = match kind {
            0 => Volume::from_vec(shape, vals().iter().map(|x| *x as u8).collect(), g.clone()).unwrap().into(),
            1 => Volume::from_vec(shape, vals().iter().map(|x| *x as i8).collect(), g.clone()).unwrap().into(),
            2 => Volume::from_vec(shape, vals().iter().map(|x| *x as u16).collect(), g.clone()).unwrap().into(),
            3 => Volume::from_vec(shape, vals().iter().map(|x| *x as i16).collect(), g.clone()).unwrap().into(),
            4 => Volume::from_vec(shape, vals().iter().map(|x| *x as u32).collect(), g.clone()).unwrap().into(),
            5 => Volume::from_vec(shape, vals().iter().map(|x| *x as i32).collect(), g.clone()).unwrap().into(),
            6 => Volume::from_vec(shape, vals().iter().map(|x| *x as f32).collect(), g.clone()).unwrap().into(),
            _ => Volume::from_vec(shape, vals(), g.clone()).unwrap().into(),
        };
        let image = NiftiImage::from_volume(v);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join(if gz { "v.nii.gz" } else { "v.nii" });
        write_nifti(&out, &image).unwrap();
        let back = read_nifti(&out).unwrap();
        let (got, want) = (back.volumes()[0].to_f64(), image.volumes()[0].to_f64());
        prop_assert_eq!(got.data(), want.data());
        // NIfTI-1 stores the transforms as f32: ~1e-5 mm at 300 mm.
        prop_assert!(back.geometry().approx_eq(&g, 1e-4), "{:?} vs {:?}", back.geometry(), g);
        prop_assert_eq!(back.geometry().orientation_code(), g.orientation_code());
    }
}
