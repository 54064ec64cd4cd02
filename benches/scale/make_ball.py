"""Writes an n^3 float32 distance field of a ball (radius 200 voxels at n = 512; positive
inside) as NIfTI and as OME-Zarr in 64^3 chunks, for the chunked-isosurface benchmark
(docs/BENCHMARKS.md).

    target/peers/bin/python benches/scale/make_ball.py OUT_DIR [n]
"""

import os
import sys

import numpy as np

import hounsfield as hf

out, n = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 512
a = np.empty((n, n, n), np.float32)
y, x = np.mgrid[:n, :n]
c = (n / 2 - 0.7, n / 2 + 0.1, n / 2 - 1.3)  # (x, y, z): off the grid's symmetry
for z in range(n):  # slab by slab: no float64 temporary of the whole volume
    a[z] = 200 * n / 512 - np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
v = hf.Volume(a, (0.5, 0.5, 0.5))
hf.write(os.path.join(out, "ball.zarr"), v, chunk=(64, 64, 64))
hf.write(os.path.join(out, "ball.nii"), v)
