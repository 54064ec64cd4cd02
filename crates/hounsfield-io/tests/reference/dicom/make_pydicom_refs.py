"""What pydicom decodes from its own test files, for hounsfield-io's comparison test.

Run in the peers venv, from this directory:

    ../../../../../target/peers/bin/python make_pydicom_refs.py HOUNSFIELD_TESTDATA

For every .dcm in pydicom's test_files: the shape pydicom's pixel_array has, and per frame and
sample the SHA-256 of the values after apply_modality_lut, rounded to float32 and stored as
little-endian float64 (so integer and float outputs compare alike), plus their sum. Files pydicom
cannot decode are recorded with its error.
"""

import hashlib
import json
import pathlib
import sys

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

data = pathlib.Path(sys.argv[1]) / "pydicom/pydicom/data/test_files"
refs = {}
for path in sorted(data.glob("*.dcm")):
    try:
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            refs[path.name] = {"error": "no PixelData"}
            continue
        arr = apply_modality_lut(ds.pixel_array, ds)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1))
        a = np.asarray(arr, dtype=np.float64).reshape(frames, int(ds.Rows), int(ds.Columns), samples)
        planes = []
        for f in range(frames):
            for s in range(samples):
                v = a[f, :, :, s].astype(np.float32).astype("<f8")
                planes.append({"sha256": hashlib.sha256(v.tobytes()).hexdigest(), "sum": float(v.sum())})
        refs[path.name] = {
            "frames": frames,
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "samples": samples,
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "planes": planes,
        }
    except Exception as e:  # noqa: BLE001 - recorded
        refs[path.name] = {"error": f"{type(e).__name__}: {e}"[:300]}
with open("pydicom_refs.json", "w") as f:
    json.dump({"pydicom": pydicom.__version__, "files": refs}, f, indent=1)
    f.write("\n")
ok = sum("error" not in v for v in refs.values())
print(f"{ok} of {len(refs)} files decoded by pydicom")
for k, v in refs.items():
    if "error" in v:
        print("  pydicom refuses", k, v["error"][:100])
