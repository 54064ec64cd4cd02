//! `DynVolume`: a volume whose element type is known only at run time, as a file reader finds it.

use crate::element::{CastOptions, DType, Element};
use crate::error::Result;
use crate::geometry::Geometry;
use crate::volume::Volume;

/// A [`Volume`] of any supported element type.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // one variant per element type, named after it
pub enum DynVolume {
    U8(Volume<u8>),
    I8(Volume<i8>),
    U16(Volume<u16>),
    I16(Volume<i16>),
    U32(Volume<u32>),
    I32(Volume<i32>),
    F32(Volume<f32>),
    F64(Volume<f64>),
}

/// Runs `$body` with `$v` bound to the typed volume inside a `DynVolume`.
#[macro_export]
macro_rules! with_dyn_volume {
    ($dv:expr, $v:ident => $body:expr) => {
        match $dv {
            $crate::DynVolume::U8($v) => $body,
            $crate::DynVolume::I8($v) => $body,
            $crate::DynVolume::U16($v) => $body,
            $crate::DynVolume::I16($v) => $body,
            $crate::DynVolume::U32($v) => $body,
            $crate::DynVolume::I32($v) => $body,
            $crate::DynVolume::F32($v) => $body,
            $crate::DynVolume::F64($v) => $body,
        }
    };
}

impl DynVolume {
    /// The element type.
    pub fn dtype(&self) -> DType {
        with_dyn_volume!(self, v => v.dtype())
    }

    /// `[nz, ny, nx]`.
    pub fn shape(&self) -> [usize; 3] {
        with_dyn_volume!(self, v => v.shape())
    }

    /// The geometry.
    pub fn geometry(&self) -> &Geometry {
        with_dyn_volume!(self, v => v.geometry())
    }

    /// Replaces the geometry.
    pub fn set_geometry(&mut self, geometry: Geometry) {
        with_dyn_volume!(self, v => v.set_geometry(geometry))
    }

    /// Smallest and largest value, ignoring NaN.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        with_dyn_volume!(self, v => v.min_max())
    }

    /// The values as `f32` (see [`Volume::to_f32`]).
    pub fn to_f32(&self) -> Volume<f32> {
        with_dyn_volume!(self, v => v.to_f32())
    }

    /// The values as `f64` (exact).
    pub fn to_f64(&self) -> Volume<f64> {
        with_dyn_volume!(self, v => v.to_f64())
    }

    /// Converts to element type `T` with explicit rounding and overflow handling.
    pub fn cast<T: Element>(&self, options: CastOptions) -> Result<Volume<T>> {
        with_dyn_volume!(self, v => v.cast(options))
    }
}

macro_rules! impl_from {
    ($t:ty, $variant:ident) => {
        impl From<Volume<$t>> for DynVolume {
            fn from(v: Volume<$t>) -> Self {
                DynVolume::$variant(v)
            }
        }
    };
}

impl_from!(u8, U8);
impl_from!(i8, I8);
impl_from!(u16, U16);
impl_from!(i16, I16);
impl_from!(u32, U32);
impl_from!(i32, I32);
impl_from!(f32, F32);
impl_from!(f64, F64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispatch_reaches_the_typed_volume() {
        let v = Volume::from_vec([1, 2, 2], vec![-3i16, 0, 7, 300], Geometry::default()).unwrap();
        let d: DynVolume = v.into();
        assert_eq!(d.dtype(), DType::I16);
        assert_eq!(d.shape(), [1, 2, 2]);
        assert_eq!(d.min_max(), Some((-3.0, 300.0)));
        assert_eq!(d.to_f32().as_slice(), &[-3.0, 0.0, 7.0, 300.0]);
        let u: Volume<u8> = d.cast(CastOptions::default()).unwrap();
        assert_eq!(u.as_slice(), &[0, 0, 7, 255]);
    }
}
