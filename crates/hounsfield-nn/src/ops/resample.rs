//! Separable linear maps on `(N, C, D, H, W)` tensors: average pooling and nearest or trilinear
//! upsampling. Each is a 1D map per axis (output sample = weighted sum of input samples); the
//! backward pass is the same map transposed, so both directions are one kernel.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{Float, dims5, storage, with_float_slices};

/// One axis of a separable map: output sample `o` is `sum(w * input[i])` over `taps[o]`.
#[derive(Clone, Debug, PartialEq)]
struct AxisMap {
    in_len: usize,
    taps: Vec<Vec<(usize, f64)>>,
}

impl AxisMap {
    fn out_len(&self) -> usize {
        self.taps.len()
    }

    /// Average over windows of `kernel` samples every `stride`, zeros padded on both sides and
    /// counted in the divisor (PyTorch's `count_include_pad=True`).
    fn average(len: usize, kernel: usize, stride: usize, padding: usize) -> Option<Self> {
        if kernel == 0 || stride == 0 || len + 2 * padding < kernel || padding > kernel / 2 {
            return None;
        }
        let out = (len + 2 * padding - kernel) / stride + 1;
        let weight = 1.0 / kernel as f64;
        let taps = (0..out)
            .map(|o| {
                (0..kernel)
                    .filter_map(|j| (o * stride + j).checked_sub(padding).filter(|&i| i < len))
                    .map(|i| (i, weight))
                    .collect()
            })
            .collect();
        Some(Self { in_len: len, taps })
    }

    /// Nearest neighbour to `out` samples: output `o` copies input `floor(o * len / out)`.
    fn nearest(len: usize, out: usize) -> Self {
        let taps = (0..out).map(|o| vec![((o * len / out).min(len - 1), 1.0)]).collect();
        Self { in_len: len, taps }
    }

    /// Linear interpolation to `out` samples with `align_corners=False` (half-pixel centres).
    fn linear(len: usize, out: usize) -> Self {
        let scale = len as f64 / out as f64;
        let taps = (0..out)
            .map(|o| {
                let src = ((o as f64 + 0.5) * scale - 0.5).max(0.0);
                let i0 = (src.floor() as usize).min(len - 1);
                let i1 = (i0 + 1).min(len - 1);
                let t = src - i0 as f64;
                if i1 == i0 || t == 0.0 { vec![(i0, 1.0)] } else { vec![(i0, 1.0 - t), (i1, t)] }
            })
            .collect();
        Self { in_len: len, taps }
    }

    /// Applies the map (or its transpose) along the middle axis of `(outer, len, inner)` data.
    fn apply<T: Float>(&self, data: &[T], outer: usize, inner: usize, transpose: bool) -> Vec<T> {
        let (src_len, dst_len) =
            if transpose { (self.out_len(), self.in_len) } else { (self.in_len, self.out_len()) };
        let mut out = vec![T::zero(); outer * dst_len * inner];
        out.par_chunks_exact_mut(dst_len * inner)
            .zip(data.par_chunks_exact(src_len * inner))
            .for_each(|(dst, src)| {
                for (o, taps) in self.taps.iter().enumerate() {
                    for &(i, w) in taps {
                        let w = T::from(w).unwrap_or_else(T::zero);
                        let (d, s) = if transpose { (i, o) } else { (o, i) };
                        let (d, s) = (
                            &mut dst[d * inner..(d + 1) * inner],
                            &src[s * inner..(s + 1) * inner],
                        );
                        d.iter_mut().zip(s).for_each(|(d, &s)| *d += w * s);
                    }
                }
            });
        out
    }
}

/// A separable map over the D, H and W axes, applied forwards or transposed.
#[derive(Clone, Debug)]
struct Separable {
    name: &'static str,
    axes: Arc<[AxisMap; 3]>,
    transpose: bool,
}

