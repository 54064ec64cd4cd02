//! # hounsfield-ct
//!
//! CT geometries (parallel, fan, cone, vector), ray-driven projectors implementing
//! `hounsfield_core::LinearOperator` with exact adjoints, FBP, FDK, iterative reconstruction,
//! analytic phantoms and noise simulation. Conventions (axes, angles, detector centre, array
//! layouts) are in [`geometry`]; accuracy and speed against ASTRA in `docs/CT.md`.
//!
//! ```
//! use hounsfield_core::operator::check_adjoint;
//! use hounsfield_ct::{FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp, uniform_angles};
//!
//! let grid = ImageGrid::new_2d(64, 64, 1.0)?;
//! let scan = ScanGeometry::parallel_2d(uniform_angles(90, 0.0, std::f64::consts::PI), 64, 1.0)?;
//! let sinogram = Phantom::shepp_logan_2d(32.0).project(&scan, 1)?; // exact line integrals
//! let image = fbp(&scan, &grid, sinogram.view(), &FbpOptions::default())?;
//! assert!((image[[32, 32]] - 0.2).abs() < 0.05); // the phantom's brain is 0.2
//! let projector = Projector::new(grid, scan)?; // A, a LinearOperator with an exact adjoint
//! assert!(check_adjoint(&projector, 1)?.relative_mismatch < 1e-6);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```
#![warn(missing_docs)]

mod backproject;
pub mod device;
pub mod fbp;
pub mod geometry;
#[cfg(feature = "cuda")]
pub mod gpu;
pub mod iterative;
pub mod noise;
pub mod phantom;
pub mod projector;
pub mod ramp;
pub mod simulate;

pub use device::{Device, projector_on};
pub use fbp::{FbpOptions, fbp, fdk};
pub use geometry::{Beam, Detector, ImageGrid, Ray, ScanGeometry, ViewVectors, uniform_angles};
pub use iterative::{
    Control, IterOptions, Progress, TvOptions, cgls, fista_tv, mlem, no_monitor, os_sart, sirt,
};
pub use noise::{NoiseOptions, add_noise, log_transform, photon_counts};
pub use phantom::{Ellipsoid, Phantom};
pub use projector::Projector;
pub use ramp::RampWindow;
pub use simulate::{DataNoise, PhantomFamily, Prior, SimulatedCase, Simulation};
