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


def _block_means(a):
    """Means of 2x2x2 blocks (cut short at odd far edges), by numpy."""
    padded = np.full([n + n % 2 for n in a.shape], np.nan)
    padded[:a.shape[0], :a.shape[1], :a.shape[2]] = a
    z, y, x = (n // 2 for n in padded.shape)
    return np.nanmean(padded.reshape(z, 2, y, 2, x, 2), axis=(1, 3, 5))


def test_zarr_pyramids_by_level(tmp_path):
    zarr = pytest.importorskip("zarr")
    rng = np.random.default_rng(5)
    image = rng.random((9, 12, 15)).astype(np.float32)
    v = hf.Volume(image, (0.5, 1.0, 2.0), (10.0, -4.0, 7.0))
    hf.write(tmp_path / "p.zarr", v, chunk=(4, 4, 4), pyramid=2)
    one = hf.read(tmp_path / "p.zarr", level=1)
    # Level 1: numpy's block means to 1e-6; voxel (0,0,0) at level 0's (0.5, 0.5, 0.5).
    np.testing.assert_allclose(one.array, _block_means(image), rtol=1e-6)
    np.testing.assert_allclose(one.spacing, (1.0, 2.0, 4.0))
    np.testing.assert_allclose(one.origin, (10.25, -3.5, 8.0))
    assert hf.read(tmp_path / "p.zarr", level=2).shape == (3, 3, 4)
    with pytest.raises(hf.HounsfieldError, match="level 3"):
        hf.read(tmp_path / "p.zarr", level=3)
    # zarr-python sees the levels NGFF lists.
    group = zarr.open_group(tmp_path / "p.zarr", mode="r")
    paths = [d["path"] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]
    assert paths == ["0", "1", "2"] and group["2"].shape == (3, 3, 4)
    # Labels keep their values: integer volumes take every second voxel by default.
    labels = rng.integers(0, 5, (8, 8, 8)).astype(np.uint8)
    hf.write(tmp_path / "l.zarr", hf.Volume(labels), pyramid=1)
    np.testing.assert_array_equal(hf.read(tmp_path / "l.zarr", level=1).array,
                                  labels[::2, ::2, ::2])
    with pytest.raises(hf.HounsfieldError, match="OME-Zarr store"):
        hf.write(tmp_path / "l.nii", hf.Volume(labels), pyramid=1)
    with pytest.raises(hf.HounsfieldError, match="mean or nearest"):
        hf.write(tmp_path / "m.zarr", hf.Volume(labels), pyramid=1, downsample="median")


def test_ome_zarr_0_4_from_zarr_python_needs_its_orientation(tmp_path):
    zarr = pytest.importorskip("zarr")
    numcodecs = pytest.importorskip("numcodecs")
    image = np.arange(4 * 5 * 6, dtype=np.uint16).reshape(4, 5, 6)
    group = zarr.open_group(tmp_path / "old.zarr", mode="w", zarr_format=2)
    group.create_array("0", shape=(1,) + image.shape, chunks=(1, 2, 2, 3), dtype="<u2",
                       compressors=numcodecs.Blosc(cname="zstd"), fill_value=0)[:] = image[None]
    group.attrs["multiscales"] = [{"version": "0.4", "axes": [
        {"name": "c", "type": "channel"}] + [
        {"name": n, "type": "space", "unit": "millimeter"} for n in "zyx"],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1, 3.0, 0.5, 0.25]},
            {"type": "translation", "translation": [0, 1.0, 2.0, 3.0]}]}]}]
    with pytest.raises(hf.HounsfieldError, match="orientation"):
        hf.read(tmp_path / "old.zarr")
    v = hf.read(tmp_path / "old.zarr", orientation="RAS")
    np.testing.assert_array_equal(v.array, image)
    assert v.spacing == (0.25, 0.5, 3.0)
    # x towards the right and y anterior: LPS origin (-3, -2, 1).
    np.testing.assert_allclose(v.origin, (-3.0, -2.0, 1.0))
    np.testing.assert_allclose(v.direction, np.diag([-1.0, -1.0, 1.0]))
    # Through Dask: the same voxels and geometry, the channel axis dropped.
    hdask = pytest.importorskip("hounsfield.dask")
    array, geometry = hdask.open_zarr(tmp_path / "old.zarr", orientation="RAS")
    np.testing.assert_array_equal(array.compute(), image)
    assert geometry["spacing"] == v.spacing
    with pytest.raises(hf.HounsfieldError, match="OME-Zarr store only"):
        hf.read(tmp_path / "missing.nii", orientation="RAS")


def test_existing_files_are_replaced_only_when_asked(tmp_path):
    first, second = hf.Volume(np.zeros((2, 2, 2), np.uint8)), hf.Volume(np.ones((2, 2, 2), np.uint8))
    for name in ["a.nii.gz", "a.zarr"]:
        hf.write(tmp_path / name, first)
        with pytest.raises(hf.HounsfieldError, match="overwrite=True"):
            hf.write(tmp_path / name, second)
        assert hf.read(tmp_path / name).array.max() == 0
        hf.write(tmp_path / name, second, overwrite=True)
        assert hf.read(tmp_path / name).array.min() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.nii.gz", "a.zarr"]


def test_write_refuses_what_it_would_wrongly_replace_or_misread(tmp_path):
    v = hf.Volume(np.zeros((4, 4, 4), np.float32))
    # A folder of the user's files that happens to end in .zarr is never deleted.
    folder = tmp_path / "user.zarr"
    folder.mkdir()
    (folder / "precious.txt").write_text("keep me")
    with pytest.raises(hf.HounsfieldError, match="not a Zarr store"):
        hf.write(folder, v, overwrite=True)
    assert (folder / "precious.txt").read_text() == "keep me"
    # Whole numbers >= 0, named; a downsampling method needs levels; errors name the target.
    with pytest.raises(ValueError, match="level must be"):
        hf.read(tmp_path / "x.zarr", level=-1)
    with pytest.raises(ValueError, match="pyramid must be"):
        hf.write(tmp_path / "p.zarr", v, pyramid=-1)
    with pytest.raises(ValueError, match="chunk must be"):
        hf.write(tmp_path / "c.zarr", v, chunk=(-1, 4, 4))
    with pytest.raises(hf.HounsfieldError, match="give pyramid=N"):
        hf.write(tmp_path / "d.zarr", v, downsample="mean")
    with pytest.raises(hf.HounsfieldError, match=r"deep\.zarr: .*after 2"):
        hf.write(tmp_path / "deep.zarr", v, pyramid=3)
    with pytest.raises(hf.HounsfieldError, match=r"x\.zarr: .*orientation"):
        hf.read(tmp_path / "x.zarr", orientation="XYZ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user.zarr"]
