"""Times nibabel and SimpleITK reading the NIfTI benchmark inputs (make_inputs.py; the blocked gzip
file bgzf/ is written by `cargo bench --bench io`), one thread.

nibabel: nib.load(path, mmap=False) then np.asanyarray(img.dataobj) (all stored int16 voxels
read, no float conversion). SimpleITK: ReadImage then GetArrayViewFromImage (no copy). Median of
5 runs.
"""

import json
import os
import pathlib

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from inputs import median_time

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
data = pathlib.Path(os.environ.get("HOUNSFIELD_BENCH_DATA", "../../target/bench-data"))


for name in ["niigz/ct_300x512x512.nii.gz", "bgzf/ct_300x512x512.nii.gz", "nii/ct_300x512x512.nii"]:
    path = str(data / name)
    nb = median_time(lambda: int(np.asanyarray(nib.load(path, mmap=False).dataobj)[0, 0, 0]))

    def read_sitk():
        image = sitk.ReadImage(path)  # kept alive while its array view is used
        return int(sitk.GetArrayViewFromImage(image)[0, 0, 0])

    it = median_time(read_sitk)
    for tool, t in (("nibabel", nb), ("SimpleITK", it)):
        print(json.dumps({"bench": f"read {name}", "tool": tool, "median_s": t, "mb_per_s": 157286400 / t / 1e6}))
