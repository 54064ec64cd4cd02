//! Resampling onto another grid: a new spacing, or any target geometry (oblique included).
//!
//! Pixel-centre convention (ITK's and DICOM's): index (i, j, k) is the centre of its voxel, at
//! `origin + D diag(spacing) (i, j, k)`. Every output voxel centre is mapped to a continuous
//! index of the input through the two geometries and sampled there. Samples up to half a voxel
//! beyond the outermost centres (still inside the input's voxels) take the edge value; farther
//! out they get `outside`.

use hounsfield_core::{Element, Error, Geometry, Result, Volume, mat3};
use rayon::prelude::*;

use crate::gaussian::{GaussianOptions, gaussian};
use crate::kernel::Taps;
use crate::{bspline, sinc};

/// How values between voxel centres are found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interpolation {
    /// The nearest voxel (labels and masks keep their values and type).
    Nearest,
    /// Trilinear.
    #[default]
    Linear,
    /// Cubic B-spline with the exact prefilter (scipy's `order=3`, mirror boundary): smooth,
    /// interpolating, slightly overshooting at edges.
    BSpline3,
    /// Lanczos windowed sinc (a = 3, normalised): the sharpest, ringing at edges.
    Lanczos3,
}

/// Options of the resampling functions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResampleOptions {
    /// The interpolation (default linear).
    pub interpolation: Interpolation,
    /// The value of samples outside the input (default 0).
    pub outside: f64,
    /// Smooth before downsampling ([`resample_to_spacing`] only): a Gaussian per axis whose
    /// full width at half maximum makes up the difference between the new and old spacing,
    /// sigma = sqrt(new^2 - old^2) / 2.355, so that detail finer than the new grid does not
    /// alias. Off by default, as in SimpleITK and scipy.
    pub antialias: bool,
}

impl Default for ResampleOptions {
    fn default() -> Self {
        ResampleOptions { interpolation: Interpolation::Linear, outside: 0.0, antialias: false }
    }
}

impl ResampleOptions {
    /// With this interpolation.
    pub fn with_interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// With this value outside the input.
    pub fn with_outside(mut self, outside: f64) -> Self {
        self.outside = outside;
        self
    }

    /// With or without smoothing before downsampling.
    pub fn with_antialias(mut self, on: bool) -> Self {
        self.antialias = on;
        self
    }
}

/// The grid of `geometry` at `spacing` (mm, x y z) covering the same physical extent: the
/// outer faces of the first and last voxels stay where they were (as closely as whole voxels
/// allow), so the size is `round(size * old / new)` per axis.
pub fn grid_for_spacing(
    geometry: &Geometry,
    size_xyz: [usize; 3],
    spacing: [f64; 3],
) -> Result<(Geometry, [usize; 3])> {
    if spacing.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(Error::param("spacing", format!("must be finite and > 0, got {spacing:?}")));
    }
    let old = geometry.spacing();
    let size =
        [0, 1, 2].map(|k| ((size_xyz[k] as f64 * old[k] / spacing[k]).round() as usize).max(1));
    // The first face stays put: origin moves by half the difference of the spacings.
    let shift = [0, 1, 2].map(|k| (spacing[k] - old[k]) / 2.0);
    let d = geometry.direction();
    let o = geometry.origin();
    let origin = [0, 1, 2].map(|r| o[r] + (0..3).map(|c| d[r][c] * shift[c]).sum::<f64>());
    Ok((Geometry::new(spacing, origin, d)?, size))
}

/// `geometry` (a grid of `size_xyz` voxels) turned by `degrees` about the patient axis `axis`
/// (0, 1, 2 = LPS x, y, z; right-handed) through the grid's centre: the same voxels, spacing
/// and extent, at another orientation. Resampling onto it shows the same anatomy turned
/// within the array (a head scanned at a tilt).
pub fn turned_grid(
    geometry: &Geometry,
    size_xyz: [usize; 3],
    axis: usize,
    degrees: f64,
) -> Result<Geometry> {
    if axis > 2 || !degrees.is_finite() {
        return Err(Error::param("turn", format!("axis {axis} and angle {degrees} degrees")));
    }
    let (s, c) = degrees.to_radians().sin_cos();
    let (i, j) = ((axis + 1) % 3, (axis + 2) % 3);
    let mut r = [[0.0; 3]; 3];
    r[axis][axis] = 1.0;
    (r[i][i], r[i][j], r[j][i], r[j][j]) = (c, -s, s, c);
    let centre_index = size_xyz.map(|n| (n as f64 - 1.0) / 2.0);
    let centre = geometry.index_to_physical(centre_index);
    let direction = mat3::mul(&r, &geometry.direction());
    let spacing = geometry.spacing();
    let offset = [0, 1, 2].map(|row| {
        (0..3).map(|col| direction[row][col] * spacing[col] * centre_index[col]).sum::<f64>()
    });
    let origin = [0, 1, 2].map(|k| centre[k] - offset[k]);
    Geometry::new(spacing, origin, direction)
}

