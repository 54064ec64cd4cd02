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
//! With `plan = true` (top level), what `[train]` leaves unset among the patch, the batch size,
//! 2D or 3D, the network's widths and depth, and the mirrored axes is derived from the training
//! cases as nnU-Net does ([`hounsfield_nn::plan`]), and the augmentation keys it leaves out
//! come from [`AugmentConfig::planned`]; `hounsfield segment plan <config>` shows the result without
//! training. `data.baseline = "brain_mask"` (or `"lung_mask"` for a CT) scores a classical
//! mask on the same held-out part of a split, in the same run. `data.classes` groups label
//! values into the network's classes and `data.spacing_mm` resamples every case first
//! ([`DataConfig`]):
//!
//! ```toml
//! [data]
//! spacing_mm = [1.5, 1.5, 2.5]
//! classes = [{ name = "lungs", labels = [10, 11, 12, 13, 14] }, { name = "heart", labels = [51] }]
//! ```
//!
//! Relative paths are taken from the configuration file's directory.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::Volume;
use hounsfield_io::nifti::{self, NiftiImage};
use hounsfield_nn::data::{AugmentConfig, Sample};
use hounsfield_nn::plan::{Fingerprint, Plan};
use hounsfield_nn::train::{Event, TrainConfig, Trainer, dice};
use hounsfield_nn::{ComponentFilter, SegmentationModel};
use serde::{Deserialize, Serialize};

pub use crate::segment_data::{
    Baseline, ClassGroup, DataConfig, Split, Synthetic, load_cases, read_labels,
};
use crate::segment_data::{CLASSES_KEY, class_name, group_labels, read_f32};

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
    /// Derive what `[train]` leaves unset from the data (see the module docs).
    #[serde(default)]
    pub plan: bool,
    /// Which planned keys the file set itself (those keep the file's value).
    #[serde(skip)]
    given: Given,
}

/// The `[train]` keys a plan may fill, and whether the configuration file set each.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Given {
    /// `train.patch`.
    pub patch: bool,
    /// `train.batch_size`.
    pub batch_size: bool,
    /// `train.slice_axis`.
    pub slice_axis: bool,
    /// `train.model.spatial_dims`.
    pub spatial_dims: bool,
    /// `train.model.channels`.
    pub channels: bool,
    /// The `[train.augment]` table.
    pub augment: bool,
    /// `train.augment.flip`.
    pub flip: bool,
}

impl Given {
    fn of(raw: &serde_json::Value) -> Self {
        let train = &raw["train"];
        let set = |v: &serde_json::Value| !v.is_null();
        Self {
            patch: set(&train["patch"]),
            batch_size: set(&train["batch_size"]),
            slice_axis: set(&train["slice_axis"]),
            spatial_dims: set(&train["model"]["spatial_dims"]),
            channels: set(&train["model"]["channels"]),
            augment: set(&train["augment"]),
            flip: set(&train["augment"]["flip"]),
        }
    }
}

/// The key (dotted, with array indices) of the first float in `value` that is NaN or infinite.
pub(crate) fn non_finite_float(value: &toml::Value, key: &str) -> Option<String> {
    match value {
        toml::Value::Float(f) if !f.is_finite() => Some(key.to_owned()),
        toml::Value::Table(table) => table.iter().find_map(|(k, v)| {
            non_finite_float(v, &if key.is_empty() { k.clone() } else { format!("{key}.{k}") })
        }),
        toml::Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| non_finite_float(v, &format!("{key}[{i}]")))
        }
        _ => None,
    }
}

