//! `hounsfield ct learn`: trains a learned reconstruction (FBPConvNet-style post-processing or
//! Learned Primal-Dual) on simulated random-ellipse data and scores it on held-out phantoms and
//! Shepp-Logan beside FBP (and FISTA-TV), with PSNR, SSIM and the data residual.
//!
//! ```toml
//! output = "lpd.safetensors"        # relative to this file; lpd.json (report) and
//!                                   # lpd.scan.json (the scan, for `ct project`) beside it
//! seed = 0
//!
//! [simulation]                      # default: the LPD paper's setting at size 128
//! size = 128                        # or scan = "cone.toml" (a scan file: grid + scan)
//! phantoms = "ellipsoids"           # or "heads" (3D scans: random skulls around blobs)
//! prior = "fbp"                     # or "backprojection" (scans FBP refuses: two views)
//! noise = { type = "gaussian", relative = 0.05 }
//!
//! [model]
//! kind = "primal_dual"              # or "post_processing" with [model.unet]
//!
//! [train]
//! minutes = 30                      # or steps = 3000
//! batch = 1
//! loss = { image = 1.0, physics = 0.0, smoothness = 0.0 }
//!
//! [evaluate]
//! images = 100
//! tv_lambda = 2.0                   # also score FISTA-TV (100 iterations); a list such as
//!                                   # [0.5, 2.0] scores it with each weight
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use hounsfield_core::metrics::{SsimOptions, psnr, ssim};
use hounsfield_core::{Geometry, LinearOperator, Volume};
use hounsfield_ct::{
    DataNoise, ImageGrid, IterOptions, Phantom, PhantomFamily, Prior, Projector, ScanGeometry,
    SimulatedCase, Simulation, TvOptions, fista_tv,
};
use hounsfield_nn::optim::Schedule;
use hounsfield_nn::recon::{
    Architecture, LossTerms, ReconBatch, ReconLoss, ReconModel, ReconTrainConfig, ReconTrainer,
};
use ndarray::{ArrayD, Zip};
use serde::{Deserialize, Serialize};

use crate::ct::ScanFile;

/// Test phantoms and noise draw from seeds far above any training seed.
const TEST_SEED: u64 = 1 << 48;

/// Where the simulated data comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulationSection {
    /// A scan file (grid and geometry); without one, the LPD paper's 2D parallel setting.
    pub scan: Option<PathBuf>,
    /// Image side of the paper's setting.
    #[serde(default = "default_size")]
    pub size: usize,
    /// Noise on the data.
    #[serde(default = "default_noise")]
    pub noise: DataNoise,
    /// Sub-samples per pixel side for the exact truth and data.
    #[serde(default = "default_supersample")]
    pub supersample: usize,
    /// Ellipses per phantom, `[min, max]` (for heads: soft-tissue blobs inside the skull).
    #[serde(default = "default_shapes")]
    pub shapes: [usize; 2],
    /// Random ellipses/ellipsoids, or random heads (3D).
    #[serde(default)]
    pub phantoms: PhantomFamily,
    /// What the network starts from: FBP/FDK, or the normalised backprojection (for scans FBP
    /// refuses, such as two radiographs).
    #[serde(default)]
    pub prior: Prior,
}

fn default_size() -> usize {
    128
}
fn default_noise() -> DataNoise {
    DataNoise::Gaussian { relative: 0.05 }
}
fn default_supersample() -> usize {
    4
}
/// `tv_lambda = 2.0` or `tv_lambda = [0.5, 2.0]`.
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a weight or a list of weights, e.g. 2.0 or [1.0, 10.0]")]
    enum OneOrMany {
        One(f64),
        Many(Vec<f64>),
    }
    match OneOrMany::deserialize(d)? {
        OneOrMany::One(v) => Ok(vec![v]),
        OneOrMany::Many(v) if v.is_empty() => Err(serde::de::Error::custom(
            "an empty list of weights: give at least one, or leave tv_lambda out",
        )),
        OneOrMany::Many(v) => Ok(v),
    }
}

fn default_shapes() -> [usize; 2] {
    [3, 10]
}
fn default_batch() -> usize {
    1
}
fn default_images() -> usize {
    100
}
fn default_range() -> f64 {
    1.0
}

