//! DICOM: single files and series to volumes with exact geometry.
//!
//! - [`scan_dicom_dir`] reads headers only and groups files into series as dcm2niix does
//!   (SeriesInstanceUID, orientation, image size, echo, image type; not AcquisitionNumber).
//! - [`read_dicom_series`] sorts slices by their position projected on the slice normal
//!   (InstanceNumber only without positions), refuses duplicate positions, uneven spacing and
//!   gantry tilt with typed errors ([`SeriesProblem`](crate::SeriesProblem)) unless
//!   [`SeriesOptions`] says how to handle them, and decodes files in parallel.
//! - [`read_dicom_dir`] does both for one series of a directory, chosen by label, number or
//!   UID, and refuses while a DICOM image in it cannot be read.
//! - Pixel values are returned after the modality LUT (RescaleSlope/Intercept per slice, or the
//!   Modality LUT Sequence; greyscale only).
//! - Siemens mosaics are unpacked into slices (CSA header: [`csa`]); diffusion weighting per
//!   volume becomes FSL tables ([`fsl_tables`]); [`sidecar`] writes what dcm2niix's BIDS JSON
//!   holds.
//!
//! - [`anonymize_file`] and [`anonymize_dir`] write de-identified copies (PS3.15 Basic Profile).
//!
//! Geometry follows DICOM: ImagePositionPatient is the centre of the first voxel, the row
//! cosine is the direction of increasing column index (x), PixelSpacing is (row spacing,
//! column spacing) = (y, x).

mod anonymize;
mod bids;
pub mod csa;
mod diffusion;
mod header;
#[cfg(feature = "jpeg-turbo")]
mod jpeg;
mod lengths;
mod mosaic;
mod pixels;
mod private;
mod regrid;
mod rle;
mod scan;
mod series;

pub use anonymize::{
    AnonymizeOptions, AnonymizeReport, AnonymizedDir, anonymize_dir, anonymize_file,
    replacement_uid,
};
pub use bids::{Sidecar, sidecar};
pub use diffusion::{Diffusion, FslTables, format_g, fsl_tables};
pub use header::{DicomHeader, FrameGroups, read_header};
pub use mosaic::Mosaic;
pub use scan::{DicomScan, DicomSeries, Skipped, read_dicom_dir, scan_dicom_dir};
pub use series::{DicomInfo, DicomVolume, SeriesOptions, read_dicom_file, read_dicom_series};
