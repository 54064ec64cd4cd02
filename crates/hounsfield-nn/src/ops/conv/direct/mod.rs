//! "Same" 3x3 convolutions of 2D images (kernel `(1, 3, 3)`, padding `(0, 1, 1)`, stride 1) in
//! `f32`, computed directly with AVX-512 or AVX2: no column matrix and no GEMM packing.
//!
//! These are the Learned Primal-Dual's and the 2D U-Net's layers. Through im2col + GEMM they
//! copy the input nine times, then the GEMM packs those columns again, and the products are thin
//! (5 output channels, or 54 input taps), so a third of the step went to copies. Here each output
//! tile of `OB` channels x `PV` vectors of a row lives in `OB * PV` vector registers while every
//! (input channel, tap) pair adds its contribution: a row of inputs shifted by the tap is loaded
//! straight from a zero-padded copy of the image (one copy, not nine) and multiplied by the
//! broadcast weight of each output channel. The weight gradient is the same sum turned around:
//! per output channel and tap, the product of the output gradient with the shifted input, kept
//! lane-wise in registers and reduced at the end of each band of rows. The kernels themselves
//! are in [`simd`], once per instruction set.
//!
//! The data gradient needs nothing extra: for stride 1 it is itself such a convolution, with the
//! kernel flipped ([`data_gradient`]).
#![allow(unsafe_code)] // SIMD kernels on raw pointers; every bound is argued where it is read.

use std::sync::OnceLock;

use rayon::prelude::*;

use super::ConvShape;

mod simd;

use simd::{Band, MAX_BAND_CHANNELS, Tile};

/// Output rows per unit of work (a band's inputs stay in the first two cache levels).
const BAND: usize = 8;
/// Padded rows hold whole vectors of either instruction set past the last column.
const ROW_ALIGN: usize = 16;

/// The vector instruction set the kernels run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Isa {
    /// AVX2 with FMA: 8 lanes.
    Avx2,
    /// AVX-512F: 16 lanes.
    Avx512,
}

impl Isa {
    /// The widest set this CPU has, once per process; `HOUNSFIELD_SIMD=avx2` keeps AVX2 on an
    /// AVX-512 CPU (to compare the two).
    fn detected() -> Option<Isa> {
        static ISA: OnceLock<Option<Isa>> = OnceLock::new();
        *ISA.get_or_init(|| {
            let avx2 = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::env::var("HOUNSFIELD_SIMD").map_or(true, |v| v != "avx2");
            match (avx512, avx2) {
                (true, _) => Some(Isa::Avx512),
                (false, true) => Some(Isa::Avx2),
                _ => None,
            }
        })
    }

    /// Every set this CPU has (for tests).
    #[cfg(test)]
    fn available() -> Vec<Isa> {
        let mut list = Vec::new();
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            list.push(Isa::Avx2);
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            list.push(Isa::Avx512);
        }
        list
    }

    /// Output channels of one register tile.
    fn tile_channels(self) -> usize {
        match self {
            Isa::Avx2 => 6,
            Isa::Avx512 => 8,
        }
    }

    /// Output channels of one weight-gradient band.
    fn band_channels(self) -> usize {
        match self {
            Isa::Avx2 => 3,
            Isa::Avx512 => MAX_BAND_CHANNELS,
        }
    }
}

/// Whether [`forward`] and [`backward_weight`] compute this convolution on this CPU.
pub(super) fn applies(s: &ConvShape) -> bool {
    s.kernel == [1, 3, 3]
        && s.cfg.padding == [0, 1, 1]
        && s.cfg.stride == [1; 3]
        && s.cfg.dilation == [1; 3]
        && s.cfg.groups == 1
        && s.batch * s.in_channels * s.out_channels * s.in_plane() > 0
        && Isa::detected().is_some()
}

/// The zero-padded copy of every 2D image `(n, z)`: `C` planes of `(H + 2) x P` per image, where
/// `P` leaves room for whole vectors past the last column (`round_up(W, 16) + 2`).
pub(super) struct Padded {
    data: Vec<f32>,
    channels: usize,
    rows: usize,
    row: usize,
}

