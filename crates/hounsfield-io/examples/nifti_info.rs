//! Reads a NIfTI file and prints its size, type, orientation and read time. Used to measure peak
//! memory: `/usr/bin/time -f %M cargo run --release -p hounsfield-io --example nifti_info -- F`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use hounsfield_io::nifti::read_nifti;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: nifti_info <file.nii[.gz]>")?;
    let start = Instant::now();
    let image = read_nifti(&path)?;
    let elapsed = start.elapsed();
    let v = &image.volumes()[0];
    let bytes: usize = image
        .volumes()
        .iter()
        .map(|v| v.shape().iter().product::<usize>() * v.dtype().size_bytes())
        .sum();
    println!(
        "{path}: {:?} x {} frames, {}, {}, {:.1} MB in {:.3} s",
        v.shape(),
        image.frames(),
        v.dtype(),
        image.geometry().orientation_code(),
        bytes as f64 / 1e6,
        elapsed.as_secs_f64()
    );
    Ok(())
}
