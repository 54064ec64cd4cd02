//! Glue between candle's CPU storage and the generic kernels of this crate.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Result, WithDType};

use crate::gemm::Real;

/// The element types the custom ops run on: `f32` for training, `f64` for gradient checks.
pub trait Float: Real + WithDType {
    /// Runs `f` with this thread's scratch vector of this type, kept between calls (its length
    /// and contents are whatever the last user left). A convolution's column buffer is a few
    /// MB: allocated afresh per call, its zero-fill and page faults cost a tenth of a training
    /// step. Nested use gets an empty vector, never a shared one.
    fn with_scratch<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R;

    /// `data` as `f32` when this is `f32` (the type the AVX2 kernels handle).
    fn as_f32(data: &[Self]) -> Option<&[f32]>;

    /// The inverse of [`Float::as_f32`] for a result.
    fn from_f32(data: Vec<f32>) -> Option<Vec<Self>>;
}

macro_rules! float_with_scratch {
    ($t:ty, $as_f32:expr, $from_f32:expr) => {
        impl Float for $t {
            fn with_scratch<R>(f: impl FnOnce(&mut Vec<Self>) -> R) -> R {
                thread_local! {
                    static SCRATCH: std::cell::Cell<Vec<$t>> = const { std::cell::Cell::new(Vec::new()) };
                }
                let mut buffer = SCRATCH.take();
                let result = f(&mut buffer);
                SCRATCH.set(buffer);
                result
            }

            fn as_f32(data: &[Self]) -> Option<&[f32]> {
                $as_f32(data)
            }

            fn from_f32(data: Vec<f32>) -> Option<Vec<Self>> {
                $from_f32(data)
            }
        }
    };
}
float_with_scratch!(f32, Some, Some);
float_with_scratch!(f64, |_| None, |_| None);

/// The contiguous run of `data` that `layout` describes, or an error naming the op.
pub(crate) fn contiguous<'a, T>(data: &'a [T], layout: &Layout, op: &str) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => Err(candle_core::Error::Msg(format!("{op}: input must be contiguous"))),
    }
}

/// The error for an element type the kernels do not implement.
pub(crate) fn unsupported(op: &str, storage: &CpuStorage) -> candle_core::Error {
    candle_core::Error::Msg(format!(
        "{op}: dtype {:?} is not supported (f32 or f64)",
        storage.dtype()
    ))
}

/// Runs `$body` with `$a` (and `$b`) bound to contiguous `&[T]` slices of one float type `$t`.
macro_rules! with_float_slices {
    ($op:expr, ($s1:expr, $l1:expr) => $a:ident, |$t:ident| $body:expr) => {
        match $s1 {
            candle_core::CpuStorage::F32(v) => {
                type $t = f32;
                let $a = $crate::ops::cpu::contiguous(v, $l1, $op)?;
                $body
            }
            candle_core::CpuStorage::F64(v) => {
                type $t = f64;
                let $a = $crate::ops::cpu::contiguous(v, $l1, $op)?;
                $body
            }
            other => Err($crate::ops::cpu::unsupported($op, other)),
        }
    };
    ($op:expr, ($s1:expr, $l1:expr) => $a:ident, ($s2:expr, $l2:expr) => $b:ident, |$t:ident| $body:expr) => {
        match ($s1, $s2) {
            (candle_core::CpuStorage::F32(v), candle_core::CpuStorage::F32(w)) => {
                type $t = f32;
                let $a = $crate::ops::cpu::contiguous(v, $l1, $op)?;
                let $b = $crate::ops::cpu::contiguous(w, $l2, $op)?;
                $body
            }
            (candle_core::CpuStorage::F64(v), candle_core::CpuStorage::F64(w)) => {
                type $t = f64;
                let $a = $crate::ops::cpu::contiguous(v, $l1, $op)?;
                let $b = $crate::ops::cpu::contiguous(w, $l2, $op)?;
                $body
            }
            (other, _) => Err($crate::ops::cpu::unsupported($op, other)),
        }
    };
}
pub(crate) use with_float_slices;

/// Wraps a kernel's output vector as CPU storage.
pub(crate) fn storage<T: Float>(data: Vec<T>) -> CpuStorage {
    T::to_cpu_storage_owned(data)
}

/// The five dimensions of an `(N, C, D, H, W)` layout.
pub(crate) fn dims5(layout: &Layout, op: &str) -> Result<[usize; 5]> {
    let d = layout.shape().dims();
    <[usize; 5]>::try_from(d).map_err(|_| {
        candle_core::Error::Msg(format!(
            "{op}: expected an (N, C, D, H, W) tensor, got shape {d:?}"
        ))
    })
}

/// `v` as `f64`.
pub(crate) fn f64_of<T: Float>(v: T) -> f64 {
    num_traits::ToPrimitive::to_f64(&v).unwrap_or(f64::NAN)
}

/// `v` rounded to `T`.
pub(crate) fn of_f64<T: Float>(v: f64) -> T {
    <T as num_traits::NumCast>::from(v).unwrap_or_else(T::nan)
}

/// The output gradient `dy` (storage `s`, layout `l`) of an op whose input has `input`'s shape,
/// as a contiguous slice; an error naming `op` when the shapes differ.
pub(crate) fn gradient_like<'a, T: Float>(
    s: &'a CpuStorage,
    l: &Layout,
    input: &Layout,
    op: &str,
) -> Result<&'a [T]> {
    if l.shape() != input.shape() {
        return Err(candle_core::Error::Msg(format!(
            "{op}: gradient shape differs from the input"
        )));
    }
    contiguous(s.as_slice::<T>()?, l, op)
}
