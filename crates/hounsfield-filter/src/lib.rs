//! # hounsfield-filter
//!
//! What a pipeline does between reading a scan and analysing it, on `hounsfield_core::Volume`s
//! with their geometry kept, sizes in millimetres:
//!
//! - [`gaussian`]: separable Gaussian smoothing with scipy.ndimage's kernel and boundary modes
//!   ([`Boundary`]);
//! - [`recursive`]: the recursive (IIR) Gaussian (Deriche's fourth order), cost independent of
//!   sigma, within 0.05% of the Gaussian;
//! - [`derivative`]: box mean, gradient and gradient magnitude per mm, unsharp masking;
//! - [`diffusion`]: edge-preserving Perona-Malik anisotropic diffusion;
//! - [`rank`]: median and any rank over a box, every element type, vectorised selection
//!   networks;
//! - [`intensity`]: CT windows with presets ([`Window`]), rescale, clip, z-score, percentiles,
//!   histogram matching;
//! - [`threshold`]: fixed thresholds, Otsu's, multi-Otsu, Li's and the triangle threshold
//!   (scikit-image's conventions);
//! - [`resample`]: onto a new spacing or any target grid (oblique included), nearest or
//!   trilinear, cubic B-spline ([`bspline`], scipy's order 3) or Lanczos windowed sinc
//!   ([`sinc`]), label-aware, antialiased, pixel-centre convention, extent kept;
//! - [`morphology`]: binary erosion, dilation, opening and closing with a ball or box in mm
//!   (balls through the exact distance transform), hole filling, grayscale erosion and dilation;
//! - [`reshape`]: crop (by index or physical box), pad, flip, permute, reorient to RAS, LPS or
//!   any code, every voxel keeping its physical position;
//! - [`label`]: connected components (6/18/26), relabelling by size, the largest component,
//!   per-region volume, bounding box and centroid in physical coordinates;
//! - [`brain`]: the classical brain mask of a T1 MRI (Otsu, erosion, largest component,
//!   reconstruction, hole filling);
//! - [`lung`]: the classical lung mask of a chest CT (air threshold, outside air dropped,
//!   lung-sized components, vessels filled per slice);
//! - [`chunked`]: the filters above chunk by chunk over `hounsfield_core::chunk` sources and
//!   sinks (each chunk with a halo of the filter's reach), equal to the in-memory results bit for
//!   bit, under a memory budget; connected components across chunks with the same numbering;
//!   resampling to a new spacing (nearest, linear, Lanczos) chunk by chunk.
//!
//! Results are identical for any number of rayon threads. Errors are `hounsfield_core::Error`:
//! the only failures here are invalid parameters, shapes and values, which core already names.
//!
//! ```
//! use hounsfield_core::{Geometry, Volume};
//! use hounsfield_filter::{gaussian, label, threshold, GaussianOptions};
//!
//! // Two bright blocks in a 0.5 x 0.5 x 2 mm volume.
//! let g = Geometry::axis_aligned([0.5, 0.5, 2.0], [0.0; 3])?;
//! let ct = Volume::from_vec([8, 16, 16], (0..2048).map(|i| {
//!     let (z, x) = (i / 256, i % 16);
//!     if (2..6).contains(&z) && (x < 5 || x > 10) { 300.0 } else { -50.0 }
//! }).collect::<Vec<f32>>(), g)?;
//! let smooth = gaussian::gaussian(&ct, &GaussianOptions::new(1.0))?; // sigma 1 mm
//! let t = threshold::otsu_threshold(&smooth, 256)?;
//! let mask = threshold::binary_threshold(&smooth, t, f64::INFINITY);
//! let labels = label::label(&mask, label::Connectivity::Six)?;
//! assert_eq!(labels.count, 2);
//! let regions = label::regions(&labels);
//! println!("{:.0} mm^3 at {:?}", regions[0].volume_mm3, regions[0].centroid_mm);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

pub mod boundary;
pub mod brain;
pub mod bspline;
pub mod chunked;
pub mod derivative;
pub mod diffusion;
pub mod gaussian;
pub mod intensity;
mod kernel;
pub mod label;
pub mod lung;
mod median27;
pub mod morphology;
pub mod rank;
pub mod recursive;
pub mod resample;
pub mod reshape;
pub mod sinc;
pub mod threshold;

pub use boundary::Boundary;
pub use gaussian::GaussianOptions;
pub use intensity::Window;
pub use label::{Connectivity, Labels, Region};
pub use morphology::Element3;
pub use resample::{Interpolation, ResampleOptions};
