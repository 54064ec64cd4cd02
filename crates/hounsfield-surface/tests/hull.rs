//! The visual hull of rendered spheres against the analytic hull.

use std::f64::consts::PI;

use hounsfield_core::Camera;
use hounsfield_core::camera::Projection;
use hounsfield_mesh::{IsoOptions, icosphere, isosurface};
use hounsfield_render::{Surface, render_view};
use hounsfield_surface::{HullGrid, MaskedView, Silhouette, visual_hull};

mod common;
use common::iou;

fn views(cameras: &[(&str, Camera)]) -> Vec<MaskedView> {
    let m = icosphere([0.0; 3], 10.0, 5).expect("sphere");
    let s =
        Surface { vertices: &m.vertices, triangles: &m.triangles, normals: None, colours: None };
    cameras
        .iter()
        .map(|(_, camera)| {
            let maps = render_view(&s, camera).expect("render");
            MaskedView {
                camera: *camera,
                silhouette: Silhouette::new(maps.width, maps.height, maps.mask).expect("mask"),
            }
        })
        .collect()
}

#[test]
fn the_six_view_hull_of_a_sphere_is_the_analytic_octagonal_hull() {
    // Six horizontal orthographic views see four distinct silhouette directions (0, 45, 90,
    // 135 degrees): the hull's cross-section at height z is a regular octagon of inradius
    // sqrt(r^2 - z^2), so its volume is 8 tan(pi/8) (4/3) r^3 and its IoU with the sphere
    // pi / (8 tan(pi/8)) = 0.9481.
    let cameras = Camera::wonder3d([0.0; 3], 10.0, 256).expect("cameras");
    let grid = HullGrid { centre: [0.0; 3], half_extent: 11.0, resolution: 128 };
    let field = visual_hull(&views(&cameras), &grid).expect("hull");
    let t = (PI / 8.0).tan();
    let analytic_iou = PI / (8.0 * t);
    let sphere = |p: [f64; 3]| p.iter().map(|c| c * c).sum::<f64>() <= 100.0;
    let measured = iou(&field, sphere);
    assert!((measured - analytic_iou).abs() < 0.01, "IoU {measured} vs {analytic_iou}");
    let normals: Vec<[f64; 2]> = [0.0f64, 45.0, 90.0, 135.0]
        .iter()
        .map(|a| [a.to_radians().cos(), a.to_radians().sin()])
        .collect();
    let hull = |p: [f64; 3]| {
        normals.iter().all(|n| (p[0] * n[0] + p[1] * n[1]).powi(2) + p[2] * p[2] <= 100.0)
    };
    let to_hull = iou(&field, hull);
    assert!(to_hull > 0.99, "IoU with the analytic hull {to_hull}");
    // The field's zero level, meshed: closed, and the hull's volume within 1%.
    let mesh = isosurface(&field, 0.0, &IsoOptions::default()).expect("mesh");
    let stats = mesh.stats();
    let volume = 8.0 * t * 4.0 / 3.0 * 1000.0;
    assert!(stats.is_watertight(), "{stats:?}");
    assert!((stats.volume - volume).abs() < 0.01 * volume, "{} vs {volume}", stats.volume);
}

#[test]
fn a_perspective_hull_contains_the_sphere() {
    let pin = Projection::Pinhole { fx: 300.0, fy: 300.0, cx: 64.0, cy: 64.0 };
    let cameras: Vec<(&str, Camera)> = [(0.0, 0.0), (90.0, 10.0), (200.0, -20.0), (300.0, 60.0)]
        .iter()
        .map(|&(az, el)| {
            ("v", Camera::orbit(pin, 128, 128, [0.0; 3], 60.0, az, el).expect("camera"))
        })
        .collect();
    let grid = HullGrid { centre: [0.0; 3], half_extent: 12.0, resolution: 64 };
    let field = visual_hull(&views(&cameras), &grid).expect("hull");
    // Every voxel of the sphere (shrunk by a pixel's footprint, 0.2 mm at 60 mm) is carved in.
    let missed = (0..64usize.pow(3))
        .filter(|k| {
            let idx = [k / 4096, (k / 64) % 64, k % 64];
            let p = field.voxel_to_physical(idx);
            p.iter().map(|c| c * c).sum::<f64>() <= 9.8 * 9.8 && field.data()[idx] <= 0.0
        })
        .count();
    assert_eq!(missed, 0);
    let sphere = |p: [f64; 3]| p.iter().map(|c| c * c).sum::<f64>() <= 100.0;
    // Four views in general position: the hull is loose but bounded.
    let measured = iou(&field, sphere);
    assert!(measured > 0.75 && measured < 0.99, "{measured}");
}

#[test]
fn views_that_cannot_bound_the_object_are_refused() {
    let cameras = Camera::wonder3d([0.0; 3], 10.0, 32).expect("cameras");
    let mut v = views(&cameras[..2]);
    let grid = HullGrid { centre: [0.0; 3], half_extent: 11.0, resolution: 16 };
    assert!(visual_hull(&v, &grid).is_ok());
    // The object fills the picture to its edge in view 1.
    v[1].silhouette = Silhouette::new(32, 32, vec![true; 1024]).expect("mask");
    let err = visual_hull(&v, &grid).expect_err("touches the edge");
    assert!(err.to_string().contains("view 1 touches"), "{err}");
    v[1].silhouette = Silhouette::new(32, 32, vec![false; 1024]).expect("mask");
    assert!(visual_hull(&v, &grid).expect_err("empty").to_string().contains("view 1"));
    v[1].silhouette = Silhouette::new(16, 16, vec![false; 256]).expect("mask");
    assert!(visual_hull(&v, &grid).is_err());
    assert!(visual_hull(&[], &grid).is_err());
    let bad = HullGrid { resolution: 1, ..grid };
    assert!(visual_hull(&v[..1], &bad).is_err());
}
