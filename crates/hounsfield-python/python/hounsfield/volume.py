"""The ``Volume`` type, reading and writing."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import _native

Vec3 = Tuple[float, float, float]
PathLike = Union[str, "os.PathLike[str]"]

# Element types the Rust volumes hold.
_SUPPORTED = {np.dtype(t) for t in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32,
                                    np.float32, np.float64)}


def as_native(array: np.ndarray, ndim: int = 3) -> np.ndarray:
    """``array`` in an element type the core holds: bool as uint8, 64-bit integers as 32-bit
    when every value fits (else an error), float16 as float32."""
    a = np.asarray(array)
    if a.ndim != ndim:
        raise ValueError(f"expected a {ndim}D array, got shape {a.shape}")
    if not a.dtype.isnative:  # big-endian from a file (nibabel's dataobj): native copy
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype == np.bool_:
        return a.astype(np.uint8)
    if a.dtype == np.float16:
        return a.astype(np.float32)
    if a.dtype in (np.dtype(np.int64), np.dtype(np.uint64)):
        narrow = np.dtype(np.int32) if a.dtype == np.int64 else np.dtype(np.uint32)
        info = np.iinfo(narrow)
        if a.size and (a.min() < info.min or a.max() > info.max):
            raise ValueError(f"{a.dtype} values beyond the {narrow} range ({a.min()}..{a.max()})")
        return a.astype(narrow)
    if a.dtype not in _SUPPORTED:
        raise TypeError(f"unsupported element type {a.dtype}")
    return a


def _vec3(values: Sequence[float], what: str) -> Vec3:
    v = tuple(float(x) for x in values)
    if len(v) != 3:
        raise ValueError(f"{what} needs 3 values (x, y, z), got {len(v)}")
    return v  # type: ignore[return-value]


@dataclass
class Volume:
    """Voxels with their place in the patient.

    ``array`` is ``(z, y, x)`` (or ``(t, z, y, x)`` for a series of frames); ``spacing`` and
    ``origin`` are ``(x, y, z)`` in mm, the origin being the centre of voxel ``array[0, 0, 0]``;
    ``direction[:, k]`` is the unit vector of index axis k (x, y, z) in LPS.
    """

    array: np.ndarray
    spacing: Vec3 = (1.0, 1.0, 1.0)
    origin: Vec3 = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))

    def __post_init__(self) -> None:
        self.array = np.asarray(self.array)
        self.spacing = _vec3(self.spacing, "spacing")
        self.origin = _vec3(self.origin, "origin")
        self.direction = np.asarray(self.direction, dtype=np.float64).reshape(3, 3)

    @property
    def shape(self) -> Tuple[int, ...]:
        """The array's shape: ``(z, y, x)``, or ``(t, z, y, x)`` for a series."""
        return tuple(self.array.shape)

    @property
    def geometry(self) -> tuple:
        """``(spacing, origin, direction)`` as the native functions take it."""
        return (self.spacing, self.origin, self.direction.tolist())

    @property
    def affine(self) -> np.ndarray:
        """4x4: voxel index ``(x, y, z, 1)`` (i.e. ``array[z, y, x]``) to LPS mm."""
        a = np.eye(4)
        a[:3, :3] = self.direction * np.asarray(self.spacing)
        a[:3, 3] = self.origin
        return a

    @property
    def ras_affine(self) -> np.ndarray:
        """The same in RAS: nibabel's ``img.affine`` for ``array.T`` (``(x, y, z)`` order)."""
        return np.diag([-1.0, -1.0, 1.0, 1.0]) @ self.affine

    @classmethod
    def from_ras_affine(cls, array_xyz: np.ndarray, affine: np.ndarray) -> "Volume":
        """A volume from nibabel's convention: an ``(x, y, z)`` array and its RAS affine."""
        lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ np.asarray(affine, dtype=np.float64)
        spacing = np.linalg.norm(lps[:3, :3], axis=0)
        if np.any(spacing == 0):
            raise ValueError("affine has a zero-length axis")
        return cls(np.ascontiguousarray(np.asarray(array_xyz).T), tuple(spacing),
                   tuple(lps[:3, 3]), lps[:3, :3] / spacing)

    def with_array(self, array: np.ndarray) -> "Volume":
        """The same geometry around other voxels (e.g. a filter's output)."""
        return Volume(array, self.spacing, self.origin, self.direction.copy())


def _count(name: str, value) -> int:
    """A whole number >= 0, or a ValueError naming the parameter."""
    n = int(value)
    if n != value or n < 0:
        raise ValueError(f"{name} must be a whole number >= 0, got {value!r}")
    return n


def read(path: PathLike, series: Optional[str] = None, level: int = 0,
         orientation: Optional[str] = None) -> Volume:
    """Reads a NIfTI file, a DICOM file or series directory (``series`` chooses one of
    several: its number, label or UID), or an OME-Zarr store (Zarr v3 or v2).

    NIfTI with a scale slope comes back as the float32 values it means; several frames (a
    time series) as a ``(t, z, y, x)`` array. Vector images are refused.

    OME-Zarr: ``level`` picks a pyramid level (0 is full resolution). A store written by
    another tool records no patient orientation, so it is refused unless ``orientation``
    says which way its x, y, z axes run (e.g. ``"RAS"``)."""
    level = _count("level", level)
    arrays, (spacing, origin, direction), info = _native.read(
        os.fspath(path), None if series is None else str(series), level,
        None if orientation is None else str(orientation))
    if info["components"] != 1:
        raise _native.HounsfieldError(
            f"{os.fspath(path)}: {info['components']} components per voxel; read it with "
            "the command line tool (vector images are not supported here)")
    array = arrays[0] if len(arrays) == 1 else np.stack(arrays)
    return Volume(array, spacing, origin, np.asarray(direction))


def write(path: PathLike, volume: Volume, chunk: Optional[Tuple[int, int, int]] = None,
          pyramid: int = 0, downsample: Optional[str] = None, overwrite: bool = False) -> None:
    """Writes a 3D volume as NIfTI (``.nii``, ``.nii.gz``) or OME-Zarr (``.zarr``, chunks of
    ``chunk`` voxels in (z, y, x), 64^3 by default, with ``pyramid`` levels below full
    resolution, each half the one above, made by ``downsample``: ``"mean"``, the default for
    float volumes, or ``"nearest"``, the default for integer ones, which may be labels).

    The file appears whole or not at all; an existing one is replaced only with
    ``overwrite=True``."""
    if not isinstance(volume, Volume):
        raise TypeError(f"expected a hounsfield.Volume, got {type(volume).__name__} "
                        "(wrap an array: hounsfield.Volume(array, spacing, origin, direction))")
    array = as_native(volume.array)
    chunk = None if chunk is None else tuple(_count("chunk", c) for c in chunk)
    _native.write(os.fspath(path), array, volume.geometry, chunk, _count("pyramid", pyramid),
                  None if downsample is None else str(downsample), bool(overwrite))
