"""Reference results from scipy.ndimage and scikit-image for tests/peer_reference.rs.

The test writes its input as raw little-endian arrays (C order, shape nz ny nx) and reads the
output this script writes the same way. Usage:

  filter_ref.py gaussian IN.f32 NZ NY NX SZ SY SX MODE CVAL OUT.f32   # scipy gaussian_filter, truncate 4
  filter_ref.py label IN.u8 NZ NY NX CONNECTIVITY OUT.i32              # scipy label, rank-3 structure
  filter_ref.py otsu IN.f32 NZ NY NX                                   # skimage threshold_otsu(nbins=256), printed
"""

import sys

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

op, path = sys.argv[1], sys.argv[2]
shape = tuple(int(v) for v in sys.argv[3:6])
if op == "gaussian":
    a = np.fromfile(path, dtype="<f4").reshape(shape)
    sigma = tuple(float(v) for v in sys.argv[6:9])
    out = ndimage.gaussian_filter(a, sigma=sigma, mode=sys.argv[9], cval=float(sys.argv[10]), truncate=4.0)
    out.astype("<f4").tofile(sys.argv[11])
elif op == "label":
    a = np.fromfile(path, dtype="u1").reshape(shape)
    structure = ndimage.generate_binary_structure(3, {"6": 1, "18": 2, "26": 3}[sys.argv[6]])
    labels, count = ndimage.label(a, structure=structure)
    labels.astype("<i4").tofile(sys.argv[7])
elif op == "otsu":
    a = np.fromfile(path, dtype="<f4").reshape(shape).astype(np.float64)
    print(repr(float(threshold_otsu(a, nbins=256))))
else:
    sys.exit(f"unknown op {op}")
