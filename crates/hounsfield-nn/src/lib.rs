//! # hounsfield-nn
//!
//! Networks on candle: 3D convolution, pooling and upsampling, 2D/3D U-Nets, training and
//! sliding-window inference for segmentation, and learned CT reconstruction that calls a
//! `hounsfield_core::LinearOperator`.
//!
//! **Status: not implemented yet.** The crate exports nothing so far and does not yet depend on
//! candle.
#![warn(missing_docs)]
