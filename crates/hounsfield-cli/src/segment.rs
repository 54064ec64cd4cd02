//! `hounsfield segment train <config.toml>` and `hounsfield segment predict <model> <in> <out>`.
//!
//! A training configuration names its data (image/label files, one volume split in two along
//! an axis, or generated volumes), the network and the schedule, and the model file to write:
//!
//! ```toml
//! output = "brain.safetensors"
//!
//! [data]
//! images = ["t1.nii.gz"]
//! labels = ["brain_mask.nii.gz"]
//! label_threshold = 0            # label = value > 0 (omit for integer labels)
//! split = { axis = "x", fraction = 0.5, gap_mm = 10, train = "low" }
//!
//! [train]
//! patch = [1, 128, 128]          # a 2D network: [1, h, w]
//! steps = 2000
//! [train.model]
//! spatial_dims = 2
//! channels = [16, 32, 64, 128]
//! ```
//!
//! Relative paths are taken from the configuration file's directory.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::Volume;
use hounsfield_io::nifti::{self, NiftiImage};
use hounsfield_nn::SegmentationModel;
use hounsfield_nn::data::{Sample, split_halves};
use hounsfield_nn::infer::InferOptions;
use hounsfield_nn::synthetic::{SyntheticConfig, generate};
use hounsfield_nn::train::{Event, TrainConfig, Trainer, dice};
use serde::{Deserialize, Serialize};

/// A `segment train` configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// Where the model goes (safetensors).
    pub output: PathBuf,
    /// The cases.
    pub data: DataConfig,
    /// Network and schedule (defaults: a small 3D U-Net).
    #[serde(default)]
    pub train: TrainConfig,
}

/// Where training and validation cases come from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Training images (NIfTI).
    pub images: Vec<PathBuf>,
    /// Their labels, one per image.
    pub labels: Vec<PathBuf>,
    /// Validation images (optional; a split provides its own).
    pub validation_images: Vec<PathBuf>,
    /// Their labels.
    pub validation_labels: Vec<PathBuf>,
    /// Binary labels `value > threshold` (a mask or a probability map); integer labels otherwise.
    pub label_threshold: Option<f64>,
    /// Split the first image/label in two: one part trains, the other validates.
    pub split: Option<Split>,
    /// Generated volumes instead of files.
    pub synthetic: Option<Synthetic>,
}

/// One volume cut in two along an axis, with a gap between the parts.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// `"x"`, `"y"` or `"z"` (array axes: x is the fastest).
    pub axis: String,
    /// Where to cut, as a fraction of the axis.
    #[serde(default = "half")]
    pub fraction: f64,
    /// Millimetres left out between the parts.
    #[serde(default)]
    pub gap_mm: f64,
    /// `"low"` or `"high"`: the part that trains.
    #[serde(default = "low")]
    pub train: String,
}

fn half() -> f64 {
    0.5
}

fn low() -> String {
    "low".into()
}

/// Generated ellipsoids and tubes (labels 1 and 2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Synthetic {
    /// Training volumes.
    pub train: usize,
    /// Held-out volumes (other seeds).
    pub validation: usize,
    /// Edge length in voxels.
    #[serde(default = "default_size")]
    pub size: usize,
    /// First seed.
    #[serde(default)]
    pub seed: u64,
}

fn default_size() -> usize {
    48
}

impl SegmentConfig {
    /// Reads a TOML (or JSON, by extension) file; relative paths become relative to it.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Self = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?
        } else {
            toml::from_str(&text)
                .with_context(|| format!("{}: invalid configuration", path.display()))?
        };
        let base = path.parent().unwrap_or(Path::new("."));
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        fix(&mut cfg.output);
        let d = &mut cfg.data;
        d.images
            .iter_mut()
            .chain(&mut d.labels)
            .chain(&mut d.validation_images)
            .chain(&mut d.validation_labels)
            .for_each(fix);
        Ok(cfg)
    }
}

fn read_f32(path: &Path) -> Result<Volume<f32>> {
    Ok(hounsfield_io::open_volume(path)?)
}

/// Reads labels: `value > threshold` when a threshold is given, else rounded integers 0..=255.
pub fn read_labels(path: &Path, threshold: Option<f64>) -> Result<Volume<u8>> {
    let v = read_f32(path)?;
    if let Some(t) = threshold {
        return Ok(v.map(|x| u8::from(f64::from(x) > t)));
    }
    if let Some(bad) = v
        .as_slice()
        .iter()
        .find(|x| !(x.is_finite() && **x >= 0.0 && **x <= 255.0 && x.fract() == 0.0))
    {
        bail!(
            "{}: label value {bad} is not an integer in 0..=255 (set data.label_threshold for masks)",
            path.display()
        );
    }
    Ok(v.map(|x| x as u8))
}

