"""What nibabel reads from NIfTI files, as JSON: `python describe.py FILE...` prints one object
mapping each file to its description (see make_corpus.py). Used by make_corpus.py and by the
round-trip test, which has nibabel read the files hounsfield-io wrote."""

import hashlib
import json
import sys

import nibabel as nib
import numpy as np


def volumes_of(img):
    """(frame, component) -> unscaled float64 3D array in nibabel's (x, y, z) axes."""
    raw = np.asanyarray(img.dataobj.get_unscaled()) if hasattr(img.dataobj, "get_unscaled") else img.get_data()
    dt = img.get_data_dtype()
    if dt.names:  # RGB24 / RGBA32
        comps = [raw[name].astype(np.float64) for name in dt.names]
    elif np.iscomplexobj(raw):
        comps = [raw.real.astype(np.float64), raw.imag.astype(np.float64)]
    else:
        comps = [raw.astype(np.float64)]
    shape = comps[0].shape
    spatial = shape[:3] + (1,) * (3 - len(shape[:3]))
    frames = int(np.prod(shape[3:])) if len(shape) > 3 else 1
    out = []
    for t in range(frames):
        for c in comps:
            flat = c.reshape(spatial + (frames,), order="F")[..., t]
            out.append(flat)
    return out


def describe(path):
    img = nib.load(str(path))
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti1Pair, nib.Nifti2Image)):
        img = nib.Nifti2Image.from_filename(str(path))  # CIFTI-2: read the plain NIfTI-2 container
    # On load nibabel moves the scaling from the header to the array proxy.
    slope, inter = float(img.dataobj.slope), float(img.dataobj.inter)
    vols = volumes_of(img)
    scaled = [v * slope + inter for v in vols]
    fdata_sum = float(sum(np.nansum(v) for v in scaled))
    nan_count = int(sum(np.isnan(v).sum() for v in scaled))
    return {
        "shape": [int(s) for s in img.shape],
        "dtype": str(img.get_data_dtype()),
        "affine": img.affine.tolist(),
        "axcodes": "".join(nib.aff2axcodes(img.affine)),
        "slope": slope,
        "inter": inter,
        "volumes": [hashlib.sha256(v.ravel(order="F").astype("<f8").tobytes()).hexdigest() for v in vols],
        "scaled_sum": fdata_sum,
        "nan_count": nan_count,
    }


if __name__ == "__main__":
    result = {}
    for path in sys.argv[1:]:
        try:
            result[path] = describe(path)
        except Exception as e:  # noqa: BLE001 - reported to the caller
            result[path] = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))
