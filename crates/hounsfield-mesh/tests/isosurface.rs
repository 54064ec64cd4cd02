#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Isosurfaces against analytic spheres, random fields (property tests) and mirrored oblique
//! geometries.

use hounsfield_core::{Geometry, Volume, mat3};
use hounsfield_mesh::{IsoOptions, TriMesh, clean, isosurface, isosurface_in};
use proptest::prelude::*;
use std::f64::consts::PI;

/// `R - |p - centre|` sampled on `geometry` (positive inside the ball).
fn ball(shape: [usize; 3], geometry: Geometry, centre: [f64; 3], radius: f64) -> Volume<f32> {
    let [nz, ny, nx] = shape;
    let values = (0..nz * ny * nx)
        .map(|i| {
            let ijk = [(i % nx) as f64, ((i / nx) % ny) as f64, (i / (nx * ny)) as f64];
            let p = geometry.index_to_physical(ijk);
            let d = ((p[0] - centre[0]).powi(2)
                + (p[1] - centre[1]).powi(2)
                + (p[2] - centre[2]).powi(2))
            .sqrt();
            (radius - d) as f32
        })
        .collect();
    Volume::from_vec(shape, values, geometry).unwrap()
}

fn check_sphere(mesh: &TriMesh, centre: [f64; 3], radius: f64, tolerance: f64) {
    let s = mesh.stats();
    assert!(s.is_watertight(), "{s:?}");
    assert_eq!(s.euler_characteristic, 2, "{s:?}");
    assert_eq!((s.components, s.duplicate_vertices, s.degenerate_triangles), (1, 0, 0), "{s:?}");
    let (area, volume) = (4.0 * PI * radius * radius, 4.0 / 3.0 * PI * radius.powi(3));
    assert!((s.area / area - 1.0).abs() < tolerance, "area {} vs {area}", s.area);
    assert!((s.volume / volume - 1.0).abs() < tolerance, "volume {} vs {volume}", s.volume);
    let c = mesh.centroid();
    let off =
        ((c[0] - centre[0]).powi(2) + (c[1] - centre[1]).powi(2) + (c[2] - centre[2]).powi(2))
            .sqrt();
    assert!(off < 0.01 * radius, "centroid {c:?} vs {centre:?}");
    // Gradient normals point away from the centre.
    let normals = mesh.normals.as_ref().unwrap();
    for (v, n) in mesh.vertices.iter().zip(normals).step_by(97) {
        let r: Vec<f64> = (0..3).map(|k| f64::from(v[k]) - centre[k]).collect();
        let dot: f64 = (0..3).map(|k| r[k] * f64::from(n[k])).sum::<f64>() / radius;
        assert!(dot > 0.99, "normal {n:?} at {v:?}");
    }
}

#[test]
fn a_sphere_of_radius_100_voxels_has_its_analytic_area_and_volume_within_0_1_percent() {
    let g = Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap();
    let centre = [127.3, 128.1, 127.8];
    let mesh = isosurface(&ball([256; 3], g, centre, 100.0), 0.0, &IsoOptions::default()).unwrap();
    check_sphere(&mesh, centre, 100.0, 1e-3);
}

#[test]
fn anisotropic_spacing_keeps_the_sphere_round_and_its_measures_exact() {
    // 0.8 x 1.0 x 1.6 mm voxels: the radius is 125, 100 and 62.5 voxels along x, y, z.
    let g = Geometry::axis_aligned([0.8, 1.0, 1.6], [-102.0, -110.0, -120.0]).unwrap();
    let centre = [1.5, -2.0, 3.0];
    let mesh =
        isosurface(&ball([150, 220, 256], g, centre, 100.0), 0.0, &IsoOptions::default()).unwrap();
    check_sphere(&mesh, centre, 100.0, 1e-3);
}

#[test]
fn an_oblique_mirrored_grid_puts_the_mesh_where_the_volume_is_with_outward_normals() {
    // Rotated 30 degrees about z and 20 about x, with the y index axis mirrored (det -1).
    let (a, b) = (30f64.to_radians(), 20f64.to_radians());
    let rz = [[a.cos(), -a.sin(), 0.0], [a.sin(), a.cos(), 0.0], [0.0, 0.0, 1.0]];
    let rx = [[1.0, 0.0, 0.0], [0.0, b.cos(), -b.sin()], [0.0, b.sin(), b.cos()]];
    let r = mat3::mul(&rz, &rx);
    let mirrored: mat3::Mat3 = std::array::from_fn(|i| [r[i][0], -r[i][1], r[i][2]]);
    assert!(mat3::det(&mirrored) < 0.0);
    let g = Geometry::new([1.0, 1.2, 0.9], [40.0, -30.0, 25.0], mirrored).unwrap();
    // The ball's centre is the physical position of index (30, 28, 33).
    let centre = g.index_to_physical([30.0, 28.0, 33.0]);
    let mesh =
        isosurface(&ball([64, 60, 62], g, centre, 20.0), 0.0, &IsoOptions::default()).unwrap();
    check_sphere(&mesh, centre, 20.0, 0.01);
}

