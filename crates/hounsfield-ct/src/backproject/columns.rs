//! Back-projection down z-columns, for scans whose every view keeps the detector column and the
//! depth fixed along z (circular orbits about z with an upright detector: FDK's case, and
//! parallel beams about z).
//!
//! Down such a column the detector row is affine in z and nothing else changes, so a voxel
//! update is an add, a truncation and a bilinear fetch from two adjacent detector columns, with
//! no division and no distance weight per voxel. The filtered panels are transposed so that
//! those two columns are contiguous, and a task takes a tile of columns through every view,
//! so its sums stay in cache while each view streams in only the detector band the tile
//! projects to.

use ndarray::{ArrayView3, Axis};
use rayon::prelude::*;

use super::{ViewMap, fast_floor, sample_panel};
use crate::geometry::{ImageGrid, Vec3, dot};

/// Side of the square tile of columns one task takes.
const TILE: usize = 16;
/// Views summed in f32 before the sums are added into f64 (bounds the f32 rounding).
const VIEW_CHUNK: usize = 16;
/// Columns shorter than this take the line-wise path (the per-column set-up would dominate).
pub(super) const MIN_COLUMN: usize = 16;
/// Distance (pixels) kept from the panel's edges by the unchecked loop: far above the rounding of
/// f32 positions below 2^14.
const EPS: f64 = 0.01;

/// A view's map when column and depth do not depend on z: `col = (a·x + a0) / den`,
/// `row = (b·x + b0) / den`, `den = d·x + d0` with `a`, `d` free of z.
#[derive(Clone, Copy, Debug)]
struct Upright {
    a: [f64; 2],
    a0: f64,
    b: Vec3,
    b0: f64,
    d: [f64; 2],
    d0: f64,
    /// The row numerator's change per voxel along z, and its reciprocal (0 when it is 0).
    bz: f64,
    inv_bz: f64,
}

impl Upright {
    fn of(map: &ViewMap, sz: f64) -> Option<Upright> {
        match *map {
            ViewMap::Projective { a, a0, b, b0, d, d0 } if a[2] == 0.0 && d[2] == 0.0 => {
                let bz = b[2] * sz;
                let inv_bz = if bz == 0.0 { 0.0 } else { 1.0 / bz };
                Some(Upright { a: [a[0], a[1]], a0, b, b0, d: [d[0], d[1]], d0, bz, inv_bz })
            }
            _ => None,
        }
    }

    fn diverging(&self) -> bool {
        self.d != [0.0; 2]
    }
}

/// [`super::backproject`] by columns, or `None` when the scan or grid does not suit it (a map
/// that moves the column along z, columns shorter than [`MIN_COLUMN`], 1-row detectors).
pub(super) fn backproject_columns(
    grid: &ImageGrid,
    maps: &[ViewMap],
    weights: &[f64],
    q: ArrayView3<'_, f32>,
) -> Option<Vec<f32>> {
    let [nz, ny, nx] = grid.shape;
    let (views, rows, cols) = q.dim();
    if nz < MIN_COLUMN || rows < 2 || cols < 2 || rows.max(cols) > 1 << 14 {
        return None;
    }
    let views_up: Vec<Upright> =
        maps.iter().map(|m| Upright::of(m, grid.spacing[2])).collect::<Option<_>>()?;
    let q = q.as_standard_layout();
    let panel_len = rows * cols;
    // Panels transposed to [view][col][row].
    let mut qt = vec![0.0f32; views * panel_len];
    qt.par_chunks_mut(panel_len).enumerate().for_each(|(v, t)| {
        let view = q.index_axis(Axis(0), v);
        for (r, row) in view.outer_iter().enumerate() {
            for (c, &x) in row.iter().enumerate() {
                t[c * rows + r] = x;
            }
        }
    });
    let first = grid.first_voxel();
    let sp = grid.spacing;
    let kernel = kernel();
    let (tiles_y, tiles_x) = (ny.div_ceil(TILE), nx.div_ceil(TILE));
    let tile_len = TILE * TILE * nz;
    // Sums tile by tile, column by column: [tile][column in tile][z].
    let mut sums = vec![0.0f32; tiles_y * tiles_x * tile_len];
    sums.par_chunks_mut(tile_len).enumerate().for_each(|(t, tile_sums)| {
        let (ty, tx) = (t / tiles_x, t % tiles_x);
        let mut acc64 = vec![0.0f64; tile_len];
        let mut acc32 = vec![0.0f32; tile_len];
        let mut line = Vec::with_capacity(rows);
        for chunk in (0..views).step_by(VIEW_CHUNK) {
            for v in chunk..views.min(chunk + VIEW_CHUNK) {
                let panel = &q.as_slice().expect("standard layout")[v * panel_len..][..panel_len];
                let panel_t = &qt[v * panel_len..][..panel_len];
                for iy in ty * TILE..ny.min((ty + 1) * TILE) {
                    for ix in tx * TILE..nx.min((tx + 1) * TILE) {
                        let k = (iy - ty * TILE) * TILE + (ix - tx * TILE);
                        let p =
                            [first[0] + ix as f64 * sp[0], first[1] + iy as f64 * sp[1], first[2]];
                        let column = Column { kernel, panel, panel_t, rows, cols };
                        column.accumulate(
                            &mut acc32[k * nz..][..nz],
                            &mut line,
                            &views_up[v],
                            weights[v],
                            p,
                        );
                    }
                }
            }
            for (s, a) in acc64.iter_mut().zip(acc32.iter_mut()) {
                *s += f64::from(*a);
                *a = 0.0;
            }
        }
        for (o, s) in tile_sums.iter_mut().zip(&acc64) {
            *o = *s as f32;
        }
    });
    // Back to C order [z][y][x], a block of planes per task (each column's block of z is one read).
    const PLANES: usize = 16;
    let plane = ny * nx;
    let mut out = vec![0.0f32; nz * plane];
    out.par_chunks_mut(PLANES * plane).enumerate().for_each(|(b, block)| {
        let z0 = b * PLANES;
        let nb = block.len() / plane;
        for iy in 0..ny {
            for ix in 0..nx {
                let tile = (iy / TILE) * tiles_x + ix / TILE;
                let k = (iy % TILE) * TILE + ix % TILE;
                let from = &sums[tile * tile_len + k * nz + z0..][..nb];
                for (dz, &s) in from.iter().enumerate() {
                    block[dz * plane + iy * nx + ix] = s;
                }
            }
        }
    });
    Some(out)
}

