#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Smoothing, decimation and component filters on analytic shapes.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::{
    IsoOptions, TaubinOptions, TriMesh, WindowedSincOptions, colour_at_closest, decimate,
    isosurface, keep_largest_component, keep_marked_components, remove_small_components,
    surface_distances, taubin_smooth, vertex_to_surface, windowed_sinc_smooth,
};
use std::f64::consts::PI;

/// Distance-field balls `(centre, radius)` (the union) on an `n^3` grid of 1 mm voxels, plus
/// uniform noise of amplitude `noise`.
fn balls(n: usize, spheres: &[([f64; 3], f64)], noise: f64) -> TriMesh {
    let mut rng = SplitMix64::new(9);
    let values = (0..n * n * n)
        .map(|i| {
            let p = [(i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64];
            let d = spheres
                .iter()
                .map(|(c, r)| {
                    r - ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2))
                        .sqrt()
                })
                .fold(f64::NEG_INFINITY, f64::max);
            (d + noise * rng.uniform(-1.0, 1.0)) as f32
        })
        .collect();
    let v = Volume::from_vec([n; 3], values, Geometry::default()).unwrap();
    isosurface(&v, 0.0, &IsoOptions::default()).unwrap()
}

/// Mean and largest `| |p - c| - r |` over the vertices.
fn radial_error(mesh: &TriMesh, c: [f64; 3], r: f64) -> (f64, f64) {
    let e: Vec<f64> = mesh
        .vertices
        .iter()
        .map(|v| {
            let d = (0..3).map(|k| (f64::from(v[k]) - c[k]).powi(2)).sum::<f64>().sqrt();
            (d - r).abs()
        })
        .collect();
    (e.iter().sum::<f64>() / e.len() as f64, e.iter().cloned().fold(0.0, f64::max))
}

#[test]
fn taubin_smoothing_removes_noise_without_shrinking() {
    let c = [23.5, 23.5, 23.5];
    let noisy = balls(48, &[(c, 18.0)], 0.4);
    let smooth = taubin_smooth(&noisy, &TaubinOptions::default()).unwrap();
    let (before, after) = (radial_error(&noisy, c, 18.0).0, radial_error(&smooth, c, 18.0).0);
    assert!(after < 0.6 * before, "mean radial error {before} -> {after}");
    let (v0, v1) = (noisy.signed_volume(), smooth.signed_volume());
    assert!((v1 / v0 - 1.0).abs() < 0.01, "volume {v0} -> {v1}");
    assert!(smooth.stats().is_watertight());
    // Plain Laplacian smoothing (mu = 0 is refused; a shrinking pair is allowed) shrinks more.
    assert!(taubin_smooth(&noisy, &TaubinOptions { mu: -0.3, ..Default::default() }).is_err());
}

#[test]
fn windowed_sinc_smoothing_removes_noise_without_shrinking() {
    let c = [23.5, 23.5, 23.5];
    let noisy = balls(48, &[(c, 18.0)], 0.4);
    let smooth = windowed_sinc_smooth(&noisy, &WindowedSincOptions::default()).unwrap();
    let (before, after) = (radial_error(&noisy, c, 18.0).0, radial_error(&smooth, c, 18.0).0);
    assert!(after < 0.5 * before, "mean radial error {before} -> {after}");
    let (v0, v1) = (noisy.signed_volume(), smooth.signed_volume());
    assert!((v1 / v0 - 1.0).abs() < 0.01, "volume {v0} -> {v1}");
    assert!(
        windowed_sinc_smooth(&noisy, &WindowedSincOptions { pass_band: 2.5, ..Default::default() })
            .is_err()
    );
}

