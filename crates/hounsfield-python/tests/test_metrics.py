"""Metrics against scikit-image and closed forms."""

import numpy as np
import pytest

import hounsfield as hf
from hounsfield import metrics


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(11)
    ref = rng.random((12, 40, 44)).astype(np.float32)
    return ref, np.clip(ref + rng.normal(0, 0.05, ref.shape), 0, 1).astype(np.float32)


def test_psnr_and_ssim_match_skimage(pair):
    skm = pytest.importorskip("skimage.metrics")
    ref, test = pair
    assert metrics.psnr(ref, test, 1.0) == pytest.approx(
        skm.peak_signal_noise_ratio(ref, test, data_range=1.0), abs=1e-4)
    assert metrics.ssim(ref, test, 1.0) == pytest.approx(
        skm.structural_similarity(ref, test, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False), abs=1e-4)
    # One 2D slice.
    assert metrics.ssim(ref[5], test[5], 1.0) == pytest.approx(
        skm.structural_similarity(ref[5], test[5], data_range=1.0, gaussian_weights=True,
                                  sigma=1.5, use_sample_covariance=False), abs=1e-4)
    d = ref.astype(np.float64) - test
    assert metrics.mse(ref, test) == pytest.approx(np.mean(d * d), rel=1e-6)
    assert metrics.mae(ref, test) == pytest.approx(np.mean(np.abs(d)), rel=1e-6)


def test_overlap_and_surface_distance():
    z, y, x = np.mgrid[:40, :40, :40]
    r = np.sqrt((x - 20) ** 2 + (y - 20) ** 2 + (z - 20) ** 2)
    a, b = r <= 10, r <= 12
    inter = np.logical_and(a, b).sum()
    assert metrics.dice(a, b) == pytest.approx(2 * inter / (a.sum() + b.sum()), rel=1e-12)
    assert metrics.jaccard(a, b) == pytest.approx(inter / np.logical_or(a, b).sum(), rel=1e-12)
    # Spheres of radius 10 and 12 voxels: every surface point is 2 voxels (here 1.5 mm each)
    # from the other surface, to within a voxel's discretisation.
    assert metrics.hd95(a, b, spacing=(1.5, 1.5, 1.5)) == pytest.approx(3.0, abs=1.5)
    with pytest.raises(hf.HounsfieldError):
        metrics.hd95(np.zeros((4, 4, 4), bool), b[:4, :4, :4])
    with pytest.raises(hf.HounsfieldError, match="data_range"):
        metrics.psnr(a, b, 0.0)