/// One view's filtered panel, row-major and transposed.
struct Column<'a> {
    kernel: Kernel,
    panel: &'a [f32],
    panel_t: &'a [f32],
    rows: usize,
    cols: usize,
}

impl Column<'_> {
    /// Adds the view's contribution to the voxels `p + k (0, 0, sz)` of one column.
    #[inline]
    fn accumulate(
        &self,
        acc: &mut [f32],
        line: &mut Vec<f32>,
        map: &Upright,
        weight: f64,
        p: Vec3,
    ) {
        let Column { panel, panel_t, rows, cols, .. } = *self;
        let den = map.d[0] * p[0] + map.d[1] * p[1] + map.d0;
        let diverging = map.diverging();
        if diverging && den * map.d0 <= 0.0 {
            return; // behind the source
        }
        let inv = 1.0 / den;
        let c = (map.a[0] * p[0] + map.a[1] * p[1] + map.a0) * inv;
        if !(c > -1.0 && c < cols as f64) {
            return; // off the panel: no detector column within a pixel
        }
        let r0 = (dot(map.b, p) + map.b0) * inv;
        let dr = map.bz * inv;
        let inv_dr = map.inv_bz * den; // 0 when dr is
        let weight = if diverging { weight * (map.d0 * inv) * (map.d0 * inv) } else { weight };
        let nz = acc.len();
        // Voxels whose row lies within a pixel of the panel (the rest add nothing), and among
        // them the run whose row and column both lie inside it by EPS.
        let (near_lo, near_hi) = row_range(r0, inv_dr, -1.0, rows as f64, nz);
        let top = cols as f64 - 1.0 - EPS;
        let (lo, hi) = if (EPS..=top).contains(&c) {
            let (lo, hi) = row_range(r0, inv_dr, EPS, rows as f64 - 1.0 - EPS, nz);
            (lo.max(near_lo), hi.min(near_hi).max(lo.max(near_lo)))
        } else {
            (near_lo, near_lo)
        };
        for k in (near_lo..lo).chain(hi..near_hi) {
            let r = r0 + dr * k as f64;
            acc[k] += (weight * sample_panel(panel, rows, cols, c, r)) as f32;
        }
        if lo >= hi {
            return;
        }
        // Interpolate across the two detector columns once per row of the band the run covers
        // (weight folded in), then down the column by linear interpolation on that line.
        let kc = c as usize; // c > 0: truncation is floor
        let g = (c - kc as f64) as f32;
        let (r_first, r_last) = (r0 + dr * lo as f64, r0 + dr * (hi - 1) as f64);
        // One row of slack below, so that f32 positions never fall under the line's start.
        let j_lo = (r_first.min(r_last) as usize).saturating_sub(1);
        let j_hi = (r_first.max(r_last) as usize + 1).min(rows - 1);
        let left = &panel_t[kc * rows..][j_lo..=j_hi];
        let right = &panel_t[(kc + 1) * rows..][j_lo..=j_hi];
        let w = weight as f32;
        line.clear();
        line.extend(left.iter().zip(right).map(|(&l, &r)| w * (l + g * (r - l))));
        (self.kernel)(&mut acc[lo..hi], line, (r_first - j_lo as f64) as f32, dr as f32);
    }
}

