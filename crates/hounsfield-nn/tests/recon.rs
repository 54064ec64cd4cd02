#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! Learned reconstruction models: the loss terms against direct computations, training that
//! beats FBP on held-out data, self-supervised training that lowers the data residual, and
//! model files that reproduce their outputs exactly.

use std::sync::Arc;

use hounsfield_core::LinearOperator;
use hounsfield_core::metrics::psnr;
use hounsfield_core::{Geometry, Volume};
use hounsfield_ct::{Projector, SimulatedCase, Simulation};
use hounsfield_nn::lpd::LpdConfig;
use hounsfield_nn::recon::{
    Architecture, ReconBatch, ReconLoss, ReconModel, ReconTrainConfig, ReconTrainer,
};
use ndarray::ArrayD;

/// 32^2 images, 30 parallel views, 5% noise (the LPD setting, small).
fn setting() -> (Simulation, Arc<dyn LinearOperator>) {
    let sim = Simulation::lpd_ellipses(32).unwrap();
    let op: Arc<dyn LinearOperator> =
        Arc::new(Projector::new(sim.grid.clone(), sim.scan.clone()).unwrap());
    (sim, op)
}

fn cases(sim: &Simulation, seeds: std::ops::Range<u64>) -> Vec<SimulatedCase> {
    seeds.map(|s| sim.case(&sim.random_phantom(s).unwrap(), s + 500).unwrap()).collect()
}

fn flat(a: &ArrayD<f32>) -> Vec<f32> {
    a.iter().copied().collect()
}

fn batch(op: &dyn LinearOperator, cases: &[SimulatedCase], truth: bool) -> ReconBatch {
    let t: Vec<Vec<f32>> = cases.iter().map(|c| flat(&c.truth)).collect();
    let s: Vec<Vec<f32>> = cases.iter().map(|c| flat(&c.sinogram)).collect();
    let p: Vec<Vec<f32>> = cases.iter().map(|c| flat(&c.fbp)).collect();
    let t = if truth { r(&t) } else { Vec::new() };
    ReconBatch::new(op, &t, &r(&s), &r(&p)).unwrap()
}

fn r(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(Vec::as_slice).collect()
}

fn psnr_of(truth: &ArrayD<f32>, x: &ArrayD<f32>) -> f64 {
    let v = |a: &ArrayD<f32>| Volume::from_vec([1, 32, 32], flat(a), Geometry::default()).unwrap();
    psnr(&v(truth), &v(x), 1.0).unwrap()
}

fn residual(op: &dyn LinearOperator, x: &ArrayD<f32>, y: &ArrayD<f32>) -> f64 {
    let ax = op.apply(x.view()).unwrap();
    let num: f64 = ax.iter().zip(y).map(|(a, b)| f64::from(a - b).powi(2)).sum();
    let den: f64 = y.iter().map(|b| f64::from(*b).powi(2)).sum();
    (num / den).sqrt()
}

fn small_unet() -> Architecture {
    Architecture::post_processing(2, vec![8, 16])
}

