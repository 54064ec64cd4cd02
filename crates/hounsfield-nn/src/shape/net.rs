//! The network: a 2D residual CNN encoder per view, a latent vector (a Gaussian's mean and
//! log-variance when variational), and a 3D decoder of transposed convolutions to occupancy
//! logits. The decoder's first levels run per view, in the view's own frame; there each view's
//! feature volume is turned into the common frame (quarter turns are exact at any grid size)
//! and the views are fused, by their mean or by Pix2Vox's context-aware weighting, so the
//! costly fine levels run once per shape, not once per view.

use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Linear, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::layers::{Conv3d, ConvTranspose3d};
use crate::ops::{Conv3dConfig, avg_pool3d};
use crate::unet::{Block, Norm, UNetConfig, reinitialise};

/// How the views' volumes become one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Pix2Vox's context-aware fusion: a 1x1 convolution scores each view's features at
    /// every voxel, and a softmax over the views of those scores weights the views' features.
    Context,
    /// The mean of the views' features.
    Mean,
}

/// The sizes of a [`ShapeNet`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShapeNetConfig {
    /// Channels of a view image (see [`super::InputKind::channels`]).
    pub in_channels: usize,
    /// Side of the square view images, pixels.
    pub image_size: usize,
    /// Encoder widths; each level after the first halves the image.
    pub encoder_channels: Vec<usize>,
    /// Length of the latent vector.
    pub latent: usize,
    /// Decoder widths, from a `4^3` grid; each level after the first doubles it, so the
    /// output side is `4 * 2^(levels - 1)` (4 levels: 32^3, 5: 64^3).
    pub decoder_channels: Vec<usize>,
    /// View fusion.
    pub fusion: Fusion,
    /// The decoder level after which the views are fused (0: at 4^3, 1: at 8^3...).
    pub fuse_level: usize,
    /// The levels after fusion also take the views' carved volume (see
    /// [`ShapeNet::forward`]), averaged down to their grid: what the views' geometry says
    /// directly, next to what the latent remembers.
    pub lifted: bool,
    /// A variational encoder (VAE): the latent is drawn from `N(mu, sigma^2)` while training,
    /// with a KL term towards `N(0, I)`, so decoding `z ~ N(0, I)` samples shapes.
    pub variational: bool,
    /// Slope of the LeakyReLU for negative inputs.
    pub negative_slope: f64,
}

impl Default for ShapeNetConfig {
    fn default() -> Self {
        Self {
            in_channels: 2,
            image_size: 64,
            encoder_channels: vec![8, 16, 32, 64, 128],
            latent: 256,
            decoder_channels: vec![64, 32, 16, 8],
            fusion: Fusion::Context,
            fuse_level: 1,
            lifted: false,
            variational: false,
            negative_slope: 0.01,
        }
    }
}

impl ShapeNetConfig {
    /// Checks the numbers before any tensor is made (bounds far above any real network, so a
    /// corrupt model file cannot ask for terabytes).
    pub fn validate(&self) -> std::result::Result<(), String> {
        let width = 1..=1024;
        for (name, widths, most) in [
            ("encoder_channels", &self.encoder_channels, 8),
            ("decoder_channels", &self.decoder_channels, 6),
        ] {
            if widths.is_empty() || widths.len() > most || widths.iter().any(|c| !width.contains(c))
            {
                return Err(format!(
                    "{name} must list 1 to {most} widths of 1-1024, not {widths:?}"
                ));
            }
        }
        if !(1..=16).contains(&self.in_channels) {
            return Err(format!("in_channels must be 1-16, not {}", self.in_channels));
        }
        if !(1..=4096).contains(&self.latent) {
            return Err(format!("latent must be 1-4096, not {}", self.latent));
        }
        let step = 1usize << (self.encoder_channels.len() - 1);
        if self.image_size == 0 || self.image_size > 1024 || !self.image_size.is_multiple_of(step) {
            return Err(format!(
                "image_size {} must be a positive multiple of {step} (the encoder halves it {} times), at most 1024",
                self.image_size,
                self.encoder_channels.len() - 1
            ));
        }
        if self.fuse_level >= self.decoder_channels.len() {
            return Err(format!(
                "fuse_level {} must be 0-{} (one of the decoder's levels)",
                self.fuse_level,
                self.decoder_channels.len() - 1
            ));
        }
        if !self.negative_slope.is_finite() {
            return Err("negative_slope must be finite".into());
        }
        Ok(())
    }

