//! Stride-1, undilated, ungrouped convolutions as GEMMs over shifted windows of one padded,
//! channels-last copy of the input: no column matrix (im2col) at all.
//!
//! In the padded grid `(Dp, Hp, Wp)` with channels last, the input values that kernel row
//! `(kz, ky)` multiplies for output position `n = (z Hp + y) Wp + x` are the `kw * C` consecutive
//! values from `((z + kz) Hp + y + ky) Wp + x` on: a matrix of `kw * C` rows (stride 1) and one
//! column per position (stride `C`), read in place. The output is computed at every position of
//! the padded grid's row layout (the `Wp - OW` positions past each output row, and the rows past
//! `OH` in each slab, are computed and dropped, 1-13% more arithmetic), so the convolution is
//! `kd * kh` accumulating GEMMs with `K = kw * C` instead of im2col copying the input nine or 27
//! times and one GEMM with `K = kd * kh * kw * C`.

use super::ConvShape;
use crate::gemm::{MatRef, matmul};
use crate::ops::cpu::Float;
use rayon::prelude::*;

/// Whether [`backward_weight`] computes this convolution's weight gradient (and, for 3D kernels,
/// [`forward`] the convolution): on one thread, where it measured 7-15% faster per training step
/// (docs/BENCHMARKS.md). With more threads the column path's slabs scale better (its copies
/// parallelise with the products), so it keeps that work.
pub(super) fn applies(s: &ConvShape) -> bool {
    rayon::current_num_threads() == 1
        && s.cfg.stride == [1; 3]
        && s.cfg.dilation == [1; 3]
        && s.cfg.groups == 1
        && s.batch * s.in_channels * s.out_channels > 0
}

/// The padded grid and the positions a product covers.
struct Grid {
    /// `(Dp, Hp, Wp)`.
    padded: [usize; 3],
    /// Positions from the first output to the last, in the padded grid's layout.
    span: usize,
}

impl Grid {
    fn new(s: &ConvShape) -> Self {
        let padded: [usize; 3] = std::array::from_fn(|a| s.input[a] + 2 * s.cfg.padding[a]);
        let [od, oh, ow] = s.output;
        let span = ((od - 1) * padded[1] + oh - 1) * padded[2] + ow;
        Grid { padded, span }
    }

    fn len(&self, channels: usize) -> usize {
        self.padded.iter().product::<usize>() * channels
    }

    /// Offset of kernel row `(kz, ky)` in the padded channels-last input.
    fn tap_offset(&self, kz: usize, ky: usize, channels: usize) -> usize {
        (kz * self.padded[1] + ky) * self.padded[2] * channels
    }

    /// Position of output `(z, y, 0)` in the padded layout.
    fn row_start(&self, z: usize, y: usize) -> usize {
        (z * self.padded[1] + y) * self.padded[2]
    }
}

/// Writes sample `x` (`C x D x H x W`) into `xp` as the zero-padded channels-last grid.
fn pad_channels_last<T: Float>(s: &ConvShape, grid: &Grid, x: &[T], xp: &mut [T]) {
    let c = s.in_channels;
    let [d, h, w] = s.input;
    let [pd, ph, pw] = s.cfg.padding;
    xp.fill(T::zero());
    for (ci, plane) in x.chunks_exact(d * h * w).enumerate() {
        for (row, src) in plane.chunks_exact(w).enumerate() {
            let (z, y) = (row / h, row % h);
            let start = ((z + pd) * grid.padded[1] + y + ph) * grid.padded[2] + pw;
            let dst = &mut xp[start * c + ci..];
            for (i, &v) in src.iter().enumerate() {
                dst[i * c] = v;
            }
        }
    }
}

