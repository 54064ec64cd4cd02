"""Filters against scipy.ndimage on the same arrays (tolerances stated per test)."""

import threading

import numpy as np
import pytest
from scipy import ndimage

import hounsfield as hf
from hounsfield import filters


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(7)
    return ndimage.gaussian_filter(rng.random((24, 28, 32)), 1.5).astype(np.float32)


SPACING = (0.5, 0.8, 2.0)  # x, y, z mm


def test_gaussian_matches_scipy(image):
    sigma_mm = (1.0, 1.6, 3.0)
    ours = filters.gaussian(image, sigma_mm, spacing=SPACING)
    # scipy's sigma is in voxels along the array axes (z, y, x).
    ref = ndimage.gaussian_filter(image.astype(np.float64), (1.5, 2.0, 2.0), truncate=4.0)
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    for mode in ["nearest", "mirror", "wrap", "constant"]:
        ours = filters.gaussian(image, 1.0, mode=mode, cval=0.25)
        ref = ndimage.gaussian_filter(image.astype(np.float64), 1.0, mode=mode, cval=0.25)
        np.testing.assert_allclose(ours, ref, atol=1e-5, err_msg=mode)


def test_volume_in_volume_out(image):
    v = hf.Volume(image, SPACING, (1.0, 2.0, 3.0))
    out = filters.gaussian(v, 1.0)
    assert isinstance(out, hf.Volume) and out.spacing == v.spacing and out.origin == v.origin
    with pytest.raises(ValueError, match="spacing comes from the Volume"):
        filters.gaussian(v, 1.0, spacing=(1, 1, 1))


def test_median_and_box_mean_match_scipy(image):
    q = (image * 1000).astype(np.int16)
    # radius 1 mm over (0.5, 0.8, 2.0) mm voxels: 2, 1, 0 voxels along x, y, z.
    np.testing.assert_array_equal(filters.median(q, 1.0, spacing=SPACING),
                                  ndimage.median_filter(q, size=(1, 3, 5), mode="reflect"))
    np.testing.assert_allclose(filters.box_mean(image, (1, 2, 3)),
                               ndimage.uniform_filter(image.astype(np.float64), (7, 5, 3)),
                               atol=1e-5)


def test_threshold_label_and_morphology_match_scipy(image):
    mask = filters.threshold(image, 0.52)
    np.testing.assert_array_equal(mask, (image >= 0.52).astype(np.uint8))
    for connectivity, rank in [(6, 1), (18, 2), (26, 3)]:
        labels, count = filters.label(mask, connectivity)
        ref, ref_count = ndimage.label(mask, ndimage.generate_binary_structure(3, rank))
        assert count == ref_count
        np.testing.assert_array_equal(labels, ref)  # both number in C order
    cross = ndimage.generate_binary_structure(3, 1)
    np.testing.assert_array_equal(filters.dilate(mask, 1.0, element="cross"),
                                  ndimage.binary_dilation(mask, cross))
    np.testing.assert_array_equal(filters.erode(mask, 1.0, element="box"),
                                  ndimage.binary_erosion(mask, np.ones((3, 3, 3))))
    shell = np.zeros((9, 9, 9), np.uint8)
    shell[1:8, 1:8, 1:8] = 1
    shell[3:6, 3:6, 3:6] = 0
    np.testing.assert_array_equal(filters.fill_holes(shell), ndimage.binary_fill_holes(shell))


def test_otsu_separates_two_classes():
    a = np.zeros((10, 10, 10), np.float32)
    a[5:] = 100.0
    t = filters.otsu_threshold(a)
    assert 0.0 <= t < 100.0


def test_resample_keeps_extent_and_values():
    v = hf.Volume(np.full((10, 12, 14), 5.0, np.float32), (1.0, 1.0, 2.0), (3.0, 4.0, 5.0))
    out = filters.resample(v, (2.0, 2.0, 2.0))
    assert out.spacing == (2.0, 2.0, 2.0)
    np.testing.assert_allclose(out.array, 5.0, atol=1e-5)  # a constant stays constant


def test_bad_parameters_raise_library_errors(image):
    with pytest.raises(hf.HounsfieldError, match="sigma"):
        filters.gaussian(image, -1.0)
    with pytest.raises(ValueError, match="unknown mode"):
        filters.gaussian(image, 1.0, mode="bogus")
    with pytest.raises(ValueError, match="expected a 3D array"):
        filters.median(image[0], 1.0)
    with pytest.raises(ValueError, match="connectivity must be 6, 18 or 26"):
        filters.label(image > 0.5, 4)


def test_native_calls_release_the_gil():
    # A Python thread counts while a long native call runs: with the GIL held it could not.
    a = np.random.default_rng(1).random((64, 64, 64)).astype(np.float32)
    counter, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        before = counter[0]
        filters.median(a, 3.0)  # a 7^3 median over 262k voxels: long enough to count on
        during = counter[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 1000, f"the counting thread advanced only {during} times"


def test_unaligned_arrays_are_accepted():
    # Arrays unpickled by Dask workers or cut from byte buffers may be unaligned; a Rust view of
    # one must not be made (it used to panic).
    a = np.random.default_rng(2).random((6, 7, 8)).astype(np.float32)
    raw = np.zeros(a.nbytes + 1, np.uint8)
    unaligned = np.frombuffer(raw.data, dtype=np.float32, count=a.size, offset=1).reshape(a.shape)
    unaligned = unaligned.copy() if unaligned.flags.aligned else unaligned
    raw[1:] = np.frombuffer(a.tobytes(), np.uint8)
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(filters.gaussian(unaligned, 1.0), filters.gaussian(a, 1.0))
    np.testing.assert_array_equal(filters.label(unaligned > 0.5)[0], filters.label(a > 0.5)[0])
    from hounsfield import ct
    g = ct.ScanGeometry.parallel_2d(ct.uniform_angles(4, np.pi), cols=10, spacing=1.0)
    grid = ct.ImageGrid((7, 8))
    np.testing.assert_array_equal(ct.project(g, grid, unaligned[0]), ct.project(g, grid, a[0]))
