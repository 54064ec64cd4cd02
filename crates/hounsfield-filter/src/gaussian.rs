//! Gaussian smoothing as a separable FIR filter, sigma in millimetres per axis.
//!
//! The kernel is scipy.ndimage's: radius `round_down(truncate * sigma + 0.5)` voxels, samples of
//! exp(-x^2 / 2 sigma^2) normalised to sum 1, so results match `gaussian_filter` with the same
//! `truncate` and mode. Each pass is a row- or plane-wise multiply-add over contiguous memory
//! (vectorised by the compiler) and runs in parallel over planes; every output voxel is computed
//! the same way whatever the thread count.

use hounsfield_core::{Error, Result, Volume};
use rayon::prelude::*;

use crate::boundary::Boundary;

/// Options of [`gaussian`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GaussianOptions {
    /// Standard deviation per axis (x, y, z) in mm; 0 leaves that axis alone.
    pub sigma_mm: [f64; 3],
    /// Kernel radius in standard deviations (scipy's `truncate`, default 4).
    pub truncate: f64,
    /// What lies beyond the edges (default [`Boundary::Reflect`], as scipy).
    pub boundary: Boundary,
}

impl GaussianOptions {
    /// The same sigma (mm) along every axis.
    pub fn new(sigma_mm: f64) -> Self {
        GaussianOptions { sigma_mm: [sigma_mm; 3], truncate: 4.0, boundary: Boundary::Reflect }
    }

    /// A sigma (mm) per axis, x, y, z.
    pub fn with_sigma_xyz(mut self, sigma_mm: [f64; 3]) -> Self {
        self.sigma_mm = sigma_mm;
        self
    }

    /// The kernel radius in standard deviations.
    pub fn with_truncate(mut self, truncate: f64) -> Self {
        self.truncate = truncate;
        self
    }

    /// The boundary handling.
    pub fn with_boundary(mut self, boundary: Boundary) -> Self {
        self.boundary = boundary;
        self
    }
}

/// scipy's sampled 1D Gaussian: `2r + 1` weights summing to 1, r = (truncate * sigma + 0.5)
/// rounded down; `[1.0]` for sigma 0.
pub fn gaussian_kernel(sigma: f64, truncate: f64) -> Result<Vec<f64>> {
    if !(sigma.is_finite() && sigma >= 0.0) {
        return Err(Error::param("sigma", format!("must be finite and >= 0, got {sigma}")));
    }
    if !(truncate.is_finite() && truncate > 0.0) {
        return Err(Error::param("truncate", format!("must be finite and > 0, got {truncate}")));
    }
    if sigma == 0.0 {
        return Ok(vec![1.0]);
    }
    let radius = (truncate * sigma + 0.5).floor();
    if radius > 10_000.0 {
        return Err(Error::param(
            "sigma",
            format!("{sigma} voxels needs a kernel over 20001 taps"),
        ));
    }
    let radius = radius as i64;
    let weights: Vec<f64> =
        (-radius..=radius).map(|x| (-0.5 * (x * x) as f64 / (sigma * sigma)).exp()).collect();
    let sum: f64 = weights.iter().sum();
    Ok(weights.into_iter().map(|w| w / sum).collect())
}

/// Smooths `volume` with a Gaussian of `options.sigma_mm` (converted to voxels with the
/// volume's spacing). Non-finite input values spread as they would in any linear filter.
pub fn gaussian(volume: &Volume<f32>, options: &GaussianOptions) -> Result<Volume<f32>> {
    let spacing = volume.geometry().spacing();
    let sigma_voxels = [0, 1, 2].map(|k| options.sigma_mm[k] / spacing[k]);
    gaussian_voxels(volume, sigma_voxels, options.truncate, options.boundary)
}

