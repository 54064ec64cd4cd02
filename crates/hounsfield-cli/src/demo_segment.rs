//! The demo's segmentation stage: a 3D U-Net trained on the fly on FDK reconstructions of random
//! heads (a skull shell of random shape around random soft-tissue blobs, simulated through the
//! same noisy cone-beam scan), then run on the Shepp-Logan reconstruction it never saw; Dice of
//! the brain (inside the skull) and the skull against the phantom's exact geometry.

use std::time::Instant;

use anyhow::Result;
use hounsfield_core::Volume;
use hounsfield_ct::phantom::Ellipsoid;
use hounsfield_ct::{ImageGrid, Phantom, ScanGeometry};
use hounsfield_nn::data::{AugmentConfig, Sample};
use hounsfield_nn::optim::Schedule;
use hounsfield_nn::train::{TrainConfig, Trainer, dice};
use hounsfield_nn::{Normalise, UNetConfig};
use serde::Serialize;

use crate::demo::{CtOutput, demo_scan, simulate_fdk};

/// What the segmentation stage measured.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentResults {
    /// Random heads reconstructed for training.
    pub training_heads: usize,
    /// Optimiser steps (batches of 2 patches of 32^3).
    pub steps: usize,
    /// Final training loss (Dice + cross entropy).
    pub final_loss: f64,
    /// Dice of the brain (label 1) on the Shepp-Logan FDK volume.
    pub dice_brain: f64,
    /// Dice of the skull (label 2), about one voxel thick at the default size.
    pub dice_skull: f64,
    /// Seconds: simulating the training heads, training, predicting.
    pub seconds: [f64; 3],
}

/// Labels from a head's first two shapes at voxel centres: 1 inside the inner ellipsoid
/// (brain), 2 between it and the outer one (skull), 0 outside.
fn head_labels(head: &Phantom, grid: &ImageGrid) -> Result<Volume<u8>> {
    let inside = |shape: &Ellipsoid| -> Result<Vec<bool>> {
        let one = Ellipsoid { density: 1.0, ..*shape };
        let mask = Phantom { dims: 3, shapes: vec![one] }.rasterize(grid, 1)?;
        Ok(mask.iter().map(|&v| v > 0.5).collect())
    };
    let (outer, inner) = (inside(&head.shapes[0])?, inside(&head.shapes[1])?);
    let labels =
        outer.iter().zip(&inner).map(|(&o, &i)| if i { 1 } else { u8::from(o) * 2 }).collect();
    Ok(Volume::from_vec(grid.shape, labels, grid.geometry()?)?)
}

fn training_config(steps: usize, seed: u64) -> TrainConfig {
    TrainConfig {
        model: UNetConfig { channels: vec![8, 16, 32], out_channels: 3, ..Default::default() },
        normalise: Normalise::ZScore { floor: None },
        patch: [32; 3],
        batch_size: 2,
        steps,
        validate_every: steps,
        learning_rate: 1e-2,
        schedule: Schedule::Cosine,
        positive_fraction: 0.5,
        augment: AugmentConfig { affine_probability: 0.0, ..AugmentConfig::default() },
        seed,
        ..Default::default()
    }
}

/// Trains on `heads` random heads and segments the demo's FDK volume; `on_step` sees each step.
pub fn run_segment(
    ct: &CtOutput,
    seed: u64,
    heads: usize,
    steps: usize,
    mut on_step: impl FnMut(usize, usize),
) -> Result<(SegmentResults, Volume<u8>)> {
    let clock = Instant::now();
    let size = ct.fdk.shape()[0];
    let (grid, geometry): (ImageGrid, ScanGeometry) = demo_scan(size)?;
    let radius = size as f64 / 2.0 - 1.0;
    let cfg = training_config(steps, seed);
    let mut trainer = Trainer::new(cfg)?;
    let mut train = Vec::with_capacity(heads);
    for i in 0..heads as u64 {
        let head = Phantom::random_head(radius, 8, seed.wrapping_mul(1000).wrapping_add(i))?;
        let image = simulate_fdk(&head, &grid, &geometry, seed.wrapping_add(100 + i))?;
        train.push(Sample::new(trainer.model().prepare(&image)?, head_labels(&head, &grid)?)?);
    }
    let t_data = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let report = trainer.fit(&train, &[], None, |e| {
        if let hounsfield_nn::train::Event::Step { step, total, .. } = e {
            on_step(*step, *total);
        }
    })?;
    let t_train = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let model = trainer.model();
    let predicted = model.predict(&ct.fdk, &model.default_options())?;
    let truth = head_labels(&Phantom::shepp_logan_3d(radius), &grid)?;
    let results = SegmentResults {
        training_heads: heads,
        steps: report.steps,
        final_loss: report.final_loss,
        dice_brain: dice(predicted.as_slice(), truth.as_slice(), 1),
        dice_skull: dice(predicted.as_slice(), truth.as_slice(), 2),
        seconds: [t_data, t_train, clock.elapsed().as_secs_f64()],
    };
    Ok((results, predicted))
}