impl SegmentConfig {
    /// Reads a TOML (or JSON, by extension) file; relative paths become relative to it.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let invalid = || format!("{}: invalid configuration", path.display());
        let raw: serde_json::Value = if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text).with_context(invalid)?
        } else {
            // JSON has no NaN or infinity: read as JSON values they would become null, which
            // reads as "not given". Refused here instead, by key.
            let value: toml::Value = toml::from_str(&text).with_context(invalid)?;
            if let Some(key) = non_finite_float(&value, "") {
                bail!("{}: {key} is not a finite number", path.display());
            }
            toml::from_str(&text).with_context(invalid)?
        };
        let mut cfg: Self = serde_json::from_value(raw.clone()).with_context(invalid)?;
        cfg.given = Given::of(&raw);
        if let (true, Some(table)) = (cfg.plan, raw["train"]["augment"].as_object()) {
            // With a plan, the augmentation keys the file leaves out are the planned ones.
            let mut planned = serde_json::to_value(AugmentConfig::planned())?;
            for (key, value) in table {
                planned[key] = value.clone();
            }
            cfg.train.augment = serde_json::from_value(planned).with_context(invalid)?;
        }
        cfg.data.check().with_context(invalid)?;
        if !cfg.data.classes.is_empty() {
            // The groups fix the network's outputs: background and one per group.
            let wanted = cfg.data.classes.len() + 1;
            let given = &raw["train"]["model"]["out_channels"];
            if !given.is_null() && given.as_u64() != Some(wanted as u64) {
                bail!(
                    "{}: train.model.out_channels is {given} but data.classes names {} classes (+ background = {wanted})",
                    path.display(),
                    wanted - 1
                );
            }
            cfg.train.model.out_channels = wanted;
        }
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

/// The fingerprint of the training cases: median spacing (array order), shapes, and the array
/// axis closest to the patient's left-right axis (within 30 degrees).
pub fn fingerprint(cases: &[Sample]) -> Result<Fingerprint> {
    let first = cases.first().context("no training cases")?;
    let mut spacings: Vec<[f64; 3]> = cases
        .iter()
        .map(|c| {
            let s = c.image.geometry().spacing();
            [s[2], s[1], s[0]]
        })
        .collect();
    let spacing_mm = std::array::from_fn(|k| {
        spacings.sort_by(|a, b| a[k].total_cmp(&b[k]));
        spacings[spacings.len() / 2][k]
    });
    // Direction column n is index axis n in LPS; row 0 is the left-right component.
    let d = first.image.geometry().direction();
    let (n, cos) =
        (0..3).map(|n| (n, d[0][n].abs())).max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, 0.0));
    let left_right_axis = (cos >= 30f64.to_radians().cos()).then_some(2 - n);
    Ok(Fingerprint {
        spacing_mm,
        shapes: cases.iter().map(|c| c.image.shape()).collect(),
        left_right_axis,
    })
}

/// Fills what the file left unset from the plan of `cases` (when `plan = true`).
pub fn apply_plan(cfg: &mut SegmentConfig, cases: &[Sample]) -> Result<Option<Plan>> {
    if !cfg.plan {
        return Ok(None);
    }
    let given = cfg.given.clone();
    let forced = given.spatial_dims.then_some(cfg.train.model.spatial_dims);
    let plan = hounsfield_nn::plan::plan(&fingerprint(cases)?, forced)?;
    let t = &mut cfg.train;
    if !given.patch {
        t.patch = plan.patch;
    }
    if !given.batch_size {
        t.batch_size = plan.batch_size;
    }
    if !given.slice_axis {
        t.slice_axis = plan.slice_axis;
    }
    t.model.spatial_dims = plan.spatial_dims;
    if !given.channels {
        t.model.channels = plan.channels.clone();
    }
    if !given.augment {
        t.augment = AugmentConfig::planned();
    } // else `read` filled the keys the file left out from the planned ones.
    if !given.flip {
        t.augment.flip = plan.mirror;
    }
    Ok(Some(plan))
}

/// What `segment plan` shows: the plan and the configuration it leads to.
#[derive(Clone, Debug, Serialize)]
pub struct PlanSummary {
    /// The data's fingerprint.
    pub fingerprint: Fingerprint,
    /// The derived plan (`None` without `plan = true`).
    pub plan: Option<Plan>,
    /// The keys the file set itself.
    pub given: Given,
    /// The training configuration that `segment train` would use.
    pub train: TrainConfig,
}

