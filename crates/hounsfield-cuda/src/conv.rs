//! 3D convolution on `(N, C, D, H, W)` `f32` tensors on the GPU: forward, data gradient and
//! weight gradient, each output computed by one thread (the weight gradient through partial
//! sums over fixed chunks, reduced in order), so results repeat exactly.

use crate::device::int;
use crate::emulate::Arg;
use crate::kernels::CONV3D;
use crate::launcher::Launcher;
use crate::projector::take_f32;
use crate::{Error, Result};

/// A convolution's sizes, in (D, H, W) order per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Samples.
    pub batch: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Channel groups.
    pub groups: usize,
    /// Input size.
    pub input: [usize; 3],
    /// Output size.
    pub output: [usize; 3],
    /// Kernel size.
    pub kernel: [usize; 3],
    /// Stride.
    pub stride: [usize; 3],
    /// Zero padding on both sides.
    pub padding: [usize; 3],
    /// Dilation.
    pub dilation: [usize; 3],
}

impl ConvShape {
    fn x_len(&self) -> usize {
        self.batch * self.in_channels * self.input.iter().product::<usize>()
    }

    fn y_len(&self) -> usize {
        self.batch * self.out_channels * self.output.iter().product::<usize>()
    }

    fn w_len(&self) -> usize {
        self.out_channels
            * (self.in_channels / self.groups.max(1))
            * self.kernel.iter().product::<usize>()
    }

    /// The 22 ints the kernels read, after checking the shape is consistent.
    fn params(&self) -> Result<Vec<i32>> {
        let g = self.groups;
        let consistent = g > 0
            && self.in_channels.is_multiple_of(g)
            && self.out_channels.is_multiple_of(g)
            && (0..3).all(|a| {
                let span = self.dilation[a] * (self.kernel[a].max(1) - 1) + 1;
                self.stride[a] > 0
                    && self.kernel[a] > 0
                    && self.input[a] + 2 * self.padding[a] >= span
                    && self.output[a]
                        == (self.input[a] + 2 * self.padding[a] - span) / self.stride[a] + 1
            });
        if !consistent {
            return Err(Error::Invalid(format!("inconsistent convolution {self:?}")));
        }
        int(self.x_len().max(self.y_len()), "tensor length")?;
        let mut p = vec![self.batch, self.in_channels, self.out_channels, g];
        for v in [self.input, self.output, self.kernel, self.stride, self.padding, self.dilation] {
            p.extend_from_slice(&v);
        }
        p.into_iter().map(|v| int(v, "convolution size")).collect()
    }
}

fn check(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{what} has {got} values, the shape needs {want}")))
    }
}

/// `y = conv(x, w)`.
pub fn forward(gpu: &dyn Launcher, s: &ConvShape, x: &[f32], w: &[f32]) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("input", x.len(), s.x_len())?;
    check("weight", w.len(), s.w_len())?;
    let mut args = [
        Arg::I32s(p),
        Arg::F32s(x.to_vec()),
        Arg::F32s(w.to_vec()),
        Arg::F32s(vec![0.0; s.y_len()]),
    ];
    gpu.launch(&CONV3D, "conv3d_forward", s.y_len(), &mut args, &[3])?;
    Ok(take_f32(&mut args[3]))
}

/// `dx = conv^T(dy, w)`, the adjoint of [`forward`] in `x` (also the transposed convolution).
pub fn backward_data(gpu: &dyn Launcher, s: &ConvShape, dy: &[f32], w: &[f32]) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("output gradient", dy.len(), s.y_len())?;
    check("weight", w.len(), s.w_len())?;
    let mut args = [
        Arg::I32s(p),
        Arg::F32s(dy.to_vec()),
        Arg::F32s(w.to_vec()),
        Arg::F32s(vec![0.0; s.x_len()]),
    ];
    gpu.launch(&CONV3D, "conv3d_backward_data", s.x_len(), &mut args, &[3])?;
    Ok(take_f32(&mut args[3]))
}

/// `dw`: the gradient of `<conv(x, w), dy>` in `w`.
pub fn backward_weight(
    gpu: &dyn Launcher,
    s: &ConvShape,
    x: &[f32],
    dy: &[f32],
) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("input", x.len(), s.x_len())?;
    check("output gradient", dy.len(), s.y_len())?;
    let n_w = s.w_len();
    // Enough chunks to fill the device (~2^20 threads), each at least 64 positions long.
    let positions = s.batch * s.output.iter().product::<usize>();
    let chunks = ((1usize << 20) / n_w.max(1)).clamp(1, positions.div_ceil(64).max(1));
    let chunks_i = int(chunks, "chunks")?;
    let mut partial = [
        Arg::I32s(p),
        Arg::F32s(x.to_vec()),
        Arg::F32s(dy.to_vec()),
        Arg::I32(chunks_i),
        Arg::F32s(vec![0.0; n_w * chunks]),
    ];
    gpu.launch(&CONV3D, "conv3d_backward_weight_partial", n_w * chunks, &mut partial, &[4])?;
    let n = i64::try_from(n_w).map_err(|_| Error::Invalid("weight too large".into()))?;
    let sums = std::mem::replace(&mut partial[4], Arg::I32(0));
    let mut args = [sums, Arg::I64(n), Arg::I32(chunks_i), Arg::F32s(vec![0.0; n_w])];
    gpu.launch(&CONV3D, "sum_chunks", n_w, &mut args, &[3])?;
    Ok(take_f32(&mut args[3]))
}
