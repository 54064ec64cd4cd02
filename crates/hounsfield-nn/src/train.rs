//! Training: batches of augmented patches, Dice+CE (or another loss) with optional deep
//! supervision, AdamW with warm-up and a cosine/poly schedule, gradient clipping, validation by
//! sliding-window Dice, checkpoints that resume exactly where they stopped.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var};
use hounsfield_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::data::{AugmentConfig, PatchSampler, Sample};
use crate::infer::InferOptions;
use crate::loss::{Loss, one_hot};
use crate::model::{ModelInfo, Normalise, SegmentationModel};
use crate::optim::{AdamW, AdamWConfig, Schedule, clip_factor};
use crate::unet::UNetConfig;
use crate::{Error, Result};

/// Everything a training run needs to know.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The network.
    pub model: UNetConfig,
    /// Input normalisation (stored with the model).
    pub normalise: Normalise,
    /// Patch size (z, y, x); `[1, h, w]` for a 2D network.
    pub patch: [usize; 3],
    /// Patches per step.
    pub batch_size: usize,
    /// Optimiser steps in all.
    pub steps: usize,
    /// Validate (and checkpoint) every this many steps.
    pub validate_every: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Learning-rate decay after warm-up.
    pub schedule: Schedule,
    /// Steps of linear warm-up.
    pub warmup_steps: usize,
    /// AdamW's constants.
    pub adamw: AdamWConfig,
    /// Largest global gradient norm (0 = no clipping).
    pub clip_norm: f64,
    /// Share of patches centred on foreground.
    pub positive_fraction: f64,
    /// The loss.
    pub loss: Loss,
    /// Patch augmentation.
    pub augment: AugmentConfig,
    /// Seed of initialisation and sampling.
    pub seed: u64,
    /// The array axis (0, 1, 2 = z, y, x) a 2D network's slices are cut across.
    pub slice_axis: usize,
    /// Stop (after a final validation) once this many seconds have passed.
    pub time_limit_s: Option<f64>,
    /// Window overlap in validation.
    pub validation_overlap: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: UNetConfig::default(),
            normalise: Normalise::ZScore { floor: None },
            patch: [32; 3],
            batch_size: 2,
            steps: 200,
            validate_every: 50,
            learning_rate: 3e-3,
            schedule: Schedule::Cosine,
            warmup_steps: 10,
            adamw: AdamWConfig::default(),
            clip_norm: 12.0,
            positive_fraction: 0.33,
            loss: Loss::DiceCe,
            augment: AugmentConfig::default(),
            seed: 0,
            slice_axis: 0,
            time_limit_s: None,
            validation_overlap: 0.25,
        }
    }
}

impl TrainConfig {
    fn validate(&self) -> Result<()> {
        self.model.validate().map_err(Error::Config)?;
        let m = self.model.size_multiple();
        if (0..3).any(|a| self.patch[a] == 0 || !self.patch[a].is_multiple_of(m[a])) {
            return Err(Error::Config(format!(
                "patch {:?} must be positive multiples of {m:?}",
                self.patch
            )));
        }
        if self.batch_size == 0 || self.steps == 0 || self.validate_every == 0 {
            return Err(Error::Config(
                "batch_size, steps and validate_every must be positive".into(),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) || self.clip_norm < 0.0 {
            return Err(Error::Config("learning_rate must be positive and clip_norm >= 0".into()));
        }
        if self.slice_axis > 2 || (self.slice_axis != 0 && self.model.spatial_dims != 2) {
            return Err(Error::Config(format!(
                "slice_axis {} needs a 2D network and must be 0, 1 or 2",
                self.slice_axis
            )));
        }
        if self.model.out_channels < 2 && self.loss != Loss::Bce {
            return Err(Error::Config(
                "softmax losses need out_channels >= 2 (background included)".into(),
            ));
        }
        Ok(())
    }
}

/// What happened, for progress displays.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// One optimiser step.
    Step {
        /// Steps done (1-based).
        step: usize,
        /// Steps planned.
        total: usize,
        /// Loss of this step's batch.
        loss: f64,
        /// Learning rate used.
        learning_rate: f64,
        /// Gradient norm before clipping.
        grad_norm: f64,
    },
    /// A validation pass.
    Validation {
        /// Steps done.
        step: usize,
        /// Dice per foreground class, averaged over the validation cases that hold the class
        /// (NaN where none does).
        dice: Vec<f64>,
    },
}

/// The outcome of [`Trainer::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainReport {
    /// Steps done in all (a resumed run counts the earlier ones).
    pub steps: usize,
    /// Seconds spent in this call.
    pub seconds: f64,
    /// Mean loss of the last `validate_every` steps.
    pub final_loss: f64,
    /// Mean foreground Dice at each validation.
    pub validation: Vec<(usize, f64)>,
}

