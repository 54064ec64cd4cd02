//! Learned reconstruction as one unit bound to a forward operator: FBPConvNet-style
//! post-processing (a U-Net adds a correction to FBP/FDK, Jin et al. 2017) or Learned
//! Primal-Dual (Adler & Öktem 2018); the training loss (image error, physics consistency,
//! smoothness); training steps; save and load as safetensors.
//!
//! The operator is `hounsfield_core::LinearOperator`, so this module knows nothing of CT
//! geometry: callers (`hounsfield ct learn`) build the projector and store what describes it in
//! the model file's context string.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use hounsfield_core::{LinearOperator, estimate_norm};
use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde::{Deserialize, Serialize};

use crate::loss::data_consistency;
use crate::lpd::{LearnedPrimalDual, LpdConfig};
use crate::optim::{AdamW, AdamWConfig, Schedule, clip_factor};
use crate::unet::{UNet, UNetConfig, reinitialise};
use crate::{Error, Result, checkpoint};

/// Which network reconstructs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Unknown keys are refused: `iterations = 0` beside `kind` instead of inside `lpd` was
// silently dropped, training the default network the user did not ask for.
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum Architecture {
    /// FBP (or FDK) followed by a U-Net whose output is added to it; 2D or 3D.
    PostProcessing {
        /// The U-Net (one input and one output channel).
        unet: UNetConfig,
    },
    /// Unrolled primal-dual iterations calling the operator; 2D operators.
    PrimalDual {
        /// Iterations and widths (default: the paper's).
        #[serde(default)]
        lpd: LpdConfig,
    },
}

impl Architecture {
    /// FBPConvNet at this workspace's CPU scale: a 2D or 3D U-Net of `channels` per level,
    /// convolutions with bias and LeakyReLU (no normalisation: the correction keeps the scale).
    pub fn post_processing(spatial_dims: usize, channels: Vec<usize>) -> Self {
        Self::PostProcessing {
            unet: UNetConfig {
                spatial_dims,
                out_channels: 1,
                channels,
                norm: crate::Norm::None,
                ..Default::default()
            },
        }
    }
}

/// Weights of the training loss's terms.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconLoss {
    /// Mean squared error against the true image (ignored for batches without one).
    pub image: f64,
    /// Physics consistency: the squared relative data residual `|A x - y|^2 / |y|^2` of the
    /// output (over the batch).
    pub physics: f64,
    /// Smoothness: mean absolute finite difference of the output (anisotropic TV).
    pub smoothness: f64,
}

impl Default for ReconLoss {
    fn default() -> Self {
        Self { image: 1.0, physics: 0.0, smoothness: 0.0 }
    }
}

/// One term per field, as numbers (for progress lines and reports).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct LossTerms {
    /// The weighted sum that was minimised.
    pub total: f64,
    /// Image MSE (0 without truth).
    pub image: f64,
    /// Squared relative data residual.
    pub physics: f64,
    /// Mean absolute finite difference.
    pub smoothness: f64,
}

/// Training examples stacked into tensors: sinograms `(N, range...)`, the analytic
/// reconstructions the post-processing network starts from `(N, domain...)`, and the true images
/// when known (self-supervised training has none).
#[derive(Clone, Debug)]
pub struct ReconBatch {
    /// True images, `(N, domain...)`.
    pub truth: Option<Tensor>,
    /// Measured data, `(N, range...)`.
    pub sinogram: Tensor,
    /// FBP/FDK images, `(N, domain...)`.
    pub prior: Tensor,
}

impl ReconBatch {
    /// Stacks flat `f32` items for `op`; `truth` is empty or one image per sinogram.
    pub fn new(
        op: &dyn LinearOperator,
        truth: &[&[f32]],
        sinograms: &[&[f32]],
        priors: &[&[f32]],
    ) -> Result<Self> {
        let n = sinograms.len();
        if n == 0 || priors.len() != n || !(truth.is_empty() || truth.len() == n) {
            return Err(Error::Config(format!(
                "a batch needs as many FBP images ({}) and true images ({}, or none) as sinograms ({n}), at least one",
                priors.len(),
                truth.len()
            )));
        }
        let stack = |items: &[&[f32]], shape: Vec<usize>| -> Result<Tensor> {
            let len: usize = shape.iter().product();
            if let Some(bad) = items.iter().position(|i| i.len() != len) {
                return Err(Error::Config(format!(
                    "batch item {bad} has {} values, the operator needs {shape:?}",
                    items[bad].len()
                )));
            }
            if items.iter().any(|i| i.iter().any(|v| !v.is_finite())) {
                return Err(Error::Config("batch holds a non-finite value".into()));
            }
            let mut dims = vec![items.len()];
            dims.extend(shape);
            Ok(Tensor::from_vec(items.concat(), dims, &Device::Cpu)?)
        };
        Ok(Self {
            truth: if truth.is_empty() { None } else { Some(stack(truth, op.domain_shape())?) },
            sinogram: stack(sinograms, op.range_shape())?,
            prior: stack(priors, op.domain_shape())?,
        })
    }
}

