//! Image and segmentation metrics of hounsfield-core, defined as scikit-image and MONAI define
//! them. Both arrays are read as float64 (masks: non-zero is foreground).

use hounsfield_core::metrics::{self, SsimOptions};
use hounsfield_core::{Geometry, Volume};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{dyn_volume, spaced};
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(intensity_metric, m)?)?;
    m.add_function(wrap_pyfunction!(ssim, m)?)?;
    m.add_function(wrap_pyfunction!(overlap_metric, m)?)?;
    m.add_function(wrap_pyfunction!(hausdorff, m)?)?;
    Ok(())
}

fn pair(
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
    geometry: &Geometry,
) -> PyResult<(Volume<f64>, Volume<f64>)> {
    Ok((dyn_volume(a, geometry)?.to_f64(), dyn_volume(b, geometry)?.to_f64()))
}

/// "mse", "rmse", "mae" or "psnr" (the last with `data_range`).
#[pyfunction]
#[pyo3(signature = (name, reference, test, data_range = None))]
fn intensity_metric(
    py: Python<'_>,
    name: &str,
    reference: &Bound<'_, PyAny>,
    test: &Bound<'_, PyAny>,
    data_range: Option<f64>,
) -> PyResult<f64> {
    let (a, b) = pair(reference, test, &spaced([1.0; 3])?)?;
    let run = || match name {
        "mse" => metrics::mse(&a, &b),
        "rmse" => metrics::rmse(&a, &b),
        "mae" => metrics::mae(&a, &b),
        _ => metrics::psnr(&a, &b, data_range.unwrap_or(f64::NAN)),
    };
    if !matches!(name, "mse" | "rmse" | "mae" | "psnr") {
        return Err(PyValueError::new_err(format!("unknown metric {name:?}")));
    }
    py.detach(run).map_err(to_py)
}

/// Mean SSIM with a Gaussian window of `sigma` voxels (skimage's `gaussian_weights=True`).
#[pyfunction]
#[pyo3(signature = (reference, test, data_range, sigma = 1.5))]
fn ssim(
    py: Python<'_>,
    reference: &Bound<'_, PyAny>,
    test: &Bound<'_, PyAny>,
    data_range: f64,
    sigma: f64,
) -> PyResult<f64> {
    let (a, b) = pair(reference, test, &spaced([1.0; 3])?)?;
    let options = SsimOptions::new(data_range).with_sigma(sigma);
    py.detach(|| metrics::ssim(&a, &b, &options)).map_err(to_py)
}

/// "dice" or "jaccard" of the non-zero voxels.
#[pyfunction]
fn overlap_metric(
    py: Python<'_>,
    name: &str,
    a: &Bound<'_, PyAny>,
    b: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let (a, b) = pair(a, b, &spaced([1.0; 3])?)?;
    match name {
        "dice" => py.detach(|| metrics::dice(&a, &b)),
        "jaccard" => py.detach(|| metrics::jaccard(&a, &b)),
        other => return Err(PyValueError::new_err(format!("unknown metric {other:?}"))),
    }
    .map_err(to_py)
}

/// The `percentile` Hausdorff distance in mm between two masks' surfaces (95: HD95).
#[pyfunction]
#[pyo3(signature = (reference, test, spacing, percentile = 95.0))]
fn hausdorff(
    py: Python<'_>,
    reference: &Bound<'_, PyAny>,
    test: &Bound<'_, PyAny>,
    spacing: [f64; 3],
    percentile: f64,
) -> PyResult<f64> {
    let (a, b) = pair(reference, test, &spaced(spacing)?)?;
    py.detach(|| metrics::hausdorff_percentile(&a, &b, percentile)).map_err(to_py)
}
