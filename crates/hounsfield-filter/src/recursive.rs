//! Recursive (IIR) Gaussian smoothing: Deriche's fourth-order filter (INRIA RR-1893, 1993), a
//! causal and an anticausal recursion per axis whose cost does not depend on sigma. Normalised
//! to unit gain, its impulse response is within 0.05% of the Gaussian's peak for sigma 1 to 6
//! voxels (checked against the sampled kernel). Beyond the edges the edge value repeats (the
//! steady state of a constant signal, ITK's zero-flux choice). Each recursion runs on whole
//! rows or planes at once, so it vectorises.
//!
//! (Young and van Vliet's third-order filter of 1995 was tried first: 3-9% off the Gaussian at
//! sigma 1-3, not good enough.)

use hounsfield_core::{Error, Result, Volume};
use rayon::prelude::*;

/// The recursions for one sigma (voxels), already divided by the total gain.
#[derive(Clone, Copy, Debug)]
struct Deriche {
    /// Causal input weights n00..n33.
    n: [f32; 4],
    /// Anticausal input weights (for x[k+1]..x[k+4]).
    m: [f32; 4],
    /// Feedback weights d11..d44 (both directions).
    d: [f32; 4],
    /// Steady-state outputs per unit constant input: causal, anticausal.
    steady: [f32; 2],
}

impl Deriche {
    fn new(sigma: f64) -> Result<Self> {
        if !(sigma.is_finite() && sigma >= 0.5) {
            return Err(Error::param(
                "sigma",
                format!("the recursive Gaussian needs sigma >= 0.5 voxel, got {sigma}"),
            ));
        }
        let (a0, a1, b0, b1) = (1.680, 3.735, 1.783, 1.723);
        let (c0, c1, w0, w1) = (-0.6803, -0.2598, 0.6318, 1.997);
        let s = sigma;
        let e = |v: f64| v.exp();
        let (cw0, sw0, cw1, sw1) = ((w0 / s).cos(), (w0 / s).sin(), (w1 / s).cos(), (w1 / s).sin());
        let n00 = a0 + c0;
        let n11 = e(-b1 / s) * (c1 * sw1 - (c0 + 2.0 * a0) * cw1)
            + e(-b0 / s) * (a1 * sw0 - (2.0 * c0 + a0) * cw0);
        let n22 =
            2.0 * e(-(b0 + b1) / s) * ((a0 + c0) * cw1 * cw0 - a1 * cw1 * sw0 - c1 * cw0 * sw1)
                + c0 * e(-2.0 * b0 / s)
                + a0 * e(-2.0 * b1 / s);
        let n33 = e(-(b1 + 2.0 * b0) / s) * (c1 * sw1 - c0 * cw1)
            + e(-(b0 + 2.0 * b1) / s) * (a1 * sw0 - a0 * cw0);
        let d44 = e(-2.0 * (b0 + b1) / s);
        let d33 = -2.0 * cw0 * e(-(b0 + 2.0 * b1) / s) - 2.0 * cw1 * e(-(b1 + 2.0 * b0) / s);
        let d22 = 4.0 * cw1 * cw0 * e(-(b0 + b1) / s) + e(-2.0 * b1 / s) + e(-2.0 * b0 / s);
        let d11 = -2.0 * e(-b1 / s) * cw1 - 2.0 * e(-b0 / s) * cw0;
        let n = [n00, n11, n22, n33];
        let d = [d11, d22, d33, d44];
        let m = [n11 - d11 * n00, n22 - d22 * n00, n33 - d33 * n00, -d44 * n00];
        let feedback = 1.0 + d.iter().sum::<f64>();
        let (causal, anticausal) =
            (n.iter().sum::<f64>() / feedback, m.iter().sum::<f64>() / feedback);
        let gain = causal + anticausal;
        let f = |v: [f64; 4], scale: f64| v.map(|x| (x * scale) as f32);
        Ok(Deriche {
            n: f(n, 1.0 / gain),
            m: f(m, 1.0 / gain),
            d: f(d, 1.0),
            steady: [(causal / gain) as f32, (anticausal / gain) as f32],
        })
    }
}

