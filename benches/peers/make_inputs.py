"""Writes the large benchmark inputs into target/bench-data (once; skips files that exist).

niigz/ct_300x512x512.nii.gz: a CT-like int16 volume (air, body ellipse, bone ring, noise), 150 MiB
of voxels, gzipped at level 6 as dcm2niix (pigz -6) writes it; nii/ct_300x512x512.nii: the same,
uncompressed. They live in separate folders because SimpleITK (nifti1_io), asked for X.nii.gz,
silently reads an X.nii lying beside it.
"""

import gzip
import pathlib
import shutil
import sys

import nibabel as nib
import numpy as np

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../../target/bench-data")
out.mkdir(parents=True, exist_ok=True)
nii = out / "nii" / "ct_300x512x512.nii"
niigz = out / "niigz" / "ct_300x512x512.nii.gz"
nii.parent.mkdir(exist_ok=True)
niigz.parent.mkdir(exist_ok=True)
if not nii.exists():
    rng = np.random.default_rng(1)
    y, x = np.mgrid[-256:256, -256:256].astype(np.float32)
    r = (x / 200) ** 2 + (y / 160) ** 2
    slice_ = np.where(r < 1, 40.0, -1000.0).astype(np.float32)
    slice_[(r > 0.8) & (r < 0.9)] = 900.0
    vol = np.empty((512, 512, 300), dtype=np.int16)
    for z in range(300):
        vol[:, :, z] = (slice_ * (1 + 0.1 * np.sin(z / 30)) + rng.normal(0, 20, slice_.shape)).astype(np.int16).T
    aff = np.diag([0.7, 0.7, 1.0, 1.0])
    nib.save(nib.Nifti1Image(vol, aff, dtype=np.int16), str(nii))
if not niigz.exists():
    with open(nii, "rb") as src, gzip.open(niigz, "wb", compresslevel=6) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
for p in (nii, niigz):
    print(p, p.stat().st_size)
