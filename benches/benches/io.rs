//! Reading a 300 x 512 x 512 int16 CT-like volume as .nii.gz and .nii (inputs from
//! `benches/peers/make_inputs.py`; peers: `benches/peers/nifti_read.py`).
#![allow(missing_docs, clippy::print_stdout)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hounsfield_io::nifti::read_nifti;

fn data_dir() -> PathBuf {
    std::env::var_os("HOUNSFIELD_BENCH_DATA").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data"))
    })
}

fn nifti_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("io");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(300 * 512 * 512 * 2));
    for name in ["niigz/ct_300x512x512.nii.gz", "nii/ct_300x512x512.nii"] {
        let path = data_dir().join(name);
        if !path.exists() {
            println!("skipping {name}: run benches/peers/make_inputs.py first");
            continue;
        }
        group.bench_function(format!("read {name}"), |b| {
            b.iter(|| read_nifti(&path).expect("readable"))
        });
    }
    group.finish();
}

criterion_group!(benches, nifti_read);
criterion_main!(benches);
