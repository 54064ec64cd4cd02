//! A stack of "same" 3x3 2D convolutions with PReLU between them (conv -> PReLU -> ... -> conv)
//! as one op with a hand-written backward pass: the Learned Primal-Dual's blocks.
//!
//! As separate candle ops, each layer is a convolution node and a bias/PReLU node, and candle's
//! backward pass zero-fills and adds a gradient buffer per node and edge: for the LPD's small
//! layers that bookkeeping cost as much as a third of the arithmetic. Here the forward pass keeps
//! each hidden layer's pre-activations (bias included, added in the convolution's registers),
//! applies PReLU while copying them into the next layer's padded input, and the backward pass
//! walks the layers in reverse on plain buffers: bias and slope sums, the weight gradient
//! against the re-activated input, and the data gradient as the flipped convolution.

use std::sync::Mutex;

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use super::direct::{self, Padded};
use super::{Conv3dConfig, ConvShape};
use crate::ops::cpu::{contiguous, dims5};

/// `x -> conv_0 -> PReLU(slope_0) -> conv_1 -> ... -> conv_last` with the fused kernels, when
/// they apply (f32 on a CPU with AVX2 and FMA, every weight `(O, C, 1, 3, 3)`); `None` otherwise.
pub(crate) fn fused(
    x: &Tensor,
    layers: &[(&Tensor, &Tensor)],
    slopes: &[&Tensor],
) -> Result<Option<Tensor>> {
    let Some(channels) = applicable(x, layers, slopes)? else { return Ok(None) };
    let mut parts = Vec::with_capacity(2 * layers.len() + slopes.len());
    for (w, b) in layers {
        parts.push(w.flatten_all()?);
        parts.push(b.flatten_all()?);
    }
    for a in slopes {
        parts.push(a.flatten_all()?);
    }
    let theta = Tensor::cat(&parts, 0)?;
    let op = Stack { channels, saved: Mutex::new(Vec::new()) };
    x.contiguous()?.apply_op2(&theta, op).map(Some)
}

/// The `(in, out)` channels of each layer when the fused op computes this stack.
fn applicable(
    x: &Tensor,
    layers: &[(&Tensor, &Tensor)],
    slopes: &[&Tensor],
) -> Result<Option<Vec<(usize, usize)>>> {
    #[cfg(feature = "cuda")]
    if hounsfield_cuda::Gpu::shared().is_ok() {
        return Ok(None); // the convolutions run on the GPU, layer by layer
    }
    let fits = x.dtype() == DType::F32
        && x.device().is_cpu()
        && x.rank() == 5
        && !layers.is_empty()
        && slopes.len() + 1 == layers.len()
        && slopes.iter().all(|a| a.elem_count() == 1 && a.dtype() == DType::F32);
    if !fits {
        return Ok(None);
    }
    let mut input = x.dims()[1];
    let mut channels = Vec::with_capacity(layers.len());
    for (w, b) in layers {
        let (o, c, kd, kh, kw) = w.dims5()?;
        if c != input || (kd, kh, kw) != (1, 3, 3) || b.dims() != [o] || w.dtype() != DType::F32 {
            return Ok(None);
        }
        channels.push((c, o));
        input = o;
    }
    let s = shape(x.dims().try_into().unwrap_or([0; 5]), channels[0])?;
    Ok(direct::applies(&s).then_some(channels))
}

/// The convolution of one layer on an input of dimensions `x`.
fn shape(x: [usize; 5], (c, o): (usize, usize)) -> Result<ConvShape> {
    let cfg = Conv3dConfig::default().with_padding([0, 1, 1]);
    ConvShape::new([x[0], c, x[2], x[3], x[4]], [o, c, 1, 3, 3], cfg, "prelu stack")
}

/// The op: `(x, theta) -> y`, `theta` the weights and bias of each layer, then the slopes.
struct Stack {
    channels: Vec<(usize, usize)>,
    /// Pre-activations of every layer but the last, from the forward pass.
    saved: Mutex<Vec<Vec<f32>>>,
}

/// Where one layer's weights, bias and slope sit in `theta`.
struct Offsets {
    weight: usize,
    bias: usize,
}

impl Stack {
    fn offsets(&self) -> (Vec<Offsets>, usize) {
        let mut at = 0;
        let list = self
            .channels
            .iter()
            .map(|&(c, o)| {
                let off = Offsets { weight: at, bias: at + o * c * 9 };
                at += o * c * 9 + o;
                off
            })
            .collect();
        (list, at)
    }

    fn theta_len(&self) -> usize {
        self.offsets().1 + self.channels.len() - 1
    }
}

