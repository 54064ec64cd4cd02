//! CT of hounsfield-ct: scan geometries (as the JSON the Rust types serialise to), the Joseph
//! projector and its exact adjoint, FBP/FDK and the iterative methods.
//!
//! Layouts as in the Rust crate: projections `[views, cols]` (2D) or `[views, rows, cols]` (3D);
//! images `[ny, nx]` or `[nz, ny, nx]`; lengths in mm, angles in radians.

use hounsfield_core::LinearOperator;
use hounsfield_ct::iterative::{self, IterOptions, TvOptions, no_monitor};
use hounsfield_ct::{Detector, FbpOptions, ImageGrid, Projector, RampWindow, ScanGeometry};
use ndarray::IxDyn;
use numpy::{IntoPyArray, PyArrayDyn};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::expect_array;
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(ct_geometry, m)?)?;
    m.add_function(wrap_pyfunction!(ct_geometry_from_astra, m)?)?;
    m.add_function(wrap_pyfunction!(ct_grid, m)?)?;
    m.add_function(wrap_pyfunction!(ct_shapes, m)?)?;
    m.add_function(wrap_pyfunction!(ct_project, m)?)?;
    m.add_function(wrap_pyfunction!(ct_backproject, m)?)?;
    m.add_function(wrap_pyfunction!(ct_fbp, m)?)?;
    m.add_function(wrap_pyfunction!(ct_iterative, m)?)?;
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(to_py)
}

fn parse_geometry(json: &str) -> PyResult<ScanGeometry> {
    let g: ScanGeometry =
        serde_json::from_str(json).map_err(|e| to_py(format!("scan geometry: {e}")))?;
    g.validate().map_err(to_py)?;
    Ok(g)
}

fn parse_grid(json: &str) -> PyResult<ImageGrid> {
    let g: ImageGrid = serde_json::from_str(json).map_err(|e| to_py(format!("image grid: {e}")))?;
    g.validate().map_err(to_py)?;
    Ok(g)
}

fn projector(geometry: &str, grid: &str) -> PyResult<Projector> {
    Projector::new(parse_grid(grid)?, parse_geometry(geometry)?).map_err(to_py)
}

/// A circular scan geometry as JSON: `kind` is "parallel2d" (cols, col_spacing), "fan2d" and
/// "fan2d-arc" (plus the source distances), "parallel3d" (rows, cols and their spacings) or
/// "cone" (plus the source distances). `col_offset`/`row_offset` shift the detector (mm).
#[pyfunction]
#[pyo3(signature = (kind, angles, cols, col_spacing, rows = 1, row_spacing = 1.0,
    source_origin = 0.0, source_detector = 0.0, col_offset = 0.0, row_offset = 0.0))]
#[allow(clippy::too_many_arguments)] // one flat signature for the Python layer's keywords
fn ct_geometry(
    kind: &str,
    angles: Vec<f64>,
    cols: usize,
    col_spacing: f64,
    rows: usize,
    row_spacing: f64,
    source_origin: f64,
    source_detector: f64,
    col_offset: f64,
    row_offset: f64,
) -> PyResult<String> {
    let line = Detector::line(cols, col_spacing).with_offset(col_offset, 0.0);
    let panel =
        Detector::panel(rows, cols, row_spacing, col_spacing).with_offset(col_offset, row_offset);
    let g = match kind {
        "parallel2d" => ScanGeometry::Parallel2d { angles, detector: line },
        "fan2d" | "fan2d-arc" => ScanGeometry::Fan2d {
            angles,
            detector: line,
            source_origin,
            source_detector,
            arc: kind == "fan2d-arc",
        },
        "parallel3d" => ScanGeometry::Parallel3d { angles, detector: panel },
        "cone" => ScanGeometry::Cone { angles, detector: panel, source_origin, source_detector },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown geometry kind {other:?} (expected parallel2d, fan2d, fan2d-arc, \
                 parallel3d or cone)"
            )));
        }
    };
    g.validate().map_err(to_py)?;
    to_json(&g)
}

/// A geometry from ASTRA's vector form (`parallel_vec`, `fanflat_vec`, `parallel3d_vec`,
/// `cone_vec`), as JSON.
#[pyfunction]
fn ct_geometry_from_astra(
    kind: &str,
    rows: usize,
    cols: usize,
    vectors: Vec<Vec<f64>>,
) -> PyResult<String> {
    to_json(&ScanGeometry::from_astra(kind, rows, cols, &vectors).map_err(to_py)?)
}