/// Smooths `volume` with the recursive Gaussian of `sigma_mm` per axis (x, y, z; 0 leaves an
/// axis alone; otherwise at least half a voxel).
pub fn recursive_gaussian(volume: &Volume<f32>, sigma_mm: [f64; 3]) -> Result<Volume<f32>> {
    let spacing = volume.geometry().spacing();
    let filters = (0..3)
        .map(|k| {
            if sigma_mm[k] == 0.0 {
                Ok(None)
            } else {
                Deriche::new(sigma_mm[k] / spacing[k]).map(Some)
            }
        })
        .collect::<Result<Vec<_>>>()?;
    let [nz, ny, nx] = volume.shape();
    let plane = ny * nx;
    let mut data = volume.as_slice().to_vec();
    data.par_chunks_mut(plane).for_each(|p| {
        if let Some(f) = filters[0] {
            let mut causal = vec![0f32; nx];
            for row in p.chunks_mut(nx) {
                filter_row(row, &mut causal, f);
            }
        }
        if let Some(f) = filters[1] {
            filter(p, ny, nx, f);
        }
    });
    if let Some(f) = filters[2] {
        crate::bspline::along_z(&mut data, nz, plane, |lines, n, len| filter(lines, n, len, f));
    }
    Volume::from_vec([nz, ny, nx], data, volume.geometry().clone())
}

/// [`filter`] for one contiguous row (one value per sample), with scalar state; `causal` is
/// scratch of the row's length.
fn filter_row(row: &mut [f32], causal: &mut [f32], f: Deriche) {
    let Deriche { n: a, m, d, steady } = f;
    let first = row[0];
    let (mut x1, mut x2, mut x3) = (first, first, first);
    let s = first * steady[0];
    let (mut y1, mut y2, mut y3, mut y4) = (s, s, s, s);
    for (out, &input) in causal.iter_mut().zip(row.iter()) {
        let v = a[0] * input + a[1] * x1 + a[2] * x2 + a[3] * x3
            - d[0] * y1
            - d[1] * y2
            - d[2] * y3
            - d[3] * y4;
        *out = v;
        (x3, x2, x1) = (x2, x1, input);
        (y4, y3, y2, y1) = (y3, y2, y1, v);
    }
    let last = row[row.len() - 1];
    let (mut x1, mut x2, mut x3, mut x4) = (last, last, last, last);
    let s = last * steady[1];
    let (mut y1, mut y2, mut y3, mut y4) = (s, s, s, s);
    for (value, &before) in row.iter_mut().zip(causal.iter()).rev() {
        let v = m[0] * x1 + m[1] * x2 + m[2] * x3 + m[3] * x4
            - d[0] * y1
            - d[1] * y2
            - d[2] * y3
            - d[3] * y4;
        (x4, x3, x2, x1) = (x3, x2, x1, *value);
        (y4, y3, y2, y1) = (y3, y2, y1, v);
        *value = before + v;
    }
}