#[test]
fn the_complement_has_the_same_surface_wound_the_other_way() {
    // Inside = outside the ball: the inside touches every border sample, which exercises the
    // start of every row of cubes.
    let g = Geometry::axis_aligned([1.0, 0.9, 1.1], [0.0; 3]).unwrap();
    let centre = [14.2, 13.1, 15.3];
    let ball = ball([30, 31, 29], g, centre, 9.0);
    let outside = ball.map(|v| -v);
    let a = isosurface(&ball, 0.0, &IsoOptions::default()).unwrap();
    let b = isosurface(&outside, 0.0, &IsoOptions::default()).unwrap();
    assert_eq!(a.triangles.len(), b.triangles.len());
    let (sa, sb) = (a.stats(), b.stats());
    assert!((sa.area - sb.area).abs() < 1e-9 * sa.area, "{sa:?} {sb:?}");
    assert!((sa.volume + sb.volume).abs() < 1e-6 * sa.volume, "{sa:?} {sb:?}");
    assert!(sb.is_watertight());
}

#[test]
fn surfaces_touching_the_border_are_open_and_bad_input_is_refused() {
    let g = Geometry::default();
    let mesh =
        isosurface(&ball([20; 3], g.clone(), [0.0; 3], 10.0), 0.0, &IsoOptions::default()).unwrap();
    assert!(mesh.stats().boundary_edges > 0, "a ball cut by the volume's corner is open");
    let flat = Volume::from_vec([1, 4, 4], vec![1.0f32; 16], g.clone()).unwrap();
    assert!(isosurface(&flat, 0.5, &IsoOptions::default()).unwrap().is_empty());
    let mut nan = vec![0.0f32; 27];
    nan[13] = f32::NAN;
    let nan = Volume::from_vec([3, 3, 3], nan, g.clone()).unwrap();
    assert!(
        isosurface(&nan, 0.5, &IsoOptions::default())
            .unwrap_err()
            .to_string()
            .contains("non-finite")
    );
    assert!(isosurface(&flat, f64::NAN, &IsoOptions::default()).is_err());
    // Integer volumes work natively.
    let mut labels = vec![0u8; 8 * 8 * 8];
    for z in 2..6 {
        for y in 2..6 {
            for x in 2..6 {
                labels[(z * 8 + y) * 8 + x] = 1;
            }
        }
    }
    let cube = Volume::from_vec([8, 8, 8], labels, g).unwrap();
    let s = isosurface(&cube, 0.5, &IsoOptions::default()).unwrap().stats();
    assert!(s.is_watertight() && s.euler_characteristic == 2, "{s:?}");
    assert!(s.volume > 0.0);
}