/// A model, its optimiser and the sampling state.
#[derive(Debug)]
pub struct Trainer {
    cfg: TrainConfig,
    model: SegmentationModel,
    vars: Vec<Var>,
    opt: AdamW,
    rng: SplitMix64,
    metadata: HashMap<String, String>,
}

impl Trainer {
    /// A fresh run.
    pub fn new(cfg: TrainConfig) -> Result<Self> {
        cfg.validate()?;
        let info = ModelInfo {
            unet: cfg.model.clone(),
            normalise: cfg.normalise,
            window: cfg.patch,
            trained_steps: 0,
            keep_largest: Vec::new(),
            component_filters: Vec::new(),
            mirrored: cfg.augment.flip,
            slice_axis: cfg.slice_axis,
            spacing_mm: None,
        };
        let model = SegmentationModel::new(info, cfg.seed)?;
        Self::with_model(cfg, model)
    }

    fn with_model(cfg: TrainConfig, model: SegmentationModel) -> Result<Self> {
        let named = crate::checkpoint::named_vars(model.varmap())?;
        let vars = named.iter().map(|(_, v)| v.clone()).collect();
        let opt = AdamW::new(named, cfg.adamw)?;
        let rng = SplitMix64::new(cfg.seed ^ 0x5eed);
        Ok(Self { cfg, model, vars, opt, rng, metadata: HashMap::new() })
    }

    /// Continues a run from a checkpoint written by [`Trainer::fit`]: parameters, optimiser
    /// moments and step count come from the file, everything else from `cfg` (whose model
    /// must match the file's).
    pub fn resume(cfg: TrainConfig, checkpoint: &Path) -> Result<Self> {
        cfg.validate()?;
        let (model, extra, metadata) = SegmentationModel::load(checkpoint)?;
        if model.info.unet != cfg.model {
            return Err(Error::Checkpoint {
                path: checkpoint.to_path_buf(),
                reason: "its network differs from the configuration's".into(),
            });
        }
        let steps = model.info.trained_steps;
        let mut trainer = Self::with_model(cfg, model)?;
        trainer.opt.restore(|name| extra.get(name).cloned(), steps)?;
        let state = metadata
            .get("hounsfield.rng")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(steps as u64);
        trainer.rng = SplitMix64::new(state);
        Ok(trainer)
    }

    /// The model being trained.
    pub fn model(&self) -> &SegmentationModel {
        &self.model
    }

    /// The model being trained, to set what is saved with it (e.g. its post-processing).
    pub fn model_mut(&mut self) -> &mut SegmentationModel {
        &mut self.model
    }

    /// Text saved in the model file's metadata under `key` (e.g. the plan that configured
    /// the run), from the next save on.
    pub fn set_metadata(&mut self, key: &str, value: String) {
        self.metadata.insert(key.to_string(), value);
    }

    /// Steps done so far.
    pub fn steps(&self) -> usize {
        self.opt.steps()
    }

