//! A trained segmentation model as one unit: the network, how its input is normalised, the
//! window it was trained on, saved to and loaded from one safetensors file.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Tensor};
use candle_nn::{VarBuilder, VarMap};
use hounsfield_core::Volume;
use serde::{Deserialize, Serialize};

use crate::infer::{InferOptions, argmax, sliding_window};
use crate::unet::{UNet, UNetConfig, reinitialise};
use crate::{Error, Result, checkpoint, data};

/// Intensity normalisation applied to every input, in training and prediction alike.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Normalise {
    /// Values used as they are.
    None,
    /// Z-score over the voxels above `floor` (all voxels without one).
    ZScore {
        /// Voxels at or below it do not enter the statistics (e.g. 0 for skull-stripped air).
        floor: Option<f32>,
    },
}

/// What a checkpoint says about its network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The network's shape.
    pub unet: UNetConfig,
    /// Input normalisation.
    pub normalise: Normalise,
    /// Training patch = default inference window.
    pub window: [usize; 3],
    /// Optimiser steps taken.
    pub trained_steps: usize,
    /// Foreground classes (1-based) of which only the largest connected component is kept,
    /// as nnU-Net's post-processing decides it (`hounsfield segment train` decides it on the
    /// training cases; `segment predict` applies it).
    #[serde(default)]
    pub keep_largest: Vec<u8>,
    /// Foreground classes whose connected components smaller than a fraction of their largest
    /// are dropped (1.0: only the largest is kept), as `hounsfield segment train` chooses on
    /// the training cases; applied by `segment predict` after [`ModelInfo::keep_largest`]
    /// (which files from before this field use instead).
    #[serde(default)]
    pub component_filters: Vec<ComponentFilter>,
    /// Axes (z, y, x) along which training mirrored patches: the ones test-time augmentation
    /// may mirror. Files from before this field: every axis.
    #[serde(default = "all_axes")]
    pub mirrored: [bool; 3],
    /// The array axis (0, 1, 2 = z, y, x) a 2D network's slices are cut across: the volume is
    /// turned so that this axis comes first, and the labels turned back. 0 (axial for most
    /// scans) in files from before this field.
    #[serde(default)]
    pub slice_axis: usize,
    /// Voxel size (x, y, z; mm) of the training cases when they shared one: `segment predict`
    /// resamples an input of another spacing to it and the probabilities back, as nnU-Net does.
    #[serde(default)]
    pub spacing_mm: Option<[f64; 3]>,
}

/// Post-processing of one class: its connected components with fewer voxels than
/// `min_fraction` of its largest one's become background.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ComponentFilter {
    /// The foreground class (1-based).
    pub class: u8,
    /// The fraction of the largest component's voxels a component needs to stay, in (0, 1].
    pub min_fraction: f64,
}

fn all_axes() -> [bool; 3] {
    [true; 3]
}

/// Tensors of a checkpoint that are not the network's (optimiser state), by name.
pub type Extras = HashMap<String, Tensor>;

const INFO_KEY: &str = "hounsfield.model";

/// A network with its parameters and [`ModelInfo`].
pub struct SegmentationModel {
    /// Metadata saved with the parameters.
    pub info: ModelInfo,
    varmap: VarMap,
    net: UNet,
}

impl std::fmt::Debug for SegmentationModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentationModel").field("info", &self.info).finish_non_exhaustive()
    }
}

impl SegmentationModel {
    /// A freshly initialised `f32` model (seeded).
    pub fn new(info: ModelInfo, seed: u64) -> Result<Self> {
        info.unet.validate().map_err(Error::Config)?;
        let (varmap, net) = UNet::initialised(&info.unet, DType::F32, seed)?;
        Ok(Self { info, varmap, net })
    }

    /// The network.
    pub fn net(&self) -> &UNet {
        &self.net
    }

    /// The parameters.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Parameters by name, sorted.
    pub fn named_tensors(&self) -> Vec<(String, Tensor)> {
        checkpoint::named_vars(&self.varmap)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect()
    }

    /// Writes parameters, `extra` tensors (optimiser state) and metadata, atomically.
    pub fn save(
        &self,
        path: &Path,
        extra: &[(String, Tensor)],
        mut metadata: HashMap<String, String>,
    ) -> Result<()> {
        let info = serde_json::to_string(&self.info).map_err(|e| Error::Config(e.to_string()))?;
        metadata.insert(INFO_KEY.into(), info);
        let mut tensors = self.named_tensors();
        tensors.extend_from_slice(extra);
        checkpoint::save(path, &tensors, &metadata)
    }

