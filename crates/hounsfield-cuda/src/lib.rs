//! # hounsfield-cuda
//!
//! The optional CUDA runtime: device selection, NVRTC compilation of kernels at run time through
//! cudarc (so no CUDA toolkit is needed to build), device buffers for volumes and projections.
//!
//! **Status: not implemented yet.** The crate exports nothing so far and does not yet depend on
//! cudarc.
#![warn(missing_docs)]
