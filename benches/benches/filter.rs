//! Filtering a 256^3 f32 volume (the pattern of `hounsfield_benches::ssim_pair`, 1 mm voxels):
//! Gaussian sigma 2 mm (scipy's kernel, reflect boundary), median over 3^3 (radius 1), and connected components of the
//! voxels above 0.25 (6-connectivity); linear resampling of the same voxels as 1 x 1 x 2.5 mm
//! onto 1 mm. Peers: `benches/peers/filter_peers.py`. Run with
//! `RAYON_NUM_THREADS=1` for the single-thread numbers.
#![allow(missing_docs, clippy::print_stdout)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hounsfield_core::Geometry;
use hounsfield_filter::recursive;
use hounsfield_filter::{
    Boundary, Connectivity, GaussianOptions, Interpolation, ResampleOptions, gaussian, label, rank,
    resample, threshold,
};

fn filters(c: &mut Criterion) {
    let (volume, _) = hounsfield_benches::ssim_pair(256);
    let mut group = c.benchmark_group("filter");
    group.sample_size(10);
    group.throughput(Throughput::Elements(volume.len() as u64));
    group.bench_function("gaussian sigma 2 256^3", |b| {
        b.iter(|| gaussian::gaussian(&volume, &GaussianOptions::new(2.0)).expect("valid"))
    });
    group.bench_function("recursive gaussian sigma 2 256^3", |b| {
        b.iter(|| recursive::recursive_gaussian(&volume, [2.0; 3]).expect("valid"))
    });
    group.bench_function("median r=1 256^3", |b| {
        b.iter(|| rank::median(&volume, [1.0; 3], Boundary::Reflect).expect("valid"))
    });
    let mask = threshold::binary_threshold(&volume, 0.25, f64::INFINITY);
    let count = label::label(&mask, Connectivity::Six).expect("valid").count;
    println!("label input: {count} components");
    group.bench_function("label 6-connectivity 256^3", |b| {
        b.iter(|| label::label(&mask, Connectivity::Six).expect("valid"))
    });
    // Linear resampling of 1 x 1 x 2.5 mm voxels to 1 mm: 256 x 256 x 640 out.
    let thick = volume
        .clone()
        .with_geometry(Geometry::axis_aligned([1.0, 1.0, 2.5], [0.0; 3]).expect("valid"));
    group.throughput(Throughput::Elements(256 * 256 * 640));
    group.bench_function("resample linear 256^3 (1,1,2.5) to 1 mm", |b| {
        b.iter(|| {
            resample::resample_to_spacing(&thick, [1.0; 3], &ResampleOptions::default())
                .expect("valid")
        })
    });
    let spline = ResampleOptions::default().with_interpolation(Interpolation::BSpline3);
    group.bench_function("resample B-spline 256^3 (1,1,2.5) to 1 mm", |b| {
        b.iter(|| resample::resample_to_spacing(&thick, [1.0; 3], &spline).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, filters);
criterion_main!(benches);