/// The Gaussian (sigma per axis, mm) [`resample_to_spacing`] smooths with before going from
/// spacing `old` to `new`, if any: FWHM = 2 sqrt(2 ln 2) sigma makes up the difference.
pub(crate) fn antialias_sigma(
    old: [f64; 3],
    new: [f64; 3],
    options: &ResampleOptions,
) -> Option<[f64; 3]> {
    let sigma =
        [0, 1, 2].map(|k| (new[k].powi(2) - old[k].powi(2)).max(0.0).sqrt() / 2.354_820_045);
    (options.antialias
        && options.interpolation != Interpolation::Nearest
        && sigma.iter().any(|&s| s > 0.0))
    .then_some(sigma)
}

/// Resamples `volume` to `spacing` (mm, x y z) over the same extent ([`grid_for_spacing`]).
pub fn resample_to_spacing<T: Element>(
    volume: &Volume<T>,
    spacing: [f64; 3],
    options: &ResampleOptions,
) -> Result<Volume<f32>> {
    let (geometry, size) = grid_for_spacing(volume.geometry(), volume.size_xyz(), spacing)?;
    if let Some(sigma) = antialias_sigma(volume.geometry().spacing(), spacing, options) {
        let smooth = gaussian(&volume.to_f32(), &GaussianOptions::new(0.0).with_sigma_xyz(sigma))?;
        return resample(&smooth, &geometry, size, options);
    }
    resample(volume, &geometry, size, options)
}

/// [`resample_to_spacing`] onto the grid turned by `degrees` about patient axis `axis`
/// ([`turned_grid`]), smoothing first when anti-aliasing asks for it.
pub fn resample_turned<T: Element>(
    volume: &Volume<T>,
    spacing: [f64; 3],
    axis: usize,
    degrees: f64,
    options: &ResampleOptions,
) -> Result<Volume<f32>> {
    let (grid, size) = grid_for_spacing(volume.geometry(), volume.size_xyz(), spacing)?;
    let grid = turned_grid(&grid, size, axis, degrees)?;
    if let Some(sigma) = antialias_sigma(volume.geometry().spacing(), spacing, options) {
        let smooth = gaussian(&volume.to_f32(), &GaussianOptions::new(0.0).with_sigma_xyz(sigma))?;
        return resample(&smooth, &grid, size, options);
    }
    resample(volume, &grid, size, options)
}

/// Resamples a label volume (segmentation) onto `geometry`: each output voxel takes the label
/// whose indicator, interpolated linearly, is largest there (ties to the smaller label), so
/// boundaries move smoothly instead of in the staircase of nearest-neighbour resampling and no
/// label value is invented. Outside the input: label 0. One linear pass per label present.
pub fn resample_labels<T: Element + Ord>(
    labels: &Volume<T>,
    geometry: &Geometry,
    size_xyz: [usize; 3],
) -> Result<Volume<T>> {
    let mut present: Vec<T> = labels.as_slice().to_vec();
    present.sort_unstable();
    present.dedup();
    if present.len() > 1000 {
        return Err(Error::param(
            "labels",
            format!("{} distinct labels; at most 1000", present.len()),
        ));
    }
    let [nx, ny, nz] = size_xyz;
    let mut best_value = vec![0f32; nx * ny * nz];
    let mut best_label = vec![T::default(); nx * ny * nz];
    let options = ResampleOptions::default();
    for &l in &present {
        let indicator = labels.map(|v| if v == l { 1f32 } else { 0.0 });
        let weight = resample(&indicator, geometry, size_xyz, &options)?;
        for ((bv, bl), &w) in
            best_value.iter_mut().zip(best_label.iter_mut()).zip(weight.as_slice())
        {
            // Labels come in increasing order: a strictly larger weight is needed to win.
            if w > *bv {
                *bv = w;
                *bl = l;
            }
        }
    }
    Volume::from_vec([nz, ny, nx], best_label, geometry.clone())
}

/// Resamples `volume` onto `reference`'s grid (its geometry and shape).
pub fn resample_like<T: Element, U: Element>(
    volume: &Volume<T>,
    reference: &Volume<U>,
    options: &ResampleOptions,
) -> Result<Volume<f32>> {
    resample(volume, reference.geometry(), reference.size_xyz(), options)
}