#[derive(Clone, Debug)]
enum Net {
    Unet(UNet),
    Lpd(LearnedPrimalDual),
}

/// What a model file records besides the parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ModelFile {
    architecture: Architecture,
    operator_norm: f64,
    domain: Vec<usize>,
    range: Vec<usize>,
    trained_steps: usize,
    context: String,
}

const INFO_KEY: &str = "hounsfield.recon";

/// A reconstruction network bound to its operator.
pub struct ReconModel {
    architecture: Architecture,
    op: Arc<dyn LinearOperator>,
    norm: f64,
    varmap: VarMap,
    net: Net,
    trained_steps: usize,
}

impl std::fmt::Debug for ReconModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconModel")
            .field("architecture", &self.architecture)
            .field("norm", &self.norm)
            .field("trained_steps", &self.trained_steps)
            .finish_non_exhaustive()
    }
}

impl ReconModel {
    /// A fresh, seeded network for `op` (its norm estimated by 50 power iterations).
    pub fn new(architecture: Architecture, op: Arc<dyn LinearOperator>, seed: u64) -> Result<Self> {
        let norm = estimate_norm(op.as_ref(), 50, seed)?;
        let model = Self::build(architecture, op, norm)?;
        let slope = match &model.architecture {
            Architecture::PostProcessing { unet } => unet.negative_slope,
            Architecture::PrimalDual { .. } => 0.25,
        };
        reinitialise(&model.varmap, slope, seed)?;
        if matches!(model.architecture, Architecture::PostProcessing { .. }) {
            // A zero output layer: training starts from FBP itself, not FBP plus noise.
            for (name, var) in checkpoint::named_vars(&model.varmap)? {
                if name.starts_with("head") {
                    var.set(&var.zeros_like()?)?;
                }
            }
        }
        Ok(model)
    }

