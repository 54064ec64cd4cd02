"""Gaussian + threshold + connected components on a Dask LocalCluster: hounsfield.dask against
dask-image on the same OME-Zarr store, in one run. Prints one JSON line per tool.

    target/peers/bin/python benches/scale/dask_pipeline.py [--size 256] [--chunk 64]
        [--workers 2] [--out DIR]

Needs the peers venv with the package built into it (`cargo xtask ci` does both). Every
worker has one thread, so the ratio is per core. The results are checked against each other
(the smoothed images to 1e-5; the masks equal except at voxels within 1e-5 of the level,
where float32 rounding may differ; the labels one to one when the masks are equal) before
any time is printed.
"""

import argparse
import json
import os
import tempfile
import time

import numpy as np
import dask
import dask.array as da
import distributed
from dask_image import ndfilters, ndmeasure
from scipy import ndimage

import hounsfield as hf
from hounsfield import dask as hdask

SIGMA_MM = 2.0
SPACING = (1.0, 1.0, 1.0)
LEVEL = 0.52


def make_store(path, size, chunk):
    rng = np.random.default_rng(1)
    a = rng.random((size, size, size), dtype=np.float32)
    a = ndimage.uniform_filter(a, 5)  # blobs of a few voxels
    hf.write(path, hf.Volume(a, SPACING), chunk=(chunk,) * 3)


def ours(path):
    array, geometry = hdask.open_zarr(path)
    smooth = hdask.gaussian(array, SIGMA_MM, spacing=geometry["spacing"])
    labels, count = hdask.label(hdask.threshold(smooth, LEVEL))
    return dask.compute(smooth, labels, count)


def dask_image(path):
    array = da.from_zarr(path, component="0")
    smooth = ndfilters.gaussian_filter(array, SIGMA_MM / SPACING[0], truncate=4.0)
    labels, count = ndmeasure.label(smooth >= LEVEL)
    return dask.compute(smooth, labels, count)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    args = p.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="dask-pipeline-")
    store = os.path.join(out, f"noise{args.size}.zarr")
    if not os.path.exists(store):
        make_store(store, args.size, args.chunk)
    results, seconds = {}, {}
    with distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1,
                                  processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        for name, run in [("hounsfield.dask", ours), ("dask-image", dask_image)]:
            t = time.perf_counter()
            results[name] = run(store)
            seconds[name] = time.perf_counter() - t
            print(f"# {name}: {seconds[name]:.1f} s", flush=True)
    (s1, l1, c1), (s2, l2, c2) = results["hounsfield.dask"], results["dask-image"]
    assert np.abs(s1 - s2).max() <= 1e-5, np.abs(s1 - s2).max()
    # Ours compares in float64; numpy (NEP 50) compares float32 arrays with the level rounded
    # to float32.
    m1, m2 = s1.astype(np.float64) >= LEVEL, s2 >= np.float32(LEVEL)
    assert np.array_equal(l1 > 0, m1) and np.array_equal(l2 > 0, m2)
    # float32 rounding puts a few voxels on either side of the level in the two tools: the
    # masks may differ there and only there.
    differ = m1 != m2
    assert not np.any(differ & (np.abs(s1 - LEVEL) > 1e-5))
    if not differ.any():
        fg = m1
        pairs = np.unique(np.stack([l1[fg], l2[fg]]), axis=1)
        assert pairs.shape[1] == int(c1) == int(c2) == len(np.unique(pairs[0])) \
            == len(np.unique(pairs[1]))
    print(f"# masks differ at {int(differ.sum())} voxels within 1e-5 of the level; "
          f"components {int(c1)} and {int(c2)}", flush=True)
    for name in seconds:
        print(json.dumps({"bench": "dask_pipeline", "tool": name, "size": args.size,
                          "chunk": args.chunk, "workers": args.workers,
                          "components": int(c1), "seconds": round(seconds[name], 2),
                          "ratio_vs_ours": round(seconds[name] / seconds["hounsfield.dask"],
                                                 2)}))


if __name__ == "__main__":
    main()