/// [`gaussian`] with sigma in voxels (x, y, z).
pub fn gaussian_voxels(
    volume: &Volume<f32>,
    sigma_voxels: [f64; 3],
    truncate: f64,
    boundary: Boundary,
) -> Result<Volume<f32>> {
    let kernels =
        sigma_voxels.iter().map(|&s| gaussian_kernel(s, truncate)).collect::<Result<Vec<_>>>()?;
    let [nz, ny, nx] = volume.shape();
    let shape = [nz, ny, nx];
    let passes: [Pass; 3] = [correlate_x, correlate_y, correlate_z];
    // Ping-pong between two buffers; the first pass reads the input itself.
    let mut data: Option<Vec<f32>> = None;
    let mut spare: Vec<f32> = Vec::new();
    for (pass, kernel) in passes.iter().zip(&kernels) {
        if kernel.len() == 1 {
            continue;
        }
        // Every pass writes every output value: a fresh buffer (calloc, zeroed lazily by the
        // kernel) or the one two passes back.
        let mut out = std::mem::take(&mut spare);
        if out.len() != volume.len() {
            out = vec![0f32; volume.len()];
        }
        pass(data.as_deref().unwrap_or(volume.as_slice()), &mut out, shape, kernel, boundary);
        if let Some(previous) = data.replace(out) {
            spare = previous;
        }
    }
    let data = data.unwrap_or_else(|| volume.as_slice().to_vec());
    Volume::from_vec([nz, ny, nx], data, volume.geometry().clone())
}

/// One separable pass: source, destination, shape, kernel, boundary.
type Pass = fn(&[f32], &mut [f32], [usize; 3], &[f64], Boundary);

/// The weights as f32 and the radius.
fn taps(kernel: &[f64]) -> (Vec<f32>, usize) {
    (kernel.iter().map(|&w| w as f32).collect(), kernel.len() / 2)
}

/// The constant a [`Boundary::Constant`] reads outside, as f32.
fn constant(boundary: Boundary) -> f32 {
    match boundary {
        Boundary::Constant(c) => c as f32,
        _ => 0.0,
    }
}

/// `out += w * src`, the inner loop of every pass.
#[inline]
fn axpy(out: &mut [f32], w: f32, src: &[f32]) {
    for (o, s) in out.iter_mut().zip(src) {
        *o += w * s;
    }
}

/// Along x (contiguous rows): each row padded per the boundary, then one multiply-add per tap.
fn correlate_x(src: &[f32], dst: &mut [f32], shape: [usize; 3], kernel: &[f64], b: Boundary) {
    let [_, ny, nx] = shape;
    let (w, r) = taps(kernel);
    let c = constant(b);
    dst.par_chunks_mut(ny * nx).zip(src.par_chunks(ny * nx)).for_each(|(out_plane, in_plane)| {
        let mut padded = vec![0f32; nx + 2 * r];
        for (out, row) in out_plane.chunks_mut(nx).zip(in_plane.chunks(nx)) {
            for (p, slot) in padded.iter_mut().enumerate() {
                *slot = b.index(p as isize - r as isize, nx).map_or(c, |i| row[i]);
            }
            out.fill(0.0);
            for (k, &wk) in w.iter().enumerate() {
                axpy(out, wk, &padded[k..k + nx]);
            }
        }
    });
}

/// Along y: within each plane, each output row is a weighted sum of whole input rows.
fn correlate_y(src: &[f32], dst: &mut [f32], shape: [usize; 3], kernel: &[f64], b: Boundary) {
    let [_, ny, nx] = shape;
    let (w, r) = taps(kernel);
    let c = constant(b);
    dst.par_chunks_mut(ny * nx).zip(src.par_chunks(ny * nx)).for_each(|(out_plane, in_plane)| {
        for (j, out) in out_plane.chunks_mut(nx).enumerate() {
            out.fill(0.0);
            for (k, &wk) in w.iter().enumerate() {
                match b.index(j as isize + k as isize - r as isize, ny) {
                    Some(jj) => axpy(out, wk, &in_plane[jj * nx..(jj + 1) * nx]),
                    None => out.iter_mut().for_each(|o| *o += wk * c),
                }
            }
        }
    });
}

/// Rows per block of the z pass: 17 input blocks of 8 rows of 256 floats stay in L2.
const Z_BLOCK_ROWS: usize = 8;