#[test]
fn loss_terms_equal_their_definitions() {
    // Physics: |A x - y|^2 / |y|^2 over the batch; smoothness: mean |forward difference| summed over the
    // two axes; image: MSE. Computed here with ndarray from the same output (relative 1e-4, f32).
    let (sim, op) = setting();
    let model = ReconModel::new(small_unet(), Arc::clone(&op), 3).unwrap();
    let cs = cases(&sim, 0..2);
    let b = batch(op.as_ref(), &cs, true);
    let out = model.forward(&b.sinogram, &b.prior).unwrap();
    let w = ReconLoss { image: 1.0, physics: 2.0, smoothness: 0.5 };
    let (_, terms) = model.loss(&out, &b, &w).unwrap();
    let x: Vec<f32> = out.flatten_all().unwrap().to_vec1().unwrap();
    let (mut phys, mut energy, mut smooth, mut image) = (0.0, 0.0, 0.0, 0.0);
    for (k, c) in cs.iter().enumerate() {
        let xk =
            ArrayD::from_shape_vec(vec![32, 32], x[k * 1024..(k + 1) * 1024].to_vec()).unwrap();
        let ax = op.apply(xk.view()).unwrap();
        phys += ax.iter().zip(&c.sinogram).map(|(a, y)| f64::from(a - y).powi(2)).sum::<f64>();
        energy += c.sinogram.iter().map(|y| f64::from(*y).powi(2)).sum::<f64>();
        for i in 0..32 {
            for j in 0..32 {
                if i < 31 {
                    smooth += f64::from((xk[[i + 1, j]] - xk[[i, j]]).abs()) / (2.0 * 31.0 * 32.0);
                }
                if j < 31 {
                    smooth += f64::from((xk[[i, j + 1]] - xk[[i, j]]).abs()) / (2.0 * 31.0 * 32.0);
                }
                image += f64::from(xk[[i, j]] - c.truth[[i, j]]).powi(2);
            }
        }
    }
    let phys = phys / energy;
    let image = image / 2048.0;
    let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
    assert!(rel(terms.physics, phys) < 1e-4, "{} vs {phys}", terms.physics);
    assert!(rel(terms.smoothness, smooth) < 1e-4, "{} vs {smooth}", terms.smoothness);
    assert!(rel(terms.image, image) < 1e-4, "{} vs {image}", terms.image);
    let total = image + 2.0 * phys + 0.5 * smooth;
    assert!(rel(terms.total, total) < 1e-4, "{} vs {total}", terms.total);
}

#[test]
fn post_processing_beats_fbp_and_its_file_reproduces_it() {
    // 150 steps of batch 4 on 32^2: held-out PSNR at least 2 dB above FBP's (FBP ~ 30 dB here,
    // the trained network ~ 34). Saved and loaded, the model gives bit-identical images; an
    // operator of another shape is refused.
    let (sim, op) = setting();
    let model = ReconModel::new(small_unet(), Arc::clone(&op), 1).unwrap();
    let cfg = ReconTrainConfig { learning_rate: 3e-3, ..Default::default() };
    let mut trainer = ReconTrainer::new(model, cfg).unwrap();
    let steps = 150;
    for step in 0..steps {
        let cs = cases(&sim, (step * 4) as u64..(step * 4 + 4) as u64);
        trainer.step(&batch(op.as_ref(), &cs, true), step, steps).unwrap();
    }
    let model = trainer.into_model();
    assert_eq!(model.trained_steps(), steps);
    let test = cases(&sim, 100_000..100_010);
    let (mut fbp, mut net) = (0.0, 0.0);
    for c in &test {
        fbp += psnr_of(&c.truth, &c.fbp) / 10.0;
        net +=
            psnr_of(&c.truth, &model.reconstruct(c.sinogram.view(), c.fbp.view()).unwrap()) / 10.0;
    }
    assert!(net > fbp + 2.0, "network {net:.2} dB vs FBP {fbp:.2} dB");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path, "context text").unwrap();
    assert_eq!(ReconModel::context(&path).unwrap(), "context text");
    let loaded = ReconModel::load(&path, Arc::clone(&op)).unwrap();
    let c = &test[0];
    assert_eq!(
        loaded.reconstruct(c.sinogram.view(), c.fbp.view()).unwrap(),
        model.reconstruct(c.sinogram.view(), c.fbp.view()).unwrap()
    );
    assert_eq!(loaded.trained_steps(), steps);
    let other = Simulation::lpd_ellipses(16).unwrap();
    let other: Arc<dyn LinearOperator> = Arc::new(Projector::new(other.grid, other.scan).unwrap());
    let err = ReconModel::load(&path, other).unwrap_err().to_string();
    assert!(err.contains("m.safetensors") && err.contains("trained for"), "{err}");

    // A NaN weight, or a parameter the stated architecture does not use (as left by an edited
    // iteration count), is refused with the file named, never run into a NaN or wrong image.
    use hounsfield_nn::checkpoint;
    let (tensors, metadata) = checkpoint::load(&path).unwrap();
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    type Named = Vec<(String, candle_core::Tensor)>;
    let rewrite = |name: &str, change: &dyn Fn(&mut Named)| {
        let mut list: Named = names.iter().map(|n| ((*n).clone(), tensors[*n].clone())).collect();
        change(&mut list);
        let bad = dir.path().join(name);
        checkpoint::save(&bad, &list, &metadata).unwrap();
        ReconModel::load(&bad, Arc::clone(&op)).unwrap_err().to_string()
    };
    let err = rewrite("nan.safetensors", &|list| {
        let t = &list[0].1;
        let mut v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        v[0] = f32::NAN;
        list[0].1 = candle_core::Tensor::from_vec(v, t.dims(), t.device()).unwrap();
    });
    assert!(err.contains("nan.safetensors") && err.contains("NaN"), "{err}");
    let err = rewrite("extra.safetensors", &|list| {
        let t = list[0].1.clone();
        list.push(("zzz.unused".into(), t));
    });
    assert!(err.contains("extra.safetensors") && err.contains("zzz.unused"), "{err}");
}

