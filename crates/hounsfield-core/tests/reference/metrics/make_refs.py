"""Reference values for hounsfield-core's metrics, computed by scikit-image and scipy.

Run with the peers venv (cargo xtask peers), from this directory:

    ../../../../../target/peers/bin/python make_refs.py

It writes the input arrays (raw little-endian, C order) and refs.json. The Rust test
tests/metrics_reference.rs reads both; nothing here is computed by Hounsfield.
"""

import json
import platform

import numpy as np
import scipy
import scipy.ndimage as ndi
import skimage
from scipy.spatial import distance
from skimage.metrics import (
    hausdorff_distance,
    mean_squared_error,
    peak_signal_noise_ratio,
    structural_similarity,
)

rng = np.random.default_rng(20261121)


def smooth_image(shape, sigma):
    """Random smooth field plus a ramp, so SSIM sees structure, contrast and luminance."""
    field = ndi.gaussian_filter(rng.standard_normal(shape), sigma)
    field /= field.std()
    ramp = np.linspace(-1.0, 1.0, shape[-1])
    return (field + ramp).astype(np.float32)


def degrade(a, noise, blur):
    b = ndi.gaussian_filter(a.astype(np.float64), blur) + noise * rng.standard_normal(a.shape)
    return b.astype(np.float32)


def save(name, array):
    array.astype(array.dtype.newbyteorder("<")).tofile(name)
    return name


def intensity_case(name, shape, data_range):
    a = smooth_image(shape, 2.0)
    b = degrade(a, 0.15, 0.8)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ssim = lambda **kw: float(  # noqa: E731
        structural_similarity(
            a64, b64, data_range=data_range, gaussian_weights=True, use_sample_covariance=False, **kw
        )
    )
    return {
        "shape_zyx": [1, *shape] if len(shape) == 2 else list(shape),
        "a": save(f"{name}_a.f32", a),
        "b": save(f"{name}_b.f32", b),
        "data_range": data_range,
        "psnr": float(peak_signal_noise_ratio(a64, b64, data_range=data_range)),
        "rmse": float(np.sqrt(mean_squared_error(a64, b64))),
        "mae": float(np.mean(np.abs(a64 - b64))),
        "ssim": ssim(sigma=1.5),
        "ssim_sigma_1": ssim(sigma=1.0),
    }


def ellipsoid(shape, centre, radii, wobble):
    z, y, x = np.indices(shape, dtype=np.float64)
    r = ((z - centre[0]) / radii[0]) ** 2 + ((y - centre[1]) / radii[1]) ** 2 + ((x - centre[2]) / radii[2]) ** 2
    bumps = wobble * ndi.gaussian_filter(rng.standard_normal(shape), 2.0)
    return r + bumps < 1.0


def border(mask):
    return mask & ~ndi.binary_erosion(mask, structure=ndi.generate_binary_structure(3, 1))


def directed(a_border, b_border, sampling):
    dist_to_b = ndi.distance_transform_edt(~b_border, sampling=sampling)
    return dist_to_b[a_border]


def hd(a, b, spacing_xyz, q):
    sampling = spacing_xyz[::-1]  # array axes are (z, y, x)
    ab, bb = border(a), border(b)
    return float(
        max(np.percentile(directed(ab, bb, sampling), q), np.percentile(directed(bb, ab, sampling), q))
    )


def mask_case():
    shape = (30, 34, 38)
    a = ellipsoid(shape, (14, 16, 18), (10, 12, 14), 0.3)
    b = ellipsoid(shape, (15, 17, 16), (9, 13, 13), 0.3)
    b[0:3, 0:4, 0:5] = True  # a detached corner blob touching the array edge: a long tail for HD
    spacing_xyz = [0.8, 1.1, 2.5]
    av, bv = a.ravel(), b.ravel()
    return {
        "shape_zyx": list(shape),
        "a": save("mask_a.u8", a.astype(np.uint8)),
        "b": save("mask_b.u8", b.astype(np.uint8)),
        "spacing_xyz": spacing_xyz,
        "dice": 1.0 - float(distance.dice(av, bv)),
        "jaccard": 1.0 - float(distance.jaccard(av, bv)),
        "hd95": hd(a, b, spacing_xyz, 95),
        "hd50": hd(a, b, spacing_xyz, 50),
        "hd100": hd(a, b, spacing_xyz, 100),
        # Independent check of the border-to-border distance with unit spacing: skimage's
        # Hausdorff distance between the two border point sets.
        "hd100_unit_spacing_skimage": float(hausdorff_distance(border(a), border(b))),
    }


refs = {
    "generated_by": "make_refs.py",
    "versions": {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-image": skimage.__version__,
    },
    "image_2d": intensity_case("image_2d", (64, 80), 4.0),
    "image_3d": intensity_case("image_3d", (20, 24, 28), 4.0),
    "masks": mask_case(),
}
with open("refs.json", "w") as f:
    json.dump(refs, f, indent=2)
    f.write("\n")
print(json.dumps(refs, indent=2))
