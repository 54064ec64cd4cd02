//! The cases of a `segment train` configuration: image/label files, one volume split in two
//! along an axis with a gap, or generated volumes; label values grouped into the network's
//! classes; every case resampled to one voxel size; and the classical baselines scored on the
//! same held-out part.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::Volume;
use hounsfield_filter::{Interpolation, ResampleOptions, resample};
use hounsfield_nn::data::{Sample, split_halves};
use hounsfield_nn::synthetic::{SyntheticConfig, generate};
use hounsfield_nn::train::dice;
use serde::{Deserialize, Serialize};

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
    /// The network's classes as groups of the files' label values (class k + 1 is the k-th
    /// group; values in no group are background), e.g. the five lung lobes as one `lungs`.
    /// Empty: the label values are the classes.
    pub classes: Vec<ClassGroup>,
    /// The voxel size (x, y, z; mm) every case is resampled to before anything else: images
    /// linear (smoothed first where coarser), labels nearest. The model records it, and
    /// `segment predict` resamples its input to it and the result back.
    pub spacing_mm: Option<[f64; 3]>,
    /// Split the first image/label in two: one part trains, the other validates.
    pub split: Option<Split>,
    /// A classical method scored on the same held-out part of a split: `"brain_mask"` (the
    /// Otsu/erosion/largest-component mask of `hounsfield demo --mri`) or `"lung_mask"` (air
    /// threshold and components of a CT in HU, [`hounsfield_filter::lung`]); computed on the
    /// whole image at its own voxel size, then put on the cases' grid. It is scored against
    /// the class named `brain` or `lungs` when `classes` names one, else class 1.
    pub baseline: Option<String>,
    /// Generated volumes instead of files.
    pub synthetic: Option<Synthetic>,
}

/// One class of the network and the label values of the files that make it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClassGroup {
    /// What the class is (`lungs`, `vertebrae`...).
    pub name: String,
    /// The label values it gathers (1..=255).
    pub labels: Vec<u8>,
    /// Post-processing stated for the class rather than chosen by training: its connected
    /// components smaller than this fraction of its largest are dropped (1: the largest alone;
    /// 0: none dropped). For an organ in two parts that may meet (lungs: 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_component_fraction: Option<f64>,
}

/// The model file's metadata key for the class groups, so that `segment predict` groups a
/// reference the same way.
pub const CLASSES_KEY: &str = "hounsfield.classes";

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

impl DataConfig {
    /// Checks the class groups (named, distinct names, each value in one group, no value 0)
    /// and the spacing.
    pub fn check(&self) -> Result<()> {
        let mut owner = [None::<&str>; 256];
        for (k, group) in self.classes.iter().enumerate() {
            if group.name.trim().is_empty() || group.labels.is_empty() {
                bail!("data.classes[{k}]: a class needs a name and at least one label value");
            }
            if self.classes[..k].iter().any(|g| g.name == group.name) {
                bail!("data.classes: the name {:?} is used twice", group.name);
            }
            if let Some(f) = group.min_component_fraction.filter(|f| !(0.0..=1.0).contains(f)) {
                bail!(
                    "data.classes[{k}] ({}): min_component_fraction {f} is not in [0, 1]",
                    group.name
                );
            }
            for &v in &group.labels {
                if v == 0 {
                    bail!("data.classes[{k}] ({}): 0 is the background", group.name);
                }
                if let Some(other) = owner[usize::from(v)].replace(&group.name) {
                    bail!("data.classes: label {v} is in both {other:?} and {:?}", group.name);
                }
            }
        }
        if let Some(s) = self.spacing_mm.filter(|s| !s.iter().all(|v| v.is_finite() && *v > 0.0)) {
            bail!("data.spacing_mm must be three finite sizes > 0 mm, found {s:?}");
        }
        if let Some(split) = &self.split
            && !(split.gap_mm.is_finite() && split.gap_mm >= 0.0)
        {
            bail!("data.split.gap_mm must be finite and >= 0 mm, found {}", split.gap_mm);
        }
        if self.baseline.is_some() {
            self.baseline_class()?;
        }
        if !self.classes.is_empty() && self.label_threshold.is_some() {
            bail!("data.classes groups integer labels; it cannot be combined with label_threshold");
        }
        Ok(())
    }

