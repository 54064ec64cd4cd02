"""Times nibabel and SimpleITK reading the NIfTI benchmark inputs (make_inputs.py), one thread.

nibabel: nib.load(path, mmap=False) then np.asanyarray(img.dataobj) (all stored int16 voxels
read, no float conversion). SimpleITK: ReadImage then GetArrayViewFromImage (no copy). Median of
5 runs.
"""

import json
import os
import pathlib
import statistics
import time

import nibabel as nib
import numpy as np
import SimpleITK as sitk

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
data = pathlib.Path(os.environ.get("HOUNSFIELD_BENCH_DATA", "../../target/bench-data"))


def median_time(fn, runs=5):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


for name in ["niigz/ct_300x512x512.nii.gz", "nii/ct_300x512x512.nii"]:
    path = str(data / name)
    nb = median_time(lambda: int(np.asanyarray(nib.load(path, mmap=False).dataobj)[0, 0, 0]))

    def read_sitk():
        image = sitk.ReadImage(path)  # kept alive while its array view is used
        return int(sitk.GetArrayViewFromImage(image)[0, 0, 0])

    it = median_time(read_sitk)
    for tool, t in (("nibabel", nb), ("SimpleITK", it)):
        print(json.dumps({"bench": f"read {name}", "tool": tool, "median_s": t, "mb_per_s": 157286400 / t / 1e6}))
