"""Whole commands against the same jobs done from Python, one thread each, load and save included:
what a user waits for, process start-up and imports on both sides.

Inputs (target/bench-data/cli, made once): 256^3 f32 .nii files of 1 mm voxels (the `ssim_pair`
pattern of inputs.py), the same pattern with (1, 1, 2.5) mm voxels, and a gyroid of 4 periods.

| job | hounsfield | Python |
|---|---|---|
| Gaussian sigma 2 mm | filter gaussian --sigma 2 | nibabel + scipy.ndimage.gaussian_filter(sigma=2) |
| median 3^3 | filter median --radius 1 | nibabel + scipy.ndimage.median_filter(size=3) |
| linear resample to 1 mm | filter resample --spacing 1 | SimpleITK ReadImage + ResampleImageFilter + WriteImage |
| isosurface at 0, STL | mesh --level 0 | nibabel + vtkFlyingEdges3D + vtkSTLWriter (binary) |

Prints one JSON line per job with the median of 5 runs of each side. Run from this folder:
    ../../target/peers/bin/python cli_peers.py
"""

import json
import os
import statistics
import subprocess
import sys
import time

import nibabel
import numpy as np

from inputs import hounsfield_binary, ssim_pair, work_dir

work = work_dir("cli")
binary = str(hounsfield_binary())
env = dict(os.environ, RAYON_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
           ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="1")

pattern, gyroid_path, coarse = work / "pattern.nii", work / "gyroid.nii", work / "pattern_2p5.nii"
if not (pattern.exists() and gyroid_path.exists() and coarse.exists()):
    a, _ = ssim_pair(256)
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(a.transpose(2, 1, 0)), np.eye(4)), pattern)
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(a.transpose(2, 1, 0)), np.diag([1, 1, 2.5, 1])), coarse)
    i = np.arange(256, dtype=np.float64)
    z, y, x = np.meshgrid(i, i, i, indexing="ij")
    k = 2 * np.pi / 64
    g = (np.sin(k * x) * np.cos(k * y) + np.sin(k * y) * np.cos(k * z) + np.sin(k * z) * np.cos(k * x)).astype(np.float32)
    nibabel.save(nibabel.Nifti1Image(np.ascontiguousarray(g.transpose(2, 1, 0)), np.eye(4)), gyroid_path)

PYTHON_JOBS = {
    "gaussian": """
import sys, nibabel, numpy as np
from scipy import ndimage
img = nibabel.load(sys.argv[1])
out = ndimage.gaussian_filter(np.asarray(img.dataobj, dtype=np.float32), 2.0, truncate=4.0, mode="mirror")
nibabel.save(nibabel.Nifti1Image(out, img.affine), sys.argv[2])
""",
    "median": """
import sys, nibabel, numpy as np
from scipy import ndimage
img = nibabel.load(sys.argv[1])
out = ndimage.median_filter(np.asarray(img.dataobj, dtype=np.float32), size=3, mode="mirror")
nibabel.save(nibabel.Nifti1Image(out, img.affine), sys.argv[2])
""",
    "resample": """
import sys, SimpleITK as sitk
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
img = sitk.ReadImage(sys.argv[1])
size = [int(round(n * s)) for n, s in zip(img.GetSize(), img.GetSpacing())]
out = sitk.Resample(img, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(), (1.0, 1.0, 1.0),
                    img.GetDirection(), 0.0, sitk.sitkFloat32)
sitk.WriteImage(out, sys.argv[2])
""",
    "mesh": """
import sys, nibabel, numpy as np, vtk
from vtk.util import numpy_support
vtk.vtkSMPTools.SetBackend("Sequential")
img = nibabel.load(sys.argv[1])
a = np.asarray(img.dataobj, dtype=np.float32)
image = vtk.vtkImageData()
image.SetDimensions(*a.shape)
image.GetPointData().SetScalars(numpy_support.numpy_to_vtk(a.ravel(order="F"), deep=True))
fe = vtk.vtkFlyingEdges3D()
fe.SetInputData(image)
fe.SetValue(0, 0.0)
fe.ComputeNormalsOff(); fe.ComputeGradientsOff(); fe.ComputeScalarsOff()
writer = vtk.vtkSTLWriter()
writer.SetInputConnection(fe.GetOutputPort())
writer.SetFileTypeToBinary()
writer.SetFileName(sys.argv[2])
writer.Write()
""",
}

JOBS = [
    ("gaussian", pattern, "out.nii", ["filter", "gaussian", "IN", "OUT", "--sigma", "2"]),
    ("median", pattern, "out.nii", ["filter", "median", "IN", "OUT", "--radius", "1"]),
    ("resample", coarse, "out.nii", ["filter", "resample", "IN", "OUT", "--spacing", "1"]),
    ("mesh", gyroid_path, "out.stl", ["mesh", "IN", "OUT", "--level", "0", "--open"]),
]


def timed(cmd, runs=5):
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


only = sys.argv[1:]
for name, source, out_name, args in JOBS:
    if only and name not in only:
        continue
    out = work / f"ours_{out_name}"
    ours = timed([binary] + [str(source) if a == "IN" else str(out) if a == "OUT" else a for a in args] + ["--quiet"])
    theirs = timed([sys.executable, "-c", PYTHON_JOBS[name], str(source), str(work / f"peer_{out_name}")])
    print(json.dumps({"job": name, "hounsfield_s": round(ours, 3), "python_s": round(theirs, 3),
                      "ratio": round(theirs / ours, 2)}), flush=True)