impl fmt::Display for PlanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fp = &self.fingerprint;
        writeln!(f, "cases:        {:?} (z, y, x) voxels", fp.shapes)?;
        writeln!(f, "spacing:      {:?} mm", fp.spacing_mm)?;
        match fp.left_right_axis {
            Some(a) => writeln!(f, "left-right:   array axis {}", ["z", "y", "x"][a])?,
            None => writeln!(f, "left-right:   unknown (oblique or unlabelled orientation)")?,
        }
        match &self.plan {
            Some(p) => {
                for r in &p.reasons {
                    writeln!(f, "plan:         {r}")?;
                }
            }
            None => writeln!(f, "plan:         off (set plan = true to derive the unset keys)")?,
        }
        let t = &self.train;
        let from = |given: bool| {
            if given {
                "file"
            } else if self.plan.is_some() {
                "plan"
            } else {
                "default"
            }
        };
        writeln!(
            f,
            "network:      {}D, channels {:?} ({})",
            t.model.spatial_dims,
            t.model.channels,
            from(self.given.channels)
        )?;
        if t.model.spatial_dims == 2 {
            let axis = ["z", "y", "x"].get(t.slice_axis).copied().unwrap_or("?");
            writeln!(
                f,
                "slices:       across array axis {axis} ({})",
                from(self.given.slice_axis)
            )?;
        }
        writeln!(f, "patch:        {:?} ({})", t.patch, from(self.given.patch))?;
        writeln!(f, "batch:        {} ({})", t.batch_size, from(self.given.batch_size))?;
        writeln!(f, "mirror:       {:?} (z, y, x) ({})", t.augment.flip, from(self.given.flip))?;
        let a = &t.augment;
        writeln!(
            f,
            "augment:      affine {:.0}% (rotation {} deg, scale {}), elastic {:.0}%, gamma {:.0}%, blur {:.0}%, low resolution {:.0}% ({})",
            a.affine_probability * 100.0,
            a.max_rotation_deg,
            a.max_scale,
            a.elastic_probability * 100.0,
            a.gamma_probability * 100.0,
            a.blur_probability * 100.0,
            a.low_resolution_probability * 100.0,
            match (self.given.augment, self.plan.is_some()) {
                (true, true) => "file, the keys it leaves out planned",
                (given, _) => from(given),
            }
        )?;
        writeln!(f, "schedule:     {} steps, learning rate {}", t.steps, t.learning_rate)
    }
}

/// `segment plan`: the plan a configuration leads to, without training.
pub fn show_plan(config: &Path) -> Result<PlanSummary> {
    let mut cfg = SegmentConfig::read(config)?;
    let (train, _) = load_cases(&cfg.data).with_context(|| config.display().to_string())?;
    let fingerprint = fingerprint(&train)?;
    let plan = apply_plan(&mut cfg, &train)?;
    Ok(PlanSummary { fingerprint, plan, given: cfg.given.clone(), train: cfg.train })
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
    /// Dice per foreground class at the end (held-out cases that hold the class; null where
    /// none does), with the final model, half-overlapping windows and the post-processing.
    pub final_dice: Vec<Option<f64>>,
    /// The same before the post-processing.
    pub final_dice_raw: Vec<Option<f64>>,
    /// Classes whose small components are dropped, and below which fraction of the largest
    /// (decided on the training cases).
    pub component_filters: Vec<ComponentFilter>,
    /// Per foreground class on the held-out cases: name, Dice and HD95 where present.
    pub classes: Vec<ClassScore>,
    /// The classical baseline on the same held-out part.
    pub baseline: Option<Baseline>,
    /// The derived plan, when the configuration asked for one.
    pub plan: Option<Plan>,
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
        let list = |d: &[Option<f64>]| {
            let each =
                d.iter().map(|d| d.map_or_else(|| "absent".to_owned(), |d| format!("{d:.4}")));
            each.collect::<Vec<_>>().join(", ")
        };
        if !self.component_filters.is_empty() {
            let filters: Vec<String> = self
                .component_filters
                .iter()
                .map(|c| {
                    let name = self
                        .classes
                        .iter()
                        .find(|s| s.class == usize::from(c.class))
                        .map_or_else(|| format!("class {}", c.class), |s| s.name.clone());
                    match c.min_fraction {
                        f if f >= 1.0 => format!("{name}: largest component only"),
                        f => format!("{name}: components below {f} of the largest dropped"),
                    }
                })
                .collect();
            writeln!(
                f,
                "post:        {} (before: {})",
                filters.join("; "),
                list(&self.final_dice_raw)
            )?;
        }
        writeln!(
            f,
            "final Dice:  {} (per foreground class, held-out cases)",
            list(&self.final_dice)
        )?;
        if self.classes.len() > 1 {
            for c in &self.classes {
                match (c.dice, c.hd95_mm) {
                    (Some(d), Some(h)) => {
                        writeln!(f, "  {:<12} Dice {d:.4}, HD95 {h:.1} mm", c.name)?;
                    }
                    (Some(d), None) => {
                        writeln!(f, "  {:<12} Dice {d:.4} (nothing predicted)", c.name)?
                    }
                    _ => writeln!(f, "  {:<12} absent from the held-out cases", c.name)?,
                }
            }
        }
        if let Some(b) = &self.baseline {
            writeln!(
                f,
                "baseline:    {} Dice {:.4} ({}) on the same held-out part",
                b.method, b.dice, b.class_name
            )?;
        }
        Ok(())
    }
}

