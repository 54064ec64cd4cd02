"""Hounsfield's filters on Dask arrays, so a Dask cluster spreads them over machines.

Each filter runs block by block through ``map_overlap`` with a halo equal to its reach (the
Gaussian's kernel radius, the median's or the element's radius), so the result equals the
in-memory filter's exactly: blocks at the array's edge get no halo on that side and apply the
boundary ``mode`` there themselves, as the whole-array filter does. ``label`` labels each block,
joins labels that touch across block faces (union-find over the seams) and renumbers the
components in the order their first voxel comes in C order: the same numbers as
``hounsfield.filters.label`` and ``scipy.ndimage.label``.

Arrays are ``(z, y, x)`` with ``spacing=(x, y, z)`` in mm, as everywhere in ``hounsfield``.
No scheduler of our own: the threaded scheduler, a ``LocalCluster`` or a cluster from
dask-jobqueue / dask-kubernetes run the same graphs (every native call releases the GIL).

>>> import numpy as np, dask.array as da
>>> from hounsfield import dask as hdask
>>> x = da.from_array(np.random.default_rng(0).random((40, 40, 40), np.float32), chunks=16)
>>> hdask.gaussian(x, 1.5).compute().shape
(40, 40, 40)
"""

from __future__ import annotations

import math
import os
from typing import Optional, Sequence, Tuple

import numpy as np
import dask
import dask.array as da

from . import _native, filters
from .volume import as_native

Spacing = Sequence[float]


def _spacing(spacing: Optional[Spacing]) -> Tuple[float, float, float]:
    sp = (1.0, 1.0, 1.0) if spacing is None else tuple(float(s) for s in spacing)
    if len(sp) != 3:
        raise ValueError(f"spacing needs 3 values (x, y, z), got {len(sp)}")
    return sp  # type: ignore[return-value]


def _check(x: da.Array) -> da.Array:
    if not isinstance(x, da.Array):
        raise TypeError(f"expected a dask array, got {type(x).__name__}")
    if x.ndim != 3:
        raise ValueError(f"expected a 3D (z, y, x) dask array, got shape {x.shape}")
    if any(np.isnan(c) for axis in x.chunks for c in axis):
        # Halos, seams and block offsets all need the block sizes.
        raise ValueError("the dask array's chunk sizes are unknown (after boolean indexing?): "
                         "call x.compute_chunk_sizes() first")
    return x


def _overlap(x: da.Array, func, depth_zyx, edge_mode: str, dtype, **kwargs) -> da.Array:
    depth = {axis: int(d) for axis, d in enumerate(depth_zyx)}
    # A reach beyond the array along an axis: that axis in one block, where the filter's own
    # edge handling applies exactly, and no halo (Dask refuses a depth beyond the array).
    whole = [a for a, d in depth.items() if d >= x.shape[a]]
    if whole:
        x = x.rechunk({a: -1 for a in whole})
        depth.update({a: 0 for a in whole})
    # "none": edge blocks get no halo outside the array and apply `mode` there themselves, as
    # the whole-array filter does; wrap needs the far side's voxels.
    boundary = "periodic" if edge_mode == "wrap" else "none"
    if all(d == 0 for d in depth.values()):
        return x.map_blocks(func, dtype=dtype, **kwargs)
    return x.map_overlap(func, depth=depth, boundary=boundary, trim=True, dtype=dtype, **kwargs)


def _radius_depth(radius_mm, spacing) -> Tuple[int, int, int]:
    r = filters._xyz(radius_mm, "radius_mm")
    if not all(math.isfinite(v) and v >= 0 for v in r):
        raise ValueError(f"radius_mm must be finite and >= 0, got {radius_mm}")
    return tuple(math.ceil(r[k] / spacing[k]) for k in (2, 1, 0))  # type: ignore[return-value]


def gaussian(x: da.Array, sigma_mm, *, spacing: Optional[Spacing] = None,
             truncate: float = 4.0, mode: str = "reflect", cval: float = 0.0) -> da.Array:
    """``hounsfield.filters.gaussian`` block by block (float32)."""
    sp = _spacing(spacing)
    sigma = filters._xyz(sigma_mm, "sigma_mm")
    depth = _native.gaussian_reach(sp, sigma, truncate)
    return _overlap(_check(x), filters.gaussian, depth, mode, np.float32, sigma_mm=sigma,
                    spacing=sp, truncate=truncate, mode=mode, cval=cval)


def median(x: da.Array, radius_mm, *, spacing: Optional[Spacing] = None,
           mode: str = "reflect", cval: float = 0.0) -> da.Array:
    """``hounsfield.filters.median`` block by block (the input's element type)."""
    sp = _spacing(spacing)
    # The element type the in-memory filter returns (bool as uint8, int64 as int32...).
    dtype = as_native(np.zeros((1, 1, 1), _check(x).dtype)).dtype
    return _overlap(x, filters.median, _radius_depth(radius_mm, sp), mode, dtype,
                    radius_mm=radius_mm, spacing=sp, mode=mode, cval=cval)


