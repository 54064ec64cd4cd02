"""Filters on volumes or bare 3D arrays.

Each function takes a ``Volume`` (and returns one with the same geometry) or a ``(z, y, x)``
numpy array with ``spacing=(x, y, z)`` in mm (1 mm by default; returns an array). Sizes are in
mm along (x, y, z), converted to whole voxels with the spacing, as in the Rust crate. Boundary
``mode``\\ s are scipy.ndimage's: reflect (default), mirror, nearest, wrap, constant (``cval``).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple, TypeVar, Union

import numpy as np

from . import _native
from .volume import Volume, as_native

V = TypeVar("V", Volume, np.ndarray)
Size = Union[float, Sequence[float]]


def _unpack(x: Union[Volume, np.ndarray], spacing: Optional[Sequence[float]]):
    if isinstance(x, Volume):
        if spacing is not None:
            raise ValueError("spacing comes from the Volume; pass it only with bare arrays")
        return x.array, x.spacing, x
    sp = (1.0, 1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
    if len(sp) != 3:
        raise ValueError(f"spacing needs 3 values (x, y, z), got {len(sp)}")
    return np.asarray(x), sp, None


def _wrap(out: np.ndarray, like: Optional[Volume]):
    return out if like is None else like.with_array(out)


def _xyz(size: Size, what: str) -> Tuple[float, float, float]:
    if np.isscalar(size):
        return (float(size),) * 3  # type: ignore[arg-type,return-value]
    v = tuple(float(s) for s in size)  # type: ignore[union-attr]
    if len(v) != 3:
        raise ValueError(f"{what} needs 1 or 3 values (x, y, z), got {len(v)}")
    return v  # type: ignore[return-value]


def gaussian(x: V, sigma_mm: Size, *, spacing: Optional[Sequence[float]] = None,
             truncate: float = 4.0, mode: str = "reflect", cval: float = 0.0) -> V:
    """Gaussian smoothing (float32 out), as scipy's ``gaussian_filter`` with the sigma in mm
    and the kernel cut at ``truncate`` standard deviations."""
    a, sp, like = _unpack(x, spacing)
    out = _native.gaussian(np.asarray(as_native(a), dtype=np.float32), sp,
                           _xyz(sigma_mm, "sigma_mm"), truncate, mode, cval)
    return _wrap(out, like)


def median(x: V, radius_mm: Size, *, spacing: Optional[Sequence[float]] = None,
           mode: str = "reflect", cval: float = 0.0) -> V:
    """Median over the box of ``radius_mm`` around each voxel (the input's element type)."""
    a, sp, like = _unpack(x, spacing)
    return _wrap(_native.median(as_native(a), sp, _xyz(radius_mm, "radius_mm"), mode, cval), like)


def box_mean(x: V, radius: Union[int, Sequence[int]], *, mode: str = "reflect",
             cval: float = 0.0) -> V:
    """Mean over the box of ``radius`` voxels (x, y, z) around each voxel: scipy's
    ``uniform_filter(size=2 * radius + 1)`` (float32)."""
    a, _, like = _unpack(x, None if isinstance(x, Volume) else (1, 1, 1))
    r = (radius,) * 3 if np.isscalar(radius) else tuple(radius)  # type: ignore
    if len(r) != 3 or any(int(v) != v or v < 0 for v in r):
        raise ValueError(f"radius must be 1 or 3 whole numbers of voxels >= 0, got {radius}")
    r = tuple(int(v) for v in r)
    return _wrap(_native.box_mean(np.asarray(as_native(a), dtype=np.float32), r, mode, cval),
                 like)


def gradient_magnitude(x: V, sigma_mm: Optional[float] = None, *,
                       spacing: Optional[Sequence[float]] = None) -> V:
    """|grad| in value units per mm (central differences), after a Gaussian of ``sigma_mm``."""
    a, sp, like = _unpack(x, spacing)
    return _wrap(_native.gradient_magnitude(np.asarray(as_native(a), dtype=np.float32), sp,
                                            sigma_mm), like)


def threshold(x: V, lo: float, hi: float = float("inf")) -> V:
    """uint8 mask of ``lo <= value <= hi``."""
    a, _, like = _unpack(x, None if isinstance(x, Volume) else (1, 1, 1))
    return _wrap(_native.binary_threshold(as_native(a), float(lo), float(hi)), like)


def otsu_threshold(x: Union[Volume, np.ndarray], bins: int = 256) -> float:
    """Otsu's threshold (the value that best separates two classes of the histogram)."""
    a = x.array if isinstance(x, Volume) else x
    return _native.otsu_threshold(as_native(a), bins)


def _morphology(op: str, x, radius_mm: float, element: str, spacing):
    a, sp, like = _unpack(x, spacing)
    return _wrap(_native.morphology_op(op, as_native(a), sp, element, float(radius_mm)), like)


def dilate(x: V, radius_mm: float, *, element: str = "ball",
           spacing: Optional[Sequence[float]] = None) -> V:
    """Binary dilation of the non-zero voxels by a ``ball``, ``box`` or ``cross`` (uint8)."""
    return _morphology("dilate", x, radius_mm, element, spacing)


def erode(x: V, radius_mm: float, *, element: str = "ball",
          spacing: Optional[Sequence[float]] = None) -> V:
    """Binary erosion; the outside of the volume counts as background (uint8)."""
    return _morphology("erode", x, radius_mm, element, spacing)


def opening(x: V, radius_mm: float, *, element: str = "ball",
            spacing: Optional[Sequence[float]] = None) -> V:
    """Erosion then dilation (removes specks smaller than the element)."""
    return _morphology("open", x, radius_mm, element, spacing)


def closing(x: V, radius_mm: float, *, element: str = "ball",
            spacing: Optional[Sequence[float]] = None) -> V:
    """Dilation then erosion (closes gaps smaller than the element)."""
    return _morphology("close", x, radius_mm, element, spacing)


def fill_holes(x: V) -> V:
    """The mask with enclosed background filled (uint8)."""
    a, _, like = _unpack(x, None if isinstance(x, Volume) else (1, 1, 1))
    return _wrap(_native.fill_holes(as_native(a)), like)


def label(x: V, connectivity: int = 6) -> Tuple[V, int]:
    """Connected components of the non-zero voxels (6, 18 or 26 neighbours): uint32 labels
    numbered in the order their first voxel comes in C order, and their count."""
    a, _, like = _unpack(x, None if isinstance(x, Volume) else (1, 1, 1))
    labels, count = _native.label_components(as_native(a), connectivity)
    return _wrap(labels, like), count


def resample(volume: Volume, spacing: Sequence[float], *, interpolation: str = "linear",
             antialias: bool = True) -> Volume:
    """The volume on a grid of ``spacing`` (x, y, z mm) over the same extent: ``nearest``,
    ``linear``, ``bspline3`` or ``lanczos3``, Gaussian-antialiased where the spacing grows
    (float32 out)."""
    if not isinstance(volume, Volume):
        raise TypeError(f"resample needs a hounsfield.Volume (its grid's geometry), got "
                        f"{type(volume).__name__}: wrap an array as hounsfield.Volume(array, "
                        "spacing, origin, direction)")
    out, (sp, origin, direction) = _native.resample_to_spacing(
        as_native(volume.array), volume.geometry, tuple(float(s) for s in spacing),
        interpolation, antialias)
    return Volume(out, sp, origin, np.asarray(direction))