    /// Side of the output occupancy grid.
    pub fn output_size(&self) -> usize {
        4 << (self.decoder_channels.len() - 1)
    }

    fn feature_side(&self) -> usize {
        self.image_size >> (self.encoder_channels.len() - 1)
    }

    fn block_config(&self, spatial_dims: usize, convs: usize, residual: bool) -> UNetConfig {
        UNetConfig {
            spatial_dims,
            convs_per_block: convs,
            norm: Norm::Instance,
            residual,
            negative_slope: self.negative_slope,
            ..UNetConfig::default()
        }
    }
}

/// What [`ShapeNet::forward`] gives.
#[derive(Clone, Debug)]
pub struct ShapeOutput {
    /// Occupancy logits in the common frame, `(B, 1, R, R, R)`.
    pub logits: Tensor,
    /// The mean over the batch's views of `KL(q(z | view) || N(0, I))` (variational only).
    pub kl: Option<Tensor>,
}

/// The encoder-decoder. Parameters live in the `VarMap` it was built from.
#[derive(Clone, Debug)]
pub struct ShapeNet {
    cfg: ShapeNetConfig,
    encoders: Vec<Block>,
    to_latent: Linear,
    from_latent: Linear,
    ups: Vec<ConvTranspose3d>,
    decoders: Vec<Block>,
    score: Conv3d,
    head: Conv3d,
}

impl ShapeNet {
    /// Builds the network under `vb` (parameters named `enc0.conv0.weight`, `to_latent.weight`,
    /// `dec0.conv0.weight`, `head.weight`...).
    pub fn new(vb: VarBuilder<'_>, cfg: &ShapeNetConfig) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::Msg)?;
        let enc_cfg = cfg.block_config(2, 2, true);
        let dec_cfg = cfg.block_config(3, 1, false);
        let e = &cfg.encoder_channels;
        let mut encoders = Vec::new();
        for (i, &width) in e.iter().enumerate() {
            let (cin, stride) =
                if i == 0 { (cfg.in_channels, [1; 3]) } else { (e[i - 1], [1, 2, 2]) };
            encoders.push(Block::new(vb.pp(format!("enc{i}")), &enc_cfg, cin, width, stride)?);
        }
        let features = e[e.len() - 1] * cfg.feature_side().pow(2);
        let latent_out = if cfg.variational { 2 * cfg.latent } else { cfg.latent };
        let to_latent = candle_nn::linear(features, latent_out, vb.pp("to_latent"))?;
        let d = &cfg.decoder_channels;
        let from_latent = candle_nn::linear(cfg.latent, d[0] * 64, vb.pp("from_latent"))?;
        let mut ups = Vec::new();
        let mut decoders = Vec::new();
        for (i, &width) in d.iter().enumerate() {
            if i > 0 {
                ups.push(ConvTranspose3d::new(vb.pp(format!("up{i}")), d[i - 1], width, [2; 3])?);
            }
            let cin = if cfg.lifted && i > cfg.fuse_level { width + 1 } else { width };
            decoders.push(Block::new(vb.pp(format!("dec{i}")), &dec_cfg, cin, width, [1; 3])?);
        }
        let one = |name: &str, cin: usize| {
            Conv3d::new(vb.pp(name), cin, 1, [1; 3], Conv3dConfig::default(), true)
        };
        let score = one("score", d[cfg.fuse_level])?;
        let head = one("head", d[d.len() - 1])?;
        Ok(Self { cfg: cfg.clone(), encoders, to_latent, from_latent, ups, decoders, score, head })
    }

    /// A network with fresh, seeded parameters in f32 on the CPU.
    pub fn initialised(cfg: &ShapeNetConfig, seed: u64) -> Result<(VarMap, Self)> {
        let varmap = VarMap::new();
        let net = Self::new(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu), cfg)?;
        reinitialise(&varmap, cfg.negative_slope, seed)?;
        Ok((varmap, net))
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &ShapeNetConfig {
        &self.cfg
    }

    /// The latent mean (and log-variance when variational) of views `(N, C, H, W)`.
    pub fn encode(&self, views: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
        self.encode_inner(views, false)
    }

