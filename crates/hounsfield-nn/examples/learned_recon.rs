//! The Learned Primal-Dual paper's ellipse setting (128^2 images, 30 parallel views over 180
//! degrees, 5% Gaussian noise on analytic sinograms): trains one method for a time budget and
//! scores PSNR/SSIM on 100 held-out random-ellipse images and on the 2D Shepp-Logan.
//!
//! `cargo run --release -p hounsfield-nn --example learned_recon -- <fbp|tv|fbpconvnet|lpd> [minutes] [tv-lambda]`
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::Instant;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use hounsfield_core::metrics::{SsimOptions, psnr, ssim};
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{LinearOperator, Volume, estimate_norm};
use hounsfield_ct::{
    FbpOptions, ImageGrid, IterOptions, Phantom, Projector, ScanGeometry, TvOptions, fbp, fista_tv,
    uniform_angles,
};
use hounsfield_nn::lpd::{LearnedPrimalDual, LpdConfig};
use hounsfield_nn::optim::{AdamW, AdamWConfig, Schedule, clip_factor};
use hounsfield_nn::{UNet, UNetConfig};
use ndarray::{ArrayD, IxDyn};

const N: usize = 128;

/// (noisy sinogram, FBP image) -> reconstruction.
type Reconstruct = Box<dyn Fn(&[f32], &[f32]) -> Vec<f32>>;

struct Setup {
    grid: ImageGrid,
    geometry: ScanGeometry,
    op: Arc<dyn LinearOperator>,
}

/// Truth, noisy sinogram and FBP of one phantom (noise: 5% of the mean absolute sinogram).
fn case(s: &Setup, phantom: &Phantom, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let truth = phantom.rasterize(&s.grid, 4).expect("valid");
    let clean = phantom.project(&s.geometry, 4).expect("valid");
    let sigma = 0.05 * clean.iter().map(|v| f64::from(v.abs())).sum::<f64>() / clean.len() as f64;
    let mut rng = SplitMix64::new(seed);
    let noisy = clean.mapv(|v| v + (sigma * rng.normal()) as f32);
    let image = fbp(&s.geometry, &s.grid, noisy.view(), &FbpOptions::default()).expect("valid");
    (
        truth.iter().copied().collect(),
        noisy.iter().copied().collect(),
        image.iter().copied().collect(),
    )
}

fn ellipses(seed: u64) -> Phantom {
    let count = 3 + (seed % 8) as usize;
    Phantom::random(2, count, 0.45 * N as f64, seed).expect("valid")
}

