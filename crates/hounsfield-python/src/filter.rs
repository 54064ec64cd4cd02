//! Filters of hounsfield-filter over numpy arrays. Sizes are in mm, converted to voxels with the
//! array's spacing, as in the Rust API; boundaries are named as scipy.ndimage names its modes.

use hounsfield_core::{DynVolume, Volume, with_dyn_volume};
use hounsfield_filter::{
    Boundary, Connectivity, Element3, GaussianOptions, Interpolation, ResampleOptions, derivative,
    label, morphology, rank, resample, threshold,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{
    GeometryArgs, dyn_to_numpy, dyn_volume, f32_volume, geometry, geometry_args, spaced, to_numpy,
};
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gaussian, m)?)?;
    m.add_function(wrap_pyfunction!(median, m)?)?;
    m.add_function(wrap_pyfunction!(box_mean, m)?)?;
    m.add_function(wrap_pyfunction!(gradient_magnitude, m)?)?;
    m.add_function(wrap_pyfunction!(binary_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(otsu_threshold, m)?)?;
    m.add_function(wrap_pyfunction!(morphology_op, m)?)?;
    m.add_function(wrap_pyfunction!(fill_holes, m)?)?;
    m.add_function(wrap_pyfunction!(label_components, m)?)?;
    m.add_function(wrap_pyfunction!(resample_to_spacing, m)?)?;
    m.add_function(wrap_pyfunction!(gaussian_reach, m)?)?;
    Ok(())
}

/// scipy.ndimage's mode names; `cval` is the constant mode's value.
pub(crate) fn boundary(mode: &str, cval: f64) -> PyResult<Boundary> {
    Ok(match mode {
        "reflect" => Boundary::Reflect,
        "mirror" => Boundary::Mirror,
        "nearest" => Boundary::Nearest,
        "wrap" => Boundary::Wrap,
        "constant" => Boundary::Constant(cval),
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown mode {other:?} (expected reflect, mirror, nearest, wrap or constant)"
            )));
        }
    })
}

fn element(name: &str) -> PyResult<Element3> {
    Ok(match name {
        "ball" => Element3::Ball,
        "box" => Element3::Box,
        "cross" => Element3::Cross,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown structuring element {other:?} (expected ball, box or cross)"
            )));
        }
    })
}

pub(crate) fn connectivity(n: u32) -> PyResult<Connectivity> {
    Ok(match n {
        6 => Connectivity::Six,
        18 => Connectivity::Eighteen,
        26 => Connectivity::TwentySix,
        other => {
            return Err(PyValueError::new_err(format!(
                "connectivity must be 6, 18 or 26, got {other}"
            )));
        }
    })
}

/// Gaussian smoothing of a float32 array (scipy's `gaussian_filter` with sigma in mm).
#[pyfunction]
#[pyo3(signature = (array, spacing, sigma_mm, truncate = 4.0, mode = "reflect", cval = 0.0))]
fn gaussian<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    spacing: [f64; 3],
    sigma_mm: [f64; 3],
    truncate: f64,
    mode: &str,
    cval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = f32_volume(array, &spaced(spacing)?)?;
    let options = GaussianOptions::new(0.0)
        .with_sigma_xyz(sigma_mm)
        .with_truncate(truncate)
        .with_boundary(boundary(mode, cval)?);
    let out = py.detach(|| hounsfield_filter::gaussian::gaussian(&volume, &options));
    Ok(to_numpy(py, out.map_err(to_py)?))
}

/// Median over the box of `radius_mm` (x, y, z), any element type.
#[pyfunction]
#[pyo3(signature = (array, spacing, radius_mm, mode = "reflect", cval = 0.0))]
fn median<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    spacing: [f64; 3],
    radius_mm: [f64; 3],
    mode: &str,
    cval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = dyn_volume(array, &spaced(spacing)?)?;
    let boundary = boundary(mode, cval)?;
    let out: PyResult<DynVolume> = py.detach(|| {
        with_dyn_volume!(&volume, v => rank::median(v, radius_mm, boundary).map(DynVolume::from))
            .map_err(to_py)
    });
    Ok(dyn_to_numpy(py, out?))
}

/// Mean over the box of `radius` voxels (x, y, z) of a float32 array (scipy's
/// `uniform_filter(size = 2 r + 1)`).
#[pyfunction]
#[pyo3(signature = (array, radius, mode = "reflect", cval = 0.0))]
fn box_mean<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    radius: [usize; 3],
    mode: &str,
    cval: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = f32_volume(array, &spaced([1.0; 3])?)?;
    let boundary = boundary(mode, cval)?;
    let out = py.detach(|| derivative::box_mean(&volume, radius, boundary));
    Ok(to_numpy(py, out.map_err(to_py)?))
}

/// Gradient magnitude in value units per mm, after an optional Gaussian of `sigma_mm`.
#[pyfunction]
#[pyo3(signature = (array, spacing, sigma_mm = None))]
fn gradient_magnitude<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    spacing: [f64; 3],
    sigma_mm: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = f32_volume(array, &spaced(spacing)?)?;
    let out = py.detach(|| derivative::gradient_magnitude(&volume, sigma_mm));
    Ok(to_numpy(py, out.map_err(to_py)?))
}

