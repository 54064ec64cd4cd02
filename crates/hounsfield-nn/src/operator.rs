//! Any `hounsfield_core::LinearOperator` (a CT projector, say) as a differentiable candle op:
//! the forward pass applies `A`, the backward pass `A^T`, and the converse for the adjoint op.
//! This is how learned reconstruction calls the physics without depending on hounsfield-ct.
//!
//! The operator computes in `f32` (as the trait does); `f64` tensors are converted on the way in
//! and out. Leading axes beyond the operator's shape are a batch, applied item by item.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use hounsfield_core::LinearOperator;
use ndarray::{ArrayViewD, ArrayViewMutD, IxDyn};
use rayon::prelude::*;

use crate::ops::cpu::{f64_of, of_f64, storage, with_float_slices};

/// `A` (or `A^T` when `adjoint`) as a candle op.
#[derive(Clone)]
struct OperatorOp {
    op: Arc<dyn LinearOperator>,
    adjoint: bool,
}

impl OperatorOp {
    fn shapes(&self) -> (Vec<usize>, Vec<usize>) {
        let (d, r) = (self.op.domain_shape(), self.op.range_shape());
        if self.adjoint { (r, d) } else { (d, r) }
    }
}

impl CustomOp1 for OperatorOp {
    fn name(&self) -> &'static str {
        if self.adjoint { "linear-operator-adjoint" } else { "linear-operator" }
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (from, to) = self.shapes();
        let dims = l.shape().dims();
        let lead =
            dims.len().checked_sub(from.len()).filter(|&k| dims[k..] == from[..]).ok_or_else(
                || {
                    candle_core::Error::Msg(format!(
                        "{}: input {dims:?} does not end with the operator's {from:?}",
                        self.name()
                    ))
                },
            )?;
        let (n_from, n_to) = (from.iter().product::<usize>(), to.iter().product::<usize>());
        let mut out_dims = dims[..lead].to_vec();
        out_dims.extend_from_slice(&to);
        with_float_slices!(self.name(), (s, l) => x, |T| {
            let items: Vec<Result<Vec<f32>>> = x
                .par_chunks(n_from.max(1))
                .map(|item| {
                    let input: Vec<f32> = item.iter().map(|&v| f64_of(v) as f32).collect();
                    let view = ArrayViewD::from_shape(IxDyn(&from), &input).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                    let mut output = vec![0f32; n_to];
                    let out = ArrayViewMutD::from_shape(IxDyn(&to), &mut output).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
                    let done = if self.adjoint { self.op.adjoint_into(view, out) } else { self.op.apply_into(view, out) };
                    done.map_err(|e| candle_core::Error::Msg(format!("{}: {e}", self.name())))?;
                    Ok(output)
                })
                .collect();
            let mut y: Vec<T> = Vec::with_capacity(out_dims.iter().product());
            for item in items {
                y.extend(item?.into_iter().map(|v| of_f64::<T>(f64::from(v))));
            }
            Ok((storage(y), Shape::from_dims(&out_dims)))
        })
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let transposed = Self { op: Arc::clone(&self.op), adjoint: !self.adjoint };
        Ok(Some(grad.contiguous()?.apply_op1(transposed)?))
    }
}

/// `A x` for a batch `x` of shape `(..., domain)`; differentiable (its gradient is `A^T`).
pub fn apply_operator(x: &Tensor, op: &Arc<dyn LinearOperator>) -> Result<Tensor> {
    x.contiguous()?.apply_op1(OperatorOp { op: Arc::clone(op), adjoint: false })
}

/// `A^T y` for a batch `y` of shape `(..., range)`; differentiable (its gradient is `A`).
pub fn apply_adjoint(y: &Tensor, op: &Arc<dyn LinearOperator>) -> Result<Tensor> {
    y.contiguous()?.apply_op1(OperatorOp { op: Arc::clone(op), adjoint: true })
}
