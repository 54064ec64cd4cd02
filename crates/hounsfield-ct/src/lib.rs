//! # hounsfield-ct
//!
//! CT geometries (parallel, fan, cone, vector), ray-driven projectors implementing
//! `hounsfield_core::LinearOperator` with exact adjoints, FBP, FDK, iterative reconstruction,
//! analytic phantoms and noise simulation.
//!
//! **Status: not implemented yet.** The crate exports nothing so far.
#![warn(missing_docs)]