#[test]
fn decimation_to_10_percent_keeps_a_closed_manifold_sphere() {
    let c = [47.5, 47.5, 47.5];
    let mesh = balls(96, &[(c, 40.0)], 0.0);
    let small = decimate(&mesh, 0.1).unwrap();
    let (s0, s1) = (mesh.stats(), small.stats());
    assert!(
        s1.triangles as f64 <= 0.101 * s0.triangles as f64,
        "{} -> {}",
        s0.triangles,
        s1.triangles
    );
    assert!(s1.is_watertight() && s1.euler_characteristic == 2 && s1.components == 1, "{s1:?}");
    assert_eq!(s1.degenerate_triangles, 0);
    // Area and volume within 1% of the analytic sphere, every vertex within 0.25 mm of it.
    let (area, volume) = (4.0 * PI * 1600.0, 4.0 / 3.0 * PI * 64000.0);
    assert!(
        (s1.area / area - 1.0).abs() < 0.01 && (s1.volume / volume - 1.0).abs() < 0.01,
        "{s1:?}"
    );
    let (_, worst) = radial_error(&small, c, 40.0);
    assert!(worst < 0.25, "largest radial error {worst} mm");
    assert!(decimate(&mesh, 0.0).is_err() && decimate(&mesh, 1.5).is_err());
}

#[test]
fn decimation_keeps_the_rim_of_an_open_surface() {
    // A ball cut by the volume's faces: an open surface whose rim must not move.
    let open = balls(40, &[([0.0, 20.0, 20.0], 25.0)], 0.0);
    let s0 = open.stats();
    assert!(s0.boundary_edges > 0);
    let small = decimate(&open, 0.2).unwrap();
    let s1 = small.stats();
    assert_eq!(s1.boundary_edges, s0.boundary_edges);
    assert_eq!((s1.non_manifold_edges, s1.inconsistent_edges), (0, 0));
    assert!(s1.triangles < s0.triangles / 2);
}

#[test]
fn component_filters_keep_the_largest_or_drop_specks() {
    let mesh = balls(48, &[([14.0, 14.0, 14.0], 9.0), ([34.0, 34.0, 34.0], 4.0)], 0.0);
    assert_eq!(mesh.stats().components, 2);
    let big = keep_largest_component(&mesh);
    let s = big.stats();
    assert_eq!(s.components, 1);
    assert!((s.area / (4.0 * PI * 81.0) - 1.0).abs() < 0.01, "{s:?}");
    // Drop components under 500 mm² (the small ball has ~201 mm²).
    let cleaned = remove_small_components(&mesh, 500.0);
    assert_eq!(cleaned.triangles.len(), big.triangles.len());
    assert_eq!(cleaned.vertices.len(), big.vertices.len(), "unused vertices are dropped");
}

#[test]
fn surface_distances_match_concentric_and_shifted_spheres() {
    let c = [23.5, 23.5, 23.5];
    let inner = balls(48, &[(c, 15.0)], 0.0);
    let outer = balls(48, &[(c, 16.0)], 0.0);
    // Concentric spheres 1 mm apart: every distance is 1 mm up to the discretisation (chords
    // of ~1 mm triangles on a 15 mm sphere sag by < 0.05 mm).
    let d = surface_distances(&inner, &outer).unwrap();
    assert!((d.hausdorff - 1.0).abs() < 0.06 && (d.chamfer - 1.0).abs() < 0.03, "{d:?}");
    assert!(d.hausdorff95 <= d.hausdorff);
    // A mesh against itself: 0. Against a copy shifted by 0.7 mm along x: Hausdorff 0.7.
    let same = surface_distances(&inner, &inner).unwrap();
    assert!(same.hausdorff < 1e-6, "{same:?}");
    let mut shifted = inner.clone();
    shifted.vertices.iter_mut().for_each(|v| v[0] += 0.7);
    let d = surface_distances(&inner, &shifted).unwrap();
    assert!((d.hausdorff - 0.7).abs() < 0.05, "{d:?}");
    // Decimation error measured as a distance: within 0.25 mm of the original surface.
    let small = decimate(&inner, 0.1).unwrap();
    let worst = vertex_to_surface(&small, &inner).unwrap().into_iter().fold(0.0, f64::max);
    assert!(worst < 0.25, "{worst}");
    assert!(vertex_to_surface(&inner, &TriMesh::default()).is_err());
}

