//! SSIM 3D on 128^3 f32 (peer: `peers/ssim_skimage.py`, scikit-image's structural_similarity).
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use hounsfield_core::metrics::{SsimOptions, ssim};

fn ssim_3d(c: &mut Criterion) {
    let (a, b) = hounsfield_benches::ssim_pair(128);
    let options = SsimOptions::new(4.0);
    let mut group = c.benchmark_group("metrics");
    group.sample_size(10);
    group.bench_function("ssim_3d_128", |bench| {
        bench.iter(|| ssim(&a, &b, &options).expect("valid input"))
    });
    group.finish();
}

criterion_group!(benches, ssim_3d);
criterion_main!(benches);
