"""Gaussian + threshold + connected components on a Dask LocalCluster: hounsfield.dask against
dask-image on the same OME-Zarr store, in one run. Prints one JSON line per tool.

    target/peers/bin/python benches/scale/dask_pipeline.py [--size 256] [--chunk 64]
        [--workers 2] [--out DIR] [--store-results] [--only TOOL]

With --store-results (for volumes larger than memory, e.g. --size 1024 --chunk 512) each tool
writes its smoothed volume and labels to OME-Zarr arrays under DIR instead of returning them,
and the check compares the component counts and three random 128^3 crops (or the whole volume when smaller) (smoothed values to
1e-5, labels one to one within the crop).

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
import zarr
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
    return smooth, labels, count


def dask_image(path):
    array = da.from_zarr(path, component="0")
    smooth = ndfilters.gaussian_filter(array, SIGMA_MM / SPACING[0], truncate=4.0)
    labels, count = ndmeasure.label(smooth >= LEVEL)
    return smooth, labels, count


def compute(graph, out, name):
    """The results in memory, or (--store-results) written to arrays under `out`."""
    smooth, labels, count = graph
    if out is None:
        return dask.compute(smooth, labels, count)
    stem = os.path.join(out, name.replace(".", "_"))
    writes = [da.to_zarr(a, f"{stem}-{what}.zarr", compute=False, overwrite=True)
              for a, what in [(smooth, "smooth"), (labels, "labels")]]
    _, _, n = dask.compute(*writes, count)
    return zarr.open_array(f"{stem}-smooth.zarr"), zarr.open_array(f"{stem}-labels.zarr"), n


def check_crops(results, size):
    """Stored results: equal counts; three random 128^3 crops agree."""
    (s1, l1, c1), (s2, l2, c2) = results["hounsfield.dask"], results["dask-image"]
    assert int(c1) == int(c2), (int(c1), int(c2))
    rng = np.random.default_rng(7)
    for _ in range(3):
        side = min(128, size)
        z, y, x = rng.integers(0, size - side + 1, 3)
        crop = np.s_[z:z + side, y:y + side, x:x + side]
        a, b = s1[crop], s2[crop]
        assert np.abs(a - b).max() <= 1e-5, np.abs(a - b).max()
        la, lb = l1[crop], l2[crop]
        fg = (la > 0) & (lb > 0)
        assert not np.any((la > 0) != (lb > 0)) or np.all(np.abs(a[(la > 0) != (lb > 0)] - LEVEL)
                                                          <= 1e-5)
        pairs = np.unique(np.stack([la[fg], lb[fg]]), axis=1)
        assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
        print(f"# crop at {(int(z), int(y), int(x))}: smoothed within "
              f"{float(np.abs(a - b).max()):.1e}, {pairs.shape[1]} labels one to one", flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--chunk", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default=None)
    p.add_argument("--store-results", action="store_true")
    p.add_argument("--only", choices=["hounsfield.dask", "dask-image"], default=None,
                   help="time one tool alone (no comparison)")
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
            if args.only not in (None, name):
                continue
            t = time.perf_counter()
            results[name] = compute(run(store), out if args.store_results else None, name)
            seconds[name] = time.perf_counter() - t
            print(f"# {name}: {seconds[name]:.1f} s", flush=True)
    if args.only:
        report(args, seconds, int(results[args.only][2]))
        return
    if args.store_results:
        check_crops(results, args.size)
        report(args, seconds, int(results["hounsfield.dask"][2]))
        return
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
    report(args, seconds, int(c1))


def report(args, seconds, components):
    for name in seconds:
        print(json.dumps({"bench": "dask_pipeline", "tool": name, "size": args.size,
                          "chunk": args.chunk, "workers": args.workers,
                          "components": components, "seconds": round(seconds[name], 2),
                          "ratio_vs_ours": round(seconds[name] / seconds["hounsfield.dask"], 2)
                          if "hounsfield.dask" in seconds else None}))


if __name__ == "__main__":
    main()
