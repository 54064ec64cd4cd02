//! 3D convolution and transposed convolution, forward and backward, as candle custom ops.
//!
//! candle 0.11 has no 3D convolution. Each product here is im2col + GEMM over a slab of output
//! rows (a few megabytes of columns, so the column matrix never holds the whole volume); the
//! backward passes are the same product transposed (col2im for the data gradient, columns times
//! output gradient for the weight gradient). The three maps are bilinear in their two inputs and
//! each one's derivative is another of the three, which is how `conv_transpose3d` (the data
//! gradient map) gets its own backward pass.

use candle_core::{CpuStorage, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::cpu::{Float, dims5, storage, with_float_slices};
use crate::gemm::{MatRef, matmul};

#[cfg(target_arch = "x86_64")]
mod direct;
mod shifted;
#[cfg(target_arch = "x86_64")]
mod stack;

/// Stride, zero padding, dilation and groups of a 3D convolution, per axis in (D, H, W) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dConfig {
    /// Step between output samples.
    pub stride: [usize; 3],
    /// Zeros added on both sides of the input.
    pub padding: [usize; 3],
    /// Spacing between kernel taps.
    pub dilation: [usize; 3],
    /// Channel groups: input and output channels split into this many independent blocks.
    pub groups: usize,
}

impl Default for Conv3dConfig {
    fn default() -> Self {
        Self { stride: [1; 3], padding: [0; 3], dilation: [1; 3], groups: 1 }
    }
}

impl Conv3dConfig {
    /// Stride 1 and the padding that keeps the size for an odd `kernel` ("same" convolution).
    pub fn same(kernel: usize) -> Self {
        Self { padding: [kernel / 2; 3], ..Self::default() }
    }

    /// The same configuration with a stride on every axis.
    pub fn with_stride(self, stride: [usize; 3]) -> Self {
        Self { stride, ..self }
    }

    /// The same configuration with a padding on every axis.
    pub fn with_padding(self, padding: [usize; 3]) -> Self {
        Self { padding, ..self }
    }

    /// The same configuration with a dilation on every axis.
    pub fn with_dilation(self, dilation: [usize; 3]) -> Self {
        Self { dilation, ..self }
    }

    /// The same configuration with `groups` channel groups.
    pub fn with_groups(self, groups: usize) -> Self {
        Self { groups, ..self }
    }
}

/// Output length of a convolution along one axis, or `None` when the kernel does not fit.
fn conv_out_len(input: usize, kernel: usize, cfg: &Conv3dConfig, axis: usize) -> Option<usize> {
    let span = cfg.dilation[axis] * (kernel - 1) + 1;
    let padded = input + 2 * cfg.padding[axis];
    (padded >= span && cfg.stride[axis] > 0).then(|| (padded - span) / cfg.stride[axis] + 1)
}

/// Everything the kernels need to know about one convolution, in convolution terms ("input" is
/// the wide side, `x`; "output" is `y = conv(x, w)`), validated once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ConvShape {
    batch: usize,
    in_channels: usize,
    out_channels: usize,
    input: [usize; 3],
    output: [usize; 3],
    kernel: [usize; 3],
    cfg: Conv3dConfig,
}

impl ConvShape {
    /// Checks an input `(N, C, D, H, W)` against a weight `(O, C / groups, KD, KH, KW)`.
    fn new(x: [usize; 5], w: [usize; 5], cfg: Conv3dConfig, op: &str) -> Result<Self> {
        let groups = cfg.groups;
        let bad = |why: String| Err(candle_core::Error::Msg(format!("{op}: {why}")));
        if groups == 0 || !x[1].is_multiple_of(groups) || !w[0].is_multiple_of(groups) {
            return bad(format!(
                "groups {groups} must divide {} input and {} output channels",
                x[1], w[0]
            ));
        }
        if w[1] * groups != x[1] {
            return bad(format!(
                "weight {w:?} expects {} input channels, input has {}",
                w[1] * groups,
                x[1]
            ));
        }
        if cfg.stride.contains(&0) || cfg.dilation.contains(&0) || w[2..].contains(&0) {
            return bad("stride, dilation and kernel sizes must be positive".into());
        }
        let kernel = [w[2], w[3], w[4]];
        let mut output = [0; 3];
        for axis in 0..3 {
            match conv_out_len(x[axis + 2], kernel[axis], &cfg, axis) {
                Some(n) => output[axis] = n,
                None => {
                    return bad(format!("kernel {kernel:?} (dilated) exceeds padded input {x:?}"));
                }
            }
        }
        Ok(Self {
            batch: x[0],
            in_channels: x[1],
            out_channels: w[0],
            input: [x[2], x[3], x[4]],
            output,
            kernel,
            cfg,
        })
    }