/// An image grid of `shape` (nz, ny, nx; nz = 1 in 2D) and voxel `spacing` (x, y, z) mm,
/// centred at `centre` (x, y, z) mm, as JSON.
#[pyfunction]
#[pyo3(signature = (shape, spacing, centre = [0.0; 3]))]
fn ct_grid(shape: [usize; 3], spacing: [f64; 3], centre: [f64; 3]) -> PyResult<String> {
    let grid = ImageGrid::new_3d(shape, spacing).map_err(to_py)?.with_centre(centre);
    grid.validate().map_err(to_py)?;
    to_json(&grid)
}

/// The projection and image shapes of a geometry and grid.
#[pyfunction]
fn ct_shapes(geometry: &str, grid: &str) -> PyResult<(Vec<usize>, Vec<usize>)> {
    let p = projector(geometry, grid)?;
    Ok((p.range_shape(), p.domain_shape()))
}

/// Forward projection (line integrals in the image's unit times mm).
#[pyfunction]
fn ct_project<'py>(
    py: Python<'py>,
    geometry: &str,
    grid: &str,
    image: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let p = projector(geometry, grid)?;
    let x = expect_array::<f32, IxDyn>(image, "a float32 image")?.as_array().to_owned();
    let y = py.detach(|| p.apply(x.view())).map_err(to_py)?;
    Ok(y.into_pyarray(py))
}

/// Back-projection: the exact adjoint of [`ct_project`].
#[pyfunction]
fn ct_backproject<'py>(
    py: Python<'py>,
    geometry: &str,
    grid: &str,
    projections: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let p = projector(geometry, grid)?;
    let y = expect_array::<f32, IxDyn>(projections, "float32 projections")?.as_array().to_owned();
    let x = py.detach(|| p.adjoint(y.view())).map_err(to_py)?;
    Ok(x.into_pyarray(py))
}

/// Filtered back-projection (FDK for cone beams) with a ramp `window` ("ram-lak",
/// "shepp-logan", "cosine", "hamming", "hann") cut off at `cutoff` of Nyquist.
#[pyfunction]
#[pyo3(signature = (geometry, grid, projections, window = "ram-lak", cutoff = 1.0, padding = true))]
fn ct_fbp<'py>(
    py: Python<'py>,
    geometry: &str,
    grid: &str,
    projections: &Bound<'py, PyAny>,
    window: &str,
    cutoff: f64,
    padding: bool,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let (geometry, grid) = (parse_geometry(geometry)?, parse_grid(grid)?);
    let window: RampWindow = serde_json::from_value(serde_json::Value::String(window.into()))
        .map_err(|_| {
            PyValueError::new_err(format!(
                "unknown window {window:?} (expected ram-lak, shepp-logan, cosine, hamming, hann)"
            ))
        })?;
    let options = FbpOptions { window, cutoff, padding, ..Default::default() };
    let y = expect_array::<f32, IxDyn>(projections, "float32 projections")?.as_array().to_owned();
    let x =
        py.detach(|| hounsfield_ct::fbp(&geometry, &grid, y.view(), &options)).map_err(to_py)?;
    Ok(x.into_pyarray(py))
}

/// An iterative reconstruction: "sirt", "os-sart", "cgls", "mlem" or "fista-tv".
#[pyfunction]
#[pyo3(signature = (method, geometry, grid, projections, iterations, nonnegative = true,
    relaxation = 1.0, subsets = 10, tv_lambda = 1e-3))]
#[allow(clippy::too_many_arguments)] // one flat signature for the Python layer's keywords
fn ct_iterative<'py>(
    py: Python<'py>,
    method: &str,
    geometry: &str,
    grid: &str,
    projections: &Bound<'py, PyAny>,
    iterations: usize,
    nonnegative: bool,
    relaxation: f64,
    subsets: usize,
    tv_lambda: f64,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let p = projector(geometry, grid)?;
    let options = IterOptions { iterations, nonnegative, tolerance: 0.0 };
    let y = expect_array::<f32, IxDyn>(projections, "float32 projections")?.as_array().to_owned();
    let mut monitor = no_monitor;
    let method = method.to_owned();
    let x = py
        .detach(|| match method.as_str() {
            "sirt" => iterative::sirt(&p, y.view(), None, relaxation, &options, &mut monitor),
            "os-sart" => {
                iterative::os_sart(&p, y.view(), None, subsets, relaxation, &options, &mut monitor)
            }
            "cgls" => iterative::cgls(&p, y.view(), None, &options, &mut monitor),
            "mlem" => iterative::mlem(&p, y.view(), None, &options, &mut monitor),
            "fista-tv" => {
                let tv = TvOptions { lambda: tv_lambda, ..Default::default() };
                iterative::fista_tv(&p, y.view(), None, &tv, &options, &mut monitor)
            }
            other => Err(hounsfield_core::Error::param(
                "method",
                format!("unknown method {other:?} (sirt, os-sart, cgls, mlem, fista-tv)"),
            )),
        })
        .map_err(to_py)?;
    Ok(x.into_pyarray(py))
}