/// Resamples `volume` onto the grid `geometry` of `size_xyz` voxels, as f32.
pub fn resample<T: Element>(
    volume: &Volume<T>,
    geometry: &Geometry,
    size_xyz: [usize; 3],
    options: &ResampleOptions,
) -> Result<Volume<f32>> {
    let [nx, ny, nz] = size_xyz;
    hounsfield_core::volume::checked_len(&[nx, ny, nz], 4, 64 << 30)?;
    let (a, b) = index_map(volume.geometry(), geometry)?;
    let src = volume.to_f32();
    let [iz, iy, ix] = src.shape();
    let diagonal = (0..3).all(|r| (0..3).all(|c| r == c || a[r][c].abs() < 1e-12));
    let outside = options.outside as f32;
    let sizes = [ix, iy, iz];
    if diagonal && options.interpolation != Interpolation::Nearest {
        let out = if options.interpolation == Interpolation::Linear {
            let tables = [0, 1, 2].map(|k| linear_table(a[k][k], b[k], size_xyz[k], sizes[k]));
            separable(src.as_slice(), [iz, iy, ix], &tables, outside)
        } else if options.interpolation == Interpolation::Lanczos3 {
            let tables = [0, 1, 2].map(|k| sinc::table(a[k][k], b[k], size_xyz[k], sizes[k]));
            separable(src.as_slice(), [iz, iy, ix], &tables, outside)
        } else {
            let coefficients = bspline::coefficients(&src);
            let tables = [0, 1, 2].map(|k| bspline::table(a[k][k], b[k], size_xyz[k], sizes[k]));
            separable(&coefficients, [iz, iy, ix], &tables, outside)
        };
        return Volume::from_vec([nz, ny, nx], out, geometry.clone());
    }
    let coefficients;
    let data = match options.interpolation {
        Interpolation::BSpline3 => {
            coefficients = bspline::coefficients(&src);
            coefficients.as_slice()
        }
        _ => src.as_slice(),
    };
    let mut out = vec![0f32; nx * ny * nz];
    out.par_chunks_mut(nx).enumerate().for_each(|(row, values)| {
        let (k, j) = ((row / ny) as f64, (row % ny) as f64);
        // The input index of (0, j, k) and its step per output x.
        let start = [0, 1, 2].map(|r| a[r][1] * j + a[r][2] * k + b[r]);
        let step = [a[0][0], a[1][0], a[2][0]];
        for (i, v) in values.iter_mut().enumerate() {
            let p = [0, 1, 2].map(|r| start[r] + step[r] * i as f64);
            *v = match options.interpolation {
                Interpolation::Linear => trilinear(data, sizes, p, outside),
                Interpolation::Nearest => nearest(data, sizes, p, outside),
                Interpolation::BSpline3 => bspline::sample(data, sizes, p, outside),
                Interpolation::Lanczos3 => sinc::sample(data, sizes, p, outside),
            };
        }
    });
    Volume::from_vec([nz, ny, nx], out, geometry.clone())
}

/// Resamples with nearest-neighbour interpolation, keeping the element type (for labels and
/// masks); `outside` is converted to T (saturating).
pub fn resample_nearest<T: Element>(
    volume: &Volume<T>,
    geometry: &Geometry,
    size_xyz: [usize; 3],
    outside: T,
) -> Result<Volume<T>> {
    let [nx, ny, nz] = size_xyz;
    hounsfield_core::volume::checked_len(&[nx, ny, nz], size_of::<T>(), 64 << 30)?;
    let (a, b) = index_map(volume.geometry(), geometry)?;
    let [iz, iy, ix] = volume.shape();
    let data = volume.as_slice();
    let mut out = vec![outside; nx * ny * nz];
    out.par_chunks_mut(nx).enumerate().for_each(|(row, values)| {
        let (k, j) = ((row / ny) as f64, (row % ny) as f64);
        for (i, v) in values.iter_mut().enumerate() {
            let p = [0, 1, 2].map(|r| a[r][0] * i as f64 + a[r][1] * j + a[r][2] * k + b[r]);
            if let Some([x, y, z]) = nearest_index([ix, iy, iz], p) {
                *v = data[(z * iy + y) * ix + x];
            }
        }
    });
    Volume::from_vec([nz, ny, nx], out, geometry.clone())
}

/// The two taps of linear interpolation, with the same edge and snapping rules as
/// [`trilinear`].
fn linear_table(scale: f64, offset: f64, n_out: usize, n_in: usize) -> Taps<2> {
    let edge = (n_in - 1) as f64;
    (0..n_out)
        .map(|i| {
            let p = scale * i as f64 + offset;
            if !(p >= -0.5 && p <= edge + 0.5) {
                return None;
            }
            let q = p.clamp(0.0, edge);
            let q = if (q - q.round()).abs() < 1e-6 { q.round() } else { q };
            let f = q.floor().min((n_in.max(2) - 2) as f64);
            let frac = if n_in == 1 { 0.0 } else { (q - f) as f32 };
            let lower = f as usize;
            Some([(lower, 1.0 - frac), ((lower + 1).min(n_in - 1), frac)])
        })
        .collect()
}