    fn build(architecture: Architecture, op: Arc<dyn LinearOperator>, norm: f64) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
        let net = match &architecture {
            Architecture::PostProcessing { unet } => {
                unet.validate().map_err(Error::Config)?;
                let dims = op.domain_shape().len();
                if unet.in_channels != 1 || unet.out_channels != 1 || unet.spatial_dims != dims {
                    return Err(Error::Config(format!(
                        "post-processing needs a {dims}D U-Net with 1 input and 1 output channel"
                    )));
                }
                Net::Unet(UNet::new(vb, unet)?)
            }
            Architecture::PrimalDual { lpd } => {
                Net::Lpd(LearnedPrimalDual::new(vb, *lpd, Arc::clone(&op), norm)?)
            }
        };
        Ok(Self { architecture, op, norm, varmap, net, trained_steps: 0 })
    }

    /// The network kind and sizes.
    pub fn architecture(&self) -> &Architecture {
        &self.architecture
    }

    /// The operator it reconstructs for.
    pub fn operator(&self) -> &Arc<dyn LinearOperator> {
        &self.op
    }

    /// The operator norm used to scale data and residuals.
    pub fn operator_norm(&self) -> f64 {
        self.norm
    }

    /// Training steps behind the parameters.
    pub fn trained_steps(&self) -> usize {
        self.trained_steps
    }

    /// Images `(N, domain...)` from sinograms `(N, range...)` and FBP images `(N, domain...)`.
    pub fn forward(&self, sinogram: &Tensor, prior: &Tensor) -> Result<Tensor> {
        Ok(match &self.net {
            Net::Lpd(lpd) => lpd.forward(sinogram, Some(prior))?,
            Net::Unet(unet) => prior.broadcast_add(&correction(unet, prior)?)?,
        })
    }

    /// One reconstruction from flat arrays shaped like the operator's range and domain.
    pub fn reconstruct(
        &self,
        sinogram: ArrayViewD<'_, f32>,
        prior: ArrayViewD<'_, f32>,
    ) -> Result<ArrayD<f32>> {
        let (s, p) = (
            sinogram.iter().copied().collect::<Vec<_>>(),
            prior.iter().copied().collect::<Vec<_>>(),
        );
        let batch = ReconBatch::new(self.op.as_ref(), &[], &[&s], &[&p])?;
        let out = self.forward(&batch.sinogram, &batch.prior)?;
        let values: Vec<f32> = out.flatten_all()?.to_vec1()?;
        ArrayD::from_shape_vec(IxDyn(&self.op.domain_shape()), values)
            .map_err(|e| Error::Config(e.to_string()))
    }

    /// The loss of `output` on `batch` as a differentiable scalar, and its terms as numbers.
    pub fn loss(
        &self,
        output: &Tensor,
        batch: &ReconBatch,
        w: &ReconLoss,
    ) -> Result<(Tensor, LossTerms)> {
        let mut total = output.zeros_like()?.sum_all()?;
        let mut terms = LossTerms::default();
        if let (Some(truth), true) = (&batch.truth, w.image > 0.0) {
            let image = (output - truth)?.sqr()?.mean_all()?;
            terms.image = image.to_scalar::<f32>()?.into();
            total = (total + (image * w.image)?)?;
        }
        if w.physics > 0.0 {
            // Relative to the data's energy, so the weight does not depend on units or sizes.
            let energy = f64::from(batch.sinogram.sqr()?.mean_all()?.to_scalar::<f32>()?);
            let physics = (data_consistency(output, &batch.sinogram, &self.op)?
                / energy.max(f64::MIN_POSITIVE))?;
            terms.physics = physics.to_scalar::<f32>()?.into();
            total = (total + (physics * w.physics)?)?;
        }
        if w.smoothness > 0.0 {
            let smooth = total_variation(output, self.op.domain_shape().len())?;
            terms.smoothness = smooth.to_scalar::<f32>()?.into();
            total = (total + (smooth * w.smoothness)?)?;
        }
        terms.total = total.to_scalar::<f32>()?.into();
        Ok((total, terms))
    }

    /// Writes the parameters and what rebuilds the model (architecture, operator norm and
    /// shapes, `context`: the caller's description of the operator), atomically.
    pub fn save(&self, path: &Path, context: &str) -> Result<()> {
        let file = ModelFile {
            architecture: self.architecture.clone(),
            operator_norm: self.norm,
            domain: self.op.domain_shape(),
            range: self.op.range_shape(),
            trained_steps: self.trained_steps,
            context: context.to_owned(),
        };
        let info = serde_json::to_string(&file).map_err(|e| Error::Config(e.to_string()))?;
        let tensors: Vec<(String, Tensor)> = checkpoint::named_vars(&self.varmap)?
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect();
        checkpoint::save(path, &tensors, &HashMap::from([(INFO_KEY.to_owned(), info)]))
    }

    /// The context string a model file at `path` was saved with (to rebuild its operator).
    pub fn context(path: &Path) -> Result<String> {
        Ok(Self::read_info(path)?.1.context)
    }

    fn read_info(path: &Path) -> Result<(HashMap<String, Tensor>, ModelFile)> {
        let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
        let (tensors, metadata) = checkpoint::load(path)?;
        let info = metadata.get(INFO_KEY).ok_or_else(|| {
            fail("no hounsfield.recon metadata (not a reconstruction model)".into())
        })?;
        let file: ModelFile =
            serde_json::from_str(info).map_err(|e| fail(format!("bad model metadata: {e}")))?;
        Ok((tensors, file))
    }

    /// Loads a model saved by [`ReconModel::save`] and binds it to `op`, which must have the
    /// shapes it was trained for.
    pub fn load(path: &Path, op: Arc<dyn LinearOperator>) -> Result<Self> {
        let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
        let (mut tensors, file) = Self::read_info(path)?;
        if op.domain_shape() != file.domain || op.range_shape() != file.range {
            return Err(fail(format!(
                "trained for images {:?} and data {:?}, the operator has {:?} and {:?}",
                file.domain,
                file.range,
                op.domain_shape(),
                op.range_shape()
            )));
        }
        if !(file.operator_norm.is_finite() && file.operator_norm > 0.0) {
            return Err(fail(format!("operator norm {} is not positive", file.operator_norm)));
        }
        let mut model = Self::build(file.architecture, op, file.operator_norm)?;
        checkpoint::restore_parameters(path, &model.varmap, &mut tensors)?;
        // Parameters the stated architecture does not use (an edited iteration count, a file
        // of another network) mean the file and its description disagree.
        if let Some(name) = tensors.keys().min() {
            return Err(fail(format!(
                "{} parameter(s) the architecture does not use, e.g. {name} (file and \
                 description disagree)",
                tensors.len()
            )));
        }
        model.trained_steps = file.trained_steps;
        Ok(model)
    }
}

