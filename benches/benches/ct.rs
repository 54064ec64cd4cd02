//! CT on the problem: 512^2 Shepp-Logan, 720 parallel views over 180 degrees, 512
//! detector pixels: FBP of the exact sinogram, Joseph forward projection and its adjoint; and
//! FDK of a 128^3 volume from 256 cone-beam views of 192^2. Peers (ASTRA CPU FBP, scikit-image
//! iradon) on the same sinogram: `benches/peers/ct_astra.py`. Run with `RAYON_NUM_THREADS=1` for
//! the single-thread numbers.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use hounsfield_core::LinearOperator;
use hounsfield_ct::{
    Detector, FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp, fdk, uniform_angles,
};
use std::f64::consts::PI;

fn ct(c: &mut Criterion) {
    let grid = ImageGrid::new_2d(512, 512, 1.0).expect("valid");
    let phantom = Phantom::shepp_logan_2d(256.0);
    let geometry =
        ScanGeometry::parallel_2d(uniform_angles(720, 0.0, PI), 512, 1.0).expect("valid");
    let sinogram = phantom.project(&geometry, 1).expect("valid");
    let image = phantom.rasterize(&grid, 4).expect("valid");
    let projector = Projector::new(grid.clone(), geometry.clone()).expect("valid");
    let mut group = c.benchmark_group("ct");
    group.sample_size(10);
    group.bench_function("fbp parallel 512^2 720 views", |b| {
        b.iter(|| fbp(&geometry, &grid, sinogram.view(), &FbpOptions::default()).expect("valid"))
    });
    group.bench_function("joseph forward 512^2 720 views", |b| {
        b.iter(|| projector.apply(image.view()).expect("valid"))
    });
    group.bench_function("joseph adjoint 512^2 720 views", |b| {
        b.iter(|| projector.adjoint(sinogram.view()).expect("valid"))
    });
    let grid3 = ImageGrid::new_3d([128; 3], [1.0; 3]).expect("valid");
    let cone = ScanGeometry::cone(
        uniform_angles(256, 0.0, 2.0 * PI),
        Detector::panel(192, 192, 1.6, 1.6),
        400.0,
        800.0,
    )
    .expect("valid");
    let projections = Phantom::shepp_logan_3d(60.0).project(&cone, 1).expect("valid");
    let grid64 = ImageGrid::new_3d([64; 3], [1.0; 3]).expect("valid");
    let cone64 = ScanGeometry::cone(
        uniform_angles(128, 0.0, 2.0 * PI),
        Detector::panel(96, 96, 1.0, 1.0),
        256.0,
        512.0,
    )
    .expect("valid");
    let p64 = Projector::new(grid64.clone(), cone64).expect("valid");
    let x64 = Phantom::shepp_logan_3d(30.0).rasterize(&grid64, 1).expect("valid");
    let y64 = p64.apply(x64.view()).expect("valid");
    group.bench_function("joseph forward cone 64^3 128 views of 96^2", |b| {
        b.iter(|| p64.apply(x64.view()).expect("valid"))
    });
    group.bench_function("joseph adjoint cone 64^3 128 views of 96^2", |b| {
        b.iter(|| p64.adjoint(y64.view()).expect("valid"))
    });
    group.bench_function("fdk 128^3 256 views of 192^2", |b| {
        b.iter(|| fdk(&cone, &grid3, projections.view(), &FbpOptions::default()).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, ct);
criterion_main!(benches);