def threshold(x: da.Array, lo: float, hi: float = float("inf")) -> da.Array:
    """uint8 mask of ``lo <= value <= hi``, block by block."""
    return _check(x).map_blocks(filters.threshold, lo=lo, hi=hi, dtype=np.uint8)


def _morphology(func, x, radius_mm, element, spacing):
    sp = _spacing(spacing)
    # An opening or closing reaches twice the element's radius.
    reach = _radius_depth(radius_mm, sp)
    if func in (filters.opening, filters.closing):
        reach = tuple(2 * r for r in reach)
    # "nearest" pads nothing at the array's edge (see _overlap); the native filter treats the
    # outside as the whole-array filter does.
    return _overlap(_check(x), func, reach, "nearest", np.uint8, radius_mm=radius_mm,
                    element=element, spacing=sp)


def dilate(x: da.Array, radius_mm: float, *, element: str = "ball",
           spacing: Optional[Spacing] = None) -> da.Array:
    """Binary dilation block by block (uint8)."""
    return _morphology(filters.dilate, x, radius_mm, element, spacing)


def erode(x: da.Array, radius_mm: float, *, element: str = "ball",
          spacing: Optional[Spacing] = None) -> da.Array:
    """Binary erosion block by block (uint8); outside the array is background."""
    return _morphology(filters.erode, x, radius_mm, element, spacing)


def opening(x: da.Array, radius_mm: float, *, element: str = "ball",
            spacing: Optional[Spacing] = None) -> da.Array:
    """Binary opening block by block (uint8)."""
    return _morphology(filters.opening, x, radius_mm, element, spacing)


def closing(x: da.Array, radius_mm: float, *, element: str = "ball",
            spacing: Optional[Spacing] = None) -> da.Array:
    """Binary closing block by block (uint8)."""
    return _morphology(filters.closing, x, radius_mm, element, spacing)


# --- connected components over blocks -------------------------------------------------------

_SHIFTS = {
    6: [(0, 0)],
    18: [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if abs(dy) + abs(dx) <= 1],
    26: [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
}


def _label_block(block: np.ndarray, connectivity: int) -> np.ndarray:
    return filters.label(block, connectivity)[0]


def _summary(labels: np.ndarray, start: Tuple[int, int, int], shape: Tuple[int, int, int]):
    """A block's label count, the global C-order index of each label's first voxel, and its
    six faces (local labels)."""
    count = int(labels.max(initial=0))
    values, first = np.unique(labels.ravel(), return_index=True)
    first = first[values > 0]  # labels 1..count, each numbered at its first voxel
    z, y, x = np.unravel_index(first, labels.shape)
    ny, nx = shape[1], shape[2]
    firsts = ((z + start[0]) * ny + (y + start[1])) * nx + (x + start[2])
    lo = [labels[0].copy(), labels[:, 0].copy(), labels[:, :, 0].copy()]
    hi = [labels[-1].copy(), labels[:, -1].copy(), labels[:, :, -1].copy()]
    return {"count": count, "firsts": firsts.astype(np.int64), "lo": lo, "hi": hi}


def _offsets(summaries) -> np.ndarray:
    counts = np.array([s["count"] for s in summaries], dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)])


def _plane(summaries, side, axis, index_grid, starts, chunks, offsets, fixed):
    """The global plane next to a seam: the faces of the blocks at block index `fixed` along
    `axis`, in global ids (0 = background)."""
    others = [a for a in range(3) if a != axis]
    shape = (sum(chunks[others[0]]), sum(chunks[others[1]]))
    plane = np.zeros(shape, dtype=np.int64)
    for flat, idx in enumerate(index_grid):
        if idx[axis] != fixed:
            continue
        face = summaries[flat][side][axis].astype(np.int64)
        face = np.where(face > 0, face + offsets[flat], 0)
        a0 = starts[others[0]][idx[others[0]]]
        b0 = starts[others[1]][idx[others[1]]]
        plane[a0:a0 + face.shape[0], b0:b0 + face.shape[1]] = face
    return plane


