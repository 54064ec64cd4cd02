//! Segmentation losses on logits `(N, C, ...)` and one-hot targets of the same shape: cross
//! entropy, soft Dice (MONAI's `DiceLoss(softmax=True)`: per sample and class, then averaged),
//! their sum (`DiceCELoss`), and binary cross entropy with logits.

use candle_core::{D, DType, Device, Result, Tensor};
use serde::{Deserialize, Serialize};

/// The loss a trainer minimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    /// Cross entropy of the softmax.
    CrossEntropy,
    /// Soft Dice of the softmax.
    Dice,
    /// Soft Dice + cross entropy (nnU-Net's and MONAI's default).
    DiceCe,
    /// Binary cross entropy with logits, per channel (multi-label).
    Bce,
}

impl Loss {
    /// The loss of `logits` against the one-hot `target`.
    pub fn compute(self, logits: &Tensor, target: &Tensor) -> Result<Tensor> {
        match self {
            Self::CrossEntropy => cross_entropy(logits, target),
            Self::Dice => soft_dice(logits, target),
            Self::DiceCe => soft_dice(logits, target)? + cross_entropy(logits, target)?,
            Self::Bce => bce_with_logits(logits, target),
        }
    }
}

/// One-hot encoding of integer labels `(N, ...)` into `(N, classes, ...)` of `dtype`.
pub fn one_hot(labels: &[u8], dims: &[usize], classes: usize, dtype: DType) -> Result<Tensor> {
    let (n, spatial) = (dims[0], dims[1..].iter().product::<usize>());
    if labels.len() != n * spatial {
        return Err(candle_core::Error::Msg(format!(
            "one_hot: {} labels for shape {dims:?}",
            labels.len()
        )));
    }
    if let Some(bad) = labels.iter().find(|&&l| usize::from(l) >= classes) {
        return Err(candle_core::Error::Msg(format!(
            "one_hot: label {bad} not below {classes} classes"
        )));
    }
    let mut out = vec![0f32; n * classes * spatial];
    for (i, &l) in labels.iter().enumerate() {
        let (b, v) = (i / spatial, i % spatial);
        out[(b * classes + usize::from(l)) * spatial + v] = 1.0;
    }
    let mut shape = vec![n, classes];
    shape.extend_from_slice(&dims[1..]);
    Tensor::from_vec(out, shape, &Device::Cpu)?.to_dtype(dtype)
}

/// Mean over voxels of `-sum_c t_c log softmax(x)_c`.
pub fn cross_entropy(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, 1)?;
    let per_voxel = (logp * target)?.sum(1)?;
    per_voxel.mean_all()?.neg()
}

/// `1 - mean over samples and classes of (2 |P T| + s) / (|P| + |T| + s)`, P the softmax,
/// s = 1e-5 (MONAI's smoothing), so an absent class predicted absent scores 1.
pub fn soft_dice(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let p = candle_nn::ops::softmax(logits, 1)?.flatten_from(2)?;
    let t = target.flatten_from(2)?;
    let inter = (&p * &t)?.sum(D::Minus1)?;
    let denom = (p.sum(D::Minus1)? + t.sum(D::Minus1)?)?;
    let dice = ((inter * 2.0)? + 1e-5)?.div(&(denom + 1e-5)?)?;
    dice.mean_all()?.affine(-1.0, 1.0)
}

/// Mean of `max(x, 0) - x t + log(1 + exp(-|x|))`, the stable form of binary cross entropy.
pub fn bce_with_logits(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let relu = logits.relu()?;
    let softplus = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    ((relu - (logits * target)?)? + softplus)?.mean_all()
}

/// Physics consistency: `mean((A x - y)^2)` for a batch of images `x` against measured data `y`
/// (shapes `(..., domain)` and `(..., range)`), differentiable in `x` through `A^T`. Added to an
/// image loss with a weight, or used alone to fine-tune without ground truth.
pub fn data_consistency(
    x: &Tensor,
    y: &Tensor,
    op: &std::sync::Arc<dyn hounsfield_core::LinearOperator>,
) -> Result<Tensor> {
    (crate::operator::apply_operator(x, op)? - y)?.sqr()?.mean_all()
}
