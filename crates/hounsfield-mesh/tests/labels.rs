#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Label surfaces: closed per label, shared exactly between neighbours, measured against voxel
//! counts and analytic shapes.

use std::collections::HashMap;

use hounsfield_core::{Geometry, Volume, mat3};
use hounsfield_mesh::{LabelOptions, label_surfaces};
use std::f64::consts::PI;

/// Label 1: a box x in 4..14; label 2: the box next to it, x in 14..24; label 3: a ball of
/// radius 8 around (40, 16, 16). 56 x 32 x 32 voxels.
fn segmentation(geometry: Geometry) -> Volume<u8> {
    let (nx, ny, nz) = (56, 32, 32);
    let values = (0..nx * ny * nz)
        .map(|i| {
            let (x, y, z) = (i % nx, (i / nx) % ny, i / (nx * ny));
            let in_box = (6..26).contains(&y) && (6..26).contains(&z);
            let r =
                ((x as f64 - 40.0).powi(2) + (y as f64 - 16.0).powi(2) + (z as f64 - 16.0).powi(2))
                    .sqrt();
            if in_box && (4..14).contains(&x) {
                1
            } else if in_box && (14..24).contains(&x) {
                2
            } else if r <= 8.0 {
                3
            } else {
                0
            }
        })
        .collect();
    Volume::from_vec([nz, ny, nx], values, geometry).unwrap()
}

#[test]
fn every_label_gets_a_closed_surface_and_neighbours_share_theirs_exactly() {
    let seg = segmentation(Geometry::default());
    let surfaces = label_surfaces(&seg, &LabelOptions::default()).unwrap();
    assert_eq!(surfaces.iter().map(|s| s.label).collect::<Vec<_>>(), [1, 2, 3]);
    let count = |l: u8| seg.as_slice().iter().filter(|&&v| v == l).count() as f64;
    for s in &surfaces {
        let st = s.mesh.stats();
        assert_eq!(st.boundary_edges, 0, "label {}: {st:?}", s.label);
        assert_eq!(st.inconsistent_edges, 0, "label {}: {st:?}", s.label);
        assert_eq!(st.components, 1, "label {}", s.label);
        // The enclosed volume follows the voxel count (relaxation moves boundaries within a
        // voxel): within 5%.
        let voxels = count(s.label as u8);
        assert!(
            (st.volume / voxels - 1.0).abs() < 0.05,
            "label {}: {} vs {voxels}",
            s.label,
            st.volume
        );
    }
    // The ball's relaxed surface approaches the sphere's area (the staircase alone would be
    // ~50% too large).
    let ball = surfaces[2].mesh.stats();
    let sphere = 4.0 * PI * 8.0f64.powi(2);
    assert!((ball.area / sphere - 1.0).abs() < 0.1, "area {} vs {sphere}", ball.area);
    // Labels 1 and 2 touch on the plane x = 13.5: the triangles there are the same triangles,
    // wound in opposite directions.
    let key = |m: &hounsfield_mesh::TriMesh, t: [u32; 3]| {
        let mut p: Vec<[u32; 3]> =
            t.iter().map(|&i| m.vertices[i as usize].map(f32::to_bits)).collect();
        let winding = p.clone();
        p.sort_unstable();
        (p, winding)
    };
    let (m1, m2) = (&surfaces[0].mesh, &surfaces[1].mesh);
    let mut second: HashMap<Vec<[u32; 3]>, Vec<[u32; 3]>> = HashMap::new();
    for &t in &m2.triangles {
        let (k, w) = key(m2, t);
        second.insert(k, w);
    }
    let mut shared = 0;
    for &t in &m1.triangles {
        let (k, w) = key(m1, t);
        if let Some(w2) = second.get(&k) {
            shared += 1;
            // Opposite winding: w2 is a rotation of w reversed.
            let rev = [w[0], w[2], w[1]];
            let rotations = [rev, [rev[1], rev[2], rev[0]], [rev[2], rev[0], rev[1]]];
            assert!(
                rotations.iter().any(|r| r.as_slice() == w2.as_slice()),
                "same winding on the interface"
            );
        }
    }
    // The interface is 20 x 20 voxel faces: 800 triangles, shared one for one.
    assert_eq!(shared, 800);
}

#[test]
fn mirrored_grids_keep_outward_normals_and_bad_labels_are_refused() {
    let mirrored = [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    assert!(mat3::det(&mirrored) < 0.0);
    let seg = segmentation(Geometry::new([0.5, 1.0, 2.0], [10.0, 0.0, 0.0], mirrored).unwrap());
    for s in label_surfaces(&seg, &LabelOptions::default()).unwrap() {
        let st = s.mesh.stats();
        assert!(st.volume > 0.0 && st.boundary_edges == 0, "label {}: {st:?}", s.label);
    }
    let fractional = Volume::from_vec(
        [2, 2, 2],
        vec![0.0f32, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        Geometry::default(),
    )
    .unwrap();
    assert!(label_surfaces(&fractional, &LabelOptions::default()).is_err());
    let empty = Volume::from_vec([2, 2, 2], vec![0u8; 8], Geometry::default()).unwrap();
    assert!(label_surfaces(&empty, &LabelOptions::default()).unwrap().is_empty());
}
