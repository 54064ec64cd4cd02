//! # hounsfield-filter
//!
//! Smoothing, rank filters, resampling, reorientation, intensity normalisation, thresholds,
//! morphology and connected components on `hounsfield_core::Volume`, with sizes in millimetres.
//!
//! **Status: not implemented yet.** The crate exports nothing so far.
#![warn(missing_docs)]