/// Interpolation on an axis-aligned map as three 1D passes (x, then y, then z), each a
/// weighted sum of K input rows or planes, vectorised; outside samples are set at the end.
fn separable<const K: usize>(
    src: &[f32],
    [iz, iy, ix]: [usize; 3],
    tables: &[Taps<K>; 3],
    outside: f32,
) -> Vec<f32> {
    let [tx, ty, tz] = tables;
    let (nx, ny, nz) = (tx.len(), ty.len(), tz.len());
    // Weighted sum of K slices of `from` (each `len` long) into `out`.
    let blend = |out: &mut [f32], from: &[f32], len: usize, taps: &[(usize, f32); K]| {
        let (first, w) = taps[0];
        for (o, &v) in out.iter_mut().zip(&from[first * len..(first + 1) * len]) {
            *o = w * v;
        }
        for &(index, w) in &taps[1..] {
            for (o, &v) in out.iter_mut().zip(&from[index * len..(index + 1) * len]) {
                *o += w * v;
            }
        }
    };
    // x: (iz, iy, ix) -> (iz, iy, nx)
    let mut a = vec![0f32; iz * iy * nx];
    a.par_chunks_mut(nx).zip(src.par_chunks(ix)).for_each(|(out, row)| {
        for (o, t) in out.iter_mut().zip(tx) {
            if let Some(taps) = t {
                *o = taps.iter().map(|&(i, w)| w * row[i]).sum();
            }
        }
    });
    // y: (iz, iy, nx) -> (iz, ny, nx)
    let mut c = vec![0f32; iz * ny * nx];
    c.par_chunks_mut(ny * nx).zip(a.par_chunks(iy * nx)).for_each(|(out, plane)| {
        for (row, t) in out.chunks_mut(nx).zip(ty) {
            if let Some(taps) = t {
                blend(row, plane, nx, taps);
            }
        }
    });
    drop(a);
    // z: (iz, ny, nx) -> (nz, ny, nx)
    let plane = ny * nx;
    let mut out = vec![0f32; nz * plane];
    out.par_chunks_mut(plane).zip(tz.par_iter()).for_each(|(o, t)| match t {
        Some(taps) => blend(o, &c, plane, taps),
        None => o.fill(outside),
    });
    // Rows and columns outside along x or y.
    out.par_chunks_mut(plane).for_each(|o| {
        for (row, t) in o.chunks_mut(nx).zip(ty) {
            if t.is_none() {
                row.fill(outside);
            } else {
                for (v, t) in row.iter_mut().zip(tx) {
                    if t.is_none() {
                        *v = outside;
                    }
                }
            }
        }
    });
    out
}

/// Input samples an output block needs: an index range `(x, y, z)` of the input grid.
pub(crate) type InputRanges = [std::ops::Range<usize>; 3];

