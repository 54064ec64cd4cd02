"""Times SimpleITK (GDCM) and pydicom reading the DICOM benchmark series (make_inputs.py), one
thread: 300 slices of 512 x 512 int16, explicit VR little endian and RLE Lossless.

SimpleITK: ImageSeriesReader over the sorted file names (GetGDCMSeriesFileNames, which sorts by
position), then GetArrayViewFromImage (no copy). pydicom: dcmread every file, pixel_array into a
preallocated int16 stack (RLE through pylibjpeg-rle, its fastest decoder). Median of 3 runs.
"""

import json
import os
import pathlib

import numpy as np
import pydicom
import SimpleITK as sitk
from inputs import median_time

sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
data = pathlib.Path(os.environ.get("HOUNSFIELD_BENCH_DATA", "../../target/bench-data"))
VOXEL_BYTES = 300 * 512 * 512 * 2


for name in ["dicom-native", "dicom-rle"]:
    folder = str(data / name)

    def read_sitk():
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
        image = reader.Execute()
        return int(sitk.GetArrayViewFromImage(image)[0, 0, 0])

    def read_pydicom():
        files = sorted(pathlib.Path(folder).glob("*.dcm"))
        stack = np.empty((len(files), 512, 512), dtype=np.int16)
        for i, f in enumerate(files):
            stack[i] = pydicom.dcmread(f).pixel_array
        return int(stack[0, 0, 0])

    for tool, fn in (("SimpleITK", read_sitk), ("pydicom", read_pydicom)):
        t = median_time(fn, runs=3)
        print(json.dumps({"bench": f"read {name}", "tool": tool, "median_s": t, "mb_per_s": VOXEL_BYTES / t / 1e6}))
