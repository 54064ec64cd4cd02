"""CT peers on the issue's problem: 512^2 Shepp-Logan, 720 parallel views over 180 degrees, 512
detector pixels, the exact (analytic) sinogram written by `hounsfield ct project`.

Reconstructs it with ASTRA's CPU FBP (linear projector, Ram-Lak), scikit-image's iradon (ramp)
and `hounsfield ct reconstruct` (FBP), and prints one JSON line per tool with the PSNR inside the
scan circle (data range 1, against the phantom averaged over 16x16 points per pixel) and the
time of one reconstruction (one thread). Run from this folder:

    ../../target/peers/bin/python ct_astra.py
"""

import json
import os
import subprocess

import astra
import nibabel
import numpy as np
from skimage.transform import iradon

from inputs import best_time, hounsfield_binary, work_dir

work = work_dir("ct")
binary = hounsfield_binary()

N, VIEWS = 512, 720
scan = work / "parallel512.toml"
scan.write_text(
    "[grid]\nshape = [1, 512, 512]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"parallel2d\"\n"
    "angles = { count = 720, span_degrees = 180 }\ndetector = { cols = 512, col_spacing = 1.0 }\n"
)
env = dict(os.environ, RAYON_NUM_THREADS="1")
run = lambda *a: subprocess.run([str(binary), *a], check=True, env=env, capture_output=True)
run("ct", "phantom", str(scan), str(work / "phantom.nii"))
run("ct", "project", str(scan), str(work / "sino.nii"))

# Our volumes are x-fastest; nibabel returns (x, y, z): transpose to (row y, column x).
truth = np.asarray(nibabel.load(work / "phantom.nii").dataobj)[:, :, 0].T
sino = np.asarray(nibabel.load(work / "sino.nii").dataobj)[:, 0, :].T.astype(np.float32)  # (views, cols)
angles = np.arange(VIEWS) * np.pi / VIEWS
yy, xx = np.mgrid[:N, :N]
c = (N - 1) / 2
mask = np.hypot(xx - c, yy - c) <= N / 2


def psnr(image):
    return float(10 * np.log10(1.0 / np.mean((image[mask] - truth[mask]) ** 2)))


def best(images):
    """The PSNR of the best-aligned mirroring: tools differ in y direction and angle sense."""
    return max(psnr(i) for i in images)


def timed(f, repeat=3):
    f()  # warm-up
    return best_time(f, repeat)


# ASTRA: its 2D y axis points up; with our array as is, our angle θ is ASTRA's -θ
# (ScanGeometry::to_astra documents the mirroring).
vol = astra.create_vol_geom(N, N)
proj = astra.create_proj_geom("parallel", 1.0, N, -angles)
projector = astra.create_projector("linear", proj, vol)


def astra_fbp():
    sid = astra.data2d.create("-sino", proj, sino)
    rid = astra.data2d.create("-vol", vol)
    cfg = astra.astra_dict("FBP")
    cfg.update(ProjectorId=projector, ProjectionDataId=sid, ReconstructionDataId=rid)
    cfg["option"] = {"FilterType": "Ram-Lak"}
    alg = astra.algorithm.create(cfg)
    astra.algorithm.run(alg)
    out = astra.data2d.get(rid)
    astra.algorithm.delete(alg)
    astra.data2d.delete([sid, rid])
    return out


image, seconds = timed(astra_fbp)
print(json.dumps({"tool": "astra-toolbox " + astra.__version__, "method": "FBP (CPU, linear)",
                  "psnr_db": round(psnr(image), 2), "seconds": round(seconds, 3)}))

sk, seconds = timed(lambda: iradon(sino.T, theta=np.degrees(angles), filter_name="ramp",
                                   circle=True, output_size=N), repeat=1)
print(json.dumps({"tool": "scikit-image", "method": "iradon (ramp)",
                  "psnr_db": round(best([sk, sk[::-1], sk.T, sk[::-1].T, sk[:, ::-1], sk.T[::-1]]), 2),
                  "seconds": round(seconds, 3)}))


def ours():
    run("ct", "reconstruct", str(work / "sino.nii"), str(work / "fbp.nii"))
    return np.asarray(nibabel.load(work / "fbp.nii").dataobj)[:, :, 0].T


image, seconds = timed(ours)
print(json.dumps({"tool": "hounsfield", "method": "FBP (ct reconstruct, incl. process start and NIfTI I/O)",
                  "psnr_db": round(psnr(image), 2), "seconds": round(seconds, 3)}))

# Geometry conversion: `hounsfield ct astra` vectors given to ASTRA must describe the same rays.
# ASTRA's `linear` projector is Joseph's method like ours (expect agreement to rounding); its
# `line_fanflat` integrates along exact line lengths (expect ~1% from the discretisation, a
# mirrored or shifted geometry would be off by O(1)).
rng = np.random.default_rng(0)
smooth = np.zeros((64, 64), np.float32)
for _ in range(12):
    cy, cx, r = rng.uniform(12, 52), rng.uniform(12, 52), rng.uniform(3, 10)
    smooth += np.exp(-((yy[:64, :64] - cy) ** 2 + (xx[:64, :64] - cx) ** 2) / (2 * r * r)).astype(np.float32)
nibabel.save(nibabel.Nifti1Image(smooth.T[:, :, None].copy(), np.eye(4)), work / "smooth.nii")
for name, scan_text, projector_type in [
    ("parallel_vec", "type = \"parallel2d\"\nangles = { count = 45, span_degrees = 180, start_degrees = 7 }\n"
     "detector = { cols = 80, col_spacing = 0.9, col_offset = 1.3 }\n", "linear"),
    ("fanflat_vec", "type = \"fan2d\"\nangles = { count = 45, span_degrees = 360 }\n"
     "detector = { cols = 100, col_spacing = 1.5, col_offset = 2.0 }\nsource_origin = 100.0\nsource_detector = 180.0\n",
     "line_fanflat"),
]:
    path = work / f"{name}.toml"
    path.write_text("[grid]\nshape = [1, 64, 64]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\n" + scan_text)
    vec = json.loads(run("ct", "astra", str(path)).stdout)
    run("ct", "project", str(path), str(work / f"{name}.nii"), "--image", str(work / "smooth.nii"))
    ours_sino = np.asarray(nibabel.load(work / f"{name}.nii").dataobj)[:, 0, :].T
    pg = astra.create_proj_geom(vec["geometry_type"], vec["det_cols"], np.array(vec["vectors"]))
    pid = astra.create_projector(projector_type, pg, astra.create_vol_geom(64, 64))
    _, theirs = astra.create_sino(smooth, pid)
    rel = float(np.linalg.norm(theirs - ours_sino) / np.linalg.norm(theirs))
    print(json.dumps({"check": f"{name} from `hounsfield ct astra`", "astra_projector": projector_type,
                      "relative_difference": round(rel, 6)}))
