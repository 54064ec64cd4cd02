"""CT: scan geometries, the Joseph projector with its exact adjoint, FBP/FDK, iterative methods.

Layouts as in the Rust crate: projections ``(views, cols)`` in 2D, ``(views, rows, cols)`` in
3D; images ``(ny, nx)`` or ``(nz, ny, nx)``; lengths in mm, angles in radians. Projections of an
image in 1/mm are line integrals (dimensionless); reconstructions come back in 1/mm.

>>> import numpy as np
>>> from hounsfield import ct
>>> g = ct.ScanGeometry.parallel_2d(ct.uniform_angles(90, np.pi), cols=64, spacing=1.0)
>>> grid = ct.ImageGrid((64, 64), 1.0)
>>> ct.fbp(g, grid, ct.project(g, grid, np.ones((64, 64), np.float32))).shape
(64, 64)
"""

from __future__ import annotations

import json
from typing import Sequence, Tuple

import numpy as np

from . import _native


def uniform_angles(views: int, arc: float) -> np.ndarray:
    """``views`` angles evenly over ``arc`` radians, the end excluded (``pi`` for parallel
    beams, ``2 pi`` for fan and cone full scans)."""
    return np.arange(views) * (arc / views)


class ScanGeometry:
    """A scan geometry; ``json`` is the Rust ``ScanGeometry`` as JSON (``spec`` as a dict)."""

    def __init__(self, json_text: str):
        self.json = json_text

    @property
    def spec(self) -> dict:
        return json.loads(self.json)

    @property
    def kind(self) -> str:
        """parallel2d, fan2d, parallel3d, cone or vector."""
        return self.spec["type"]

    def __repr__(self) -> str:
        return f"ScanGeometry({self.kind})"

    @classmethod
    def _make(cls, kind: str, angles, cols: int, col_spacing: float, **kw) -> "ScanGeometry":
        angles = [float(a) for a in np.asarray(angles, dtype=np.float64).ravel()]
        return cls(_native.ct_geometry(kind, angles, int(cols), float(col_spacing), **kw))

    @classmethod
    def parallel_2d(cls, angles, cols: int, spacing: float, offset: float = 0.0):
        """Parallel beam onto a line of ``cols`` pixels of ``spacing`` mm."""
        return cls._make("parallel2d", angles, cols, spacing, col_offset=offset)

    @classmethod
    def fan_2d(cls, angles, cols: int, spacing: float, source_origin: float,
               source_detector: float, arc: bool = False, offset: float = 0.0):
        """Fan beam onto a flat line (``arc=False``, ``spacing`` in mm) or an equiangular arc
        (``spacing`` in mm at the detector's distance)."""
        return cls._make("fan2d-arc" if arc else "fan2d", angles, cols, spacing,
                         source_origin=float(source_origin),
                         source_detector=float(source_detector), col_offset=offset)

    @classmethod
    def parallel_3d(cls, angles, rows: int, cols: int, pixel: Tuple[float, float]):
        """Parallel beam onto a ``rows x cols`` panel of ``pixel`` = (row, col) mm."""
        return cls._make("parallel3d", angles, cols, pixel[1], rows=int(rows),
                         row_spacing=float(pixel[0]))

    @classmethod
    def cone(cls, angles, rows: int, cols: int, pixel: Tuple[float, float],
             source_origin: float, source_detector: float,
             offset: Tuple[float, float] = (0.0, 0.0)):
        """Circular cone beam onto a flat panel; ``offset`` shifts it by (row, col) mm."""
        return cls._make("cone", angles, cols, pixel[1], rows=int(rows),
                         row_spacing=float(pixel[0]), source_origin=float(source_origin),
                         source_detector=float(source_detector), row_offset=float(offset[0]),
                         col_offset=float(offset[1]))

    @classmethod
    def from_astra(cls, kind: str, rows: int, cols: int, vectors) -> "ScanGeometry":
        """From ASTRA's vector geometries (``parallel_vec``, ``fanflat_vec``,
        ``parallel3d_vec``, ``cone_vec``) and their ``vectors`` array."""
        v = [[float(x) for x in row] for row in np.asarray(vectors, dtype=np.float64)]
        return cls(_native.ct_geometry_from_astra(kind, int(rows), int(cols), v))


