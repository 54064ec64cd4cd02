"""Reading and writing against nibabel, SimpleITK and zarr-python, on the shared real data."""

import numpy as np
import pytest

import hounsfield as hf


def test_nifti_matches_nibabel(shared):
    nib = pytest.importorskip("nibabel")
    path = shared / "mricron" / "ch2bet.nii.gz"
    v = hf.read(path)
    img = nib.load(path)
    # Exact voxels (nibabel's array is (x, y, z)); affine to 1e-5 mm.
    np.testing.assert_array_equal(v.array.T, np.asanyarray(img.dataobj))
    np.testing.assert_allclose(v.ras_affine, img.affine, atol=1e-5)
    assert v.array.dtype == np.asanyarray(img.dataobj).dtype


def test_dicom_series_matches_simpleitk(shared):
    sitk = pytest.importorskip("SimpleITK")
    series = shared / "dicom2nifti" / "anatomical" / "001"
    v = hf.read(series)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(series)))
    ref = reader.Execute()
    # Place every voxel in the patient frame both ways: the same voxel value must sit at the
    # same point (to 1e-3 mm), whatever slice order each reader chose.
    ref_array = sitk.GetArrayFromImage(ref)
    assert v.array.shape == ref_array.shape
    ref_affine = np.eye(4)
    ref_affine[:3, :3] = np.asarray(ref.GetDirection()).reshape(3, 3) * np.asarray(ref.GetSpacing())
    ref_affine[:3, 3] = ref.GetOrigin()
    corners = np.array([[0, 0, 0, 1], [v.array.shape[2] - 1, v.array.shape[1] - 1,
                                       v.array.shape[0] - 1, 1]], dtype=float)
    ours = {tuple(np.round((v.affine @ c)[:3], 3)) for c in corners}
    theirs = {tuple(np.round((ref_affine @ c)[:3], 3)) for c in corners}
    assert ours == theirs
    if np.allclose(v.affine, ref_affine, atol=1e-3):
        np.testing.assert_array_equal(v.array, ref_array.astype(v.array.dtype))
    else:  # opposite slice order
        np.testing.assert_array_equal(v.array[::-1], ref_array.astype(v.array.dtype))


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".zarr"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64])
def test_round_trip(tmp_path, suffix, dtype):
    rng = np.random.default_rng(3)
    array = (rng.random((9, 10, 11)) * 100).astype(dtype)
    c, s = np.cos(0.3), np.sin(0.3)
    direction = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    v = hf.Volume(array, (0.5, 0.75, 2.5), (-10.0, 20.0, 30.5), direction)
    path = tmp_path / f"v{suffix}"
    hf.write(path, v, chunk=(4, 4, 4) if suffix == ".zarr" else None)
    back = hf.read(path)
    np.testing.assert_array_equal(back.array, array)
    assert back.array.dtype == array.dtype
    # NIfTI stores the affine in float32 (sform); OME-Zarr in float64.
    np.testing.assert_allclose(back.affine, v.affine, atol=1e-5)


def test_zarr_read_by_zarr_python(tmp_path):
    zarr = pytest.importorskip("zarr")
    array = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    hf.write(tmp_path / "a.zarr", hf.Volume(array, (1.0, 2.0, 3.0)), chunk=(2, 3, 4))
    group = zarr.open_group(tmp_path / "a.zarr", mode="r")
    np.testing.assert_array_equal(group["0"][:], array)


def test_integer_and_bool_arrays_are_narrowed_or_refused(tmp_path):
    hf.write(tmp_path / "b.nii", hf.Volume(np.ones((2, 2, 2), bool)))
    assert hf.read(tmp_path / "b.nii").array.dtype == np.uint8
    hf.write(tmp_path / "i.nii", hf.Volume(np.full((2, 2, 2), 7, np.int64)))
    assert hf.read(tmp_path / "i.nii").array.dtype == np.int32
    with pytest.raises(ValueError, match="beyond the int32 range"):
        hf.write(tmp_path / "j.nii", hf.Volume(np.full((2, 2, 2), 2**40, np.int64)))
    with pytest.raises(TypeError, match="unsupported element type complex"):
        hf.write(tmp_path / "c.nii", hf.Volume(np.zeros((2, 2, 2), complex)))


def test_errors_name_the_file(tmp_path):
    missing = tmp_path / "nothing.nii.gz"
    with pytest.raises(hf.HounsfieldError, match="nothing.nii.gz"):
        hf.read(missing)
    garbage = tmp_path / "garbage.nii"
    garbage.write_bytes(b"not an image at all" * 30)
    with pytest.raises(hf.HounsfieldError, match="garbage.nii"):
        hf.read(garbage)
    with pytest.raises(hf.HounsfieldError, match="unknown output extension"):
        hf.write(tmp_path / "x.png", hf.Volume(np.zeros((2, 2, 2), np.uint8)))
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(hf.HounsfieldError):
        hf.write(tmp_path / "no" / "dir" / "x.nii", hf.Volume(np.zeros((2, 2, 2), np.uint8)))


def test_nibabel_convention_round_trip(shared):
    nib = pytest.importorskip("nibabel")
    img = nib.load(shared / "mricron" / "ch2bet.nii.gz")
    v = hf.Volume.from_ras_affine(np.asanyarray(img.dataobj), img.affine)
    np.testing.assert_allclose(v.ras_affine, img.affine, atol=1e-9)
    np.testing.assert_array_equal(v.array, hf.read(shared / "mricron" / "ch2bet.nii.gz").array)