    /// Reads a model saved by [`SegmentationModel::save`]; returns the file's other tensors and
    /// metadata too (for resuming).
    pub fn load(path: &Path) -> Result<(Self, Extras, HashMap<String, String>)> {
        let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
        let (mut tensors, metadata) = checkpoint::load(path)?;
        let info: ModelInfo = metadata
            .get(INFO_KEY)
            .ok_or_else(|| fail("no hounsfield.model metadata (not a Hounsfield model)".into()))
            .and_then(|s| {
                serde_json::from_str(s).map_err(|e| fail(format!("bad model metadata: {e}")))
            })?;
        info.unet.validate().map_err(&fail)?;
        let varmap = VarMap::new();
        let net = UNet::new(
            VarBuilder::from_varmap(&varmap, DType::F32, &candle_core::Device::Cpu),
            &info.unet,
        )?;
        reinitialise(&varmap, info.unet.negative_slope, 0)?;
        checkpoint::restore_parameters(path, &varmap, &mut tensors)?;
        Ok((Self { info, varmap, net }, tensors, metadata))
    }

    /// The input as the network expects it (normalised).
    pub fn prepare(&self, image: &Volume<f32>) -> Result<Volume<f32>> {
        match self.info.normalise {
            // NaN would spread through every convolution into the whole prediction.
            Normalise::None => match image.as_slice().iter().position(|v| !v.is_finite()) {
                Some(i) => {
                    Err(Error::Config(format!("image holds a non-finite value at voxel {i}")))
                }
                None => Ok(image.clone()),
            },
            Normalise::ZScore { floor } => data::zscore(image, floor),
        }
    }

    /// The volume turned so that the slice axis comes first (a swap of two axes, so the same
    /// call turns it back); unchanged for slice axis 0.
    pub fn to_slicing<T: hounsfield_core::Element>(&self, volume: &Volume<T>) -> Result<Volume<T>> {
        match self.info.slice_axis {
            0 => Ok(volume.clone()),
            a @ (1 | 2) => {
                // Array axis a is index axis 2 - a; array axis 0 is index axis 2.
                let mut order = [0, 1, 2];
                order.swap(2, 2 - a);
                Ok(volume.permuted(order)?)
            }
            a => Err(Error::Config(format!("slice axis {a} is not 0, 1 or 2"))),
        }
    }

    /// A case turned to the slicing ([`Self::to_slicing`]), image and labels alike.
    pub fn sample_to_slicing(&self, sample: &data::Sample) -> Result<data::Sample> {
        data::Sample::new(self.to_slicing(&sample.image)?, self.to_slicing(&sample.label)?)
    }

    /// Class probabilities, one volume per class, on the image's grid.
    pub fn probabilities(
        &self,
        image: &Volume<f32>,
        opts: &InferOptions,
    ) -> Result<Vec<Volume<f32>>> {
        let prepared = self.to_slicing(&self.prepare(image)?)?;
        let probs = sliding_window(&self.net, &prepared, opts)?;
        probs
            .chunks(prepared.len())
            .map(|c| {
                let p =
                    Volume::from_vec(prepared.shape(), c.to_vec(), prepared.geometry().clone())?;
                self.back_from_slicing(&p, image)
            })
            .collect()
    }

    /// Labels of an already normalised image, before post-processing.
    pub fn raw_labels(&self, prepared: &Volume<f32>, opts: &InferOptions) -> Result<Volume<u8>> {
        let turned = self.to_slicing(prepared)?;
        let probs = sliding_window(&self.net, &turned, opts)?;
        let labels =
            argmax(&probs, self.info.unet.out_channels, turned.shape(), turned.geometry().clone())?;
        self.back_from_slicing(&labels, prepared)
    }

    /// A volume in the network's slicing turned back onto the grid of `original` (the turn is
    /// its own inverse; the geometry is the original's exactly).
    fn back_from_slicing<T: hounsfield_core::Element>(
        &self,
        turned: &Volume<T>,
        original: &Volume<f32>,
    ) -> Result<Volume<T>> {
        let back = self.to_slicing(turned)?;
        Ok(Volume::from_vec(
            original.shape(),
            back.as_slice().to_vec(),
            original.geometry().clone(),
        )?)
    }

    /// Labels (most probable class) on the image's grid, with the image's geometry: the
    /// network's own, before the post-processing its file names ([`ModelInfo::keep_largest`],
    /// which needs connected components: `hounsfield segment predict` applies it).
    pub fn predict(&self, image: &Volume<f32>, opts: &InferOptions) -> Result<Volume<u8>> {
        self.raw_labels(&self.prepare(image)?, opts)
    }

    /// Half-overlapping windows of the training patch size.
    pub fn default_options(&self) -> InferOptions {
        InferOptions { tta_axes: self.info.mirrored, ..InferOptions::new(self.info.window) }
    }
}