    fn group_in(&self) -> usize {
        self.in_channels / self.cfg.groups
    }

    fn group_out(&self) -> usize {
        self.out_channels / self.cfg.groups
    }

    /// Rows of the column matrix: one per (input channel of a group, kernel tap).
    fn col_rows(&self) -> usize {
        self.group_in() * self.kernel.iter().product::<usize>()
    }

    fn in_plane(&self) -> usize {
        self.input.iter().product()
    }

    fn out_plane(&self) -> usize {
        self.output.iter().product()
    }

    fn x_dims(&self) -> [usize; 5] {
        [self.batch, self.in_channels, self.input[0], self.input[1], self.input[2]]
    }

    fn y_dims(&self) -> [usize; 5] {
        [self.batch, self.out_channels, self.output[0], self.output[1], self.output[2]]
    }

    fn w_dims(&self) -> [usize; 5] {
        [self.out_channels, self.group_in(), self.kernel[0], self.kernel[1], self.kernel[2]]
    }

    /// Output rows (z, y pairs) per slab: about 2^20 column elements, at least one row.
    fn slab_rows(&self) -> usize {
        let target = (1usize << 20) / self.col_rows().max(1);
        (target / self.output[2].max(1)).max(1)
    }

    /// The slabs `(start_row, end_row)` covering all output rows.
    fn slabs(&self) -> Vec<(usize, usize)> {
        let rows = self.output[0] * self.output[1];
        let step = self.slab_rows();
        (0..rows).step_by(step).map(|r| (r, (r + step).min(rows))).collect()
    }

    /// Input offset along x of tap `kx`, and the output range `[lo, hi)` whose samples land inside.
    fn x_range(&self, kx: usize) -> (isize, usize, usize) {
        let (s, w, ow) = (self.cfg.stride[2], self.input[2], self.output[2]);
        let offset = to_isize(kx * self.cfg.dilation[2]) - to_isize(self.cfg.padding[2]);
        let lo = if offset >= 0 { 0 } else { (-offset).unsigned_abs().div_ceil(s) };
        let end = to_isize(w) - offset;
        let hi = if end <= 0 { 0 } else { end.unsigned_abs().div_ceil(s).min(ow) };
        (offset, lo.min(hi), hi)
    }

    /// Input index along z (axis 0) or y (axis 1) of output `o` and tap `k`, if inside.
    fn source(&self, axis: usize, o: usize, k: usize) -> Option<usize> {
        let i = to_isize(o * self.cfg.stride[axis] + k * self.cfg.dilation[axis])
            - to_isize(self.cfg.padding[axis]);
        usize::try_from(i).ok().filter(|&i| i < self.input[axis])
    }
}

fn to_isize(v: usize) -> isize {
    isize::try_from(v).unwrap_or(isize::MAX)
}

/// Fills `cols` (`col_rows x n_cols`, row-major) with the input samples each output voxel of
/// rows `[r0, r1)` sees; `x` holds the group's input channels.
fn im2col<T: Float>(s: &ConvShape, x: &[T], (r0, r1): (usize, usize), cols: &mut [T]) {
    let [kd, kh, kw] = s.kernel;
    let (h, w, oh, ow) = (s.input[1], s.input[2], s.output[1], s.output[2]);
    let n_cols = (r1 - r0) * ow;
    let stride = s.cfg.stride[2];
    let taps = (0..s.group_in()).flat_map(|c| {
        (0..kd).flat_map(move |z| (0..kh).flat_map(move |y| (0..kw).map(move |k| (c, z, y, k))))
    });
    for ((c, kz, ky, kx), row) in taps.zip(cols.chunks_exact_mut(n_cols)) {
        let plane = &x[c * s.in_plane()..(c + 1) * s.in_plane()];
        let (offset, lo, hi) = s.x_range(kx);
        for (r, dst) in (r0..r1).zip(row.chunks_exact_mut(ow)) {
            let (Some(iz), Some(iy)) = (s.source(0, r / oh, kz), s.source(1, r % oh, ky)) else {
                dst.fill(T::zero());
                continue;
            };
            let src = &plane[(iz * h + iy) * w..(iz * h + iy + 1) * w];
            dst[..lo].fill(T::zero());
            dst[hi..].fill(T::zero());
            if stride == 1 {
                let start = (to_isize(lo) + offset).unsigned_abs();
                dst[lo..hi].copy_from_slice(&src[start..start + hi - lo]);
            } else {
                for (o, d) in dst[lo..hi].iter_mut().enumerate() {
                    *d = src[(to_isize((lo + o) * stride) + offset).unsigned_abs()];
                }
            }
        }
    }
}