#[test]
fn marked_components_are_kept_and_the_rest_dropped() {
    // Two balls; marking one vertex of the small one keeps it alone, with its colours.
    let mut mesh = balls(40, &[([12.0, 20.0, 20.0], 8.0), ([31.0, 20.0, 20.0], 4.0)], 0.0);
    assert_eq!(mesh.components().1, 2);
    mesh.colours = Some(
        mesh.vertices
            .iter()
            .map(|v| if v[0] > 24.0 { [200, 10, 10] } else { [10, 10, 200] })
            .collect(),
    );
    let mut marked = vec![false; mesh.vertices.len()];
    let small = mesh.vertices.iter().position(|v| v[0] > 24.0).unwrap();
    marked[small] = true;
    let kept = keep_marked_components(&mesh, &marked).unwrap();
    assert_eq!(kept.components().1, 1);
    assert!(kept.vertices.iter().all(|v| v[0] > 24.0));
    assert!(kept.colours.unwrap().iter().all(|&c| c == [200, 10, 10]));
    let none = keep_marked_components(&mesh, &vec![false; mesh.vertices.len()]).unwrap();
    assert!(none.triangles.is_empty());
    assert!(keep_marked_components(&mesh, &[true]).is_err(), "one mark per vertex");
}

#[test]
fn colours_at_the_closest_point_interpolate_the_reference() {
    // A ball coloured by height (red = 255 (z - 12) / 16, linear in z), looked up from a finer
    // ball of the same radius: the colour at the closest point is linear in the barycentric
    // weights, so it matches the analytic ramp to within the surfaces' gap (< 0.2 mm) times
    // 255 / 16 per mm, plus rounding: 4 levels.
    let mut coarse = balls(40, &[([20.0, 20.0, 20.0], 8.0)], 0.0);
    let ramp = |z: f64| (255.0 * (z - 12.0) / 16.0).clamp(0.0, 255.0);
    coarse.colours =
        Some(coarse.vertices.iter().map(|v| [ramp(f64::from(v[2])).round() as u8, 0, 0]).collect());
    let fine = hounsfield_mesh::icosphere([20.0, 20.0, 20.0], 8.0, 4).unwrap();
    let colours = colour_at_closest(&fine, &coarse).unwrap();
    let worst = fine
        .vertices
        .iter()
        .zip(&colours)
        .map(|(v, c)| (f64::from(c[0]) * 255.0 - ramp(f64::from(v[2]))).abs())
        .fold(0.0, f64::max);
    assert!(worst < 4.0, "worst red error {worst} levels");
    assert!(colour_at_closest(&fine, &balls(40, &[([20.0; 3], 8.0)], 0.0)).is_err(), "no colours");
}

/// Valence of every vertex used by a triangle.
fn max_valence(mesh: &TriMesh) -> usize {
    let mut neighbours = vec![std::collections::BTreeSet::new(); mesh.vertices.len()];
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b) = (t[k] as usize, t[(k + 1) % 3] as usize);
            neighbours[a].insert(b);
            neighbours[b].insert(a);
        }
    }
    neighbours.iter().map(|n| n.len()).max().unwrap_or(0)
}

#[test]
fn decimating_flat_regions_keeps_vertex_valence_bounded() {
    // A one-slice 96x96 mask: two large flat faces where every collapse costs nothing. Without
    // a bound a vertex absorbed its whole neighbourhood (fans of thousands of slivers, and
    // minutes on a 512x512 slice).
    let mask = Volume::from_vec(
        [3, 98, 98],
        (0..3 * 98 * 98)
            .map(|i| {
                let (z, y, x) = (i / (98 * 98), (i / 98) % 98, i % 98);
                u8::from(z == 1 && (1..97).contains(&y) && (1..97).contains(&x))
            })
            .collect(),
        Geometry::default(),
    )
    .unwrap();
    let mesh = isosurface(&mask, 0.5, &IsoOptions::default()).unwrap();
    let small = decimate(&mesh, 0.2).unwrap();
    let s = small.stats();
    assert!(s.is_watertight() && s.degenerate_triangles == 0 && s.duplicate_vertices == 0, "{s:?}");
    // Tolerance: the bound is 24 neighbours; a marching-cubes mesh starts below 12.
    assert!(max_valence(&small) <= 24, "valence {}", max_valence(&small));
    assert!(s.triangles as f64 <= 0.25 * mesh.stats().triangles as f64, "{s:?}");
}
