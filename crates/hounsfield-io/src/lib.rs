//! # hounsfield-io
//!
//! Medical image files in and out of [`hounsfield_core::Volume`]s with exact geometry.
//!
//! - [`nifti`]: NIfTI-1 and NIfTI-2 reading (`.nii`, `.nii.gz`, `.hdr`/`.img`, both byte orders,
//!   every datatype but 1-bit, 128-bit float and 256-bit complex; gzip CRC-32 and length
//!   verified) and writing (`.nii`, `.nii.gz` as blocked gzip compressed in parallel, atomic).
//!   Values and affines are checked against nibabel.
//! - [`dicom`]: DICOM files and series: headers without pixels, grouping as dcm2niix does,
//!   slices sorted along the normal, Enhanced multi-frame functional groups, duplicate
//!   positions, uneven spacing and gantry tilt refused with typed errors ([`SeriesProblem`])
//!   unless an option handles them (drop duplicates, fill gaps, de-shear or keep the shear), the
//!   modality LUT per frame (linear or table, greyscale only), parallel decoding (native,
//!   deflate, RLE up to 32 bits, JPEG of every process through libjpeg-turbo, JPEG-LS through
//!   CharLS, JPEG 2000, 1-bit), Siemens mosaics and CSA headers, 4D and diffusion series with
//!   FSL tables, BIDS sidecars, and PS3.15 Basic Profile anonymization. Checked against
//!   dicom2nifti's ground truth, dcm2niix, nibabel and pydicom; what is refused is listed in
//!   docs/IO.md.
//! - [`zarr`] (feature `zarr`): OME-Zarr volumes whole or by region, the chunk source and sink
//!   of chunked processing: Zarr v3 written (zstd/gzip, shards, multiscale pyramids), v3 and v2
//!   (OME-Zarr 0.4) read at any level, other tools' stores placed only with an orientation
//!   given. Checked against zarr-python; docs/SCALE.md.
//!
//! ```
//! use hounsfield_core::{DynVolume, Geometry, Volume};
//! use hounsfield_io::nifti::{read_nifti, write_nifti, NiftiImage};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("ct.nii.gz");
//! let geometry = Geometry::axis_aligned([0.7, 0.7, 2.5], [-120.0, -90.0, 40.0])?;
//! let ct = Volume::from_vec([2, 3, 4], (0..24).map(|v| v as i16 * 10 - 1000).collect(), geometry)?;
//! write_nifti(&path, &NiftiImage::from_volume(ct.clone()))?;
//!
//! let back = read_nifti(&path)?;
//! let Some(DynVolume::I16(values)) = back.single() else { panic!("int16 in, int16 out") };
//! assert_eq!(values.data(), ct.data());
//! assert!(back.geometry().approx_eq(ct.geometry(), 1e-4)); // NIfTI-1 stores f32 transforms
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

#[cfg(feature = "dicom")]
pub mod dicom;
pub mod error;
mod gzip;
pub mod nifti;
mod open;
mod source;
#[cfg(feature = "zarr")]
pub mod zarr;

pub use error::{Error, Result, SeriesProblem};
pub use open::{Format, OpenOptions, Opened, is_dicom_file, is_gzip, open, open_volume};
