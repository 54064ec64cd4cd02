//! NIfTI-1 and NIfTI-2: `.nii`, `.nii.gz`, `.hdr`/`.img` pairs (gzipped or not), either byte order.
//!
//! - Frames: dimensions 4 to 7 are flattened, in file order, into a list of 3D frames (a time
//!   series reads as one frame per time point), never into a 4D array.
//! - Components: RGB24 and RGBA32 become 3 or 4 `u8` volumes per frame, complex64/complex128 two
//!   `f32`/`f64` volumes (real, imaginary).
//! - Values are returned as stored (`volumes`), with the header's scaling available separately
//!   (`scaling`, `scaled_f64`): an `int16` file with a slope stays `int16` until asked.
//! - Geometry: sform when `sform_code > 0`, else qform, else nibabel's fallback; see [`xform`].

mod datatype;
pub mod header;
mod read;
mod write;
pub mod xform;

pub use header::{Extension, NiftiHeader, NiftiVersion};
pub use read::{ReadOptions, read_nifti, read_nifti_header, read_nifti_with};
pub use write::{WriteOptions, write_nifti, write_nifti_with};
pub use xform::XformSource;

use hounsfield_core::{DynVolume, Geometry, Volume, with_dyn_volume};

/// The contents of a NIfTI file: its header and its voxels as 3D volumes.
#[derive(Clone, Debug, PartialEq)]
pub struct NiftiImage {
    /// The header as read (or to be written; dimensions, datatype and transforms are then
    /// derived from the volumes).
    pub header: NiftiHeader,
    volumes: Vec<DynVolume>,
    components: usize,
    xform: XformSource,
}

impl NiftiImage {
    /// An image of one scalar volume with a default header.
    pub fn from_volume(volume: impl Into<DynVolume>) -> Self {
        NiftiImage {
            header: NiftiHeader::default(),
            volumes: vec![volume.into()],
            components: 1,
            xform: XformSource::Sform,
        }
    }

    /// An image of several frames (e.g. a time series) of `components` volumes each, frame-major:
    /// `volumes[frame * components + component]`. All must share shape, type and geometry; that
    /// is checked when writing.
    pub fn from_volumes(volumes: Vec<DynVolume>, components: usize) -> Option<Self> {
        if volumes.is_empty() || components == 0 || !volumes.len().is_multiple_of(components) {
            return None;
        }
        Some(NiftiImage {
            header: NiftiHeader::default(),
            volumes,
            components,
            xform: XformSource::Sform,
        })
    }

    /// Every volume, frame-major.
    pub fn volumes(&self) -> &[DynVolume] {
        &self.volumes
    }

    /// Takes the volumes out.
    pub fn into_volumes(self) -> Vec<DynVolume> {
        self.volumes
    }

    /// The single volume of a 3D scalar image; `None` for time series and multi-component data.
    pub fn single(&self) -> Option<&DynVolume> {
        (self.volumes.len() == 1).then(|| &self.volumes[0])
    }

    /// Number of frames (product of dimensions 4 to 7).
    pub fn frames(&self) -> usize {
        self.volumes.len() / self.components
    }

    /// Values per voxel: 1, or 2 (complex), 3 (RGB), 4 (RGBA).
    pub fn components(&self) -> usize {
        self.components
    }

    /// The volumes of frame `t` (one per component).
    pub fn frame(&self, t: usize) -> Option<&[DynVolume]> {
        self.volumes.get(t * self.components..(t + 1) * self.components)
    }

    /// The geometry shared by all volumes.
    pub fn geometry(&self) -> &Geometry {
        self.volumes[0].geometry()
    }

    /// Which header transform the geometry came from.
    pub fn xform_source(&self) -> XformSource {
        self.xform
    }

    /// `(slope, intercept)` to apply to stored values, if any (see [`NiftiHeader::scaling`]).
    pub fn scaling(&self) -> Option<(f64, f64)> {
        self.header.scaling()
    }

    /// Volume `index` with the scaling applied, in f64 (what nibabel's `get_fdata` returns).
    pub fn scaled_f64(&self, index: usize) -> Option<Volume<f64>> {
        let v = self.volumes.get(index)?;
        let (s, i) = self.scaling().unwrap_or((1.0, 0.0));
        Some(with_dyn_volume!(v, t => t.map(|x| hounsfield_core::Element::to_f64(x) * s + i)))
    }

    /// Volume `index` with the scaling applied, in f32.
    pub fn scaled_f32(&self, index: usize) -> Option<Volume<f32>> {
        self.volumes.get(index)?;
        self.clone_volume_scaled_f32(index)
    }

    /// [`scaled_f32`](Self::scaled_f32) of a consumed image: an unscaled f32 volume is moved
    /// out, not copied (no second buffer for the largest volumes).
    pub fn into_scaled_f32(mut self, index: usize) -> Option<Volume<f32>> {
        if index >= self.volumes.len() {
            return None;
        }
        if self.scaling().is_none()
            && let DynVolume::F32(_) = &self.volumes[index]
            && let DynVolume::F32(v) = self.volumes.swap_remove(index)
        {
            return Some(v);
        }
        self.clone_volume_scaled_f32(index)
    }

    fn clone_volume_scaled_f32(&self, index: usize) -> Option<Volume<f32>> {
        let v = self.volumes.get(index)?;
        let (s, i) = self.scaling().unwrap_or((1.0, 0.0));
        Some(
            with_dyn_volume!(v, t => t.map(|x| (hounsfield_core::Element::to_f64(x) * s + i) as f32)),
        )
    }
}
