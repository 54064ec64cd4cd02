//! Learned Primal-Dual reconstruction (Adler & Öktem 2018) for 2D problems: unrolled primal and
//! dual updates, each a small CNN, calling the forward operator and its adjoint (normalised by
//! the operator's norm) through [`crate::operator`].
//!
//! Per iteration `i`: `h <- h + Gamma_i([h, A f_1, g])` in data space, then
//! `f <- f + Lambda_i([f, A^T h_1])` in image space; `f_0` of the last iteration is the image.
//! Each CNN is three 3x3 convolutions (32, 32, out channels) with PReLU between, as in the paper.

use std::sync::Arc;

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use hounsfield_core::LinearOperator;

use crate::layers::Conv3d;
use crate::operator::{apply_adjoint, apply_operator};
use crate::ops::{Conv3dConfig, conv3x3_prelu_stack};

/// Sizes of a [`LearnedPrimalDual`] network (the paper's: 10 iterations, 5 + 5 channels, 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LpdConfig {
    /// Unrolled iterations.
    pub iterations: usize,
    /// Primal memory channels.
    pub primal_channels: usize,
    /// Dual memory channels.
    pub dual_channels: usize,
    /// Width of the hidden convolutions.
    pub hidden: usize,
    /// Start every primal channel from the FBP image instead of zero (the paper starts from
    /// zero; starting from FBP makes short trainings converge faster).
    pub fbp_start: bool,
}

impl Default for LpdConfig {
    fn default() -> Self {
        Self { iterations: 10, primal_channels: 5, dual_channels: 5, hidden: 32, fbp_start: false }
    }
}

/// conv -> PReLU -> conv -> PReLU -> conv, 3x3 kernels on `(N, C, 1, H, W)`.
#[derive(Clone, Debug)]
struct Block {
    convs: [Conv3d; 3],
    slopes: [Tensor; 2],
}

impl Block {
    fn new(vb: VarBuilder<'_>, cin: usize, hidden: usize, cout: usize) -> Result<Self> {
        let cfg = Conv3dConfig::default().with_padding([0, 1, 1]);
        let conv = |i: usize, a: usize, b: usize| {
            Conv3d::new(vb.pp(format!("conv{i}")), a, b, [1, 3, 3], cfg, true)
        };
        let slope = |i: usize| vb.get_with_hints(1, &format!("prelu{i}"), Init::Const(0.25));
        Ok(Self {
            convs: [conv(0, cin, hidden)?, conv(1, hidden, hidden)?, conv(2, hidden, cout)?],
            slopes: [slope(0)?, slope(1)?],
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut layers = Vec::with_capacity(3);
        for conv in &self.convs {
            let bias = conv.bias().ok_or_else(|| {
                candle_core::Error::Msg(
                    "LearnedPrimalDual: a block convolution lacks its bias".into(),
                )
            })?;
            layers.push((conv.weight(), bias));
        }
        conv3x3_prelu_stack(x, &layers, &[&self.slopes[0], &self.slopes[1]])
    }
}

/// The unrolled network, bound to one operator.
#[derive(Clone)]
pub struct LearnedPrimalDual {
    cfg: LpdConfig,
    op: Arc<dyn LinearOperator>,
    scale: f64,
    dual: Vec<Block>,
    primal: Vec<Block>,
}

impl std::fmt::Debug for LearnedPrimalDual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LearnedPrimalDual")
            .field("cfg", &self.cfg)
            .field("scale", &self.scale)
            .finish_non_exhaustive()
    }
}

