"""Writes an n^3 float32 OME-Zarr store of uniform noise (seed 1), 64^3 chunks, for the
chunked-pipeline benchmark (docs/BENCHMARKS.md). Holds the volume in memory once (4 GiB at
1024^3): preparing the input is not part of what is measured.

    target/peers/bin/python benches/scale/make_noise.py OUT.zarr [n]
"""

import sys

import numpy as np

import hounsfield as hf

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rng = np.random.default_rng(1)
volume = np.empty((n, n, n), np.float32)
for z in range(n):  # slab by slab: no float64 temporary of the whole volume
    volume[z] = rng.random((n, n), dtype=np.float32)
hf.write(out, hf.Volume(volume, (1.0, 1.0, 1.0)), chunk=(64, 64, 64))