/// `out[k] += line(r0 + dr k)`, `line` linearly interpolated (positions from its start): the
/// innermost loop, portable. Positions must stay within the line (the clamp only guards its
/// bounds). They are stepped in 32.32 fixed point: an integer add per voxel, index and fraction
/// by shifts; the step's rounding (2^-32 pixel) stays < 1e-6 pixel over a column.
fn add_resampled(out: &mut [f32], line: &[f32], r0: f32, dr: f32) {
    const ONE: f64 = 4_294_967_296.0;
    let last = line.len().saturating_sub(2);
    let mut pos = (f64::from(r0) * ONE) as i64;
    let step = (f64::from(dr) * ONE) as i64;
    for o in out {
        let j = ((pos >> 32) as usize).min(last);
        let f = (pos as u32) as f32 * (1.0 / ONE as f32);
        let (p, q) = (line[j], line[j + 1]);
        *o += p + f * (q - p);
        pos += step;
    }
}

/// The innermost loop as this CPU runs it fastest.
type Kernel = fn(&mut [f32], &[f32], f32, f32);

fn kernel() -> Kernel {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        return simd::add_resampled_avx2;
    }
    add_resampled
}

/// [`add_resampled`] eight voxels at a time: positions `r0 + dr k` in f32 by FMA (< 1e-5 pixel
/// below 256), two gathers, one FMA.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // AVX2 intrinsics: gathers and unaligned loads/stores, bounds argued below
mod simd {
    use std::arch::x86_64::*;

    pub(super) fn add_resampled_avx2(out: &mut [f32], line: &[f32], r0: f32, dr: f32) {
        if line.len() < 2 || line.len() > i32::MAX as usize {
            return super::add_resampled(out, line, r0, dr);
        }
        // SAFETY: `kernel()` hands this function out only when the CPU has AVX2 and FMA.
        unsafe { add(out, line, r0, dr) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn add(out: &mut [f32], line: &[f32], r0: f32, dr: f32) {
        let last = _mm256_set1_epi32((line.len() - 2) as i32);
        let zero = _mm256_setzero_si256();
        let lanes = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
        let (r0v, drv) = (_mm256_set1_ps(r0), _mm256_set1_ps(dr));
        let blocks = out.len() / 8;
        for b in 0..blocks {
            let k = _mm256_add_ps(_mm256_set1_ps((8 * b) as f32), lanes);
            let r = _mm256_fmadd_ps(k, drv, r0v);
            // Truncation is floor for the positive positions callers pass; the clamp keeps any
            // lane (NaN and overflow convert to i32::MIN) inside [0, len - 2].
            let j = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvttps_epi32(r), zero), last);
            let f = _mm256_sub_ps(r, _mm256_cvtepi32_ps(j));
            // SAFETY: every lane of `j` is in [0, len - 2], so `j` and `j + 1` index `line`;
            // block `b` covers out[8b..8b + 8], inside `out` since b < len / 8.
            unsafe {
                let p = _mm256_i32gather_ps::<4>(line.as_ptr(), j);
                let q = _mm256_i32gather_ps::<4>(line.as_ptr().add(1), j);
                let value = _mm256_fmadd_ps(f, _mm256_sub_ps(q, p), p);
                let at = out.as_mut_ptr().add(8 * b);
                _mm256_storeu_ps(at, _mm256_add_ps(_mm256_loadu_ps(at), value));
            }
        }
        let done = 8 * blocks;
        super::add_resampled(&mut out[done..], line, r0 + dr * done as f32, dr);
    }
}

