//! Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004) with a Gaussian window.
//!
//! Matches `skimage.metrics.structural_similarity(a, b, data_range=R, gaussian_weights=True,
//! sigma=1.5, use_sample_covariance=False)`: local means, variances and covariance are Gaussian
//! filtered (truncated at `truncate * sigma`, radius `r = floor(truncate * sigma + 0.5)`, so an
//! 11-tap window by default), the SSIM map is averaged over the voxels at least `r` from every
//! edge. Those voxels never see the boundary, so no padding convention is involved; only the
//! valid region is ever computed.

use std::collections::VecDeque;

use rayon::prelude::*;

use super::check_pair;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::volume::Volume;

/// Parameters of [`ssim`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SsimOptions {
    /// Span of possible values, `L` in the paper (e.g. 1.0, 255, 4095). No default: guessing it
    /// from the data is the classic way to get SSIM wrong.
    pub data_range: f64,
    /// Standard deviation of the Gaussian window in voxels (1.5).
    pub sigma: f64,
    /// Window half-width in standard deviations (3.5, giving 11 taps for sigma 1.5).
    pub truncate: f64,
    /// Luminance constant `K1` (0.01).
    pub k1: f64,
    /// Contrast constant `K2` (0.03).
    pub k2: f64,
}

impl SsimOptions {
    /// The paper's parameters for the given data range.
    pub fn new(data_range: f64) -> Self {
        SsimOptions { data_range, sigma: 1.5, truncate: 3.5, k1: 0.01, k2: 0.03 }
    }

    /// Sets the Gaussian window's standard deviation (voxels).
    pub fn with_sigma(mut self, sigma: f64) -> Self {
        self.sigma = sigma;
        self
    }

    /// Sets the window truncation (standard deviations).
    pub fn with_truncate(mut self, truncate: f64) -> Self {
        self.truncate = truncate;
        self
    }
}

/// Number of filtered fields: mean a, mean b, mean a^2, mean b^2, mean ab.
const FIELDS: usize = 5;

/// Mean SSIM of `test` against `reference`: a 2D SSIM when `nz = 1`, else 3D. Each axis used must
/// be at least as long as the window (11 voxels by default).
pub fn ssim<A: Element, B: Element>(
    reference: &Volume<A>,
    test: &Volume<B>,
    options: &SsimOptions,
) -> Result<f64> {
    check_pair(reference, test)?;
    let o = options;
    if !(o.data_range.is_finite() && o.data_range > 0.0) {
        return Err(Error::param(
            "data_range",
            format!("must be finite and > 0, found {}", o.data_range),
        ));
    }
    if !(o.sigma.is_finite() && o.sigma > 0.0 && o.truncate.is_finite() && o.truncate > 0.0) {
        return Err(Error::param(
            "sigma",
            format!("sigma and truncate must be > 0, found {} and {}", o.sigma, o.truncate),
        ));
    }
    let radius = (o.truncate * o.sigma + 0.5).floor() as usize;
    let w = gaussian_kernel(o.sigma, radius);
    let [nz, ny, nx] = reference.shape();
    let two_d = nz == 1;
    let wz = if two_d { vec![1.0] } else { w.clone() };
    let win = w.len();
    let too_small = |axis: &str, n: usize| {
        Error::param(
            "volume size",
            format!("{axis} has {n} voxels, fewer than the {win}-voxel SSIM window"),
        )
    };
    if nx < win {
        return Err(too_small("x", nx));
    }
    if ny < win {
        return Err(too_small("y", ny));
    }
    if !two_d && nz < win {
        return Err(too_small("z", nz));
    }
    let grid = Grid { ny, nx, oy: ny - win + 1, ox: nx - win + 1 };
    let oz = nz - wz.len() + 1;
    let c1 = (o.k1 * o.data_range).powi(2);
    let c2 = (o.k2 * o.data_range).powi(2);
    let (a, b) = (reference.as_slice(), test.as_slice());

    // Output slices in contiguous chunks, one per thread; every chunk computes the same per-slice
    // sums, so the result does not depend on the thread count.
    let chunks = rayon::current_num_threads().clamp(1, oz);
    let per_chunk = oz.div_ceil(chunks);
    let slice_sums: Vec<Vec<f64>> = (0..oz)
        .step_by(per_chunk)
        .collect::<Vec<_>>()
        .into_par_iter()
        .map(|start| {
            let end = (start + per_chunk).min(oz);
            ssim_slices(a, b, &grid, &w, &wz, start..end, c1, c2)
        })
        .collect();
    let total: f64 = slice_sums.iter().flatten().sum();
    Ok(total / (oz * grid.oy * grid.ox) as f64)
}

/// Input plane size and valid (output) plane size.
struct Grid {
    ny: usize,
    nx: usize,
    oy: usize,
    ox: usize,
}