    /// The baseline's method and the class it is scored against: the class named `brain` or
    /// `lungs` when `classes` names the network's classes, class 1 of a binary task otherwise.
    fn baseline_class(&self) -> Result<(&str, usize)> {
        let method = self.baseline.as_deref().unwrap_or_default();
        let wanted = match method {
            "brain_mask" => "brain",
            "lung_mask" => "lungs",
            other => bail!("unknown data.baseline {other:?} (known: brain_mask, lung_mask)"),
        };
        if self.classes.is_empty() {
            return Ok((method, 1));
        }
        match self.classes.iter().position(|g| g.name == wanted) {
            Some(k) => Ok((method, k + 1)),
            None => bail!(
                "data.baseline {method:?} is scored against the class named {wanted:?}, which data.classes does not name"
            ),
        }
    }

    /// The name of class `class` (1-based), or `class N`.
    pub fn class_name(&self, class: usize) -> String {
        class_name(&self.classes, class)
    }
}

/// The name of class `class` (1-based) under `classes`, or `class N`.
pub fn class_name(classes: &[ClassGroup], class: usize) -> String {
    class
        .checked_sub(1)
        .and_then(|k| classes.get(k))
        .map_or_else(|| format!("class {class}"), |g| g.name.clone())
}

/// Label values become class indices under `classes` (values in no group: 0); unchanged when
/// `classes` is empty.
pub fn group_labels(labels: Volume<u8>, classes: &[ClassGroup]) -> Volume<u8> {
    if classes.is_empty() {
        return labels;
    }
    let mut lookup = [0u8; 256];
    for (k, group) in classes.iter().enumerate() {
        for &v in &group.labels {
            lookup[usize::from(v)] = (k + 1) as u8;
        }
    }
    labels.map(|v| lookup[usize::from(v)])
}

pub(crate) fn read_f32(path: &Path) -> Result<Volume<f32>> {
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
            "{}: label value {bad} is not an integer in 0..=255 (a mask or probability map needs a threshold: data.label_threshold, or --label-threshold)",
            path.display()
        );
    }
    Ok(v.map(|x| x as u8))
}

/// `image` and `labels` on the grid of voxel size `spacing` (image linear with smoothing where
/// coarser, labels nearest), or as they are when `spacing` is `None`.
fn on_spacing(
    image: Volume<f32>,
    labels: Volume<u8>,
    spacing: Option<[f64; 3]>,
) -> Result<(Volume<f32>, Volume<u8>)> {
    let Some(spacing) = spacing else { return Ok((image, labels)) };
    let smooth = ResampleOptions::default().with_antialias(true);
    let image = resample::resample_to_spacing(&image, spacing, &smooth)?;
    Ok((image, labels_on_spacing(&labels, spacing)?))
}

fn labels_on_spacing(labels: &Volume<u8>, spacing: [f64; 3]) -> Result<Volume<u8>> {
    let nearest = ResampleOptions::default().with_interpolation(Interpolation::Nearest);
    Ok(resample::resample_to_spacing(labels, spacing, &nearest)?.map(|v| v as u8))
}

/// One case as the network sees it: labels grouped into classes, both on the configured grid.
fn read_case(data: &DataConfig, image: &Path, labels: &Path) -> Result<Sample> {
    let context = || format!("{} and {}", image.display(), labels.display());
    let labels = group_labels(read_labels(labels, data.label_threshold)?, &data.classes);
    let (image, labels) = on_spacing(read_f32(image)?, labels, data.spacing_mm)
        .with_context(|| format!("resampling {}", context()))?;
    Sample::new(image, labels).with_context(context)
}