    fn encode_inner(&self, views: &Tensor, train: bool) -> Result<(Tensor, Option<Tensor>)> {
        let (n, c, h, w) = views.dims4()?;
        let s = self.cfg.image_size;
        if c != self.cfg.in_channels || h != s || w != s {
            return Err(candle_core::Error::Msg(format!(
                "ShapeNet: views ({n}, {c}, {h}, {w}) need {} channels of {s} x {s}",
                self.cfg.in_channels
            )));
        }
        let mut x = views.unsqueeze(2)?;
        for enc in &self.encoders {
            x = enc.forward(&x, train)?;
        }
        let out = self.to_latent.forward(&x.flatten_from(1)?)?;
        if !self.cfg.variational {
            return Ok((out, None));
        }
        let latent = self.cfg.latent;
        // Bounded log-variance: exp() of an early, wild output must not overflow.
        let log_var = out.narrow(1, latent, latent)?.clamp(-12f32, 8f32)?;
        Ok((out.narrow(1, 0, latent)?, Some(log_var)))
    }

    /// Per-view features at the fusion level, `(N, C, S, S, S)`, of latent vectors `(N, latent)`.
    fn decode_view(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let n = z.dim(0)?;
        let d0 = self.cfg.decoder_channels[0];
        let h = self.from_latent.forward(z)?.reshape((n, d0, 4, 4, 4))?;
        let mut h = candle_nn::ops::leaky_relu(&h, self.cfg.negative_slope)?;
        for i in 0..=self.cfg.fuse_level {
            if i > 0 {
                h = self.ups[i - 1].forward(&h)?;
            }
            h = self.decoders[i].forward(&h, train)?;
        }
        Ok(h)
    }

    /// Logits `(N, 1, R, R, R)` of fused features (and the carved volume when lifted).
    fn decode_shape(&self, fused: &Tensor, carved: Option<&Tensor>, train: bool) -> Result<Tensor> {
        let r = self.cfg.output_size();
        let carved = match (self.cfg.lifted, carved) {
            (false, _) => None,
            (true, Some(c)) => {
                let (n, ch, d, h, w) = c.dims5()?;
                if n != fused.dim(0)? || ch != 1 || [d, h, w] != [r; 3] {
                    return Err(candle_core::Error::Msg(format!(
                        "ShapeNet: the carved volume is {:?}, expected ({}, 1, {r}, {r}, {r})",
                        c.dims(),
                        fused.dim(0)?
                    )));
                }
                Some(c)
            }
            (true, None) => {
                return Err(candle_core::Error::Msg(
                    "ShapeNet: a lifted network needs the views' carved volume".into(),
                ));
            }
        };
        let mut h = fused.clone();
        for i in self.cfg.fuse_level + 1..self.decoders.len() {
            h = self.ups[i - 1].forward(&h)?;
            if let Some(c) = carved {
                let f = r / h.dim(2)?;
                let c = if f > 1 { avg_pool3d(c, [f; 3], [f; 3], [0; 3])? } else { c.clone() };
                h = Tensor::cat(&[&h, &c], 1)?;
            }
            h = self.decoders[i].forward(&h, train)?;
        }
        self.head.forward(&h)
    }

    /// Occupancy logits `(N, 1, R, R, R)` of latent vectors `(N, latent)`: the VAE's shape
    /// samples when `z ~ N(0, I)`, in the frame of a view at turn 0. A lifted network
    /// decodes them with nothing carved away (every voxel "unknown").
    pub fn generate(&self, z: &Tensor) -> Result<Tensor> {
        self.generate_inner(z, false)
    }

    /// [`ShapeNet::generate`] in training mode (adversarial training's prior samples).
    pub fn generate_train(&self, z: &Tensor) -> Result<Tensor> {
        self.generate_inner(z, true)
    }

    fn generate_inner(&self, z: &Tensor, train: bool) -> Result<Tensor> {
        let features = self.decode_view(z, train)?;
        let r = self.cfg.output_size();
        let unknown = Tensor::ones((z.dim(0)?, 1, r, r, r), features.dtype(), features.device())?;
        self.decode_shape(&features, self.cfg.lifted.then_some(&unknown), train)
    }