/// The first `len` elements of a reused buffer, grown (zero-filled only where new) when short;
/// [`im2col`] overwrites every one of them.
fn columns<T: Float>(scratch: &mut Vec<T>, len: usize) -> &mut [T] {
    if scratch.len() < len {
        scratch.resize(len, T::zero());
    }
    &mut scratch[..len]
}

/// Adds the columns back onto the input planes they came from (the adjoint of [`im2col`]),
/// one input channel per task.
fn col2im<T: Float>(s: &ConvShape, cols: &[T], (r0, r1): (usize, usize), dx: &mut [T]) {
    let [kd, kh, kw] = s.kernel;
    let (h, w, oh, ow) = (s.input[1], s.input[2], s.output[1], s.output[2]);
    let n_cols = (r1 - r0) * ow;
    let stride = s.cfg.stride[2];
    let per_channel = kd * kh * kw * n_cols;
    dx.par_chunks_exact_mut(s.in_plane()).zip(cols.par_chunks_exact(per_channel)).for_each(
        |(plane, ccols)| {
            let taps =
                (0..kd).flat_map(|z| (0..kh).flat_map(move |y| (0..kw).map(move |k| (z, y, k))));
            for ((kz, ky, kx), row) in taps.zip(ccols.chunks_exact(n_cols)) {
                let (offset, lo, hi) = s.x_range(kx);
                for (r, src) in (r0..r1).zip(row.chunks_exact(ow)) {
                    let (Some(iz), Some(iy)) = (s.source(0, r / oh, kz), s.source(1, r % oh, ky))
                    else {
                        continue;
                    };
                    let dst = &mut plane[(iz * h + iy) * w..(iz * h + iy + 1) * w];
                    for o in lo..hi {
                        dst[(to_isize(o * stride) + offset).unsigned_abs()] += src[o];
                    }
                }
            }
        },
    );
}

/// Set by tests that compare the direct kernels and the fused stack with the column path they
/// replace: while set, every convolution takes the column path.
#[cfg(test)]
pub(crate) static REFERENCE_KERNELS: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether the direct kernels and the fused stack may run (always, outside tests).
fn fast_kernels() -> bool {
    #[cfg(test)]
    return !REFERENCE_KERNELS.load(std::sync::atomic::Ordering::SeqCst);
    #[cfg(not(test))]
    true
}

/// [`direct::forward`] where it applies (f32 "same" 3x3 2D convolutions on an AVX2 CPU).
fn forward_direct<T: Float>(s: &ConvShape, x: &[T], w: &[T]) -> Option<Vec<T>> {
    #[cfg(target_arch = "x86_64")]
    if let (true, true, Some(x), Some(w)) =
        (fast_kernels(), direct::applies(s), T::as_f32(x), T::as_f32(w))
    {
        return T::from_f32(direct::forward(s, x, w));
    }
    let _ = (s, x, w);
    None
}

/// [`direct::backward_weight`] where it applies.
fn backward_weight_direct<T: Float>(s: &ConvShape, x: &[T], dy: &[T]) -> Option<Vec<T>> {
    #[cfg(target_arch = "x86_64")]
    if let (true, true, Some(x), Some(dy)) =
        (fast_kernels(), direct::applies(s), T::as_f32(x), T::as_f32(dy))
    {
        return T::from_f32(direct::backward_weight(s, x, dy));
    }
    let _ = (s, x, dy);
    None
}

