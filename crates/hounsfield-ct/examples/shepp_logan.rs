//! Parallel-beam FBP and sparse-view FISTA-TV of the Shepp-Logan phantom, with PSNR.
//!
//! `cargo run --release -p hounsfield-ct --example shepp_logan`
#![allow(clippy::print_stdout)]

use hounsfield_ct::{
    FbpOptions, ImageGrid, IterOptions, NoiseOptions, Phantom, Projector, ScanGeometry, TvOptions,
    add_noise, fbp, fista_tv, no_monitor, uniform_angles,
};
use std::f64::consts::PI;

fn psnr(truth: &ndarray::ArrayD<f32>, image: &ndarray::ArrayD<f32>) -> f64 {
    let mse = truth.iter().zip(image).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>()
        / truth.len() as f64;
    -10.0 * mse.log10()
}

fn main() -> Result<(), hounsfield_core::Error> {
    let grid = ImageGrid::new_2d(256, 256, 1.0)?;
    let phantom = Phantom::shepp_logan_2d(128.0);
    let truth = phantom.rasterize(&grid, 8)?;

    // 360 noiseless views: FBP.
    let full = ScanGeometry::parallel_2d(uniform_angles(360, 0.0, PI), 256, 1.0)?;
    let image = fbp(&full, &grid, phantom.project(&full, 1)?.view(), &FbpOptions::default())?;
    println!("FBP, 360 views:            {:.2} dB", psnr(&truth, &image));

    // 60 noisy views (1e4 photons, water-like attenuation): FBP against FISTA-TV.
    let sparse = ScanGeometry::parallel_2d(uniform_angles(60, 0.0, PI), 256, 1.0)?;
    let scale = 0.02f32;
    let clean = phantom.project(&sparse, 1)? * scale;
    let noisy = add_noise(clean.view(), &NoiseOptions::poisson(1e4, 1))?;
    let image = fbp(&sparse, &grid, noisy.view(), &FbpOptions::default())? / scale;
    println!("FBP, 60 noisy views:       {:.2} dB", psnr(&truth, &image));
    let projector = Projector::new(grid, sparse)?;
    let tv = TvOptions { lambda: 0.1, inner_iterations: 20 };
    let image = fista_tv(
        &projector,
        noisy.view(),
        None,
        &tv,
        &IterOptions::iterations(100),
        &mut no_monitor,
    )? / scale;
    println!("FISTA-TV, 60 noisy views:  {:.2} dB", psnr(&truth, &image));
    Ok(())
}