/// How long and how to train.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSection {
    /// Stop after this many steps.
    pub steps: Option<usize>,
    /// Or after this many minutes (the cosine schedule is planned from the first steps' speed).
    pub minutes: Option<f64>,
    /// Images per step.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Train without true images: physics (and smoothness) terms only.
    #[serde(default)]
    pub self_supervised: bool,
    /// Peak learning rate (default 1e-3).
    pub learning_rate: Option<f64>,
    /// Global gradient-norm clipping (default 1).
    pub clip: Option<f64>,
    /// Loss weights.
    #[serde(default)]
    pub loss: ReconLoss,
}

/// What the trained model is scored on.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateSection {
    /// Held-out random phantoms.
    #[serde(default = "default_images")]
    pub images: usize,
    /// Also score FISTA-TV (100 iterations from the clamped FBP) with this weight, or with
    /// each of a list of weights (to show the baseline at its best).
    #[serde(default, deserialize_with = "one_or_many")]
    pub tv_lambda: Vec<f64>,
    /// Data range of PSNR and SSIM.
    #[serde(default = "default_range")]
    pub data_range: f64,
}

impl Default for EvaluateSection {
    fn default() -> Self {
        Self { images: default_images(), tv_lambda: Vec::new(), data_range: default_range() }
    }
}

/// The contents of a `ct learn` file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnConfig {
    /// The model file to write (safetensors); a JSON report is written beside it.
    pub output: PathBuf,
    /// Seed of the initial weights and of the training data.
    #[serde(default)]
    pub seed: u64,
    /// Simulated data.
    pub simulation: SimulationSection,
    /// The network.
    pub model: Architecture,
    /// Training.
    pub train: TrainSection,
    /// Scoring.
    #[serde(default)]
    pub evaluate: EvaluateSection,
}

impl LearnConfig {
    /// Reads a TOML file; relative paths become relative to it.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cfg: Self = toml::from_str(&text)
            .with_context(|| format!("{}: invalid configuration", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if cfg.output.is_relative() {
            cfg.output = base.join(&cfg.output);
        }
        if let Some(scan) = cfg.simulation.scan.as_mut().filter(|s| s.is_relative()) {
            *scan = base.join(&*scan);
        }
        let t = &cfg.train;
        if t.steps.is_none() == t.minutes.is_none() {
            bail!("{}: give train.steps or train.minutes (one of them)", path.display());
        }
        if t.batch == 0 || t.batch > 256 || t.minutes.is_some_and(|m| !(m.is_finite() && m > 0.0)) {
            bail!("{}: train.batch must be 1..=256 and train.minutes > 0", path.display());
        }
        // Zero steps would write the untrained initial weights as if they were a model.
        if t.steps == Some(0) {
            bail!("{}: train.steps must be at least 1", path.display());
        }
        let e = &cfg.evaluate;
        // No held-out images would make every score a mean over nothing (NaN).
        if e.images == 0 {
            bail!("{}: evaluate.images must be at least 1", path.display());
        }
        if !(e.data_range.is_finite() && e.data_range > 0.0) {
            bail!("{}: evaluate.data_range must be finite and > 0", path.display());
        }
        let mut sorted = e.tv_lambda.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        // Weights below 1e-30 are no regularisation at f32 precision: say so, do not score them.
        if e.tv_lambda.iter().any(|l| !(l.is_finite() && *l >= 1e-30))
            || e.tv_lambda.len() > 16
            || sorted.len() < e.tv_lambda.len()
        {
            bail!(
                "{}: evaluate.tv_lambda must be distinct weights, finite and >= 1e-30 (at most \
                 16), found {:?}",
                path.display(),
                e.tv_lambda
            );
        }
        Ok(cfg)
    }

    /// The simulation it describes.
    pub fn simulation(&self) -> Result<Simulation> {
        let s = &self.simulation;
        let (grid, scan) = match &s.scan {
            Some(path) => {
                let file = ScanFile::read(path)?;
                (file.grid, file.scan)
            }
            None => {
                let paper = Simulation::lpd_ellipses(s.size)?;
                (paper.grid, paper.scan)
            }
        };
        let sim = Simulation {
            grid,
            scan,
            noise: s.noise,
            supersample: s.supersample,
            shapes: s.shapes,
            phantoms: s.phantoms,
            prior: s.prior,
        };
        sim.validate()?;
        Ok(sim)
    }
}

/// The scan a model was trained for, written beside it for `ct project`.
pub fn scan_of(sim: &Simulation) -> ScanFile {
    ScanFile { grid: sim.grid.clone(), scan: sim.scan.clone() }
}

/// What a model file records of its data (its context string, JSON): the scan, to rebuild its
/// projector, and the prior image its network starts from (absent in files of FBP models).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelScan {
    /// The image grid.
    pub grid: ImageGrid,
    /// The scan geometry.
    pub scan: ScanGeometry,
    /// The prior image.
    #[serde(default)]
    pub prior: Prior,
}

