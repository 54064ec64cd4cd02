//! # hounsfield-mesh
//!
//! Watertight isosurfaces in physical (LPS) coordinates, label surfaces with shared boundaries,
//! measures (area, volume, topology, Hausdorff/Chamfer; against a reference: Chamfer-L1, F-score,
//! normal consistency, volume IoU by voxelisation), cleaning, Taubin and windowed-sinc
//! smoothing, quadric decimation, STL/PLY/OBJ input and output and GLB output (vertex colours
//! in PLY, OBJ and GLB). Isosurfaces of volumes too large for memory are extracted chunk by
//! chunk from a `hounsfield_core::chunk` source ([`chunked`]), equal to the in-memory ones.
//! Solids as signed distances ([`shapes`]: primitives, superquadrics, poses, unions and
//! differences) and a procedural family of shape classes with their occupancy grids
//! ([`shape_family`], the data of shape-from-image networks: `docs/SHAPE.md`).
//! Details and measurements against VTK and scikit-image: `docs/MESH.md`.
//!
//! ```
//! use hounsfield_core::{Geometry, Volume};
//! use hounsfield_mesh::{IsoOptions, isosurface};
//!
//! // A ball of radius 8 mm sampled on 1 mm voxels, as a distance field (positive inside).
//! let n = 24;
//! let c = (n as f64 - 1.0) / 2.0;
//! let field: Vec<f32> = (0..n * n * n)
//!     .map(|i| {
//!         let (z, y, x) = ((i / (n * n)) as f64, ((i / n) % n) as f64, (i % n) as f64);
//!         (8.0 - ((x - c).powi(2) + (y - c).powi(2) + (z - c).powi(2)).sqrt()) as f32
//!     })
//!     .collect();
//! let volume = Volume::from_vec([n, n, n], field, Geometry::default())?;
//! let mesh = isosurface(&volume, 0.0, &IsoOptions::default())?;
//! let stats = mesh.stats();
//! assert!(stats.is_watertight() && stats.euler_characteristic == 2);
//! let sphere = 4.0 * std::f64::consts::PI * 64.0;
//! assert!((stats.area - sphere).abs() < 0.01 * sphere);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

mod cases;
pub mod chunked;
pub mod compare;
pub mod decimate;
pub mod distance;
pub mod io;
pub mod isosurface;
pub mod labels;
pub mod mesh;
pub mod primitives;
pub mod process;
pub mod shape_family;
pub mod shapes;
mod vec3;

pub use compare::{
    CompareOptions, MeshComparison, SurfaceComparison, SurfaceSamples, compare_meshes,
    compare_surfaces, sample_surface, volume_iou, voxelize,
};
pub use decimate::decimate;
pub use distance::{SurfaceDistances, colour_at_closest, surface_distances, vertex_to_surface};
pub use isosurface::{IsoOptions, isosurface, isosurface_in};
pub use labels::{LabelOptions, LabelSurface, label_surfaces};
pub use mesh::{MeshStats, TriMesh};
pub use primitives::icosphere;
pub use process::{
    TaubinOptions, WindowedSincOptions, clean, compact, drop_degenerate, keep_largest_component,
    keep_marked_components, remove_small_components, taubin_smooth, windowed_sinc_smooth,
};
pub use shape_family::{ShapeClass, occupancy};
pub use shapes::{Shape, concave_suite};
