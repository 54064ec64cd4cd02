//! Timings of the GPU paths against the CPU on the same inputs (issue 9's table): FDK
//! back-projection of an `n^3` volume from `n` views of `n^2` (giga voxel-updates per second,
//! kernel time), 2D FBP of `n^2` from 720 views, and the cone-beam projector pair.
//!
//! `cargo run --release -p hounsfield-ct --features cuda --example gpu_bench -- [n]` (n = 512);
//! on the GPU machine the binary built by `scripts/gpu-tests.sh` runs as `gpu_bench 512`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use hounsfield_core::LinearOperator;
use hounsfield_ct::gpu::GpuProjector;
use hounsfield_ct::{
    Detector, Device, FbpOptions, ImageGrid, Projector, ScanGeometry, fbp, uniform_angles,
};
use ndarray::{ArrayD, IxDyn};

fn seconds<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let out = f();
    (out, start.elapsed().as_secs_f64())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(512);
    let gpu = hounsfield_ct::gpu::open(0)?;
    println!("device: {}; CPU threads: {}", gpu.name(), rayon::current_num_threads());
    let on_gpu = FbpOptions { device: Device::Cuda(0), ..Default::default() };

    // FDK: n^3 voxels of 0.5 mm, n views over 360 degrees, an n x n panel of 1 mm at
    // magnification 2 (the TIGRE benchmark's sizes for n = 512).
    let grid = ImageGrid::new_3d([n; 3], [0.5; 3])?;
    let panel = Detector::panel(n, n, 1.0, 1.0);
    let cone =
        ScanGeometry::cone(uniform_angles(n, 0.0, std::f64::consts::TAU), panel, 500.0, 1000.0)?;
    let p = ArrayD::from_elem(IxDyn(&cone.projection_shape()), 1.0f32);
    let (image, total) = seconds(|| fbp(&cone, &grid, p.view(), &on_gpu));
    let image = image?;
    let kernel = hounsfield_cuda::last_kernel_seconds();
    let updates = (n as f64).powi(3) * n as f64;
    println!(
        "FDK {n}^3 from {n} views of {n}^2 on the GPU: back-projection kernel {kernel:.3} s = {:.0} GUPS; whole FDK {total:.2} s",
        updates / kernel / 1e9
    );
    let (cpu_image, cpu_total) = seconds(|| fbp(&cone, &grid, p.view(), &FbpOptions::default()));
    let cpu_image = cpu_image?;
    let diff = image.iter().zip(&cpu_image).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    let scale = cpu_image.iter().map(|v| v.abs()).fold(0f32, f32::max);
    println!(
        "FDK on the CPU: {cpu_total:.2} s ({:.1}x the GPU's whole FDK); max |GPU - CPU| / max |CPU| = {:.1e}",
        cpu_total / total,
        diff / scale
    );

    // 2D FBP, n^2 from 720 views.
    let grid2 = ImageGrid::new_2d(n, n, 1.0)?;
    let par =
        ScanGeometry::parallel_2d(uniform_angles(720, 0.0, std::f64::consts::PI), n * 3 / 2, 1.0)?;
    let p2 = ArrayD::from_elem(IxDyn(&par.projection_shape()), 1.0f32);
    let (_, g2) = seconds(|| fbp(&par, &grid2, p2.view(), &on_gpu));
    let k2 = hounsfield_cuda::last_kernel_seconds();
    let (_, c2) = seconds(|| fbp(&par, &grid2, p2.view(), &FbpOptions::default()));
    println!(
        "FBP {n}^2 from 720 views: GPU {g2:.3} s (kernel {k2:.4} s), CPU {c2:.3} s: {:.1}x",
        c2 / g2
    );

    // The projector pair on a quarter-size cone problem.
    let m = n / 2;
    let grid_m = ImageGrid::new_3d([m; 3], [1.0; 3])?;
    let cone_m = ScanGeometry::cone(
        uniform_angles(m, 0.0, std::f64::consts::TAU),
        Detector::panel(m, m, 2.0, 2.0),
        500.0,
        1000.0,
    )?;
    let (cpu_op, gpu_op) =
        (Projector::new(grid_m.clone(), cone_m.clone())?, GpuProjector::new(grid_m, cone_m, 0)?);
    let x = ArrayD::from_elem(IxDyn(&cpu_op.domain_shape()), 1.0f32);
    let y = ArrayD::from_elem(IxDyn(&cpu_op.range_shape()), 1.0f32);
    let (_, gf) = seconds(|| gpu_op.apply(x.view()));
    let kf = hounsfield_cuda::last_kernel_seconds();
    let (_, ga) = seconds(|| gpu_op.adjoint(y.view()));
    let ka = hounsfield_cuda::last_kernel_seconds();
    let (_, cf) = seconds(|| cpu_op.apply(x.view()));
    let (_, ca) = seconds(|| cpu_op.adjoint(y.view()));
    println!(
        "cone projector {m}^3, {m} views of {m}^2: forward GPU {gf:.3} s (kernel {kf:.3}) vs CPU {cf:.2} s; adjoint GPU {ga:.3} s (kernel {ka:.3}) vs CPU {ca:.2} s"
    );
    Ok(())
}
