//! Isosurfaces of 256^3 f32 volumes, the problems: a sphere of radius 100 voxels (a
//! distance field) and a gyroid with 4 periods across the volume, both at level 0. Peers
//! (vtkFlyingEdges3D, scikit-image marching_cubes, vtkQuadricDecimation) on the same fields:
//! `benches/peers/mesh_peers.py`.
//! Run with `RAYON_NUM_THREADS=1` for the single-thread numbers.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::{IsoOptions, TaubinOptions, decimate, isosurface, taubin_smooth};

/// `f(x, y, z)` on an `n^3` grid of 1 mm voxels.
fn field(n: usize, f: impl Fn(f64, f64, f64) -> f64) -> Volume<f32> {
    let values = (0..n * n * n)
        .map(|i| f((i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64) as f32)
        .collect();
    Volume::from_vec([n; 3], values, Geometry::default()).expect("valid")
}

fn mesh(c: &mut Criterion) {
    let n = 256;
    let centre = 127.5;
    let sphere = field(n, |x, y, z| {
        100.0 - ((x - centre).powi(2) + (y - centre).powi(2) + (z - centre).powi(2)).sqrt()
    });
    let k = std::f64::consts::TAU / 64.0;
    let gyroid = field(n, |x, y, z| {
        let (x, y, z) = (k * x, k * y, k * z);
        x.sin() * y.cos() + y.sin() * z.cos() + z.sin() * x.cos()
    });
    let mut group = c.benchmark_group("mesh");
    group.sample_size(10);
    for (name, volume) in [("sphere", &sphere), ("gyroid", &gyroid)] {
        for (label, normals) in [("", false), (" + gradient normals", true)] {
            let options = IsoOptions { gradient_normals: normals, ..Default::default() };
            group.bench_function(format!("isosurface {name} 256^3{label}"), |b| {
                b.iter(|| isosurface(volume, 0.0, &options).expect("valid"))
            });
        }
    }
    let surface =
        isosurface(&sphere, 0.0, &IsoOptions { gradient_normals: false, ..Default::default() })
            .expect("valid");
    group.bench_function("decimate sphere to 10%", |b| {
        b.iter(|| decimate(&surface, 0.1).expect("valid"))
    });
    group.bench_function("taubin sphere 10 iterations", |b| {
        b.iter(|| taubin_smooth(&surface, &TaubinOptions::default()).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, mesh);
criterion_main!(benches);
