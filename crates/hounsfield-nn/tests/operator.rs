#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! A `LinearOperator` as a candle op: the forward pass is the operator, the adjoint test holds
//! through the tensors, and gradients match finite differences (the issue-8 foundation).

use std::sync::Arc;

use candle_core::{DType, Device, Tensor, Var};
use hounsfield_core::{LinearOperator, MatrixOperator};
use hounsfield_ct::{ImageGrid, Projector, ScanGeometry, uniform_angles};
use hounsfield_nn::gradcheck::relative_errors;
use hounsfield_nn::operator::{apply_adjoint, apply_operator};
use ndarray::{Array2, ArrayD, IxDyn};

fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64).unwrap().flatten_all().unwrap().to_vec1().unwrap()
}

fn projector() -> Arc<dyn LinearOperator> {
    let grid = ImageGrid::new_2d(16, 16, 1.0).unwrap();
    let geometry =
        ScanGeometry::parallel_2d(uniform_angles(12, 0.0, std::f64::consts::PI), 24, 1.0).unwrap();
    Arc::new(Projector::new(grid, geometry).unwrap())
}

#[test]
fn the_op_applies_the_operator_to_every_batch_item() {
    // Batch of 3 images through the op = the projector applied to each (exact: same f32 code).
    let op = projector();
    let x = Tensor::randn(0f32, 1.0, (3, 16, 16), &Device::Cpu).unwrap();
    let y = apply_operator(&x, &op).unwrap();
    let range = op.range_shape();
    assert_eq!(y.dims()[1..], range[..]);
    for b in 0..3 {
        let item: Vec<f32> = x.get(b).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let want =
            op.apply(ArrayD::from_shape_vec(IxDyn(&[16, 16]), item).unwrap().view()).unwrap();
        let got: Vec<f32> = y.get(b).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(got, want.iter().copied().collect::<Vec<_>>());
    }
    assert!(
        apply_operator(&Tensor::zeros((3, 15, 16), DType::F32, &Device::Cpu).unwrap(), &op)
            .is_err()
    );
}

#[test]
fn adjoint_test_through_tensors() {
    // <A x, y> = <x, A^T y> through the ops, relative 1e-5 (f32 operator).
    let op = projector();
    let x = Tensor::randn(0f32, 1.0, (2, 16, 16), &Device::Cpu).unwrap();
    let y = Tensor::randn(0f32, 1.0, (2, 12, 24), &Device::Cpu).unwrap();
    let ax = values(&apply_operator(&x, &op).unwrap());
    let aty = values(&apply_adjoint(&y, &op).unwrap());
    let lhs: f64 = ax.iter().zip(values(&y)).map(|(a, b)| a * b).sum();
    let rhs: f64 = values(&x).iter().zip(aty).map(|(a, b)| a * b).sum();
    assert!((lhs - rhs).abs() < 1e-5 * lhs.abs(), "{lhs} vs {rhs}");
}

#[test]
fn gradients_through_the_operator_and_its_adjoint() {
    // Finite differences (step 1: the maps are linear, so only f32 rounding remains) against the
    // backward passes, which apply A^T and A; relative error < 1e-4.
    let op = projector();
    let x = Tensor::randn(0f64, 1.0, (2, 16, 16), &Device::Cpu).unwrap();
    let errs =
        relative_errors(|t| apply_operator(&t[0], &op), std::slice::from_ref(&x), 40, 1.0, 1)
            .unwrap();
    assert!(errs[0] < 1e-4, "{errs:?}");
    let y = Tensor::randn(0f64, 1.0, (2, 12, 24), &Device::Cpu).unwrap();
    let errs = relative_errors(|t| apply_adjoint(&t[0], &op), std::slice::from_ref(&y), 40, 1.0, 2)
        .unwrap();
    assert!(errs[0] < 1e-4, "{errs:?}");
    // A data-consistency loss ||A x - y||^2 / 2 has gradient A^T (A x - y): checked exactly with
    // a small dense matrix.
    let m = Array2::from_shape_fn((4, 3), |(i, j)| (i as f32 + 1.0) * 0.5 - j as f32);
    let dense: Arc<dyn LinearOperator> =
        Arc::new(MatrixOperator::new(m.clone(), vec![3], vec![4]).unwrap());
    let xv = Var::new(&[0.3f32, -1.0, 2.0], &Device::Cpu).unwrap();
    let target = Tensor::new(&[1.0f32, 0.0, -1.0, 2.0], &Device::Cpu).unwrap();
    let r = (apply_operator(&xv, &dense).unwrap() - &target).unwrap();
    let grads = (r.sqr().unwrap().sum_all().unwrap() * 0.5).unwrap().backward().unwrap();
    let g = values(grads.get(&xv).unwrap());
    let rv = values(&r);
    for j in 0..3 {
        let want: f64 = (0..4).map(|i| f64::from(m[[i, j]]) * rv[i]).sum();
        assert!((g[j] - want).abs() < 1e-5, "{j}: {} vs {want}", g[j]);
    }
    // The same through the physics-consistency loss (a mean: gradient 2 A^T r / 4).
    let loss = hounsfield_nn::loss::data_consistency(&xv, &target, &dense).unwrap();
    assert!((values(&loss)[0] - rv.iter().map(|v| v * v).sum::<f64>() / 4.0).abs() < 1e-6);
    let g2 = values(loss.backward().unwrap().get(&xv).unwrap());
    for j in 0..3 {
        assert!((g2[j] - g[j] / 2.0).abs() < 1e-5);
    }
}
