//! # hounsfield-core
//!
//! The types every Hounsfield crate meets on, and nothing heavier: no codecs, no candle, no CUDA.
//!
//! - [`Volume<T>`]: voxel values as an `ndarray::Array3` in C order, shape `(nz, ny, nx)`, with a
//!   [`Geometry`] placing them in DICOM/ITK patient coordinates (LPS, millimetres).
//! - [`Geometry`]: spacing, origin and direction; index <-> physical mapping, the NIfTI RAS
//!   affine, orientation codes ([`Orientation`]).
//! - [`DynVolume`]: a volume whose element type is chosen at run time (what a reader returns).
//! - [`Element`] and [`CastOptions`]: the voxel types (u8 ... f64) and explicit conversions.
//! - [`LinearOperator`]: `A` and `A^T` on `f32` arrays, with [`check_adjoint`] for tests.
//! - [`metrics`]: PSNR, SSIM, RMSE, MAE, Dice, Jaccard, HD95, defined as scikit-image, scipy and
//!   MONAI define them.
//! - [`Camera`]: orthographic or pinhole intrinsics and a pose in the same LPS frame, so a
//!   render, a visual hull and a fitted surface agree on where a pixel looks.
//! - [`Error`] and [`Result`]: the error conventions the other crates copy.
//!
//! ```
//! use hounsfield_core::{metrics, Geometry, Volume};
//!
//! // A 3 x 4 x 5 volume of 0.8 x 0.8 x 2.5 mm voxels, origin at (-100, -120, 30) mm.
//! let geometry = Geometry::axis_aligned([0.8, 0.8, 2.5], [-100.0, -120.0, 30.0])?;
//! let volume = Volume::from_vec([3, 4, 5], (0..60).map(|v| v as f32).collect(), geometry)?;
//!
//! // Voxel [z=2, y=1, x=4] lies at x = -100 + 4 * 0.8, y = -120 + 0.8, z = 30 + 2 * 2.5.
//! let p = volume.voxel_to_physical([2, 1, 4]);
//! assert!((p[0] + 96.8).abs() < 1e-12 && (p[1] + 119.2).abs() < 1e-12 && (p[2] - 35.0).abs() < 1e-12);
//! assert_eq!(volume.geometry().orientation_code(), "LPS");
//!
//! // NIfTI's affine maps the same index to RAS: x and y change sign.
//! let ras = volume.geometry().ras_affine();
//! assert_eq!(ras[0][3], 100.0);
//!
//! // Metrics compare volumes voxel by voxel.
//! let noisy = volume.map(|v| v + 0.5);
//! assert!((metrics::rmse(&volume, &noisy)? - 0.5).abs() < 1e-12);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod camera;
pub mod chunk;
pub mod display;
pub mod distance;
pub mod dynvolume;
pub mod element;
pub mod error;
pub mod fs;
pub mod geometry;
pub mod mat3;
pub mod metrics;
pub mod operator;
pub mod orientation;
pub mod rng;
pub mod vec3;
pub mod volume;

pub use camera::{Camera, Projection};
pub use chunk::{ChunkSink, ChunkSource, Region, VolumeSink};
pub use display::{Window, WindowPreset};
pub use dynvolume::DynVolume;
pub use element::{CastOptions, DType, Element, Overflow, Rounding};
pub use error::{Error, Result};
pub use geometry::Geometry;
pub use operator::{AdjointReport, LinearOperator, MatrixOperator, check_adjoint, estimate_norm};
pub use orientation::Orientation;
pub use volume::Volume;
