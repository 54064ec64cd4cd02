//! A configurable U-Net for 2D and 3D segmentation, built from nnU-Net's blocks: (conv ->
//! instance norm -> LeakyReLU) x 2 per level, strided convolution down, transposed convolution
//! up, skip connections by concatenation, optional residual units, dropout and deep supervision.
//!
//! A 2D network is the same network with `(1, 3, 3)` kernels and `(1, 2, 2)` strides on
//! `(N, C, 1, H, W)` tensors; [`UNet::forward`] also takes `(N, C, H, W)` for it.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};
use hounsfield_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::layers::{Conv3d, ConvTranspose3d, InstanceNorm};
use crate::ops::Conv3dConfig;

/// Normalisation inside the convolution blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// Instance normalisation with learned scale and shift (nnU-Net's choice).
    Instance,
    /// None: convolutions with bias.
    None,
}

/// The shape of a [`UNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UNetConfig {
    /// 2 or 3.
    pub spatial_dims: usize,
    /// Input channels (image modalities).
    pub in_channels: usize,
    /// Output channels: classes, background included (softmax over them).
    pub out_channels: usize,
    /// Feature channels per resolution level; its length is the number of levels.
    pub channels: Vec<usize>,
    /// Convolutions per block.
    pub convs_per_block: usize,
    /// Normalisation in the blocks.
    pub norm: Norm,
    /// Residual units: each block adds its (projected) input to its output.
    pub residual: bool,
    /// Dropout probability after each block while training.
    pub dropout: f32,
    /// Extra 1x1 heads on the coarser decoder levels, trained on downsampled labels.
    pub deep_supervision: bool,
    /// Slope of the LeakyReLU for negative inputs.
    pub negative_slope: f64,
}

impl Default for UNetConfig {
    fn default() -> Self {
        Self {
            spatial_dims: 3,
            in_channels: 1,
            out_channels: 2,
            channels: vec![8, 16, 32, 64],
            convs_per_block: 2,
            norm: Norm::Instance,
            residual: false,
            dropout: 0.0,
            deep_supervision: false,
            negative_slope: 0.01,
        }
    }
}

impl UNetConfig {
    /// Checks the numbers before any tensor is made.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(2..=3).contains(&self.spatial_dims) {
            return Err(format!("spatial_dims must be 2 or 3, not {}", self.spatial_dims));
        }
        // Bounds far above any real network, so a corrupt model file cannot ask for terabytes.
        let width = 1..=4096;
        if self.channels.is_empty()
            || self.channels.len() > 8
            || self.channels.iter().any(|c| !width.contains(c))
        {
            return Err(format!(
                "channels must list 1 to 8 widths of 1-4096, not {:?}",
                self.channels
            ));
        }
        if !width.contains(&self.in_channels)
            || !width.contains(&self.out_channels)
            || !(1..=16).contains(&self.convs_per_block)
        {
            return Err("in_channels and out_channels must be 1-4096, convs_per_block 1-16".into());
        }
        if !(0.0..1.0).contains(&self.dropout) || !self.negative_slope.is_finite() {
            return Err(format!(
                "dropout must be in [0, 1) (got {}) and the slope finite",
                self.dropout
            ));
        }
        Ok(())
    }

    /// Kernel of the 3x3(x3) convolutions.
    fn kernel(&self) -> [usize; 3] {
        if self.spatial_dims == 2 { [1, 3, 3] } else { [3, 3, 3] }
    }

    /// Stride of a resolution step.
    fn step(&self) -> [usize; 3] {
        if self.spatial_dims == 2 { [1, 2, 2] } else { [2, 2, 2] }
    }

    /// Spatial sizes must be multiples of this (per axis) to pass down and up unchanged.
    pub fn size_multiple(&self) -> [usize; 3] {
        let f = 1usize << (self.channels.len() - 1);
        if self.spatial_dims == 2 { [1, f, f] } else { [f; 3] }
    }
}

/// (conv -> norm -> LeakyReLU) x n, the first conv possibly strided, with an optional residual.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    convs: Vec<(Conv3d, Option<InstanceNorm>)>,
    skip: Option<Option<Conv3d>>,
    slope: f64,
    dropout: f32,
}

