//! `hounsfield surface`: views of a surface, its visual hull back from them, and the measures,
//! checked against the analytic hull of a sphere; bad inputs are one-line errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

use hounsfield_mesh::icosphere;
use hounsfield_mesh::io::{read_mesh, write_mesh};

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield")).args(args).output().expect("binary runs")
}

fn json(out: &Output) -> serde_json::Value {
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn one_line_error(out: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains(needle), "{needle:?} not in {err}");
}

/// Writes `values` as a cube of `n` 1 mm voxels in NIfTI at `path`.
fn write_cube<T>(path: &Path, n: usize, values: Vec<T>)
where
    T: hounsfield_core::Element,
    hounsfield_core::Volume<T>: Into<hounsfield_core::DynVolume>,
{
    let geometry = hounsfield_core::Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap();
    let volume = hounsfield_core::Volume::from_vec([n, n, n], values, geometry).unwrap();
    hounsfield_io::nifti::write_nifti(path, &hounsfield_io::nifti::NiftiImage::from_volume(volume))
        .unwrap();
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn views_then_hull_of_a_sphere_match_the_analytic_hull() {
    let dir = tempfile::tempdir().unwrap();
    let sphere = dir.path().join("sphere.ply");
    // Painted: red and green ramps across x and y, blue in a band about the equator.
    let mut painted = icosphere([3.0, -2.0, 5.0], 10.0, 5).unwrap();
    painted.colours = Some(
        painted
            .vertices
            .iter()
            .map(|v| {
                let [x, y, z] = [v[0] - 3.0, v[1] + 2.0, v[2] - 5.0].map(|c| c / 10.0);
                let blue = if z.abs() < 0.3 { 230.0 } else { 50.0 };
                [128.0 + 100.0 * x, 128.0 + 100.0 * y, blue].map(|c| c.round() as u8)
            })
            .collect(),
    );
    write_mesh(&sphere, &painted).unwrap();
    let views = dir.path().join("views");
    let report =
        json(&hounsfield(&["surface", "views", s(&sphere), s(&views), "--size", "128", "--json"]));
    assert_eq!(report["views"].as_array().unwrap().len(), 6);
    for name in ["front", "front_right", "right", "back", "left", "front_left"] {
        for map in ["mask", "normal", "colour", "depth"] {
            assert!(views.join(format!("{name}_{map}.png")).exists(), "{name}_{map}");
        }
    }
    assert!(views.join("sheet.png").exists() && views.join("reference.ply").exists());
    // The 16-bit depth map: the nearest point of the front view is r in front of the centre.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(views.join("views.json")).unwrap()).unwrap();
    let front = &file["views"][0];
    let radius = file["radius"].as_f64().unwrap();
    let near = front["depth_near"].as_f64().unwrap();
    assert!((near - (3.0 * radius - 10.0)).abs() < 0.05, "{near} vs {}", 3.0 * radius - 10.0);

    // The hull of six horizontal views of a sphere: IoU pi / (8 tan(pi/8)) = 0.9481 with the
    // sphere, volume 8 tan(pi/8) (4/3) r^3 = 4418.3 mm^3; 1% tolerances (128 px views).
    let hull = dir.path().join("hull.stl");
    let args = ["surface", "fit", s(&views), s(&hull), "--hull-only", "--resolution", "96"];
    let fit = json(&hounsfield(&[&args[..], &["--samples", "20000", "--json"]].concat()));
    let t = (std::f64::consts::PI / 8.0).tan();
    let iou = fit["metrics"]["volume_iou"].as_f64().unwrap();
    assert!((iou - std::f64::consts::PI / (8.0 * t)).abs() < 0.01, "{fit}");
    let volume = fit["stats"]["volume"].as_f64().unwrap();
    assert!((volume - 8.0 * t * 4.0 / 3.0 * 1000.0).abs() < 0.01 * 4418.3, "{fit}");
    assert_eq!(fit["watertight"], true);
    assert_eq!(fit["stage"], "visual hull");

    // `compare` measures the same pair the same way.
    let cmp = json(&hounsfield(&[
        "surface",
        "compare",
        s(&views.join("reference.ply")),
        s(&hull),
        "--samples",
        "20000",
        "--json",
    ]));
    assert_eq!(cmp["volume_iou"], fit["metrics"]["volume_iou"]);

    // The SDF fit carves the hull back towards the sphere (small sizes for CI: a 48^3 grid,
    // 300 steps): at least 0.02 of IoU over the hull, and watertight.
    let fitted = dir.path().join("fit.ply");
    let args = ["surface", "fit", s(&views), s(&fitted), "--resolution", "48", "--steps", "300"];
    let fit = json(&hounsfield(
        &[&args[..], &["--batch", "2048", "--samples", "20000", "--json"]].concat(),
    ));
    let fit_iou = fit["metrics"]["volume_iou"].as_f64().unwrap();
    assert!(fit_iou >= iou + 0.02, "hull {iou}, fit {fit}");
    assert_eq!(fit["watertight"], true);
    assert!(fit["stage"].as_str().unwrap().starts_with("SDF fit"), "{fit}");
    // The paint comes back from the views' colour pictures, shading divided out: the six
    // horizontal views barely see the poles, whose colours are filled in from the seen ring.
    // Mean error under 3 levels of 255 (measured 0.74).
    let colouring = &fit["colouring"];
    let error = colouring["colour_error"].as_f64().unwrap();
    assert!(error < 3.0 && colouring["seen_fraction"].as_f64().unwrap() > 0.9, "{colouring}");
    let coloured = read_mesh(&fitted).unwrap();
    assert_eq!(coloured.colours.as_ref().map(Vec::len), Some(coloured.vertices.len()));
    // The same views without their shading record: the colours stay darkened by the headlight.
    let json_path = views.join("views.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    for view in file["views"].as_array_mut().unwrap() {
        view.as_object_mut().unwrap().remove("shading");
    }
    std::fs::write(&json_path, file.to_string()).unwrap();
    let glb = dir.path().join("hull.glb");
    let args = ["surface", "fit", s(&views), s(&glb), "--hull-only", "--resolution", "96"];
    let unlit = json(&hounsfield(&[&args[..], &["--samples", "20000", "--json"]].concat()));
    // Measured 31.6 levels.
    let unlit_error = unlit["colouring"]["colour_error"].as_f64().unwrap();
    assert!(unlit_error > 15.0, "{unlit}");
    let bytes = std::fs::read(&glb).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..2000.min(bytes.len())]).contains("COLOR_0"));
}

