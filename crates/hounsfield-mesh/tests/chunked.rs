#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Chunked isosurfaces against the in-memory extraction of the same volume: the same vertices
//! (positions and normals bit for bit) and the same triangles, for chunks of every size down to
//! one cube, on oblique and mirrored grids; closed surfaces stay watertight across chunk seams.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::chunked::isosurface_chunked;
use hounsfield_mesh::{IsoOptions, TriMesh, isosurface};

/// Smoothed noise: many blobs of a few voxels, some touching the border.
fn blobs(shape: [usize; 3], geometry: Geometry, seed: u64) -> Volume<f32> {
    let [nz, ny, nx] = shape;
    let mut rng = SplitMix64::new(seed);
    let noise: Vec<f32> = (0..nz * ny * nx).map(|_| rng.next_f64() as f32).collect();
    // A 3x3x3 box mean, clipped at the border.
    let at = |z: isize, y: isize, x: isize| {
        let c = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
        noise[(c(z, nz) * ny + c(y, ny)) * nx + c(x, nx)]
    };
    let values = (0..nz * ny * nx)
        .map(|i| {
            let (z, y, x) = ((i / (nx * ny)) as isize, ((i / nx) % ny) as isize, (i % nx) as isize);
            let mut sum = 0.0;
            for dz in -1..=1 {
                for dy in -1..=1 {
                    for dx in -1..=1 {
                        sum += at(z + dz, y + dy, x + dx);
                    }
                }
            }
            sum / 27.0
        })
        .collect();
    Volume::from_vec(shape, values, geometry).unwrap()
}

/// The mesh as sets: vertices by the bits of position and normal, triangles by their corners'
/// positions, rotated to start at the smallest (winding kept). Compares exactly.
fn canonical(mesh: &TriMesh) -> (Vec<[u32; 6]>, Vec<[[u32; 3]; 3]>) {
    let bits = |p: [f32; 3]| p.map(f32::to_bits);
    let normals = mesh.normals.clone().unwrap_or_else(|| vec![[0.0; 3]; mesh.vertices.len()]);
    let mut vertices: Vec<[u32; 6]> = mesh
        .vertices
        .iter()
        .zip(&normals)
        .map(|(p, n)| {
            let (p, n) = (bits(*p), bits(*n));
            [p[0], p[1], p[2], n[0], n[1], n[2]]
        })
        .collect();
    vertices.sort_unstable();
    let mut triangles: Vec<[[u32; 3]; 3]> = mesh
        .triangles
        .iter()
        .map(|t| {
            let c = t.map(|v| bits(mesh.vertices[v as usize]));
            let first = (0..3).min_by_key(|&k| c[k]).unwrap();
            [c[first], c[(first + 1) % 3], c[(first + 2) % 3]]
        })
        .collect();
    triangles.sort_unstable();
    (vertices, triangles)
}

fn assert_same(chunked: &TriMesh, whole: &TriMesh, what: &str) {
    assert_eq!(chunked.vertices.len(), whole.vertices.len(), "{what}: vertex count");
    assert_eq!(chunked.triangles.len(), whole.triangles.len(), "{what}: triangle count");
    let (a, b) = (canonical(chunked), canonical(whole));
    let differ = a.0.iter().zip(&b.0).filter(|(x, y)| x != y).count();
    assert_eq!(differ, 0, "{what}: {differ} vertices differ");
    let differ = a.1.iter().zip(&b.1).filter(|(x, y)| x != y).count();
    assert_eq!(differ, 0, "{what}: {differ} triangles differ");
}

#[test]
fn chunked_extraction_equals_the_whole_volume_for_every_chunk_shape() {
    let (c, s) = (0.6f64, 0.8f64);
    let oblique = Geometry::new(
        [0.7, 1.1, 2.0],
        [-30.0, 12.5, 4.0],
        [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]],
    )
    .unwrap();
    // A mirrored grid (negative determinant): the winding flips in every chunk alike.
    let mirrored = Geometry::new(
        [1.0, 0.5, 1.5],
        [3.0, -2.0, 1.0],
        [[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
    )
    .unwrap();
    for (geometry, shape, seed) in [(oblique, [17, 23, 19], 1u64), (mirrored, [9, 30, 14], 2)] {
        let volume = blobs(shape, geometry, seed);
        for options in
            [IsoOptions::default(), IsoOptions { gradient_normals: false, ..IsoOptions::default() }]
        {
            let whole = isosurface(&volume, 0.52, &options).unwrap();
            assert!(
                whole.triangles.len() > 500,
                "too little surface to test: {}",
                whole.triangles.len()
            );
            for chunk in [[1, 1, 1], [2, 3, 5], [4, 4, 4], [16, 7, 64], [64, 64, 64]] {
                let chunked =
                    isosurface_chunked(&volume, 0.52, &options, chunk, &|_, _| {}).unwrap();
                assert_same(&chunked, &whole, &format!("{shape:?} in {chunk:?} chunks"));
            }
        }
    }
}

#[test]
fn a_closed_surface_stays_watertight_across_seams_and_progress_counts_every_chunk() {
    // A ball (distance field) well inside the grid, cut by seams along every axis.
    let n = 30;
    let values: Vec<f32> = (0..n * n * n)
        .map(|i| {
            let d = |v: usize| v as f32 - 14.3;
            let (z, y, x) = (i / (n * n), i / n % n, i % n);
            11.0 - (d(x) * d(x) + d(y) * d(y) + d(z) * d(z)).sqrt()
        })
        .collect();
    let volume =
        Volume::from_vec([n; 3], values, Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap())
            .unwrap();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let mesh = isosurface_chunked(&volume, 0.0, &IsoOptions::default(), [6, 8, 10], &|_, total| {
        assert_eq!(total, 5 * 4 * 3);
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(calls.into_inner(), 60);
    let stats = mesh.stats();
    assert!(stats.is_watertight(), "{stats:?}");
    assert_same(&mesh, &isosurface(&volume, 0.0, &IsoOptions::default()).unwrap(), "ball");
    // Zero-extent chunks are refused; a grid too thin for any cube has no surface.
    assert!(
        isosurface_chunked(&volume, 0.0, &IsoOptions::default(), [0, 4, 4], &|_, _| {}).is_err()
    );
    let flat = Volume::from_vec(
        [1, 4, 4],
        vec![1.0f32; 16],
        Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap(),
    )
    .unwrap();
    assert!(
        isosurface_chunked(&flat, 0.5, &IsoOptions::default(), [4; 3], &|_, _| {})
            .unwrap()
            .is_empty()
    );
}