class ImageGrid:
    """The reconstruction grid: ``shape`` (ny, nx) or (nz, ny, nx), voxel ``spacing`` in mm
    (one value, or x, y, z), centred at ``centre`` (x, y, z mm)."""

    def __init__(self, shape: Sequence[int], spacing=1.0,
                 centre: Tuple[float, float, float] = (0.0, 0.0, 0.0)):
        shape3 = tuple(int(s) for s in shape)
        if len(shape3) == 2:
            shape3 = (1,) + shape3
        if len(shape3) != 3:
            raise ValueError(f"shape needs 2 or 3 values, got {len(shape3)}")
        sp = (float(spacing),) * 3 if np.isscalar(spacing) else tuple(float(s) for s in spacing)
        self.json = _native.ct_grid(shape3, sp, tuple(float(c) for c in centre))

    def __repr__(self) -> str:
        return f"ImageGrid({self.json})"


def shapes(geometry: ScanGeometry, grid: ImageGrid) -> Tuple[list, list]:
    """(projection shape, image shape)."""
    return _native.ct_shapes(geometry.json, grid.json)


def _f32(a) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def project(geometry: ScanGeometry, grid: ImageGrid, image: np.ndarray) -> np.ndarray:
    """Forward projection A x (Joseph's method)."""
    return _native.ct_project(geometry.json, grid.json, _f32(image))


def backproject(geometry: ScanGeometry, grid: ImageGrid, projections: np.ndarray) -> np.ndarray:
    """A^T y, the exact adjoint of ``project`` (<A x, y> = <x, A^T y> to rounding)."""
    return _native.ct_backproject(geometry.json, grid.json, _f32(projections))


def fbp(geometry: ScanGeometry, grid: ImageGrid, projections: np.ndarray,
        window: str = "ram-lak", cutoff: float = 1.0, padding: bool = True) -> np.ndarray:
    """Filtered back-projection (FDK for cone beams; Parker weights for short scans).
    ``window``: ram-lak, shepp-logan, cosine, hamming or hann."""
    return _native.ct_fbp(geometry.json, grid.json, _f32(projections), window, float(cutoff),
                          padding)


def fdk(geometry: ScanGeometry, grid: ImageGrid, projections: np.ndarray,
        window: str = "ram-lak", cutoff: float = 1.0) -> np.ndarray:
    """FDK: ``fbp`` of a cone-beam scan."""
    if geometry.kind != "cone":
        raise ValueError("FDK needs a cone-beam geometry")
    return fbp(geometry, grid, projections, window, cutoff)


def _iterate(method: str, geometry, grid, projections, iterations, **kw) -> np.ndarray:
    return _native.ct_iterative(method, geometry.json, grid.json, _f32(projections),
                                int(iterations), **kw)


def sirt(geometry, grid, projections, iterations: int = 100, relaxation: float = 1.0,
         nonnegative: bool = True) -> np.ndarray:
    """SIRT (ASTRA's SIRT): slow, steady, no overshoot."""
    return _iterate("sirt", geometry, grid, projections, iterations, relaxation=relaxation,
                    nonnegative=nonnegative)


def os_sart(geometry, grid, projections, iterations: int = 10, subsets: int = 10,
            relaxation: float = 1.0, nonnegative: bool = True) -> np.ndarray:
    """OS-SART over ``subsets`` interleaved view subsets."""
    return _iterate("os-sart", geometry, grid, projections, iterations, subsets=subsets,
                    relaxation=relaxation, nonnegative=nonnegative)


def cgls(geometry, grid, projections, iterations: int = 20) -> np.ndarray:
    """CGLS, least squares by conjugate gradients (stop early on noisy data)."""
    return _iterate("cgls", geometry, grid, projections, iterations, nonnegative=False)


def mlem(geometry, grid, projections, iterations: int = 50) -> np.ndarray:
    """MLEM for non-negative data."""
    return _iterate("mlem", geometry, grid, projections, iterations)


def fista_tv(geometry, grid, projections, iterations: int = 50, tv_lambda: float = 1e-3,
             nonnegative: bool = True) -> np.ndarray:
    """FISTA with total-variation regularisation of weight ``tv_lambda``."""
    return _iterate("fista-tv", geometry, grid, projections, iterations, tv_lambda=tv_lambda,
                    nonnegative=nonnegative)
