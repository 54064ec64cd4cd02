//! # hounsfield-io
//!
//! DICOM files and series (every common transfer syntax, multi-frame, exact geometry) and
//! NIfTI-1/2 reading and writing, with DICOM -> NIfTI conversion checked against dcm2niix.
//!
//! **Status: not implemented yet.** This crate exists so the workspace layout and the layer rule
//! are in place; it exports nothing. Readers and writers arrive with the medical I/O work.
#![warn(missing_docs)]