/// Trains as configured; `on_event` sees every step and validation (progress bars).
pub fn train(config: &Path, resume: bool, on_event: impl FnMut(&Event)) -> Result<TrainSummary> {
    let mut cfg = SegmentConfig::read(config)?;
    if let Some(dir) = cfg.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    hounsfield_core::fs::check_writable(&cfg.output)?;
    let (train, validation) =
        load_cases(&cfg.data).with_context(|| config.display().to_string())?;
    // Before training, so that a baseline that cannot run fails in seconds, not after it.
    let baseline = crate::segment_data::baseline(&cfg.data)?;
    let plan = apply_plan(&mut cfg, &train)?;
    let mut trainer = if resume {
        Trainer::resume(cfg.train.clone(), &cfg.output)
            .with_context(|| format!("resuming from {}", cfg.output.display()))?
    } else {
        Trainer::new(cfg.train.clone())?
    };
    if let Some(p) = &plan {
        trainer.set_metadata("hounsfield.plan", serde_json::to_string(p)?);
    }
    if !cfg.data.classes.is_empty() {
        trainer.set_metadata(CLASSES_KEY, serde_json::to_string(&cfg.data.classes)?);
    }
    if !resume {
        let spacing = cfg.data.spacing_mm.or_else(|| common_spacing(&train));
        trainer.model_mut().info.spacing_mm = spacing;
    }
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
    // nnU-Net's post-processing: a class keeps only its largest component when that raises
    // its Dice. Decided on the training cases, so the held-out score stays unseen.
    let component_filters = choose_component_filters(trainer.model(), &train, &cfg.data.classes)?;
    if !component_filters.is_empty() {
        trainer.model_mut().info.component_filters = component_filters.clone();
        trainer.save(&cfg.output)?;
    }
    let held_out = held_out_scores(trainer.model(), &validation, &cfg.data.classes)?;
    Ok(TrainSummary {
        final_dice_raw: held_out.raw,
        final_dice: held_out.post,
        classes: held_out.classes,
        component_filters,
        baseline,
        plan,
        output: cfg.output,
        train_voxels: train.iter().map(|s| s.image.len()).sum(),
        validation_voxels: validation.iter().map(|s| s.image.len()).sum(),
        steps: report.steps,
        seconds: report.seconds,
        final_loss: report.final_loss,
        validation: report.validation,
    })
}

/// The voxel size all `cases` share (within 0.1%), if they do.
fn common_spacing(cases: &[Sample]) -> Option<[f64; 3]> {
    let first = cases.first()?.image.geometry().spacing();
    cases
        .iter()
        .all(|c| {
            let s = c.image.geometry().spacing();
            (0..3).all(|k| (s[k] - first[k]).abs() <= 1e-3 * first[k])
        })
        .then_some(first)
}

/// Labels with half-overlapping windows, before post-processing (case already normalised).
fn raw_labels(model: &SegmentationModel, case: &Sample) -> Result<Volume<u8>> {
    Ok(model.raw_labels(&case.image, &model.default_options())?)
}

/// Held-out scores of one foreground class, after the post-processing.
#[derive(Clone, Debug, Serialize)]
pub struct ClassScore {
    /// The class (1-based).
    pub class: usize,
    /// Its name (`data.classes`), or `class N`.
    pub name: String,
    /// Mean Dice over the held-out cases that contain the class; `None` when none does.
    pub dice: Option<f64>,
    /// Mean 95th-percentile Hausdorff distance (mm, MONAI's definition) over the cases where
    /// both the reference and the prediction contain the class.
    pub hd95_mm: Option<f64>,
    /// Voxels of the class in the held-out references.
    pub reference_voxels: usize,
    /// Voxels predicted as the class there.
    pub predicted_voxels: usize,
}

