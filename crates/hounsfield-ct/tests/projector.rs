#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! The projector pair against its own adjoint, the analytic line integrals and a dense matrix.

use hounsfield_core::operator::check_adjoint;
use hounsfield_core::{LinearOperator, MatrixOperator};
use hounsfield_ct::{
    Beam, Detector, ImageGrid, Phantom, Projector, ScanGeometry, ViewVectors, uniform_angles,
};
use ndarray::{Array2, ArrayD, IxDyn};
use std::f64::consts::PI;

/// Every geometry kind on small grids, including off-centre grids, anisotropic voxels, detector
/// offsets and views along the axes and the diagonals (where Joseph's primary axis switches).
fn geometries() -> Vec<(&'static str, ImageGrid, ScanGeometry)> {
    let a24 = uniform_angles(24, 0.1, 2.0 * PI);
    let g2 = ImageGrid::new_2d(20, 23, 1.0).unwrap();
    let g2a =
        ImageGrid::new_3d([1, 17, 21], [0.8, 1.3, 1.0]).unwrap().with_centre([1.5, -2.0, 0.0]);
    let g3 = ImageGrid::new_3d([9, 12, 14], [1.0, 1.0, 1.5]).unwrap();
    let panel = Detector::panel(10, 18, 1.7, 1.9).with_offset(2.0, -1.0);
    let tilted: Vec<ViewVectors> = (0..7)
        .map(|k| {
            let a = f64::from(k) * 0.9;
            let (s, c) = a.sin_cos();
            ViewVectors {
                source: [40.0 * s, -40.0 * c, 6.0],
                detector: [-30.0 * s, 30.0 * c, -3.0],
                u: [1.6 * c, 1.6 * s, 0.1],
                v: [0.05, 0.0, 1.4],
            }
        })
        .collect();
    vec![
        (
            "parallel 2D",
            g2.clone(),
            ScanGeometry::parallel_2d(uniform_angles(36, 0.0, PI), 31, 1.0).unwrap(),
        ),
        (
            "parallel 2D, axes and diagonals",
            g2a.clone(),
            ScanGeometry::parallel_2d(vec![0.0, PI / 4.0, PI / 2.0, 3.0 * PI / 4.0, PI], 29, 0.7)
                .unwrap(),
        ),
        (
            "fan 2D flat, offset",
            g2a.clone(),
            ScanGeometry::fan_2d(
                a24.clone(),
                Detector::line(40, 1.1).with_offset(3.0, 0.0),
                35.0,
                60.0,
                false,
            )
            .unwrap(),
        ),
        (
            "fan 2D arc",
            g2.clone(),
            ScanGeometry::fan_2d(a24.clone(), Detector::line(40, 1.3), 30.0, 55.0, true).unwrap(),
        ),
        (
            "parallel 3D",
            g3.clone(),
            ScanGeometry::parallel_3d(uniform_angles(15, 0.0, PI), panel).unwrap(),
        ),
        ("cone", g3.clone(), ScanGeometry::cone(a24.clone(), panel, 30.0, 50.0).unwrap()),
        (
            "cone vectors",
            g3.clone(),
            ScanGeometry::vector(3, Beam::Cone, 10, 18, tilted.clone()).unwrap(),
        ),
        (
            "parallel 3D vectors",
            g3,
            ScanGeometry::vector(
                3,
                Beam::Parallel,
                10,
                18,
                tilted
                    .iter()
                    .map(|w| ViewVectors { source: [-w.source[0], -w.source[1], 0.3], ..*w })
                    .collect(),
            )
            .unwrap(),
        ),
    ]
}

#[test]
fn every_projector_pair_is_adjoint_within_1e_6() {
    for (name, grid, geometry) in geometries() {
        let p = Projector::new(grid, geometry).unwrap();
        for seed in [1, 2] {
            let r = check_adjoint(&p, seed).unwrap();
            assert!(r.forward > 0.0, "{name}: the rays miss the image ({r:?})");
            assert!(r.relative_mismatch < 1e-6, "{name}: {r:?}");
        }
    }
}