fn read_cases(data: &DataConfig, images: &[PathBuf], labels: &[PathBuf]) -> Result<Vec<Sample>> {
    if images.len() != labels.len() {
        bail!("{} images but {} labels", images.len(), labels.len());
    }
    images.iter().zip(labels).map(|(i, l)| read_case(data, i, l)).collect()
}

/// The training and validation cases a configuration names (images not yet normalised).
pub fn load_cases(data: &DataConfig) -> Result<(Vec<Sample>, Vec<Sample>)> {
    data.check()?;
    if let Some(s) = &data.synthetic {
        if s.train == 0 {
            bail!("data.synthetic.train must be at least 1");
        }
        let cfg = SyntheticConfig { size: s.size, ..Default::default() };
        let make = |range: std::ops::Range<u64>| -> Result<Vec<Sample>> {
            range
                .map(|i| {
                    let Sample { image, label } = generate(&cfg, s.seed + i)?;
                    let (image, label) =
                        on_spacing(image, group_labels(label, &data.classes), data.spacing_mm)?;
                    Ok(Sample::new(image, label)?)
                })
                .collect()
        };
        let n = s.train as u64;
        return Ok((make(0..n)?, make(1_000_000..1_000_000 + s.validation as u64)?));
    }
    if data.images.is_empty() {
        bail!("data names no images (images/labels, or synthetic)");
    }
    let train = read_cases(data, &data.images, &data.labels)?;
    let validation = read_cases(data, &data.validation_images, &data.validation_labels)?;
    let (train, validation) = match &data.split {
        None => (train, validation),
        Some(split) => {
            let first = &train[0];
            let (train_image, held_out_image) = split_parts(split, &first.image)?;
            let (train_label, held_out_label) = split_parts(split, &first.label)?;
            let train_sample = Sample::new(train_image, train_label)?;
            let held_out_sample = Sample::new(held_out_image, held_out_label)?;
            (vec![train_sample], vec![held_out_sample])
        }
    };
    check_every_class_is_seen(&data.classes, &train)?;
    Ok((train, validation))
}

/// A named class without a voxel in the training cases cannot be learned: refused, naming it.
fn check_every_class_is_seen(classes: &[ClassGroup], train: &[Sample]) -> Result<()> {
    let mut seen = [false; 256];
    for s in train {
        s.label.as_slice().iter().for_each(|&l| seen[usize::from(l)] = true);
    }
    match classes.iter().enumerate().find(|(k, _)| !seen[k + 1]) {
        Some((_, g)) => bail!(
            "data.classes: {:?} (labels {:?}) has no voxel in the training cases, so it cannot be learned",
            g.name,
            g.labels
        ),
        None => Ok(()),
    }
}

/// The training part and the held-out part of a volume under `split`.
fn split_parts<T: hounsfield_core::Element>(
    split: &Split,
    volume: &Volume<T>,
) -> Result<(Volume<T>, Volume<T>)> {
    let axis = match split.axis.as_str() {
        "z" => 0,
        "y" => 1,
        "x" => 2,
        other => bail!("split axis must be x, y or z, not {other:?}"),
    };
    let spacing = volume.geometry().spacing()[2 - axis];
    let gap = (split.gap_mm / spacing).round() as usize;
    let (lo, hi) = split_halves(volume, axis, split.fraction, gap)?;
    match split.train.as_str() {
        "low" => Ok((lo, hi)),
        "high" => Ok((hi, lo)),
        other => bail!("split.train must be low or high, not {other:?}"),
    }
}

/// A classical method's score on the held-out part of a split (see `DataConfig::baseline`).
#[derive(Clone, Debug, Serialize)]
pub struct Baseline {
    /// The method (`brain_mask`, `lung_mask`).
    pub method: String,
    /// The class it is scored against (1-based) and its name.
    pub class: usize,
    /// See `class`.
    pub class_name: String,
    /// Dice on the held-out part.
    pub dice: f64,
}

