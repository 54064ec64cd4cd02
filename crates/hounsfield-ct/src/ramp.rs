//! Ramp filters for filtered back-projection, applied by FFT with zero padding.
//!
//! The filter is the discrete ramp of Kak & Slaney (eq. 3.61): `h[0] = 1/(4 τ²)`,
//! `h[n] = -1/(π² n² τ²)` for odd `n`, 0 for even `n`, transformed to the frequency domain and
//! multiplied by a window. Building it in the spatial domain (rather than sampling `|ω|`) gets the
//! DC term right and removes the cupping that a sampled `|ω|` leaves, as ASTRA and scikit-image do.

use hounsfield_core::{Error, Result};
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Apodisation window of the ramp filter. Frequencies `f` are relative to the cut-off, which is
/// Nyquist unless [`RampFilter::new`] is given a lower one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RampWindow {
    /// The bare ramp `|ω|` (sharpest, noisiest).
    #[default]
    RamLak,
    /// `sinc(f / 2)`.
    SheppLogan,
    /// `cos(π f / 2)`.
    Cosine,
    /// `0.54 + 0.46 cos(π f)`.
    Hamming,
    /// `(1 + cos(π f)) / 2` (smoothest).
    Hann,
}

impl RampWindow {
    /// All windows, in order of decreasing sharpness.
    pub const ALL: [RampWindow; 5] = [
        RampWindow::RamLak,
        RampWindow::SheppLogan,
        RampWindow::Cosine,
        RampWindow::Hamming,
        RampWindow::Hann,
    ];

    /// Parses `ram-lak`, `shepp-logan`, `cosine`, `hamming`, `hann`.
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name.to_ascii_lowercase().replace('_', "-").as_str() {
            "ram-lak" | "ramlak" | "ramp" => RampWindow::RamLak,
            "shepp-logan" => RampWindow::SheppLogan,
            "cosine" => RampWindow::Cosine,
            "hamming" => RampWindow::Hamming,
            "hann" | "hanning" => RampWindow::Hann,
            other => {
                return Err(Error::param(
                    "filter",
                    format!(
                        "unknown window {other:?} (ram-lak, shepp-logan, cosine, hamming, hann)"
                    ),
                ));
            }
        })
    }

    /// The window's gain at `f` in `[0, 1]` (fraction of the cut-off frequency).
    pub fn gain(self, f: f64) -> f64 {
        use std::f64::consts::PI;
        match self {
            RampWindow::RamLak => 1.0,
            RampWindow::SheppLogan => {
                let x = PI * f / 2.0;
                if x == 0.0 { 1.0 } else { x.sin() / x }
            }
            RampWindow::Cosine => (PI * f / 2.0).cos(),
            RampWindow::Hamming => 0.54 + 0.46 * (PI * f).cos(),
            RampWindow::Hann => 0.5 + 0.5 * (PI * f).cos(),
        }
    }
}

/// A ramp filter for rows of `len` samples `spacing` apart.
pub struct RampFilter {
    len: usize,
    padded: usize,
    response: Vec<f64>,
    forward: Arc<dyn RealToComplex<f64>>,
    inverse: Arc<dyn ComplexToReal<f64>>,
}

impl std::fmt::Debug for RampFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RampFilter").field("len", &self.len).field("padded", &self.padded).finish()
    }
}

/// How a row's samples are spaced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// Equally spaced positions `spacing` mm apart (parallel beams and flat detectors, the
    /// latter scaled to the rotation axis).
    Linear(f64),
    /// Equally spaced fan angles `dgamma` radians apart (arc detectors): the kernel becomes
    /// `(γ / sin γ)² h(γ)` (Kak & Slaney eq. 3.125).
    Angular(f64),
}

impl RampFilter {
    /// A filter for rows of `len` samples; `cutoff` in `(0, 1]` is the highest frequency kept,
    /// as a fraction of Nyquist; `pad` zero-pads to at least twice the row (the default: without
    /// it the convolution wraps around and cups the image).
    pub fn new(
        len: usize,
        sampling: Sampling,
        window: RampWindow,
        cutoff: f64,
        pad: bool,
    ) -> Result<Self> {
        let tau = match sampling {
            Sampling::Linear(t) | Sampling::Angular(t) => t,
        };
        if !(tau.is_finite() && tau > 0.0) {
            return Err(Error::param("spacing", format!("must be finite and > 0, found {tau}")));
        }
        if !(cutoff.is_finite() && cutoff > 0.0 && cutoff <= 1.0) {
            return Err(Error::param("cutoff", format!("must be in (0, 1], found {cutoff}")));
        }
        if len == 0 {
            return Err(Error::Empty("ramp filter row".into()));
        }
        let padded = if pad { (2 * len).next_power_of_two().max(64) } else { len.max(2) };
        let mut kernel = vec![0.0f64; padded];
        for (k, h) in kernel.iter_mut().enumerate() {
            let n = if k <= padded / 2 { k as f64 } else { k as f64 - padded as f64 };
            let ramp = if n == 0.0 {
                1.0 / (4.0 * tau * tau)
            } else if (n as i64) % 2 != 0 {
                -1.0 / (std::f64::consts::PI * n * tau).powi(2)
            } else {
                0.0
            };
            let arc = match sampling {
                Sampling::Angular(dg) if n != 0.0 => (n * dg / (n * dg).sin()).powi(2),
                _ => 1.0,
            };
            // `tau` turns the discrete convolution sum into the integral.
            *h = ramp * arc * tau;
        }
        let mut planner = RealFftPlanner::<f64>::new();
        let forward = planner.plan_fft_forward(padded);
        let inverse = planner.plan_fft_inverse(padded);
        let mut spectrum = forward.make_output_vec();
        forward
            .process(&mut kernel, &mut spectrum)
            .map_err(|e| Error::param("ramp filter", e.to_string()))?;
        let half = (padded / 2) as f64;
        let response = spectrum
            .iter()
            .enumerate()
            .map(|(k, c)| {
                let f = k as f64 / half / cutoff;
                // The kernel is real and even, so its spectrum is real; 1/padded undoes the
                // unnormalised inverse transform.
                if f > 1.0 { 0.0 } else { c.re * window.gain(f) / padded as f64 }
            })
            .collect();
        Ok(RampFilter { len, padded, response, forward, inverse })
    }