    /// Views `(B, V, C, H, W)`, view `v` seen from a camera `turns[v]` quarter turns about z
    /// from the common frame's, to occupancy logits in that frame. A lifted network also
    /// takes `carved` `(B, 1, R, R, R)` in the common frame: 0 where a view shows the voxel
    /// empty (outside its silhouette, or in front of its depth), 1 elsewhere. `train` draws
    /// the VAE's latent as `mu + sigma * noise` (and any dropout); otherwise the latent mean
    /// is decoded.
    pub fn forward(
        &self,
        views: &Tensor,
        turns: &[usize],
        carved: Option<&Tensor>,
        train: bool,
        noise: Option<&Tensor>,
    ) -> Result<ShapeOutput> {
        let (b, v, c, h, w) = views.dims5()?;
        if v == 0 || turns.len() != v {
            return Err(candle_core::Error::Msg(format!(
                "ShapeNet: {v} views with {} turns",
                turns.len()
            )));
        }
        let (mu, log_var) = self.encode_inner(&views.reshape((b * v, c, h, w))?, train)?;
        let (z, kl) = match log_var {
            Some(log_var) => {
                // KL(N(mu, s^2) || N(0, 1)) summed over the latent, averaged over views.
                let kl = ((mu.sqr()? + log_var.exp()?)? - log_var.affine(1.0, 1.0)?)?
                    .sum(D::Minus1)?
                    .mean_all()?
                    .affine(0.5, 0.0)?;
                let z = match (train, noise) {
                    (true, Some(eps)) => (&mu + (log_var.affine(0.5, 0.0)?.exp()? * eps)?)?,
                    _ => mu,
                };
                (z, Some(kl))
            }
            None => (mu, None),
        };
        let features = self.decode_view(&z, train)?;
        let (_, fc, s, _, _) = features.dims5()?;
        let features = features.reshape((b, v, fc, s, s, s))?;
        let turned =
            (0..v).map(|k| turn_z(&features.i((.., k))?, turns[k])).collect::<Result<Vec<_>>>()?;
        let stacked = Tensor::stack(&turned, 1)?;
        let fused = if v == 1 {
            stacked.squeeze(1)?
        } else {
            match self.cfg.fusion {
                Fusion::Mean => stacked.mean(1)?,
                Fusion::Context => {
                    let scores = self
                        .score
                        .forward(&stacked.reshape((b * v, fc, s, s, s))?)?
                        .reshape((b, v, 1, s, s, s))?;
                    let weights = candle_nn::ops::softmax(&scores, 1)?;
                    stacked.broadcast_mul(&weights)?.sum(1)?
                }
            }
        };
        Ok(ShapeOutput { logits: self.decode_shape(&fused, carved, train)?, kl })
    }

    /// Fusion weights `(B, V, S, S, S)` of views seen with `turns` (context fusion: the
    /// softmax over views of the scores; mean fusion: `1 / V`), for pictures of the fusion.
    pub fn fusion_weights(&self, views: &Tensor, turns: &[usize]) -> Result<Tensor> {
        let (b, v, c, h, w) = views.dims5()?;
        let (z, _) = self.encode_inner(&views.reshape((b * v, c, h, w))?, false)?;
        let features = self.decode_view(&z, false)?;
        let (_, fc, s, _, _) = features.dims5()?;
        let features = features.reshape((b, v, fc, s, s, s))?;
        let turned = (0..v)
            .map(|k| turn_z(&features.i((.., k))?, turns.get(k).copied().unwrap_or(0)))
            .collect::<Result<Vec<_>>>()?;
        let stacked = Tensor::stack(&turned, 1)?;
        match self.cfg.fusion {
            Fusion::Mean => {
                Ok((Tensor::ones((b, v, s, s, s), stacked.dtype(), stacked.device())? / v as f64)?)
            }
            Fusion::Context => {
                let scores = self
                    .score
                    .forward(&stacked.reshape((b * v, fc, s, s, s))?)?
                    .reshape((b, v, s, s, s))?;
                candle_nn::ops::softmax(&scores, 1)
            }
        }
    }
}

/// Reverses axis `dim` of `x` (differentiable: an index selection).
fn flip(x: &Tensor, dim: usize) -> Result<Tensor> {
    let n = x.dim(dim)?;
    let index: Vec<u32> = (0..n as u32).rev().collect();
    x.contiguous()?.index_select(&Tensor::new(index, x.device())?, dim)
}