impl LearnedPrimalDual {
    /// Builds the blocks under `vb` for a 2D operator (`domain (ny, nx)`, `range (views, cols)`),
    /// using `A / norm` inside (pass `hounsfield_core::estimate_norm(op, ...)`).
    pub fn new(
        vb: VarBuilder<'_>,
        cfg: LpdConfig,
        op: Arc<dyn LinearOperator>,
        norm: f64,
    ) -> Result<Self> {
        if op.domain_shape().len() != 2 || op.range_shape().len() != 2 {
            return Err(candle_core::Error::Msg(
                "LearnedPrimalDual: the operator must map 2D images to 2D data".into(),
            ));
        }
        let sizes = [cfg.primal_channels, cfg.dual_channels, cfg.hidden];
        let fits = norm.is_finite()
            && norm > 0.0
            && (1..=1000).contains(&cfg.iterations)
            && sizes.iter().all(|c| (1..=4096).contains(c));
        if !fits {
            return Err(candle_core::Error::Msg(format!(
                "LearnedPrimalDual: needs a positive norm (found {norm}), 1-1000 iterations and \
                 1-4096 channels, found {cfg:?}"
            )));
        }
        let (mut dual, mut primal) = (Vec::new(), Vec::new());
        for i in 0..cfg.iterations {
            dual.push(Block::new(
                vb.pp(format!("dual{i}")),
                cfg.dual_channels + 2,
                cfg.hidden,
                cfg.dual_channels,
            )?);
            primal.push(Block::new(
                vb.pp(format!("primal{i}")),
                cfg.primal_channels + 1,
                cfg.hidden,
                cfg.primal_channels,
            )?);
        }
        Ok(Self { cfg, op, scale: 1.0 / norm, dual, primal })
    }

