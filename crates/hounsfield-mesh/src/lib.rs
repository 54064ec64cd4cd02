//! # hounsfield-mesh
//!
//! Isosurfaces and label surfaces in physical (LPS) coordinates, smoothing, decimation, measures
//! and STL/PLY/OBJ input and output.
//!
//! **Status: not implemented yet.** The crate exports nothing so far.
#![warn(missing_docs)]
