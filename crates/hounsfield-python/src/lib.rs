//! `hounsfield._native`: the compiled core of the `hounsfield` Python package.
//!
//! Each function takes numpy arrays (volumes in `(z, y, x)` order, as the Rust `Volume` and
//! SimpleITK's `GetArrayFromImage` hold them) and plain numbers, copies what it reads while it
//! holds the GIL, then releases the GIL for the computation, so Python threads and Dask workers
//! run in parallel. Errors are `hounsfield.HounsfieldError` with the libraries' own messages,
//! which name the file and the problem. The Python layer (`python/hounsfield`) adds the `Volume`
//! class, defaults and documentation; this crate holds no logic of its own beyond conversions.

use pyo3::prelude::*;

mod convert;
mod ct;
mod filter;
mod io;
mod mesh;
mod metrics;

pyo3::create_exception!(
    _native,
    HounsfieldError,
    pyo3::exceptions::PyValueError,
    "An error from the Hounsfield libraries: bad input, an unreadable file, an invalid parameter."
);

/// Turns a library error into a `HounsfieldError` carrying its message.
pub(crate) fn to_py(error: impl std::fmt::Display) -> PyErr {
    HounsfieldError::new_err(error.to_string())
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("HounsfieldError", m.py().get_type::<HounsfieldError>())?;
    io::register(m)?;
    filter::register(m)?;
    metrics::register(m)?;
    mesh::register(m)?;
    ct::register(m)?;
    Ok(())
}
