"""Marching cubes against the analytic sphere and scikit-image; mesh files by trimesh."""

import numpy as np
import pytest

import hounsfield as hf
from hounsfield import mesh


def sphere_volume(n=48, radius=15.0, spacing=(0.8, 0.9, 1.1)):
    c = (n - 1) / 2
    z, y, x = np.mgrid[:n, :n, :n].astype(np.float64)
    d = np.sqrt(((x - c) * spacing[0]) ** 2 + ((y - c) * spacing[1]) ** 2
                + ((z - c) * spacing[2]) ** 2)
    return hf.Volume((radius - d).astype(np.float32), spacing, (-c * spacing[0], -c * spacing[1],
                                                                  -c * spacing[2]))


def area(vertices, faces):
    t = vertices[faces.astype(np.int64)].astype(np.float64)
    return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1).sum()


def test_sphere_surface_is_on_the_sphere():
    v = sphere_volume()
    m = mesh.marching_cubes(v, 0.0)
    # The field is linear along each edge to within curvature: vertices within 0.05 mm.
    radii = np.linalg.norm(m.vertices, axis=1)
    assert np.abs(radii - 15.0).max() < 0.05
    assert area(m.vertices, m.faces) == pytest.approx(4 * np.pi * 15.0**2, rel=0.01)
    # Triangles face outwards: the signed volume is positive and equals the ball's to 1%.
    t = m.vertices[m.faces.astype(np.int64)].astype(np.float64)
    volume = np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6
    assert volume == pytest.approx(4 / 3 * np.pi * 15.0**3, rel=0.01)


def test_area_matches_skimage():
    measure = pytest.importorskip("skimage.measure")
    v = sphere_volume()
    m = mesh.marching_cubes(v, 0.0)
    verts, faces, _, _ = measure.marching_cubes(v.array, 0.0, spacing=v.spacing[::-1])
    assert area(m.vertices, m.faces) == pytest.approx(measure.mesh_surface_area(verts, faces),
                                                      rel=0.005)


@pytest.mark.parametrize("suffix", [".stl", ".ply", ".obj"])
def test_mesh_files_round_trip_and_are_watertight(tmp_path, suffix):
    trimesh = pytest.importorskip("trimesh")
    m = mesh.marching_cubes(sphere_volume(24, 7.0), 0.0)
    path = tmp_path / f"s{suffix}"
    mesh.write_mesh(path, m)
    back = mesh.read_mesh(path)
    np.testing.assert_allclose(back.vertices, m.vertices, atol=1e-6 if suffix != ".obj" else 1e-4)
    assert trimesh.load(path, process=suffix == ".stl").is_watertight
    with pytest.raises(hf.HounsfieldError, match="beyond the"):
        mesh.write_mesh(tmp_path / "bad.stl", mesh.Mesh(m.vertices, m.faces + 10**6))
