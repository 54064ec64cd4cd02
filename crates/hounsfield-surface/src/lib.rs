//! # hounsfield-surface
//!
//! Surfaces from multi-view images, the reconstruction stage of Wonder3D-like image-to-3D:
//! [`visual_hull`] carves the solid every silhouette allows, as a signed field whose zero level
//! is the hull's surface (mesh it with `hounsfield-mesh`'s marching cubes). Views come as
//! [`Camera`](hounsfield_core::Camera)s and [`Silhouette`]s, so any renderer's or camera's
//! pictures fit, as long as the camera model is known. [`fit_sdf`] then fits a signed distance
//! grid to the silhouettes and normal maps by NeuS volume rendering, started from the hull and
//! kept inside it, which carves the concavities no silhouette shows (docs/SURFACE.md), and
//! [`vertex_colours`] colours the resulting mesh from the views' colour pictures, saying which
//! vertices no view sees.
//!
//! ```
//! use hounsfield_core::{Camera, camera::Projection};
//! use hounsfield_surface::{HullGrid, MaskedView, Silhouette, visual_hull};
//!
//! // A disc of radius 8 pixels (of 0.5 mm) seen from the front and from the right: the hull
//! // is the intersection of two cylinders.
//! let n = 32;
//! let disc: Vec<bool> = (0..n * n)
//!     .map(|k| ((k % n) as f64 + 0.5 - 16.0).hypot((k / n) as f64 + 0.5 - 16.0) <= 8.0)
//!     .collect();
//! let ortho = Projection::Orthographic { width_mm: 16.0, height_mm: 16.0 };
//! let views: Vec<MaskedView> = [0.0, 90.0]
//!     .iter()
//!     .map(|&azimuth| MaskedView {
//!         camera: Camera::orbit(ortho, n, n, [0.0; 3], 50.0, azimuth, 0.0).unwrap(),
//!         silhouette: Silhouette::new(n, n, disc.clone()).unwrap(),
//!     })
//!     .collect();
//! let grid = HullGrid { centre: [0.0; 3], half_extent: 5.0, resolution: 40 };
//! let field = visual_hull(&views, &grid)?;
//! let inside = field.as_slice().iter().filter(|&&v| v > 0.0).count() as f64 * 0.25f64.powi(3);
//! // Steinmetz solid 16 r^3 / 3, r the radius of a disc as large as the 208 pixels seen.
//! let r = (208.0 / std::f64::consts::PI).sqrt() * 0.5;
//! assert!((inside - 16.0 * r.powi(3) / 3.0).abs() < 0.01 * inside);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod colour;
pub mod fit;
pub mod grid;
pub mod hull;
pub mod neus;
pub mod silhouette;

pub use colour::{ColourView, Shading, VertexColours, vertex_colours};
pub use fit::{FitOptions, FitProgress, TargetView, fit_sdf};
pub use grid::SdfGrid;
pub use hull::{HullGrid, MaskedView, visual_hull};
pub use silhouette::Silhouette;