#[test]
fn self_supervised_physics_training_lowers_the_data_residual() {
    // Without true images, 60 steps on the physics term alone take the output's residual
    // |A x - y| / |y| below FBP's (by 5% at least; FBP's is ~0.047 here and the noise alone
    // gives ~0.04) on held-out data: the network learns to fit the measurements.
    // A batch without truth and without a physics weight is refused.
    let (sim, op) = setting();
    let cfg = ReconTrainConfig {
        learning_rate: 3e-3,
        loss: ReconLoss { image: 0.0, physics: 1.0, smoothness: 0.0 },
        ..Default::default()
    };
    let model = ReconModel::new(small_unet(), Arc::clone(&op), 2).unwrap();
    let mut trainer = ReconTrainer::new(model, cfg).unwrap();
    for step in 0..60 {
        let cs = cases(&sim, (step * 2) as u64..(step * 2 + 2) as u64);
        trainer.step(&batch(op.as_ref(), &cs, false), step, 60).unwrap();
    }
    let test = cases(&sim, 200_000..200_005);
    let (mut fbp, mut net) = (0.0, 0.0);
    for c in &test {
        fbp += residual(op.as_ref(), &c.fbp, &c.sinogram);
        let x = trainer.model().reconstruct(c.sinogram.view(), c.fbp.view()).unwrap();
        net += residual(op.as_ref(), &x, &c.sinogram);
    }
    assert!(net < 0.95 * fbp, "residual {net:.4} vs FBP {fbp:.4}");

    let image_only = ReconTrainConfig::default();
    let model = ReconModel::new(small_unet(), Arc::clone(&op), 2).unwrap();
    let mut trainer = ReconTrainer::new(model, image_only).unwrap();
    assert!(trainer.step(&batch(op.as_ref(), &test, false), 0, 1).is_err());
}