impl Block {
    pub(crate) fn new(
        vb: VarBuilder<'_>,
        cfg: &UNetConfig,
        cin: usize,
        cout: usize,
        stride: [usize; 3],
    ) -> Result<Self> {
        let kernel = cfg.kernel();
        let padding = kernel.map(|k| k / 2);
        let mut convs = Vec::new();
        for i in 0..cfg.convs_per_block {
            let conv_cfg = Conv3dConfig::default().with_padding(padding).with_stride(if i == 0 {
                stride
            } else {
                [1; 3]
            });
            let with_norm = cfg.norm == Norm::Instance;
            let conv = Conv3d::new(
                vb.pp(format!("conv{i}")),
                if i == 0 { cin } else { cout },
                cout,
                kernel,
                conv_cfg,
                !with_norm,
            )?;
            let norm = if with_norm {
                Some(InstanceNorm::new(vb.pp(format!("norm{i}")), cout)?)
            } else {
                None
            };
            convs.push((conv, norm));
        }
        let skip = if !cfg.residual {
            None
        } else if cin == cout && stride == [1; 3] {
            Some(None)
        } else {
            let proj = Conv3dConfig::default().with_stride(stride);
            Some(Some(Conv3d::new(vb.pp("skip"), cin, cout, [1; 3], proj, true)?))
        };
        Ok(Self { convs, skip, slope: cfg.negative_slope, dropout: cfg.dropout })
    }

    pub(crate) fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let last = self.convs.len() - 1;
        let mut h = x.clone();
        for (i, (conv, norm)) in self.convs.iter().enumerate() {
            // The residual's last convolution is activated after the addition.
            let slope = if i == last && self.skip.is_some() { 1.0 } else { self.slope };
            h = match norm {
                Some(norm) => norm.forward_act(&conv.forward(&h)?, slope)?,
                None if slope != 1.0 => {
                    let slope = Tensor::new(&[slope], h.device())?.to_dtype(h.dtype())?;
                    conv.forward_prelu(&h, &slope)?
                }
                None => conv.forward(&h)?,
            };
        }
        if let Some(skip) = &self.skip {
            let identity = match skip {
                Some(proj) => proj.forward(x)?,
                None => x.clone(),
            };
            h = candle_nn::ops::leaky_relu(&(h + identity)?, self.slope)?;
        }
        if train && self.dropout > 0.0 { candle_nn::ops::dropout(&h, self.dropout) } else { Ok(h) }
    }
}

/// The network. Parameters live in the `VarMap` it was built from.
#[derive(Clone, Debug)]
pub struct UNet {
    cfg: UNetConfig,
    encoders: Vec<Block>,
    ups: Vec<ConvTranspose3d>,
    decoders: Vec<Block>,
    heads: Vec<Conv3d>,
}

impl UNet {
    /// Builds the network under `vb` (parameters named like `enc0.conv0.weight`).
    pub fn new(vb: VarBuilder<'_>, cfg: &UNetConfig) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        let c = &cfg.channels;
        let mut encoders = Vec::new();
        for (i, &width) in c.iter().enumerate() {
            let (cin, stride) =
                if i == 0 { (cfg.in_channels, [1; 3]) } else { (c[i - 1], cfg.step()) };
            encoders.push(Block::new(vb.pp(format!("enc{i}")), cfg, cin, width, stride)?);
        }
        let (mut ups, mut decoders, mut heads) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..c.len() - 1 {
            ups.push(ConvTranspose3d::new(vb.pp(format!("up{i}")), c[i + 1], c[i], cfg.step())?);
            decoders.push(Block::new(vb.pp(format!("dec{i}")), cfg, 2 * c[i], c[i], [1; 3])?);
        }
        let head_levels = if cfg.deep_supervision { c.len().saturating_sub(2).max(1) } else { 1 };
        for (level, &width) in c.iter().enumerate().take(head_levels) {
            heads.push(Conv3d::new(
                vb.pp(format!("head{level}")),
                width,
                cfg.out_channels,
                [1; 3],
                Conv3dConfig::default(),
                true,
            )?);
        }
        Ok(Self { cfg: cfg.clone(), encoders, ups, decoders, heads })
    }