/// Turns volumes `(N, C, Z, Y, X)` on a grid centred on the origin by `quarters` x 90 degrees
/// about z, counter-clockwise seen from +z (x towards y): the value at `(x, y)` moves to
/// `(-y, x)`. Exact (a permutation of voxels) for square `Y = X`.
pub fn turn_z(x: &Tensor, quarters: usize) -> Result<Tensor> {
    match quarters % 4 {
        0 => Ok(x.clone()),
        // out[y, x] = in[n - 1 - x, y]
        1 => flip(&x.transpose(3, 4)?, 4),
        2 => flip(&flip(x, 3)?, 4),
        // out[y, x] = in[x, n - 1 - y]
        _ => flip(&x.transpose(3, 4)?, 3),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    #[test]
    fn a_quarter_turn_moves_x_to_y() {
        // A voxel at (z, y, x) = (0, 1, 3) on a 4^3 grid: coordinates (x, y) = (1.5, -0.5) in
        // voxel units about the centre. Turned by 90 degrees it lies at (0.5, 1.5): index
        // (y, x) = (3, 2); by 180 at (-1.5, 0.5): (2, 0); by 270 at (-0.5, -1.5): (0, 1).
        let mut v = vec![0f32; 64];
        v[4 + 3] = 1.0;
        let x = Tensor::from_vec(v, (1, 1, 4, 4, 4), &Device::Cpu).unwrap();
        for (q, (y, xx)) in [(0, (1, 3)), (1, (3, 2)), (2, (2, 0)), (3, (0, 1)), (4, (1, 3))] {
            let t = turn_z(&x, q).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let at = t.iter().position(|&a| a == 1.0).unwrap();
            assert_eq!(at, y * 4 + xx, "{q} quarter turns");
        }
    }

    #[test]
    fn shapes_flow_through_and_fusion_weights_sum_to_one() {
        let cfg = ShapeNetConfig {
            in_channels: 1,
            image_size: 16,
            encoder_channels: vec![4, 8, 8],
            latent: 8,
            decoder_channels: vec![8, 4, 4],
            variational: true,
            lifted: true,
            ..ShapeNetConfig::default()
        };
        let (_, net) = ShapeNet::initialised(&cfg, 3).unwrap();
        let views = Tensor::randn(0f32, 1.0, (2, 3, 1, 16, 16), &Device::Cpu).unwrap();
        let eps = Tensor::randn(0f32, 1.0, (6, 8), &Device::Cpu).unwrap();
        let carved = Tensor::ones((2, 1, 16, 16, 16), DType::F32, &Device::Cpu).unwrap();
        let out = net.forward(&views, &[0, 1, 2], Some(&carved), true, Some(&eps)).unwrap();
        assert_eq!(out.logits.dims(), &[2, 1, 16, 16, 16]);
        let kl = out.kl.unwrap().to_scalar::<f32>().unwrap();
        assert!(kl.is_finite() && kl >= 0.0, "{kl}");
        // The fusion weights are a softmax over the views: positive, summing to 1.
        let w = net.fusion_weights(&views, &[0, 1, 2]).unwrap();
        assert_eq!(w.dims(), &[2, 3, 8, 8, 8]);
        let sums: Vec<f32> = w.sum(1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5));
        // Views are interchangeable once turned: swapping two views and their turns gives
        // the same shape (inference mode: the latent mean).
        let a = net.forward(&views, &[0, 1, 2], Some(&carved), false, None).unwrap().logits;
        let swapped =
            Tensor::cat(&[views.narrow(1, 2, 1).unwrap(), views.narrow(1, 0, 2).unwrap()], 1)
                .unwrap();
        let b = net.forward(&swapped, &[2, 0, 1], Some(&carved), false, None).unwrap().logits;
        let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-4, "{diff}");
        // Wrong image size: an error, not a panic.
        let small = Tensor::zeros((1, 1, 1, 8, 8), DType::F32, &Device::Cpu).unwrap();
        assert!(net.forward(&small, &[0], Some(&carved), false, None).is_err());
        assert!(net.forward(&views, &[0], Some(&carved), false, None).is_err());
        // A lifted network without its carved volume, or with one of the wrong size.
        assert!(net.forward(&views, &[0, 1, 2], None, false, None).is_err());
        let wrong = Tensor::ones((2, 1, 8, 8, 8), DType::F32, &Device::Cpu).unwrap();
        assert!(net.forward(&views, &[0, 1, 2], Some(&wrong), false, None).is_err());
        assert_eq!(
            net.generate(&eps.narrow(0, 0, 2).unwrap()).unwrap().dims(),
            &[2, 1, 16, 16, 16]
        );
    }
}