impl Separable {
    fn run<T: Float>(&self, x: &[T], dims: [usize; 5]) -> Result<(Vec<T>, [usize; 5])> {
        let mut dims = dims;
        let mut data = x.to_vec();
        for (axis, map) in self.axes.iter().enumerate() {
            let want = if self.transpose { map.out_len() } else { map.in_len };
            if dims[axis + 2] != want {
                return Err(candle_core::Error::Msg(format!(
                    "{}: axis {axis} has {} samples, expected {want}",
                    self.name,
                    dims[axis + 2]
                )));
            }
            let outer = dims[..axis + 2].iter().product();
            let inner = dims[axis + 3..].iter().product();
            data = map.apply(&data, outer, inner, self.transpose);
            dims[axis + 2] = if self.transpose { map.in_len } else { map.out_len() };
        }
        Ok((data, dims))
    }
}

impl CustomOp1 for Separable {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let dims = dims5(l, self.name)?;
        with_float_slices!(self.name, (s, l) => x, |T| {
            let (out, dims) = self.run::<T>(x, dims)?;
            Ok((storage(out), Shape::from_dims(&dims)))
        })
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let adjoint = Self { transpose: !self.transpose, ..self.clone() };
        Ok(Some(grad.contiguous()?.apply_op1(adjoint)?))
    }
}

fn apply(x: &Tensor, name: &'static str, axes: [AxisMap; 3]) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Separable { name, axes: Arc::new(axes), transpose: false })
}

fn spatial(x: &Tensor, op: &str) -> Result<[usize; 3]> {
    let (_, _, d, h, w) = x.dims5()?;
    if d == 0 || h == 0 || w == 0 {
        return Err(candle_core::Error::Msg(format!("{op}: empty spatial dimensions")));
    }
    Ok([d, h, w])
}

/// Average pooling (PyTorch's `avg_pool3d` with `count_include_pad=True`); `padding` may be at most
/// half the kernel, as in PyTorch.
pub fn avg_pool3d(
    x: &Tensor,
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
) -> Result<Tensor> {
    let dims = spatial(x, "avg_pool3d")?;
    let axis = |a: usize| {
        AxisMap::average(dims[a], kernel[a], stride[a], padding[a]).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "avg_pool3d: kernel {kernel:?}, stride {stride:?}, padding {padding:?} do not fit {dims:?}"
            ))
        })
    };
    apply(x, "avg_pool3d", [axis(0)?, axis(1)?, axis(2)?])
}

/// Upsampling mode of [`upsample3d`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Upsample {
    /// Copy the nearest input sample (PyTorch's `mode="nearest"`).
    Nearest,
    /// Trilinear interpolation with half-voxel centres (`mode="trilinear", align_corners=False`).
    Trilinear,
}

/// Resizes the spatial axes of `(N, C, D, H, W)` to `size`.
pub fn upsample3d(x: &Tensor, size: [usize; 3], mode: Upsample) -> Result<Tensor> {
    let dims = spatial(x, "upsample3d")?;
    if size.contains(&0) {
        return Err(candle_core::Error::Msg(format!("upsample3d: target size {size:?} is empty")));
    }
    let axis = |a: usize| match mode {
        Upsample::Nearest => AxisMap::nearest(dims[a], size[a]),
        Upsample::Trilinear => AxisMap::linear(dims[a], size[a]),
    };
    apply(x, "upsample3d", [axis(0), axis(1), axis(2)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_map_matches_pytorch_half_pixel_rule() {
        // 2 -> 4 samples: PyTorch gives weights (1), (0.75, 0.25), (0.25, 0.75), (1); exact.
        let m = AxisMap::linear(2, 4);
        assert_eq!(
            m.taps,
            vec![
                vec![(0, 1.0)],
                vec![(0, 0.75), (1, 0.25)],
                vec![(0, 0.25), (1, 0.75)],
                vec![(1, 1.0)]
            ]
        );
        let a = AxisMap::average(5, 3, 2, 1).expect("fits");
        assert_eq!(a.out_len(), 3);
        assert_eq!(a.taps[0].len(), 2);
        assert!(AxisMap::average(5, 3, 2, 2).is_none());
    }
}