fn pairs(images: &[PathBuf], labels: &[PathBuf], threshold: Option<f64>) -> Result<Vec<Sample>> {
    if images.len() != labels.len() {
        bail!("{} images but {} labels", images.len(), labels.len());
    }
    images
        .iter()
        .zip(labels)
        .map(|(i, l)| {
            let sample = Sample::new(read_f32(i)?, read_labels(l, threshold)?);
            sample.with_context(|| format!("{} and {}", i.display(), l.display()))
        })
        .collect()
}

/// The training and validation cases a configuration names (images not yet normalised).
pub fn load_cases(data: &DataConfig) -> Result<(Vec<Sample>, Vec<Sample>)> {
    if let Some(s) = &data.synthetic {
        if s.train == 0 {
            bail!("data.synthetic.train must be at least 1");
        }
        let cfg = SyntheticConfig { size: s.size, ..Default::default() };
        let make = |range: std::ops::Range<u64>| -> Result<Vec<Sample>> {
            range.map(|i| Ok(generate(&cfg, s.seed + i)?)).collect()
        };
        let n = s.train as u64;
        return Ok((make(0..n)?, make(1_000_000..1_000_000 + s.validation as u64)?));
    }
    if data.images.is_empty() {
        bail!("data names no images (images/labels, or synthetic)");
    }
    let train = pairs(&data.images, &data.labels, data.label_threshold)?;
    let validation = pairs(&data.validation_images, &data.validation_labels, data.label_threshold)?;
    let Some(split) = &data.split else { return Ok((train, validation)) };
    let axis = match split.axis.as_str() {
        "z" => 0,
        "y" => 1,
        "x" => 2,
        other => bail!("split axis must be x, y or z, not {other:?}"),
    };
    let first = &train[0];
    let spacing = first.image.geometry().spacing()[2 - axis];
    let gap = (split.gap_mm / spacing).round() as usize;
    let (ilo, ihi) = split_halves(&first.image, axis, split.fraction, gap)?;
    let (llo, lhi) = split_halves(&first.label, axis, split.fraction, gap)?;
    let (lo, hi) = (Sample::new(ilo, llo)?, Sample::new(ihi, lhi)?);
    match split.train.as_str() {
        "low" => Ok((vec![lo], vec![hi])),
        "high" => Ok((vec![hi], vec![lo])),
        other => bail!("split.train must be low or high, not {other:?}"),
    }
}

/// What `segment train` did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    /// The model file.
    pub output: PathBuf,
    /// Training and validation voxels.
    pub train_voxels: usize,
    /// See `train_voxels`.
    pub validation_voxels: usize,
    /// Optimiser steps in all.
    pub steps: usize,
    /// Seconds of training (validation included).
    pub seconds: f64,
    /// Mean loss of the last steps.
    pub final_loss: f64,
    /// (step, mean foreground Dice) at each validation.
    pub validation: Vec<(usize, f64)>,
    /// Dice per foreground class at the end (held-out cases), with the final model and
    /// half-overlapping windows.
    pub final_dice: Vec<f64>,
}

impl fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model:       {}", self.output.display())?;
        writeln!(
            f,
            "cases:       {} training voxels, {} validation voxels",
            self.train_voxels, self.validation_voxels
        )?;
        writeln!(
            f,
            "training:    {} steps in {:.1} s, final loss {:.4}",
            self.steps, self.seconds, self.final_loss
        )?;
        for (step, d) in &self.validation {
            writeln!(f, "validation:  step {step}: mean Dice {d:.4}")?;
        }
        let dice: Vec<String> = self.final_dice.iter().map(|d| format!("{d:.4}")).collect();
        writeln!(f, "final Dice:  {} (per foreground class, held-out cases)", dice.join(", "))
    }
}

/// Trains as configured; `on_event` sees every step and validation (progress bars).
pub fn train(config: &Path, resume: bool, on_event: impl FnMut(&Event)) -> Result<TrainSummary> {
    let cfg = SegmentConfig::read(config)?;
    if let Some(dir) = cfg.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let (train, validation) = load_cases(&cfg.data)?;
    let mut trainer = if resume {
        Trainer::resume(cfg.train.clone(), &cfg.output)
            .with_context(|| format!("resuming from {}", cfg.output.display()))?
    } else {
        Trainer::new(cfg.train.clone())?
    };
    let prepare = |cases: Vec<Sample>| -> Result<Vec<Sample>> {
        cases
            .into_iter()
            .map(|s| Ok(Sample { image: trainer.model().prepare(&s.image)?, label: s.label }))
            .collect()
    };
    let (train, validation) = (prepare(train), prepare(validation));
    let context = || format!("normalising the cases of {}", config.display());
    let (train, validation) = (train.with_context(context)?, validation.with_context(context)?);
    let report = trainer.fit(&train, &validation, Some(&cfg.output), on_event)?;
    let final_dice = if validation.is_empty() {
        Vec::new()
    } else {
        held_out_dice(trainer.model(), &validation)?
    };
    Ok(TrainSummary {
        output: cfg.output,
        train_voxels: train.iter().map(|s| s.image.len()).sum(),
        validation_voxels: validation.iter().map(|s| s.image.len()).sum(),
        steps: report.steps,
        seconds: report.seconds,
        final_loss: report.final_loss,
        validation: report.validation,
        final_dice,
    })
}