/// What the held-out cases say about a model.
struct HeldOut {
    /// Mean Dice per foreground class after the post-processing, over the cases holding the
    /// class (`None`: no case does).
    post: Vec<Option<f64>>,
    /// The same before it.
    raw: Vec<Option<f64>>,
    /// Per class, with names and distances.
    classes: Vec<ClassScore>,
}

/// Scores the model on `cases` (already normalised): Dice before and after the
/// post-processing, and per class its Dice and HD95 where present.
fn held_out_scores(
    model: &SegmentationModel,
    cases: &[Sample],
    names: &[ClassGroup],
) -> Result<HeldOut> {
    let classes = model.info.unet.out_channels.saturating_sub(1);
    if cases.is_empty() {
        return Ok(HeldOut { post: Vec::new(), raw: Vec::new(), classes: Vec::new() });
    }
    let (mut post, mut raw) = (vec![0.0; classes], vec![0.0; classes]);
    let mut scores: Vec<ClassScore> = (1..=classes)
        .map(|c| ClassScore {
            class: c,
            name: class_name(names, c),
            dice: None,
            hd95_mm: None,
            reference_voxels: 0,
            predicted_voxels: 0,
        })
        .collect();
    let (mut dice_sum, mut dice_n) = (vec![0.0; classes], vec![0usize; classes]);
    let (mut hd_sum, mut hd_n) = (vec![0.0; classes], vec![0usize; classes]);
    for s in cases {
        let before = raw_labels(model, s)?;
        let after = post_process(before.clone(), &model.info)?;
        for c in 0..classes {
            let class = (c + 1) as u8;
            let d = dice(after.as_slice(), s.label.as_slice(), class);
            let truth = s.label.map(|l| u8::from(l == class));
            let ours = after.map(|l| u8::from(l == class));
            let (n_truth, n_ours) = (count(&truth), count(&ours));
            scores[c].reference_voxels += n_truth;
            scores[c].predicted_voxels += n_ours;
            if n_truth > 0 {
                raw[c] += dice(before.as_slice(), s.label.as_slice(), class);
                post[c] += d;
                dice_sum[c] += d;
                dice_n[c] += 1;
                if n_ours > 0 {
                    hd_sum[c] += hounsfield_core::metrics::hausdorff95(&truth, &ours)?;
                    hd_n[c] += 1;
                }
            }
        }
    }
    for (c, score) in scores.iter_mut().enumerate() {
        score.dice = (dice_n[c] > 0).then(|| dice_sum[c] / dice_n[c] as f64);
        score.hd95_mm = (hd_n[c] > 0).then(|| hd_sum[c] / hd_n[c] as f64);
    }
    // Means over the cases that hold the class: where it is absent, Dice says nothing (it is 1
    // for an empty prediction and 0 for any voxel).
    let mean =
        |v: Vec<f64>| v.iter().zip(&dice_n).map(|(s, &n)| (n > 0).then(|| s / n as f64)).collect();
    Ok(HeldOut { post: mean(post), raw: mean(raw), classes: scores })
}

fn count(mask: &Volume<u8>) -> usize {
    mask.as_slice().iter().filter(|&&v| v != 0).count()
}

/// The fractions of its largest component a class's components are held to when training
/// chooses, from the most removal to the least (1: the largest alone, nnU-Net's choice, which
/// wins ties).
const MIN_FRACTIONS: [f64; 3] = [1.0, 0.3, 0.1];

