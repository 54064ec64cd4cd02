"""What pydicom decodes from its own test files, for hounsfield-io's comparison test.

Run in the peers venv, from this directory:

    ../../../../../target/peers/bin/python make_pydicom_refs.py HOUNSFIELD_TESTDATA

For every .dcm in pydicom's test_files and pydicom-data's data_store (keys are paths relative
to HOUNSFIELD_TESTDATA): the shape pydicom's pixel_array has, and per frame and
sample the SHA-256 of the values after apply_modality_lut, rounded to float32 and stored as
little-endian float64 (so integer and float outputs compare alike), plus their sum. Files pydicom
cannot decode are recorded with its error. Lossy JPEG (baseline and extended) is decoded with the
Pillow plugin (libjpeg-turbo, as GDCM, dcm2niix and most viewers decode it) where Pillow can;
other files, and 12-bit JPEG, with pydicom's default plugin order (pylibjpeg first); the plugin
is recorded.
"""

import hashlib
import json
import pathlib
import sys

import numpy as np
import pydicom
from pydicom.pixels import apply_modality_lut

LOSSY_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
root = pathlib.Path(sys.argv[1])
paths = sorted((root / "pydicom/pydicom/data/test_files").glob("*.dcm"))
paths += sorted((root / "pydicom-data/data_store/data").glob("*.dcm"))
refs = {}
for path in paths:
    name = str(path.relative_to(root))
    try:
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            refs[name] = {"error": "no PixelData"}
            continue
        plugin = "default"
        if str(ds.file_meta.TransferSyntaxUID) in LOSSY_JPEG:
            try:
                ds.pixel_array_options(decoding_plugin="pillow")
                ds.pixel_array
                plugin = "pillow"
            except Exception:  # noqa: BLE001 - Pillow cannot (12-bit): the default decodes
                ds = pydicom.dcmread(path)
        arr = apply_modality_lut(ds.pixel_array, ds)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        samples = int(ds.get("SamplesPerPixel", 1))
        a = np.asarray(arr, dtype=np.float64).reshape(frames, int(ds.Rows), int(ds.Columns), samples)
        planes = []
        for f in range(frames):
            for s in range(samples):
                v = a[f, :, :, s].astype(np.float32).astype("<f8")
                planes.append({"sha256": hashlib.sha256(v.tobytes()).hexdigest(), "sum": float(v.sum())})
        refs[name] = {
            "frames": frames,
            "rows": int(ds.Rows),
            "columns": int(ds.Columns),
            "samples": samples,
            "transfer_syntax": str(ds.file_meta.TransferSyntaxUID),
            "plugin": plugin,
            "planes": planes,
        }
    except Exception as e:  # noqa: BLE001 - recorded
        refs[name] = {"error": f"{type(e).__name__}: {e}"[:300]}
with open("pydicom_refs.json", "w") as f:
    json.dump({"pydicom": pydicom.__version__, "files": refs}, f, indent=1)
    f.write("\n")
ok = sum("error" not in v for v in refs.values())
print(f"{ok} of {len(refs)} files decoded by pydicom")
for k, v in refs.items():
    if "error" in v:
        print("  pydicom refuses", k, v["error"][:100])
