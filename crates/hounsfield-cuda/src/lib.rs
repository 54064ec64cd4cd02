//! # hounsfield-cuda
//!
//! The optional CUDA runtime of Hounsfield: kernels written in CUDA C, compiled at run time by
//! NVRTC through cudarc (libraries loaded dynamically, so the crate builds on any machine and a
//! machine without a GPU gets [`Error::NoDevice`] as a value), loaded once per device and cached.
//!
//! - [`Gpu`]: device selection, the module cache, buffers.
//! - [`projector`]: Joseph forward projection and its matched, order-independent adjoint for any
//!   per-view geometry (parallel, fan, cone, arc).
//! - [`backproject`]: voxel-driven FBP/FDK back-projection.
//! - [`conv`]: 3D convolution forward and backward.
//! - [`kernels`]: the sources and NVRTC compilation (CI compiles every kernel to PTX).
//! - [`emulate`]: the same sources compiled as C++ and run on the CPU, thread after thread, so
//!   their logic is tested against the CPU implementations without a GPU.
//!
//! hounsfield-ct and hounsfield-nn use it behind their `cuda` features; their tests compare every
//! kernel with the CPU implementation on a GPU (`scripts/gpu-tests.sh`).
//!
//! ```
//! // On a machine without a GPU, asking for one is an error value, never a panic.
//! match hounsfield_cuda::Gpu::open(0) {
//!     Ok(gpu) => println!("running on {}", gpu.name()),
//!     Err(e) => assert!(e.to_string().starts_with("no CUDA device")),
//! }
//! ```
#![warn(missing_docs)]

pub mod backproject;
pub mod conv;
mod device;
pub mod emulate;
mod error;
mod grid;
pub mod kernels;
mod launch;
mod launcher;
pub mod projector;

pub use device::{Gpu, last_kernel_seconds};
pub use error::{Error, Result};
pub use grid::GridSpec;
pub use launcher::{Emulated, Launcher};