def _seam_pairs(summaries, axis, seam, index_grid, starts, chunks, connectivity):
    offsets = _offsets(summaries)
    low = _plane(summaries, "hi", axis, index_grid, starts, chunks, offsets, seam - 1)
    high = _plane(summaries, "lo", axis, index_grid, starts, chunks, offsets, seam)
    pairs = []
    n0, n1 = low.shape
    for d0, d1 in _SHIFTS[connectivity]:
        a = low[max(0, -d0):n0 - max(0, d0), max(0, -d1):n1 - max(0, d1)]
        b = high[max(0, d0):n0 - max(0, -d0), max(0, d1):n1 - max(0, -d1)]
        both = (a > 0) & (b > 0)
        pairs.append(np.stack([a[both], b[both]], axis=1))
    pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def _roots(n: int, pairs: np.ndarray) -> np.ndarray:
    """The smallest id of each id's component (ids 0..n-1) under the union of `pairs`."""
    parent = np.arange(n, dtype=np.int64)
    if len(pairs) == 0:
        return parent
    a, b = pairs[:, 0], pairs[:, 1]
    while True:
        ra, rb = parent[a], parent[b]
        lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
        moved = lo != hi
        if not moved.any():
            return parent
        np.minimum.at(parent, hi[moved], lo[moved])
        while True:  # pointer jumping to the roots
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped


def _merge(summaries, *seams):
    """The final label of every global id (index 0: background), and the count."""
    offsets = _offsets(summaries)
    total = int(offsets[-1])
    pairs = np.concatenate([np.zeros((0, 2), np.int64)] + list(seams))
    root = _roots(total + 1, pairs)
    firsts = np.concatenate([np.zeros(1, np.int64)] + [s["firsts"] for s in summaries])
    first_of_root = np.full(total + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_of_root, root, firsts)
    roots = np.unique(root[1:])
    order = roots[np.argsort(first_of_root[roots], kind="stable")]
    final = np.zeros(total + 1, dtype=np.int64)
    final[order] = np.arange(1, len(order) + 1)
    return final[root], offsets, len(order)


def _relabel(labels: np.ndarray, merged, index_of, block_info=None) -> np.ndarray:
    lut, offsets, _ = merged
    flat = index_of[tuple(block_info[0]["chunk-location"])]
    # Local label l of this block is global id offsets[flat] + l; 0 stays background.
    table = np.zeros(offsets[flat + 1] - offsets[flat] + 1, dtype=np.uint32)
    table[1:] = lut[offsets[flat] + 1:offsets[flat + 1] + 1]
    return table[labels]


def label(x: da.Array, connectivity: int = 6) -> Tuple[da.Array, da.Array]:
    """Connected components of the non-zero voxels (6, 18 or 26 neighbours) across blocks:
    uint32 labels equal to ``hounsfield.filters.label`` on the whole array, and their count as
    a 0-d dask array. Compute both together (``dask.compute(labels, count)``) so the blocks
    are labelled once."""
    x = _check(x)
    if connectivity not in _SHIFTS:
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity}")
    local = x.map_blocks(_label_block, connectivity=connectivity, dtype=np.uint32)
    chunks = local.chunks
    starts = [np.concatenate([[0], np.cumsum(c)[:-1]]).astype(int).tolist() for c in chunks]
    index_grid = list(np.ndindex(*local.numblocks))
    blocks = local.to_delayed()
    # One task gathers the block summaries, so each seam and the merge depend on one key
    # (passing the list itself would make Dask walk it again for every seam).
    summaries = dask.delayed(list)([
        dask.delayed(_summary)(blocks[idx], tuple(starts[a][idx[a]] for a in range(3)),
                               local.shape)
        for idx in index_grid
    ])
    seams = [
        dask.delayed(_seam_pairs)(summaries, axis, seam, index_grid, starts, chunks,
                                  connectivity)
        for axis in range(3) for seam in range(1, local.numblocks[axis])
    ]
    merged = dask.delayed(_merge)(summaries, *seams)
    index_of = {idx: flat for flat, idx in enumerate(index_grid)}
    labels = local.map_blocks(_relabel, merged, index_of, dtype=np.uint32)
    count = da.from_delayed(dask.delayed(lambda m: np.int64(m[2]))(merged), shape=(),
                            dtype=np.int64)
    return labels, count


# --- OME-Zarr --------------------------------------------------------------------------------

def open_zarr(path, level: int = 0, orientation=None) -> Tuple[da.Array, dict]:
    """A level of an OME-Zarr store (Zarr v3 or v2; 0 is full resolution) as a dask array (one
    block per chunk) and that level's geometry (``spacing``, ``origin``, ``direction``). A store
    written by another tool needs ``orientation`` (see :func:`hounsfield.read`); any axes before
    z, y, x (t, c) must have one entry and are dropped. Needs zarr-python."""
    path = os.fspath(path)
    if int(level) != level or level < 0:
        raise ValueError(f"level must be a whole number >= 0, got {level!r}")
    info = _native.zarr_store_info(path, int(level),
                                   None if orientation is None else str(orientation))
    spacing, origin, direction = info["geometry"]
    array = da.from_zarr(path, component=info["array_path"])
    if array.ndim > 3:
        array = array.reshape(array.shape[-3:])
    return array, {"spacing": tuple(spacing), "origin": tuple(origin),
                   "direction": np.asarray(direction)}
