//! Trainable layers over the 3D ops: convolution, transposed convolution, instance norm.
//!
//! Parameters are created through a candle `VarBuilder` under PyTorch's names (`weight`,
//! `bias`), so a `VarMap` saved as safetensors reads like a PyTorch state dict.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::ops::{
    Conv3dConfig, bias_prelu, conv_transpose3d, conv3d, instance_norm, instance_norm_act,
};

/// A 3D convolution with optional bias.
#[derive(Clone, Debug)]
pub struct Conv3d {
    weight: Tensor,
    bias: Option<Tensor>,
    cfg: Conv3dConfig,
}

impl Conv3d {
    /// `in_channels -> out_channels` with a `kernel` and configuration; PyTorch's default
    /// initialisation (uniform in `+-1/sqrt(fan_in)`).
    pub fn new(
        vb: VarBuilder<'_>,
        in_channels: usize,
        out_channels: usize,
        kernel: [usize; 3],
        cfg: Conv3dConfig,
        bias: bool,
    ) -> Result<Self> {
        let fan_in = in_channels / cfg.groups.max(1) * kernel.iter().product::<usize>();
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let shape =
            (out_channels, in_channels / cfg.groups.max(1), kernel[0], kernel[1], kernel[2]);
        let weight = vb.get_with_hints(shape, "weight", init)?;
        let bias = if bias { Some(vb.get_with_hints(out_channels, "bias", init)?) } else { None };
        Ok(Self { weight, bias, cfg })
    }

    /// The element type of the weights.
    pub fn dtype(&self) -> candle_core::DType {
        self.weight.dtype()
    }

    /// The weights `(O, C / groups, KD, KH, KW)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias `(O,)`, if the layer has one.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The convolution followed by `PReLU(. + bias)` with a `(1,)` slope, fused
    /// ([`bias_prelu`]); a constant slope tensor gives LeakyReLU.
    pub fn forward_prelu(&self, x: &Tensor, slope: &Tensor) -> Result<Tensor> {
        let y = conv3d(x, &self.weight, self.cfg)?;
        let bias = match &self.bias {
            Some(b) => b.clone(),
            None => Tensor::zeros(y.dim(1)?, y.dtype(), y.device())?,
        };
        bias_prelu(&y, &bias, slope)
    }
}

fn add_channel_bias(y: Tensor, bias: Option<&Tensor>) -> Result<Tensor> {
    match bias {
        Some(b) => y.broadcast_add(&b.reshape((1, b.dim(0)?, 1, 1, 1))?),
        None => Ok(y),
    }
}

impl Module for Conv3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        add_channel_bias(conv3d(x, &self.weight, self.cfg)?, self.bias.as_ref())
    }
}

/// A 3D transposed convolution (learned upsampling) with bias.
#[derive(Clone, Debug)]
pub struct ConvTranspose3d {
    weight: Tensor,
    bias: Tensor,
    cfg: Conv3dConfig,
}

impl ConvTranspose3d {
    /// Upsampling by `stride` with a kernel of the same size (the U-Net decoder's step).
    pub fn new(
        vb: VarBuilder<'_>,
        in_channels: usize,
        out_channels: usize,
        stride: [usize; 3],
    ) -> Result<Self> {
        let fan_in = out_channels * stride.iter().product::<usize>();
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let weight = vb.get_with_hints(
            (in_channels, out_channels, stride[0], stride[1], stride[2]),
            "weight",
            init,
        )?;
        let bias = vb.get_with_hints(out_channels, "bias", init)?;
        Ok(Self { weight, bias, cfg: Conv3dConfig::default().with_stride(stride) })
    }
}

impl Module for ConvTranspose3d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        add_channel_bias(conv_transpose3d(x, &self.weight, self.cfg, [0; 3])?, Some(&self.bias))
    }
}

/// Instance normalisation with a learned per-channel scale and shift.
#[derive(Clone, Debug)]
pub struct InstanceNorm {
    gamma: Tensor,
    beta: Tensor,
}

impl InstanceNorm {
    /// Scale 1 and shift 0 to start with.
    pub fn new(vb: VarBuilder<'_>, channels: usize) -> Result<Self> {
        Ok(Self {
            gamma: vb.get_with_hints(channels, "weight", Init::Const(1.0))?,
            beta: vb.get_with_hints(channels, "bias", Init::Const(0.0))?,
        })
    }
}

impl InstanceNorm {
    /// Normalisation followed by a LeakyReLU of `slope`, fused into one op.
    pub fn forward_act(&self, x: &Tensor, slope: f64) -> Result<Tensor> {
        instance_norm_act(x, &self.gamma, &self.beta, 1e-5, slope)
    }
}

impl Module for InstanceNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        instance_norm(x, Some(&self.gamma), Some(&self.beta), 1e-5)
    }
}
