//! `Volume<T>`: a C-order `(nz, ny, nx)` array with its [`Geometry`].

use ndarray::{Array3, ArrayView3, ArrayViewMut3, Zip};

use crate::element::{CastOptions, DType, Element};
use crate::error::{Error, Result};
use crate::geometry::Geometry;

/// A 3D image: voxel values in C order with shape `(nz, ny, nx)` (x fastest, as the bytes lie in a
/// NIfTI or DICOM file) and the geometry that places them in patient space. A 2D image is a volume
/// with `nz = 1`. Every volume holds at least one voxel.
///
/// Array index `[z, y, x]` corresponds to the geometry's continuous index `(i, j, k) = (x, y, z)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume<T> {
    data: Array3<T>,
    geometry: Geometry,
}

/// Number of elements of `shape`, or an error when the product overflows or the byte size
/// (`elem_bytes` each) exceeds `max_bytes`. Readers call this before allocating anything a
/// header declares.
pub fn checked_len(shape: &[usize], elem_bytes: usize, max_bytes: u64) -> Result<usize> {
    let len = shape
        .iter()
        .try_fold(1usize, |acc, &n| acc.checked_mul(n))
        .ok_or_else(|| Error::TooLarge(format!("shape {shape:?} overflows the address space")))?;
    let bytes = (len as u128) * (elem_bytes as u128);
    if bytes > u128::from(max_bytes) || bytes > isize::MAX as u128 {
        return Err(Error::TooLarge(format!(
            "shape {shape:?} needs {bytes} bytes, more than the limit of {max_bytes}"
        )));
    }
    Ok(len)
}

impl<T: Element> Volume<T> {
    /// Wraps an array and its geometry. The array is made C-contiguous if it is not; an array with
    /// a zero-length axis is refused.
    pub fn new(data: Array3<T>, geometry: Geometry) -> Result<Self> {
        if data.is_empty() {
            return Err(Error::Empty(format!("volume of shape {:?} has no voxels", data.shape())));
        }
        let data =
            if data.is_standard_layout() { data } else { data.as_standard_layout().into_owned() };
        Ok(Volume { data, geometry })
    }

    /// Builds a volume from C-order values for `shape = [nz, ny, nx]`.
    pub fn from_vec(shape: [usize; 3], values: Vec<T>, geometry: Geometry) -> Result<Self> {
        let expected = checked_len(&shape, size_of::<T>(), u64::MAX)?;
        if values.len() != expected {
            return Err(Error::ShapeMismatch {
                what: "volume values",
                expected: vec![expected],
                found: vec![values.len()],
            });
        }
        let data = Array3::from_shape_vec(shape, values)
            .map_err(|e| Error::param("shape", e.to_string()))?;
        Self::new(data, geometry)
    }

    /// A volume of `shape = [nz, ny, nx]` filled with `value`.
    pub fn filled(shape: [usize; 3], value: T, geometry: Geometry) -> Result<Self> {
        checked_len(&shape, size_of::<T>(), u64::MAX)?;
        Self::new(Array3::from_elem(shape, value), geometry)
    }

    /// A volume of `shape = [nz, ny, nx]` filled with the type's default (zero).
    pub fn zeros(shape: [usize; 3], geometry: Geometry) -> Result<Self> {
        Self::filled(shape, T::default(), geometry)
    }

    /// The volume with its index axes reordered: new index axis k (x, y, z) is old axis
    /// `order[k]`; voxels keep their physical positions (spacing and direction columns move
    /// with their axes).
    pub fn permuted(&self, order: [usize; 3]) -> Result<Self> {
        let mut seen = [false; 3];
        for &k in &order {
            if k > 2 || std::mem::replace(&mut seen[k], true) {
                return Err(Error::param(
                    "order",
                    format!("{order:?} is not a permutation of 0, 1, 2"),
                ));
            }
        }
        let g = &self.geometry;
        let (d, sp) = (g.direction(), g.spacing());
        let direction = [0, 1, 2].map(|r| [0, 1, 2].map(|c| d[r][order[c]]));
        let spacing = [0, 1, 2].map(|c| sp[order[c]]);
        // Array axis of index axis k is 2 - k: new array axis a holds old array axis 2 - order[2 - a].
        let axes = [0, 1, 2].map(|a| 2 - order[2 - a]);
        let data = self.data.clone().permuted_axes(axes).as_standard_layout().to_owned();
        Self::new(data, Geometry::new(spacing, g.origin(), direction)?)
    }

