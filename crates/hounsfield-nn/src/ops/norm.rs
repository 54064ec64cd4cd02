//! Instance normalisation, composed from candle's differentiable tensor ops.

use candle_core::{D, Result, Tensor};

/// Normalises every channel of every sample to zero mean and unit variance over its spatial axes
/// (biased variance, as PyTorch's `instance_norm`), then applies the optional per-channel
/// `gamma` and `beta` (shape `(C,)`). Works for any number of spatial axes.
pub fn instance_norm(
    x: &Tensor,
    gamma: Option<&Tensor>,
    beta: Option<&Tensor>,
    eps: f64,
) -> Result<Tensor> {
    let dims = x.dims();
    if dims.len() < 3 {
        return Err(candle_core::Error::Msg(format!(
            "instance_norm: expected (N, C, ...), got {dims:?}"
        )));
    }
    let flat = x.flatten_from(2)?;
    let mean = flat.mean_keepdim(D::Minus1)?;
    let centred = flat.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    let mut y = centred.broadcast_div(&(var + eps)?.sqrt()?)?;
    let channel = |t: &Tensor| t.reshape((1, dims[1], 1));
    if let Some(g) = gamma {
        y = y.broadcast_mul(&channel(g)?)?;
    }
    if let Some(b) = beta {
        y = y.broadcast_add(&channel(b)?)?;
    }
    y.reshape(dims)
}
