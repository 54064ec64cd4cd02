//! conv3d 3x3x3, 16 -> 16 channels on 64^3, forward and backward (data + weight), timed as
//! GFLOP/s on whatever device the op runs on: with `--features cuda` and a GPU, the GPU (kernel
//! time and wall time); with `HOUNSFIELD_DEVICE=cpu` or without the feature, the CPU.
//!
//! `cargo run --release -p hounsfield-nn --features cuda --example conv_bench`
#![allow(clippy::print_stdout)]

use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use hounsfield_nn::ops::{Conv3dConfig, conv3d};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (ch, side, reps) = (16usize, 64usize, 5u32);
    let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (1, ch, side, side, side), &Device::Cpu)?)?;
    let w = Var::from_tensor(&Tensor::randn(0f32, 1.0, (ch, ch, 3, 3, 3), &Device::Cpu)?)?;
    let cfg = Conv3dConfig::same(3);
    let flops = 2.0 * (ch * ch * 27 * side.pow(3)) as f64;
    #[cfg(feature = "cuda")]
    let device = match hounsfield_cuda::Gpu::shared() {
        Ok(gpu) => gpu.name().to_owned(),
        Err(e) => format!("CPU ({e})"),
    };
    #[cfg(not(feature = "cuda"))]
    let device = String::from("CPU (built without the cuda feature)");
    println!("conv3d 3^3 {ch}->{ch} on {side}^3, device: {device}");
    let y = conv3d(&x, &w, cfg)?; // warm-up: compiles and loads the kernels once
    let start = Instant::now();
    for _ in 0..reps {
        conv3d(&x, &w, cfg)?;
    }
    let fwd = start.elapsed().as_secs_f64() / f64::from(reps);
    let dy = Tensor::randn(0f32, 1.0, y.dims(), &Device::Cpu)?;
    let objective = (&y * &dy)?.sum_all()?;
    objective.backward()?;
    let start = Instant::now();
    for _ in 0..reps {
        objective.backward()?;
    }
    let bwd = start.elapsed().as_secs_f64() / f64::from(reps);
    println!(
        "forward {:.1} ms ({:.1} GFLOP/s), backward data + weight {:.1} ms ({:.1} GFLOP/s), copies included",
        fwd * 1e3,
        flops / fwd / 1e9,
        bwd * 1e3,
        2.0 * flops / bwd / 1e9
    );
    Ok(())
}