/// The half-open range of `k` in `0..n` where `r0 + k / inv_dr` lies in `[from, to]`
/// (`inv_dr = 0`: the row does not change along the column).
#[inline]
fn row_range(r0: f64, inv_dr: f64, from: f64, to: f64, n: usize) -> (usize, usize) {
    let top = n as f64;
    if inv_dr == 0.0 {
        return if (from..=to).contains(&r0) { (0, n) } else { (0, 0) };
    }
    let (u, v) = ((from - r0) * inv_dr, (to - r0) * inv_dr);
    let (u, v) = if u < v { (u, v) } else { (v, u) };
    // Clamped first, so the conversions are exact (fast_floor: no libm call).
    let lo = -fast_floor(-u.clamp(0.0, top));
    let hi = (fast_floor(v.clamp(-1.0, top - 1.0)) + 1.0).max(lo);
    (lo as i64 as usize, hi as i64 as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Detector, ScanGeometry, uniform_angles};
    use ndarray::Array3;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    /// The column-wise and the line-wise back-projection agree to 1e-5 of the largest value, on
    /// scans where columns cross the panel's top and bottom edges, its side edges (an offset
    /// detector) and pass behind nothing; and for parallel beams about z.
    #[test]
    fn columns_match_lines() {
        let mut rng = StdRng::seed_from_u64(7);
        let cases = [
            // A short grid well inside the cone: every column's run covers it whole.
            (
                ScanGeometry::cone(
                    uniform_angles(20, 0.0, 2.0 * std::f64::consts::PI),
                    Detector::panel(40, 40, 1.0, 1.0),
                    100.0,
                    200.0,
                ),
                ImageGrid::new_3d([16, 12, 14], [1.0, 1.0, 1.0]).unwrap(),
            ),
            // A tall grid off-centre: columns leave the panel at top and bottom.
            (
                ScanGeometry::cone(
                    uniform_angles(24, 0.3, 2.0 * std::f64::consts::PI),
                    Detector::panel(20, 28, 1.5, 1.3).with_offset(3.5, -2.0),
                    90.0,
                    180.0,
                ),
                ImageGrid::new_3d([48, 19, 23], [0.9, 1.1, 1.7])
                    .unwrap()
                    .with_centre([2.0, -3.0, 4.0]),
            ),
            (
                ScanGeometry::parallel_3d(
                    uniform_angles(17, 0.1, std::f64::consts::PI),
                    Detector::panel(24, 30, 1.0, 1.0),
                ),
                ImageGrid::new_3d([30, 21, 21], [1.0, 1.0, 1.0])
                    .unwrap()
                    .with_centre([0.5, 0.0, -1.0]),
            ),
        ];
        for (geometry, grid) in cases {
            let geometry = geometry.unwrap();
            let (rows, cols) = geometry.detector_shape();
            let margin = 3;
            let maps: Vec<ViewMap> = geometry
                .frames()
                .iter()
                .map(|f| ViewMap::new(f, rows, cols).with_margin(margin as f64))
                .collect();
            let views = maps.len();
            let q = Array3::from_shape_fn((views, rows, cols + 2 * margin), |_| {
                rng.random_range(-1.0f32..1.0)
            });
            let weights: Vec<f64> = (0..views).map(|_| rng.random_range(0.1..1.0)).collect();
            let by_columns = backproject_columns(&grid, &maps, &weights, q.view()).unwrap();
            let by_lines = super::super::backproject_lines(&grid, &maps, &weights, q.view());
            let scale = by_lines.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let worst =
                by_columns.iter().zip(&by_lines).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(scale > 0.1, "the back-projection is empty: {scale}");
            assert!(worst <= 1e-5 * scale, "columns differ from lines by {worst} (scale {scale})");
            // Voxels outside the cone: some are zero in both.
            assert_eq!(
                by_columns.iter().filter(|v| **v == 0.0).count(),
                by_lines.iter().filter(|v| **v == 0.0).count()
            );
        }
    }

    /// The kernel this CPU runs gives the portable loop's sums, at steps above, below and at one
    /// pixel. Tolerance: f32 positions below 300 round by half an ulp (1.5e-5 pixel), times the
    /// line's steepest slope (4 per pixel), plus f32 rounding.
    #[test]
    fn dispatched_kernel_matches_the_portable_loop() {
        let mut rng = StdRng::seed_from_u64(3);
        let line: Vec<f32> = (0..300).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        for dr in [0.37f32, 1.0, 1.25, -0.8, 2.1] {
            let r0 = if dr > 0.0 { 1.3 } else { 290.6 };
            let n = ((280.0 / dr.abs()) as usize).min(200);
            let mut expected = vec![0.5f32; n];
            add_resampled(&mut expected, &line, r0, dr);
            let mut got = vec![0.5f32; n];
            kernel()(&mut got, &line, r0, dr);
            for (k, (a, b)) in got.iter().zip(&expected).enumerate() {
                assert!((a - b).abs() <= 7e-5, "dr {dr} k {k}: {a} vs {b}");
            }
            let r = r0 + dr * (n - 1) as f32;
            let j = r.floor() as usize;
            let exact = 0.5 + line[j] + (r - j as f32) * (line[j + 1] - line[j]);
            assert!(
                (expected[n - 1] - exact).abs() < 1e-4,
                "dr {dr}: {} vs {exact}",
                expected[n - 1]
            );
        }
    }
}
