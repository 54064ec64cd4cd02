//! AdamW with a warm-up + cosine/poly learning-rate schedule and global gradient-norm clipping.
//!
//! Written here rather than taken from candle-nn because resuming a run needs the moment
//! estimates, which candle-nn's `AdamW` keeps private.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use serde::{Deserialize, Serialize};

/// The learning rate over the steps of a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// The base rate throughout (after warm-up).
    Constant,
    /// Half a cosine from the base rate down to 0 at the last step.
    Cosine,
    /// `base * (1 - t)^exponent` (nnU-Net uses 0.9).
    Poly(f64),
}

impl Schedule {
    /// Rate at `step` (0-based) of `total`, with a linear warm-up over the first `warmup` steps.
    pub fn rate(self, base: f64, step: usize, total: usize, warmup: usize) -> f64 {
        if step < warmup {
            return base * (step + 1) as f64 / warmup as f64;
        }
        let span = total.saturating_sub(warmup).max(1);
        let t = ((step - warmup) as f64 / span as f64).min(1.0);
        match self {
            Self::Constant => base,
            Self::Cosine => base * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()),
            Self::Poly(p) => base * (1.0 - t).powf(p),
        }
    }
}

/// Hyper-parameters of [`AdamW`] (PyTorch's defaults but for the weight decay).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWConfig {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Added to the root of the second moment.
    pub eps: f64,
    /// Decoupled weight decay (per unit learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 1e-4 }
    }
}

/// AdamW (Loshchilov & Hutter) over named variables.
#[derive(Debug)]
pub struct AdamW {
    cfg: AdamWConfig,
    vars: Vec<(String, Var, Tensor, Tensor)>,
    steps: usize,
}

impl AdamW {
    /// Zero moments for every variable.
    pub fn new(vars: Vec<(String, Var)>, cfg: AdamWConfig) -> Result<Self> {
        let vars = vars
            .into_iter()
            .map(|(name, var)| {
                let zeros = var.zeros_like()?;
                Ok((name, var, zeros.clone(), zeros))
            })
            .collect::<Result<_>>()?;
        Ok(Self { cfg, vars, steps: 0 })
    }

    /// Number of updates made so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// One update with learning rate `lr`, the gradients multiplied by `grad_scale` (clipping).
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.steps += 1;
        let AdamWConfig { beta1, beta2, eps, weight_decay } = self.cfg;
        let (c1, c2) = (1.0 - beta1.powi(self.steps as i32), 1.0 - beta2.powi(self.steps as i32));
        for (_, var, m, v) in &mut self.vars {
            let Some(g) = grads.get(var) else { continue };
            // Detached throughout: the moments must not chain the autograd graphs of past steps.
            let g = (g.detach() * grad_scale)?;
            *m = ((&*m * beta1)? + (&g * (1.0 - beta1))?)?.detach();
            *v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?.detach();
            let update = ((&*m / c1)? / ((&*v / c2)?.sqrt()? + eps)?)?;
            let decayed = (var.as_tensor().detach() * (1.0 - lr * weight_decay))?;
            var.set(&(decayed - (update * lr)?)?)?;
        }
        Ok(())
    }

    /// The moments as named tensors (`adamw.m.<name>`, `adamw.v.<name>`), for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        self.vars
            .iter()
            .flat_map(|(n, _, m, v)| {
                [(format!("adamw.m.{n}"), m.clone()), (format!("adamw.v.{n}"), v.clone())]
            })
            .collect()
    }

    /// Restores moments saved by [`AdamW::state`] and the step count.
    pub fn restore(&mut self, get: impl Fn(&str) -> Option<Tensor>, steps: usize) -> Result<()> {
        for (n, var, m, v) in &mut self.vars {
            let (Some(sm), Some(sv)) = (get(&format!("adamw.m.{n}")), get(&format!("adamw.v.{n}")))
            else {
                return Err(candle_core::Error::Msg(format!(
                    "checkpoint lacks optimiser state for {n}"
                )));
            };
            *m = sm.to_dtype(var.dtype())?.reshape(var.shape())?;
            *v = sv.to_dtype(var.dtype())?.reshape(var.shape())?;
        }
        self.steps = steps;
        Ok(())
    }
}

/// The Euclidean norm of all gradients together, and the factor that brings it to at most
/// `max_norm` (1 when it is already below, or when `max_norm` is not positive).
pub fn clip_factor(grads: &GradStore, vars: &[Var], max_norm: f64) -> Result<(f64, f64)> {
    let mut sq = 0.0f64;
    for var in vars {
        if let Some(g) = grads.get(var) {
            sq += g.sqr()?.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
        }
    }
    let norm = sq.sqrt();
    let factor = if max_norm > 0.0 && norm > max_norm { max_norm / (norm + 1e-6) } else { 1.0 };
    Ok((norm, factor))
}