    /// The voxel values.
    pub fn data(&self) -> &Array3<T> {
        &self.data
    }

    /// A read-only view of the values.
    pub fn view(&self) -> ArrayView3<'_, T> {
        self.data.view()
    }

    /// A mutable view of the values (the shape cannot change through it).
    pub fn view_mut(&mut self) -> ArrayViewMut3<'_, T> {
        self.data.view_mut()
    }

    /// The values as a C-order slice.
    pub fn as_slice(&self) -> &[T] {
        // new() guarantees standard layout.
        self.data.as_slice().unwrap_or_default()
    }

    /// The values as a mutable C-order slice.
    pub fn as_slice_mut(&mut self) -> &mut [T] {
        self.data.as_slice_mut().unwrap_or_default()
    }

    /// The geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Replaces the geometry.
    pub fn set_geometry(&mut self, geometry: Geometry) {
        self.geometry = geometry;
    }

    /// The same values with another geometry.
    pub fn with_geometry(mut self, geometry: Geometry) -> Self {
        self.geometry = geometry;
        self
    }

    /// Splits into the array and the geometry.
    pub fn into_parts(self) -> (Array3<T>, Geometry) {
        (self.data, self.geometry)
    }

    /// `[nz, ny, nx]`.
    pub fn shape(&self) -> [usize; 3] {
        let s = self.data.shape();
        [s[0], s[1], s[2]]
    }

    /// `[nx, ny, nz]`: the size along geometry index axes (i, j, k), as NIfTI's dim[1..4].
    pub fn size_xyz(&self) -> [usize; 3] {
        let [nz, ny, nx] = self.shape();
        [nx, ny, nz]
    }

    /// Number of voxels (never zero).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Always false: a volume holds at least one voxel. Present for API symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    /// Physical position (LPS, mm) of the centre of voxel `[z, y, x]`.
    pub fn voxel_to_physical(&self, zyx: [usize; 3]) -> [f64; 3] {
        self.geometry.index_to_physical([zyx[2] as f64, zyx[1] as f64, zyx[0] as f64])
    }

    /// Applies `f` to every voxel (in parallel), keeping the geometry.
    pub fn map<U: Element>(&self, f: impl Fn(T) -> U + Sync + Send) -> Volume<U> {
        let data = Zip::from(&self.data).par_map_collect(|&v| f(v));
        Volume { data, geometry: self.geometry.clone() }
    }

    /// Converts to another element type with explicit rounding and overflow handling.
    pub fn cast<U: Element>(&self, options: CastOptions) -> Result<Volume<U>> {
        let values = self
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, v)| U::from_f64(v.to_f64(), options, i))
            .collect::<Result<Vec<U>>>()?;
        Volume::from_vec(self.shape(), values, self.geometry.clone())
    }

    /// The values as `f32` (exact for 8- and 16-bit integers; 32-bit integers beyond 2^24 and
    /// `f64` values round to the nearest `f32`).
    pub fn to_f32(&self) -> Volume<f32> {
        self.map(|v| v.to_f64() as f32)
    }

    /// The values as `f64` (always exact).
    pub fn to_f64(&self) -> Volume<f64> {
        self.map(Element::to_f64)
    }

    /// Smallest and largest value, ignoring NaN; `None` when every value is NaN.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        self.as_slice().iter().map(|v| v.to_f64()).filter(|v| !v.is_nan()).fold(None, |acc, v| {
            match acc {
                None => Some((v, v)),
                Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
            }
        })
    }

    /// Error unless `other` has the same shape; `what` names `other` in the message.
    pub fn check_same_shape<U: Element>(
        &self,
        other: &Volume<U>,
        what: &'static str,
    ) -> Result<()> {
        crate::error::check_shape(what, &self.shape(), &other.shape())
    }
}