impl ModelScan {
    /// The record of `sim`.
    pub fn of(sim: &Simulation) -> Self {
        Self { grid: sim.grid.clone(), scan: sim.scan.clone(), prior: sim.prior }
    }
}

/// One method's scores on the held-out set.
#[derive(Clone, Debug, Serialize)]
pub struct MethodScore {
    /// The prior (fbp, fdk for cone beams, or backprojection), fista-tv, or the model's kind.
    pub method: String,
    /// Mean PSNR over the held-out phantoms (dB).
    pub psnr_db: f64,
    /// Mean SSIM over them.
    pub ssim: f64,
    /// Mean relative data residual `|A x - y| / |y|` against the noisy data.
    pub residual: f64,
    /// PSNR on Shepp-Logan.
    pub shepp_logan_psnr_db: f64,
    /// SSIM on Shepp-Logan.
    pub shepp_logan_ssim: f64,
    /// Mean seconds per reconstruction.
    pub seconds: f64,
}

/// What `ct learn` did.
#[derive(Clone, Debug, Serialize)]
pub struct LearnReport {
    /// The model written.
    pub model: PathBuf,
    /// Architecture.
    pub architecture: Architecture,
    /// Gradient steps taken.
    pub steps: usize,
    /// Images per step.
    pub batch: usize,
    /// The phantoms trained and scored on.
    pub phantoms: PhantomFamily,
    /// The image the network starts from.
    pub prior: Prior,
    /// Seconds of training (data generation included).
    pub train_seconds: f64,
    /// Loss terms of the last step.
    pub last_loss: LossTerms,
    /// Held-out images scored.
    pub test_images: usize,
    /// The true images' own relative residual (the noise floor).
    pub truth_residual: f64,
    /// Scores, FBP first.
    pub scores: Vec<MethodScore>,
}

impl fmt::Display for LearnReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} steps of batch {} in {:.0} s (last loss {:.3e}); random {}, the network \
             starts from the {}",
            self.model.display(),
            self.steps,
            self.batch,
            self.train_seconds,
            self.last_loss.total,
            match self.phantoms {
                PhantomFamily::Ellipsoids => "ellipses/ellipsoids",
                PhantomFamily::Heads => "heads",
            },
            self.prior.key()
        )?;
        writeln!(
            f,
            "{:<16} {:>9} {:>7} {:>10} {:>9} {:>7} {:>9}",
            "method", "PSNR dB", "SSIM", "residual", "SL PSNR", "SL SSIM", "s/image"
        )?;
        for s in &self.scores {
            writeln!(
                f,
                "{:<16} {:>9.2} {:>7.4} {:>10.4} {:>9.2} {:>7.4} {:>9.3}",
                s.method,
                s.psnr_db,
                s.ssim,
                s.residual,
                s.shepp_logan_psnr_db,
                s.shepp_logan_ssim,
                s.seconds
            )?;
        }
        writeln!(
            f,
            "({} held-out phantoms; the true images' residual, the noise floor, is {:.4})",
            self.test_images, self.truth_residual
        )
    }
}

/// Progress of training, for bars and logs.
#[derive(Clone, Copy, Debug)]
pub struct StepInfo {
    /// Steps done.
    pub step: usize,
    /// Steps planned (an estimate under a time budget).
    pub total: usize,
    /// This step's loss terms.
    pub loss: LossTerms,
}

