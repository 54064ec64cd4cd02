//! Filtering a 256^3 f32 volume (the pattern of `hounsfield_benches::ssim_pair`, 1 mm voxels):
//! Gaussian sigma 2 mm (scipy's kernel, reflect boundary) and connected components of the
//! voxels above 0.25 (6-connectivity). Peers: `benches/peers/filter_peers.py`. Run with
//! `RAYON_NUM_THREADS=1` for the single-thread numbers.
#![allow(missing_docs, clippy::print_stdout)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hounsfield_filter::{Connectivity, GaussianOptions, gaussian, label, threshold};

fn filters(c: &mut Criterion) {
    let (volume, _) = hounsfield_benches::ssim_pair(256);
    let mut group = c.benchmark_group("filter");
    group.sample_size(10);
    group.throughput(Throughput::Elements(volume.len() as u64));
    group.bench_function("gaussian sigma 2 256^3", |b| {
        b.iter(|| gaussian::gaussian(&volume, &GaussianOptions::new(2.0)).expect("valid"))
    });
    let mask = threshold::binary_threshold(&volume, 0.25, f64::INFINITY);
    let count = label::label(&mask, Connectivity::Six).expect("valid").count;
    println!("label input: {count} components");
    group.bench_function("label 6-connectivity 256^3", |b| {
        b.iter(|| label::label(&mask, Connectivity::Six).expect("valid"))
    });
    group.finish();
}

criterion_group!(benches, filters);
criterion_main!(benches);