#[test]
fn shapes_of_the_concave_suite() {
    let dir = tempfile::tempdir().unwrap();
    let list = hounsfield(&["surface", "shape", "list"]);
    assert_eq!(list.status.code(), Some(0));
    let names = String::from_utf8(list.stdout).unwrap();
    assert_eq!(names.split_whitespace().count(), 10, "{names}");
    assert!(names.contains("dented_sphere") && names.contains("stairs"), "{names}");
    let out = dir.path().join("bean.stl");
    let report =
        json(&hounsfield(&["surface", "shape", "bean", s(&out), "--voxel", "1", "--json"]));
    assert!(out.exists(), "{report}");
    one_line_error(&hounsfield(&["surface", "shape", "teapot", s(&out)]), "teapot");
    one_line_error(&hounsfield(&["surface", "shape", "bean", s(&out), "--voxel", "0"]), "voxel");
}

#[test]
fn perspective_views_of_a_labelled_volume() {
    // Two labels in a NIfTI volume, seen by 4 pinhole cameras from above.
    let dir = tempfile::tempdir().unwrap();
    let n = 24;
    let labels: Vec<u8> = (0..n * n * n)
        .map(|i| {
            let (z, y, x) = (i / (n * n), (i / n) % n, i % n);
            u8::from((4..12).contains(&x) && (6..18).contains(&y) && (6..18).contains(&z))
                + 2 * u8::from(
                    (13..20).contains(&x) && (6..18).contains(&y) && (6..18).contains(&z),
                )
        })
        .collect();
    let path = dir.path().join("labels.nii.gz");
    write_cube(&path, n, labels);
    let views = dir.path().join("v");
    let args = ["surface", "views", s(&path), s(&views), "--labels", "--views", "4"];
    let report = json(&hounsfield(
        &[&args[..], &["--perspective", "40", "--elevation", "30", "--size", "64", "--json"]]
            .concat(),
    ));
    assert_eq!(report["views"][1], "view01_az090");
    let fit = json(&hounsfield(&[
        "surface",
        "fit",
        s(&views),
        s(&dir.path().join("h.ply")),
        "--hull-only",
        "--resolution",
        "48",
        "--samples",
        "5000",
        "--json",
    ]));
    // Four oblique views of two boxes side by side: a loose but bounded hull.
    let iou = fit["metrics"]["volume_iou"].as_f64().unwrap();
    assert!(iou > 0.6 && iou < 1.0, "{fit}");
    // The reference carries the labels' colours, and so does the hull, taken from the views.
    let reference = read_mesh(&views.join("reference.ply")).unwrap();
    let hull = read_mesh(&dir.path().join("h.ply")).unwrap();
    assert_eq!(reference.colours.as_ref().map(Vec::len), Some(reference.vertices.len()));
    assert_eq!(hull.colours.as_ref().map(Vec::len), Some(hull.vertices.len()));
    // Each box's colour comes back from the views' pictures, within 5 levels of 255 on average
    // (measured 1.1; 18.3 before background pixels were masked out and the shading divided with
    // the pictures' own normals).
    let error = fit["colouring"]["colour_error"].as_f64().unwrap();
    assert!(error < 5.0, "{fit}");
    // An intensity image is not a label image.
    let ramp: Vec<f32> = (0..n * n * n).map(|i| i as f32 * 0.5).collect();
    let ramp_path = dir.path().join("ramp.nii.gz");
    write_cube(&ramp_path, n, ramp);
    let out =
        hounsfield(&["surface", "views", s(&ramp_path), s(&dir.path().join("r")), "--labels"]);
    one_line_error(&out, "label image");
    // Whole numbers that change from voxel to voxel (an 8-bit MRI) are not labels either.
    let grey: Vec<u8> = (0..n * n * n).map(|i| (i * 7 % 200 + 1) as u8).collect();
    let grey_path = dir.path().join("grey.nii.gz");
    write_cube(&grey_path, n, grey);
    let out =
        hounsfield(&["surface", "views", s(&grey_path), s(&dir.path().join("g")), "--labels"]);
    one_line_error(&out, "not a label image");
}