/// The U-Net's output for images `(N, domain...)`, zero-padded up to its size multiple and
/// cropped back.
fn correction(unet: &UNet, prior: &Tensor) -> Result<Tensor> {
    let dims = prior.dims().to_vec();
    let spatial = &dims[1..];
    // (N, 1, D, H, W) with D = 1 for 2D images.
    let mut shape5 = vec![dims[0], 1];
    if spatial.len() == 2 {
        shape5.push(1);
    }
    shape5.extend_from_slice(spatial);
    let x = prior.reshape(shape5.clone())?;
    let multiple = unet.config().size_multiple();
    let mut padded = x.clone();
    for axis in 0..3 {
        let len = shape5[axis + 2];
        let extra = len.div_ceil(multiple[axis]) * multiple[axis] - len;
        if extra > 0 {
            padded = padded.pad_with_zeros(axis + 2, extra / 2, extra - extra / 2)?;
        }
    }
    let mut y = unet.forward_all(&padded, true)?.swap_remove(0);
    for axis in 0..3 {
        let len = shape5[axis + 2];
        let extra = y.dim(axis + 2)? - len;
        if extra > 0 {
            y = y.narrow(axis + 2, extra / 2, len)?;
        }
    }
    Ok(y.reshape(dims)?)
}

/// Mean absolute finite difference along each of the last `axes` axes of `x`.
fn total_variation(x: &Tensor, axes: usize) -> Result<Tensor> {
    let rank = x.rank();
    let mut sum = x.zeros_like()?.sum_all()?;
    for axis in rank - axes..rank {
        let n = x.dim(axis)?;
        if n < 2 {
            continue;
        }
        let d = (x.narrow(axis, 1, n - 1)? - x.narrow(axis, 0, n - 1)?)?;
        sum = (sum + d.abs()?.mean_all()?)?;
    }
    Ok(sum)
}

/// Optimiser settings of [`ReconTrainer`] (the LPD paper's: Adam 1e-3, cosine decay, clipping
/// at global norm 1).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReconTrainConfig {
    /// Peak learning rate.
    pub learning_rate: f64,
    /// Decay over the run.
    pub schedule: Schedule,
    /// Linear warm-up steps.
    pub warmup: usize,
    /// Global gradient-norm clipping (0: none).
    pub clip: f64,
    /// Loss weights.
    pub loss: ReconLoss,
    /// Adam's moments and weight decay.
    pub adamw: AdamWConfig,
}

impl Default for ReconTrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-3,
            schedule: Schedule::Cosine,
            warmup: 0,
            clip: 1.0,
            loss: ReconLoss::default(),
            adamw: AdamWConfig { weight_decay: 0.0, ..AdamWConfig::default() },
        }
    }
}

/// Gradient steps on a [`ReconModel`].
pub struct ReconTrainer {
    model: ReconModel,
    cfg: ReconTrainConfig,
    vars: Vec<Var>,
    opt: AdamW,
}

impl std::fmt::Debug for ReconTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReconTrainer")
            .field("model", &self.model)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl ReconTrainer {
    /// Starts training `model` (fresh or loaded: fine-tuning starts new optimiser moments).
    pub fn new(model: ReconModel, cfg: ReconTrainConfig) -> Result<Self> {
        let w = cfg.loss;
        if [w.image, w.physics, w.smoothness].iter().any(|v| !(v.is_finite() && *v >= 0.0))
            || w.image + w.physics == 0.0
        {
            return Err(Error::Config(format!(
                "loss weights must be finite and >= 0 with an image or physics term, found {w:?}"
            )));
        }
        if !(cfg.learning_rate.is_finite() && cfg.learning_rate > 0.0) {
            return Err(Error::Config(format!("learning rate {} must be > 0", cfg.learning_rate)));
        }
        let named = checkpoint::named_vars(&model.varmap)?;
        let vars = named.iter().map(|(_, v)| v.clone()).collect();
        let opt = AdamW::new(named, cfg.adamw)?;
        Ok(Self { model, cfg, vars, opt })
    }

    /// The model as trained so far.
    pub fn model(&self) -> &ReconModel {
        &self.model
    }

    /// The trained model.
    pub fn into_model(self) -> ReconModel {
        self.model
    }

    /// One optimiser step on `batch`, at step `step` of a run of `total` (for the schedule).
    pub fn step(&mut self, batch: &ReconBatch, step: usize, total: usize) -> Result<LossTerms> {
        if batch.truth.is_none() && self.cfg.loss.physics == 0.0 {
            return Err(Error::Config(
                "a batch without true images needs a physics weight > 0 (self-supervised)".into(),
            ));
        }
        let output = self.model.forward(&batch.sinogram, &batch.prior)?;
        let (loss, terms) = self.model.loss(&output, batch, &self.cfg.loss)?;
        if !terms.total.is_finite() {
            return Err(Error::Config(format!("the loss diverged at step {step}: {terms:?}")));
        }
        let grads = loss.backward()?;
        let factor = if self.cfg.clip > 0.0 {
            clip_factor(&grads, &self.vars, self.cfg.clip)?.1
        } else {
            1.0
        };
        let lr = self.cfg.schedule.rate(
            self.cfg.learning_rate,
            step,
            total.max(step + 1),
            self.cfg.warmup,
        );
        self.opt.step(&grads, lr, factor)?;
        self.model.trained_steps += 1;
        Ok(terms)
    }
}
