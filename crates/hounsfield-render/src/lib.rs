//! # hounsfield-render
//!
//! Slice montages with windowing and overlays, maximum-intensity projections, direct volume
//! rendering and mesh previews, written as PNG with correct physical proportions.
//!
//! **Status: not implemented yet.** The crate exports nothing so far.
#![warn(missing_docs)]