/// Filters `n` samples, each a vector of `len` values: causal plus anticausal recursion, each
/// started in the steady state of the repeated edge sample. Every step is a weighted sum of
/// whole rows (inputs and earlier outputs), so the inner loops vectorise.
fn filter(data: &mut [f32], n: usize, len: usize, f: Deriche) {
    let Deriche { n: a, m, d, steady } = f;
    let at = |k: usize| k * len..(k + 1) * len;
    let edge_in = [data[at(0)].to_vec(), data[at(n - 1)].to_vec()];
    let edge_out: [Vec<f32>; 2] = [
        edge_in[0].iter().map(|v| v * steady[0]).collect(),
        edge_in[1].iter().map(|v| v * steady[1]).collect(),
    ];
    let mut causal = vec![0f32; n * len];
    for k in 0..n {
        // Earlier inputs and outputs, the edge's steady state before the start.
        let x = |j: usize| if k >= j { &data[at(k - j)] } else { &edge_in[0][..] };
        let (x0, x1, x2, x3) = (x(0), x(1), x(2), x(3));
        let (done, rest) = causal.split_at_mut(k * len);
        let y = |j: usize| if k >= j { &done[at(k - j)] } else { &edge_out[0][..] };
        let (y1, y2, y3, y4) = (y(1), y(2), y(3), y(4));
        for (i, out) in rest[..len].iter_mut().enumerate() {
            *out = a[0] * x0[i] + a[1] * x1[i] + a[2] * x2[i] + a[3] * x3[i]
                - d[0] * y1[i]
                - d[1] * y2[i]
                - d[2] * y3[i]
                - d[3] * y4[i];
        }
    }
    let mut anti = vec![0f32; n * len];
    for k in (0..n).rev() {
        let x = |j: usize| if k + j < n { &data[at(k + j)] } else { &edge_in[1][..] };
        let (x1, x2, x3, x4) = (x(1), x(2), x(3), x(4));
        let (head, later) = anti.split_at_mut((k + 1) * len);
        let y = |j: usize| if k + j < n { &later[at(k + j - k - 1)] } else { &edge_out[1][..] };
        let (y1, y2, y3, y4) = (y(1), y(2), y(3), y(4));
        for (i, out) in head[k * len..].iter_mut().enumerate() {
            *out = m[0] * x1[i] + m[1] * x2[i] + m[2] * x3[i] + m[3] * x4[i]
                - d[0] * y1[i]
                - d[1] * y2[i]
                - d[2] * y3[i]
                - d[3] * y4[i];
        }
    }
    for ((v, c), a) in data.iter_mut().zip(&causal).zip(&anti) {
        *v = c + a;
    }
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;
    use crate::gaussian::gaussian_kernel;

    /// The impulse response is the Gaussian to within 0.1% of its peak, and sums to 1.
    #[test]
    fn the_impulse_response_is_the_gaussian() {
        for sigma in [1.0, 2.0, 3.0, 6.0] {
            let n = 121;
            let mut v = vec![0f32; n];
            v[60] = 1.0;
            let vol = Volume::from_vec([1, 1, n], v, Geometry::default()).unwrap();
            let out = recursive_gaussian(&vol, [sigma, 0.0, 0.0]).unwrap();
            let k = gaussian_kernel(sigma, 8.0).unwrap();
            let r = k.len() / 2;
            let peak = k[r];
            for (i, &o) in out.as_slice().iter().enumerate() {
                let d = i as isize - 60;
                let want = if d.unsigned_abs() <= r { k[(d + r as isize) as usize] } else { 0.0 };
                assert!(
                    (f64::from(o) - want).abs() < 1e-3 * peak,
                    "sigma {sigma} at {d}: {o} vs {want}"
                );
            }
            let sum: f32 = out.as_slice().iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "sigma {sigma}: sum {sum}");
        }
        assert!(Deriche::new(0.2).is_err());
    }

    /// Along y and z (whole rows and planes at once) the response is the separable kernel.
    #[test]
    fn the_3d_impulse_response_is_separable() {
        let n = 41;
        let mut v = vec![0f32; n * n * n];
        v[(20 * n + 20) * n + 20] = 1.0;
        let vol = Volume::from_vec([n, n, n], v, Geometry::default()).unwrap();
        let sigma = [1.5, 2.0, 3.0];
        let out = recursive_gaussian(&vol, sigma).unwrap();
        let k = sigma.map(|s| gaussian_kernel(s, 6.0).unwrap());
        let at = |k: &[f64], d: isize| {
            let r = (k.len() / 2) as isize;
            if d.abs() <= r { k[(d + r) as usize] } else { 0.0 }
        };
        let peak = k[0][k[0].len() / 2] * k[1][k[1].len() / 2] * k[2][k[2].len() / 2];
        for ((z, y, x), &o) in out.data().indexed_iter() {
            let (dz, dy, dx) = (z as isize - 20, y as isize - 20, x as isize - 20);
            let want = at(&k[2], dz) * at(&k[1], dy) * at(&k[0], dx);
            assert!((f64::from(o) - want).abs() < 2e-3 * peak, "({z},{y},{x}): {o} vs {want}");
        }
    }

    #[test]
    fn constant_volumes_stay_constant_on_every_axis() {
        let flat = Volume::filled([9, 7, 8], -3.5f32, Geometry::default()).unwrap();
        let out = recursive_gaussian(&flat, [2.0, 1.0, 3.0]).unwrap();
        assert!(
            out.as_slice().iter().all(|&v| (v + 3.5).abs() < 1e-4),
            "{:?}",
            &out.as_slice()[..4]
        );
    }
}
