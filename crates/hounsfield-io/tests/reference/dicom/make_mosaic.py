"""Siemens mosaic test files and what nibabel's mosaic reader makes of them.

Run in the peers venv (pydicom, nibabel):

    python make_mosaic.py NICOM_DATA_DIR OUT_DIR

NICOM_DATA_DIR is nibabel/nicom/tests/data (siemens_dwi_0.dcm.gz, siemens_dwi_1000.dcm.gz).
Writes into OUT_DIR:
- dwi/siemens_dwi_0.dcm, dwi/siemens_dwi_1000.dcm: the two gunzipped files (a two-volume DWI
  series; their pixels are all zero, so they test geometry and tables, not tile order);
- pattern.dcm: siemens_dwi_1000 with random 12-bit pixels, so every tile differs;
- reversed.dcm: pattern.dcm with the CSA SliceNormalVector negated (tiles stacked against
  row x column) and without the series CSA header (whose protocol would contradict it);
- for each of siemens_dwi_0, siemens_dwi_1000, pattern and reversed: NAME.json (nibabel's
  affine in DICOM LPS, mapping (row, column, slice) indices, and the shape) and NAME.f64 (the
  volume as little-endian float64 in (slice, row, column) order).
"""

import gzip
import json
import pathlib
import sys

import numpy as np
import pydicom
from nibabel.nicom import csareader, dicomwrappers

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(out / "dwi").mkdir(parents=True, exist_ok=True)
for name in ("siemens_dwi_0", "siemens_dwi_1000"):
    (out / "dwi" / f"{name}.dcm").write_bytes(gzip.open(src / f"{name}.dcm.gz").read())

ds = pydicom.dcmread(out / "dwi" / "siemens_dwi_1000.dcm")
rng = np.random.RandomState(7)
ds.PixelData = rng.randint(0, 4096, size=(ds.Rows, ds.Columns)).astype("<u2").tobytes()
ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
ds.save_as(out / "pattern.dcm")

# Negate the CSA SliceNormalVector in place: each item's text keeps its length.
csa_tag = (0x0029, 0x1010)
blob = bytearray(ds[csa_tag].value)
info = csareader.read(bytes(blob))
normal = info["tags"]["SliceNormalVector"]["items"]
start = blob.index(b"SliceNormalVector")
for value in normal:
    text = f"{value:.8f}".encode()
    at = blob.index(text, start)
    flipped = f"{-value:.7f}".encode() if value != 0 else text
    assert len(flipped) == len(text), (text, flipped)
    blob[at : at + len(text)] = flipped
    start = at + len(text)
ds[csa_tag].value = bytes(blob)
del ds[(0x0029, 0x1020)]
ds.SOPInstanceUID = ds.SOPInstanceUID + ".8"
ds.save_as(out / "reversed.dcm")
assert csareader.get_slice_normal(csareader.read(bytes(blob)))[2] < 0

for name, path in [
    ("siemens_dwi_0", out / "dwi" / "siemens_dwi_0.dcm"),
    ("siemens_dwi_1000", out / "dwi" / "siemens_dwi_1000.dcm"),
    ("pattern", out / "pattern.dcm"),
    ("reversed", out / "reversed.dcm"),
]:
    w = dicomwrappers.wrapper_from_file(str(path))
    data = w.get_data()
    np.transpose(data, (2, 0, 1)).astype("<f8").tofile(out / f"{name}.f64")
    (out / f"{name}.json").write_text(
        json.dumps({"affine": w.affine.tolist(), "shape": list(data.shape)})
    )
print("mosaic references written to", out)
