//! # hounsfield-nn
//!
//! MONAI/nnU-Net-style segmentation, learned reconstruction and shape from images on candle,
//! trained and run from Rust on the CPU:
//!
//! - [`ops`]: differentiable 3D convolution and transposed convolution (im2col + GEMM, on one
//!   thread GEMMs over shifted windows of the padded input, and direct AVX-512/AVX2 kernels for
//!   "same" 3x3 2D layers), the Learned Primal-Dual block as one fused op, max and average
//!   pooling, nearest and trilinear upsampling, instance norm — what candle lacks.
//! - [`UNet`]: configurable 2D/3D U-Net (nnU-Net blocks, residual units, deep supervision).
//! - [`train`]: losses, AdamW with warm-up and cosine/poly decay, clipping, patch sampling with
//!   augmentation, validation Dice, resumable safetensors checkpoints.
//! - [`data`]: class-balanced patch sampling and augmentation (flips, turns, rotation and
//!   scaling, elastic deformation, intensity, gamma, contrast, noise, blur, low resolution).
//! - [`plan`]: nnU-Net-style self-configuration (2D/3D, slice axis, patch, batch, widths,
//!   mirrored axes) from the training cases' spacing and shapes, each choice with its reason.
//! - [`infer`]: sliding-window inference with Gaussian blending and flip TTA; volumes in,
//!   volumes (with the input's geometry) out.
//! - [`synthetic`]: ellipsoids and tubes with exact labels, for tests and demos.
//! - [`shape`]: 3D shape from 1-N views (3D-R2N2/Pix2Vox-style encoder-decoder with
//!   context-aware fusion, optionally variational, optionally trained against a spectrally
//!   normalised 3D discriminator as a 3D-VAE-GAN), trained on rendered views and occupancy.
//! - [`operator`]: any `LinearOperator` (a CT projector) as a differentiable op, and [`lpd`],
//!   Learned Primal-Dual built on it; [`recon`]: post-processing (FBPConvNet) and LPD models with
//!   image, physics-consistency and smoothness losses, trained and saved as one unit.
//!
//! ```
//! use hounsfield_nn::synthetic::{generate, SyntheticConfig};
//! use hounsfield_nn::train::{TrainConfig, Trainer};
//! use hounsfield_nn::UNetConfig;
//!
//! // A tiny 3D U-Net, a few steps on one generated 16^3 volume.
//! let data = generate(&SyntheticConfig { size: 16, ..Default::default() }, 1)?;
//! let cfg = TrainConfig {
//!     model: UNetConfig { channels: vec![4, 8], out_channels: 3, ..Default::default() },
//!     patch: [16; 3],
//!     steps: 3,
//!     ..Default::default()
//! };
//! let mut trainer = Trainer::new(cfg)?;
//! let report = trainer.fit(std::slice::from_ref(&data), &[], None, |_| {})?;
//! assert_eq!(report.steps, 3);
//!
//! // Predictions come back as a label volume on the input's grid.
//! let labels = trainer.model().predict(&data.image, &trainer.model().default_options())?;
//! assert_eq!(labels.shape(), data.image.shape());
//! # Ok::<(), hounsfield_nn::Error>(())
//! ```
#![warn(missing_docs)]

pub mod checkpoint;
pub mod convert;
pub mod data;
mod error;
mod gemm;
pub mod gradcheck;
pub mod infer;
pub mod layers;
pub mod loss;
pub mod lpd;
pub mod model;
pub mod operator;
pub mod ops;
pub mod optim;
pub mod plan;
pub mod recon;
pub mod shape;
pub mod synthetic;
pub mod train;
pub mod unet;

pub use error::{Error, Result};
pub use gemm::Real;
pub use model::{ComponentFilter, ModelInfo, Normalise, SegmentationModel};
pub use unet::{Norm, UNet, UNetConfig};