impl Padded {
    /// Copies `x` (`s`'s input) into the thread's reused buffer: every element is written, the
    /// borders with zeros, so no fill of the whole buffer and no fresh pages per call. With a
    /// `slope`, the copy is `PReLU(x)` (`x` the pre-activations of the layer before).
    pub(super) fn new(s: &ConvShape, x: &[f32], slope: Option<f32>) -> Self {
        assert_eq!(x.len(), s.batch * s.in_channels * s.in_plane(), "direct conv: input size");
        let [d, h, w] = s.input;
        let (rows, row) = (h + 2, w.div_ceil(ROW_ALIGN) * ROW_ALIGN + 2);
        let (channels, plane) = (s.in_channels, (h + 2) * row);
        let mut data = SCRATCH.take();
        let (n_images, image) = (s.batch * d, h * w);
        // Grown only when short: the loop below writes every element.
        data.resize(n_images * channels * plane, 0.0);
        // x is (N, C, D, H, W); the copy is (N, D, C, H + 2, P).
        for (k, dst) in data.chunks_exact_mut(plane).enumerate() {
            let (i, c) = (k / channels, k % channels);
            let (n, z) = (i / d, i % d);
            let src = &x[((n * channels + c) * d + z) * image..][..image];
            let (top, rest) = dst.split_at_mut(row);
            top.fill(0.0);
            let (body, bottom) = rest.split_at_mut(h * row);
            bottom.fill(0.0);
            for (line, out) in src.chunks_exact(w).zip(body.chunks_exact_mut(row)) {
                out[0] = 0.0;
                let inner = &mut out[1..=w];
                match slope {
                    None => inner.copy_from_slice(line),
                    Some(a) => prelu_into(inner, line, a),
                }
                out[w + 1..].fill(0.0);
            }
        }
        debug_assert_eq!(data.len(), n_images * channels * plane);
        Self { data, channels, rows, row }
    }

    fn plane(&self) -> usize {
        self.rows * self.row
    }

    fn image(&self) -> usize {
        self.channels * self.plane()
    }
}

/// `out = PReLU(z)` with negative slope `a`.
fn prelu_into(out: &mut [f32], z: &[f32], a: f32) {
    for (o, &v) in out.iter_mut().zip(z) {
        *o = if v > 0.0 { v } else { v * a };
    }
}

impl Drop for Padded {
    /// The buffer goes back to the thread for the next call.
    fn drop(&mut self) {
        SCRATCH.set(std::mem::take(&mut self.data));
    }
}

thread_local! {
    /// The padded copy's buffer, kept between calls on this thread.
    static SCRATCH: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// `channels` split into the fewest runs of at most `most`, as even as possible: `(first, len)`.
fn blocks(channels: usize, most: usize) -> Vec<(usize, usize)> {
    let count = channels.div_ceil(most).max(1);
    let (base, extra) = (channels / count, channels % count);
    let mut start = 0;
    (0..count)
        .map(|b| {
            let len = base + usize::from(b < extra);
            start += len;
            (start - len, len)
        })
        .collect()
}

/// Weights repacked per block as `[c][tap][j]` (the `OB` weights of one tap side by side).
fn pack_weights(w: &[f32], c: usize, blocks: &[(usize, usize)]) -> Vec<f32> {
    let mut packed = Vec::with_capacity(w.len());
    for &(o0, ob) in blocks {
        for ci in 0..c {
            for t in 0..9 {
                packed.extend((o0..o0 + ob).map(|o| w[(o * c + ci) * 9 + t]));
            }
        }
    }
    packed
}

/// A pointer shared by the tasks that write disjoint rows of one output.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: each task writes rows no other task writes (units are disjoint (image, band) pairs).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The pointer (a method, so closures capture the `Sync` wrapper, not the field).
    fn at(self, offset: usize) -> *mut f32 {
        self.0.wrapping_add(offset)
    }
}