/// `y = conv(x, w)`. Each sample's positions are split into one run per thread; a run's product
/// goes to that thread's scratch buffer and its outputs are copied into place.
pub(super) fn forward<T: Float>(s: &ConvShape, x: &[T], w: &[T]) -> Vec<T> {
    let (c, o) = (s.in_channels, s.out_channels);
    let [kd, kh, kw] = s.kernel;
    let grid = Grid::new(s);
    // Per kernel row (kz, ky), the `o x (kw c)` matrix of weights in (kx, c) order.
    let k = kw * c;
    let mut taps = vec![T::zero(); kd * kh * o * k];
    for (oi, wo) in w.chunks_exact(c * kd * kh * kw).enumerate() {
        for (ci, wc) in wo.chunks_exact(kd * kh * kw).enumerate() {
            for (t, row) in wc.chunks_exact(kw).enumerate() {
                for (kx, &v) in row.iter().enumerate() {
                    taps[(t * o + oi) * k + kx * c + ci] = v;
                }
            }
        }
    }
    let runs = runs(grid.span);
    let run_len = grid.span.div_ceil(runs);
    let mut y = vec![T::zero(); s.y_dims().iter().product()];
    let mut xp = vec![T::zero(); grid.len(c)];
    for (xn, yn) in x.chunks_exact(c * s.in_plane()).zip(y.chunks_exact_mut(o * s.out_plane())) {
        pad_channels_last(s, &grid, xn, &mut xp);
        let yn = std::sync::Mutex::new(yn);
        (0..runs).into_par_iter().for_each(|r| {
            let (a, b) = (r * run_len, ((r + 1) * run_len).min(grid.span));
            T::with_scratch(|part| {
                if part.len() < o * (b - a) {
                    part.resize(o * (b - a), T::zero());
                }
                let part = &mut part[..o * (b - a)];
                for t in 0..kd * kh {
                    let a_t = MatRef::row_major(&taps[t * o * k..(t + 1) * o * k], o, k);
                    let b_t = MatRef {
                        data: &xp[grid.tap_offset(t / kh, t % kh, c) + a * c..],
                        rows: k,
                        cols: b - a,
                        row_stride: 1,
                        col_stride: c,
                    };
                    matmul(part, t > 0, a_t, b_t, false);
                }
                let mut yn = yn.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                copy_out(s, &grid, part, (a, b), &mut yn);
            });
        });
    }
    y
}

/// Runs of positions: one per thread, none shorter than 1024 positions.
fn runs(span: usize) -> usize {
    rayon::current_num_threads().clamp(1, span.div_ceil(1024).max(1))
}

/// Copies the outputs among padded positions `[a, b)`, computed into `part` (`o x (b - a)`), to
/// their places in sample `yn` (`o x OD x OH x OW`).
fn copy_out<T: Float>(
    s: &ConvShape,
    grid: &Grid,
    part: &[T],
    (a, b): (usize, usize),
    yn: &mut [T],
) {
    let [_, oh, ow] = s.output;
    for (po, yo) in part.chunks_exact(b - a).zip(yn.chunks_exact_mut(s.out_plane())) {
        for (row, dst) in yo.chunks_exact_mut(ow).enumerate() {
            let start = grid.row_start(row / oh, row % oh);
            let (lo, hi) = (start.max(a), (start + ow).min(b));
            if lo < hi {
                dst[lo - start..hi - start].copy_from_slice(&po[lo - a..hi - a]);
            }
        }
    }
}

