//! Marching cubes and mesh files of hounsfield-mesh, as vertex and face arrays.

use std::path::PathBuf;

use hounsfield_core::with_dyn_volume;
use hounsfield_mesh::io::{read_mesh, write_mesh};
use hounsfield_mesh::{IsoOptions, TriMesh, isosurface};
use ndarray::Array2;
use ndarray::Ix2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::prelude::*;

use crate::convert::{GeometryArgs, dyn_volume, expect_array, geometry};
use crate::to_py;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(marching_cubes, m)?)?;
    m.add_function(wrap_pyfunction!(write_mesh_file, m)?)?;
    m.add_function(wrap_pyfunction!(read_mesh_file, m)?)?;
    Ok(())
}

type MeshArrays<'py> =
    (Bound<'py, PyArray2<f32>>, Bound<'py, PyArray2<u32>>, Option<Bound<'py, PyArray2<f32>>>);

fn rows<T: Copy, const N: usize>(items: &[[T; N]]) -> Array2<T> {
    let flat: Vec<T> = items.iter().flatten().copied().collect();
    Array2::from_shape_vec((items.len(), N), flat).expect("rows of N values")
}

fn to_arrays(py: Python<'_>, mesh: TriMesh) -> MeshArrays<'_> {
    (
        rows(&mesh.vertices).into_pyarray(py),
        rows(&mesh.triangles).into_pyarray(py),
        mesh.normals.map(|n| rows(&n).into_pyarray(py)),
    )
}

/// The isosurface `value = level` in physical coordinates (mm, LPS): vertices (N, 3) float32,
/// triangles (M, 3) uint32 with normals pointing out of the `>= level` region, and vertex
/// normals from the volume's gradient when asked for.
#[pyfunction]
#[pyo3(signature = (array, geometry_parts, level, gradient_normals = false))]
fn marching_cubes<'py>(
    py: Python<'py>,
    array: &Bound<'py, PyAny>,
    geometry_parts: GeometryArgs,
    level: f64,
    gradient_normals: bool,
) -> PyResult<MeshArrays<'py>> {
    let volume = dyn_volume(array, &geometry(geometry_parts)?)?;
    let options = IsoOptions { gradient_normals, ..Default::default() };
    let mesh = py
        .detach(|| with_dyn_volume!(&volume, v => isosurface(v, level, &options)))
        .map_err(to_py)?;
    Ok(to_arrays(py, mesh))
}

/// Writes a triangle mesh as binary STL, binary PLY or OBJ (by extension), atomically.
#[pyfunction]
fn write_mesh_file(
    py: Python<'_>,
    path: PathBuf,
    vertices: &Bound<'_, PyAny>,
    triangles: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let vertices = expect_array::<f32, Ix2>(vertices, "float32 vertices (N, 3)")?;
    let triangles = expect_array::<u32, Ix2>(triangles, "uint32 triangles (M, 3)")?;
    let (v, t) = (vertices.as_array(), triangles.as_array());
    if v.ncols() != 3 || t.ncols() != 3 {
        return Err(to_py("vertices and triangles must have 3 columns"));
    }
    let mesh = TriMesh {
        vertices: v.rows().into_iter().map(|r| [r[0], r[1], r[2]]).collect(),
        triangles: t.rows().into_iter().map(|r| [r[0], r[1], r[2]]).collect(),
        normals: None,
        colours: None,
    };
    if let Some(bad) = mesh.triangles.iter().flatten().find(|&&i| i as usize >= mesh.vertices.len())
    {
        return Err(to_py(format!(
            "triangle index {bad} is beyond the {} vertices",
            mesh.vertices.len()
        )));
    }
    py.detach(|| write_mesh(&path, &mesh)).map_err(to_py)
}

/// Reads an STL, PLY or OBJ mesh: vertices, triangles and normals if the file has them.
#[pyfunction]
fn read_mesh_file(py: Python<'_>, path: PathBuf) -> PyResult<MeshArrays<'_>> {
    let mesh = py.detach(|| read_mesh(&path)).map_err(to_py)?;
    Ok(to_arrays(py, mesh))
}