/// Bands of `BAND` output rows of every image: the units of work.
fn units(images: usize, h: usize) -> Vec<(usize, usize, usize)> {
    (0..images).flat_map(|i| (0..h).step_by(BAND).map(move |y| (i, y, (y + BAND).min(h)))).collect()
}

/// `y = conv(x, w)`.
pub(super) fn forward(s: &ConvShape, x: &[f32], w: &[f32]) -> Vec<f32> {
    convolve(s, &Padded::new(s, x, None), w, None)
}

/// `conv(x, w) + bias` from the padded input.
pub(super) fn convolve(s: &ConvShape, xp: &Padded, w: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let isa = Isa::detected().expect("direct conv: called where it does not apply");
    convolve_with(isa, s, xp, w, bias)
}

/// [`convolve`] with the kernels of `isa`.
fn convolve_with(
    isa: Isa,
    s: &ConvShape,
    xp: &Padded,
    w: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (c, o) = (s.in_channels, s.out_channels);
    let [d, h, width] = s.input;
    assert_eq!(w.len(), o * c * 9, "direct conv: weight size");
    assert_eq!(xp.data.len(), s.batch * d * xp.image(), "direct conv: padded input size");
    let zeros = vec![0.0f32; o];
    let bias = bias.unwrap_or(&zeros);
    assert_eq!(bias.len(), o, "direct conv: bias size");
    let blocks = blocks(o, isa.tile_channels());
    let packed = pack_weights(w, c, &blocks);
    let len = s.batch * o * d * h * width;
    let mut y: Vec<f32> = Vec::with_capacity(len);
    let out = Out(y.as_mut_ptr());
    units(s.batch * d, h).into_par_iter().for_each(|(i, y0, y1)| {
        let (n, z) = (i / d, i % d);
        let mut weights = packed.as_ptr();
        for &(o0, ob) in &blocks {
            // Output (n, o0, z, row 0, 0) and the distance between channels.
            let first = ((n * o + o0) * d + z) * h * width;
            let ostride = d * h * width;
            let tile = Tile { cstride: xp.plane(), row: xp.row, channels: c, ostride };
            for row in y0..y1 {
                // SAFETY: the row `row` of channels o0..o0 + ob of image (n, z) lies inside y
                // (first + (ob - 1) * ostride + row * width + width <= y.len()), only this unit
                // writes it, and the padded rows row..row + 3 of every channel of image i lie
                // inside xp (rows <= h + 2, each `P >= round_up(width, 16) + 2` long).
                unsafe {
                    let dst = out.at(first + row * width);
                    let src = xp.data.as_ptr().add(i * xp.image() + row * xp.row);
                    let b = &bias[o0..o0 + ob];
                    match isa {
                        Isa::Avx2 => simd::avx2::row(&tile, 2, ob, src, weights, b, dst, width),
                        Isa::Avx512 => {
                            simd::avx512::row(&tile, 2, ob, src, weights, b, dst, width);
                        }
                    }
                }
            }
            // SAFETY: the packed weights hold `c * 9 * ob` values per block, in block order.
            weights = unsafe { weights.add(c * 9 * ob) };
        }
    });
    // SAFETY: the units cover every row of every channel of every image, and each row is
    // written whole (tiles up to `width`), so all `len` values are initialised.
    unsafe { y.set_len(len) };
    y
}

/// `dx = conv^T(dy, w)`: for stride 1, the convolution of `dy` with the kernel flipped and its
/// channel axes swapped.
pub(super) fn data_gradient(s: &ConvShape, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let (c, o) = (s.in_channels, s.out_channels);
    let mut flipped = vec![0.0f32; w.len()];
    for (oc, taps) in w.chunks_exact(9).enumerate() {
        let (oi, ci) = (oc / c, oc % c);
        let dst = &mut flipped[(ci * o + oi) * 9..][..9];
        dst.iter_mut().zip(taps.iter().rev()).for_each(|(d, v)| *d = *v);
    }
    let t = ConvShape { in_channels: o, out_channels: c, ..*s };
    convolve(&t, &Padded::new(&t, dy, None), &flipped, None)
}