/// For each foreground class, its component filter: the one `data.classes` states for it
/// (`min_component_fraction`, or none when it is 0), else the one that raises its Dice on
/// `cases` most, if any does. The training cases cannot tell a one-part organ from a two-part
/// one whose parts meet in them (the lungs at the carina): that is the class's to state.
fn choose_component_filters(
    model: &SegmentationModel,
    cases: &[Sample],
    groups: &[ClassGroup],
) -> Result<Vec<ComponentFilter>> {
    let classes = model.info.unet.out_channels.saturating_sub(1);
    let predictions: Vec<Volume<u8>> =
        cases.iter().map(|s| raw_labels(model, s)).collect::<Result<_>>()?;
    let mut chosen = Vec::new();
    for class in (1..=classes).map(|c| c as u8) {
        if let Some(stated) =
            groups.get(usize::from(class) - 1).and_then(|g| g.min_component_fraction)
        {
            if stated > 0.0 {
                chosen.push(ComponentFilter { class, min_fraction: stated });
            }
            continue;
        }
        let score = |filter: Option<ComponentFilter>| -> Result<f64> {
            let mut sum = 0.0;
            for (p, s) in predictions.iter().zip(cases) {
                let kept = match filter {
                    Some(f) => filter_components(p.clone(), &[f])?,
                    None => p.clone(),
                };
                sum += dice(kept.as_slice(), s.label.as_slice(), class);
            }
            Ok(sum)
        };
        let mut best = (score(None)?, None);
        for min_fraction in MIN_FRACTIONS {
            let filter = ComponentFilter { class, min_fraction };
            let d = score(Some(filter))?;
            if d > best.0 + 1e-6 {
                best = (d, Some(filter));
            }
        }
        chosen.extend(best.1);
    }
    Ok(chosen)
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
    /// The model's voxel size (x, y, z; mm) the input was resampled to, if it differed.
    pub resampled_to_mm: Option<[f64; 3]>,
}

