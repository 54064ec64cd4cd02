//! Reading and writing volumes: DICOM series, NIfTI, OME-Zarr.

use std::path::PathBuf;

use hounsfield_core::DynVolume;
use hounsfield_core::Orientation;
use hounsfield_io::nifti::{NiftiImage, write_nifti};
use hounsfield_io::zarr::{Downsample, ZarrOptions, ZarrRead, write_zarr_dyn, zarr_info};
use hounsfield_io::{OpenOptions, open};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{GeometryArgs, dyn_to_numpy, dyn_volume, geometry, geometry_args};
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read, m)?)?;
    m.add_function(wrap_pyfunction!(write, m)?)?;
    m.add_function(wrap_pyfunction!(zarr_store_info, m)?)?;
    Ok(())
}

/// Reads a NIfTI file, a DICOM file or series directory, or an OME-Zarr store: the volumes
/// (one per frame; scaled NIfTI as the float32 values they mean), their geometry and a dict of
/// what the input was.
#[pyfunction]
#[pyo3(signature = (path, series = None, level = 0, orientation = None))]
fn read<'py>(
    py: Python<'py>,
    path: PathBuf,
    series: Option<String>,
    level: usize,
    orientation: Option<String>,
) -> PyResult<(Vec<Bound<'py, PyAny>>, GeometryArgs, Bound<'py, PyDict>)> {
    let zarr = zarr_read(&path, level, orientation.as_deref())?;
    let (volumes, format, scaled, components) = py.detach(|| {
        let options = OpenOptions::default().with_series(series).with_zarr(zarr);
        let zarr_input = hounsfield_io::zarr::is_zarr_store(&path);
        if zarr != ZarrRead::default() && !zarr_input {
            return Err(to_py(format!(
                "{}: level and orientation apply to an OME-Zarr store only",
                path.display()
            )));
        }
        let opened = open(&path, &options).map_err(to_py)?;
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

fn zarr_read(
    path: &std::path::Path,
    level: usize,
    orientation: Option<&str>,
) -> PyResult<ZarrRead> {
    let orientation = orientation
        .map(Orientation::from_code)
        .transpose()
        .map_err(|e| to_py(format!("{}: {e}", path.display())))?;
    Ok(ZarrRead { level, orientation })
}

/// What a level of an OME-Zarr store holds, without reading its voxels: dtype, shape, the
/// level's geometry, its array path inside the group and the number of levels.
#[pyfunction]
#[pyo3(signature = (path, level = 0, orientation = None))]
fn zarr_store_info<'py>(
    py: Python<'py>,
    path: PathBuf,
    level: usize,
    orientation: Option<String>,
) -> PyResult<Bound<'py, PyDict>> {
    let read = zarr_read(&path, level, orientation.as_deref())?;
    let info = zarr_info(&path, &read).map_err(to_py)?;
    let out = PyDict::new(py);
    out.set_item("dtype", info.dtype.to_string())?;
    out.set_item("shape", info.shape)?;
    out.set_item("geometry", geometry_args(&info.geometry))?;
    out.set_item("array_path", info.array_path)?;
    out.set_item("levels", info.levels)?;
    Ok(out)
}

/// Replaces the store at `path` with the one at `new`: the old one is moved aside first and
/// removed only once the new one is in place.
fn replace_store(path: &std::path::Path, new: &std::path::Path) -> std::io::Result<()> {
    let mut aside = path.as_os_str().to_owned();
    aside.push(format!(".old-{}", std::process::id()));
    let aside = PathBuf::from(aside);
    std::fs::rename(path, &aside)?;
    if let Err(e) = std::fs::rename(new, path) {
        let _ = std::fs::rename(&aside, path);
        return Err(e);
    }
    if aside.is_dir() { std::fs::remove_dir_all(&aside) } else { std::fs::remove_file(&aside) }
}

/// Writes one 3D volume to `path`: NIfTI for `.nii`/`.nii.gz`, OME-Zarr for `.zarr` (chunks of
/// `chunk` voxels, z, y, x; `pyramid` levels made by `downsample`). Written beside the target
/// and renamed, so a failed write leaves no partial file; an existing file is replaced only
/// with `overwrite`.
#[pyfunction]
#[pyo3(signature = (path, array, geometry_parts, chunk = None, pyramid = 0, downsample = None,
                    overwrite = false))]
#[allow(clippy::too_many_arguments)]
fn write(
    py: Python<'_>,
    path: PathBuf,
    array: &Bound<'_, PyAny>,
    geometry_parts: GeometryArgs,
    chunk: Option<[usize; 3]>,
    pyramid: usize,
    downsample: Option<String>,
    overwrite: bool,
) -> PyResult<()> {
    let volume = dyn_volume(array, &geometry(geometry_parts)?)?;
    let name = path.to_string_lossy().to_lowercase();
    let zarr = name.ends_with(".zarr") || name.ends_with(".zarr/");
    let downsample: Option<Downsample> =
        downsample.map(|d| d.parse()).transpose().map_err(to_py)?;
    if (pyramid > 0 || downsample.is_some()) && !zarr {
        return Err(to_py(format!(
            "{}: pyramid and downsample apply to an OME-Zarr store (.zarr) only",
            path.display()
        )));
    }
    if path.exists() && !overwrite {
        return Err(to_py(format!(
            "{}: already exists (pass overwrite=True to replace it)",
            path.display()
        )));
    }
    if downsample.is_some() && pyramid == 0 {
        return Err(to_py("downsample says how pyramid levels are made: give pyramid=N too"));
    }
    // Only a store replaces a store: a folder of other files named .zarr is never deleted.
    if zarr && path.exists() && !hounsfield_io::zarr::is_zarr_store(&path) {
        return Err(to_py(format!(
            "{}: exists and is not a Zarr store; not replaced (remove it yourself)",
            path.display()
        )));
    }
    if !zarr && path.is_dir() {
        return Err(to_py(format!("{}: is a directory; not replaced", path.display())));
    }
    py.detach(|| {
        if zarr {
            let options =
                ZarrOptions::new(chunk.unwrap_or([64; 3])).with_pyramid(pyramid, downsample);
            if !path.exists() {
                return write_zarr_dyn(&path, &volume, &options).map_err(to_py);
            }
            hounsfield_io::zarr::check_layout(&path, volume.shape(), &options).map_err(to_py)?;
            let mut new = path.as_os_str().to_owned();
            new.push(format!(".new-{}", std::process::id()));
            let new = PathBuf::from(new);
            write_zarr_dyn(&new, &volume, &options).map_err(to_py)?;
            replace_store(&path, &new).map_err(|e| {
                let _ = std::fs::remove_dir_all(&new);
                to_py(format!("{}: {e}", path.display()))
            })
        } else if name.ends_with(".nii") || name.ends_with(".nii.gz") {
            if chunk.is_some() {
                return Err(to_py(format!("{}: chunk applies to OME-Zarr only", path.display())));
            }
            write_nifti(&path, &NiftiImage::from_volume(volume)).map_err(to_py)
        } else {
            Err(to_py(format!(
                "{}: unknown output extension (expected .nii, .nii.gz or .zarr)",
                path.display()
            )))
        }
    })
}
