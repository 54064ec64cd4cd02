//! Noise simulation for transmission CT: Poisson photon counts for an incident photon number
//! `I0`, Gaussian electronic noise, and the log transform back to line integrals.
//!
//! Each view draws from its own generator seeded from `(seed, view)`, so results are the same
//! for any number of threads.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Error, Result};
use ndarray::{ArrayD, ArrayViewD, Axis};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Normal, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Dose and detector noise.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoiseOptions {
    /// Incident photons per detector pixel per view, `I0` (1e4 is low dose, 1e5-1e6 typical).
    pub photons: f64,
    /// Standard deviation of the electronic noise, in photon counts (0 for none).
    #[serde(default)]
    pub electronic_sigma: f64,
    /// Seed of the random draws.
    #[serde(default)]
    pub seed: u64,
}

impl NoiseOptions {
    /// Poisson noise only, for `photons` incident photons.
    pub fn poisson(photons: f64, seed: u64) -> Self {
        NoiseOptions { photons, electronic_sigma: 0.0, seed }
    }

    fn validate(&self) -> Result<()> {
        if !(self.photons.is_finite() && self.photons > 0.0) {
            return Err(Error::param(
                "photons",
                format!("must be finite and > 0, found {}", self.photons),
            ));
        }
        if !(self.electronic_sigma.is_finite() && self.electronic_sigma >= 0.0) {
            return Err(Error::param(
                "electronic_sigma",
                format!("must be finite and >= 0, found {}", self.electronic_sigma),
            ));
        }
        Ok(())
    }
}

/// Measured counts for line integrals `p` (first axis: views): `Poisson(I0 exp(-p)) + N(0, σ²)`.
pub fn photon_counts(
    line_integrals: ArrayViewD<'_, f32>,
    options: &NoiseOptions,
) -> Result<ArrayD<f32>> {
    options.validate()?;
    if let Some((index, &value)) = line_integrals.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NotFinite { what: "line integrals", value: f64::from(value), index });
    }
    let mut counts = line_integrals.to_owned();
    if counts.ndim() == 0 {
        return Ok(counts);
    }
    let electronic = Normal::new(0.0, options.electronic_sigma.max(f64::MIN_POSITIVE))
        .map_err(|e| Error::param("electronic_sigma", e.to_string()))?;
    counts.axis_iter_mut(Axis(0)).into_par_iter().enumerate().for_each(|(view, mut values)| {
        let mut seeder =
            SplitMix64::new(options.seed ^ (view as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut rng = StdRng::seed_from_u64(seeder.next_u64());
        for v in values.iter_mut() {
            let mean = options.photons * (-f64::from(*v)).exp();
            let mut n = if mean > 0.0 {
                Poisson::new(mean).map(|d| d.sample(&mut rng)).unwrap_or(mean)
            } else {
                0.0
            };
            if options.electronic_sigma > 0.0 {
                n += electronic.sample(&mut rng);
            }
            *v = n as f32;
        }
    });
    Ok(counts)
}

/// Line integrals `-ln(N / I0)` from counts, with counts below `floor` (e.g. 0.5 photons) raised
/// to it so that photon starvation gives a large finite value instead of infinity.
pub fn log_transform(counts: ArrayViewD<'_, f32>, photons: f64, floor: f64) -> Result<ArrayD<f32>> {
    if !(photons.is_finite() && photons > 0.0 && floor.is_finite() && floor > 0.0) {
        return Err(Error::param(
            "photons/floor",
            format!("must be finite and > 0, found {photons} and {floor}"),
        ));
    }
    Ok(counts.mapv(|n| (-(f64::from(n).max(floor) / photons).ln()) as f32))
}

/// Noisy line integrals: [`photon_counts`] followed by [`log_transform`] with a floor of half a
/// photon.
pub fn add_noise(
    line_integrals: ArrayViewD<'_, f32>,
    options: &NoiseOptions,
) -> Result<ArrayD<f32>> {
    let counts = photon_counts(line_integrals, options)?;
    log_transform(counts.view(), options.photons, 0.5)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn counts_have_poisson_mean_and_variance() {
        // 40 000 draws at I0 e^-1 = 3679 photons: mean within 4 standard errors (4 * 0.30),
        // variance within 3% of the mean (its standard error is ~0.7%).
        let p = ArrayD::from_elem(IxDyn(&[200, 200]), 1.0f32);
        let n = photon_counts(p.view(), &NoiseOptions::poisson(1e4, 3)).unwrap();
        let m = n.iter().map(|&v| f64::from(v)).sum::<f64>() / n.len() as f64;
        let var = n.iter().map(|&v| (f64::from(v) - m).powi(2)).sum::<f64>() / (n.len() - 1) as f64;
        let expected = 1e4 * (-1.0f64).exp();
        assert!((m - expected).abs() < 4.0 * (expected / 4e4).sqrt(), "mean {m} vs {expected}");
        assert!((var / expected - 1.0).abs() < 0.03, "variance {var} vs {expected}");
        // Same seed, same draws; another seed, other draws.
        assert_eq!(n, photon_counts(p.view(), &NoiseOptions::poisson(1e4, 3)).unwrap());
        assert_ne!(n, photon_counts(p.view(), &NoiseOptions::poisson(1e4, 4)).unwrap());
    }

    #[test]
    fn the_log_transform_inverts_noise_free_counts_and_floors_starvation() {
        let p = ArrayD::from_shape_vec(IxDyn(&[1, 3]), vec![0.0f32, 1.5, 30.0]).unwrap();
        let counts = p.mapv(|v| (1e5 * (-f64::from(v)).exp()) as f32);
        let back = log_transform(counts.view(), 1e5, 0.5).unwrap();
        assert!((back[[0, 0]] - 0.0).abs() < 1e-6 && (back[[0, 1]] - 1.5).abs() < 1e-5);
        assert!((f64::from(back[[0, 2]]) - (2e5f64).ln()).abs() < 1e-4, "floored at 0.5 photons");
        assert!(photon_counts(p.view(), &NoiseOptions::poisson(0.0, 1)).is_err());
        let nan = ArrayD::from_elem(IxDyn(&[1, 1]), f32::NAN);
        assert!(photon_counts(nan.view(), &NoiseOptions::poisson(1e3, 1)).is_err());
    }
}