#[test]
fn bad_views_and_meshes_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let sphere = dir.path().join("sphere.ply");
    write_mesh(&sphere, &icosphere([0.0; 3], 5.0, 2).unwrap()).unwrap();
    let views = dir.path().join("views");
    json(&hounsfield(&["surface", "views", s(&sphere), s(&views), "--size", "32", "--json"]));
    let out = dir.path().join("out.ply");
    one_line_error(
        &hounsfield(&["surface", "fit", s(&views), s(&out), "--learning-rate", "0"]),
        "learning_rate",
    );
    one_line_error(
        &hounsfield(&["surface", "fit", s(dir.path()), s(&out), "--hull-only"]),
        "views.json",
    );
    // A mask of the wrong size is named.
    hounsfield_render::RgbImage::new(16, 16, [255; 3])
        .write_png(&views.join("right_mask.png"))
        .unwrap();
    one_line_error(
        &hounsfield(&["surface", "fit", s(&views), s(&out), "--hull-only"]),
        "right_mask.png",
    );
    // A file name that leaves the directory is refused.
    let json_path = views.join("views.json");
    let text =
        std::fs::read_to_string(&json_path).unwrap().replace("\"right_mask.png\"", "\"../x.png\"");
    std::fs::write(&json_path, text).unwrap();
    one_line_error(
        &hounsfield(&["surface", "fit", s(&views), s(&out), "--hull-only"]),
        "not a plain file name",
    );
    assert!(!out.exists());
    // A fit never overwrites the reference it is compared with, and a bad comparison setting
    // fails before the fit, leaving no mesh.
    let fresh = dir.path().join("fresh");
    json(&hounsfield(&["surface", "views", s(&sphere), s(&fresh), "--size", "32", "--json"]));
    let reference = fresh.join("reference.ply");
    let before = std::fs::read(&reference).unwrap();
    one_line_error(
        &hounsfield(&["surface", "fit", s(&fresh), s(&reference), "--hull-only"]),
        "overwrite the reference",
    );
    assert_eq!(std::fs::read(&reference).unwrap(), before);
    one_line_error(
        &hounsfield(&["surface", "fit", s(&fresh), s(&out), "--samples", "0"]),
        "--samples",
    );
    assert!(!out.exists());
    // A missing colour picture and an output folder that does not exist fail before the fit.
    let nowhere = dir.path().join("missing").join("out.ply");
    one_line_error(&hounsfield(&["surface", "fit", s(&fresh), s(&nowhere)]), "no directory");
    std::fs::remove_file(fresh.join("front_colour.png")).unwrap();
    one_line_error(&hounsfield(&["surface", "fit", s(&fresh), s(&out)]), "front_colour.png");
    assert!(!out.exists());
    // A volume needs --level or --labels; an open mesh has no volume to compare.
    let nii = dir.path().join("v.nii");
    write_cube(&nii, 4, vec![0u8; 64]);
    one_line_error(&hounsfield(&["surface", "views", s(&nii), s(&views)]), "--level");
    let mut open = icosphere([0.0; 3], 5.0, 2).unwrap();
    open.triangles.pop();
    let open_path = dir.path().join("open.stl");
    write_mesh(&open_path, &open).unwrap();
    one_line_error(&hounsfield(&["surface", "compare", s(&sphere), s(&open_path)]), "not closed");
    one_line_error(
        &hounsfield(&["surface", "views", s(&sphere), s(&views), "--size", "5"]),
        "--size",
    );
}
