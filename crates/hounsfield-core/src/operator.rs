//! Linear operators on `f32` arrays and the checks every implementation must pass.
//!
//! CT projectors implement [`LinearOperator`]; learned reconstruction consumes it. An operator
//! `A` maps arrays of its domain shape to arrays of its range shape, and its adjoint `A^T` maps
//! back, with `<A x, y> = <x, A^T y>` for all `x`, `y`.

use ndarray::{Array2, ArrayD, ArrayViewD, ArrayViewMutD, IxDyn};

use crate::error::{Error, Result, check_shape};
use crate::rng::SplitMix64;

/// A linear map between `f32` arrays of declared shapes, with its adjoint.
///
/// Implementations overwrite the output array (they never accumulate into it) and should check
/// shapes with [`check_shape`]. Callers who do not hold an output buffer use the provided
/// [`apply`](Self::apply) and [`adjoint`](Self::adjoint), which check shapes and allocate.
pub trait LinearOperator: Send + Sync {
    /// Shape of the input of `apply` (for a projector: the image).
    fn domain_shape(&self) -> Vec<usize>;

    /// Shape of the output of `apply` (for a projector: the sinogram or projection stack).
    fn range_shape(&self) -> Vec<usize>;

    /// `y = A x`.
    fn apply_into(&self, x: ArrayViewD<'_, f32>, y: ArrayViewMutD<'_, f32>) -> Result<()>;

    /// `x = A^T y`.
    fn adjoint_into(&self, y: ArrayViewD<'_, f32>, x: ArrayViewMutD<'_, f32>) -> Result<()>;

    /// `A x` in a new array.
    fn apply(&self, x: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_shape("operator domain", &self.domain_shape(), x.shape())?;
        let mut y = ArrayD::zeros(IxDyn(&self.range_shape()));
        self.apply_into(x, y.view_mut())?;
        Ok(y)
    }

    /// `A^T y` in a new array.
    fn adjoint(&self, y: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>> {
        check_shape("operator range", &self.range_shape(), y.shape())?;
        let mut x = ArrayD::zeros(IxDyn(&self.domain_shape()));
        self.adjoint_into(y, x.view_mut())?;
        Ok(x)
    }
}

/// A dense matrix as an operator: the reference implementation that tests compare others with.
/// Arrays are flattened in C order.
#[derive(Clone, Debug)]
pub struct MatrixOperator {
    matrix: Array2<f32>,
    domain: Vec<usize>,
    range: Vec<usize>,
}

impl MatrixOperator {
    /// `matrix` has one row per range element and one column per domain element.
    pub fn new(matrix: Array2<f32>, domain: Vec<usize>, range: Vec<usize>) -> Result<Self> {
        let (rows, cols) = matrix.dim();
        check_shape(
            "matrix rows x columns",
            &[range.iter().product(), domain.iter().product()],
            &[rows, cols],
        )?;
        Ok(MatrixOperator { matrix, domain, range })
    }

    /// The matrix.
    pub fn matrix(&self) -> &Array2<f32> {
        &self.matrix
    }
}

impl LinearOperator for MatrixOperator {
    fn domain_shape(&self) -> Vec<usize> {
        self.domain.clone()
    }

    fn range_shape(&self) -> Vec<usize> {
        self.range.clone()
    }

    fn apply_into(&self, x: ArrayViewD<'_, f32>, mut y: ArrayViewMutD<'_, f32>) -> Result<()> {
        check_shape("operator domain", &self.domain, x.shape())?;
        check_shape("operator range", &self.range, y.shape())?;
        for (yi, row) in y.iter_mut().zip(self.matrix.rows()) {
            *yi = row.iter().zip(x.iter()).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
                as f32;
        }
        Ok(())
    }

    fn adjoint_into(&self, y: ArrayViewD<'_, f32>, mut x: ArrayViewMutD<'_, f32>) -> Result<()> {
        check_shape("operator range", &self.range, y.shape())?;
        check_shape("operator domain", &self.domain, x.shape())?;
        for (xi, col) in x.iter_mut().zip(self.matrix.columns()) {
            *xi = col.iter().zip(y.iter()).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
                as f32;
        }
        Ok(())
    }
}

/// Outcome of [`check_adjoint`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdjointReport {
    /// `<A x, y>`, accumulated in f64.
    pub forward: f64,
    /// `<x, A^T y>`, accumulated in f64.
    pub backward: f64,
    /// `|forward - backward| / max(|forward|, |backward|)` (0 when both are 0).
    pub relative_mismatch: f64,
}

/// Inner product of two equally shaped arrays, accumulated in f64.
pub fn inner(a: ArrayViewD<'_, f32>, b: ArrayViewD<'_, f32>) -> Result<f64> {
    check_shape("inner product operand", a.shape(), b.shape())?;
    Ok(a.iter().zip(b.iter()).map(|(&p, &q)| f64::from(p) * f64::from(q)).sum())
}

/// An array of `shape` with values uniform in [0, 1) drawn from `rng`.
pub fn random_array(shape: &[usize], rng: &mut SplitMix64) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || rng.next_f64() as f32)
}