/// `y = conv(x, w)`.
fn forward<T: Float>(s: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    if let Some(y) = forward_direct(s, x, w) {
        return y;
    }
    // In 2D (one kernel slice) the column path's single GEMM measured faster.
    if shifted::applies(s) && s.kernel[0] > 1 {
        shifted::forward(s, x, w)
    } else {
        forward_im2col(s, x, w)
    }
}

/// [`forward`] through column matrices: any stride, dilation and grouping.
fn forward_im2col<T: Float>(s: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    let (cg, og, kr) = (s.group_in(), s.group_out(), s.col_rows());
    let ow = s.output[2];
    let units: Vec<(usize, usize, (usize, usize))> = (0..s.batch)
        .flat_map(|n| {
            (0..s.cfg.groups).flat_map(move |g| s.slabs().into_iter().map(move |slab| (n, g, slab)))
        })
        .collect();
    // One contiguous run of units per thread, each with the thread's column buffer that im2col
    // overwrites (large buffers allocated per unit cost page faults and zeroing).
    let per_thread = units.len().div_ceil(rayon::current_num_threads()).max(1);
    let parts: Vec<Vec<T>> = units
        .par_chunks(per_thread)
        .flat_map_iter(|run| {
            T::with_scratch(|scratch| {
                run.iter()
                    .map(|&(n, g, slab)| {
                        let n_cols = (slab.1 - slab.0) * ow;
                        let xg =
                            &x[(n * s.in_channels + g * cg) * s.in_plane()..][..cg * s.in_plane()];
                        let cols = columns(scratch, kr * n_cols);
                        im2col(s, xg, slab, cols);
                        let mut part = vec![T::zero(); og * n_cols];
                        let wg = MatRef::row_major(&w[g * og * kr..(g + 1) * og * kr], og, kr);
                        matmul(&mut part, false, wg, MatRef::row_major(cols, kr, n_cols), false);
                        part
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut y = vec![T::zero(); s.y_dims().iter().product()];
    for (&(n, g, (r0, r1)), part) in units.iter().zip(&parts) {
        let n_cols = (r1 - r0) * ow;
        for (o, src) in part.chunks_exact(n_cols).enumerate() {
            let base = (n * s.out_channels + g * og + o) * s.out_plane() + r0 * ow;
            y[base..base + n_cols].copy_from_slice(src);
        }
    }
    y
}

/// The output gradient of channels `g * og ..` of sample `n`, rows `[r0, r1)`, as an
/// `og x n_cols` view.
fn dy_view<'a, T>(
    s: &ConvShape,
    dy: &'a [T],
    n: usize,
    g: usize,
    (r0, r1): (usize, usize),
) -> MatRef<'a, T> {
    let start = (n * s.out_channels + g * s.group_out()) * s.out_plane() + r0 * s.output[2];
    MatRef {
        data: &dy[start..],
        rows: s.group_out(),
        cols: (r1 - r0) * s.output[2],
        row_stride: s.out_plane(),
        col_stride: 1,
    }
}

/// For stride 1, the data gradient is itself a convolution: of `dy` with the kernel flipped and
/// its channel axes swapped, padded by `dilation * (k - 1) - padding`. That runs at the forward
/// pass's speed instead of scattering columns back (col2im).
fn backward_data_as_convolution<T: Float>(s: &ConvShape, dy: &[T], w: &[T]) -> Option<Vec<T>> {
    let cfg = &s.cfg;
    let mut padding = [0; 3];
    for (a, p) in padding.iter_mut().enumerate() {
        *p = (cfg.dilation[a] * (s.kernel[a] - 1)).checked_sub(cfg.padding[a])?;
    }
    if cfg.stride != [1; 3] {
        return None;
    }
    let (cg, og) = (s.group_in(), s.group_out());
    let [kd, kh, kw] = s.kernel;
    let taps = kd * kh * kw;
    // w'[g cg + c][o][tap] = w[g og + o][c][last tap - tap].
    let mut flipped = vec![T::zero(); w.len()];
    for g in 0..cfg.groups {
        for c in 0..cg {
            for o in 0..og {
                let src = &w[((g * og + o) * cg + c) * taps..][..taps];
                let dst = &mut flipped[((g * cg + c) * og + o) * taps..][..taps];
                dst.iter_mut().zip(src.iter().rev()).for_each(|(d, v)| *d = *v);
            }
        }
    }
    let transposed = ConvShape {
        batch: s.batch,
        in_channels: s.out_channels,
        out_channels: s.in_channels,
        input: s.output,
        output: s.input,
        kernel: s.kernel,
        cfg: Conv3dConfig { padding, ..*cfg },
    };
    Some(forward(&transposed, dy, &flipped))
}

/// `dx = conv^T(dy, w)`: the adjoint of [`forward`] in `x`.
fn backward_data<T: Float>(s: &ConvShape, dy: &[T], w: &[T]) -> Vec<T> {
    if let Some(dx) = backward_data_as_convolution(s, dy, w) {
        return dx;
    }
    let (cg, og, kr) = (s.group_in(), s.group_out(), s.col_rows());
    let mut dx = vec![T::zero(); s.x_dims().iter().product()];
    for n in 0..s.batch {
        for g in 0..s.cfg.groups {
            let wg_t = MatRef::row_major(&w[g * og * kr..(g + 1) * og * kr], og, kr).t();
            let dxg = &mut dx[(n * s.in_channels + g * cg) * s.in_plane()..][..cg * s.in_plane()];
            let mut cols = Vec::new();
            for slab in s.slabs() {
                let view = dy_view(s, dy, n, g, slab);
                cols.resize(kr * view.cols, T::zero());
                matmul(&mut cols, false, wg_t, view, true);
                col2im(s, &cols[..kr * view.cols], slab, dxg);
            }
        }
    }
    dx
}

/// `dw = d<y, dy>/dw`: the output gradient times the input patches, summed over the batch.
fn backward_weight<T: Float>(s: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
    if let Some(dw) = backward_weight_direct(s, x, dy) {
        return dw;
    }
    if shifted::applies(s) {
        shifted::backward_weight(s, x, dy)
    } else {
        backward_weight_im2col(s, x, dy)
    }
}

/// [`backward_weight`] through column matrices.
fn backward_weight_im2col<T: Float>(s: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
    let (cg, og, kr) = (s.group_in(), s.group_out(), s.col_rows());
    let len = s.w_dims().iter().product::<usize>();
    let units: Vec<(usize, usize, (usize, usize))> = (0..s.batch)
        .flat_map(|n| {
            (0..s.cfg.groups).flat_map(move |g| s.slabs().into_iter().map(move |slab| (n, g, slab)))
        })
        .collect();
    let per_thread = units.len().div_ceil(rayon::current_num_threads()).max(1);
    units
        .par_chunks(per_thread)
        .map(|run| {
            let mut acc = vec![T::zero(); len];
            T::with_scratch(|scratch| {
                for &(n, g, slab) in run {
                    let view = dy_view(s, dy, n, g, slab);
                    let xg = &x[(n * s.in_channels + g * cg) * s.in_plane()..][..cg * s.in_plane()];
                    let cols = columns(scratch, kr * view.cols);
                    im2col(s, xg, slab, cols);
                    let cols_t = MatRef::row_major(cols, kr, view.cols).t();
                    matmul(&mut acc[g * og * kr..(g + 1) * og * kr], true, view, cols_t, false);
                }
            });
            acc
        })
        .reduce(
            || vec![T::zero(); len],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += *b);
                a
            },
        )
}

/// Which of the three bilinear maps a [`Conv`] op computes, with the shape it cannot infer.
#[derive(Clone, Copy, Debug)]
enum Mode {
    /// `(x, w) -> y`.
    Forward,
    /// `(dy, w) -> dx`, for an input of these dimensions.
    Data([usize; 5]),
    /// `(x, dy) -> dw`, for a weight of these dimensions.
    Weight([usize; 5]),
}

#[derive(Clone, Copy, Debug)]
struct Conv {
    cfg: Conv3dConfig,
    mode: Mode,
}

impl Conv {
    fn apply(cfg: Conv3dConfig, mode: Mode, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        a.contiguous()?.apply_op2(&b.contiguous()?, Self { cfg, mode })
    }
}

impl CustomOp2 for Conv {
    fn name(&self) -> &'static str {
        match self.mode {
            Mode::Forward => "conv3d",
            Mode::Data(_) => "conv3d-backward-data",
            Mode::Weight(_) => "conv3d-backward-weight",
        }
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let op = self.name();
        let (d1, d2) = (dims5(l1, op)?, dims5(l2, op)?);
        let shape = match self.mode {
            Mode::Forward => ConvShape::new(d1, d2, self.cfg, op)?,
            Mode::Data(x) => ConvShape::new(x, d2, self.cfg, op)?,
            Mode::Weight(w) => ConvShape::new(d1, w, self.cfg, op)?,
        };
        let expect = |what: &str, want: [usize; 5], got: [usize; 5]| {
            if want == got {
                Ok(())
            } else {
                Err(candle_core::Error::Msg(format!(
                    "{op}: {what} has shape {got:?}, expected {want:?}"
                )))
            }
        };
        match self.mode {
            Mode::Forward => {}
            Mode::Data(_) => expect("output gradient", shape.y_dims(), d1)?,
            Mode::Weight(_) => expect("output gradient", shape.y_dims(), d2)?,
        }
        #[cfg(feature = "cuda")]
        if let (CpuStorage::F32(a), CpuStorage::F32(b)) = (s1, s2) {
            let (a, b) = (super::cpu::contiguous(a, l1, op)?, super::cpu::contiguous(b, l2, op)?);
            if let Some(out) = gpu::run(self.mode, &shape, a, b)? {
                return Ok(out);
            }
        }
        with_float_slices!(op, (s1, l1) => a, (s2, l2) => b, |T| {
            let (out, dims) = match self.mode {
                Mode::Forward => (forward::<T>(&shape, a, b), shape.y_dims()),
                Mode::Data(_) => (backward_data::<T>(&shape, a, b), shape.x_dims()),
                Mode::Weight(_) => (backward_weight::<T>(&shape, a, b), shape.w_dims()),
            };
            Ok((storage(out), Shape::from_dims(&dims)))
        })
    }

    fn bwd(
        &self,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let cfg = self.cfg;
        let dims = |t: &Tensor| -> Result<[usize; 5]> {
            t.dims()
                .try_into()
                .map_err(|_| candle_core::Error::Msg("conv3d: expected 5 dimensions".into()))
        };
        Ok(match self.mode {
            // y = F(x, w): dx = D(g, w), dw = W(x, g).
            Mode::Forward => (
                Some(Self::apply(cfg, Mode::Data(dims(a)?), g, b)?),
                Some(Self::apply(cfg, Mode::Weight(dims(b)?), a, g)?),
            ),
            // dx = D(dy, w): d(dy) = F(g, w), dw = W(g, dy).
            Mode::Data(_) => (
                Some(Self::apply(cfg, Mode::Forward, g, b)?),
                Some(Self::apply(cfg, Mode::Weight(dims(b)?), g, a)?),
            ),
            // dw = W(x, dy): dx = D(dy, g), d(dy) = F(x, g).
            Mode::Weight(_) => (
                Some(Self::apply(cfg, Mode::Data(dims(a)?), b, g)?),
                Some(Self::apply(cfg, Mode::Forward, a, g)?),
            ),
        })
    }
}

/// 3D convolution (cross-correlation, as PyTorch's `conv3d`): `x` is `(N, C, D, H, W)`, `w` is
/// `(O, C / groups, KD, KH, KW)`, the result `(N, O, OD, OH, OW)`. Differentiable in both.
pub fn conv3d(x: &Tensor, w: &Tensor, cfg: Conv3dConfig) -> Result<Tensor> {
    Conv::apply(cfg, Mode::Forward, x, w)
}

/// `x -> conv_0 + b_0 -> PReLU(slope_0) -> conv_1 + b_1 -> ... -> conv_last + b_last` for "same"
/// 3x3 2D convolutions (weights `(O, C, 1, 3, 3)`, biases `(O,)`, one `(1,)` slope per hidden
/// layer): a Learned Primal-Dual block. `f32` on an AVX2 CPU runs it as one op with its own
/// backward pass (candle's per-node gradient bookkeeping was a third of such a block's cost);
/// otherwise it is the composition of [`conv3d`] and [`crate::ops::bias_prelu`], which gives
/// the same values.
pub fn conv3x3_prelu_stack(
    x: &Tensor,
    layers: &[(&Tensor, &Tensor)],
    slopes: &[&Tensor],
) -> Result<Tensor> {
    if layers.is_empty() || slopes.len() + 1 != layers.len() {
        return Err(candle_core::Error::Msg(format!(
            "conv3x3_prelu_stack: {} layers need {} slopes, got {}",
            layers.len(),
            layers.len().saturating_sub(1),
            slopes.len()
        )));
    }
    #[cfg(target_arch = "x86_64")]
    if fast_kernels()
        && let Some(y) = stack::fused(x, layers, slopes)?
    {
        return Ok(y);
    }
    let cfg = Conv3dConfig::default().with_padding([0, 1, 1]);
    let mut h = x.clone();
    for (l, (w, b)) in layers.iter().enumerate() {
        let y = conv3d(&h, w, cfg)?;
        h = match slopes.get(l) {
            Some(a) => crate::ops::bias_prelu(&y, b, a)?,
            None => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1, 1))?)?,
        };
    }
    Ok(h)
}