/// Dice per foreground class with half-overlapping windows (cases already normalised).
fn held_out_dice(model: &SegmentationModel, cases: &[Sample]) -> Result<Vec<f64>> {
    let classes = model.info.unet.out_channels.saturating_sub(1);
    let mut sums = vec![0.0; classes];
    let opts = model.default_options();
    for s in cases {
        let probs = hounsfield_nn::infer::sliding_window(model.net(), &s.image, &opts)?;
        let pred = hounsfield_nn::infer::argmax(
            &probs,
            classes + 1,
            s.image.shape(),
            s.image.geometry().clone(),
        )?;
        for (c, sum) in sums.iter_mut().enumerate() {
            *sum += dice(pred.as_slice(), s.label.as_slice(), (c + 1) as u8);
        }
    }
    Ok(sums.iter().map(|s| s / cases.len() as f64).collect())
}

/// Options of `segment predict`.
#[derive(Clone, Debug)]
pub struct PredictOptions {
    /// Window overlap.
    pub overlap: f64,
    /// Flip test-time augmentation.
    pub tta: bool,
    /// Write the foreground probability (class 1) instead of labels.
    pub probabilities: bool,
    /// A reference label file to score against, and its threshold.
    pub reference: Option<(PathBuf, Option<f64>)>,
}

/// What `segment predict` did.
#[derive(Clone, Debug, Serialize)]
pub struct PredictSummary {
    /// The file written.
    pub output: PathBuf,
    /// Voxels per class in the prediction.
    pub voxels_per_class: Vec<usize>,
    /// Dice per foreground class against the reference, when one was given.
    pub dice: Option<Vec<f64>>,
    /// Seconds of inference.
    pub seconds: f64,
}

impl fmt::Display for PredictSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote:   {}", self.output.display())?;
        writeln!(f, "voxels:  {:?} per class", self.voxels_per_class)?;
        if let Some(d) = &self.dice {
            let d: Vec<String> = d.iter().map(|v| format!("{v:.4}")).collect();
            writeln!(f, "Dice:    {}", d.join(", "))?;
        }
        writeln!(f, "time:    {:.2} s", self.seconds)
    }
}

/// Segments `input` with the model, writing labels (u8) or class-1 probabilities (f32) as NIfTI
/// in the input's geometry.
pub fn predict(
    model: &Path,
    input: &Path,
    output: &Path,
    opts: &PredictOptions,
) -> Result<PredictSummary> {
    let (model, _, _) = SegmentationModel::load(model)?;
    let image = read_f32(input)?;
    let start = std::time::Instant::now();
    let mut infer = InferOptions::new(model.info.window);
    infer.overlap = opts.overlap;
    infer.flip_tta = opts.tta;
    let probs = model
        .probabilities(&image, &infer)
        .with_context(|| format!("segmenting {}", input.display()))?;
    let classes = probs.len();
    let flat: Vec<f32> = probs.iter().flat_map(|p| p.as_slice().iter().copied()).collect();
    let labels =
        hounsfield_nn::infer::argmax(&flat, classes, image.shape(), image.geometry().clone())?;
    let seconds = start.elapsed().as_secs_f64();
    let mut voxels_per_class = vec![0usize; classes];
    // The reference is read and put on the input's grid before anything is written.
    let dice = match &opts.reference {
        Some((path, threshold)) => {
            let reference = read_labels(path, *threshold)?;
            let grid = (labels.geometry(), labels.shape());
            let reference = crate::align::on_grid_of(reference, grid, path, input)?;
            Some(
                (1..classes)
                    .map(|c| dice(labels.as_slice(), reference.as_slice(), c as u8))
                    .collect(),
            )
        }
        None => None,
    };
    labels.as_slice().iter().for_each(|&l| voxels_per_class[usize::from(l)] += 1);
    if opts.probabilities {
        let p = probs.get(1).context("the model has a single class")?;
        nifti::write_nifti(output, &NiftiImage::from_volume(p.clone()))?;
    } else {
        nifti::write_nifti(output, &NiftiImage::from_volume(labels.clone()))?;
    }

    Ok(PredictSummary { output: output.to_path_buf(), voxels_per_class, dice, seconds })
}
