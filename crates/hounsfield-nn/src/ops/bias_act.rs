//! Channel bias + PReLU fused into one op with a hand-written backward pass.
//!
//! After a convolution without normalisation, candle's ops spend four passes forward (bias,
//! relu, minimum, scaled add) and about ten backward on what is one pass each way here. Small
//! networks such as Learned Primal-Dual's blocks spend more time there than in their GEMMs.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{f64_of, storage, with_float_slices};

/// Channels and plane length of `x: (N, C, ...)` with `params: (C + 1,)` (biases, then slope).
fn planes(x: &Layout, params: &Layout, op: &str) -> Result<(usize, usize)> {
    let d = x.shape().dims();
    if d.len() < 2 || params.shape().dims() != [d[1] + 1] {
        return Err(candle_core::Error::Msg(format!(
            "{op}: expected (N, C, ...) and (C + 1,) biases and slope, got {d:?} and {:?}",
            params.shape().dims()
        )));
    }
    Ok((d[1], d[2..].iter().product::<usize>().max(1)))
}

#[derive(Clone, Copy, Debug)]
struct BiasPrelu;

impl CustomOp2 for BiasPrelu {
    fn name(&self) -> &'static str {
        "bias_prelu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (channels, len) = planes(l1, l2, self.name())?;
        with_float_slices!(self.name(), (s1, l1) => x, (s2, l2) => params, |T| {
            let slope = params[channels];
            let mut y = vec![T::default(); x.len()];
            y.par_chunks_mut(len).zip(x.par_chunks(len)).enumerate().for_each(|(p, (y, x))| {
                let b = params[p % channels];
                for (y, &x) in y.iter_mut().zip(x) {
                    let z = x + b;
                    *y = if z > T::default() { z } else { z * slope };
                }
            });
            Ok((storage(y), l1.shape().clone()))
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dy = dy.contiguous()?;
        let dx = x.apply_op3_no_bwd(params, &dy, &BiasPreluGrad { wrt_input: true })?;
        let dp = x.apply_op3_no_bwd(params, &dy, &BiasPreluGrad { wrt_input: false })?;
        Ok((Some(dx), Some(dp)))
    }
}

/// `(x, params, dy) -> dx` or `-> d params`: the backward pass of [`BiasPrelu`].
#[derive(Clone, Copy, Debug)]
struct BiasPreluGrad {
    wrt_input: bool,
}

impl CustomOp3 for BiasPreluGrad {
    fn name(&self) -> &'static str {
        "bias_prelu-backward"
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
        with_float_slices!(self.name(), (s1, l1) => x, (s2, l2) => params, |T| {
            let dy: &[T] = super::cpu::gradient_like(s3, l3, l1, self.name())?;
            let slope = params[channels];
            if self.wrt_input {
                let mut dx = vec![T::default(); x.len()];
                dx.par_chunks_mut(len).zip(x.par_chunks(len).zip(dy.par_chunks(len))).enumerate().for_each(|(p, (dx, (x, dy)))| {
                    let b = params[p % channels];
                    for ((dx, &x), &dy) in dx.iter_mut().zip(x).zip(dy) {
                        *dx = if x + b > T::default() { dy } else { dy * slope };
                    }
                });
                Ok((storage(dx), l1.shape().clone()))
            } else {
                // Per plane: the bias gradient (sum of dz) and the slope gradient (dy * z, z <= 0).
                let sums: Vec<(f64, f64)> = x.par_chunks(len).zip(dy.par_chunks(len)).enumerate().map(|(p, (x, dy))| {
                    let b = params[p % channels];
                    // Eight running sums per quantity (vectorised; each sums 1/8 of the plane),
                    // added in f64 at the end.
                    let (mut db, mut da) = ([T::default(); 8], [T::default(); 8]);
                    let mut add = |lane: usize, x: T, dy: T| {
                        let z = x + b;
                        let negative = z <= T::default();
                        db[lane] += if negative { dy * slope } else { dy };
                        da[lane] += if negative { dy * z } else { T::default() };
                    };
                    let (xs, dys) = (x.chunks_exact(8), dy.chunks_exact(8));
                    let (xr, dyr) = (xs.remainder(), dys.remainder());
                    for (x8, dy8) in xs.zip(dys) {
                        for lane in 0..8 {
                            add(lane, x8[lane], dy8[lane]);
                        }
                    }
                    for (lane, (&x, &dy)) in xr.iter().zip(dyr).enumerate() {
                        add(lane, x, dy);
                    }
                    let total = |v: [T; 8]| v.iter().map(|&v| f64_of(v)).sum::<f64>();
                    (total(db), total(da))
                }).collect();
                let mut dp = vec![0.0f64; channels + 1];
                for (p, (db, da)) in sums.iter().enumerate() {
                    dp[p % channels] += db;
                    dp[channels] += da;
                }
                let dp: Vec<T> = dp.into_iter().map(super::cpu::of_f64::<T>).collect();
                Ok((storage(dp), Shape::from_dims(&[channels + 1])))
            }
        })
    }
}

/// `PReLU(x + bias)` with `bias: (C,)` per channel of `x: (N, C, ...)` and one learned negative
/// `slope: (1,)` (a constant slope gives LeakyReLU, a slope of 1 the bias alone).
pub fn bias_prelu(x: &Tensor, bias: &Tensor, slope: &Tensor) -> Result<Tensor> {
    let params = Tensor::cat(&[bias, &slope.reshape(1)?], 0)?;
    x.contiguous()?.apply_op2(&params, BiasPrelu)
}
