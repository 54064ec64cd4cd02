"""CT against closed forms: the projections and reconstruction of a uniform disc and ball."""

import numpy as np
import pytest

import hounsfield as hf
from hounsfield import ct

MU = 0.02  # 1/mm, about water


def disc(n=128, pixel=1.0, radius=40.0):
    c = (n - 1) / 2
    y, x = np.mgrid[:n, :n]
    inside = ((x - c) * pixel) ** 2 + ((y - c) * pixel) ** 2 <= radius**2
    return (inside * MU).astype(np.float32)


def parallel(views=180, cols=192):
    return ct.ScanGeometry.parallel_2d(ct.uniform_angles(views, np.pi), cols=cols, spacing=1.0)


def analytic_sinogram(views=180, cols=192, radius=40.0):
    s = (np.arange(cols) - (cols - 1) / 2) * 1.0
    row = 2 * MU * np.sqrt(np.clip(radius**2 - s**2, 0, None))
    return np.tile(row, (views, 1)).astype(np.float32)


def test_projection_of_a_disc_is_its_chord_length():
    g, grid = parallel(), ct.ImageGrid((128, 128), 1.0)
    sino = ct.project(g, grid, disc())
    assert sino.shape == (180, 192)
    ref = analytic_sinogram()
    # Pixelation: within 1.5 % of the centre value away from the rim.
    inner = np.abs((np.arange(192) - 95.5)) < 30
    assert np.abs(sino[:, inner] - ref[:, inner]).max() < 0.015 * ref.max()


def test_adjoint_is_exact():
    g, grid = parallel(60, 96), ct.ImageGrid((64, 64), 1.5)
    rng = np.random.default_rng(0)
    x = rng.random((64, 64)).astype(np.float32)
    y = rng.random((60, 96)).astype(np.float32)
    lhs = float(np.vdot(ct.project(g, grid, x).astype(np.float64), y))
    rhs = float(np.vdot(x.astype(np.float64), ct.backproject(g, grid, y)))
    assert lhs == pytest.approx(rhs, rel=1e-5)


def test_fbp_of_the_analytic_sinogram_recovers_mu():
    g, grid = parallel(), ct.ImageGrid((128, 128), 1.0)
    image = ct.fbp(g, grid, analytic_sinogram())
    c = 63.5
    y, x = np.mgrid[:128, :128]
    r = np.hypot(x - c, y - c)
    assert np.mean(image[r < 30]) == pytest.approx(MU, rel=0.01)
    assert np.abs(np.mean(image[(r > 45) & (r < 60)])) < 0.02 * MU


def test_fdk_of_a_ball():
    n, radius = 48, 16.0
    c = (n - 1) / 2
    z, y, x = np.mgrid[:n, :n, :n]
    ball = ((np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) <= radius) * MU).astype(
        np.float32)
    g = ct.ScanGeometry.cone(ct.uniform_angles(120, 2 * np.pi), rows=64, cols=80,
                             pixel=(1.5, 1.5), source_origin=150.0, source_detector=225.0)
    grid = ct.ImageGrid((n, n, n), 1.0)
    image = ct.fdk(g, grid, ct.project(g, grid, ball))
    core = np.sqrt((x - c) ** 2 + (y - c) ** 2 + (z - c) ** 2) < 10
    assert np.mean(image[core]) == pytest.approx(MU, rel=0.03)
    with pytest.raises(ValueError, match="cone-beam"):
        ct.fdk(parallel(), ct.ImageGrid((8, 8)), np.zeros((180, 192), np.float32))


def test_iterative_methods_fit_the_data():
    g, grid = parallel(90, 96), ct.ImageGrid((64, 64), 1.5)
    truth = disc(64, 1.5, 40.0)
    sino = ct.project(g, grid, truth)
    start = np.linalg.norm(sino)
    for name, run in [("sirt", lambda: ct.sirt(g, grid, sino, 50)),
                      ("os-sart", lambda: ct.os_sart(g, grid, sino, 5)),
                      ("cgls", lambda: ct.cgls(g, grid, sino, 20)),
                      ("mlem", lambda: ct.mlem(g, grid, sino, 30)),
                      ("fista-tv", lambda: ct.fista_tv(g, grid, sino, 30, 1e-5))]:
        x = run()
        residual = np.linalg.norm(ct.project(g, grid, x) - sino)
        assert residual < 0.1 * start, f"{name}: residual {residual / start:.3f} of the data"


def test_geometry_and_shape_errors():
    with pytest.raises(hf.HounsfieldError):
        ct.ScanGeometry.parallel_2d([0.0, 1.0], cols=0, spacing=1.0)
    with pytest.raises(hf.HounsfieldError, match="projections"):
        ct.fbp(parallel(), ct.ImageGrid((64, 64)), np.zeros((10, 10), np.float32))
    bad = analytic_sinogram()
    bad[3, 4] = np.nan
    with pytest.raises(hf.HounsfieldError, match="projections"):
        ct.fbp(parallel(), ct.ImageGrid((64, 64)), bad)
    assert ct.shapes(parallel(), ct.ImageGrid((64, 64))) == ([180, 192], [64, 64])
