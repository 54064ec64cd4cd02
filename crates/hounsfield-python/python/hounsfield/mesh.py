"""Isosurfaces and mesh files."""

from __future__ import annotations

import os
from typing import NamedTuple, Optional, Sequence, Union

import numpy as np

from . import _native
from .volume import PathLike, Volume, as_native


class Mesh(NamedTuple):
    """A triangle mesh: ``vertices`` (N, 3) float32 in mm, ``faces`` (M, 3) uint32 indices,
    ``normals`` (N, 3) or None."""

    vertices: np.ndarray
    faces: np.ndarray
    normals: Optional[np.ndarray] = None


def marching_cubes(x: Union[Volume, np.ndarray], level: float, *,
                   spacing: Optional[Sequence[float]] = None,
                   gradient_normals: bool = False) -> Mesh:
    """The surface ``value = level`` in physical coordinates (LPS mm; a bare array is placed
    at the origin with ``spacing``), closed where it does not touch the border, triangles
    facing out of the ``>= level`` region. Vertices are (x, y, z), not scikit-image's
    (z, y, x) voxel coordinates."""
    if isinstance(x, Volume):
        geometry = x.geometry
        a = x.array
    else:
        sp = (1.0, 1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
        geometry = (sp, (0.0, 0.0, 0.0), np.eye(3).tolist())
        a = x
    return Mesh(*_native.marching_cubes(as_native(a), geometry, float(level), gradient_normals))


def write_mesh(path: PathLike, mesh: Mesh) -> None:
    """Writes binary STL, binary PLY or OBJ, by extension, atomically."""
    faces = np.asarray(mesh.faces)
    if not np.issubdtype(faces.dtype, np.integer):
        raise TypeError(f"face indices must be integers, got {faces.dtype}")
    if faces.size and (faces.min() < 0 or faces.max() >= 2**32):
        raise ValueError(f"face index out of range: {faces.min()}..{faces.max()}")
    _native.write_mesh_file(os.fspath(path), np.ascontiguousarray(mesh.vertices, np.float32),
                            np.ascontiguousarray(faces, np.uint32))


def read_mesh(path: PathLike) -> Mesh:
    """Reads an STL, PLY or OBJ file."""
    return Mesh(*_native.read_mesh_file(os.fspath(path)))
