//! Reading a 300 x 512 x 512 int16 CT-like volume as .nii.gz (one gzip member at level 6, as
//! dcm2niix/pigz writes it, and our blocked gzip), .nii, and DICOM series (one file per slice,
//! explicit VR little endian and RLE Lossless); writing it as .nii.gz. Inputs from
//! `benches/peers/make_inputs.py` (the blocked file is written here from the .nii); peers:
//! `benches/peers/nifti_read.py` and `benches/peers/dicom_read.py`. Run with `RAYON_NUM_THREADS=1`
//! for the single-thread numbers.
#![allow(missing_docs, clippy::print_stdout)]

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hounsfield_io::dicom::{SeriesOptions, read_dicom_series, scan_dicom_dir};
use hounsfield_io::nifti::{read_nifti, write_nifti};

fn data_dir() -> PathBuf {
    std::env::var_os("HOUNSFIELD_BENCH_DATA").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/bench-data"))
    })
}

/// Our blocked-gzip copy of the .nii input, written once.
fn write_blocked_input() {
    let (nii, ours) = (data_dir().join("nii/ct_300x512x512.nii"), data_dir().join(BLOCKED));
    if nii.exists() && !ours.exists() {
        std::fs::create_dir_all(ours.parent().expect("a folder")).expect("writable bench data");
        write_nifti(&ours, &read_nifti(&nii).expect("readable")).expect("written");
    }
}

const BLOCKED: &str = "bgzf/ct_300x512x512.nii.gz";

fn nifti_read(c: &mut Criterion) {
    write_blocked_input();
    let mut group = c.benchmark_group("io");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(300 * 512 * 512 * 2));
    for name in ["niigz/ct_300x512x512.nii.gz", BLOCKED, "nii/ct_300x512x512.nii"] {
        let path = data_dir().join(name);
        if !path.exists() {
            println!("skipping {name}: run benches/peers/make_inputs.py first");
            continue;
        }
        group.bench_function(format!("read {name}"), |b| {
            b.iter(|| read_nifti(&path).expect("readable"))
        });
    }
    let nii = data_dir().join("nii/ct_300x512x512.nii");
    if nii.exists() {
        let image = read_nifti(&nii).expect("readable");
        let out = std::env::temp_dir().join("hounsfield-bench-write.nii.gz");
        group.bench_function("write .nii.gz (level 1)", |b| {
            b.iter(|| write_nifti(&out, &image).expect("written"))
        });
        let _ = std::fs::remove_file(out);
    }
    group.finish();
}

/// Scanning the folder (headers only) and decoding the one series it holds.
fn dicom_read(c: &mut Criterion) {
    let mut group = c.benchmark_group("io");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(300 * 512 * 512 * 2));
    for name in ["dicom-native", "dicom-rle"] {
        let dir = data_dir().join(name);
        if !dir.exists() {
            println!("skipping {name}: run benches/peers/make_inputs.py first");
            continue;
        }
        group.bench_function(format!("read {name}"), |b| {
            b.iter(|| {
                let scan = scan_dicom_dir(&dir).expect("readable folder");
                read_dicom_series(&scan.series[0], &SeriesOptions::default()).expect("a volume")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, nifti_read, dicom_read);
criterion_main!(benches);