/// 1 where `lo <= value <= hi`, else 0 (uint8).
#[pyfunction]
fn binary_threshold<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    lo: f64,
    hi: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = dyn_volume(array, &spaced([1.0; 3])?)?;
    let out = py.detach(|| with_dyn_volume!(&volume, v => threshold::binary_threshold(v, lo, hi)));
    Ok(to_numpy(py, out))
}

/// Otsu's threshold over a histogram of `bins` bins.
#[pyfunction]
#[pyo3(signature = (array, bins = 256))]
fn otsu_threshold(py: Python<'_>, array: &Bound<'_, PyAny>, bins: usize) -> PyResult<f64> {
    let volume = dyn_volume(array, &spaced([1.0; 3])?)?;
    py.detach(|| with_dyn_volume!(&volume, v => threshold::otsu_threshold(v, bins))).map_err(to_py)
}

/// Binary dilation, erosion, opening or closing of the non-zero voxels by an element of
/// `radius_mm`; uint8 out.
#[pyfunction]
fn morphology_op<'py>(
    py: Python<'py>,
    op: &str,
    array: &Bound<'py, PyAny>,
    spacing: [f64; 3],
    element_name: &str,
    radius_mm: f64,
) -> PyResult<Bound<'py, PyAny>> {
    let volume = dyn_volume(array, &spaced(spacing)?)?;
    let element = element(element_name)?;
    let run = |v: &DynVolume| -> hounsfield_core::Result<Volume<u8>> {
        with_dyn_volume!(v, v => match op {
            "dilate" => morphology::dilate(v, element, radius_mm),
            "erode" => morphology::erode(v, element, radius_mm),
            "open" => morphology::open(v, element, radius_mm),
            _ => morphology::close(v, element, radius_mm),
        })
    };
    if !matches!(op, "dilate" | "erode" | "open" | "close") {
        return Err(PyValueError::new_err(format!("unknown morphology operation {op:?}")));
    }
    let out = py.detach(|| run(&volume)).map_err(to_py)?;
    Ok(to_numpy(py, out))
}

/// The mask with its enclosed holes (background not connected to the border) filled; uint8.
#[pyfunction]
fn fill_holes<'py>(py: Python<'py>, array: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let volume = dyn_volume(array, &spaced([1.0; 3])?)?;
    let out = py.detach(|| with_dyn_volume!(&volume, v => morphology::fill_holes(v)));
    Ok(to_numpy(py, out.map_err(to_py)?))
}

/// Connected components of the non-zero voxels: uint32 labels numbered in voxel (C) order,
/// and their count.
#[pyfunction]
#[pyo3(signature = (array, connectivity_neighbours = 6))]
fn label_components<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    connectivity_neighbours: u32,
) -> PyResult<(Bound<'py, PyAny>, u32)> {
    let volume = dyn_volume(array, &spaced([1.0; 3])?)?;
    let connectivity = connectivity(connectivity_neighbours)?;
    let labels = py
        .detach(|| with_dyn_volume!(&volume, v => label::label(v, connectivity)))
        .map_err(to_py)?;
    Ok((to_numpy(py, labels.volume), labels.count))
}

/// Resamples a volume to `spacing` (mm, x y z) over the same extent, with Gaussian
/// antialiasing when the spacing grows; float32 out with its new geometry.
#[pyfunction]
#[pyo3(signature = (array, geometry_parts, spacing, interpolation = "linear", antialias = true))]
fn resample_to_spacing<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    geometry_parts: GeometryArgs,
    spacing: [f64; 3],
    interpolation: &str,
    antialias: bool,
) -> PyResult<(Bound<'py, PyAny>, GeometryArgs)> {
    let volume = dyn_volume(array, &geometry(geometry_parts)?)?;
    let interpolation = match interpolation {
        "nearest" => Interpolation::Nearest,
        "linear" => Interpolation::Linear,
        "bspline3" => Interpolation::BSpline3,
        "lanczos3" => Interpolation::Lanczos3,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown interpolation {other:?} (expected nearest, linear, bspline3, lanczos3)"
            )));
        }
    };
    let options = ResampleOptions { interpolation, antialias, ..Default::default() };
    let out = py
        .detach(
            || with_dyn_volume!(&volume, v => resample::resample_to_spacing(v, spacing, &options)),
        )
        .map_err(to_py)?;
    let g = geometry_args(out.geometry());
    Ok((to_numpy(py, out), g))
}

/// How far (voxels, z y x) a Gaussian of `sigma_mm` reaches: the halo a chunk needs for its
/// result to equal the whole volume's.
#[pyfunction]
#[pyo3(signature = (spacing, sigma_mm, truncate = 4.0))]
fn gaussian_reach(spacing: [f64; 3], sigma_mm: [f64; 3], truncate: f64) -> PyResult<[usize; 3]> {
    let options = GaussianOptions::new(0.0).with_sigma_xyz(sigma_mm).with_truncate(truncate);
    hounsfield_filter::chunked::gaussian_reach(&options, spacing).map_err(to_py)
}
