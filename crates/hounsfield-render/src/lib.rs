//! # hounsfield-render
//!
//! Pictures of volumes and meshes as PNG, with correct physical proportions: slices and
//! montages with windowing and label overlays, maximum-intensity projections (along an index
//! axis, or from any direction by ray casting), direct volume rendering with transfer-function
//! presets and gradient shading, shaded mesh previews, and multi-view renders of a mesh (mask,
//! depth, world-frame normals, colour) for any [`hounsfield_core::Camera`].
//!
//! ```
//! use hounsfield_core::{Geometry, Volume};
//! use hounsfield_render::{Plane, Window, mip};
//!
//! // A bright bar along z in a 16^3 volume of 1 x 1 x 2 mm voxels.
//! let mut values = vec![0.0f32; 16 * 16 * 16];
//! for z in 0..16 { values[(z * 16 + 8) * 16 + 4] = 100.0; }
//! let v = Volume::from_vec([16, 16, 16], values, Geometry::axis_aligned([1.0, 1.0, 2.0], [0.0; 3])?)?;
//! let picture = mip(&v, Plane::Coronal, &Window::from_range(0.0, 100.0)?);
//! assert_eq!((picture.width, picture.height), (16, 32)); // z is twice as long in mm
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod camera;
pub mod image;
pub mod mesh_preview;
pub mod multiview;
pub mod raycast;
pub mod slice;

pub use camera::View;
pub use image::{RgbImage, read_grey16_png, read_png, write_grey16_png};
pub use mesh_preview::mesh_preview;
pub use multiview::{HEADLIGHT_AMBIENT, Surface, ViewMaps, render_view};
pub use raycast::{ControlPoint, DvrOptions, TransferFunction, mip_view, volume_render};
pub use slice::{Overlay, Plane, Window, label_colour, mip, mip_values, montage, slice_image};
