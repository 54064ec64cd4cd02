"""hounsfield.dask: block-by-block results equal the in-memory ones exactly, agree with
dask-image, and run on a 2-worker LocalCluster (the issue's 192 x 160 x 224 volume in 32^3
chunks)."""

import numpy as np
import pytest
from scipy import ndimage

import hounsfield as hf
from hounsfield import filters

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
hdask = pytest.importorskip("hounsfield.dask")

SHAPE = (192, 160, 224)
CHUNKS = (32, 32, 32)
SPACING = (0.8, 0.9, 1.2)  # x, y, z mm


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(20)
    a = ndimage.gaussian_filter(rng.random(SHAPE, dtype=np.float32), 2.0)
    a = (a - a.min()) / (a.max() - a.min())
    # A tube along the main diagonal: one component through many chunks.
    t = np.linspace(0, 1, 800)
    z, y, x = [np.round(t * (n - 1)).astype(int) for n in SHAPE]
    for dz, dy, dx in np.ndindex(2, 2, 2):  # 2-voxel cubes, overlapping: 6-connected
        a[np.minimum(z + dz, SHAPE[0] - 1), np.minimum(y + dy, SHAPE[1] - 1),
          np.minimum(x + dx, SHAPE[2] - 1)] = 1.0
    return a.astype(np.float32)


@pytest.fixture(scope="module")
def mask(image):
    return filters.threshold(image, 0.56)


def darr(a):
    return da.from_array(a, chunks=CHUNKS)


def test_gaussian_equals_in_memory_and_dask_image(image):
    ndfilters = pytest.importorskip("dask_image.ndfilters")
    ours = hdask.gaussian(darr(image), 2.0, spacing=SPACING).compute()
    np.testing.assert_array_equal(ours, filters.gaussian(image, 2.0, spacing=SPACING))
    sigma_zyx = tuple(2.0 / s for s in SPACING[::-1])
    ref = ndfilters.gaussian_filter(darr(image), sigma_zyx, truncate=4.0).compute()
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_median_equals_in_memory_and_dask_image(image):
    ndfilters = pytest.importorskip("dask_image.ndfilters")
    q = (image * 1000).astype(np.int16)
    ours = hdask.median(darr(q), 1.0, spacing=(1.0, 1.0, 1.0)).compute()
    np.testing.assert_array_equal(ours, filters.median(q, 1.0))
    ref = ndfilters.median_filter(darr(q), size=3).compute()
    np.testing.assert_array_equal(ours, ref)


def test_threshold_and_morphology_equal_in_memory(image, mask):
    ndmorph = pytest.importorskip("dask_image.ndmorph")
    np.testing.assert_array_equal(hdask.threshold(darr(image), 0.56).compute(), mask)
    for name in ["dilate", "erode", "opening", "closing"]:
        ours = getattr(hdask, name)(darr(mask), 2.0, spacing=SPACING).compute()
        np.testing.assert_array_equal(
            ours, getattr(filters, name)(mask, 2.0, spacing=SPACING), err_msg=name)
    cross = ndimage.generate_binary_structure(3, 1)
    ref = ndmorph.binary_dilation(darr(mask.astype(bool)), cross).compute()
    np.testing.assert_array_equal(hdask.dilate(darr(mask), 1.0, element="cross").compute(), ref)


def chunks_of(labels, value):
    z, y, x = np.nonzero(labels == value)
    return len({(a // 32, b // 32, c // 32) for a, b, c in zip(z, y, x)})


@pytest.mark.parametrize("connectivity", [6, 26])
def test_labels_equal_in_memory_and_match_dask_image(mask, connectivity):
    ndmeasure = pytest.importorskip("dask_image.ndmeasure")
    labels, count = hdask.label(darr(mask), connectivity)
    labels, count = dask.compute(labels, count)
    ref, ref_count = filters.label(mask, connectivity)
    assert count == ref_count
    np.testing.assert_array_equal(labels, ref)
    # The diagonal tube is one component through more than 10 chunks.
    assert chunks_of(labels, labels[0, 0, 0]) > 10
    structure = ndimage.generate_binary_structure(3, 1 if connectivity == 6 else 3)
    # dask-image in 8 blocks: its graph grows with the square of the block count (68,776
    # tasks for 64 blocks of 32^3), too slow for 245 blocks here; the labels must correspond
    # whatever the chunking.
    theirs, their_count = ndmeasure.label(da.from_array(mask, chunks=(96, 80, 112)), structure)
    theirs, their_count = dask.compute(theirs, their_count)
    assert int(their_count) == count
    fg = labels > 0
    np.testing.assert_array_equal(fg, theirs > 0)
    pairs = np.unique(np.stack([labels[fg], theirs[fg]]), axis=1)
    # One-to-one: as many distinct pairs as labels, each side's labels all distinct.
    assert pairs.shape[1] == count
    assert len(np.unique(pairs[0])) == count and len(np.unique(pairs[1])) == count


def test_pipeline_on_a_local_cluster(tmp_path, image):
    # As on a real cluster: the workers read the chunks from an OME-Zarr store themselves.
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("zarr")
    hf.write(tmp_path / "image.zarr", hf.Volume(image, SPACING), chunk=CHUNKS)
    array, geometry = hdask.open_zarr(tmp_path / "image.zarr")
    smooth = hdask.gaussian(array, 1.0, spacing=geometry["spacing"])
    graph = hdask.label(hdask.threshold(smooth, 0.55))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        labels, count = dask.compute(*graph)
    ref, ref_count = filters.label(filters.threshold(
        filters.gaussian(image, 1.0, spacing=SPACING), 0.55))
    assert count == ref_count
    np.testing.assert_array_equal(labels, ref)


def test_zarr_store_through_dask(tmp_path, image):
    pytest.importorskip("zarr")
    v = hf.Volume(image[:64, :64, :64], SPACING, (1.0, 2.0, 3.0))
    hf.write(tmp_path / "v.zarr", v, chunk=(32, 32, 32))
    array, geometry = hdask.open_zarr(tmp_path / "v.zarr")
    assert array.chunks == ((32, 32), (32, 32), (32, 32))
    assert geometry["spacing"] == SPACING and geometry["origin"] == (1.0, 2.0, 3.0)
    out = hdask.gaussian(array, 1.5, spacing=geometry["spacing"]).compute()
    np.testing.assert_array_equal(out, filters.gaussian(v, 1.5).array)
    with pytest.raises(hf.HounsfieldError, match="not a Zarr"):
        hdask.open_zarr(tmp_path / "missing.zarr")


def test_wrong_input_is_refused():
    # Unknown block sizes (boolean indexing) would misplace seams and halos: refused.
    a = da.ones((8, 8, 8), chunks=4, dtype=np.float32)
    unknown = a[a[:, 0, 0] > 0]
    for run in (lambda: hdask.label(unknown > 0), lambda: hdask.gaussian(unknown, 1.0)):
        with pytest.raises(ValueError, match="compute_chunk_sizes"):
            run()
    with pytest.raises(TypeError, match="expected a dask array"):
        hdask.gaussian(np.zeros((4, 4, 4), np.float32), 1.0)
    with pytest.raises(ValueError, match="3D"):
        hdask.label(da.zeros((4, 4), chunks=2))
    with pytest.raises(ValueError, match="connectivity"):
        hdask.label(da.zeros((4, 4, 4), chunks=2), 8)
