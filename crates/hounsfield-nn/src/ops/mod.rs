//! Differentiable 3D operations candle lacks: convolution, transposed convolution, pooling,
//! upsampling and instance normalisation, on `(N, C, D, H, W)` tensors of `f32` or `f64`.
//!
//! Every op runs on CPU tensors and has a backward pass; `tests/gradcheck.rs` checks each one
//! against central finite differences in `f64`.

mod bias_act;
pub(crate) mod conv;
pub(crate) mod cpu;
mod norm;
mod norm_act;
mod pool;
mod resample;

pub use bias_act::bias_prelu;
pub use conv::{Conv3dConfig, conv_transpose3d, conv3d, conv3x3_prelu_stack};
pub use cpu::Float;
pub use norm::instance_norm;
pub use norm_act::instance_norm_act;
pub use pool::max_pool3d;
pub use resample::{Upsample, avg_pool3d, upsample3d};
