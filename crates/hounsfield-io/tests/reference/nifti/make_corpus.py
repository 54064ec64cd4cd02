"""NIfTI files written by nibabel, and what nibabel reads from them, for hounsfield-io's tests.

Run in the peers venv (cargo xtask peers), from this directory:

    ../../../../../target/peers/bin/python make_corpus.py [HOUNSFIELD_TESTDATA]

Writes corpus/*.nii* (small images covering every datatype, both byte orders, pairs, NIfTI-2,
scaling, qform/sform/fallback transforms, 4D/5D, 2D, extensions) and corpus.json; with the test
data directory it also describes nibabel's own test files in testdata.json. For each image the
JSON holds nibabel's shape, dtype, best affine, scaling, and per 3D volume (frame, component) the
SHA-256 of its unscaled values as little-endian float64 in x-fastest order, plus the sum of the
scaled data ignoring NaN and the NaN count (slope 1, intercept 0 when unscaled).
"""

import json
import pathlib
import struct
import sys

import nibabel as nib
import numpy as np

from describe import describe

rng = np.random.default_rng(7)
out = pathlib.Path("corpus")
out.mkdir(exist_ok=True)

OBLIQUE = np.array(
    [
        [-0.9, 0.1, 0.0, 90.0],
        [0.05, 0.95, -0.3, -120.0],
        [0.0, 0.28, 2.4, 35.0],
        [0.0, 0.0, 0.0, 1.0],
    ]
)


def save(name, data, affine=OBLIQUE, cls=nib.Nifti1Image, endian=None, tweak=None, dtype=None):
    hdr = cls.header_class(endianness=endian) if endian else None
    if endian or (data.dtype.kind in "iu" and data.dtype.itemsize == 8):
        # An explicit header would impose its default float32, and nibabel asks for an explicit
        # choice of 64-bit integers: name the dtype.
        dtype = dtype or data.dtype
    img = cls(data, affine, header=hdr, dtype=dtype) if dtype is not None else cls(data, affine, header=hdr)
    if tweak:
        tweak(img)
    nib.save(img, str(out / name))
    return name


def values(dtype, shape=(5, 4, 3)):
    info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
    if info is not None:
        lo, hi = max(info.min, -(2**40)), min(info.max, 2**40)
        return rng.integers(lo, hi, size=shape, endpoint=True).astype(dtype)
    return (rng.standard_normal(shape) * 100).astype(dtype)


files = []
for dt in ["u1", "i1", "u2", "i2", "u4", "i4", "i8", "u8", "f4", "f8"]:
    files.append(save(f"dtype_{dt}.nii", values(np.dtype(dt))))
files.append(save("dtype_c8.nii", (values(np.float32) + 1j * values(np.float32)).astype(np.complex64)))
files.append(save("dtype_c16.nii", (values(np.float64) + 1j * values(np.float64)).astype(np.complex128)))
rgb = np.zeros((5, 4, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
rgba = np.zeros((5, 4, 3), dtype=[("R", "u1"), ("G", "u1"), ("B", "u1"), ("A", "u1")])
for arr in (rgb, rgba):
    for name in arr.dtype.names:
        arr[name] = rng.integers(0, 255, size=arr.shape)
files.append(save("dtype_rgb24.nii", rgb))
files.append(save("dtype_rgba32.nii", rgba))
# Big-endian files.
files.append(save("be_i2.nii", values(np.dtype(">i2")), endian=">"))
files.append(save("be_f4.nii.gz", values(np.dtype(">f4")), endian=">"))
files.append(save("be_f8_4d.nii", values(np.dtype(">f8"), (5, 4, 3, 2)), endian=">"))
files.append(save("be_c8.nii", (values(np.float32) + 1j * values(np.float32)).astype(">c8"), endian=">"))
# Compression and pairs.
files.append(save("gz_i2.nii.gz", values(np.int16)))
files.append(save("pair_i2.img", values(np.int16), cls=nib.Nifti1Pair))
files.append(save("pairgz_f4.img.gz", values(np.float32), cls=nib.Nifti1Pair))
# NIfTI-2.
files.append(save("v2_f4.nii", values(np.float32), cls=nib.Nifti2Image))
files.append(save("v2_be_i2.nii.gz", values(np.dtype(">i2")), cls=nib.Nifti2Image, endian=">"))
# Scaling. nibabel's writer recomputes scl_slope/scl_inter, so they are patched in afterwards
# (offsets 112 and 116 of a little-endian NIfTI-1 header).
def patch_scaling(name, slope, inter):
    with open(out / name, "r+b") as f:
        f.seek(112)
        f.write(struct.pack("<ff", slope, inter))
    return name
files.append(patch_scaling(save("scaled_i2.nii", values(np.int16)), 2.5, -3.0))
files.append(patch_scaling(save("slope_zero_i2.nii", values(np.int16)), 0.0, 7.0))
# Transforms: qform only (with a left-handed rotation, qfac -1), none, sheared sform.
def qform_only(img):
    aff = np.diag([0.5, 0.75, 2.0, 1.0])
    aff[:3, 3] = [10, 20, 30]
    img.set_qform(aff, code=1)
    img.set_sform(None, code=0)
files.append(save("qform_only.nii", values(np.int16), tweak=qform_only))
def qform_rotated(img):
    c, s = np.cos(0.4), np.sin(0.4)
    aff = np.array([[c, -s, 0, 5], [s, c, 0, -7], [0, 0, 1, 9], [0, 0, 0, 1]]) @ np.diag([1.2, 0.9, 3.0, 1])
    img.set_qform(aff, code=2)
    img.set_sform(None, code=0)
files.append(save("qform_rotated.nii", values(np.float32), tweak=qform_rotated))
def no_xform(img):
    img.header.set_zooms((0.5, 0.75, 2.0))
files.append(save("no_xform.nii", values(np.int16), affine=None, tweak=no_xform))  # no affine: codes 0
sheared = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0], [0.0, 0.0, 2.0, 0.0], [0, 0, 0, 1]])
files.append(save("sheared_sform.nii", values(np.int16), affine=sheared))
# Shapes: 4D, 5D, 2D, single voxel.
files.append(save("fourd_f4.nii.gz", values(np.float32, (5, 4, 3, 6))))
files.append(save("fived_i2.nii", values(np.int16, (5, 4, 3, 2, 3))))
files.append(save("twod_u1.nii", values(np.uint8, (6, 5))))
files.append(save("single_voxel_f4.nii", values(np.float32, (1, 1, 1))))
# An extension (a comment, code 6).
def extension(img):
    img.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"hounsfield test extension"))
files.append(save("extension_i2.nii", values(np.int16), tweak=extension))

corpus = {name: describe(out / name) for name in files}
with open("corpus.json", "w") as f:
    json.dump({"nibabel": nib.__version__, "numpy": np.__version__, "files": corpus}, f, indent=1)
    f.write("\n")
print(f"{len(corpus)} corpus files")

if len(sys.argv) > 1:
    data = pathlib.Path(sys.argv[1]) / "nibabel/nibabel/tests/data"
    refs = {}
    for p in sorted(data.iterdir()):
        if p.name.endswith((".nii", ".nii.gz")):
            try:
                refs[p.name] = describe(p)
            except Exception as e:  # noqa: BLE001 - recorded: our reader must refuse it too
                refs[p.name] = {"error": f"{type(e).__name__}: {e}"}
    with open("testdata.json", "w") as f:
        json.dump({"nibabel": nib.__version__, "files": refs}, f, indent=1)
        f.write("\n")
    print(f"{len(refs)} nibabel test files")