/// Along z: each output plane is a weighted sum of input planes. Done block of rows by block
/// of rows through all planes, so that consecutive output planes reuse the input blocks while
/// they are still in cache (plane by plane, every plane would be read from memory 2r+1 times).
fn correlate_z(src: &[f32], dst: &mut [f32], shape: [usize; 3], kernel: &[f64], b: Boundary) {
    let [nz, ny, nx] = shape;
    let plane = ny * nx;
    let (w, r) = taps(kernel);
    let c = constant(b);
    let rows = Z_BLOCK_ROWS.min(ny);
    let blocks = ny.div_ceil(rows);
    // blocks_out[block][z]: the output rows of that block in plane z.
    let mut blocks_out: Vec<Vec<&mut [f32]>> =
        (0..blocks).map(|_| Vec::with_capacity(nz)).collect();
    for out_plane in dst.chunks_mut(plane) {
        for (k, chunk) in out_plane.chunks_mut(rows * nx).enumerate() {
            blocks_out[k].push(chunk);
        }
    }
    blocks_out.into_par_iter().enumerate().for_each(|(k, outs)| {
        let offset = k * rows * nx;
        for (z, out) in outs.into_iter().enumerate() {
            let len = out.len();
            out.fill(0.0);
            for (t, &wt) in w.iter().enumerate() {
                match b.index(z as isize + t as isize - r as isize, nz) {
                    Some(zz) => axpy(out, wt, &src[zz * plane + offset..zz * plane + offset + len]),
                    None => out.iter_mut().for_each(|o| *o += wt * c),
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    #[test]
    fn the_kernel_is_scipys() {
        // scipy.ndimage._filters._gaussian_kernel1d(1.0, 0, 4) (scipy 1.17.1): radius 4, centre
        // 0.39894346935609776.
        let k = gaussian_kernel(1.0, 4.0).unwrap();
        assert_eq!(k.len(), 9);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        assert!((k[4] - 0.398_943_469_356_097_76).abs() < 1e-15, "{}", k[4]);
        assert_eq!(gaussian_kernel(2.0, 4.0).unwrap().len(), 17);
        assert_eq!(gaussian_kernel(0.0, 4.0).unwrap(), [1.0]);
        assert!(gaussian_kernel(f64::NAN, 4.0).is_err());
        assert!(gaussian_kernel(1.0, 0.0).is_err());
    }

    /// The response to a unit impulse far from the edges is the separable kernel itself.
    #[test]
    fn an_impulse_gives_the_sampled_kernel() {
        let n = 21;
        let mut v = vec![0f32; n * n * n];
        v[(10 * n + 10) * n + 10] = 1.0;
        let g = Geometry::axis_aligned([0.5, 1.0, 2.0], [0.0; 3]).unwrap();
        let vol = Volume::from_vec([n, n, n], v, g).unwrap();
        // 1 mm everywhere: 2, 1 and 0.5 voxels along x, y, z.
        let out = gaussian(&vol, &GaussianOptions::new(1.0)).unwrap();
        let (kx, ky, kz) = (
            gaussian_kernel(2.0, 4.0).unwrap(),
            gaussian_kernel(1.0, 4.0).unwrap(),
            gaussian_kernel(0.5, 4.0).unwrap(),
        );
        let at = |k: &[f64], d: isize| {
            let r = (k.len() / 2) as isize;
            if d.abs() <= r { k[(d + r) as usize] } else { 0.0 }
        };
        for ((z, y, x), &value) in out.data().indexed_iter() {
            let (dz, dy, dx) = (z as isize - 10, y as isize - 10, x as isize - 10);
            let want = at(&kz, dz) * at(&ky, dy) * at(&kx, dx);
            assert!((f64::from(value) - want).abs() < 1e-7, "({z},{y},{x}): {value} vs {want}");
        }
    }

    #[test]
    fn reflect_preserves_the_mean_and_constant_volumes_stay_constant() {
        let g = Geometry::default();
        let v: Vec<f32> = (0..6 * 7 * 8).map(|i| ((i * 37) % 11) as f32).collect();
        let vol = Volume::from_vec([6, 7, 8], v, g.clone()).unwrap();
        let out = gaussian(&vol, &GaussianOptions::new(1.5)).unwrap();
        let mean = |v: &Volume<f32>| v.as_slice().iter().map(|&x| f64::from(x)).sum::<f64>();
        assert!((mean(&out) - mean(&vol)).abs() < 1e-3, "{} vs {}", mean(&out), mean(&vol));
        let flat = Volume::filled([4, 5, 6], 3.25f32, g).unwrap();
        for b in [Boundary::Reflect, Boundary::Mirror, Boundary::Nearest, Boundary::Wrap] {
            let o = gaussian(&flat, &GaussianOptions::new(2.0).with_boundary(b)).unwrap();
            assert!(o.as_slice().iter().all(|&x| (x - 3.25).abs() < 1e-5), "{b:?}");
        }
    }
}