fn score(truth: &[f32], image: &[f32]) -> (f64, f64) {
    let v = |d: &[f32]| {
        Volume::from_vec([1, N, N], d.to_vec(), hounsfield_core::Geometry::default())
            .expect("valid")
    };
    let (t, x) = (v(truth), v(image));
    (psnr(&t, &x, 1.0).expect("valid"), ssim(&t, &x, &SsimOptions::new(1.0)).expect("valid"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let method = args.get(1).map_or("fbp", String::as_str).to_owned();
    let minutes: f64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let lambda: f64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(0.02);
    let grid = ImageGrid::new_2d(N, N, 1.0).expect("valid");
    let geometry =
        ScanGeometry::parallel_2d(uniform_angles(30, 0.0, std::f64::consts::PI), 183, 1.0)
            .expect("valid");
    let op: Arc<dyn LinearOperator> =
        Arc::new(Projector::new(grid.clone(), geometry.clone()).expect("valid"));
    let s = Setup { grid, geometry, op };
    let norm = estimate_norm(s.op.as_ref(), 50, 1).expect("valid");
    let test: Vec<_> =
        (0..100).map(|i| case(&s, &ellipses(1_000_000 + i), 7_000_000 + i)).collect();
    let sl = case(&s, &Phantom::shepp_logan_2d(0.45 * N as f64), 9);

    // Trained methods return a reconstruction function.
    let reconstruct: Reconstruct = match method.as_str() {
        "fbp" => Box::new(|_, f| f.to_vec()),
        "tv" => {
            let op = Arc::clone(&s.op);
            Box::new(move |g, f| {
                let y = ArrayD::from_shape_vec(IxDyn(&[30, 183]), g.to_vec()).expect("valid");
                let x0 =
                    ArrayD::from_shape_vec(IxDyn(&[N, N]), f.iter().map(|v| v.max(0.0)).collect())
                        .expect("valid");
                let tv = TvOptions { lambda, inner_iterations: 20 };
                let x = fista_tv(
                    op.as_ref(),
                    y.view(),
                    Some(&x0),
                    &tv,
                    &IterOptions::iterations(100),
                    &mut hounsfield_ct::no_monitor,
                )
                .expect("valid");
                x.iter().copied().collect()
            })
        }
        "fbpconvnet" | "lpd" => {
            let varmap = VarMap::new();
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            let (unet, lpd) = if method == "lpd" {
                (
                    None,
                    Some(
                        LearnedPrimalDual::new(vb, LpdConfig::default(), Arc::clone(&s.op), norm)
                            .expect("valid"),
                    ),
                )
            } else {
                let cfg = UNetConfig {
                    spatial_dims: 2,
                    out_channels: 1,
                    channels: vec![16, 32, 64, 128],
                    norm: hounsfield_nn::Norm::None,
                    ..Default::default()
                };
                (Some(UNet::new(vb, &cfg).expect("valid")), None)
            };
            let batch = if lpd.is_some() { 1 } else { 4 };
            let forward = move |g: &Tensor, f: &Tensor| -> Tensor {
                match (&unet, &lpd) {
                    (Some(u), _) => (f + u
                        .forward(&f.unsqueeze(1).expect("valid"))
                        .expect("valid")
                        .squeeze(1)
                        .expect("valid"))
                    .expect("valid"),
                    (_, Some(l)) => l.forward(g).expect("valid"),
                    _ => unreachable!(),
                }
            };
            let named: Vec<(String, Var)> = varmap
                .data()
                .lock()
                .expect("lock")
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let vars: Vec<Var> = named.iter().map(|(_, v)| v.clone()).collect();
            let mut opt =
                AdamW::new(named, AdamWConfig { weight_decay: 0.0, ..Default::default() })
                    .expect("valid");
            let start = Instant::now();
            let (mut step, mut total) = (0usize, usize::MAX);
            while start.elapsed().as_secs_f64() < minutes * 60.0 {
                let (mut t, mut g, mut f) = (Vec::new(), Vec::new(), Vec::new());
                for k in 0..batch {
                    let seed = (step * batch + k) as u64;
                    let (a, b, c) = case(&s, &ellipses(seed), seed + 5_000_000);
                    t.extend(a);
                    g.extend(b);
                    f.extend(c);
                }
                let t = Tensor::from_vec(t, (batch, N, N), &Device::Cpu).expect("valid");
                let g = Tensor::from_vec(g, (batch, 30, 183), &Device::Cpu).expect("valid");
                let f = Tensor::from_vec(f, (batch, N, N), &Device::Cpu).expect("valid");
                let loss = (forward(&g, &f) - &t)
                    .expect("valid")
                    .sqr()
                    .expect("valid")
                    .mean_all()
                    .expect("valid");
                let grads = loss.backward().expect("valid");
                let (_, factor) = clip_factor(&grads, &vars, 1.0).expect("valid");
                if step == 5 {
                    // Plan the cosine schedule from the speed of the first steps.
                    total = (minutes * 60.0 / (start.elapsed().as_secs_f64() / 6.0)) as usize;
                }
                let lr = Schedule::Cosine.rate(1e-3, step, total.max(step + 1), 0);
                opt.step(&grads, lr, factor).expect("valid");
                step += 1;
                if step % 100 == 0 {
                    println!(
                        "step {step}: loss {:.5} ({:.0} s)",
                        loss.to_scalar::<f32>().expect("scalar"),
                        start.elapsed().as_secs_f64()
                    );
                }
            }
            println!(
                "trained {step} steps (batch {batch}) in {:.0} s",
                start.elapsed().as_secs_f64()
            );
            Box::new(move |g, f| {
                let g = Tensor::from_vec(g.to_vec(), (1, 30, 183), &Device::Cpu).expect("valid");
                let f = Tensor::from_vec(f.to_vec(), (1, N, N), &Device::Cpu).expect("valid");
                forward(&g, &f).flatten_all().expect("valid").to_vec1().expect("valid")
            })
        }
        other => panic!("unknown method {other}: fbp, tv, fbpconvnet or lpd"),
    };
    let (mut p, mut q) = (0.0, 0.0);
    for (t, g, f) in &test {
        let (a, b) = score(t, &reconstruct(g, f));
        p += a;
        q += b;
    }
    let (sp, sq) = score(&sl.0, &reconstruct(&sl.1, &sl.2));
    println!(
        "{method}: 100 held-out ellipse images PSNR {:.2} dB SSIM {:.4}; Shepp-Logan PSNR {sp:.2} dB SSIM {sq:.4}",
        p / 100.0,
        q / 100.0
    );
}
