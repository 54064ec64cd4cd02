//! # hounsfield-ct
//!
//! CT geometries (parallel, fan, cone, vector), ray-driven projectors implementing
//! `hounsfield_core::LinearOperator` with exact adjoints, FBP, FDK, iterative reconstruction,
//! analytic phantoms and noise simulation.
#![warn(missing_docs)]

mod backproject;
pub mod fbp;
pub mod geometry;
pub mod iterative;
pub mod noise;
pub mod phantom;
pub mod projector;
pub mod ramp;

pub use fbp::{FbpOptions, fbp, fdk};
pub use geometry::{Beam, Detector, ImageGrid, Ray, ScanGeometry, ViewVectors, uniform_angles};
pub use iterative::{
    Control, IterOptions, Progress, TvOptions, cgls, fista_tv, mlem, no_monitor, os_sart, sirt,
};
pub use noise::{NoiseOptions, add_noise, log_transform, photon_counts};
pub use phantom::{Ellipsoid, Phantom};
pub use projector::Projector;
pub use ramp::Window;