    /// Row length the filter was built for.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the row length is zero (never: [`new`](Self::new) refuses it).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Filtered samples kept on each side of the row: the ramp-filtered projection of an object
    /// that fits on the detector is not zero beyond the detector's edges, and back-projecting
    /// those tails removes the error ring at the rim of the field of view.
    pub fn margin(&self) -> usize {
        ((self.padded - self.len) / 2).min(self.len / 2)
    }

    /// Filters `row` (of [`len`](Self::len) samples) in place, dropping the margins.
    pub fn apply(&self, row: &mut [f32], scratch: &mut FilterScratch) -> Result<()> {
        let m = self.margin();
        let mut out = vec![0.0f32; self.len + 2 * m];
        self.apply_into(row, &mut out, scratch)?;
        row.copy_from_slice(&out[m..m + self.len]);
        Ok(())
    }

    /// Filters `input` (of [`len`](Self::len) samples) into `out` (`len + 2 margin` samples:
    /// `out[j]` lies at input position `j - margin`).
    pub fn apply_into(
        &self,
        input: &[f32],
        out: &mut [f32],
        scratch: &mut FilterScratch,
    ) -> Result<()> {
        let m = self.margin();
        if input.len() != self.len || out.len() != self.len + 2 * m {
            return Err(Error::param(
                "row",
                format!(
                    "filter built for {} samples in and {} out, given {} and {}",
                    self.len,
                    self.len + 2 * m,
                    input.len(),
                    out.len()
                ),
            ));
        }
        let FilterScratch { time, spectrum } = scratch;
        time.clear();
        time.extend(input.iter().map(|&v| f64::from(v)));
        time.resize(self.padded, 0.0);
        spectrum.clear();
        spectrum.resize(self.padded / 2 + 1, Complex::new(0.0, 0.0));
        self.forward.process(time, spectrum).map_err(|e| Error::param("fft", e.to_string()))?;
        for (c, &g) in spectrum.iter_mut().zip(&self.response) {
            *c *= g;
        }

        // The inverse transform wants real DC and Nyquist bins; the response keeps them real.
        spectrum[0].im = 0.0;
        if let Some(last) = spectrum.last_mut() {
            last.im = 0.0;
        }
        self.inverse.process(spectrum, time).map_err(|e| Error::param("fft", e.to_string()))?;
        // Negative positions (the left margin) wrapped around to the end of the buffer.
        let p = self.padded;
        for (j, o) in out.iter_mut().enumerate() {
            *o = time[(j + p - m) % p] as f32;
        }
        Ok(())
    }
}

/// Reusable buffers for [`RampFilter::apply`] (one per thread).
#[derive(Debug, Default)]
pub struct FilterScratch {
    time: Vec<f64>,
    spectrum: Vec<Complex<f64>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;

    #[test]
    fn the_ramp_removes_the_mean_and_keeps_high_frequencies() {
        // The response against the continuous ramp |f| (cycles per mm) within 2%.
        let f = RampFilter::new(64, Sampling::Linear(1.0), RampWindow::RamLak, 1.0, true).unwrap();
        let n = f.response.len() - 1;
        // Away from DC the discrete ramp follows |f|; at DC it keeps a small positive gain
        // (1/(4 padded)) instead of 0, which is what removes the cupping.
        for k in [n / 8, n / 4, n / 2] {
            let expected = k as f64 / f.padded as f64;
            let got = f.response[k] * f.padded as f64;
            assert!((got - expected).abs() < 0.02 * expected, "k {k}: {got} vs {expected}");
        }
        assert!(f.response[0] > 0.0 && f.response[0] * (f.padded as f64) < 0.01);
    }

    #[test]
    fn windows_fall_from_one_and_the_cutoff_zeroes_high_frequencies() {
        for w in RampWindow::ALL {
            assert!((w.gain(0.0) - 1.0).abs() < 1e-12, "{w:?}");
            if w != RampWindow::RamLak {
                assert!(w.gain(0.9) < w.gain(0.5) && w.gain(0.5) < 1.0, "{w:?}");
            }
        }
        let f = RampFilter::new(64, Sampling::Linear(1.0), RampWindow::Hann, 0.5, true).unwrap();
        let n = f.response.len() - 1;
        assert!(f.response[n * 3 / 4] == 0.0 && f.response[n / 4] > 0.0);
        assert!(RampWindow::from_name("shepp_logan").unwrap() == RampWindow::SheppLogan);
        assert!(RampWindow::from_name("box").is_err());
        assert!(RampFilter::new(8, Sampling::Linear(0.0), RampWindow::Hann, 1.0, true).is_err());
        assert!(RampFilter::new(8, Sampling::Linear(1.0), RampWindow::Hann, 1.5, true).is_err());
    }
}