/// Compares `<A x, y>` with `<x, A^T y>` for `x`, `y` uniform in [0, 1) drawn from `seed`.
///
/// Positive test vectors keep both inner products far from zero, so the relative mismatch
/// measures the operator pair and not cancellation. A matched pair in f32 with f64 accumulation
/// reaches ~1e-7; an unmatched one (say, a pixel-driven backprojector against a ray-driven
/// projector) is typically off by 1e-3 or more.
pub fn check_adjoint(op: &dyn LinearOperator, seed: u64) -> Result<AdjointReport> {
    let mut rng = SplitMix64::new(seed);
    let x = random_array(&op.domain_shape(), &mut rng);
    let y = random_array(&op.range_shape(), &mut rng);
    check_adjoint_with(op, x.view(), y.view())
}

/// [`check_adjoint`] for given test vectors.
pub fn check_adjoint_with(
    op: &dyn LinearOperator,
    x: ArrayViewD<'_, f32>,
    y: ArrayViewD<'_, f32>,
) -> Result<AdjointReport> {
    let ax = op.apply(x.view())?;
    let aty = op.adjoint(y.view())?;
    let forward = inner(ax.view(), y)?;
    let backward = inner(x, aty.view())?;
    let scale = forward.abs().max(backward.abs());
    let relative_mismatch = if scale == 0.0 { 0.0 } else { (forward - backward).abs() / scale };
    Ok(AdjointReport { forward, backward, relative_mismatch })
}

/// Estimates the operator norm `||A||_2` (largest singular value) by `iterations` steps of power
/// iteration on `A^T A` from a random start. Converges from below; 20-50 steps give a few digits.
pub fn estimate_norm(op: &dyn LinearOperator, iterations: usize, seed: u64) -> Result<f64> {
    if iterations == 0 {
        return Err(Error::param("iterations", "must be at least 1"));
    }
    let mut rng = SplitMix64::new(seed);
    let mut x = random_array(&op.domain_shape(), &mut rng);
    let mut estimate = 0.0;
    for _ in 0..iterations {
        let norm_x = inner(x.view(), x.view())?.sqrt();
        if norm_x == 0.0 {
            return Ok(0.0);
        }
        x.mapv_inplace(|v| (f64::from(v) / norm_x) as f32);
        let ax = op.apply(x.view())?;
        estimate = inner(ax.view(), ax.view())?.sqrt();
        x = op.adjoint(ax.view())?;
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn random_matrix(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut rng = SplitMix64::new(seed);
        Array2::from_shape_simple_fn((rows, cols), || rng.uniform(-1.0, 1.0) as f32)
    }

    #[test]
    fn matrix_operator_is_its_own_adjoint_pair_within_1e_6() {
        let op = MatrixOperator::new(random_matrix(12, 30, 1), vec![5, 6], vec![3, 4]).unwrap();
        let report = check_adjoint(&op, 42).unwrap();
        assert!(report.relative_mismatch < 1e-6, "{report:?}");
    }

    #[test]
    fn a_mismatched_adjoint_is_detected() {
        // The "adjoint" perturbs one matrix entry by 1%: the check must see it.
        struct Skewed(MatrixOperator, MatrixOperator);
        impl LinearOperator for Skewed {
            fn domain_shape(&self) -> Vec<usize> {
                self.0.domain_shape()
            }
            fn range_shape(&self) -> Vec<usize> {
                self.0.range_shape()
            }
            fn apply_into(&self, x: ArrayViewD<'_, f32>, y: ArrayViewMutD<'_, f32>) -> Result<()> {
                self.0.apply_into(x, y)
            }
            fn adjoint_into(
                &self,
                y: ArrayViewD<'_, f32>,
                x: ArrayViewMutD<'_, f32>,
            ) -> Result<()> {
                self.1.adjoint_into(y, x)
            }
        }
        let m = random_matrix(8, 8, 3).mapv(f32::abs);
        let mut m2 = m.clone();
        m2[[2, 5]] *= 1.5;
        let op = Skewed(
            MatrixOperator::new(m, vec![8], vec![8]).unwrap(),
            MatrixOperator::new(m2, vec![8], vec![8]).unwrap(),
        );
        let report = check_adjoint(&op, 9).unwrap();
        assert!(report.relative_mismatch > 1e-3, "{report:?}");
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let op = MatrixOperator::new(random_matrix(4, 6, 2), vec![6], vec![4]).unwrap();
        assert!(matches!(
            op.apply(ArrayD::zeros(IxDyn(&[5])).view()),
            Err(Error::ShapeMismatch { .. })
        ));
        assert!(op.adjoint(ArrayD::zeros(IxDyn(&[6])).view()).is_err());
        assert!(MatrixOperator::new(random_matrix(4, 6, 2), vec![7], vec![4]).is_err());
    }

    #[test]
    fn norm_of_diagonal_operator_is_its_largest_entry() {
        let diag = [0.5f32, -3.0, 2.0, 1.0];
        let mut m = Array2::zeros((4, 4));
        for (i, d) in diag.iter().enumerate() {
            m[[i, i]] = *d;
        }
        let op = MatrixOperator::new(m, vec![4], vec![4]).unwrap();
        let norm = estimate_norm(&op, 100, 5).unwrap();
        assert!((norm - 3.0).abs() < 1e-5, "{norm}");
    }
}
