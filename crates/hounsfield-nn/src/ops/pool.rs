//! Max pooling with any kernel, stride and padding; the gradient goes to the first maximum of
//! each window (PyTorch's rule), for overlapping windows too.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{Float, dims5, storage, with_float_slices};

#[derive(Clone, Copy, Debug)]
struct Window {
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
}

impl Window {
    fn output(&self, input: [usize; 3]) -> Result<[usize; 3]> {
        let mut out = [0; 3];
        for a in 0..3 {
            let (k, s, p) = (self.kernel[a], self.stride[a], self.padding[a]);
            if k == 0 || s == 0 || p > k / 2 || input[a] + 2 * p < k {
                return Err(candle_core::Error::Msg(format!(
                    "max_pool3d: kernel {:?}, stride {:?}, padding {:?} do not fit {input:?}",
                    self.kernel, self.stride, self.padding
                )));
            }
            out[a] = (input[a] + 2 * p - k) / s + 1;
        }
        Ok(out)
    }

    /// Index (within one channel) of the first maximum of output voxel `o`'s window.
    fn argmax<T: Float>(&self, plane: &[T], input: [usize; 3], o: [usize; 3]) -> usize {
        let mut best = (T::neg_infinity(), usize::MAX);
        for kz in 0..self.kernel[0] {
            let Some(z) =
                (o[0] * self.stride[0] + kz).checked_sub(self.padding[0]).filter(|&z| z < input[0])
            else {
                continue;
            };
            for ky in 0..self.kernel[1] {
                let Some(y) = (o[1] * self.stride[1] + ky)
                    .checked_sub(self.padding[1])
                    .filter(|&y| y < input[1])
                else {
                    continue;
                };
                for kx in 0..self.kernel[2] {
                    let Some(x) = (o[2] * self.stride[2] + kx)
                        .checked_sub(self.padding[2])
                        .filter(|&x| x < input[2])
                    else {
                        continue;
                    };
                    let i = (z * input[1] + y) * input[2] + x;
                    // NaN wins, so it propagates as in PyTorch.
                    if best.1 == usize::MAX
                        || plane[i] > best.0
                        || plane[i].is_nan() && !best.0.is_nan()
                    {
                        best = (plane[i], i);
                    }
                }
            }
        }
        best.1
    }

    /// Calls `f(output index, argmax index)` for every output voxel of one channel.
    fn for_each_max<T: Float>(
        &self,
        plane: &[T],
        input: [usize; 3],
        out: [usize; 3],
        mut f: impl FnMut(usize, usize),
    ) {
        let mut o = 0;
        for z in 0..out[0] {
            for y in 0..out[1] {
                for x in 0..out[2] {
                    f(o, self.argmax(plane, input, [z, y, x]));
                    o += 1;
                }
            }
        }
    }
}

struct MaxPool(Window);

impl CustomOp1 for MaxPool {
    fn name(&self) -> &'static str {
        "max_pool3d"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = dims5(l, self.name())?;
        let input = [d[2], d[3], d[4]];
        let out = self.0.output(input)?;
        let (in_plane, out_plane) =
            (input.iter().product::<usize>(), out.iter().product::<usize>());
        with_float_slices!(self.name(), (s, l) => x, |T| {
            let mut y = vec![T::default(); d[0] * d[1] * out_plane];
            y.par_chunks_exact_mut(out_plane).zip(x.par_chunks_exact(in_plane)).for_each(|(y, x)| {
                self.0.for_each_max(x, input, out, |o, i| y[o] = x[i]);
            });
            Ok((storage(y), Shape::from_dims(&[d[0], d[1], out[0], out[1], out[2]])))
        })
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &MaxPoolBackward(self.0))?))
    }
}

/// `(x, dy) -> dx`: routes each output gradient to its window's first maximum.
struct MaxPoolBackward(Window);

impl CustomOp2 for MaxPoolBackward {
    fn name(&self) -> &'static str {
        "max_pool3d-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let d = dims5(l1, self.name())?;
        let input = [d[2], d[3], d[4]];
        let out = self.0.output(input)?;
        let (in_plane, out_plane) =
            (input.iter().product::<usize>(), out.iter().product::<usize>());
        if dims5(l2, self.name())? != [d[0], d[1], out[0], out[1], out[2]] {
            return Err(candle_core::Error::Msg(
                "max_pool3d-backward: gradient shape differs from the output".into(),
            ));
        }
        with_float_slices!(self.name(), (s1, l1) => x, (s2, l2) => dy, |T| {
            let mut dx = vec![T::default(); x.len()];
            dx.par_chunks_exact_mut(in_plane)
                .zip(x.par_chunks_exact(in_plane).zip(dy.par_chunks_exact(out_plane)))
                .for_each(|(dx, (x, dy))| self.0.for_each_max(x, input, out, |o, i| dx[i] += dy[o]));
            Ok((storage(dx), l1.shape().clone()))
        })
    }
}

/// Max pooling (PyTorch's `max_pool3d`, padding at most half the kernel).
pub fn max_pool3d(
    x: &Tensor,
    kernel: [usize; 3],
    stride: [usize; 3],
    padding: [usize; 3],
) -> Result<Tensor> {
    x.contiguous()?.apply_op1(MaxPool(Window { kernel, stride, padding }))
}