    /// A network with fresh, seeded parameters (Kaiming-uniform convolution weights for the
    /// LeakyReLU, zero biases, unit norm scales), in `dtype` on the CPU.
    pub fn initialised(cfg: &UNetConfig, dtype: DType, seed: u64) -> Result<(VarMap, Self)> {
        let varmap = VarMap::new();
        let net = Self::new(VarBuilder::from_varmap(&varmap, dtype, &Device::Cpu), cfg)?;
        reinitialise(&varmap, cfg.negative_slope, seed)?;
        Ok((varmap, net))
    }

    /// The element type of its parameters.
    pub fn dtype(&self) -> DType {
        self.heads[0].dtype()
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &UNetConfig {
        &self.cfg
    }

    fn to_5d(&self, x: &Tensor) -> Result<Tensor> {
        match (self.cfg.spatial_dims, x.rank()) {
            (_, 5) => Ok(x.clone()),
            (2, 4) => x.unsqueeze(2),
            (_, r) => Err(candle_core::Error::Msg(format!(
                "UNet: expected a 5D (or, in 2D, 4D) input, got rank {r}"
            ))),
        }
    }

    /// Logits at every supervised resolution, finest first; in training mode dropout is active.
    pub fn forward_all(&self, x: &Tensor, train: bool) -> Result<Vec<Tensor>> {
        let rank = x.rank();
        let x = self.to_5d(x)?;
        let dims = x.dims();
        let multiple = self.cfg.size_multiple();
        if dims[1] != self.cfg.in_channels
            || (0..3).any(|a| dims[a + 2] == 0 || dims[a + 2] % multiple[a] != 0)
        {
            return Err(candle_core::Error::Msg(format!(
                "UNet: input {dims:?} needs {} channels and spatial sizes that are positive multiples of {multiple:?}",
                self.cfg.in_channels
            )));
        }
        let mut skips = Vec::with_capacity(self.encoders.len());
        let mut h = x;
        for enc in &self.encoders {
            h = enc.forward(&h, train)?;
            skips.push(h.clone());
        }
        let mut outputs = Vec::new();
        for level in (0..self.decoders.len()).rev() {
            let up = self.ups[level].forward(&h)?;
            h = self.decoders[level].forward(&Tensor::cat(&[&up, &skips[level]], 1)?, train)?;
            if let Some(head) = self.heads.get(level) {
                outputs.push(head.forward(&h)?);
            }
        }
        if self.decoders.is_empty() {
            outputs.push(self.heads[0].forward(&h)?);
        }
        outputs.reverse();
        if rank == 4 {
            outputs = outputs.into_iter().map(|o| o.squeeze(2)).collect::<Result<_>>()?;
        }
        Ok(outputs)
    }
}

impl Module for UNet {
    /// Logits `(N, out_channels, ...)` at the input's resolution (inference mode).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut all = self.forward_all(x, false)?;
        Ok(all.swap_remove(0))
    }
}

/// Re-draws every parameter of `varmap` from a seeded generator, in name order, so training runs
/// are reproducible (candle's own initialisers draw from an unseeded generator).
pub fn reinitialise(varmap: &VarMap, negative_slope: f64, seed: u64) -> Result<()> {
    let mut rng = SplitMix64::new(seed);
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("parameter map poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n = var.elem_count();
        let values: Vec<f64> = if dims.len() >= 2 {
            // Kaiming uniform for LeakyReLU: bound = sqrt(6 / ((1 + a^2) fan_in)).
            let fan_in = (n / dims[0]).max(1) as f64;
            let bound = (6.0 / ((1.0 + negative_slope * negative_slope) * fan_in)).sqrt();
            (0..n).map(|_| rng.uniform(-bound, bound)).collect()
        } else if name.contains("norm") && name.ends_with("weight") {
            vec![1.0; n]
        } else if name.contains("prelu") {
            vec![0.25; n]
        } else {
            vec![0.0; n]
        };
        var.set(&Tensor::from_vec(values, dims, &Device::Cpu)?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
