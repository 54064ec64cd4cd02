"""Defects a new-user session found (2026-12-06), each pinned by a test."""

import numpy as np
import pytest

import hounsfield as hf
from hounsfield import filters, mesh, metrics


def test_huge_radii_are_parameter_errors_not_panics_or_hangs():
    a = np.zeros((8, 8, 8), np.float32)
    with pytest.raises(hf.HounsfieldError, match="beyond 50 per axis"):
        filters.median(a, 2e6)  # used to overflow the window size (a Rust panic)
    with pytest.raises(hf.HounsfieldError, match="beyond 65536 per axis"):
        filters.box_mean(a, 2**40)  # used to run for minutes, deaf to Ctrl-C


def test_vector_nifti_is_refused_not_read_as_frames(tmp_path):
    nib = pytest.importorskip("nibabel")
    img = nib.Nifti1Image(np.zeros((3, 4, 5, 1, 3), np.float32), np.eye(4))
    img.header.set_intent("vector")
    nib.save(img, tmp_path / "vec.nii")
    with pytest.raises(hf.HounsfieldError, match="vec.nii.*vector and higher-dimensional"):
        hf.read(tmp_path / "vec.nii")


def test_hausdorff_takes_the_spacing_of_either_volume_and_refuses_disagreement():
    m1 = np.zeros((20, 20, 20), np.uint8)
    m1[5:15, 5:15, 5:15] = 1
    m2 = np.roll(m1, 2, 0)  # two slices of 3 mm along z
    assert metrics.hd95(hf.Volume(m1, (1, 1, 3)), hf.Volume(m2, (1, 1, 3))) == pytest.approx(6.0)
    assert metrics.hd95(m1, hf.Volume(m2, (1, 1, 3))) == pytest.approx(6.0)
    with pytest.raises(ValueError, match="different spacings"):
        metrics.hd95(hf.Volume(m1), hf.Volume(m2, (1, 1, 3)))


def test_big_endian_arrays_are_read_as_their_values():
    a = np.arange(60, dtype=">i2").reshape(3, 4, 5)
    np.testing.assert_array_equal(filters.threshold(a, 30), (a >= 30).astype(np.uint8))


def test_mesh_faces_must_be_integers_in_range(tmp_path):
    v = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="out of range"):
        mesh.write_mesh(tmp_path / "b.ply", mesh.Mesh(v, np.array([[0, 1, 2**32 + 2]])))
    with pytest.raises(TypeError, match="integers"):
        mesh.write_mesh(tmp_path / "b.ply", mesh.Mesh(v, np.array([[0, 1.7, 2]])))
    with pytest.raises(TypeError, match="hounsfield.Volume"):
        hf.write(tmp_path / "a.nii", np.zeros((2, 2, 2)))


def test_dask_declares_the_types_and_reaches_beyond_small_arrays():
    da = pytest.importorskip("dask.array")
    from hounsfield import dask as hdask
    x = da.from_array(np.arange(1000, dtype=np.int64).reshape(10, 10, 10), chunks=5)
    out = hdask.median(x, 1.0)
    assert out.dtype == out.compute().dtype == np.int32
    # A reach beyond the array (20 voxels over 16): that axis runs whole, as in memory.
    a = np.random.default_rng(0).random((16, 40, 40)).astype(np.float32)
    smooth = hdask.gaussian(da.from_array(a, chunks=16), 5.0).compute()
    np.testing.assert_array_equal(smooth, filters.gaussian(a, 5.0))
    with pytest.raises(ValueError, match="finite"):
        hdask.median(x, float("nan"))


def test_zarr_groups_without_an_ngff_image_are_named_and_box_radii_are_whole_voxels(tmp_path):
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(tmp_path / "old.zarr", mode="w", zarr_format=2)
    group.create_array("0", shape=(4, 4, 4), dtype="f4")
    with pytest.raises(hf.HounsfieldError, match="old.zarr.*no NGFF multiscales"):
        hf.read(tmp_path / "old.zarr")
    with pytest.raises(ValueError, match="whole numbers"):
        filters.box_mean(np.zeros((4, 4, 4), np.float32), 1.7)


def test_resample_of_a_bare_array_names_what_it_needs():
    with pytest.raises(TypeError, match="needs a hounsfield.Volume"):
        filters.resample(np.zeros((4, 4, 4), np.float32), (1.0, 1.0, 1.0))
