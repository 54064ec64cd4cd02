//! 3D convolution on `(N, C, D, H, W)` `f32` tensors on the GPU: forward, data gradient and
//! weight gradient, each output computed by one thread (the weight gradient through partial
//! sums over fixed chunks, reduced in order), so results repeat exactly.

use cudarc::driver::PushKernelArg;

use crate::device::int;
use crate::kernels::CONV3D;
use crate::launch::launch;
use crate::{Error, Gpu, Result};

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
            && self.in_channels % g == 0
            && self.out_channels % g == 0
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
pub fn forward(gpu: &Gpu, s: &ConvShape, x: &[f32], w: &[f32]) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("input", x.len(), s.x_len())?;
    check("weight", w.len(), s.w_len())?;
    let f = gpu.function(&CONV3D, "conv3d_forward")?;
    let (p, xs, ws) = (gpu.upload(&p)?, gpu.upload(x)?, gpu.upload(w)?);
    let mut y = gpu.zeros::<f32>(s.y_len())?;
    let mut args = gpu.stream().launch_builder(&f);
    args.arg(&p).arg(&xs).arg(&ws).arg(&mut y);
    gpu.timed(|| launch(&mut args, s.y_len()))?;
    gpu.download(&y)
}

/// `dx = conv^T(dy, w)`, the adjoint of [`forward`] in `x` (also the transposed convolution).
pub fn backward_data(gpu: &Gpu, s: &ConvShape, dy: &[f32], w: &[f32]) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("output gradient", dy.len(), s.y_len())?;
    check("weight", w.len(), s.w_len())?;
    let f = gpu.function(&CONV3D, "conv3d_backward_data")?;
    let (p, dys, ws) = (gpu.upload(&p)?, gpu.upload(dy)?, gpu.upload(w)?);
    let mut dx = gpu.zeros::<f32>(s.x_len())?;
    let mut args = gpu.stream().launch_builder(&f);
    args.arg(&p).arg(&dys).arg(&ws).arg(&mut dx);
    gpu.timed(|| launch(&mut args, s.x_len()))?;
    gpu.download(&dx)
}

/// `dw`: the gradient of `<conv(x, w), dy>` in `w`.
pub fn backward_weight(gpu: &Gpu, s: &ConvShape, x: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    gpu.start_timing();
    let p = s.params()?;
    check("input", x.len(), s.x_len())?;
    check("output gradient", dy.len(), s.y_len())?;
    let n_w = s.w_len();
    // Enough chunks to fill the device (~2^20 threads), each at least 64 positions long.
    let positions = s.batch * s.output.iter().product::<usize>();
    let chunks = ((1usize << 20) / n_w.max(1)).clamp(1, positions.div_ceil(64).max(1));
    let partial_fn = gpu.function(&CONV3D, "conv3d_backward_weight_partial")?;
    let sum_fn = gpu.function(&CONV3D, "sum_chunks")?;
    let (p, xs, dys) = (gpu.upload(&p)?, gpu.upload(x)?, gpu.upload(dy)?);
    let mut partial = gpu.zeros::<f32>(n_w * chunks)?;
    let chunks_i = int(chunks, "chunks")?;
    let mut args = gpu.stream().launch_builder(&partial_fn);
    args.arg(&p).arg(&xs).arg(&dys).arg(&chunks_i).arg(&mut partial);
    gpu.timed(|| launch(&mut args, n_w * chunks))?;
    let mut dw = gpu.zeros::<f32>(n_w)?;
    let n = i64::try_from(n_w).map_err(|_| Error::Invalid("weight too large".into()))?;
    let mut args = gpu.stream().launch_builder(&sum_fn);
    args.arg(&partial).arg(&n).arg(&chunks_i).arg(&mut dw);
    gpu.timed(|| launch(&mut args, n_w))?;
    gpu.download(&dw)
}
