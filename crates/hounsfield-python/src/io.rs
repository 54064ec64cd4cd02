//! Reading and writing volumes: DICOM series, NIfTI, OME-Zarr.

use std::path::PathBuf;

use hounsfield_core::DynVolume;
use hounsfield_io::nifti::{NiftiImage, write_nifti};
use hounsfield_io::zarr::{ZarrOptions, write_zarr_dyn};
use hounsfield_io::{OpenOptions, open};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{GeometryArgs, dyn_to_numpy, dyn_volume, geometry, geometry_args};
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    Ok(())
}

/// Reads a NIfTI file, a DICOM file or series directory, or an OME-Zarr store: the volumes
/// (one per frame; scaled NIfTI as the float32 values they mean), their geometry and a dict of
/// what the input was.
#[pyfunction]
#[pyo3(signature = (path, series = None))]
fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    series: Option<String>,
) -> PyResult<(Vec<Bound<'py, PyAny>>, GeometryArgs, Bound<'py, PyDict>)> {
    let (volumes, format, scaled, components) = py.detach(|| {
        let opened = open(&path, &OpenOptions::default().with_series(series)).map_err(to_py)?;
        let image = opened.image;
        // NIfTI dimensions 5-7 (vector, matrix, CIFTI...) would otherwise be folded into frames.
        let dim = image.header.dim;
        let higher: i64 = (5..=dim[0].clamp(0, 7) as usize).map(|k| dim[k].max(1)).product();
        if higher > 1 {
            return Err(to_py(format!(
                "{}: a {}-dimensional NIfTI image (dims 5-7: {:?}, intent {}): vector and \
                 higher-dimensional images are not read here; hounsfield.read returns 3D \
                 volumes and (t, z, y, x) series",
                path.display(),
                dim[0],
                &dim[5..],
                image.header.intent_code
            )));
        }
        let components = image.components();
        let scaled = image.scaling().is_some();
        let volumes: Vec<DynVolume> = if scaled {
            let mut out = Vec::new();
            for i in 0..image.volumes().len() {
                let v = image.scaled_f32(i).ok_or_else(|| to_py("volume index out of range"))?;
                out.push(v.into());
            }
            out
        } else {
            image.into_volumes()
        };
        Ok::<_, PyErr>((volumes, opened.format.name(), scaled, components))
    })?;
    let geometry = volumes
        .first()
        .map(|v| geometry_args(v.geometry()))
        .ok_or_else(|| to_py(format!("{}: no volume", path.display())))?;
    let info = PyDict::new(py);
    info.set_item("format", format)?;
    info.set_item("scaled", scaled)?;
    info.set_item("components", components)?;
    let arrays = volumes.into_iter().map(|v| dyn_to_numpy(py, v)).collect();
    Ok((arrays, geometry, info))
}

/// Writes one 3D volume to `path`: NIfTI for `.nii`/`.nii.gz`, OME-Zarr for `.zarr` (chunks of
/// `chunk` voxels, z, y, x). Written beside the target and renamed, so a failed write leaves no
/// partial file.
#[pyfunction]
#[pyo3(signature = (path, array, geometry_parts, chunk = None))]
fn write(
    py: Python<'_>,
    path: PathBuf,
    array: &Bound<'_, PyAny>,
    geometry_parts: GeometryArgs,
    chunk: Option<[usize; 3]>,
) -> PyResult<()> {
    let volume = dyn_volume(array, &geometry(geometry_parts)?)?;
    let name = path.to_string_lossy().to_lowercase();
    py.detach(|| {
        if name.ends_with(".zarr") || name.ends_with(".zarr/") {
            let options = ZarrOptions::new(chunk.unwrap_or([64; 3]));
            write_zarr_dyn(&path, &volume, &options).map_err(to_py)
        } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            write_nifti(&path, &NiftiImage::from_volume(volume)).map_err(to_py)
        } else {
            Err(to_py(format!(
                "{}: unknown output extension (expected .nii, .nii.gz or .zarr)",
                path.display()
            )))
        }
    })
}