/// Scores the configured baseline, if any.
pub fn baseline(data: &DataConfig) -> Result<Option<Baseline>> {
    let Some(method) = &data.baseline else { return Ok(None) };
    let (Some(split), Some(image_path), Some(label_path)) =
        (&data.split, data.images.first(), data.labels.first())
    else {
        bail!("data.baseline needs a split of one image and its labels");
    };
    let (_, class) = data.baseline_class()?;
    let mask = {
        let image = read_f32(image_path)?;
        let context = || format!("{method} of {}", image_path.display());
        match method.as_str() {
            "brain_mask" => {
                hounsfield_filter::brain::brain_mask(&image, 5.0).with_context(context)?.mask
            }
            _ => hounsfield_filter::lung::lung_mask(&image).with_context(context)?,
        }
    };
    let labels = group_labels(read_labels(label_path, data.label_threshold)?, &data.classes)
        .map(|v| u8::from(usize::from(v) == class));
    let (mask, labels) = match data.spacing_mm {
        Some(s) => (labels_on_spacing(&mask, s)?, labels_on_spacing(&labels, s)?),
        None => (mask, labels),
    };
    let truth = split_parts(split, &labels)?.1;
    let ours = split_parts(split, &mask)?.1;
    Ok(Some(Baseline {
        method: method.clone(),
        class,
        class_name: data.class_name(class),
        dice: dice(ours.as_slice(), truth.as_slice(), 1),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;
    use hounsfield_core::Geometry;

    fn groups(spec: &[(&str, &[u8])]) -> DataConfig {
        let classes = spec
            .iter()
            .map(|(name, labels)| ClassGroup {
                name: name.to_string(),
                labels: labels.to_vec(),
                min_component_fraction: None,
            })
            .collect();
        DataConfig { classes, ..Default::default() }
    }

    #[test]
    fn label_values_are_grouped_into_classes_and_the_rest_is_background() {
        let data = groups(&[("lungs", &[10, 11, 12]), ("heart", &[51])]);
        data.check().unwrap();
        let labels =
            Volume::from_vec([1, 1, 6], vec![0, 10, 12, 51, 5, 11], Geometry::default()).unwrap();
        assert_eq!(group_labels(labels, &data.classes).as_slice(), &[0, 1, 1, 2, 0, 1]);
        assert_eq!(data.class_name(2), "heart");
        assert_eq!(data.class_name(3), "class 3");
    }

    #[test]
    fn overlapping_or_empty_groups_are_refused() {
        let both = groups(&[("a", &[1, 2]), ("b", &[2])]).check().unwrap_err();
        assert!(both.to_string().contains("label 2 is in both"), "{both}");
        let zero = groups(&[("a", &[0])]).check().unwrap_err();
        assert!(zero.to_string().contains("background"), "{zero}");
        let twice = groups(&[("a", &[1]), ("a", &[2])]).check().unwrap_err();
        assert!(twice.to_string().contains("used twice"), "{twice}");
        let empty = groups(&[("a", &[])]).check().unwrap_err();
        assert!(empty.to_string().contains("at least one"), "{empty}");
        let mut lungless = groups(&[("heart", &[51])]);
        lungless.baseline = Some("lung_mask".into());
        let err = lungless.check().unwrap_err().to_string();
        assert!(err.contains("\"lungs\", which data.classes does not name"), "{err}");
        lungless.baseline = Some("liver_mask".into());
        assert!(lungless.check().unwrap_err().to_string().contains("unknown data.baseline"));
        let split = Split { axis: "z".into(), fraction: 0.5, gap_mm: -10.0, train: "low".into() };
        let negative = DataConfig { split: Some(split), ..Default::default() };
        assert!(negative.check().unwrap_err().to_string().contains("gap_mm"));
        let flat = DataConfig { spacing_mm: Some([1.0, 0.0, 1.0]), ..Default::default() };
        assert!(flat.check().unwrap_err().to_string().contains("spacing_mm"));
    }
}
