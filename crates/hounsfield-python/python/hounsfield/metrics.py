"""Image and segmentation metrics, defined as scikit-image and MONAI define them.

Arguments are ``Volume``\\ s or numpy arrays of 2 or 3 dimensions (a 2D array is one slice).
"""

from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np

from . import _native
from .volume import Volume, as_native

Image = Union[Volume, np.ndarray]


def _array(x: Image) -> np.ndarray:
    a = np.asarray(x.array if isinstance(x, Volume) else x)
    if a.ndim == 2:
        a = a[np.newaxis]
    return as_native(a)


def _spacing(a: Image, b: Image, spacing: Optional[Sequence[float]]) -> Sequence[float]:
    """The voxel spacing of a pair: given, or the Volumes' (which must agree), else 1 mm."""
    found = [tuple(x.spacing) for x in (a, b) if isinstance(x, Volume)]
    if spacing is not None:
        if any(not np.allclose(f, tuple(spacing), rtol=1e-9) for f in found):
            raise ValueError(f"spacing {tuple(spacing)} disagrees with the Volumes' {found}")
        return spacing
    if len(found) == 2 and not np.allclose(found[0], found[1], rtol=1e-9):
        raise ValueError(f"the two Volumes have different spacings: {found[0]} and {found[1]}")
    return found[0] if found else (1.0, 1.0, 1.0)


def mse(reference: Image, test: Image) -> float:
    """Mean squared error."""
    return _native.intensity_metric("mse", _array(reference), _array(test))


def rmse(reference: Image, test: Image) -> float:
    """Root mean squared error."""
    return _native.intensity_metric("rmse", _array(reference), _array(test))


def mae(reference: Image, test: Image) -> float:
    """Mean absolute error."""
    return _native.intensity_metric("mae", _array(reference), _array(test))


def psnr(reference: Image, test: Image, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB for values spanning ``data_range`` (no default:
    guessing it from the data is how PSNR goes wrong)."""
    return _native.intensity_metric("psnr", _array(reference), _array(test), float(data_range))


def ssim(reference: Image, test: Image, data_range: float, sigma: float = 1.5) -> float:
    """Mean structural similarity with a Gaussian window of ``sigma`` voxels (scikit-image's
    ``structural_similarity(gaussian_weights=True, use_sample_covariance=False)``)."""
    return _native.ssim(_array(reference), _array(test), float(data_range), float(sigma))


def dice(a: Image, b: Image) -> float:
    """Dice coefficient of the non-zero voxels."""
    return _native.overlap_metric("dice", _array(a), _array(b))


def jaccard(a: Image, b: Image) -> float:
    """Jaccard index (IoU) of the non-zero voxels."""
    return _native.overlap_metric("jaccard", _array(a), _array(b))


def hausdorff(reference: Image, test: Image, percentile: float = 95.0,
              spacing: Optional[Sequence[float]] = None) -> float:
    """The ``percentile`` Hausdorff distance between the masks' surfaces in mm (95: HD95;
    100: the classic Hausdorff distance). Spacing from a ``Volume`` or ``spacing`` (x, y, z)."""
    spacing = _spacing(reference, test, spacing)
    return _native.hausdorff(_array(reference), _array(test),
                             tuple(float(s) for s in spacing), float(percentile))


def hd95(reference: Image, test: Image, spacing: Optional[Sequence[float]] = None) -> float:
    """95th percentile Hausdorff distance in mm (MONAI's ``compute_hausdorff_distance``)."""
    return hausdorff(reference, test, 95.0, spacing)
