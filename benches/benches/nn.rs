//! The convolution problem: conv3d 3x3x3, (1, 16, 64^3) -> 16 channels, forward and
//! backward (data + weight gradients), reported as GFLOP/s (criterion's "elem/s" here counts
//! floating-point operations) beside this machine's SGEMM on 1024^3 through the same GEMM
//! kernel (candle's matmul, the `gemm` crate); and one training step of the synthetic 3D U-Net.
//! Run with `RAYON_NUM_THREADS=1` for one thread.
#![allow(missing_docs)]

use candle_core::{Device, Tensor, Var};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hounsfield_core::LinearOperator;
use hounsfield_ct::{FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp, uniform_angles};
use hounsfield_nn::UNetConfig;
use hounsfield_nn::data::PatchSampler;
use hounsfield_nn::lpd::LpdConfig;
use hounsfield_nn::ops::{Conv3dConfig, conv3d};
use hounsfield_nn::recon::{Architecture, ReconBatch, ReconModel, ReconTrainConfig, ReconTrainer};
use hounsfield_nn::synthetic::{SyntheticConfig, generate};
use hounsfield_nn::train::{TrainConfig, Trainer};
use std::f64::consts::PI;
use std::sync::Arc;

fn random(dims: &[usize]) -> Tensor {
    Tensor::randn(0f32, 1.0, dims, &Device::Cpu).expect("valid shape")
}

fn nn(c: &mut Criterion) {
    let mut group = c.benchmark_group("nn");
    group.sample_size(10);

    let n = 1024;
    let (a, b) = (random(&[n, n]), random(&[n, n]));
    group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
    group.bench_function("sgemm 1024^3 (GFLOP/s)", |bench| {
        bench.iter(|| a.matmul(&b).expect("valid"))
    });

    let (ch, side) = (16usize, 64usize);
    let x = random(&[1, ch, side, side, side]);
    let w = Var::from_tensor(&random(&[ch, ch, 3, 3, 3])).expect("valid");
    let flops = 2 * (ch * ch * 27 * side.pow(3)) as u64;
    let cfg = Conv3dConfig::same(3);
    group.throughput(Throughput::Elements(flops));
    group.bench_function("conv3d 3^3 16->16 64^3 forward (GFLOP/s)", |bench| {
        bench.iter(|| conv3d(&x, &w, cfg).expect("valid"))
    });
    let xv = Var::from_tensor(&x).expect("valid");
    let y = conv3d(&xv, &w, cfg).expect("valid");
    let dy = random(y.dims());
    let objective = (&y * &dy).expect("valid").sum_all().expect("valid");
    group.throughput(Throughput::Elements(2 * flops));
    group.bench_function("conv3d 3^3 16->16 64^3 backward, data + weight (GFLOP/s)", |bench| {
        bench.iter(|| objective.backward().expect("valid"))
    });

    // One training step of the synthetic-data 3D U-Net (tests/training.rs, docs/NN.md):
    // channels 8-16-32, batch 2 of 32^3 patches, Dice + CE, AdamW.
    let cfg = TrainConfig {
        model: UNetConfig { channels: vec![8, 16, 32], out_channels: 3, ..Default::default() },
        patch: [32; 3],
        steps: 1_000_000,
        ..Default::default()
    };
    let data: Vec<_> = (0..2)
        .map(|i| generate(&SyntheticConfig { size: 48, ..Default::default() }, i).expect("valid"))
        .collect();
    let sampler = PatchSampler::new(&data, cfg.patch, cfg.positive_fraction, cfg.augment.clone())
        .expect("valid");
    let mut trainer = Trainer::new(cfg).expect("valid");
    group.throughput(Throughput::Elements(1));
    group.bench_function("unet3d train step, batch 2 x 32^3 (steps/s)", |bench| {
        bench.iter(|| trainer.step(&sampler, &data).expect("valid"))
    });

    // One training step of Learned Primal-Dual at the paper's sizes: 128^2 images, 30 parallel
    // views over 180 degrees, 182 detector pixels, 10 unrolled iterations, batch 1.
    let grid = ImageGrid::new_2d(128, 128, 1.0).expect("valid");
    let scan = ScanGeometry::parallel_2d(uniform_angles(30, 0.0, PI), 182, 1.0).expect("valid");
    let projector = Projector::new(grid.clone(), scan.clone()).expect("valid");
    let truth = Phantom::shepp_logan_2d(60.0).rasterize(&grid, 2).expect("valid");
    let sinogram = projector.apply(truth.view()).expect("valid");
    let prior = fbp(&scan, &grid, sinogram.view(), &FbpOptions::default()).expect("valid");
    let flat = |a: &ndarray::ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    let (t, y, p) = (flat(&truth), flat(&sinogram), flat(&prior));
    let batch = ReconBatch::new(&projector, &[&t], &[&y], &[&p]).expect("valid");
    let op: Arc<dyn LinearOperator> = Arc::new(projector);
    let architecture = Architecture::PrimalDual { lpd: LpdConfig::default() };
    let model = ReconModel::new(architecture, op, 1).expect("valid");
    let mut trainer = ReconTrainer::new(model, ReconTrainConfig::default()).expect("valid");
    let mut step = 0;
    group.bench_function("lpd train step 128^2, 30 views of 182 (steps/s)", |bench| {
        bench.iter(|| {
            step += 1;
            trainer.step(&batch, step, 1_000_000).expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, nn);
criterion_main!(benches);