    /// Reconstructs a batch of sinograms `(N, views, cols)` into images `(N, ny, nx)`; `prior`
    /// (FBP images `(N, ny, nx)`) is the starting point when the configuration asks for it.
    pub fn forward(&self, g: &Tensor, prior: Option<&Tensor>) -> Result<Tensor> {
        let (n, views, cols) = g.dims3()?;
        let image = self.op.domain_shape();
        let (ny, nx) = (image[0], image[1]);
        let dtype = g.dtype();
        // The data enters scaled like the operator, so both dual inputs share one scale.
        let g5 = (g.reshape((n, 1, 1, views, cols))? * self.scale)?;
        let channels = self.cfg.primal_channels;
        let mut f = match (self.cfg.fbp_start, prior) {
            (true, Some(p)) => p.reshape((n, 1, 1, ny, nx))?.repeat((1, channels, 1, 1, 1))?,
            (true, None) => {
                return Err(candle_core::Error::Msg(
                    "LearnedPrimalDual: fbp_start needs the FBP images".into(),
                ));
            }
            (false, _) => Tensor::zeros((n, channels, 1, ny, nx), dtype, g.device())?,
        };
        let mut h = Tensor::zeros((n, self.cfg.dual_channels, 1, views, cols), dtype, g.device())?;
        for i in 0..self.cfg.iterations {
            let f1 = f.narrow(1, 1.min(self.cfg.primal_channels - 1), 1)?.reshape((n, ny, nx))?;
            let af =
                (apply_operator(&f1, &self.op)? * self.scale)?.reshape((n, 1, 1, views, cols))?;
            h = (&h + self.dual[i].forward(&Tensor::cat(&[&h, &af, &g5], 1)?)?)?;
            let h1 =
                h.narrow(1, 1.min(self.cfg.dual_channels - 1), 1)?.reshape((n, views, cols))?;
            let ath = (apply_adjoint(&h1, &self.op)? * self.scale)?.reshape((n, 1, 1, ny, nx))?;
            f = (&f + self.primal[i].forward(&Tensor::cat(&[&f, &ath], 1)?)?)?;
        }
        f.narrow(1, 0, 1)?.reshape((n, ny, nx))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use candle_core::{DType, Device, Tensor};
    use candle_nn::{VarBuilder, VarMap};
    use hounsfield_ct::{Projector, Simulation};

    use super::*;
    use crate::ops::conv::REFERENCE_KERNELS;

    #[test]
    fn one_step_with_the_fused_blocks_equals_the_column_path() -> Result<()> {
        // The paper's network (10 iterations, 5 + 5 channels, 32 hidden) on a 32^2 ellipse
        // case: the reconstruction and every parameter's gradient of a weighted sum of it, with
        // the fused blocks and direct kernels against the separate ops through im2col + GEMM
        // (the implementation they replaced). Both f32, summed in other orders over 60 layers:
        // the output within 1e-4 of its largest magnitude (measured 2.4e-6), each weight's and
        // bias's gradient within 1e-4 of its tensor's largest (measured 2.1e-5), each slope's
        // within 2e-3 (measured 1.9e-4: a sum over the negative pre-activations that cancels).
        let sim =
            Simulation::lpd_ellipses(32).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let op: Arc<dyn LinearOperator> = Arc::new(
            Projector::new(sim.grid.clone(), sim.scan.clone())
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?,
        );
        let case = sim
            .random_phantom(3)
            .and_then(|p| sim.case(&p, 4))
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let dev = Device::Cpu;
        let range = op.range_shape();
        let g = Tensor::from_vec(
            case.sinogram.iter().copied().collect::<Vec<f32>>(),
            (1, range[0], range[1]),
            &dev,
        )?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let norm = hounsfield_core::estimate_norm(op.as_ref(), 30, 1)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let lpd = LearnedPrimalDual::new(vb, LpdConfig::default(), Arc::clone(&op), norm)?;
        crate::unet::reinitialise(&varmap, 0.25, 7)?;
        // Nonzero biases, so the fused op's bias (added first, in the registers) is exercised.
        let named = crate::checkpoint::named_vars(&varmap)
            .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        for (k, (_, var)) in named.iter().enumerate() {
            if var.rank() == 1 && var.elem_count() > 1 {
                let values: Vec<f32> =
                    (0..var.elem_count()).map(|i| ((i + k) % 7) as f32 * 0.02 - 0.06).collect();
                var.set(&Tensor::from_vec(values, var.elem_count(), &dev)?)?;
            }
        }
        let weights: Vec<f32> = (0..32 * 32).map(|i| ((i * 7919) % 101) as f32 / 100.0).collect();
        let weights = Tensor::from_vec(weights, (1, 32, 32), &dev)?;
        let run = |reference: bool| -> Result<(Vec<f32>, Vec<Vec<f32>>)> {
            REFERENCE_KERNELS.store(reference, Ordering::SeqCst);
            let y = lpd.forward(&g, None);
            REFERENCE_KERNELS.store(false, Ordering::SeqCst);
            let y = y?;
            let grads = (&y * &weights)?.sum_all()?.backward()?;
            let mut all = Vec::new();
            for (_, var) in &named {
                let grad = grads
                    .get(var.as_tensor())
                    .ok_or_else(|| candle_core::Error::Msg("a parameter has no gradient".into()))?;
                all.push(grad.flatten_all()?.to_vec1::<f32>()?);
            }
            Ok((y.flatten_all()?.to_vec1::<f32>()?, all))
        };
        let (y_fast, g_fast) = run(false)?;
        let (y_ref, g_ref) = run(true)?;
        let worst = |a: &[f32], b: &[f32]| -> f32 {
            let scale = b.iter().fold(f32::MIN_POSITIVE, |m, v| m.max(v.abs()));
            a.iter().zip(b).map(|(p, q)| (p - q).abs() / scale).fold(0.0, f32::max)
        };
        let e = worst(&y_fast, &y_ref);
        assert!(e <= 1e-4, "output differs by {e:e} of its largest value");
        assert_eq!(g_fast.len(), 160, "3 weights, 3 biases and 2 slopes in each of 20 blocks");
        for (i, (a, b)) in g_fast.iter().zip(&g_ref).enumerate() {
            let e = worst(a, b);
            let name = &named[i].0;
            let tolerance = if name.contains("prelu") { 2e-3 } else { 1e-4 };
            assert!(e <= tolerance, "the gradient of {name} differs by {e:e} of its largest value");
        }
        Ok(())
    }
}