/// A sum of random Gaussian blobs, zero on a one-voxel border so every surface closes.
fn blobs(n: usize, spec: &[(f64, f64, f64, f64, f64)], quantum: Option<f32>) -> Volume<f32> {
    let values = (0..n * n * n)
        .map(|i| {
            let (x, y, z) = ((i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64);
            if [x, y, z].iter().any(|&c| c == 0.0 || c == (n - 1) as f64) {
                return 0.0;
            }
            let v: f64 = spec
                .iter()
                .map(|&(cx, cy, cz, r, w)| {
                    w * (-((x - cx).powi(2) + (y - cy).powi(2) + (z - cz).powi(2)) / (2.0 * r * r))
                        .exp()
                })
                .sum();
            // Quantised fields put many samples exactly on the level.
            match quantum {
                Some(q) => (v as f32 / q).round() * q,
                None => v as f32,
            }
        })
        .collect();
    Volume::from_vec([n; 3], values, Geometry::default()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_fields_give_closed_manifold_surfaces_without_duplicates_or_degenerate_triangles(
        spec in prop::collection::vec((2.0..14.0f64, 2.0..14.0f64, 2.0..14.0f64, 0.8..4.0f64, -1.0..1.5f64), 1..7),
        level in 0.05..0.9f64,
        quantised in any::<bool>(),
    ) {
        // With quantised fields the level is a multiple of the quantum: samples equal it.
        let (field, level) = if quantised {
            (blobs(16, &spec, Some(0.125)), (level / 0.125).round().max(1.0) * 0.125)
        } else {
            (blobs(16, &spec, None), level)
        };
        let mesh = isosurface(&field, level, &IsoOptions::default()).unwrap();
        let s = mesh.stats();
        prop_assert!(s.is_watertight(), "{:?}", s);
        prop_assert_eq!(s.duplicate_vertices, 0);
        prop_assert_eq!(s.degenerate_triangles, 0);
        // Closed orientable surfaces: even Euler characteristic, positive enclosed volume.
        prop_assert!(s.euler_characteristic % 2 == 0, "{:?}", s);
        prop_assert!(mesh.is_empty() || s.volume > 0.0, "{:?}", s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn white_noise_with_every_ambiguous_face_still_gives_closed_manifold_surfaces(
        values in prop::collection::vec(0u8..4, 6 * 6 * 6),
        level in 1u8..4,
    ) {
        // Independent values in 0..4 on a 8^3 grid with a zero border: most cubes and faces are
        // ambiguous, and many samples equal the level exactly.
        let n = 8;
        let mut field = vec![0.0f32; n * n * n];
        for (k, &v) in values.iter().enumerate() {
            let (x, y, z) = (k % 6 + 1, (k / 6) % 6 + 1, k / 36 + 1);
            field[(z * n + y) * n + x] = f32::from(v);
        }
        let volume = Volume::from_vec([n; 3], field, Geometry::default()).unwrap();
        let mesh = isosurface(&volume, f64::from(level), &IsoOptions::default()).unwrap();
        let s = mesh.stats();
        prop_assert!(s.is_watertight(), "{:?}", s);
        prop_assert_eq!(s.duplicate_vertices, 0);
        prop_assert_eq!(s.degenerate_triangles, 0);
        prop_assert!(s.euler_characteristic % 2 == 0, "{:?}", s);
    }
}

#[test]
fn a_mask_limits_the_surface_to_the_region_of_interest() {
    let g = Geometry::default();
    let full = ball([32; 3], g.clone(), [15.5, 15.5, 15.5], 10.0);
    // Keep the half x < 16: the surface is the hemisphere, open along the cut.
    let mask: Vec<u8> = (0..32 * 32 * 32).map(|i| u8::from(i % 32 < 16)).collect();
    let mask = Volume::from_vec([32; 3], mask, g).unwrap();
    let all = isosurface(&full, 0.0, &IsoOptions::default()).unwrap();
    let half = isosurface_in(&full, 0.0, &mask, &IsoOptions::default()).unwrap();
    let (a, h) = (all.stats(), half.stats());
    assert!(h.boundary_edges > 0 && (h.area / a.area - 0.5).abs() < 0.03, "{a:?} {h:?}");
    assert!(half.vertices.iter().all(|v| v[0] <= 15.0 + 1e-4));
    let wrong = Volume::from_vec([2, 2, 2], vec![1u8; 8], Geometry::default()).unwrap();
    assert!(isosurface_in(&full, 0.0, &wrong, &IsoOptions::default()).is_err());
}

#[test]
fn cleaning_welds_duplicates_and_drops_degenerate_and_repeated_triangles() {
    // A soup: two triangles sharing an edge through duplicated vertices, one repeated
    // triangle and one collapsed triangle.
    let v = vec![
        [0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
        [1.0, 1.0, 0.0],
        [2.0, 2.0, 0.0],
    ];
    let t = vec![[0, 1, 2], [3, 5, 4], [2, 0, 1], [0, 1, 1]];
    let mesh = TriMesh::new(v, t).unwrap();
    let c = clean(&mesh);
    assert_eq!((c.vertices.len(), c.triangles.len()), (4, 2));
    let s = c.stats();
    assert_eq!((s.duplicate_vertices, s.degenerate_triangles, s.boundary_edges), (0, 0, 4));
    // Extraction itself never needs it: drop_degenerate changes nothing on a sphere.
    let g = Geometry::default();
    let sphere =
        isosurface(&ball([24; 3], g, [11.5, 11.5, 11.5], 8.0), 0.0, &IsoOptions::default())
            .unwrap();
    let dropped = isosurface(
        &ball([24; 3], Geometry::default(), [11.5, 11.5, 11.5], 8.0),
        0.0,
        &IsoOptions { drop_degenerate: true, ..Default::default() },
    )
    .unwrap();
    assert_eq!(sphere.triangles, dropped.triangles);
}

#[test]
fn integer_samples_at_an_integer_level_give_no_coincident_vertices() {
    // CT-like integers: a smooth blob (samples at 300 beside samples on both sides of it) and
    // isolated voxels exactly at the level 300, whose six edges all cross next to the sample.
    // Their vertices must stay apart in f32 at coordinates of hundreds of millimetres.
    let geometry = Geometry::new([0.7, 0.7, 2.5], [-180.0, -200.0, 250.0], mat3::IDENTITY).unwrap();
    let values: Vec<f32> = (0..12 * 40 * 40usize)
        .map(|i| {
            let (z, y, x) = (i / 1600, (i / 40) % 40, i % 40);
            let r = ((x as f64 - 20.0).powi(2)
                + (y as f64 - 20.0).powi(2)
                + (z as f64 * 3.0 - 18.0).powi(2))
            .sqrt();
            let lone = z % 4 == 2 && y % 9 == 4 && x % 9 == 4 && r > 14.0;
            if lone { 300.0 } else { (400.0 - 10.0 * r).round().clamp(0.0, 400.0) as f32 }
        })
        .collect();
    assert!(values.iter().filter(|v| **v == 300.0).count() > 20);
    let volume = Volume::from_vec([12, 40, 40], values, geometry).unwrap();
    let s = isosurface(&volume, 300.0, &IsoOptions::default()).unwrap().stats();
    assert!(s.triangles > 0 && s.components > 1, "{s:?}");
    assert_eq!((s.duplicate_vertices, s.degenerate_triangles), (0, 0), "{s:?}");
}