/// SSIM sums of output slices `range`, keeping a ring of x/y-filtered input planes.
#[allow(clippy::too_many_arguments)]
fn ssim_slices<A: Element, B: Element>(
    a: &[A],
    b: &[B],
    g: &Grid,
    w: &[f64],
    wz: &[f64],
    range: std::ops::Range<usize>,
    c1: f64,
    c2: f64,
) -> Vec<f64> {
    let plane_len = g.ny * g.nx;
    let out_len = g.oy * g.ox;
    let mut ring: VecDeque<Vec<f64>> = VecDeque::with_capacity(wz.len());
    let mut scratch = Scratch::new(g);
    let mut acc = vec![0.0; FIELDS * out_len];
    let mut sums = Vec::with_capacity(range.len());
    let mut next_plane = range.start;
    for z in range {
        while next_plane < z + wz.len() {
            let mut plane = if ring.len() == wz.len() {
                ring.pop_front().unwrap_or_default()
            } else {
                Vec::new()
            };
            plane.resize(FIELDS * out_len, 0.0);
            let p = next_plane * plane_len;
            filter_plane(
                &a[p..p + plane_len],
                &b[p..p + plane_len],
                g,
                w,
                &mut scratch,
                &mut plane,
            );
            ring.push_back(plane);
            next_plane += 1;
        }
        acc.iter_mut().for_each(|v| *v = 0.0);
        for (&wt, plane) in wz.iter().zip(&ring) {
            axpy(wt, plane, &mut acc);
        }
        let (mu_a, rest) = acc.split_at(out_len);
        let (mu_b, rest) = rest.split_at(out_len);
        let (aa, rest) = rest.split_at(out_len);
        let (bb, ab) = rest.split_at(out_len);
        let mut sum = 0.0;
        for i in 0..out_len {
            let (ma, mb) = (mu_a[i], mu_b[i]);
            let va = aa[i] - ma * ma;
            let vb = bb[i] - mb * mb;
            let cov = ab[i] - ma * mb;
            sum += ((2.0 * ma * mb + c1) * (2.0 * cov + c2))
                / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        }
        sums.push(sum);
    }
    sums
}

/// Row buffers reused across planes.
struct Scratch {
    rows: Vec<f64>,
    xfiltered: Vec<f64>,
}

impl Scratch {
    fn new(g: &Grid) -> Self {
        Scratch { rows: vec![0.0; FIELDS * g.nx], xfiltered: vec![0.0; FIELDS * g.ny * g.ox] }
    }
}

/// Filters one input plane along x then y (valid region only) into `out` (FIELDS blocks of oy*ox).
fn filter_plane<A: Element, B: Element>(
    a: &[A],
    b: &[B],
    g: &Grid,
    w: &[f64],
    s: &mut Scratch,
    out: &mut [f64],
) {
    let (nx, ox, oy) = (g.nx, g.ox, g.oy);
    let xf_len = g.ny * ox;
    s.xfiltered.iter_mut().for_each(|v| *v = 0.0);
    for y in 0..g.ny {
        let rows = &mut s.rows;
        for x in 0..nx {
            let (va, vb) = (a[y * nx + x].to_f64(), b[y * nx + x].to_f64());
            rows[x] = va;
            rows[nx + x] = vb;
            rows[2 * nx + x] = va * va;
            rows[3 * nx + x] = vb * vb;
            rows[4 * nx + x] = va * vb;
        }
        for f in 0..FIELDS {
            let src = &rows[f * nx..(f + 1) * nx];
            let dst = &mut s.xfiltered[f * xf_len + y * ox..f * xf_len + (y + 1) * ox];
            for (t, &wt) in w.iter().enumerate() {
                axpy(wt, &src[t..t + ox], dst);
            }
        }
    }
    let out_len = oy * ox;
    out.iter_mut().for_each(|v| *v = 0.0);
    for f in 0..FIELDS {
        let src = &s.xfiltered[f * xf_len..(f + 1) * xf_len];
        let dst = &mut out[f * out_len..(f + 1) * out_len];
        for y in 0..oy {
            let row = &mut dst[y * ox..(y + 1) * ox];
            for (t, &wt) in w.iter().enumerate() {
                axpy(wt, &src[(y + t) * ox..(y + t + 1) * ox], row);
            }
        }
    }
}

/// `dst += alpha * src`.
fn axpy(alpha: f64, src: &[f64], dst: &mut [f64]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += alpha * s;
    }
}

/// scipy.ndimage's Gaussian: `exp(-x^2 / (2 sigma^2))` for x in [-r, r], normalised to sum 1.
fn gaussian_kernel(sigma: f64, radius: usize) -> Vec<f64> {
    let r = radius as f64;
    let mut w: Vec<f64> =
        (0..=2 * radius).map(|i| (-0.5 * ((i as f64 - r) / sigma).powi(2)).exp()).collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= total);
    w
}