/// 3D transposed convolution (PyTorch's `conv_transpose3d`, the adjoint of [`conv3d`] in its
/// input): `x` is `(N, C, D, H, W)`, `w` is `(C, O / groups, KD, KH, KW)`, the result
/// `(N, O, (D - 1) * stride - 2 * padding + dilation * (KD - 1) + output_padding + 1, ...)`.
pub fn conv_transpose3d(
    x: &Tensor,
    w: &Tensor,
    cfg: Conv3dConfig,
    output_padding: [usize; 3],
) -> Result<Tensor> {
    let (n, c, d, h, wd) = x.dims5()?;
    let (wc, og, kd, kh, kw) = w.dims5()?;
    if wc != c {
        return Err(candle_core::Error::Msg(format!(
            "conv_transpose3d: weight has {wc} input channels, input {c}"
        )));
    }
    let mut out = [0usize; 3];
    for (axis, (&len, &k)) in [d, h, wd].iter().zip(&[kd, kh, kw]).enumerate() {
        if output_padding[axis] >= cfg.stride[axis].max(cfg.dilation[axis]) {
            return Err(candle_core::Error::Msg(
                "conv_transpose3d: output_padding must be below stride or dilation".into(),
            ));
        }
        let full = (len.max(1) - 1) * cfg.stride[axis]
            + cfg.dilation[axis] * (k.max(1) - 1)
            + output_padding[axis]
            + 1;
        out[axis] =
            full.checked_sub(2 * cfg.padding[axis]).filter(|&v| v > 0).ok_or_else(|| {
                candle_core::Error::Msg("conv_transpose3d: padding removes the whole output".into())
            })?;
    }
    Conv::apply(cfg, Mode::Data([n, og * cfg.groups, out[0], out[1], out[2]]), x, w)
}