/// Global taps cut to the output indices `start..start + len` and shifted to a local input
/// range (the one they reach), per axis; `None` where no output of the block sees the input.
fn cut_tables<const K: usize>(
    tables: [Taps<K>; 3],
    start: [usize; 3],
    len: [usize; 3],
) -> Option<([Taps<K>; 3], InputRanges)> {
    let mut ranges: InputRanges = [0..0, 0..0, 0..0];
    let mut cut: [Taps<K>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for k in 0..3 {
        let part = &tables[k][start[k]..start[k] + len[k]];
        let reached = part.iter().flatten().flat_map(|taps| taps.iter().map(|&(i, _)| i));
        let (lo, hi) = reached.fold((usize::MAX, 0), |(lo, hi), i| (lo.min(i), hi.max(i)));
        if lo > hi {
            return None;
        }
        ranges[k] = lo..hi + 1;
        cut[k] = part.iter().map(|t| t.map(|taps| taps.map(|(i, w)| (i - lo, w)))).collect();
    }
    Some((cut, ranges))
}

/// The block `start_xyz .. start_xyz + len_xyz` of [`resample`] of a volume on `input`
/// (`input_size` voxels, x y z) onto `geometry` (`size_xyz`), reading only the input samples it
/// needs through `read` (given an input range, it returns those samples in C order). The values
/// are those of the whole grid's resampling, bit for bit. B-spline interpolation (its prefilter
/// runs over the whole input) and maps that are not axis-aligned (outside nearest) are refused.
#[allow(clippy::too_many_arguments)]
pub(crate) fn resample_block(
    input: &Geometry,
    input_size: [usize; 3],
    read: &dyn Fn(InputRanges) -> Result<Vec<f32>>,
    geometry: &Geometry,
    size_xyz: [usize; 3],
    start_xyz: [usize; 3],
    len_xyz: [usize; 3],
    options: &ResampleOptions,
) -> Result<Vec<f32>> {
    let (a, b) = index_map(input, geometry)?;
    let diagonal = (0..3).all(|r| (0..3).all(|c| r == c || a[r][c].abs() < 1e-12));
    let outside = options.outside as f32;
    let [lx, ly, lz] = len_xyz;
    let sized = |r: &InputRanges| [r[2].len(), r[1].len(), r[0].len()];
    match options.interpolation {
        Interpolation::BSpline3 => Err(Error::param(
            "interpolation",
            "the cubic B-spline's prefilter runs over the whole input: it has no chunked form",
        )),
        Interpolation::Linear | Interpolation::Lanczos3 if !diagonal => Err(Error::param(
            "geometry",
            "a map that is not axis-aligned has no chunked form (nearest has)",
        )),
        Interpolation::Linear => {
            let tables = [0, 1, 2].map(|k| linear_table(a[k][k], b[k], size_xyz[k], input_size[k]));
            Ok(match cut_tables(tables, start_xyz, len_xyz) {
                Some((cut, ranges)) => {
                    separable(&read(ranges.clone())?, sized(&ranges), &cut, outside)
                }
                None => vec![outside; lx * ly * lz],
            })
        }
        Interpolation::Lanczos3 => {
            let tables = [0, 1, 2].map(|k| sinc::table(a[k][k], b[k], size_xyz[k], input_size[k]));
            Ok(match cut_tables(tables, start_xyz, len_xyz) {
                Some((cut, ranges)) => {
                    separable(&read(ranges.clone())?, sized(&ranges), &cut, outside)
                }
                None => vec![outside; lx * ly * lz],
            })
        }
        Interpolation::Nearest => {
            // The voxel each output takes, found as `resample` finds it (global indices).
            let [x0, y0, z0] = start_xyz;
            let mut picks = Vec::with_capacity(lx * ly * lz);
            for k in z0..z0 + lz {
                for j in y0..y0 + ly {
                    let start = [0, 1, 2].map(|r| a[r][1] * j as f64 + a[r][2] * k as f64 + b[r]);
                    let step = [a[0][0], a[1][0], a[2][0]];
                    for i in x0..x0 + lx {
                        let p = [0, 1, 2].map(|r| start[r] + step[r] * i as f64);
                        picks.push(nearest_index(input_size, p));
                    }
                }
            }
            let mut lo = [usize::MAX; 3];
            let mut hi = [0usize; 3];
            for idx in picks.iter().flatten() {
                for c in 0..3 {
                    lo[c] = lo[c].min(idx[c]);
                    hi[c] = hi[c].max(idx[c]);
                }
            }
            if lo[0] > hi[0] {
                return Ok(vec![outside; picks.len()]);
            }
            let ranges: InputRanges = [lo[0]..hi[0] + 1, lo[1]..hi[1] + 1, lo[2]..hi[2] + 1];
            let [nz, ny, nx] = sized(&ranges);
            let samples = read(ranges)?;
            debug_assert_eq!(samples.len(), nz * ny * nx);
            Ok(picks
                .iter()
                .map(|idx| match idx {
                    Some([x, y, z]) => samples[((z - lo[2]) * ny + (y - lo[1])) * nx + (x - lo[0])],
                    None => outside,
                })
                .collect())
        }
    }
}

/// The affine map from output index to input index: `in = A out + b`.
fn index_map(input: &Geometry, output: &Geometry) -> Result<(mat3::Mat3, [f64; 3])> {
    // physical = O + D S idx  =>  in = (Di Si)^-1 (Do So out + Oo - Oi)
    let scaled = |g: &Geometry| {
        let (d, s) = (g.direction(), g.spacing());
        [0, 1, 2].map(|r| [0, 1, 2].map(|c| d[r][c] * s[c]))
    };
    let inverse = mat3::inverse(&scaled(input))
        .ok_or_else(|| Error::InvalidGeometry("the input grid is singular".into()))?;
    let a = mat3::mul(&inverse, &scaled(output));
    let (oi, oo) = (input.origin(), output.origin());
    let b = mat3::mul_vec(&inverse, [0, 1, 2].map(|r| oo[r] - oi[r]));
    Ok((a, b))
}

/// The voxel nearest to continuous index `p` (x, y, z), if within half a voxel of the grid.
#[inline]
fn nearest_index(size: [usize; 3], p: [f64; 3]) -> Option<[usize; 3]> {
    let mut idx = [0usize; 3];
    for k in 0..3 {
        let r = p[k].round();
        if !(r >= 0.0 && r <= (size[k] - 1) as f64) {
            // Exactly half a voxel beyond the last centre rounds outward: keep it inside.
            let edge = (size[k] - 1) as f64;
            if p[k] >= -0.5 && p[k] <= edge + 0.5 {
                idx[k] = if p[k] < 0.0 { 0 } else { size[k] - 1 };
                continue;
            }
            return None;
        }
        idx[k] = r as usize;
    }
    Some(idx)
}

#[inline]
fn nearest(data: &[f32], size: [usize; 3], p: [f64; 3], outside: f32) -> f32 {
    match nearest_index(size, p) {
        Some([x, y, z]) => data[(z * size[1] + y) * size[0] + x],
        None => outside,
    }
}

#[inline]
fn trilinear(data: &[f32], size: [usize; 3], p: [f64; 3], outside: f32) -> f32 {
    let mut base = [0usize; 3];
    let mut frac = [0f32; 3];
    for k in 0..3 {
        let edge = (size[k] - 1) as f64;
        if !(p[k] >= -0.5 && p[k] <= edge + 0.5) {
            return outside;
        }
        // Snap to a centre within 1e-6 voxel, so that grids that coincide copy values exactly.
        let q = p[k].clamp(0.0, edge);
        let q = if (q - q.round()).abs() < 1e-6 { q.round() } else { q };
        let f = q.floor().min((size[k].max(2) - 2) as f64);
        base[k] = f as usize;
        frac[k] = if size[k] == 1 { 0.0 } else { (q - f) as f32 };
    }
    let [x, y, z] = base;
    let [nx, ny, _] = size;
    let dx = usize::from(size[0] > 1);
    let dy = if size[1] > 1 { nx } else { 0 };
    let dz = if size[2] > 1 { nx * ny } else { 0 };
    let i = (z * ny + y) * nx + x;
    // Exact at both ends (t = 0 gives a, t = 1 gives b), unlike a + t (b - a).
    let lerp = |a: f32, b: f32, t: f32| a * (1.0 - t) + b * t;
    let c00 = lerp(data[i], data[i + dx], frac[0]);
    let c10 = lerp(data[i + dy], data[i + dy + dx], frac[0]);
    let c01 = lerp(data[i + dz], data[i + dz + dx], frac[0]);
    let c11 = lerp(data[i + dz + dy], data[i + dz + dy + dx], frac[0]);
    lerp(lerp(c00, c10, frac[1]), lerp(c01, c11, frac[1]), frac[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_turn_about_z_is_an_exact_array_rotation() {
        // Output voxel (i, j) sits at centre + (i - 2) e_y - (j - 2) e_x: input (x, y) =
        // (4 - j, i). Nearest neighbour makes that exact.
        let g = Geometry::new([0.7, 0.7, 2.0], [10.0, -4.0, 3.0], mat3::IDENTITY).unwrap();
        let v = Volume::from_vec([2, 5, 5], (0..50).map(|i| i as f32).collect(), g).unwrap();
        let opts = ResampleOptions::default().with_interpolation(Interpolation::Nearest);
        let out = resample_turned(&v, [0.7, 0.7, 2.0], 2, 90.0, &opts).unwrap();
        let (a, b) = (v.as_slice(), out.as_slice());
        for k in 0..2 {
            for j in 0..5 {
                for i in 0..5 {
                    assert_eq!(b[(k * 5 + j) * 5 + i], a[(k * 5 + i) * 5 + 4 - j], "{k} {j} {i}");
                }
            }
        }
        // The grid keeps its centre, spacing and handedness; a bad axis is refused.
        let t = turned_grid(v.geometry(), [5, 5, 2], 2, 15.0).unwrap();
        let centre = [2.0, 2.0, 0.5];
        let (p, q) = (t.index_to_physical(centre), v.geometry().index_to_physical(centre));
        assert!((0..3).all(|k| (p[k] - q[k]).abs() < 1e-9), "{p:?} {q:?}");
        assert!((mat3::det(&t.direction()) - 1.0).abs() < 1e-12);
        assert!(turned_grid(v.geometry(), [5, 5, 2], 3, 15.0).is_err());
    }

    fn ramp(shape: [usize; 3], g: Geometry) -> Volume<f32> {
        let [nz, ny, nx] = shape;
        let v = (0..nz * ny * nx)
            .map(|i| {
                let (z, y, x) = (i / (ny * nx), (i / nx) % ny, i % nx);
                let p = g.index_to_physical([x as f64, y as f64, z as f64]);
                (2.0 * p[0] - 3.0 * p[1] + 0.5 * p[2] + 7.0) as f32
            })
            .collect();
        Volume::from_vec(shape, v, g).unwrap()
    }

    /// A linear function of position is reproduced exactly (to f32) by trilinear resampling
    /// onto any grid inside the input, oblique and finer included.
    #[test]
    fn linear_resampling_of_a_linear_ramp_is_exact() {
        let g = Geometry::axis_aligned([1.0, 1.2, 2.5], [-10.0, 5.0, 3.0]).unwrap();
        let input = ramp([9, 11, 13], g);
        let rot = mat3::rotation_from_quaternion([0.97, 0.1, -0.05, 0.2]);
        let target = Geometry::new([0.7, 0.9, 1.1], [-5.0, 9.0, 9.0], rot).unwrap();
        let out = resample(&input, &target, [4, 4, 4], &ResampleOptions::default()).unwrap();
        for ((z, y, x), &v) in out.data().indexed_iter() {
            let p = target.index_to_physical([x as f64, y as f64, z as f64]);
            let want = 2.0 * p[0] - 3.0 * p[1] + 0.5 * p[2] + 7.0;
            let inside = input.geometry().physical_to_index(p);
            assert!(
                inside.iter().zip([12.0, 10.0, 8.0]).all(|(q, edge)| *q >= 0.0 && *q <= edge),
                "{inside:?}"
            );
            assert!((f64::from(v) - want).abs() < 1e-3, "({z},{y},{x}): {v} vs {want}");
        }
    }

    /// Axis-aligned maps take the separable path: it agrees with voxel-by-voxel trilinear
    /// interpolation, outside samples included.
    #[test]
    fn the_separable_path_equals_trilinear() {
        let g = Geometry::axis_aligned([1.0, 1.2, 2.5], [-10.0, 5.0, 3.0]).unwrap();
        let input = ramp([9, 11, 13], g.clone()).map(|v| (v * 0.37).sin() * 50.0);
        let target = Geometry::axis_aligned([0.55, 1.7, 0.9], [-11.0, 4.0, 2.0]).unwrap();
        let size = [27, 9, 26];
        let out = resample(&input, &target, size, &ResampleOptions::default().with_outside(-9.0))
            .unwrap();
        let (a, b) = index_map(&g, &target).unwrap();
        let mut outside = 0;
        for ((z, y, x), &v) in out.data().indexed_iter() {
            let o = [x as f64, y as f64, z as f64];
            let p = [0, 1, 2].map(|r| (0..3).map(|c| a[r][c] * o[c]).sum::<f64>() + b[r]);
            let want = trilinear(input.as_slice(), [13, 11, 9], p, -9.0);
            outside += usize::from(want == -9.0);
            assert!((v - want).abs() < 1e-4, "({z},{y},{x}): {v} vs {want}");
        }
        assert!(outside > 50, "the target reaches outside the input");
    }

    /// Every interpolation copies values onto the same grid, keeps constants, and reproduces a
    /// slow sine (band-limited) closely on a shifted oblique grid; the windowed sinc best.
    #[test]
    fn interpolations_agree_on_smooth_data() {
        let g = Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap();
        let f = |p: [f64; 3]| (0.4 * p[0]).sin() + (0.3 * p[1]).cos() * (0.25 * p[2]).sin();
        let n = 24;
        let v: Vec<f32> = (0..n * n * n)
            .map(|i| f([(i % n) as f64, ((i / n) % n) as f64, (i / (n * n)) as f64]) as f32)
            .collect();
        let vol = Volume::from_vec([n, n, n], v, g.clone()).unwrap();
        let rot = mat3::rotation_from_quaternion([0.98, 0.05, 0.1, -0.08]);
        let target = Geometry::new([0.9, 1.1, 0.8], [8.3, 7.7, 9.1], rot).unwrap();
        let mut errors = Vec::new();
        for interpolation in
            [Interpolation::Linear, Interpolation::BSpline3, Interpolation::Lanczos3]
        {
            let options = ResampleOptions::default().with_interpolation(interpolation);
            let same = resample(&vol, &g, vol.size_xyz(), &options).unwrap();
            let worst = same
                .as_slice()
                .iter()
                .zip(vol.as_slice())
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-5, "{interpolation:?}: identity off by {worst}");
            // An oblique grid (voxel by voxel) and a shifted axis-aligned one (separable).
            let shifted = Geometry::axis_aligned([0.7, 1.3, 0.9], [7.35, 8.6, 6.2]).unwrap();
            let mut err = 0.0f64;
            for (grid, size) in [(&target, [6, 6, 6]), (&shifted, [9, 7, 8])] {
                let out = resample(&vol, grid, size, &options).unwrap();
                for ((z, y, x), &v) in out.data().indexed_iter() {
                    let want = f(grid.index_to_physical([x as f64, y as f64, z as f64]));
                    err = err.max((f64::from(v) - want).abs());
                }
            }
            errors.push(err);
        }
        assert!(errors[2] < errors[0] && errors[1] < errors[0], "{errors:?}");
        // The separable windowed sinc is the voxel-by-voxel one.
        let shifted = Geometry::axis_aligned([0.7, 1.3, 0.9], [7.35, 8.6, 6.2]).unwrap();
        let options = ResampleOptions::default().with_interpolation(Interpolation::Lanczos3);
        let out = resample(&vol, &shifted, [9, 7, 8], &options).unwrap();
        let (a, b) = index_map(&g, &shifted).unwrap();
        for ((z, y, x), &v) in out.data().indexed_iter() {
            let p = [0, 1, 2]
                .map(|r| a[r][0] * x as f64 + a[r][1] * y as f64 + a[r][2] * z as f64 + b[r]);
            let want = sinc::sample(vol.as_slice(), [n, n, n], p, f32::NAN);
            assert!((v - want).abs() < 1e-5, "({z},{y},{x}): {v} vs {want}");
        }
        assert!(errors[2] < 0.01 && errors[1] < 0.01, "{errors:?}");
    }

    #[test]
    fn identity_resampling_is_exact_and_nearest_keeps_labels() {
        let g = Geometry::axis_aligned([0.8, 0.8, 3.0], [1.0, 2.0, 3.0]).unwrap();
        let v = ramp([4, 5, 6], g.clone());
        let same = resample(&v, &g, v.size_xyz(), &ResampleOptions::default()).unwrap();
        assert_eq!(same.as_slice(), v.as_slice());
        let labels = v.map(|x| (x.abs() as u16) % 7);
        let back = resample_nearest(&labels, &g, labels.size_xyz(), 0).unwrap();
        assert_eq!(back.as_slice(), labels.as_slice());
    }

    /// A checkerboard finer than the new grid averages out with antialiasing and aliases
    /// without it; labels resample to labels that exist.
    #[test]
    fn antialiasing_and_labels() {
        let g = Geometry::default();
        let board = Volume::from_vec(
            [8, 8, 8],
            (0..512).map(|i| ((i + i / 8 + i / 64) % 2) as f32).collect(),
            g.clone(),
        )
        .unwrap();
        let plain = resample_to_spacing(&board, [3.0; 3], &ResampleOptions::default()).unwrap();
        let smooth =
            resample_to_spacing(&board, [3.0; 3], &ResampleOptions::default().with_antialias(true))
                .unwrap();
        let spread =
            |v: &Volume<f32>| v.as_slice().iter().map(|x| (x - 0.5).abs()).fold(0.0f32, f32::max);
        assert!(
            spread(&smooth) < 0.1 && spread(&plain) > 0.3,
            "{} {}",
            spread(&smooth),
            spread(&plain)
        );
        // Two labels split at x = 3.5; on a grid shifted by a quarter voxel the split stays.
        let labels = Volume::from_vec(
            [2, 2, 8],
            (0..32).map(|i| if i % 8 < 4 { 3u8 } else { 7 }).collect(),
            g,
        )
        .unwrap();
        let shifted = Geometry::axis_aligned([1.0; 3], [0.25, 0.0, 0.0]).unwrap();
        let out = resample_labels(&labels, &shifted, [8, 2, 2]).unwrap();
        assert_eq!(
            &out.as_slice()[..8],
            &[3, 3, 3, 3, 7, 7, 7, 7],
            "x = 3.25 is still left of 3.5"
        );
        assert!(out.as_slice().iter().all(|&l| l == 3 || l == 7));
    }

    #[test]
    fn resampling_to_a_spacing_keeps_the_extent() {
        let g = Geometry::axis_aligned([1.0, 1.0, 2.5], [0.0; 3]).unwrap();
        let v = Volume::filled([8, 10, 12], 5.0f32, g).unwrap();
        let out = resample_to_spacing(&v, [1.0, 1.0, 1.0], &ResampleOptions::default()).unwrap();
        assert_eq!(out.shape(), [20, 10, 12]);
        // Outer faces: z from -1.25 to 18.75 mm in both.
        let (a, b) = (v.geometry(), out.geometry());
        let face = |g: &Geometry, k: f64| g.index_to_physical([0.0, 0.0, k])[2];
        assert!((face(a, -0.5) - face(b, -0.5)).abs() < 1e-12);
        assert!((face(a, 7.5) - face(b, 19.5)).abs() < 1e-12);
        // Every output sample lies within the input's voxels: the constant is everywhere.
        assert!(out.as_slice().iter().all(|&x| x == 5.0));
        assert!(resample_to_spacing(&v, [1.0, 0.0, 1.0], &ResampleOptions::default()).is_err());
    }
}