#[test]
fn the_adjoint_is_the_transpose_of_the_forward_matrix() {
    // Build A column by column from unit images, A^T row by row from unit projections, and
    // compare every entry (1e-6 absolute on weights of order 1 mm).
    let (_, grid, geometry) = geometries().swap_remove(2);
    let p = Projector::new(grid, geometry).unwrap();
    let (n, m) =
        (p.domain_shape().iter().product::<usize>(), p.range_shape().iter().product::<usize>());
    let mut a = Array2::<f32>::zeros((m, n));
    for j in 0..n {
        let mut e = ArrayD::<f32>::zeros(IxDyn(&p.domain_shape()));
        e.as_slice_mut().unwrap()[j] = 1.0;
        let col = p.apply(e.view()).unwrap();
        a.column_mut(j).assign(&ndarray::ArrayView1::from(col.as_slice().unwrap()));
    }
    let mut worst = 0.0f32;
    for i in (0..m).step_by(7) {
        let mut e = ArrayD::<f32>::zeros(IxDyn(&p.range_shape()));
        e.as_slice_mut().unwrap()[i] = 1.0;
        let row = p.adjoint(e.view()).unwrap();
        for (x, y) in row.iter().zip(a.row(i)) {
            worst = worst.max((x - y).abs());
        }
    }
    assert!(worst < 1e-6, "largest difference between A^T and the transpose of A: {worst}");
    // And the dense matrix built from it is an exact pair too (the reference implementation).
    let dense = MatrixOperator::new(a, p.domain_shape(), p.range_shape()).unwrap();
    assert!(check_adjoint(&dense, 3).unwrap().relative_mismatch < 1e-6);
}

/// Relative L2 difference between Joseph projections of the phantom sampled on an `n`-voxel grid
/// spanning 128 mm and the exact line integrals.
fn discretisation_error(phantom: &Phantom, geometry: &ScanGeometry, n: usize) -> f64 {
    let pixel = 128.0 / n as f64;
    let grid = if phantom.dims == 2 {
        ImageGrid::new_2d(n, n, pixel).unwrap()
    } else {
        ImageGrid::new_3d([n; 3], [pixel; 3]).unwrap()
    };
    let image = phantom.rasterize(&grid, 4).unwrap();
    let discrete = Projector::new(grid, geometry.clone()).unwrap().apply(image.view()).unwrap();
    let exact = phantom.project(geometry, 1).unwrap();
    let err = (&discrete - &exact).mapv(|v| f64::from(v).powi(2)).sum().sqrt();
    let norm = exact.mapv(|v| f64::from(v).powi(2)).sum().sqrt();
    assert!(norm > 0.0);
    err / norm
}

#[test]
fn projections_of_a_sampled_phantom_converge_to_its_exact_line_integrals() {
    // Joseph's projections of a sampled phantom differ from the exact line integrals only at
    // edges, by about one voxel of blur: the error must halve (at least by 0.6x) when the voxels
    // halve, and be below 1% at 0.5 mm. A wrong geometry, weight or offset would not converge.
    let phantom = Phantom::random(2, 8, 60.0, 7).unwrap();
    for (name, geometry) in [
        ("parallel", ScanGeometry::parallel_2d(uniform_angles(60, 0.0, PI), 190, 1.0).unwrap()),
        (
            "fan flat",
            ScanGeometry::fan_2d(
                uniform_angles(60, 0.0, 2.0 * PI),
                Detector::line(200, 1.5),
                200.0,
                320.0,
                false,
            )
            .unwrap(),
        ),
        (
            "fan arc",
            ScanGeometry::fan_2d(
                uniform_angles(60, 0.0, 2.0 * PI),
                Detector::line(200, 1.5),
                200.0,
                320.0,
                true,
            )
            .unwrap(),
        ),
    ] {
        let e = [64, 128, 256].map(|n| discretisation_error(&phantom, &geometry, n));
        assert!(e[1] < 0.6 * e[0] && e[2] < 0.6 * e[1] && e[2] < 0.01, "{name}: errors {e:?}");
    }
}

#[test]
fn cone_projections_of_a_sampled_phantom_converge_to_its_exact_line_integrals() {
    let phantom = Phantom::random(3, 6, 55.0, 11).unwrap();
    let geometry = ScanGeometry::cone(
        uniform_angles(8, 0.0, 2.0 * PI),
        Detector::panel(48, 64, 3.5, 3.5),
        200.0,
        300.0,
    )
    .unwrap();
    let e = [32, 64].map(|n| discretisation_error(&phantom, &geometry, n));
    assert!(e[1] < 0.6 * e[0] && e[1] < 0.07, "errors {e:?}");
}
