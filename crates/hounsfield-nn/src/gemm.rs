//! A safe, bounds-checked front to the `gemm` crate (the SGEMM/DGEMM candle itself uses).
//!
//! `gemm::gemm` takes raw pointers and strides; this module is the one place in the crate that
//! calls it, after checking that every element the strides can reach lies inside the slices.
#![allow(unsafe_code)]

use num_traits::Float;

/// Element types the GEMM kernels and the custom ops handle: `f32` and `f64`.
pub trait Real:
    Float + Default + Send + Sync + std::fmt::Debug + std::ops::AddAssign + 'static
{
}
impl Real for f32 {}
impl Real for f64 {}

/// A read-only matrix view: `data[i * row_stride + j * col_stride]` is element (i, j).
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a, T> {
    pub data: &'a [T],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    pub col_stride: usize,
}

impl<'a, T> MatRef<'a, T> {
    /// A row-major `rows x cols` matrix.
    pub fn row_major(data: &'a [T], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, col_stride: 1 }
    }

    /// The transpose (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    fn fits(&self) -> bool {
        reach(self.rows, self.cols, self.row_stride, self.col_stride) <= self.data.len()
    }
}

/// Number of elements a strided matrix spans (0 when it is empty).
fn reach(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        return 0;
    }
    (rows - 1)
        .checked_mul(rs)
        .and_then(|r| (cols - 1).checked_mul(cs).and_then(|c| r.checked_add(c)))
        .map_or(usize::MAX, |last| last + 1)
}

/// `dst = (accumulate ? dst : 0) + a * b` for a row-major `dst` of `a.rows x b.cols`.
///
/// `parallel` lets the kernel split the product over rayon's threads; callers that already run
/// one product per thread pass `false`.
///
/// # Panics
/// If the shapes disagree or a view reaches past its slice: both are programming errors inside
/// this crate, never a consequence of user input (shapes are validated before).
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul<T: Real>(
    dst: &mut [T],
    accumulate: bool,
    a: MatRef<'_, T>,
    b: MatRef<'_, T>,
    parallel: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(b.rows, k, "gemm: inner dimensions differ");
    assert!(a.fits() && b.fits(), "gemm: operand view out of bounds");
    assert!(dst.len() >= m * n, "gemm: destination too small");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(T::zero());
        }
        return;
    }
    let parallelism = if parallel {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let signed = |s: usize| isize::try_from(s).expect("stride fits isize");
    // SAFETY: the asserts above prove that every (i, j) the kernel visits, at
    // i * row_stride + j * col_stride, lies inside each slice; `dst` is uniquely borrowed.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            signed(n),
            accumulate,
            a.data.as_ptr(),
            signed(a.col_stride),
            signed(a.row_stride),
            b.data.as_ptr(),
            signed(b.col_stride),
            signed(b.row_stride),
            T::one(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

    use super::*;

    fn naive(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Vec<f64> {
        let mut out = vec![0.0; a.rows * b.cols];
        for i in 0..a.rows {
            for j in 0..b.cols {
                for p in 0..a.cols {
                    out[i * b.cols + j] += a.data[i * a.row_stride + p * a.col_stride]
                        * b.data[p * b.row_stride + j * b.col_stride];
                }
            }
        }
        out
    }

    #[test]
    fn matches_a_triple_loop_with_transposed_views() {
        // Tolerance 1e-12: the same sums in a different order, in f64.
        let a: Vec<f64> = (0..35).map(|v| f64::from(v).sin()).collect();
        let b: Vec<f64> = (0..42).map(|v| f64::from(v).cos()).collect();
        let am = MatRef::row_major(&a, 5, 7);
        let bm = MatRef::row_major(&b, 6, 7).t();
        let mut dst = vec![1.0; 30];
        matmul(&mut dst, false, am, bm, false);
        let want = naive(am, bm);
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - w).abs() < 1e-12);
        }
        matmul(&mut dst, true, am, bm, true);
        for (d, w) in dst.iter().zip(&want) {
            assert!((d - 2.0 * w).abs() < 1e-12);
        }
    }

    #[test]
    #[should_panic(expected = "out of bounds")]
    fn refuses_a_view_past_its_slice() {
        let a = vec![0.0f32; 5];
        let mut dst = vec![0.0f32; 4];
        matmul(&mut dst, false, MatRef::row_major(&a, 2, 3), MatRef::row_major(&a, 3, 2), false);
    }
}
