//! Lanczos windowed-sinc interpolation (a = 3): six taps per axis, sinc(x) sinc(x / 3) for
//! |x| < 3, normalised to sum 1 (so constants stay constant), mirror boundary as the B-spline.
//! Sharper than linear or B-spline on band-limited data; it rings at edges.

use std::f64::consts::PI;

use crate::kernel::{Taps, kernel_taps};

const A: isize = 3;

fn lanczos(x: f64) -> f64 {
    if x.abs() < 1e-12 {
        1.0
    } else if x.abs() >= A as f64 {
        0.0
    } else {
        let px = PI * x;
        A as f64 * px.sin() * (px / A as f64).sin() / (px * px)
    }
}

/// The six weights for fraction `t` of samples floor(p) - 2 ..= floor(p) + 3, normalised.
fn weights(t: f64) -> [f64; 6] {
    let w: [f64; 6] = std::array::from_fn(|k| lanczos(t + (A - 1) as f64 - k as f64));
    let sum: f64 = w.iter().sum();
    w.map(|v| v / sum)
}

/// Snaps to a centre within 1e-6 voxel: there the kernel is a single 1.
fn snap(p: f64) -> f64 {
    if (p - p.round()).abs() < 1e-6 { p.round() } else { p }
}

/// The six taps at continuous index `p` of an axis of `n` samples.
fn taps(p: f64, n: usize) -> Option<[(usize, f32); 6]> {
    kernel_taps(snap(p), n, weights)
}

/// The taps of every output index of one axis (`in = scale * out + offset`).
pub(crate) fn table(scale: f64, offset: f64, n_out: usize, n_in: usize) -> Taps<6> {
    (0..n_out).map(|i| taps(scale * i as f64 + offset, n_in)).collect()
}

/// The interpolated value of `data` (x, y, z sizes `size`) at continuous index `p`.
pub(crate) fn sample(data: &[f32], size: [usize; 3], p: [f64; 3], outside: f32) -> f32 {
    crate::kernel::tensor_sample(data, size, [0, 1, 2].map(|k| taps(p[k], size[k])), outside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_interpolates_and_sums_to_one() {
        let t = taps(4.0, 10).unwrap();
        assert_eq!(t.iter().map(|&(i, w)| (i, w)).find(|&(_, w)| w == 1.0), Some((4, 1.0)));
        for p in [0.3, 2.71, 8.9] {
            let s: f32 = taps(p, 10).unwrap().iter().map(|&(_, w)| w).sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert!(taps(-0.6, 10).is_none());
    }
}
