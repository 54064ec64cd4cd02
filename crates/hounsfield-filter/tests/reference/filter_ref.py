"""Reference results from scipy.ndimage and scikit-image for tests/peer_reference.rs.

The test writes its input as raw little-endian arrays (C order, shape nz ny nx) and reads the
output this script writes the same way. Usage:

  filter_ref.py gaussian IN.f32 NZ NY NX SZ SY SX MODE CVAL OUT.f32   # scipy gaussian_filter, truncate 4
  filter_ref.py label IN.u8 NZ NY NX CONNECTIVITY OUT.i32              # scipy label, rank-3 structure
  filter_ref.py otsu IN.f32 NZ NY NX                                   # skimage threshold_otsu(nbins=256), printed
  filter_ref.py thresholds IN.f32 NZ NY NX   # skimage otsu, li, triangle (256 bins), multiotsu (3 classes), printed
  filter_ref.py resample IN.f32 NZ NY NX GEOMETRY_IN(15) SIZE_OUT(3) GEOMETRY_OUT(15) OUTSIDE OUT.f32
      # SimpleITK ResampleImageFilter, linear; a geometry is spacing(3) origin(3) direction(9, row-major)
  filter_ref.py morph IN.u8 NZ NY NX OP SX SY SZ RADIUS ELEMENT OUT.u8
      # scipy binary_dilation / binary_erosion with the ball, box or cross of RADIUS mm on that
      # spacing (border_value 0), or binary_fill_holes (OP fill)
  filter_ref.py rank IN.f32 NZ NY NX RZ RY RX RANK MODE CVAL OUT.f32
      # scipy rank_filter over the box of (2RZ+1, 2RY+1, 2RX+1)
  filter_ref.py bspline IN.f32 NZ NY NX COORDS.f64 OUT.f32
      # scipy map_coordinates(order=3, mode='mirror') at COORDS (3 x N: z, y, x indices)
  filter_ref.py uniform IN.f32 NZ NY NX RZ RY RX MODE OUT.f32     # scipy uniform_filter(size=2R+1)
  filter_ref.py gradient IN.f32 NZ NY NX SX SY SZ OUT.f32         # numpy.gradient, written gx gy gz
  filter_ref.py match IN.f32 NZ NY NX REF.f32 OUT.f32             # skimage match_histograms
  filter_ref.py canonical IN.nii[.gz] OUT.f32
      # nibabel as_closest_canonical: the data (in RAS index order, written z y x) and the affine
      # (printed, 16 numbers)
"""

import sys

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

op, path = sys.argv[1], sys.argv[2]
shape = tuple(int(v) for v in sys.argv[3:6]) if op != "canonical" else None
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
elif op == "thresholds":
    from skimage.filters import threshold_li, threshold_multiotsu, threshold_triangle

    a = np.fromfile(path, dtype="<f4").reshape(shape).astype(np.float64)
    values = [threshold_otsu(a, nbins=256), threshold_li(a), threshold_triangle(a, nbins=256)]
    values += list(threshold_multiotsu(a, classes=3, nbins=256))
    print(" ".join(repr(float(v)) for v in values))
elif op == "resample":
    import SimpleITK as sitk

    a = np.fromfile(path, dtype="<f4").reshape(shape)
    g_in = [float(v) for v in sys.argv[6:21]]
    size = [int(v) for v in sys.argv[21:24]]
    g_out = [float(v) for v in sys.argv[24:39]]
    image = sitk.GetImageFromArray(a)
    image.SetSpacing(g_in[0:3])
    image.SetOrigin(g_in[3:6])
    image.SetDirection(g_in[6:15])
    f = sitk.ResampleImageFilter()
    f.SetSize(size)
    f.SetOutputSpacing(g_out[0:3])
    f.SetOutputOrigin(g_out[3:6])
    f.SetOutputDirection(g_out[6:15])
    f.SetInterpolator(sitk.sitkLinear)
    f.SetDefaultPixelValue(float(sys.argv[39]))
    out = sitk.GetArrayFromImage(f.Execute(image))
    out.astype("<f4").tofile(sys.argv[40])
elif op == "morph":
    a = np.fromfile(path, dtype="u1").reshape(shape).astype(bool)
    kind = sys.argv[6]
    sx, sy, sz, radius = (float(v) for v in sys.argv[7:11])
    reach = [int(np.floor(radius / s * (1 + 1e-12))) for s in (sz, sy, sx)]
    dz, dy, dx = np.mgrid[-reach[0]:reach[0] + 1, -reach[1]:reach[1] + 1, -reach[2]:reach[2] + 1]
    element = sys.argv[11]
    if element == "ball":
        structure = (dz * sz) ** 2 + (dy * sy) ** 2 + (dx * sx) ** 2 <= radius * radius * (1 + 1e-12)
    elif element == "box":
        structure = np.ones(dz.shape, dtype=bool)
    else:
        structure = (dz == 0) & (dy == 0) | (dz == 0) & (dx == 0) | (dy == 0) & (dx == 0)
    if kind == "dilate":
        out = ndimage.binary_dilation(a, structure=structure)
    elif kind == "erode":
        out = ndimage.binary_erosion(a, structure=structure)
    else:
        out = ndimage.binary_fill_holes(a)
    out.astype("u1").tofile(sys.argv[12])
elif op == "rank":
    a = np.fromfile(path, dtype="<f4").reshape(shape)
    rz, ry, rx, rank = (int(v) for v in sys.argv[6:10])
    out = ndimage.rank_filter(a, rank, size=(2 * rz + 1, 2 * ry + 1, 2 * rx + 1), mode=sys.argv[10], cval=float(sys.argv[11]))
    out.astype("<f4").tofile(sys.argv[12])
elif op == "bspline":
    a = np.fromfile(path, dtype="<f4").reshape(shape).astype(np.float64)
    coords = np.fromfile(sys.argv[6], dtype="<f8").reshape(3, -1)
    out = ndimage.map_coordinates(a, coords, order=3, mode="mirror")
    out.astype("<f4").tofile(sys.argv[7])
elif op == "uniform":
    a = np.fromfile(path, dtype="<f4").reshape(shape)
    rz, ry, rx = (int(v) for v in sys.argv[6:9])
    out = ndimage.uniform_filter(a.astype(np.float64), size=(2 * rz + 1, 2 * ry + 1, 2 * rx + 1), mode=sys.argv[9])
    out.astype("<f4").tofile(sys.argv[10])
elif op == "gradient":
    a = np.fromfile(path, dtype="<f4").reshape(shape).astype(np.float64)
    sx, sy, sz = (float(v) for v in sys.argv[6:9])
    gz, gy, gx = np.gradient(a, sz, sy, sx)
    np.concatenate([gx.ravel(), gy.ravel(), gz.ravel()]).astype("<f4").tofile(sys.argv[9])
elif op == "match":
    from skimage.exposure import match_histograms

    a = np.fromfile(path, dtype="<f4").reshape(shape).astype(np.float64)
    ref = np.fromfile(sys.argv[6], dtype="<f4").astype(np.float64).reshape(-1, 1, 1)
    match_histograms(a, ref).astype("<f4").tofile(sys.argv[7])
elif op == "canonical":
    import nibabel as nib

    image = nib.as_closest_canonical(nib.load(path))
    np.asarray(image.dataobj, dtype="<f4").transpose(2, 1, 0).tofile(sys.argv[3])
    print(" ".join(repr(float(v)) for v in image.affine.ravel()))
else:
    sys.exit(f"unknown op {op}")
