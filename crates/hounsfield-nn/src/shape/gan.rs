//! The 3D-VAE-GAN's critic (Wu et al. 2016): a 3D convolutional discriminator that tells the
//! training set's occupancy from the decoder's, trained with the hinge loss (Lim & Ye 2017)
//! under spectral normalisation (Miyato et al. 2018).
//!
//! WGAN-GP's gradient penalty needs the gradient of a gradient, which candle's autograd does
//! not give; spectral normalisation bounds the critic's Lipschitz constant instead, through
//! one power-iteration step per training step on each layer's weight matrix.

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use crate::ops::{Conv3dConfig, conv3d};
use crate::unet::reinitialise;

/// Adversarial training of a shape decoder (a [`super::ShapeTrainConfig`] option).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdversarialConfig {
    /// Weight of the generator's hinge term `-D(fake)` beside the occupancy loss.
    pub weight: f64,
    /// Discriminator widths: each level is a 4^3 convolution of stride 2 that halves the grid.
    pub channels: Vec<usize>,
    /// The discriminator's learning rate (constant after the shared warm-up).
    pub learning_rate: f64,
    /// Shapes decoded from `z ~ N(0, I)` each step, shown to the discriminator beside the
    /// reconstructions: what makes samples, not only reconstructions, look real.
    pub prior_samples: usize,
    /// The adversarial terms start at this step (the decoder first learns to reconstruct).
    pub start_step: usize,
    /// Standard deviation of Gaussian noise added to every grid the discriminator sees, real
    /// or made (instance noise, Sonderby et al. 2017): real grids are 0/1 and made ones are
    /// probabilities, and the noise hides that difference so the discriminator must judge
    /// shape.
    pub instance_noise: f64,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        Self {
            weight: 0.02,
            channels: vec![16, 32, 64],
            learning_rate: 2e-4,
            prior_samples: 8,
            start_step: 0,
            instance_noise: 0.0,
        }
    }
}

impl AdversarialConfig {
    /// Checks the numbers against the decoder's output side `resolution`.
    pub fn validate(&self, resolution: usize) -> Result<(), String> {
        if !(self.weight.is_finite() && self.weight >= 0.0) {
            return Err(format!("adversarial weight {} must be finite and >= 0", self.weight));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(format!(
                "adversarial learning_rate {} must be positive",
                self.learning_rate
            ));
        }
        if self.channels.is_empty()
            || self.channels.len() > 6
            || self.channels.iter().any(|c| !(1..=1024).contains(c))
        {
            return Err(format!(
                "adversarial channels must list 1 to 6 widths of 1-1024, not {:?}",
                self.channels
            ));
        }
        if resolution >> self.channels.len() == 0 {
            return Err(format!(
                "{} discriminator levels halve a {resolution}^3 grid to nothing",
                self.channels.len()
            ));
        }
        if self.weight > 1e6 || self.learning_rate > 1.0 {
            return Err(format!(
                "adversarial weight {} must be at most 1e6 and learning_rate {} at most 1",
                self.weight, self.learning_rate
            ));
        }
        if !(self.instance_noise.is_finite() && (0.0..=1.0).contains(&self.instance_noise)) {
            return Err(format!(
                "adversarial instance_noise {} must lie in [0, 1]",
                self.instance_noise
            ));
        }
        if self.prior_samples > 1024 {
            return Err(format!("prior_samples {} must be at most 1024", self.prior_samples));
        }
        Ok(())
    }
}

/// `x / |x|` of a vector `(n, 1)`.
fn normalise(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&(x.sqr()?.sum_all()?.sqrt()? + 1e-12)?)
}

/// A weight under spectral normalisation: the parameter, and the power iteration's left
/// singular vector estimate `u`, held between steps (not trained).
#[derive(Debug)]
struct Normalised {
    weight: Tensor,
    u: Tensor,
}

impl Normalised {
    fn rows(&self) -> candle_core::Result<usize> {
        self.weight.dim(0)
    }

    /// The weight as a matrix `(out, fan_in)`.
    fn matrix(&self) -> candle_core::Result<Tensor> {
        let rows = self.rows()?;
        self.weight.reshape((rows, self.weight.elem_count() / rows))
    }

