//! The README's hounsfield-core example: a volume with geometry, and two metrics.
//! Run with `cargo run -p hounsfield-core --example quickstart`.
#![allow(clippy::print_stdout)]

use hounsfield_core::{Geometry, Volume, metrics, metrics::SsimOptions};

fn main() -> Result<(), hounsfield_core::Error> {
    let g = Geometry::axis_aligned([0.8, 0.8, 2.5], [-100.0, -120.0, 30.0])?; // mm, LPS
    let reference =
        Volume::from_vec([16, 16, 16], (0..4096).map(|v| (v % 97) as f32).collect(), g)?;
    let test = reference.map(|v| v + 1.0);
    println!(
        "{} {:.2} dB",
        reference.geometry().orientation_code(),
        metrics::psnr(&reference, &test, 96.0)?
    );
    println!("SSIM {:.4}", metrics::ssim(&reference, &test, &SsimOptions::new(96.0))?);
    Ok(())
}
