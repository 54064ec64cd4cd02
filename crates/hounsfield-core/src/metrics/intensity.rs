//! Voxel-wise intensity differences.

use super::check_pair;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::volume::Volume;

fn mean_of<A: Element, B: Element>(
    a: &Volume<A>,
    b: &Volume<B>,
    f: impl Fn(f64) -> f64,
) -> Result<f64> {
    check_pair(a, b)?;
    let sum: f64 =
        a.as_slice().iter().zip(b.as_slice()).map(|(x, y)| f(x.to_f64() - y.to_f64())).sum();
    Ok(sum / a.len() as f64)
}

/// Mean squared error.
pub fn mse<A: Element, B: Element>(reference: &Volume<A>, test: &Volume<B>) -> Result<f64> {
    mean_of(reference, test, |d| d * d)
}

/// Root mean squared error.
pub fn rmse<A: Element, B: Element>(reference: &Volume<A>, test: &Volume<B>) -> Result<f64> {
    mse(reference, test).map(f64::sqrt)
}

/// Mean absolute error.
pub fn mae<A: Element, B: Element>(reference: &Volume<A>, test: &Volume<B>) -> Result<f64> {
    mean_of(reference, test, f64::abs)
}

/// Peak signal-to-noise ratio in dB, `10 log10(data_range^2 / MSE)`, as scikit-image's
/// `peak_signal_noise_ratio`. `data_range` is the span of possible values (e.g. 1.0 for images in
/// [0, 1], 4095 for 12-bit CT); identical volumes give `+inf`.
pub fn psnr<A: Element, B: Element>(
    reference: &Volume<A>,
    test: &Volume<B>,
    data_range: f64,
) -> Result<f64> {
    if !data_range.is_finite() || data_range <= 0.0 {
        return Err(Error::param(
            "data_range",
            format!("must be finite and > 0, found {data_range}"),
        ));
    }
    let e = mse(reference, test)?;
    Ok(10.0 * (data_range * data_range / e).log10())
}
