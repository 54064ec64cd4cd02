//! Denoising a noisy volume three ways, with PSNR against the clean one.
//!
//! `cargo run --release -p hounsfield-filter --example denoise`
#![allow(clippy::print_stdout)]

use hounsfield_core::metrics::psnr;
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};
use hounsfield_filter::diffusion::{DiffusionOptions, anisotropic_diffusion};
use hounsfield_filter::{Boundary, GaussianOptions, gaussian, rank};

fn main() -> Result<(), hounsfield_core::Error> {
    // A cube of value 1 in a 48^3 volume, plus Gaussian noise of standard deviation 0.1.
    let n = 48;
    let mut rng = SplitMix64::new(1);
    let clean: Vec<f32> = (0..n * n * n)
        .map(|i| {
            let inside = [i % n, (i / n) % n, i / (n * n)].iter().all(|&c| (12..36).contains(&c));
            f32::from(u8::from(inside))
        })
        .collect();
    let noisy: Vec<f32> = clean.iter().map(|&v| v + 0.1 * rng.normal() as f32).collect();
    let g = Geometry::default();
    let clean = Volume::from_vec([n; 3], clean, g.clone())?;
    let noisy = Volume::from_vec([n; 3], noisy, g)?;
    println!("noisy:                {:.2} dB", psnr(&clean, &noisy, 1.0)?);
    let smooth = gaussian::gaussian(&noisy, &GaussianOptions::new(1.0))?;
    println!("Gaussian 1 mm:        {:.2} dB", psnr(&clean, &smooth, 1.0)?);
    let median = rank::median(&noisy, [1.0; 3], Boundary::Reflect)?;
    println!("median 3x3x3:         {:.2} dB", psnr(&clean, &median, 1.0)?);
    let diffused = anisotropic_diffusion(&noisy, &DiffusionOptions::new(10, 0.3))?;
    println!("anisotropic diffusion: {:.2} dB", psnr(&clean, &diffused, 1.0)?);
    Ok(())
}