    /// Writes the model with optimiser state (resumable; `predict` ignores the extra tensors).
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.model.info.trained_steps = self.opt.steps();
        let mut meta = self.metadata.clone();
        // Re-seed the sampling generator from a value saved with the model, so a run resumed
        // from this file draws the same patches as this one goes on to draw.
        let seed = self.rng.next_u64();
        self.rng = SplitMix64::new(seed);
        meta.insert("hounsfield.rng".to_string(), seed.to_string());
        self.model.save(path, &self.opt.state(), meta)
    }

    /// One batch of patches as an input tensor and one-hot targets per supervised level.
    fn batch(
        &mut self,
        sampler: &PatchSampler,
        samples: &[Sample],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let p = self.cfg.patch;
        let b = self.cfg.batch_size;
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..b {
            let i = (self.rng.uniform(0.0, samples.len() as f64) as usize).min(samples.len() - 1);
            let patch = sampler.sample(samples, i, &mut self.rng);
            images.extend(patch.image);
            labels.extend(patch.label);
        }
        let x = Tensor::from_vec(images, (b, 1, p[0], p[1], p[2]), &Device::Cpu)?;
        let classes = self.cfg.model.out_channels;
        let levels = if self.cfg.model.deep_supervision {
            self.cfg.model.channels.len().saturating_sub(2).max(1)
        } else {
            1
        };
        let mut targets = Vec::with_capacity(levels);
        for level in 0..levels {
            // Deep supervision: labels subsampled (nearest) by 2^level along the strided axes.
            let f = 1usize << level;
            let step = if self.cfg.model.spatial_dims == 2 { [1, f, f] } else { [f; 3] };
            let dims = [b, p[0] / step[0], p[1] / step[1], p[2] / step[2]];
            let mut sub = Vec::with_capacity(dims.iter().product());
            for n in 0..b {
                for z in (0..p[0]).step_by(step[0]) {
                    for y in (0..p[1]).step_by(step[1]) {
                        for xx in (0..p[2]).step_by(step[2]) {
                            sub.push(labels[((n * p[0] + z) * p[1] + y) * p[2] + xx]);
                        }
                    }
                }
            }
            let (ch, lab) = if self.cfg.loss == Loss::Bce && classes == 1 {
                (1, sub.iter().map(|&l| u8::from(l > 0)).collect::<Vec<_>>())
            } else {
                (classes, sub)
            };
            let t = if ch == 1 {
                Tensor::from_vec(
                    lab.iter().map(|&l| f32::from(l)).collect::<Vec<_>>(),
                    (b, 1, dims[1], dims[2], dims[3]),
                    &Device::Cpu,
                )?
            } else {
                one_hot(&lab, &dims, ch, DType::F32)?
            };
            targets.push(t);
        }
        Ok((x, targets))
    }

    /// One optimiser step on one batch; returns the loss and the gradient norm.
    pub fn step(&mut self, sampler: &PatchSampler, samples: &[Sample]) -> Result<(f64, f64, f64)> {
        let (x, targets) = self.batch(sampler, samples)?;
        let outputs = self.model.net().forward_all(&x, true)?;
        // Deep supervision weights halve per level (nnU-Net), normalised to sum to 1.
        let weights: Vec<f64> = (0..targets.len()).map(|k| 0.5f64.powi(k as i32)).collect();
        let total: f64 = weights.iter().sum();
        let mut loss: Option<Tensor> = None;
        for ((out, target), w) in outputs.iter().zip(&targets).zip(&weights) {
            let term = (self.cfg.loss.compute(out, target)? * (w / total))?;
            loss = Some(match loss {
                Some(l) => (l + term)?,
                None => term,
            });
        }
        let loss = loss.ok_or_else(|| Error::Config("network produced no output".into()))?;
        let grads = loss.backward()?;
        let (norm, factor) = clip_factor(&grads, &self.vars, self.cfg.clip_norm)?;
        let lr = self.cfg.schedule.rate(
            self.cfg.learning_rate,
            self.opt.steps(),
            self.cfg.steps,
            self.cfg.warmup_steps,
        );
        self.opt.step(&grads, lr, factor)?;
        Ok((loss.to_dtype(DType::F64)?.to_scalar::<f64>()?, norm, lr))
    }

    /// Dice per foreground class, averaged over the validation cases that hold the class (NaN
    /// where none does: Dice of an absent class is 1 for an empty prediction and 0 otherwise).
    pub fn validate(&self, samples: &[Sample]) -> Result<Vec<f64>> {
        let classes = self.cfg.model.out_channels;
        let mut opts = InferOptions::new(self.cfg.patch);
        opts.overlap = self.cfg.validation_overlap;
        let mut sums = vec![(0.0, 0usize); classes.saturating_sub(1)];
        for s in samples {
            let pred = self.model.predict(&s.image, &opts)?;
            for (c, (sum, n)) in sums.iter_mut().enumerate() {
                let class = (c + 1) as u8;
                // A case without the class says nothing about it (Dice 1 for an empty
                // prediction, 0 for any voxel).
                if s.label.as_slice().contains(&class) {
                    *sum += dice(pred.as_slice(), s.label.as_slice(), class);
                    *n += 1;
                }
            }
        }
        Ok(sums.iter().map(|&(s, n)| if n == 0 { f64::NAN } else { s / n as f64 }).collect())
    }

    /// Trains until `cfg.steps` (or the time limit), validating every `validate_every` steps and
    /// saving to `checkpoint` (if given) after each validation.
    pub fn fit(
        &mut self,
        train: &[Sample],
        validation: &[Sample],
        checkpoint: Option<&Path>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<TrainReport> {
        let start = Instant::now();
        // Patches are cut from the cases turned to the slicing; validation goes through the
        // model's own predict, which turns and turns back.
        let train: Vec<Sample> =
            train.iter().map(|s| self.model.sample_to_slicing(s)).collect::<Result<_>>()?;
        let train = train.as_slice();
        let sampler = PatchSampler::new(
            train,
            self.cfg.patch,
            self.cfg.positive_fraction,
            self.cfg.augment.clone(),
        )?;
        let mut history = Vec::new();
        let mut recent = Vec::new();
        while self.opt.steps() < self.cfg.steps {
            let (loss, grad_norm, lr) = self.step(&sampler, train)?;
            if !loss.is_finite() {
                return Err(Error::Config(format!(
                    "loss became {loss} at step {}; lower the learning rate",
                    self.opt.steps()
                )));
            }
            recent.push(loss);
            if recent.len() > self.cfg.validate_every {
                recent.remove(0);
            }
            let step = self.opt.steps();
            on_event(&Event::Step {
                step,
                total: self.cfg.steps,
                loss,
                learning_rate: lr,
                grad_norm,
            });
            let out_of_time =
                self.cfg.time_limit_s.is_some_and(|t| start.elapsed().as_secs_f64() >= t);
            if step.is_multiple_of(self.cfg.validate_every) || step == self.cfg.steps || out_of_time
            {
                if !validation.is_empty() {
                    let dice = self.validate(validation)?;
                    // The mean over the classes some validation case holds.
                    let held: Vec<f64> = dice.iter().copied().filter(|d| !d.is_nan()).collect();
                    let mean = if held.is_empty() {
                        f64::NAN
                    } else {
                        held.iter().sum::<f64>() / held.len() as f64
                    };
                    history.push((step, mean));
                    on_event(&Event::Validation { step, dice });
                }
                if let Some(path) = checkpoint {
                    self.save(path)?;
                }
            }
            if out_of_time {
                break;
            }
        }
        let final_loss = recent.iter().sum::<f64>() / recent.len().max(1) as f64;
        Ok(TrainReport {
            steps: self.opt.steps(),
            seconds: start.elapsed().as_secs_f64(),
            final_loss,
            validation: history,
        })
    }
}

/// Dice of one class between two label arrays (1 when both lack it).
pub fn dice(a: &[u8], b: &[u8], class: u8) -> f64 {
    let (mut inter, mut na, mut nb) = (0usize, 0usize, 0usize);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (x == class, y == class);
        inter += usize::from(x && y);
        na += usize::from(x);
        nb += usize::from(y);
    }
    if na + nb == 0 { 1.0 } else { 2.0 * inter as f64 / (na + nb) as f64 }
}
