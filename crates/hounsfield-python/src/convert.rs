//! numpy arrays and geometry tuples to `Volume`s and back.

use hounsfield_core::{DynVolume, Element, Geometry, Volume, with_dyn_volume};
use numpy::{IntoPyArray, PyArray, PyArrayMethods, PyReadonlyArray, PyUntypedArrayMethods};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use crate::to_py;

/// Spacing (x, y, z) in mm, origin (x, y, z) in mm LPS, direction (column k = axis k).
pub(crate) type GeometryArgs = ([f64; 3], [f64; 3], [[f64; 3]; 3]);

/// A checked geometry from its Python parts.
pub(crate) fn geometry((spacing, origin, direction): GeometryArgs) -> PyResult<Geometry> {
    Geometry::new(spacing, origin, direction).map_err(to_py)
}

/// An axis-aligned geometry of `spacing` at the origin: what filters need of a bare array.
pub(crate) fn spaced(spacing: [f64; 3]) -> PyResult<Geometry> {
    Geometry::axis_aligned(spacing, [0.0; 3]).map_err(to_py)
}

/// A read-only view of `array` if it is a numpy array of `T` and dimension `D`: copied first when
/// its buffer is not aligned for `T` (arrays unpickled by Dask workers or cut from byte buffers
/// can be), as a Rust view of it must be.
pub(crate) fn readonly<'py, T: numpy::Element, D: ndarray::Dimension>(
    array: &Bound<'py, PyAny>,
) -> Option<PyResult<PyReadonlyArray<'py, T, D>>> {
    let typed = array.cast::<PyArray<T, D>>().ok()?;
    if typed.is_aligned() {
        return Some(Ok(typed.readonly()));
    }
    Some(
        array.call_method0("copy").and_then(|copy| {
            Ok(copy.cast_into::<PyArray<T, D>>().map_err(PyErr::from)?.readonly())
        }),
    )
}

/// Like [`readonly`], with a type error naming what was expected when `array` is not one.
pub(crate) fn expect_array<'py, T: numpy::Element, D: ndarray::Dimension>(
    array: &Bound<'py, PyAny>,
    expected: &str,
) -> PyResult<PyReadonlyArray<'py, T, D>> {
    readonly(array).unwrap_or_else(|| {
        Err(PyTypeError::new_err(format!("expected {expected}, got {}", describe(array))))
    })
}

/// The volume of a 3D numpy array of element type `T` (copied into C order), if it is one.
fn typed<T: Element + numpy::Element>(
    array: &Bound<'_, PyAny>,
    geometry: &Geometry,
) -> Option<PyResult<Volume<T>>> {
    let a = match readonly::<T, ndarray::Ix3>(array)? {
        Ok(a) => a,
        Err(e) => return Some(Err(e)),
    };
    let data = a.as_array().as_standard_layout().into_owned();
    Some(Volume::new(data, geometry.clone()).map_err(to_py))
}

/// A 3D array of any element type the libraries hold (u8, i8, u16, i16, u32, i32, f32, f64).
pub(crate) fn dyn_volume(array: &Bound<'_, PyAny>, geometry: &Geometry) -> PyResult<DynVolume> {
    macro_rules! try_types {
        ($($t:ty),*) => {
            $(if let Some(v) = typed::<$t>(array, geometry) {
                return v.map(DynVolume::from);
            })*
        };
    }
    try_types!(u8, i8, u16, i16, u32, i32, f32, f64);
    Err(PyTypeError::new_err(format!(
        "expected a 3D numpy array of uint8, int8, uint16, int16, uint32, int32, float32 or \
         float64, got {}",
        describe(array)
    )))
}

/// A 3D float32 array as a volume.
pub(crate) fn f32_volume(array: &Bound<'_, PyAny>, geometry: &Geometry) -> PyResult<Volume<f32>> {
    typed::<f32>(array, geometry).unwrap_or_else(|| {
        Err(PyTypeError::new_err(format!(
            "expected a 3D float32 numpy array, got {}",
            describe(array)
        )))
    })
}

/// "float64 array of shape (2, 3)" or the Python type's name.
fn describe(array: &Bound<'_, PyAny>) -> String {
    let shape = array.getattr("shape").ok().map(|s| s.to_string());
    let dtype = array.getattr("dtype").ok().map(|s| s.to_string());
    match (dtype, shape) {
        (Some(d), Some(s)) => format!("a {d} array of shape {s}"),
        _ => array.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into()),
    }
}

/// The voxels of a volume as a numpy array (moved, not copied).
pub(crate) fn to_numpy<'py, T: Element + numpy::Element>(
    py: Python<'py>,
    volume: Volume<T>,
) -> Bound<'py, PyAny> {
    volume.into_parts().0.into_pyarray(py).into_any()
}

/// The voxels of a volume of any element type as a numpy array.
pub(crate) fn dyn_to_numpy(py: Python<'_>, volume: DynVolume) -> Bound<'_, PyAny> {
    with_dyn_volume!(volume, v => to_numpy(py, v))
}

/// A geometry as the (spacing, origin, direction) tuple the Python layer takes.
pub(crate) fn geometry_args(g: &Geometry) -> GeometryArgs {
    (g.spacing(), g.origin(), g.direction())
}