impl CustomOp2 for Stack {
    fn name(&self) -> &'static str {
        "prelu-stack"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (CpuStorage::F32(x), CpuStorage::F32(theta)) = (s1, s2) else {
            return Err(candle_core::Error::Msg(format!("{op}: f32 tensors expected")));
        };
        let (x, theta) = (contiguous(x, l1, op)?, contiguous(theta, l2, op)?);
        let dims = dims5(l1, op)?;
        if theta.len() != self.theta_len() {
            return Err(candle_core::Error::Msg(format!("{op}: parameter count differs")));
        }
        let (offsets, slopes) = self.offsets();
        let mut saved = Vec::with_capacity(self.channels.len() - 1);
        let mut z = Vec::new();
        for (l, (&io, off)) in self.channels.iter().zip(&offsets).enumerate() {
            let s = shape(dims, io)?;
            let w = &theta[off.weight..off.bias];
            let b = &theta[off.bias..off.bias + io.1];
            let xp = if l == 0 {
                Padded::new(&s, x, None)
            } else {
                Padded::new(&s, &z, Some(theta[slopes + l - 1]))
            };
            let next = direct::convolve(&s, &xp, w, Some(b));
            if l > 0 {
                saved.push(std::mem::replace(&mut z, next));
            } else {
                z = next;
            }
        }
        *self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = saved;
        let out = [dims[0], self.channels[self.channels.len() - 1].1, dims[2], dims[3], dims[4]];
        Ok((CpuStorage::F32(z), Shape::from_dims(&out)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        theta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let dims: [usize; 5] = x
            .dims()
            .try_into()
            .map_err(|_| candle_core::Error::Msg("prelu stack: expected 5 dimensions".into()))?;
        let xv = x.flatten_all()?.to_vec1::<f32>()?;
        let tv = theta.flatten_all()?.to_vec1::<f32>()?;
        let mut g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let saved = self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if saved.len() + 1 != self.channels.len() {
            return Err(candle_core::Error::Msg(
                "prelu stack: backward pass without a forward pass".into(),
            ));
        }
        let (offsets, slopes) = self.offsets();
        let mut dtheta = vec![0.0f32; tv.len()];
        let plane = dims[2] * dims[3] * dims[4];
        for (l, (&io, off)) in self.channels.iter().zip(&offsets).enumerate().rev() {
            let s = shape(dims, io)?;
            let (c, o) = io;
            let bias = channel_sums(&g, o, plane);
            dtheta[off.bias..off.bias + o].copy_from_slice(&bias);
            let dw = {
                let xp = if l == 0 {
                    Padded::new(&s, &xv, None)
                } else {
                    Padded::new(&s, &saved[l - 1], Some(tv[slopes + l - 1]))
                };
                direct::weight_gradient(&s, &xp, &g)
            };
            dtheta[off.weight..off.bias].copy_from_slice(&dw);
            let mut da = direct::data_gradient(&s, &g, &tv[off.weight..off.bias]);
            debug_assert_eq!(da.len(), dims[0] * c * plane);
            if l > 0 {
                let slope = tv[slopes + l - 1];
                dtheta[slopes + l - 1] = prelu_backward(&mut da, &saved[l - 1], slope);
            }
            g = da;
        }
        let dx = Tensor::from_vec(g, x.shape(), x.device())?;
        let dtheta = Tensor::from_vec(dtheta, theta.shape(), theta.device())?;
        Ok((Some(dx), Some(dtheta)))
    }
}

/// The sum of each channel of `g` (`N x C x plane`), eight running sums per channel added in
/// f64 at the end.
fn channel_sums(g: &[f32], channels: usize, plane: usize) -> Vec<f32> {
    let mut sums = vec![0.0f64; channels];
    for (p, values) in g.chunks_exact(plane).enumerate() {
        sums[p % channels] += lane_sum(values.iter().copied());
    }
    sums.into_iter().map(|v| v as f32).collect()
}

/// Sum of `values` in eight f32 lanes, totalled in f64.
fn lane_sum(values: impl Iterator<Item = f32>) -> f64 {
    let mut lanes = [0.0f32; 8];
    for (i, v) in values.enumerate() {
        lanes[i % 8] += v;
    }
    lanes.iter().map(|&v| f64::from(v)).sum()
}

/// Turns `da` (gradient of a PReLU's output) into the gradient of its input `z` in place, and
/// returns the slope's gradient (the sum of `da * z` where `z <= 0`).
fn prelu_backward(da: &mut [f32], z: &[f32], slope: f32) -> f32 {
    let mut lanes = [0.0f32; 8];
    let whole = da.len() / 8 * 8;
    let (body, tail) = da.split_at_mut(whole);
    for (d8, z8) in body.chunks_exact_mut(8).zip(z.chunks_exact(8)) {
        for ((d, &zv), sum) in d8.iter_mut().zip(z8).zip(&mut lanes) {
            let negative = zv <= 0.0;
            *sum += if negative { *d * zv } else { 0.0 };
            *d = if negative { *d * slope } else { *d };
        }
    }
    for (d, &zv) in tail.iter_mut().zip(&z[whole..]) {
        if zv <= 0.0 {
            lanes[0] += *d * zv;
            *d *= slope;
        }
    }
    lanes.iter().map(|&v| f64::from(v)).sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::ops::{bias_prelu, conv3d};

    /// The same stack through the separate ops (conv3d, bias + PReLU, a broadcast bias).
    fn composed(x: &Tensor, layers: &[(&Tensor, &Tensor)], slopes: &[&Tensor]) -> Result<Tensor> {
        let cfg = Conv3dConfig::default().with_padding([0, 1, 1]);
        let mut h = x.clone();
        for (l, (w, b)) in layers.iter().enumerate() {
            let y = conv3d(&h, w, cfg)?;
            h = match slopes.get(l) {
                Some(a) => bias_prelu(&y, b, a)?,
                None => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1, 1))?)?,
            };
        }
        Ok(h)
    }

    #[test]
    fn fused_stack_equals_the_separate_ops_forward_and_backward() -> Result<()> {
        if !std::arch::is_x86_feature_detected!("avx2")
            || !std::arch::is_x86_feature_detected!("fma")
        {
            return Ok(());
        }
        // Two samples of 9 x 13 (a width that ends mid-vector), 6 -> 8 -> 8 -> 5 channels as in
        // the LPD's blocks but narrower; slopes of either sign. f32 both ways, in different
        // summation orders: values within 1e-5 and gradients within 1e-4 of their largest
        // magnitude.
        let dev = Device::Cpu;
        let value = |i: usize| ((i * 7919) % 101) as f32 / 50.0 - 1.0;
        let tensor = |n: usize, seed: usize, dims: &[usize]| -> Result<Var> {
            let v: Vec<f32> = (0..n).map(|i| value(i + seed)).collect();
            Var::from_vec(v, dims, &dev)
        };
        let x = tensor(2 * 6 * 9 * 13, 1, &[2, 6, 1, 9, 13])?;
        let sizes = [(6, 8), (8, 8), (8, 5)];
        let mut params = Vec::new();
        for (l, &(c, o)) in sizes.iter().enumerate() {
            let w = tensor(o * c * 9, 100 * l + 7, &[o, c, 1, 3, 3])?;
            let b = tensor(o, 100 * l + 50, &[o])?;
            params.push((w, b));
        }
        let slopes =
            [Var::from_vec(vec![0.25f32], 1, &dev)?, Var::from_vec(vec![-0.4f32], 1, &dev)?];
        let layers: Vec<(&Tensor, &Tensor)> =
            params.iter().map(|(w, b)| (w.as_tensor(), b.as_tensor())).collect();
        let slope_refs: Vec<&Tensor> = slopes.iter().map(|a| a.as_tensor()).collect();
        let fused = fused(x.as_tensor(), &layers, &slope_refs)?
            .ok_or_else(|| candle_core::Error::Msg("the fused op should apply".into()))?;
        let reference = composed(x.as_tensor(), &layers, &slope_refs)?;
        assert_eq!(fused.dims(), reference.dims());
        let weights = tensor(reference.elem_count(), 777, reference.dims())?;
        let close = |a: &Tensor, b: &Tensor, tol: f32, what: &str| -> Result<()> {
            let (a, b) = (a.flatten_all()?.to_vec1::<f32>()?, b.flatten_all()?.to_vec1::<f32>()?);
            let scale = b.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (i, (p, q)) in a.iter().zip(&b).enumerate() {
                assert!((p - q).abs() <= tol * scale, "{what}[{i}]: {p} vs {q}");
            }
            Ok(())
        };
        close(&fused, &reference, 1e-5, "forward")?;
        let g1 = (fused * weights.as_tensor())?.sum_all()?.backward()?;
        let g2 = (reference * weights.as_tensor())?.sum_all()?.backward()?;
        let mut all: Vec<(&Var, String)> = vec![(&x, "x".into())];
        for (l, (w, b)) in params.iter().enumerate() {
            all.push((w, format!("w{l}")));
            all.push((b, format!("b{l}")));
        }
        all.push((&slopes[0], "slope0".into()));
        all.push((&slopes[1], "slope1".into()));
        for (v, name) in all {
            let missing = || candle_core::Error::Msg(format!("no gradient for {name}"));
            let a = g1.get(v.as_tensor()).ok_or_else(missing)?;
            let b = g2.get(v.as_tensor()).ok_or_else(missing)?;
            close(a, b, 1e-4, &name)?;
        }
        Ok(())
    }
}
