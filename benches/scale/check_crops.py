"""Checks the chunked pipeline's stores against in-memory results: three random 128^3 crops of
the smoothed store equal the in-memory Gaussian of the crop with its halo, and of the labels
store equal the in-memory labels of the whole mask (docs/BENCHMARKS.md).

    target/peers/bin/python benches/scale/check_crops.py NOISE.zarr SMOOTH.zarr MASK.zarr LABELS.zarr SIGMA
"""

import sys

import numpy as np

import hounsfield as hf
from hounsfield import dask as hdask, filters

# Lazy views of the big stores (only the crops are read); the mask whole (1 byte a voxel).
noise, smooth, labels = (hdask.open_zarr(p)[0] for p in (sys.argv[1], sys.argv[2], sys.argv[4]))
mask = hf.read(sys.argv[3])
sigma = float(sys.argv[5])
reach = int(4.0 * sigma + 0.5)
rng = np.random.default_rng(7)
n = noise.shape
whole = filters.label(mask.array)[0]  # the in-memory labels of the whole mask
for k in range(3):
    start = [int(rng.integers(0, s - 128)) for s in n]
    crop = tuple(slice(a, a + 128) for a in start)
    # The crop grown by the Gaussian's reach (clipped at the volume's edges, where the filter's
    # own reflection applies in both).
    lo = [max(0, a - reach) for a in start]
    hi = [min(s, a + 128 + reach) for a, s in zip(start, n)]
    grown = noise[tuple(slice(a, b) for a, b in zip(lo, hi))].compute()
    expected = filters.gaussian(grown, sigma)
    inner = tuple(slice(a - l, a - l + 128) for a, l in zip(start, lo))
    # Reflection at the grown crop's own faces differs inside the volume; those faces lie a
    # full reach from the crop, so the crop itself is exact.
    assert np.array_equal(smooth[crop].compute(), expected[inner]), f"gaussian crop {start}"
    assert np.array_equal(labels[crop].compute(), whole[crop]), f"labels crop {start}"
    print(f"crop {k} at {start}: gaussian and labels equal the in-memory results")