    /// One power-iteration step: `u <- W W^T u / |W W^T u|` (no gradient).
    fn iterate(&mut self) -> candle_core::Result<()> {
        let w = self.matrix()?.detach();
        let v = normalise(&w.t()?.matmul(&self.u)?)?;
        self.u = normalise(&w.matmul(&v)?)?.detach();
        Ok(())
    }

    /// `sigma = u^T W v` with `v = W^T u / |W^T u|`, `u` and `v` held constant: the estimate
    /// of W's largest singular value, differentiable in W.
    fn sigma(&self) -> candle_core::Result<Tensor> {
        let w = self.matrix()?;
        let v = normalise(&w.detach().t()?.matmul(&self.u)?)?.detach();
        self.u.t()?.matmul(&w.matmul(&v)?)?.reshape(())
    }

    /// `W / sigma`.
    fn weight(&self) -> candle_core::Result<Tensor> {
        self.weight.broadcast_div(&self.sigma()?)
    }
}

/// The discriminator: convolutions of stride 2 with LeakyReLU(0.2), then a linear score, every
/// weight spectrally normalised. Parameters live in its own `VarMap`, named `disc.conv0.weight`,
/// ..., `disc.score.weight`; the power iteration's vectors are `disc.sn.0`, ...
pub struct Discriminator {
    varmap: VarMap,
    convs: Vec<(Normalised, Tensor)>,
    score: (Normalised, Tensor),
}

impl std::fmt::Debug for Discriminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discriminator").field("layers", &(self.convs.len() + 1)).finish()
    }
}

const SLOPE: f64 = 0.2;

impl Discriminator {
    /// A seeded discriminator of occupancy `(B, 1, R, R, R)`, `R = resolution`.
    pub fn new(cfg: &AdversarialConfig, resolution: usize, seed: u64) -> crate::Result<Self> {
        cfg.validate(resolution).map_err(crate::Error::Config)?;
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu).pp("disc");
        let init = candle_nn::Init::Const(0.0);
        let mut convs = Vec::new();
        let mut cin = 1;
        for (i, &c) in cfg.channels.iter().enumerate() {
            let w = vb.get_with_hints((c, cin, 4, 4, 4), &format!("conv{i}.weight"), init)?;
            let b = vb.get_with_hints(c, &format!("conv{i}.bias"), init)?;
            convs.push((w, b));
            cin = c;
        }
        let side = resolution >> cfg.channels.len();
        let w = vb.get_with_hints((1, cin * side.pow(3)), "score.weight", init)?;
        let b = vb.get_with_hints(1, "score.bias", init)?;
        reinitialise(&varmap, SLOPE, seed)?;
        // Start the power iteration from a fixed unit vector per layer (all ones, normalised).
        let start = |w: &Tensor| -> crate::Result<Normalised> {
            let u = normalise(&Tensor::ones((w.dim(0)?, 1), DType::F32, &Device::Cpu)?)?;
            Ok(Normalised { weight: w.clone(), u })
        };
        let convs =
            convs.into_iter().map(|(w, b)| Ok((start(&w)?, b))).collect::<crate::Result<_>>()?;
        let score = (start(&w)?, b);
        Ok(Self { varmap, convs, score })
    }

    fn layers_mut(&mut self) -> impl Iterator<Item = &mut Normalised> {
        self.convs.iter_mut().map(|(n, _)| n).chain(std::iter::once(&mut self.score.0))
    }

    fn layers(&self) -> impl Iterator<Item = &Normalised> {
        self.convs.iter().map(|(n, _)| n).chain(std::iter::once(&self.score.0))
    }

    /// One power-iteration step on every layer (once per training step, as Miyato et al.).
    pub fn iterate(&mut self) -> crate::Result<()> {
        for layer in self.layers_mut() {
            layer.iterate()?;
        }
        Ok(())
    }

    /// The trained parameters, sorted by name.
    pub fn named_vars(&self) -> crate::Result<Vec<(String, Var)>> {
        crate::checkpoint::named_vars(&self.varmap)
    }

    /// The parameter map (for restoring a checkpoint).
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// The power iteration's vectors, named for a checkpoint.
    pub fn vectors(&self) -> Vec<(String, Tensor)> {
        self.layers().enumerate().map(|(i, l)| (format!("disc.sn.{i}"), l.u.clone())).collect()
    }

    /// Restores vectors saved by [`Discriminator::vectors`]; a missing or misshapen one, or
    /// one not of unit length, is refused.
    pub fn restore_vectors(&mut self, get: impl Fn(&str) -> Option<Tensor>) -> Result<(), String> {
        for (i, layer) in self.layers_mut().enumerate() {
            let name = format!("disc.sn.{i}");
            let u = get(&name).ok_or_else(|| format!("missing {name}"))?;
            let rows = layer.rows().map_err(|e| e.to_string())?;
            let u = u.to_dtype(DType::F32).map_err(|e| e.to_string())?;
            if u.dims() != [rows, 1] {
                return Err(format!("{name} has shape {:?}, expected [{rows}, 1]", u.dims()));
            }
            let norm = u
                .sqr()
                .and_then(|s| s.sum_all())
                .and_then(|s| s.to_scalar::<f32>())
                .map_err(|e| e.to_string())?;
            if !norm.is_finite() || (norm - 1.0).abs() >= 1e-3 {
                return Err(format!("{name} is not a unit vector (squared length {norm})"));
            }
            layer.u = u;
        }
        Ok(())
    }

    /// The current estimates of each layer's largest singular value.
    pub fn sigmas(&self) -> crate::Result<Vec<f32>> {
        self.layers().map(|l| Ok(l.sigma()?.to_scalar::<f32>()?)).collect()
    }

    /// Scores `(B,)` of occupancy `(B, 1, R, R, R)` in [0, 1]: high for real-looking shapes.
    pub fn forward(&self, x: &Tensor) -> crate::Result<Tensor> {
        let cfg = Conv3dConfig { stride: [2; 3], padding: [1; 3], ..Conv3dConfig::default() };
        let mut h = x.clone();
        for (w, b) in &self.convs {
            h = conv3d(&h, &w.weight()?, cfg)?.broadcast_add(&b.reshape((1, (), 1, 1, 1))?)?;
            h = candle_nn::ops::leaky_relu(&h, SLOPE)?;
        }
        let (w, b) = &self.score;
        let flat = h.flatten_from(1)?;
        let expected = w.weight.dim(1)?;
        if flat.dim(1)? != expected {
            return Err(crate::Error::Config(format!(
                "the discriminator takes {expected} features, the volume gives {} (another grid size)",
                flat.dim(1)?
            )));
        }
        let linear = candle_nn::Linear::new(w.weight()?, Some(b.clone()));
        Ok(linear.forward(&flat)?.flatten_all()?)
    }
}