/// `hounsfield ct learn`.
pub fn learn(config: &Path, mut on_step: impl FnMut(&StepInfo)) -> Result<LearnReport> {
    let cfg = LearnConfig::read(config)?;
    let sim = cfg.simulation().with_context(|| format!("{}: [simulation]", config.display()))?;
    // The scores use SSIM's 11-pixel window: refuse smaller images before training, not after.
    let [nz, ny, nx] = sim.grid.shape;
    if nx < 11 || ny < 11 || (sim.scan.dims() == 3 && nz < 11) {
        bail!(
            "{}: images of {nx} x {ny}{} pixels are smaller than the 11-pixel SSIM window the scores use",
            config.display(),
            if sim.scan.dims() == 3 { format!(" x {nz}") } else { String::new() }
        );
    }
    if let Some(dir) = cfg.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    hounsfield_core::fs::check_writable(&cfg.output)?;
    let op: Arc<dyn LinearOperator> = Arc::new(Projector::new(sim.grid.clone(), sim.scan.clone())?);
    let model = ReconModel::new(cfg.model.clone(), Arc::clone(&op), cfg.seed)
        .with_context(|| format!("{}: model", config.display()))?;
    let t = &cfg.train;
    let defaults = ReconTrainConfig::default();
    let train_cfg = ReconTrainConfig {
        learning_rate: t.learning_rate.unwrap_or(defaults.learning_rate),
        clip: t.clip.unwrap_or(defaults.clip),
        schedule: Schedule::Cosine,
        loss: t.loss,
        ..defaults
    };
    let mut trainer = ReconTrainer::new(model, train_cfg)
        .with_context(|| format!("{}: training settings", config.display()))?;
    let start = Instant::now();
    let mut total = t.steps.unwrap_or(usize::MAX);
    let (mut step, mut last) = (0usize, LossTerms::default());
    loop {
        let elapsed = start.elapsed().as_secs_f64();
        match (t.steps, t.minutes) {
            (Some(n), _) if step >= n => break,
            (_, Some(m)) if elapsed >= m * 60.0 => break,
            _ => {}
        }
        let cases: Vec<SimulatedCase> = (0..t.batch)
            .map(|k| {
                let seed =
                    cfg.seed.wrapping_mul(1_000_003).wrapping_add((step * t.batch + k) as u64);
                sim.case(&sim.random_phantom(seed)?, seed ^ 0x6e01_5e00)
            })
            .collect::<hounsfield_core::Result<_>>()
            .with_context(|| {
                format!(
                    "{}: simulating training data with prior = \"{}\" (a scan FBP refuses, \
                     such as two views, needs prior = \"backprojection\")",
                    config.display(),
                    sim.prior.key()
                )
            })?;
        let batch = batch_of(op.as_ref(), &cases, !t.self_supervised)?;
        last = trainer.step(&batch, step, total)?;
        step += 1;
        if let Some(m) = t.minutes.filter(|_| step == 5 || step % 50 == 0) {
            // Plan the cosine schedule from the speed so far, and plan again as it settles (the
            // first steps are slower), so the decay ends with the time budget, not before.
            let per_step = start.elapsed().as_secs_f64() / step as f64;
            total = ((m * 60.0) / per_step).max(step as f64) as usize;
        }
        on_step(&StepInfo { step, total: total.max(step), loss: last });
    }
    let train_seconds = start.elapsed().as_secs_f64();
    let model = trainer.into_model();
    let context = serde_json::to_string(&ModelScan::of(&sim))?;
    model.save(&cfg.output, &context)?;
    // The scan beside the model: `ct project` with it makes data the model accepts.
    let scan_json = serde_json::to_vec_pretty(&scan_of(&sim))?;
    hounsfield_core::fs::write_bytes_atomic(&cfg.output.with_extension("scan.json"), &scan_json)?;

    let e = &cfg.evaluate;
    let (scores, truth_residual) = evaluate(&sim, &op, &model, e)?;
    let report = LearnReport {
        model: cfg.output.clone(),
        architecture: cfg.model,
        steps: step,
        batch: t.batch,
        phantoms: sim.phantoms,
        prior: sim.prior,
        train_seconds,
        last_loss: last,
        test_images: e.images,
        truth_residual,
        scores,
    };
    let json = serde_json::to_vec_pretty(&report)?;
    hounsfield_core::fs::write_bytes_atomic(&cfg.output.with_extension("json"), &json)?;
    Ok(report)
}

fn batch_of(op: &dyn LinearOperator, cases: &[SimulatedCase], truth: bool) -> Result<ReconBatch> {
    let flat = |a: &ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    let t: Vec<Vec<f32>> =
        if truth { cases.iter().map(|c| flat(&c.truth)).collect() } else { Vec::new() };
    let s: Vec<Vec<f32>> = cases.iter().map(|c| flat(&c.sinogram)).collect();
    let p: Vec<Vec<f32>> = cases.iter().map(|c| flat(&c.fbp)).collect();

    Ok(ReconBatch::new(op, &refs(&t), &refs(&s), &refs(&p))?)
}

fn refs(v: &[Vec<f32>]) -> Vec<&[f32]> {
    v.iter().map(Vec::as_slice).collect()
}

/// Relative data residual `|A x - y| / |y|`.
fn residual(op: &dyn LinearOperator, x: &ArrayD<f32>, y: &ArrayD<f32>) -> Result<f64> {
    let ax = op.apply(x.view())?;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    Zip::from(&ax).and(y).for_each(|&a, &b| {
        num += f64::from(a - b).powi(2);
        den += f64::from(b).powi(2);
    });
    Ok((num / den.max(f64::MIN_POSITIVE)).sqrt())
}