impl fmt::Display for PredictSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote:   {}", self.output.display())?;
        writeln!(f, "voxels:  {:?} per class", self.voxels_per_class)?;
        if let Some(s) = self.resampled_to_mm {
            writeln!(f, "spacing: resampled to the model's {s:?} mm and back")?;
        }
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
    let model_path = model;
    let (model, _, metadata) = SegmentationModel::load(model)?;
    // A model trained on grouped labels groups the reference the same way.
    let groups: Vec<ClassGroup> = match metadata.get(CLASSES_KEY) {
        Some(text) => serde_json::from_str(text)
            .with_context(|| format!("{}: bad {CLASSES_KEY} metadata", model_path.display()))?,
        None => Vec::new(),
    };
    if let (Some((_, Some(_))), false) = (&opts.reference, groups.is_empty()) {
        bail!(
            "{}: the model's classes are groups of label values ({}); give the raw labels without --label-threshold",
            model_path.display(),
            groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
        );
    }
    let image = read_f32(input)?;
    let start = std::time::Instant::now();
    let mut infer = model.default_options();
    infer.overlap = opts.overlap;
    infer.flip_tta = opts.tta;
    // An input of another voxel size is resampled to the model's (linear, smoothed first
    // when coarser), and the probabilities back onto the input's grid (linear).
    let resampled_to = model.info.spacing_mm.filter(|s| {
        let own = image.geometry().spacing();
        (0..3).any(|k| (own[k] - s[k]).abs() > 1e-3 * s[k])
    });
    let probs = probabilities_at(&model, &image, &infer, resampled_to)
        .with_context(|| format!("segmenting {}", input.display()))?;
    let classes = probs.len();
    let flat: Vec<f32> = probs.iter().flat_map(|p| p.as_slice().iter().copied()).collect();
    let labels =
        hounsfield_nn::infer::argmax(&flat, classes, image.shape(), image.geometry().clone())?;
    let labels = post_process(labels, &model.info)?;
    let seconds = start.elapsed().as_secs_f64();
    let mut voxels_per_class = vec![0usize; classes];
    // The reference is read and put on the input's grid before anything is written.
    let dice = match &opts.reference {
        Some((path, threshold)) => {
            let reference = group_labels(read_labels(path, *threshold)?, &groups);
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

    Ok(PredictSummary {
        output: output.to_path_buf(),
        voxels_per_class,
        dice,
        seconds,
        resampled_to_mm: resampled_to,
    })
}

/// Class probabilities on `image`'s grid, computed at voxel size `spacing` when given: the image
/// is resampled to it (linear, smoothed first where coarser) and each probability map back
/// onto the image's grid (linear).
fn probabilities_at(
    model: &SegmentationModel,
    image: &Volume<f32>,
    infer: &hounsfield_nn::infer::InferOptions,
    spacing: Option<[f64; 3]>,
) -> Result<Vec<Volume<f32>>> {
    use hounsfield_filter::{ResampleOptions, resample};
    let Some(spacing) = spacing else {
        return Ok(model.probabilities(image, infer)?);
    };
    let smoothed = ResampleOptions::default().with_antialias(true);
    let at_model = resample::resample_to_spacing(image, spacing, &smoothed)?;
    let probs = model.probabilities(&at_model, infer)?;
    probs
        .iter()
        .map(|p| {
            let back = resample::resample(
                p,
                image.geometry(),
                image.size_xyz(),
                &ResampleOptions::default(),
            )?;
            Ok(back)
        })
        .collect()
}

/// The post-processing a model's file names: largest components (older files), then the
/// component filters.
pub fn post_process(labels: Volume<u8>, info: &hounsfield_nn::ModelInfo) -> Result<Volume<u8>> {
    filter_components(keep_largest_components(labels, &info.keep_largest)?, &info.component_filters)
}

/// Drops, for each filter's class, the 26-connected components with fewer voxels than
/// `min_fraction` of the class's largest component; other classes are untouched.
pub fn filter_components(
    mut labels: Volume<u8>,
    filters: &[ComponentFilter],
) -> Result<Volume<u8>> {
    use hounsfield_filter::label::{Connectivity, label};
    for f in filters.iter().filter(|f| f.class > 0) {
        let mask = labels.map(|l| u8::from(l == f.class));
        let components = label(&mask, Connectivity::TwentySix)?;
        let mut size = vec![0usize; components.count as usize + 1];
        components.volume.as_slice().iter().for_each(|&c| size[c as usize] += 1);
        let largest = size.iter().skip(1).copied().max().unwrap_or(0);
        let keep: Vec<bool> =
            size.iter().map(|&n| n as f64 >= f.min_fraction * largest as f64).collect();
        for (l, &c) in labels.as_slice_mut().iter_mut().zip(components.volume.as_slice()) {
            if *l == f.class && !keep[c as usize] {
                *l = 0;
            }
        }
    }
    Ok(labels)
}

/// Keeps, for each class in `classes`, only its largest 26-connected component; the voxels of
/// its other components become background. Other classes are untouched.
pub fn keep_largest_components(mut labels: Volume<u8>, classes: &[u8]) -> Result<Volume<u8>> {
    use hounsfield_filter::label::{Connectivity, keep_largest};
    for &class in classes.iter().filter(|&&c| c > 0) {
        let mask = labels.map(|l| u8::from(l == class));
        let largest = keep_largest(&mask, Connectivity::TwentySix)?;
        for (l, keep) in labels.as_slice_mut().iter_mut().zip(largest.as_slice()) {
            if *l == class && *keep == 0 {
                *l = 0;
            }
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use hounsfield_core::Geometry;

    use super::*;

    #[test]
    fn keep_largest_drops_the_smaller_pieces_of_the_chosen_classes_only() {
        // Class 1: pieces of 3 and 1 voxels; class 2: pieces of 1 and 2 (left alone).
        let row = [1u8, 1, 1, 0, 1, 0, 2, 0, 2, 2];
        let v = Volume::from_vec([1, 1, 10], row.to_vec(), Geometry::default()).unwrap();
        let out = keep_largest_components(v, &[1]).unwrap();
        assert_eq!(out.as_slice(), [1, 1, 1, 0, 0, 0, 2, 0, 2, 2]);
    }

    #[test]
    fn component_filters_drop_pieces_below_a_fraction_of_the_largest() {
        // Class 1: pieces of 4, 3 and 1 voxels; class 2: pieces of 1 and 2 (left alone).
        let row = [1u8, 1, 1, 1, 0, 1, 1, 1, 0, 1, 0, 2, 0, 2, 2];
        let v = Volume::from_vec([1, 1, 15], row.to_vec(), Geometry::default()).unwrap();
        let filter = |min_fraction| [ComponentFilter { class: 1, min_fraction }];
        // 0.5 of 4 = 2 voxels: the pieces of 4 and 3 stay (two lungs), the single one goes.
        let out = filter_components(v.clone(), &filter(0.5)).unwrap();
        assert_eq!(out.as_slice(), [1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 2, 0, 2, 2]);
        // 1.0: the largest alone, as keep_largest_components.
        let out = filter_components(v.clone(), &filter(1.0)).unwrap();
        assert_eq!(out.as_slice(), keep_largest_components(v, &[1]).unwrap().as_slice());
    }
}