/// `dw = d<y, dy>/dw`, summed over the batch: per thread a run of (image, band) units summed into
/// its own gradient, then the threads' gradients added.
pub(super) fn backward_weight(s: &ConvShape, x: &[f32], dy: &[f32]) -> Vec<f32> {
    weight_gradient(s, &Padded::new(s, x, None), dy)
}

/// [`backward_weight`] from the padded input.
pub(super) fn weight_gradient(s: &ConvShape, xp: &Padded, dy: &[f32]) -> Vec<f32> {
    let isa = Isa::detected().expect("direct conv: called where it does not apply");
    weight_gradient_with(isa, s, xp, dy)
}

/// [`weight_gradient`] with the kernels of `isa`.
fn weight_gradient_with(isa: Isa, s: &ConvShape, xp: &Padded, dy: &[f32]) -> Vec<f32> {
    let (c, o) = (s.in_channels, s.out_channels);
    let [d, h, width] = s.input;
    assert_eq!(dy.len(), s.batch * o * d * h * width, "direct conv: gradient size");
    assert_eq!(xp.data.len(), s.batch * d * xp.image(), "direct conv: padded input size");
    let len = o * c * 9;
    let units = units(s.batch * d, h);
    let per_thread = units.len().div_ceil(rayon::current_num_threads()).max(1);
    let blocks = blocks(o, isa.band_channels());
    units
        .par_chunks(per_thread)
        .map(|run| {
            let mut dw = vec![0.0f32; len];
            for &(i, y0, y1) in run {
                let (n, z) = (i / d, i % d);
                let ostride = d * h * width;
                for &(o0, ob) in &blocks {
                    let grad = ((n * o + o0) * d + z) * h * width + y0 * width;
                    for ci in 0..c {
                        for ky in 0..3 {
                            let band = Band { rows: y1 - y0, width, ostride, row: xp.row };
                            // SAFETY: dy rows y0..y1 of channels o0..o0 + ob of image (n, z)
                            // lie inside dy; the padded rows y0 + ky.. y1 + ky of channel ci of
                            // image i lie inside xp, each read up to round_up(width, 16) + 2.
                            let sums = unsafe {
                                let g = dy.as_ptr().add(grad);
                                let xr = xp
                                    .data
                                    .as_ptr()
                                    .add(i * xp.image() + ci * xp.plane() + (y0 + ky) * xp.row);
                                match isa {
                                    Isa::Avx2 => simd::avx2::band_sums(&band, ob, g, xr),
                                    Isa::Avx512 => simd::avx512::band_sums(&band, ob, g, xr),
                                }
                            };
                            for (j, row) in sums.iter().take(ob).enumerate() {
                                let at = ((o0 + j) * c + ci) * 9 + ky * 3;
                                dw[at..at + 3].iter_mut().zip(row).for_each(|(a, v)| *a += v);
                            }
                        }
                    }
                }
            }
            dw
        })
        .reduce(
            || vec![0.0f32; len],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

#[cfg(test)]
mod tests {
    use super::super::{Conv3dConfig, backward_data, backward_weight_im2col, forward_im2col};
    use super::*;

    #[test]
    fn direct_kernels_equal_column_matrices() {
        // f32 against the column path (also f32, another summation order), with every vector
        // instruction set this CPU has. Forward values within 2e-6 of the largest magnitude
        // (sums of at most 9 * 32 products of values in [-1, 1], rounding ~1e-7 each); weight
        // gradients, sums of up to 4,810 products, within 2e-5. Shapes: the LPD's layers
        // (6 -> 32, 32 -> 32, 32 -> 5 at widths ending mid-vector), every tile size of 1-8 and
        // 32 channels, a batch of two samples of depth two, 1 x 1 and 1 x 9 images.
        let cases: [([usize; 5], usize); 10] = [
            ([1, 6, 1, 37, 130], 32),
            ([1, 32, 1, 19, 128], 32),
            ([1, 32, 1, 21, 182], 5),
            ([2, 3, 2, 9, 13], 7),
            ([1, 5, 1, 11, 24], 6),
            ([1, 2, 1, 4, 17], 1),
            ([1, 4, 1, 6, 8], 2),
            ([1, 1, 1, 1, 1], 3),
            ([2, 2, 1, 1, 9], 4),
            ([1, 3, 1, 5, 33], 8),
        ];
        let isas = Isa::available();
        for (xd, o) in cases {
            let wd = [o, xd[1], 1, 3, 3];
            let cfg = Conv3dConfig::default().with_padding([0, 1, 1]);
            let s = ConvShape::new(xd, wd, cfg, "test").unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(applies(&s), !isas.is_empty(), "{xd:?} {wd:?}");
            let value = |i: usize| ((i * 7919) % 101) as f32 / 50.0 - 1.0;
            let x: Vec<f32> = (0..xd.iter().product()).map(value).collect();
            let w: Vec<f32> = (0..wd.iter().product()).map(|i| value(i + 13)).collect();
            let dy: Vec<f32> = (0..s.y_dims().iter().product()).map(|i| value(i + 29)).collect();
            let close = |a: &[f32], b: &[f32], tol: f32, what: &str| {
                assert_eq!(a.len(), b.len(), "{what} {xd:?} {wd:?}");
                let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= tol * scale, "{what} {xd:?} {wd:?} [{i}]: {p} {q}");
                }
            };
            let y_ref = forward_im2col(&s, &x, &w);
            let dw_ref = backward_weight_im2col(&s, &x, &dy);
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build();
            let pool = pool.unwrap_or_else(|e| panic!("{e}"));
            for &isa in &isas {
                let what = format!("{isa:?}");
                let xp = Padded::new(&s, &x, None);
                close(&convolve_with(isa, &s, &xp, &w, None), &y_ref, 2e-6, &what);
                close(&weight_gradient_with(isa, &s, &xp, &dy), &dw_ref, 2e-5, &what);
                // Split over three threads' bands.
                let y3 = pool.install(|| convolve_with(isa, &s, &xp, &w, None));
                close(&y3, &y_ref, 2e-6, &format!("{what}, 3 threads"));
                let dw3 = pool.install(|| weight_gradient_with(isa, &s, &xp, &dy));
                close(&dw3, &dw_ref, 2e-5, &format!("{what}, 3 threads"));
                // A bias is added to every output of its channel.
                let bias: Vec<f32> = (0..o).map(|j| j as f32 - 0.5).collect();
                let yb = convolve_with(isa, &s, &xp, &w, Some(&bias));
                let shifted: Vec<f32> = y_ref
                    .iter()
                    .enumerate()
                    .map(|(i, v)| v + bias[(i / s.out_plane()) % o])
                    .collect();
                close(&yb, &shifted, 2e-6, &format!("{what}, bias"));
            }
            if isas.is_empty() {
                continue;
            }
            // The data gradient goes through `forward` with the flipped kernel: compare it with
            // the adjoint identity <conv(x), dy> = <x, conv^T(dy)> in f64, to 1e-5 of the sum
            // of absolute products.
            let dx = backward_data(&s, &dy, &w);
            let lhs: f64 = y_ref.iter().zip(&dy).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let rhs: f64 = x.iter().zip(&dx).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum();
            let norm: f64 = y_ref.iter().zip(&dy).map(|(a, b)| f64::from(a.abs() * b.abs())).sum();
            assert!((lhs - rhs).abs() <= 1e-5 * norm.max(1.0), "adjoint {xd:?}: {lhs} {rhs}");
            // The PReLU applied while padding.
            let xa = Padded::new(&s, &x, Some(0.25));
            let act: Vec<f32> = x.iter().map(|&v| if v > 0.0 { v } else { 0.25 * v }).collect();
            let xr = Padded::new(&s, &act, None);
            assert_eq!(xa.data, xr.data, "padded PReLU {xd:?}");
        }
    }
}