/// PSNR and SSIM of `x` against `truth`.
fn quality(truth: &ArrayD<f32>, x: &ArrayD<f32>, range: f64) -> Result<(f64, f64)> {
    let shape = truth.shape();
    let shape3 = match shape.len() {
        2 => [1, shape[0], shape[1]],
        _ => [shape[0], shape[1], shape[2]],
    };
    let v = |a: &ArrayD<f32>| {
        Volume::from_vec(shape3, a.iter().copied().collect(), Geometry::default())
    };
    let (t, r) = (v(truth)?, v(x)?);
    Ok((psnr(&t, &r, range)?, ssim(&t, &r, &SsimOptions::new(range))?))
}

type Method<'a> = (String, Box<dyn Fn(&SimulatedCase) -> Result<ArrayD<f32>> + 'a>);

/// Scores FBP, FISTA-TV (if asked) and the model on held-out phantoms and Shepp-Logan; also
/// returns the true images' mean residual.
pub fn evaluate(
    sim: &Simulation,
    op: &Arc<dyn LinearOperator>,
    model: &ReconModel,
    e: &EvaluateSection,
) -> Result<(Vec<MethodScore>, f64)> {
    let tests: Vec<SimulatedCase> = (0..e.images as u64)
        .map(|i| sim.case(&sim.random_phantom(TEST_SEED + i)?, TEST_SEED + 7_000_000 + i))
        .collect::<hounsfield_core::Result<_>>()?;
    let [nz, ny, nx] = sim.grid.shape;
    let [sx, sy, sz] = sim.grid.spacing;
    let mut side = (nx as f64 * sx).min(ny as f64 * sy);
    if sim.scan.dims() == 3 {
        side = side.min(nz as f64 * sz);
    }
    let radius = 0.45 * side;
    let sl_phantom = if sim.scan.dims() == 2 {
        Phantom::shepp_logan_2d(radius)
    } else {
        Phantom::shepp_logan_3d(radius)
    };
    let sl = sim.case(&sl_phantom, TEST_SEED + 9)?;
    let analytic = sim.prior.name(&sim.scan);
    let mut methods: Vec<Method<'_>> =
        vec![(analytic.into(), Box::new(|c: &SimulatedCase| Ok(c.fbp.clone())))];
    for &lambda in &e.tv_lambda {
        methods.push((
            format!("fista-tv {lambda}"),
            Box::new(move |c: &SimulatedCase| {
                let x0 = c.fbp.mapv(|v| v.max(0.0));
                let tv = TvOptions { lambda, inner_iterations: 20 };
                let iter = IterOptions::iterations(100);
                Ok(fista_tv(
                    op.as_ref(),
                    c.sinogram.view(),
                    Some(&x0),
                    &tv,
                    &iter,
                    &mut hounsfield_ct::no_monitor,
                )?)
            }),
        ));
    }
    let name = match model.architecture() {
        Architecture::PostProcessing { .. } => "fbpconvnet",
        Architecture::PrimalDual { .. } => "lpd",
    };
    methods.push((
        name.into(),
        Box::new(|c: &SimulatedCase| Ok(model.reconstruct(c.sinogram.view(), c.fbp.view())?)),
    ));
    let truth_residual =
        tests.iter().map(|c| residual(op.as_ref(), &c.truth, &c.sinogram)).sum::<Result<f64>>()?
            / tests.len().max(1) as f64;
    let mut scores = Vec::new();
    for (method, run) in &methods {
        let start = Instant::now();
        let (mut p, mut s, mut r) = (0.0, 0.0, 0.0);
        for c in &tests {
            let x = run(c)?;
            let (a, b) = quality(&c.truth, &x, e.data_range)?;
            p += a;
            s += b;
            r += residual(op.as_ref(), &x, &c.sinogram)?;
        }
        let n = tests.len().max(1) as f64;
        let seconds = start.elapsed().as_secs_f64() / n;
        let (sp, ss) = quality(&sl.truth, &run(&sl)?, e.data_range)?;
        scores.push(MethodScore {
            method: method.clone(),
            psnr_db: p / n,
            ssim: s / n,
            residual: r / n,
            shepp_logan_psnr_db: sp,
            shepp_logan_ssim: ss,
            seconds,
        });
    }
    Ok((scores, truth_residual))
}
