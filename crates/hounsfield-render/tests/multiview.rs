//! Multi-view renders checked against analytic silhouettes, depths and normals.

use std::f64::consts::PI;

use hounsfield_core::camera::Projection;
use hounsfield_core::vec3::{dot, norm, sub};
use hounsfield_core::{Camera, mat3};
use hounsfield_mesh::icosphere;
use hounsfield_render::{Surface, render_view};

fn surface(m: &hounsfield_mesh::TriMesh, smooth: bool) -> Surface<'_> {
    Surface {
        vertices: &m.vertices,
        triangles: &m.triangles,
        normals: if smooth { m.normals.as_deref() } else { None },
        colours: None,
    }
}

#[test]
fn an_orthographic_sphere_covers_pi_r_squared_from_every_view() {
    // Radius 10 mm at (1, 2, 3); 128 px over 21 mm: a pixel is 0.164 mm, the silhouette's
    // rim about 380 pixels of 11,700, so 1% bounds the area's pixelation (and the level-5
    // facets' 0.03% deficit).
    let centre = [1.0, 2.0, 3.0];
    let m = icosphere(centre, 10.0, 5).expect("sphere");
    for (name, camera) in Camera::wonder3d(centre, 10.0, 128).expect("views") {
        let maps = render_view(&surface(&m, true), &camera).expect("render");
        let px = camera.pixel_size_at(0.0);
        let area = maps.coverage() as f64 * px * px;
        assert!((area - PI * 100.0).abs() < 0.01 * PI * 100.0, "{name}: {area}");
        // The centre pixel sees the nearest point: depth 3r - r = 20 mm, normal towards the
        // camera (smooth normals: within 0.01).
        let k = 64 * 128 + 64;
        assert!(maps.mask[k]);
        assert!((f64::from(maps.depth[k]) - 20.0).abs() < 0.05, "{name}: {}", maps.depth[k]);
        let n = maps.normal[k].map(f64::from);
        assert!(dot(n, camera.forward()) < -0.99, "{name}: {n:?}");
        // Each seen pixel's depth puts its point on the sphere (within the facets' sag).
        for (j, i) in [(40, 64), (64, 20), (90, 100)] {
            let k = j * 128 + i;
            assert!(maps.mask[k], "{name}: ({i}, {j})");
            let (o, d) = camera.ray(i as f64 + 0.5, j as f64 + 0.5);
            let t = f64::from(maps.depth[k]);
            let p = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
            assert!((norm(sub(p, centre)) - 10.0).abs() < 0.02, "{name}: {p:?}");
            // With face normals too, the normal is the radial direction within 2 degrees.
            let flat = render_view(&surface(&m, false), &camera).expect("flat");
            let radial = sub(p, centre).map(|c| c / 10.0);
            assert!(dot(flat.normal[k].map(f64::from), radial) > 2f64.to_radians().cos());
        }
    }
}

#[test]
fn a_pinhole_camera_sees_the_sphere_as_its_tangent_cone() {
    // From 60 mm, the silhouette is a circle of radius f r / sqrt(D^2 - r^2) pixels.
    let m = icosphere([0.0; 3], 10.0, 5).expect("sphere");
    let pin = Projection::Pinhole { fx: 400.0, fy: 400.0, cx: 80.0, cy: 80.0 };
    let camera = Camera::orbit(pin, 160, 160, [0.0; 3], 60.0, 30.0, 15.0).expect("camera");
    let maps = render_view(&surface(&m, true), &camera).expect("render");
    let rho = 400.0 * 10.0 / (3600.0f64 - 100.0).sqrt();
    let area = maps.coverage() as f64;
    assert!((area - PI * rho * rho).abs() < 0.015 * PI * rho * rho, "{area} vs {}", PI * rho * rho);
    // Perspective-correct depth: the centre ray meets the sphere at D - r.
    assert!((f64::from(maps.depth[80 * 160 + 80]) - 50.0).abs() < 0.05);
    let (lo, hi) = maps.depth_range().expect("seen");
    assert!(lo >= 49.9 && hi <= 60.0, "{lo} {hi}");
}

#[test]
fn edges_through_pixel_centres_are_covered_once() {
    // A square from u = 10.5 to 20.5 (through pixel centres) in two triangles: the top-left
    // rule covers exactly 10 x 10 pixels, however the diagonal runs.
    let ortho = Projection::Orthographic { width_mm: 32.0, height_mm: 32.0 };
    let camera = Camera::new(ortho, 32, 32, mat3::IDENTITY, [0.0, 0.0, -5.0]).expect("camera");
    // Picture (u, v) = (x + 16, y + 16) at this pose.
    let (a, b) = (10.5 - 16.0, 20.5 - 16.0);
    let vertices = vec![[a, a, 0.0], [b, a, 0.0], [b, b, 0.0], [a, b, 0.0]];
    for triangles in
        [vec![[0, 1, 2], [0, 2, 3]], vec![[0, 1, 3], [1, 2, 3]], vec![[0, 2, 1], [0, 3, 2]]]
    {
        let s =
            Surface { vertices: &vertices, triangles: &triangles, normals: None, colours: None };
        let maps = render_view(&s, &camera).expect("render");
        assert_eq!(maps.coverage(), 100, "{triangles:?}");
        assert!(maps.mask[10 * 32 + 10] && !maps.mask[20 * 32 + 20]);
    }
}

#[test]
fn bad_surfaces_and_cameras_are_refused() {
    let m = icosphere([0.0; 3], 10.0, 1).expect("sphere");
    let pin = Projection::Pinhole { fx: 100.0, fy: 100.0, cx: 50.0, cy: 50.0 };
    let inside = Camera::orbit(pin, 100, 100, [0.0; 3], 5.0, 0.0, 0.0).expect("camera");
    let err = render_view(&surface(&m, false), &inside).expect_err("behind");
    assert!(err.to_string().contains("behind the pinhole"), "{err}");
    let ortho = Camera::wonder3d([0.0; 3], 10.0, 16).expect("views")[0].1;
    let bad = [[0u32, 1, 99]];
    let s = Surface { vertices: &m.vertices, triangles: &bad, normals: None, colours: None };
    assert!(render_view(&s, &ortho).is_err());
    let few = [[0.0f32; 3]; 2];
    let s = Surface { colours: Some(&few), ..surface(&m, false) };
    assert!(render_view(&s, &ortho).is_err());
    let s = Surface { triangles: &[], ..surface(&m, false) };
    assert!(render_view(&s, &ortho).is_err());
}
