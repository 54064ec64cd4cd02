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

    /// Class probabilities, one volume per class, on the image's grid.
    pub fn probabilities(
        &self,
        image: &Volume<f32>,
        opts: &InferOptions,
    ) -> Result<Vec<Volume<f32>>> {
        let prepared = self.prepare(image)?;
        let probs = sliding_window(&self.net, &prepared, opts)?;
        let n = image.len();
        probs
            .chunks(n)
            .map(|c| Ok(Volume::from_vec(image.shape(), c.to_vec(), image.geometry().clone())?))
            .collect()
    }

    /// Labels (most probable class) on the image's grid, with the image's geometry.
    pub fn predict(&self, image: &Volume<f32>, opts: &InferOptions) -> Result<Volume<u8>> {
        let prepared = self.prepare(image)?;
        let probs = sliding_window(&self.net, &prepared, opts)?;
        argmax(&probs, self.info.unet.out_channels, image.shape(), image.geometry().clone())
    }

    /// Half-overlapping windows of the training patch size.
    pub fn default_options(&self) -> InferOptions {
        InferOptions::new(self.info.window)
    }
}
