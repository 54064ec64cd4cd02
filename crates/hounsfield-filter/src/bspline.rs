//! Cubic B-spline interpolation: the prefilter that turns samples into coefficients, and
//! evaluation, both with the mirror boundary (scipy.ndimage's `spline_filter` and
//! `map_coordinates(order=3, mode='mirror')`).
//!
//! The prefilter is the exact recursive filter of Unser (pole sqrt(3) - 2) with Thévenaz's
//! mirror initialisation, run along each axis on whole rows or planes at once (a causal and an
//! anticausal pass of vector multiply-adds), so it is vectorised and cache-friendly.

use hounsfield_core::Volume;
use rayon::prelude::*;

use crate::kernel::{Taps, kernel_table, kernel_taps};

/// The pole of the cubic B-spline prefilter.
const POLE: f64 = -0.267_949_192_431_122_7; // sqrt(3) - 2

/// The B-spline coefficients of `volume` (same layout), computed in f32.
pub fn coefficients(volume: &Volume<f32>) -> Vec<f32> {
    let [nz, ny, nx] = volume.shape();
    let mut c = volume.as_slice().to_vec();
    let plane = ny * nx;
    // x: each row, one sample per element; y: within each plane, rows as vectors.
    c.par_chunks_mut(plane).for_each(|p| {
        for row in p.chunks_mut(nx) {
            prefilter(row, nx, 1);
        }
        prefilter(p, ny, nx);
    });
    // z: planes as vectors.
    along_z(&mut c, nz, plane, prefilter);
    c
}

/// Runs `filter(lines, nz, len)` along z: the planes are the samples, each cut into blocks of
/// columns (`len` values per sample) so that threads share the work; results are written back.
pub(crate) fn along_z(
    data: &mut [f32],
    nz: usize,
    plane: usize,
    filter: impl Fn(&mut [f32], usize, usize) + Sync,
) {
    let block = 4096.min(plane);
    let blocks: Vec<Vec<f32>> = (0..plane.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let (start, len) = (b * block, block.min(plane - b * block));
            let mut lines: Vec<f32> =
                (0..nz).flat_map(|z| data[z * plane + start..][..len].to_vec()).collect();
            filter(&mut lines, nz, len);
            lines
        })
        .collect();
    for (b, lines) in blocks.into_iter().enumerate() {
        let (start, len) = (b * block, block.min(plane - b * block));
        for z in 0..nz {
            data[z * plane + start..][..len].copy_from_slice(&lines[z * len..(z + 1) * len]);
        }
    }
}

/// Prefilters `n` samples, each a vector of `len` values stored one after the other.
fn prefilter(data: &mut [f32], n: usize, len: usize) {
    if n < 2 {
        return;
    }
    let z = POLE as f32;
    let at = |k: usize| k * len..(k + 1) * len;
    data.iter_mut().for_each(|v| *v *= 6.0);
    // Causal initialisation for the mirror boundary (Thévenaz): a weighted sum of all samples.
    let mut c0: Vec<f64> = data[at(0)].iter().map(|&v| f64::from(v)).collect();
    let (mut zn, iz) = (POLE, 1.0 / POLE);
    let mut z2n = POLE.powi(n as i32 - 1);
    for (acc, &v) in c0.iter_mut().zip(&data[at(n - 1)]) {
        *acc += z2n * f64::from(v);
    }
    z2n = z2n * z2n * iz;
    for k in 1..n - 1 {
        let w = zn + z2n;
        for (acc, &v) in c0.iter_mut().zip(&data[at(k)]) {
            *acc += w * f64::from(v);
        }
        zn *= POLE;
        z2n *= iz;
    }
    let norm = 1.0 / (1.0 - zn * zn);
    for (v, acc) in data[at(0)].iter_mut().zip(&c0) {
        *v = (acc * norm) as f32;
    }
    // Causal pass.
    for k in 1..n {
        let (before, rest) = data.split_at_mut(k * len);
        for (v, &p) in rest[..len].iter_mut().zip(&before[(k - 1) * len..]) {
            *v += z * p;
        }
    }
    // Anticausal initialisation and pass.
    let scale = z / (z * z - 1.0);
    let (before, last) = data.split_at_mut((n - 1) * len);
    for (v, &p) in last.iter_mut().zip(&before[(n - 2) * len..]) {
        *v = scale * (z * p + *v);
    }
    for k in (0..n - 1).rev() {
        let (head, tail) = data.split_at_mut((k + 1) * len);
        for (v, &next) in head[k * len..].iter_mut().zip(&tail[..len]) {
            *v = z * (next - *v);
        }
    }
}

/// The four cubic B-spline weights for fractional position `t` in [0, 1).
#[inline]
fn weights(t: f64) -> [f64; 4] {
    let (t2, t3) = (t * t, t * t * t);
    let u = 1.0 - t;
    [
        u * u * u / 6.0,
        (4.0 - 6.0 * t2 + 3.0 * t3) / 6.0,
        (1.0 + 3.0 * t + 3.0 * t2 - 3.0 * t3) / 6.0,
        t3 / 6.0,
    ]
}

/// The taps of every output index of one axis (`in = scale * out + offset`).
pub(crate) fn table(scale: f64, offset: f64, n_out: usize, n_in: usize) -> Taps<4> {
    kernel_table(scale, offset, n_out, n_in, weights)
}

/// The spline with `coefficients` (x, y, z sizes `size`) at continuous index `p`.
pub(crate) fn sample(data: &[f32], size: [usize; 3], p: [f64; 3], outside: f32) -> f32 {
    let taps = [0, 1, 2].map(|k| kernel_taps(p[k], size[k], weights));
    crate::kernel::tensor_sample(data, size, taps, outside)
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    /// The spline interpolates: at the sample positions it gives the samples back.
    #[test]
    fn the_spline_passes_through_the_samples() {
        let v: Vec<f32> = (0..4 * 5 * 6).map(|i| ((i * 7919) % 23) as f32).collect();
        let vol = Volume::from_vec([4, 5, 6], v.clone(), Geometry::default()).unwrap();
        let c = coefficients(&vol);
        for z in 0..4 {
            for y in 0..5 {
                for x in 0..6 {
                    let s = sample(&c, [6, 5, 4], [x as f64, y as f64, z as f64], f32::NAN);
                    let want = v[(z * 5 + y) * 6 + x];
                    assert!((s - want).abs() < 1e-4, "({z},{y},{x}): {s} vs {want}");
                }
            }
        }
        assert!(sample(&c, [6, 5, 4], [-0.6, 0.0, 0.0], -1.0) == -1.0);
    }
}
