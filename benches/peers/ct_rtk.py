"""FDK peer: RTK's CPU FDKConeBeamReconstructionFilter (itk-rtk) against `hounsfield ct reconstruct`
on the benchmark's cone-beam problem (benches/benches/ct.rs): a 128^3 grid of 1 mm voxels, 256
views over 360 degrees of a 192^2 panel of 1.6 mm pixels, source 400 mm from the axis and 800 mm
from the detector; the 3D Shepp-Logan projected by `hounsfield ct project` (exact line integrals).

Prints one JSON line per tool: the time of one reconstruction on one thread and the PSNR (data
range 1) against the phantom inside the central cylinder (radius 50 mm, |z| < 40 mm: the part
every view sees), RTK's volume mirrored and transposed to whichever of our axis orders fits best
(RTK rotates about y and has its own angle sense); and RTK's RMS difference from our volume there.
Run from this folder:

    ../../target/peers/bin/python ct_rtk.py
"""

import itertools
import json
import os
import subprocess
from importlib.metadata import version

import itk
import nibabel
import numpy as np
from itk import RTK as rtk

from inputs import best_time, hounsfield_binary, work_dir

work = work_dir("ct")
binary = hounsfield_binary()
N, VIEWS, PIXELS, PITCH, SOD, SDD = 128, 256, 192, 1.6, 400.0, 800.0
scan = work / "cone128.toml"
scan.write_text(
    f"[grid]\nshape = [{N}, {N}, {N}]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"cone\"\n"
    f"angles = {{ count = {VIEWS}, span_degrees = 360 }}\n"
    f"detector = {{ cols = {PIXELS}, rows = {PIXELS}, col_spacing = {PITCH}, row_spacing = {PITCH} }}\n"
    f"source_origin = {SOD}\nsource_detector = {SDD}\n"
)
env = dict(os.environ, RAYON_NUM_THREADS="1")
run = lambda *a: subprocess.run([str(binary), *a], check=True, env=env, capture_output=True)
run("ct", "phantom", str(scan), str(work / "cone_phantom.nii"))
run("ct", "project", str(scan), str(work / "cone_proj.nii"))

# nibabel gives x-fastest arrays as (x, y, z): transpose to C order (z, y, x) / (views, rows, cols).
truth = np.asarray(nibabel.load(work / "cone_phantom.nii").dataobj).T
proj = np.ascontiguousarray(np.asarray(nibabel.load(work / "cone_proj.nii").dataobj).T, dtype=np.float32)
z, y, x = np.indices((N, N, N)) - (N - 1) / 2
mask = (np.hypot(x, y) < 50) & (np.abs(z) < 40)


def psnr(image):
    return float(10 * np.log10(1.0 / np.mean((image[mask] - truth[mask]) ** 2)))


itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(1)
Image = itk.Image[itk.F, 3]
projections = itk.image_from_array(proj)  # ITK size (cols, rows, views): u along x, v along y
half = (PIXELS - 1) / 2 * PITCH
projections.SetSpacing([PITCH, PITCH, 1.0])
projections.SetOrigin([-half, -half, 0.0])
geometry = rtk.ThreeDCircularProjectionGeometry.New()
for k in range(VIEWS):
    geometry.AddProjection(SOD, SDD, 360.0 * k / VIEWS, 0.0, 0.0)
volume = rtk.ConstantImageSource[Image].New()
volume.SetOrigin([-(N - 1) / 2] * 3)
volume.SetSpacing([1.0] * 3)
volume.SetSize([N] * 3)
volume.SetConstant(0.0)
fdk = rtk.FDKConeBeamReconstructionFilter[Image].New()
fdk.SetInput(0, volume.GetOutput())
fdk.SetInput(1, projections)
fdk.SetGeometry(geometry)
fdk.SetNumberOfWorkUnits(1)
fdk.GetRampFilter().SetTruncationCorrection(0.0)
fdk.GetRampFilter().SetHannCutFrequency(0.0)


def rtk_fdk():
    fdk.Modified()
    fdk.Update()
    return itk.array_from_image(fdk.GetOutput()).copy()  # (z, y, x) of RTK's axes


rtk_fdk()  # warm-up (FFT plans)
theirs, seconds = best_time(rtk_fdk, repeat=3)
# RTK rotates about its y axis, which is our z: move it first, then try the in-plane orders and
# mirrorings.
theirs = np.moveaxis(theirs, 1, 0)
candidates = []
for transpose, flips in itertools.product([False, True], itertools.product([False, True], repeat=3)):
    c = np.swapaxes(theirs, 1, 2) if transpose else theirs
    for axis, flip in enumerate(flips):
        if flip:
            c = np.flip(c, axis)
    candidates.append(c)
theirs = max(candidates, key=psnr)
print(json.dumps({"tool": "itk-rtk " + version("itk-rtk"),
                  "method": "FDKConeBeamReconstructionFilter (CPU, one ITK thread, Ram-Lak)",
                  "psnr_db": round(psnr(theirs), 2), "seconds": round(seconds, 3)}))


def ours():
    run("ct", "reconstruct", str(work / "cone_proj.nii"), str(work / "cone_fdk.nii"))
    return np.asarray(nibabel.load(work / "cone_fdk.nii").dataobj).T


image, seconds = ours(), None
_, seconds = best_time(ours, repeat=3)
print(json.dumps({"tool": "hounsfield", "method": "FDK (ct reconstruct, incl. process start and NIfTI I/O)",
                  "psnr_db": round(psnr(image), 2), "seconds": round(seconds, 3)}))
print(json.dumps({"check": "RTK vs hounsfield FDK inside the central cylinder",
                  "rms_difference": float(np.sqrt(np.mean((image[mask] - theirs[mask]) ** 2)))}))