/// The hinge loss of a discriminator: `mean(relu(1 - D(real))) + mean(relu(1 + D(fake)))`.
pub fn hinge_discriminator_loss(real: &Tensor, fake: &Tensor) -> candle_core::Result<Tensor> {
    real.affine(-1.0, 1.0)?.relu()?.mean_all()? + fake.affine(1.0, 1.0)?.relu()?.mean_all()?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;
    use crate::optim::{AdamW, AdamWConfig};

    #[test]
    fn power_iteration_finds_the_largest_singular_value() {
        // W = [[2, 1], [1, 2]] has singular values 3 and 1; W = [[3, 0, 0], [0, 1, 0]] has 3.
        for (values, rows, cols) in
            [(vec![2f32, 1.0, 1.0, 2.0], 2, 2), (vec![3., 0., 0., 0., 1., 0.], 2, 3)]
        {
            let w = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
            let u = normalise(&Tensor::new(&[[1f32], [0.0]], &Device::Cpu).unwrap()).unwrap();
            let mut n = Normalised { weight: w, u };
            for _ in 0..30 {
                n.iterate().unwrap();
            }
            let sigma = n.sigma().unwrap().to_scalar::<f32>().unwrap();
            // Tolerance: f32 rounding after convergence (ratio 1/3 per step).
            assert!((sigma - 3.0).abs() < 1e-4, "{sigma}");
            let normalised = n.weight().unwrap();
            let m = Normalised { weight: normalised, u: n.u.clone() };
            assert!((m.sigma().unwrap().to_scalar::<f32>().unwrap() - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn sigma_is_differentiable_in_the_weight() {
        // d sigma / d W = u v^T at convergence: for W = diag(3, 1), e1 e1^T.
        let w = Var::from_tensor(&Tensor::new(&[[3f32, 0.0], [0.0, 1.0]], &Device::Cpu).unwrap())
            .unwrap();
        let u = normalise(&Tensor::new(&[[1f32], [0.1]], &Device::Cpu).unwrap()).unwrap();
        let mut n = Normalised { weight: w.as_tensor().clone(), u };
        for _ in 0..40 {
            n.iterate().unwrap();
        }
        let grads = n.sigma().unwrap().backward().unwrap();
        let g: Vec<Vec<f32>> = grads.get(&w).unwrap().to_vec2().unwrap();
        // Tolerance: the power iteration's residual (1/3)^40 and f32 rounding.
        let want = [[1.0, 0.0], [0.0, 0.0]];
        for (r, wr) in g.iter().zip(want) {
            for (a, b) in r.iter().zip(wr) {
                assert!((a - b).abs() < 1e-5, "{g:?}");
            }
        }
    }

    fn cubes(count: usize, side: usize, hollow: bool) -> Tensor {
        // Solid or hollow centred cubes of side 4 on an 8^3 grid.
        let mut v = vec![0f32; count * side.pow(3)];
        for s in 0..count {
            for z in 2..6 {
                for y in 2..6 {
                    for x in 2..6 {
                        let inside = [z, y, x].iter().all(|&c| (3..5).contains(&c));
                        if !hollow || !inside {
                            v[s * side.pow(3) + (z * side + y) * side + x] = 1.0;
                        }
                    }
                }
            }
        }
        Tensor::from_vec(v, (count, 1, side, side, side), &Device::Cpu).unwrap()
    }

    #[test]
    fn the_discriminator_learns_to_tell_solid_from_hollow_and_round_trips_its_vectors() {
        let cfg = AdversarialConfig { channels: vec![4, 8], ..AdversarialConfig::default() };
        let mut d = Discriminator::new(&cfg, 8, 1).unwrap();
        let (real, fake) = (cubes(4, 8, false), cubes(4, 8, true));
        let vars: Vec<Var> = d.named_vars().unwrap().into_iter().map(|(_, v)| v).collect();
        let mut opt = AdamW::new(d.named_vars().unwrap(), AdamWConfig::default()).unwrap();
        let loss = |d: &Discriminator| {
            hinge_discriminator_loss(&d.forward(&real).unwrap(), &d.forward(&fake).unwrap())
                .unwrap()
        };
        let before = loss(&d).to_scalar::<f32>().unwrap();
        for _ in 0..60 {
            d.iterate().unwrap();
            let grads = loss(&d).backward().unwrap();
            opt.step(&grads, 1e-2, 1.0).unwrap();
        }
        let after = loss(&d).to_scalar::<f32>().unwrap();
        // Measured 2.0 -> below 0.1; tolerance: the hinge margin is met for most shapes.
        assert!(after < 0.5 && after < before, "{before} -> {after}");
        let real_score = d.forward(&real).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
        let fake_score = d.forward(&fake).unwrap().mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(real_score > fake_score, "{real_score} vs {fake_score}");
        // Spectral normalisation keeps every layer's normalised gain near 1.
        assert!(d.sigmas().unwrap().iter().all(|s| s.is_finite() && *s > 0.0));
        assert_eq!(vars.len(), 6);
        // The power iteration's vectors round-trip; a wrong one is refused.
        let saved = d.vectors();
        let mut e = Discriminator::new(&cfg, 8, 2).unwrap();
        let get = |name: &str| saved.iter().find(|(n, _)| n == name).map(|(_, t)| t.clone());
        e.restore_vectors(get).unwrap();
        assert!(e.restore_vectors(|_| None).is_err());
        let bad = |_: &str| Some(Tensor::ones((3, 1), DType::F32, &Device::Cpu).unwrap());
        assert!(e.restore_vectors(bad).is_err());
        // A volume of another size is an error, not a panic.
        assert!(d.forward(&cubes(1, 16, false)).is_err());
        // A configuration that halves the grid to nothing is refused.
        let deep = AdversarialConfig { channels: vec![4; 4], ..AdversarialConfig::default() };
        assert!(Discriminator::new(&deep, 8, 0).is_err());
    }
}