#[test]
fn learned_primal_dual_reduces_its_error_and_bad_inputs_are_errors() {
    // A small LPD (3 iterations, 8 hidden channels): 30 steps cut the held-out image MSE to
    // half of the untrained network's and of a zero image's, at most (a broken adjoint or
    // gradient path through the operator would stall it).
    let (sim, op) = setting();
    let arch = Architecture::PrimalDual {
        lpd: LpdConfig { iterations: 3, hidden: 8, ..Default::default() },
    };
    let model = ReconModel::new(arch, Arc::clone(&op), 4).unwrap();
    let test = cases(&sim, 300_000..300_004);
    let mse = |m: &ReconModel| -> f64 {
        test.iter()
            .map(|c| {
                let x = m.reconstruct(c.sinogram.view(), c.fbp.view()).unwrap();
                x.iter().zip(&c.truth).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>()
            })
            .sum()
    };
    let before = mse(&model);
    let mut trainer = ReconTrainer::new(model, ReconTrainConfig::default()).unwrap();
    for step in 0..30 {
        let cs = cases(&sim, (step * 2) as u64..(step * 2 + 2) as u64);
        trainer.step(&batch(op.as_ref(), &cs, true), step, 30).unwrap();
    }
    let after = mse(trainer.model());
    let zero: f64 =
        test.iter().map(|c| c.truth.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>()).sum();
    assert!(
        after < 0.5 * before.min(zero),
        "MSE {after:.3}: untrained {before:.3}, zero {zero:.3}"
    );

    // Mismatched items, NaN, a U-Net of the wrong dimension, negative weights: typed errors.
    let c = &test[0];
    let (s, p) = (flat(&c.sinogram), flat(&c.fbp));
    assert!(ReconBatch::new(op.as_ref(), &[], &[&s], &[]).is_err());
    assert!(ReconBatch::new(op.as_ref(), &[], &[&s[1..]], &[&p]).is_err());
    let mut nan = p.clone();
    nan[3] = f32::NAN;
    assert!(ReconBatch::new(op.as_ref(), &[], &[&s], &[&nan]).is_err());
    assert!(
        ReconModel::new(Architecture::post_processing(3, vec![4]), Arc::clone(&op), 0).is_err()
    );
    // Sizes no real network has (a corrupt model file) are refused before anything is allocated.
    let huge = LpdConfig { iterations: 1_000_000_000, ..Default::default() };
    assert!(ReconModel::new(Architecture::PrimalDual { lpd: huge }, Arc::clone(&op), 0).is_err());
    let wide = Architecture::post_processing(2, vec![1 << 30]);
    assert!(ReconModel::new(wide, Arc::clone(&op), 0).is_err());
    let bad = ReconTrainConfig {
        loss: ReconLoss { image: -1.0, ..Default::default() },
        ..Default::default()
    };
    let model = ReconModel::new(small_unet(), op, 0).unwrap();
    assert!(ReconTrainer::new(model, bad).is_err());
}

#[test]
fn lpd_started_from_fbp_returns_fbp_when_its_updates_are_zero() {
    // With fbp_start, every primal channel begins as the FBP image; with the primal blocks'
    // last convolutions zeroed, no iteration changes it, so the output is FBP exactly. Without
    // the FBP images the network refuses to run.
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use hounsfield_nn::lpd::LearnedPrimalDual;
    let (sim, op) = setting();
    let varmap = VarMap::new();
    let cfg = LpdConfig { iterations: 2, hidden: 4, fbp_start: true, ..Default::default() };
    let norm = hounsfield_core::estimate_norm(op.as_ref(), 20, 1).unwrap();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let net = LearnedPrimalDual::new(vb, cfg, Arc::clone(&op), norm).unwrap();
    for (name, var) in varmap.data().lock().unwrap().iter() {
        if name.starts_with("primal") && name.contains("conv2") {
            var.set(&var.zeros_like().unwrap()).unwrap();
        }
    }
    let b = batch(op.as_ref(), &cases(&sim, 0..2), false);
    let out = net.forward(&b.sinogram, Some(&b.prior)).unwrap();
    let (got, want): (Vec<f32>, Vec<f32>) = (
        out.flatten_all().unwrap().to_vec1().unwrap(),
        b.prior.flatten_all().unwrap().to_vec1().unwrap(),
    );
    assert_eq!(got, want);
    assert!(net.forward(&b.sinogram, None).is_err());
}

#[test]
fn architecture_keys_outside_their_table_are_refused() {
    // `iterations` belongs in `lpd`; beside `kind` it used to be dropped without a word.
    let err = serde_json::from_str::<Architecture>(r#"{"kind":"primal_dual","iterations":0}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("iterations"), "{err}");
    let ok: Architecture =
        serde_json::from_str(r#"{"kind":"primal_dual","lpd":{"iterations":3}}"#).unwrap();
    assert!(matches!(ok, Architecture::PrimalDual { lpd } if lpd.iterations == 3));
}