/// The same three maps on a CUDA GPU (feature `cuda`), for `f32` when a device is present.
#[cfg(feature = "cuda")]
mod gpu {
    use candle_core::{CpuStorage, Result, Shape};
    use hounsfield_cuda::Gpu;

    use super::{ConvShape, Mode};

    /// `Ok(None)` without a GPU (the CPU path runs instead); a GPU failure is an error.
    pub(super) fn run(
        mode: Mode,
        s: &ConvShape,
        a: &[f32],
        b: &[f32],
    ) -> Result<Option<(CpuStorage, Shape)>> {
        let Ok(gpu) = Gpu::shared() else { return Ok(None) };
        let shape = hounsfield_cuda::conv::ConvShape {
            batch: s.batch,
            in_channels: s.in_channels,
            out_channels: s.out_channels,
            groups: s.cfg.groups,
            input: s.input,
            output: s.output,
            kernel: s.kernel,
            stride: s.cfg.stride,
            padding: s.cfg.padding,
            dilation: s.cfg.dilation,
        };
        use hounsfield_cuda::conv::{backward_data, backward_weight, forward};
        let (out, dims) = match mode {
            Mode::Forward => (forward(gpu.as_ref(), &shape, a, b), s.y_dims()),
            Mode::Data(_) => (backward_data(gpu.as_ref(), &shape, a, b), s.x_dims()),
            Mode::Weight(_) => (backward_weight(gpu.as_ref(), &shape, a, b), s.w_dims()),
        };
        let out = out.map_err(|e| candle_core::Error::Msg(format!("conv3d on the GPU: {e}")))?;
        Ok(Some((CpuStorage::F32(out), Shape::from_dims(&dims))))
    }
}
