//! Inputs shared by the criterion benches and the peer scripts in `benches/peers`, generated the
//! same way in Rust and Python so both time the same work.

use hounsfield_core::{Geometry, Volume};

/// The benchmark test pattern: a smooth field plus a deterministic high-frequency term, and the
/// same field perturbed, so SSIM lands well inside (0, 1). `peers/inputs.py` generates it too.
pub fn ssim_pair(n: usize) -> (Volume<f32>, Volume<f32>) {
    let f = |z: usize, y: usize, x: usize, phase: f64| {
        let (zf, yf, xf) = (z as f64, y as f64, x as f64);
        let smooth = (0.11 * xf).sin() * (0.07 * yf).cos() + 0.5 * (0.05 * zf + 0.03 * xf).sin();
        let fine = ((x * 7 + y * 13 + z * 29) % 17) as f64 / 17.0 - 0.5;
        (smooth + phase * fine) as f32
    };
    let geometry = Geometry::default();
    let a = Volume::from_vec([n, n, n], grid(n, |z, y, x| f(z, y, x, 0.1)), geometry.clone());
    let b = Volume::from_vec([n, n, n], grid(n, |z, y, x| f(z, y, x, 0.4)), geometry);
    match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        _ => unreachable!("a non-empty cube with a default geometry is always a valid volume"),
    }
}

fn grid(n: usize, f: impl Fn(usize, usize, usize) -> f32) -> Vec<f32> {
    let mut v = Vec::with_capacity(n * n * n);
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                v.push(f(z, y, x));
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use hounsfield_core::metrics::{SsimOptions, ssim};

    /// The bench input is the one `peers/inputs.py` builds: scikit-image's SSIM of it, printed by
    /// `OMP_NUM_THREADS=1 target/peers/bin/python benches/peers/ssim_skimage.py`, is reproduced
    /// to 1e-6 relative, so both sides time the same computation.
    #[test]
    fn bench_input_matches_the_peer_script() {
        let (a, b) = super::ssim_pair(128);
        let s = ssim(&a, &b, &SsimOptions::new(4.0)).expect("valid input");
        let skimage = 0.834_909_761_661_689_7;
        assert!((s - skimage).abs() / skimage < 1e-6, "{s} vs scikit-image {skimage}");
    }
}
