//! Instance norm + affine + LeakyReLU fused into one op with a hand-written backward pass.
//!
//! Composed from candle's tensor ops, the same block costs about a dozen passes over the
//! activations forward and twice that backward (each broadcast op materialises a tensor); it
//! is the U-Net's most frequent step, so it gets one pass per direction (plus the statistics).

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{Float, f64_of, of_f64, storage, with_float_slices};

/// Per-plane statistics: mean and 1 / sqrt(var + eps) (biased variance).
fn stats<T: Float>(plane: &[T], eps: f64) -> (f64, f64) {
    let n = plane.len().max(1) as f64;
    let mean = plane.iter().map(|&v| f64_of(v)).sum::<f64>() / n;
    let var = plane.iter().map(|&v| (f64_of(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// `(N, C, S...)` layout facts: planes, channels, plane length.
fn planes(layout: &Layout, affine: &Layout, op: &str) -> Result<(usize, usize)> {
    let d = layout.shape().dims();
    if d.len() < 3 || affine.shape().dims() != [2, d[1]] {
        return Err(candle_core::Error::Msg(format!(
            "{op}: expected (N, C, ...) and a (2, C) scale/shift, got {d:?} and {:?}",
            affine.shape().dims()
        )));
    }
    Ok((d[1], d[2..].iter().product()))
}

#[derive(Clone, Copy, Debug)]
struct NormAct {
    eps: f64,
    slope: f64,
}

impl CustomOp2 for NormAct {
    fn name(&self) -> &'static str {
        "instance_norm_act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, len) = planes(l1, l2, self.name())?;
        with_float_slices!(self.name(), (s1, l1) => x, (s2, l2) => affine, |T| {
            let mut y = vec![T::default(); x.len()];
            y.par_chunks_mut(len.max(1)).zip(x.par_chunks(len.max(1))).enumerate().for_each(|(p, (y, x))| {
                let c = p % channels;
                let (mean, inv) = stats(x, self.eps);
                let g = f64_of(affine[c]) * inv;
                let b = f64_of(affine[channels + c]) - mean * g;
                let (g, b, slope) = (of_f64::<T>(g), of_f64::<T>(b), of_f64::<T>(self.slope));
                for (y, &x) in y.iter_mut().zip(x) {
                    let z = x * g + b;
                    *y = if z > T::default() { z } else { z * slope };
                }
            });
            Ok((storage(y), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        affine: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = x.apply_op3_no_bwd(affine, &dy, &NormActGrad { op: *self, wrt_input: true })?;
        let da = x.apply_op3_no_bwd(affine, &dy, &NormActGrad { op: *self, wrt_input: false })?;
        Ok((Some(dx), Some(da)))
    }
}

/// `(x, affine, dy) -> dx` or `-> d affine`: the backward pass of [`NormAct`].
#[derive(Clone, Copy, Debug)]
struct NormActGrad {
    op: NormAct,
    wrt_input: bool,
}

impl CustomOp3 for NormActGrad {
    fn name(&self) -> &'static str {
        "instance_norm_act-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, len) = planes(l1, l2, self.name())?;
        with_float_slices!(self.name(), (s1, l1) => x, (s2, l2) => affine, |T| {
            let dy: &[T] = super::cpu::gradient_like(s3, l3, l1, self.name())?;
            let slope = self.op.slope;
            // Per plane: sums of dz and dz * xhat (the affine gradients), and dx if asked.
            let per_plane = |p: usize, x: &[T], dy: &[T], dx: Option<&mut [T]>| -> (f64, f64) {
                let c = p % channels;
                let (mean, inv) = stats(x, self.op.eps);
                let gamma = f64_of(affine[c]);
                let beta = f64_of(affine[channels + c]);
                let (mut sum_dz, mut sum_dz_xhat) = (0.0, 0.0);
                let n = x.len().max(1) as f64;
                let dz_at = |x: f64, dy: f64| {
                    let xhat = (x - mean) * inv;
                    let z = gamma * xhat + beta;
                    (if z > 0.0 { dy } else { dy * slope }, xhat)
                };
                for (&x, &dy) in x.iter().zip(dy) {
                    let (dz, xhat) = dz_at(f64_of(x), f64_of(dy));
                    sum_dz += dz;
                    sum_dz_xhat += dz * xhat;
                }
                if let Some(dx) = dx {
                    // dx = gamma * inv * (dz - mean(dz) - xhat * mean(dz * xhat)).
                    let (m1, m2) = (sum_dz / n, sum_dz_xhat / n);
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        let (dz, xhat) = dz_at(f64_of(x), f64_of(dy));
                        *dx = of_f64::<T>(gamma * inv * (dz - m1 - xhat * m2));
                    }
                }
                (sum_dz, sum_dz_xhat)
            };
            let l = len.max(1);
            if self.wrt_input {
                let mut dx = vec![T::default(); x.len()];
                dx.par_chunks_mut(l).zip(x.par_chunks(l).zip(dy.par_chunks(l))).enumerate().for_each(|(p, (dx, (x, dy)))| {
                    per_plane(p, x, dy, Some(dx));
                });
                Ok((storage(dx), l1.shape().clone()))
            } else {
                let sums: Vec<(f64, f64)> = x.par_chunks(l).zip(dy.par_chunks(l)).enumerate().map(|(p, (x, dy))| per_plane(p, x, dy, None)).collect();
                let mut da = vec![0.0f64; 2 * channels];
                for (p, (s_dz, s_dzx)) in sums.iter().enumerate() {
                    da[p % channels] += s_dzx;
                    da[channels + p % channels] += s_dz;
                }
                let da: Vec<T> = da.into_iter().map(of_f64::<T>).collect();
                Ok((storage(da), Shape::from_dims(&[2, channels])))
            }
        })
    }
}

/// `LeakyReLU(gamma * (x - mean) / sqrt(var + eps) + beta)` per sample and channel, statistics
/// over the spatial axes (PyTorch's `instance_norm` followed by `leaky_relu`); `slope = 1` gives
/// the normalisation alone. `gamma` and `beta` have shape `(C,)`.
pub fn instance_norm_act(
    x: &Tensor,
    gamma: &Tensor,
    beta: &Tensor,
    eps: f64,
    slope: f64,
) -> Result<Tensor> {
    let affine = Tensor::stack(&[gamma, beta], 0)?;
    x.contiguous()?.apply_op2(&affine, NormAct { eps, slope })
}