/// `dw = d<y, dy>/dw`, summed over the batch. The positions are split into one run per thread,
/// each summing its own gradient (a product this thin does not split well inside the GEMM).
pub(super) fn backward_weight<T: Float>(s: &ConvShape, x: &[T], dy: &[T]) -> Vec<T> {
    let (c, o) = (s.in_channels, s.out_channels);
    let [kd, kh, kw] = s.kernel;
    let [_, oh, ow] = s.output;
    let grid = Grid::new(s);
    let k = kw * c;
    let len = kd * kh * o * k;
    let runs = runs(grid.span);
    let run_len = grid.span.div_ceil(runs);
    // Per kernel row, the `o x (kw c)` gradient in (kx, c) order.
    let mut taps = vec![T::zero(); len];
    T::with_scratch(|scratch| {
        let need = grid.len(c) + o * grid.span;
        if scratch.len() < need {
            scratch.resize(need, T::zero());
        }
        let (xp, dyp) = scratch[..need].split_at_mut(grid.len(c));
        let samples = x.chunks_exact(c * s.in_plane()).zip(dy.chunks_exact(o * s.out_plane()));
        for (xn, dyn_) in samples {
            pad_channels_last(s, &grid, xn, xp);
            // The output gradient in the padded layout, zero where no output lies.
            dyp.fill(T::zero());
            for (po, go) in dyp.chunks_exact_mut(grid.span).zip(dyn_.chunks_exact(s.out_plane())) {
                for (row, src) in go.chunks_exact(ow).enumerate() {
                    let start = grid.row_start(row / oh, row % oh);
                    po[start..start + ow].copy_from_slice(src);
                }
            }
            let (xp, dyp) = (&*xp, &*dyp);
            let partials: Vec<Vec<T>> = (0..runs)
                .into_par_iter()
                .map(|r| {
                    let (a, b) = (r * run_len, ((r + 1) * run_len).min(grid.span));
                    let mut acc = vec![T::zero(); len];
                    let g = MatRef {
                        data: &dyp[a..],
                        rows: o,
                        cols: b - a,
                        row_stride: grid.span,
                        col_stride: 1,
                    };
                    for (t, tap) in acc.chunks_exact_mut(o * k).enumerate() {
                        let b_t = MatRef {
                            data: &xp[grid.tap_offset(t / kh, t % kh, c) + a * c..],
                            rows: b - a,
                            cols: k,
                            row_stride: c,
                            col_stride: 1,
                        };
                        matmul(tap, false, g, b_t, false);
                    }
                    acc
                })
                .collect();
            for p in partials {
                taps.iter_mut().zip(&p).for_each(|(t, v)| *t += *v);
            }
        }
    });
    let mut dw = vec![T::zero(); s.w_dims().iter().product()];
    for (oi, wo) in dw.chunks_exact_mut(c * kd * kh * kw).enumerate() {
        for (ci, wc) in wo.chunks_exact_mut(kd * kh * kw).enumerate() {
            for (t, row) in wc.chunks_exact_mut(kw).enumerate() {
                for (kx, v) in row.iter_mut().enumerate() {
                    *v = taps[(t * o + oi) * k + kx * c + ci];
                }
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::super::{Conv3dConfig, backward_weight_im2col, forward_im2col};
    use super::*;

    #[test]
    fn shifted_windows_equal_column_matrices() {
        // f64, so the two summation orders agree to 1e-12 of the sums' magnitude. Shapes: the
        // LPD's 2D 3x3 layers, a 3D 3x3x3 layer, a 1x1x1 layer, uneven padding and kernels.
        let cases: [([usize; 5], [usize; 5], [usize; 3]); 5] = [
            ([1, 6, 1, 40, 130], [5, 6, 1, 3, 3], [0, 1, 1]),
            ([2, 3, 7, 9, 8], [4, 3, 3, 3, 3], [1, 1, 1]),
            ([2, 4, 5, 6, 7], [3, 4, 1, 1, 1], [0, 0, 0]),
            ([1, 2, 6, 5, 9], [3, 2, 2, 3, 4], [1, 0, 2]),
            ([1, 1, 1, 4, 4], [1, 1, 1, 4, 4], [0, 3, 3]),
        ];
        for (xd, wd, padding) in cases {
            let cfg = Conv3dConfig::default().with_padding(padding);
            let s = ConvShape::new(xd, wd, cfg, "test").unwrap_or_else(|e| panic!("{e}"));
            assert!(s.cfg.stride == [1; 3] && s.cfg.groups == 1);
            let value = |i: usize| ((i * 7919) % 101) as f64 / 50.0 - 1.0;
            let x: Vec<f64> = (0..xd.iter().product()).map(value).collect();
            let w: Vec<f64> = (0..wd.iter().product()).map(|i| value(i + 13)).collect();
            let dy: Vec<f64> = (0..s.y_dims().iter().product()).map(|i| value(i + 29)).collect();
            let close = |a: &[f64], b: &[f64], what: &str| {
                assert_eq!(a.len(), b.len(), "{what} {xd:?} {wd:?}");
                let scale = b.iter().fold(1.0f64, |m, v| m.max(v.abs()));
                for (i, (p, q)) in a.iter().zip(b).enumerate() {
                    assert!((p - q).abs() <= 1e-12 * scale, "{what} {xd:?} {wd:?} [{i}]: {p} {q}");
                }
            };
            close(&forward(&s, &x, &w), &forward_im2col(&s, &x, &w), "forward");
            close(&backward_weight(&s, &x, &dy), &backward_weight_im2col(&s, &x, &dy), "weight");
            // Both split over three threads' runs of positions.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build();
            let pool = pool.unwrap_or_else(|e| panic!("{e}"));
            let split = pool.install(|| backward_weight(&s, &x, &dy));
            close(&split, &backward_weight_im2col(&s, &x, &dy), "weight, 3 threads");
            let split = pool.install(|| forward(&s, &x, &w));
            close(&split, &forward_im2col(&s, &x, &w), "forward, 3 threads");
        }
    }
}
