//! Voxel element types and explicit conversions between them.

use std::fmt;

use crate::error::{Error, Result};

/// The element types a [`Volume`](crate::Volume) can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// unsigned 8-bit integer
    U8,
    /// signed 8-bit integer
    I8,
    /// unsigned 16-bit integer
    U16,
    /// signed 16-bit integer
    I16,
    /// unsigned 32-bit integer
    U32,
    /// signed 32-bit integer
    I32,
    /// 32-bit IEEE float
    F32,
    /// 64-bit IEEE float
    F64,
}

impl DType {
    /// The Rust name of the type ("u8", "f32", ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::U8 => "u8",
            DType::I8 => "i8",
            DType::U16 => "u16",
            DType::I16 => "i16",
            DType::U32 => "u32",
            DType::I32 => "i32",
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Bytes per element.
    pub fn size_bytes(self) -> usize {
        match self {
            DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// Whether the type is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F64)
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a real value becomes an integer in a conversion. Ignored for float targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Rounding {
    /// Round to nearest, ties to even (numpy's `rint`). The default.
    #[default]
    NearestEven,
    /// Round towards zero (a C cast, numpy's `astype`).
    TowardZero,
    /// Round towards negative infinity.
    Floor,
    /// Round towards positive infinity.
    Ceil,
}

impl Rounding {
    fn apply(self, v: f64) -> f64 {
        match self {
            Rounding::NearestEven => v.round_ties_even(),
            Rounding::TowardZero => v.trunc(),
            Rounding::Floor => v.floor(),
            Rounding::Ceil => v.ceil(),
        }
    }
}

/// What a conversion does with a value outside the target type's range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Clamp to the target's minimum or maximum (infinities included). The default.
    #[default]
    Saturate,
    /// Return [`Error::OutOfRange`].
    Error,
}

/// Options of [`Volume::cast`](crate::Volume::cast). NaN never converts to an integer type: it is
/// always an error, because every integer stand-in for it would be a silent lie.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CastOptions {
    /// Rounding for integer targets.
    pub rounding: Rounding,
    /// Out-of-range handling.
    pub overflow: Overflow,
}

impl CastOptions {
    /// Sets the rounding mode.
    pub fn with_rounding(mut self, rounding: Rounding) -> Self {
        self.rounding = rounding;
        self
    }

    /// Sets the out-of-range handling.
    pub fn with_overflow(mut self, overflow: Overflow) -> Self {
        self.overflow = overflow;
        self
    }
}

/// A voxel element type. Every value is exactly representable as an `f64`, which is the common
/// ground for conversions.
pub trait Element: Copy + Default + PartialOrd + fmt::Debug + Send + Sync + 'static {
    /// The matching [`DType`].
    const DTYPE: DType;

    /// The value as `f64` (exact for every supported type).
    fn to_f64(self) -> f64;

    /// Converts `v` with the given options; `index` only labels the error.
    fn from_f64(v: f64, options: CastOptions, index: usize) -> Result<Self>;
}

macro_rules! impl_integer {
    ($t:ty, $d:ident) => {
        impl Element for $t {
            const DTYPE: DType = DType::$d;

            fn to_f64(self) -> f64 {
                f64::from(self)
            }

            fn from_f64(v: f64, options: CastOptions, index: usize) -> Result<Self> {
                let out_of_range = || Error::OutOfRange { target: stringify!($t), value: v, index };
                if v.is_nan() {
                    return Err(out_of_range());
                }
                let r = options.rounding.apply(v);
                let (lo, hi) = (f64::from(<$t>::MIN), f64::from(<$t>::MAX));
                if r < lo || r > hi {
                    return match options.overflow {
                        Overflow::Saturate => Ok(if r < lo { <$t>::MIN } else { <$t>::MAX }),
                        Overflow::Error => Err(out_of_range()),
                    };
                }
                // In range and integral: the cast is exact.
                Ok(r as $t)
            }
        }
    };
}

impl_integer!(u8, U8);
impl_integer!(i8, I8);
impl_integer!(u16, U16);
impl_integer!(i16, I16);
impl_integer!(u32, U32);
impl_integer!(i32, I32);

impl Element for f32 {
    const DTYPE: DType = DType::F32;

    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    fn from_f64(v: f64, options: CastOptions, index: usize) -> Result<Self> {
        let max = f64::from(f32::MAX);
        if v.is_finite() && v.abs() > max {
            return match options.overflow {
                Overflow::Saturate => Ok(if v < 0.0 { f32::MIN } else { f32::MAX }),
                Overflow::Error => Err(Error::OutOfRange { target: "f32", value: v, index }),
            };
        }
        // Nearest f32 (NaN and infinities carry over: float targets can hold them).
        Ok(v as f32)
    }
}

impl Element for f64 {
    const DTYPE: DType = DType::F64;

    fn to_f64(self) -> f64 {
        self
    }

    fn from_f64(v: f64, _options: CastOptions, _index: usize) -> Result<Self> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cast<T: Element>(v: f64, rounding: Rounding, overflow: Overflow) -> Result<T> {
        T::from_f64(v, CastOptions { rounding, overflow }, 0)
    }

    #[test]
    fn rounding_modes_match_their_definitions() {
        let r = |v, mode| cast::<i16>(v, mode, Overflow::Error).unwrap();
        assert_eq!(r(2.5, Rounding::NearestEven), 2);
        assert_eq!(r(3.5, Rounding::NearestEven), 4);
        assert_eq!(r(-2.5, Rounding::NearestEven), -2);
        assert_eq!(r(-2.7, Rounding::TowardZero), -2);
        assert_eq!(r(-2.2, Rounding::Floor), -3);
        assert_eq!(r(2.2, Rounding::Ceil), 3);
    }

    #[test]
    fn saturation_clamps_and_error_mode_refuses() {
        assert_eq!(cast::<u8>(300.0, Rounding::NearestEven, Overflow::Saturate).unwrap(), 255);
        assert_eq!(cast::<u8>(-4.0, Rounding::NearestEven, Overflow::Saturate).unwrap(), 0);
        assert_eq!(
            cast::<i16>(f64::INFINITY, Rounding::NearestEven, Overflow::Saturate).unwrap(),
            i16::MAX
        );
        assert!(matches!(
            cast::<u8>(255.6, Rounding::NearestEven, Overflow::Error),
            Err(Error::OutOfRange { target: "u8", .. })
        ));
        // 255.4 rounds into range, so it is not an overflow.
        assert_eq!(cast::<u8>(255.4, Rounding::NearestEven, Overflow::Error).unwrap(), 255);
        assert_eq!(
            cast::<f32>(1e300, Rounding::NearestEven, Overflow::Saturate).unwrap(),
            f32::MAX
        );
        assert!(cast::<f32>(-1e300, Rounding::NearestEven, Overflow::Error).is_err());
    }

    #[test]
    fn nan_never_becomes_an_integer() {
        for overflow in [Overflow::Saturate, Overflow::Error] {
            assert!(cast::<i32>(f64::NAN, Rounding::NearestEven, overflow).is_err());
        }
        assert!(cast::<f32>(f64::NAN, Rounding::NearestEven, Overflow::Error).unwrap().is_nan());
    }

    #[test]
    fn extreme_integers_round_trip_through_f64() {
        for v in [i32::MIN, i32::MAX, 0, -1] {
            assert_eq!(cast::<i32>(v.to_f64(), Rounding::NearestEven, Overflow::Error).unwrap(), v);
        }
        assert_eq!(
            cast::<u32>(u32::MAX.to_f64(), Rounding::Floor, Overflow::Error).unwrap(),
            u32::MAX
        );
    }
}
