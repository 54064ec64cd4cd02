//! `hounsfield shape train|eval`: the shape-from-images networks of `hounsfield_nn::shape`
//! trained on the procedural family (`hounsfield_mesh::shape_family`) rendered by
//! `hounsfield_render::render_view`, and scored on the fixed held-out set beside the baselines
//! of [`crate::shape_data`] measured in the same run.
//!
//! The cameras are a ring of four orthographic views at 90 degrees (azimuth 0, 90, 180, 270)
//! at one elevation. Networks predict each view's occupancy in its own frame, so camera `k`'s
//! volume is turned back by `k` quarter turns about z into the common frame (camera 0's).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Camera, Geometry, Volume};
use hounsfield_mesh::{IsoOptions, ShapeClass, TriMesh, compare_surfaces, isosurface, occupancy};
use hounsfield_nn::shape::{
    InputKind, ShapeEvent, ShapeExample, ShapeModel, ShapeModelInfo, ShapeNetConfig, ShapeSet,
    ShapeTrainConfig, ShapeTrainer, ViewAugment, ViewMap, encode_view,
};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::shape_data::{TEST_SEED_BASE, ring_cameras};

/// The seed of the latents `shape eval` decodes to score a VAE's samples.
const GENERATION_SEED: u64 = 0x5a3;

/// Validation shapes use seeds from here on: neither training (from 0) nor test (2^32) seeds.
pub const VALIDATION_SEED_BASE: u64 = 1 << 31;

/// Cameras on the ring, 90 degrees apart.
pub const RING: usize = 4;

/// Distance of the ring cameras from the origin, and the radius of the sphere they frame.
const CAMERA_DISTANCE: f32 = 3.0;
const FRAMED_RADIUS: f32 = 0.8;

/// Mesh resolution for rendering, in units of the unit cube.
const MESH_VOXEL: f64 = 1.0 / 64.0;

/// The data a model is trained on: saved in the model, so evaluation remakes the same views.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// What a view becomes as input.
    pub input: InputKind,
    /// Training shapes per trained class (seeds 0..n).
    pub train_per_class: usize,
    /// Validation shapes, spread over the trained classes (seeds from 2^31).
    pub validation: usize,
    /// Picture side, pixels.
    pub size: usize,
    /// Elevation of the ring of cameras, degrees.
    pub elevation: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            input: InputKind::Depth,
            train_per_class: 500,
            validation: 60,
            size: 64,
            elevation: 20.0,
        }
    }
}

/// The network's sizes that the data do not fix.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// Encoder widths; each level after the first halves the picture.
    pub encoder_channels: Vec<usize>,
    /// Latent length.
    pub latent: usize,
    /// Decoder widths from 4^3; 4 levels give 32^3, 5 give 64^3.
    pub decoder_channels: Vec<usize>,
    /// View fusion.
    pub fusion: hounsfield_nn::shape::Fusion,
    /// The decoder level after which views are fused.
    pub fuse_level: usize,
    /// The fine levels also see what the views carve away (silhouette, depth).
    pub lifted: bool,
    /// A VAE.
    pub variational: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        let net = ShapeNetConfig::default();
        Self {
            encoder_channels: net.encoder_channels,
            latent: net.latent,
            decoder_channels: net.decoder_channels,
            fusion: net.fusion,
            fuse_level: net.fuse_level,
            lifted: net.lifted,
            variational: net.variational,
        }
    }
}

/// A `shape train` configuration file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeConfig {
    /// Where the model goes (relative to the configuration file).
    pub output: PathBuf,
    /// The data.
    #[serde(default)]
    pub data: DataConfig,
    /// The network.
    #[serde(default)]
    pub model: ModelConfig,
    /// Training.
    #[serde(default)]
    pub train: ShapeTrainConfig,
}

impl ShapeConfig {
    /// Reads a TOML file; a relative `output` becomes relative to it.
    pub fn read(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let invalid = || format!("{}: invalid configuration", path.display());
        let value: toml::Value = toml::from_str(&text).with_context(invalid)?;
        if let Some(key) = crate::segment::non_finite_float(&value, "") {
            bail!("{}: {key} is not a finite number", path.display());
        }
        let mut cfg: Self = toml::from_str(&text).with_context(invalid)?;
        if cfg.output.as_os_str().is_empty() {
            bail!("{}: output is empty; name a .safetensors file", path.display());
        }
        if cfg.output.is_relative() {
            cfg.output = path.parent().unwrap_or(Path::new(".")).join(&cfg.output);
        }
        cfg.check().with_context(|| path.display().to_string())?;
        Ok(cfg)
    }

    fn check(&self) -> Result<()> {
        let d = &self.data;
        if d.train_per_class == 0 || d.train_per_class > 100_000 || d.validation > 100_000 {
            bail!("data.train_per_class must be 1-100000 and validation at most 100000");
        }
        if !(8..=256).contains(&d.size) {
            bail!("data.size {} must be 8-256 pixels", d.size);
        }
        if d.elevation.is_nan() || d.elevation.abs() >= 90.0 {
            bail!("data.elevation {} must lie in (-90, 90) degrees", d.elevation);
        }
        // Views (mask, depth, 3 normals: 17 bytes a pixel) and occupancy, all in memory.
        let bytes = (d.train_per_class * ShapeClass::TRAINED.len() + d.validation)
            .saturating_mul(RING * d.size * d.size * 17 + self.net().output_size().pow(3));
        if bytes > 8_000_000_000 {
            bail!(
                "the training set would take {:.1} GB in memory; at most 8 GB: fewer shapes or pixels",
                bytes as f64 / 1e9
            );
        }
        self.net().validate().map_err(anyhow::Error::msg)?;
        self.train.validate()?;
        if let Some(a) = &self.train.adversarial {
            a.validate(self.net().output_size()).map_err(anyhow::Error::msg)?;
            if a.prior_samples > 0 && !self.model.variational {
                bail!(
                    "train.adversarial.prior_samples decodes z ~ N(0, I), which only a \
                     variational model (model.variational = true) is trained to take; set \
                     prior_samples = 0 to train on reconstructions alone"
                );
            }
            if a.start_step >= self.train.steps {
                bail!(
                    "train.adversarial.start_step {} is not before train.steps {}: the \
                     discriminator would never train",
                    a.start_step,
                    self.train.steps
                );
            }
        }
        if self.train.max_views > RING {
            bail!(
                "train.max_views {} is more than the ring's {RING} cameras",
                self.train.max_views
            );
        }
        if self.output.extension().is_none_or(|e| e != "safetensors") || self.output.is_dir() {
            bail!("output {:?} must name a .safetensors file", self.output.display().to_string());
        }
        Ok(())
    }

    /// The network the configuration describes.
    pub fn net(&self) -> ShapeNetConfig {
        let m = &self.model;
        ShapeNetConfig {
            in_channels: self.data.input.channels(),
            image_size: self.data.size,
            encoder_channels: m.encoder_channels.clone(),
            latent: m.latent,
            decoder_channels: m.decoder_channels.clone(),
            fusion: m.fusion,
            fuse_level: m.fuse_level,
            lifted: m.lifted,
            variational: m.variational,
            ..ShapeNetConfig::default()
        }
    }
}

/// The ring's cameras for pictures of `size` at `elevation`.
pub fn cameras(size: usize, elevation: f64) -> Result<Vec<Camera>> {
    ring_cameras(RING, size, elevation)
}

/// Quarter turns about z from each ring camera's frame back to camera 0's. Camera `k` looks
/// from azimuth `90 k`, i.e. camera 0 turned by `-90 k` degrees; it sees the shape turned by
/// `+90 k` as camera 0 would, so its volume is turned back by `-k` quarter turns.
pub fn ring_turns() -> Vec<usize> {
    (0..RING).map(|k| (RING - k) % RING).collect()
}

/// One rendered view in the network's terms: depth towards the camera from the centre of the
/// framed sphere (1 at its near side), normals in the picture's frame (x right, y up, z
/// towards the camera).
pub fn view_map(mesh: &TriMesh, camera: &Camera) -> Result<ViewMap> {
    let maps = crate::shape_data::render_mesh(mesh, camera)?;
    let r = camera.rotation();
    let normal = maps
        .normal
        .iter()
        .map(|n| {
            // Camera axes (columns of r): x right, y down, z forward.
            let c: [f32; 3] =
                std::array::from_fn(|k| (0..3).map(|i| r[i][k] as f32 * n[i]).sum::<f32>());
            [c[0], -c[1], -c[2]]
        })
        .collect();
    let depth = maps
        .depth
        .iter()
        .zip(&maps.mask)
        .map(|(&d, &m)| if m { (CAMERA_DISTANCE - d) / FRAMED_RADIUS } else { 0.0 })
        .collect();
    Ok(ViewMap { size: maps.width, mask: maps.mask, depth, normal })
}

/// What a view's input says of each voxel centre of the unit cube's `n^3` grid: 0 where the
/// voxel is seen to be empty (it projects outside the silhouette, or, with depth, lies more
/// than a voxel in front of the visible surface), 1 where it may be occupied. Exact
/// projection of voxel centres through the view's camera.
pub fn lift(input: &[f32], kind: InputKind, size: usize, camera: &Camera, n: usize) -> Vec<u8> {
    let pixels = size * size;
    let seen = |i: usize| match kind {
        InputKind::Depth | InputKind::Silhouette => input[i] > 0.5,
        InputKind::Shaded => input[i] > 0.0,
    };
    let voxel = 1.0 / n as f64;
    let centre = |i: usize| -0.5 + (i as f64 + 0.5) * voxel;
    let mut out = vec![0u8; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let p = [centre(x), centre(y), centre(z)];
                let Some((u, v)) = camera.pixel(p) else { continue };
                let i = v * size + u;
                if !seen(i) {
                    continue;
                }
                if kind == InputKind::Depth && input.len() == 2 * pixels {
                    let surface = f64::from(CAMERA_DISTANCE - FRAMED_RADIUS * input[pixels + i]);
                    let Some([_, _, depth]) = camera.project(p) else { continue };
                    if depth < surface - voxel {
                        continue;
                    }
                }
                out[(z * n + y) * n + x] = 1;
            }
        }
    }
    out
}

/// A shape of the family: its views from the ring, what each says of the grid (when `lifted`
/// names the input kind), its occupancy, and its mesh.
pub fn example(
    class: ShapeClass,
    seed: u64,
    cameras: &[Camera],
    resolution: usize,
    lifted: Option<InputKind>,
) -> Result<(ShapeExample, TriMesh)> {
    let shape = class.sample(seed);
    let mesh = shape.mesh(MESH_VOXEL)?;
    let views: Vec<ViewMap> = cameras.iter().map(|c| view_map(&mesh, c)).collect::<Result<_>>()?;
    let lifted = match lifted {
        Some(kind) => views
            .iter()
            .zip(cameras)
            .map(|(v, c)| lift(&input_of(v, kind), kind, v.size, c, resolution))
            .collect(),
        None => Vec::new(),
    };
    let occ = occupancy(&shape, resolution)?;
    Ok((ShapeExample { views, lifted, occupancy: occ.as_slice().to_vec() }, mesh))
}

/// Renders `shapes` in parallel into a set (meshes dropped).
pub fn make_set(
    shapes: &[(ShapeClass, u64)],
    cameras: &[Camera],
    resolution: usize,
    lifted: Option<InputKind>,
) -> Result<ShapeSet> {
    let examples = shapes
        .par_iter()
        .map(|&(c, s)| Ok(example(c, s, cameras, resolution, lifted)?.0))
        .collect::<Result<Vec<_>>>()?;
    Ok(ShapeSet { examples, turns: ring_turns(), resolution })
}

/// Training shapes: seeds `0..n` of each trained class.
pub fn training_shapes(per_class: usize) -> Vec<(ShapeClass, u64)> {
    ShapeClass::TRAINED.iter().flat_map(|&c| (0..per_class as u64).map(move |s| (c, s))).collect()
}

/// `count` shapes spread over the trained classes with seeds from `base`.
pub fn spread_shapes(count: usize, base: u64) -> Vec<(ShapeClass, u64)> {
    let n = ShapeClass::TRAINED.len();
    (0..count).map(|k| (ShapeClass::TRAINED[k % n], base + (k / n) as u64)).collect()
}

/// What `shape train` did.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    /// The model file.
    pub output: PathBuf,
    /// Training shapes.
    pub train_shapes: usize,
    /// Seconds spent making the data (rendering, occupancy).
    pub data_seconds: f64,
    /// The run.
    pub report: hounsfield_nn::shape::ShapeTrainReport,
}

impl std::fmt::Display for TrainSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "trained {} steps in {:.0} s on {} shapes (data made in {:.0} s); final loss {:.4}",
            self.report.steps,
            self.report.seconds,
            self.train_shapes,
            self.data_seconds,
            self.report.final_loss
        )?;
        if let Some(d) = self.report.final_discriminator_loss {
            writeln!(
                f,
                "discriminator hinge loss {d:.3} (near 2: it cannot tell made shapes from \
                 training shapes; 0: it tells every one apart by its margin)"
            )?;
        }
        if let Some(v) = self.report.validation.last() {
            let ious: Vec<String> =
                v.iou.iter().map(|(n, iou)| format!("{n} view(s) {iou:.3}")).collect();
            writeln!(f, "validation IoU: {}", ious.join(", "))?;
        }
        writeln!(f, "model: {}", self.output.display())
    }
}

/// Trains the configuration at `path` (resuming from its output with `resume`).
pub fn train(path: &Path, resume: bool, progress: impl FnMut(&ShapeEvent)) -> Result<TrainSummary> {
    let cfg = ShapeConfig::read(path)?;
    let start = std::time::Instant::now();
    let cams = cameras(cfg.data.size, cfg.data.elevation)?;
    let net = cfg.net();
    let r = net.output_size();
    let lifted = net.lifted.then_some(cfg.data.input);
    let train_set = make_set(&training_shapes(cfg.data.train_per_class), &cams, r, lifted)?;
    let validation =
        make_set(&spread_shapes(cfg.data.validation, VALIDATION_SEED_BASE), &cams, r, lifted)?;
    let data_seconds = start.elapsed().as_secs_f64();
    let info = ShapeModelInfo {
        net,
        input: cfg.data.input,
        trained_steps: 0,
        context: serde_json::to_string(&cfg.data)?,
    };
    if let Some(dir) = cfg.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    hounsfield_core::fs::check_writable(&cfg.output)?;
    if resume && !cfg.output.is_file() {
        bail!("--resume: nothing to resume, {} does not exist", cfg.output.display());
    }
    let mut trainer = if resume {
        ShapeTrainer::resume(&info, cfg.train.clone(), &cfg.output)?
    } else {
        ShapeTrainer::new(info, cfg.train.clone())?
    };
    let report = trainer.fit(&train_set, &validation, Some(&cfg.output), progress)?;
    Ok(TrainSummary {
        output: cfg.output,
        train_shapes: train_set.examples.len(),
        data_seconds,
        report,
    })
}

/// The data description saved in a model.
pub fn model_data(model: &ShapeModel, path: &Path) -> Result<DataConfig> {
    serde_json::from_str(&model.info.context).with_context(|| {
        format!("{}: the model's data description is not a shape family's", path.display())
    })
}

/// An occupancy (or probability) grid as a volume on the unit cube, padded by a voxel of 0 on
/// every side so its surface closes.
fn padded_grid(values: &[f32], n: usize) -> Result<Volume<f32>> {
    let m = n + 2;
    let voxel = 1.0 / n as f64;
    let first = -0.5 + voxel / 2.0 - voxel;
    let mut out = vec![0f32; m * m * m];
    for z in 0..n {
        for y in 0..n {
            let row = (z * n + y) * n;
            let at = ((z + 1) * m + y + 1) * m + 1;
            out[at..at + n].copy_from_slice(&values[row..row + n]);
        }
    }
    Ok(Volume::from_vec([m; 3], out, Geometry::axis_aligned([voxel; 3], [first; 3])?)?)
}

/// The surface at 0.5 of an occupancy or probability grid (closed; empty if nothing is in).
pub fn grid_mesh(values: &[f32], n: usize) -> Result<TriMesh> {
    Ok(isosurface(&padded_grid(values, n)?, 0.5, &IsoOptions::default())?)
}

/// How a predicted surface agrees with the true one.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceScores {
    /// Chamfer-L1 over the reference's largest side.
    pub chamfer: f64,
    /// F-score at 1% of that side.
    pub fscore: f64,
    /// Normal consistency (mean |cos| of the normals at closest points, both ways).
    pub normal_consistency: f64,
}

/// Chamfer-L1 (normalised by the reference's largest side), F-score at 1% of that side and
/// normal consistency of `test` against `reference`, from 3000 points sampled on each surface
/// (Tatarchenko et al.; OccNet); `None` when `test` has no surface. Neither surface needs to be
/// closed.
pub fn surface_scores(reference: &TriMesh, test: &TriMesh) -> Result<Option<SurfaceScores>> {
    // A surface of no (or only degenerate) triangles has no point to measure from.
    let area = test.area();
    if test.triangles.is_empty() || area.is_nan() || area <= 0.0 {
        return Ok(None);
    }
    let s = compare_surfaces(reference, test, 3000, 0.01, 1)?;
    let scores = SurfaceScores {
        chamfer: s.chamfer_normalised,
        fscore: s.fscore,
        normal_consistency: s.normal_consistency,
    };
    Ok(scores.chamfer.is_finite().then_some(scores))
}

/// One input picture of a view as the model sees it (no augmentation).
pub fn input_of(view: &ViewMap, kind: InputKind) -> Vec<f32> {
    encode_view(view, kind, &ViewAugment::none(), &mut SplitMix64::new(0))
}

/// The occupancy `n^3` (`(z, y, x)`) turned by `quarters` x 90 degrees about z, as
/// `hounsfield_nn::shape::turn_z` turns tensors: the value at `(x, y)` moves to `(-y, x)`.
pub fn turn_occupancy(occ: &[u8], n: usize, quarters: usize) -> Vec<u8> {
    let mut out = vec![0u8; occ.len()];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let (sy, sx) = match quarters % 4 {
                    0 => (y, x),
                    1 => (n - 1 - x, y),
                    2 => (n - 1 - y, n - 1 - x),
                    _ => (x, n - 1 - y),
                };
                out[(z * n + y) * n + x] = occ[(z * n + sy) * n + sx];
            }
        }
    }
    out
}

/// What `shape eval` measures on.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Held-out shapes of the trained classes.
    pub test: usize,
    /// Held-out shapes of the held-out class.
    pub test_held_out_class: usize,
    /// Retrieval set per class (default: the model's training set).
    pub retrieval_per_class: Option<usize>,
}

/// Mean scores of one method on one group.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MethodScores {
    /// Mean IoU at 0.5 on the occupancy grid.
    pub iou: f64,
    /// Mean Chamfer-L1 over the largest side of the true shape's box, over the shapes the
    /// method gave a surface for (`None` when it gave none).
    pub chamfer: Option<f64>,
    /// Mean F-score at 1% of that side (0 for an empty output).
    pub fscore: f64,
    /// Mean normal consistency over the shapes with a surface (`None` when none had one).
    pub normal_consistency: Option<f64>,
    /// Outputs with no surface at all.
    pub empty: usize,
}

/// One row of the table.
#[derive(Clone, Debug, Serialize)]
pub struct EvalRow {
    /// A class, `all trained classes` or the held-out class.
    pub group: String,
    /// Views given (ring cameras 0, 1, 2...).
    pub views: usize,
    /// Shapes scored.
    pub shapes: usize,
    /// The network.
    pub network: MethodScores,
    /// Silhouette extrusion (one view) or the visual hull of the views.
    pub hull: MethodScores,
    /// The training shape (in any of its four ring poses) whose inputs are nearest.
    pub retrieval: MethodScores,
}

/// What `shape eval` measured.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    /// The model file.
    pub model: PathBuf,
    /// Its input.
    pub input: InputKind,
    /// Its training steps.
    pub trained_steps: usize,
    /// Shapes in the retrieval set (each in four poses).
    pub retrieval_shapes: usize,
    /// Occupancy side.
    pub resolution: usize,
    /// The table.
    pub rows: Vec<EvalRow>,
    /// A variational model's samples against the held-out shapes of the trained classes.
    pub generation: Option<GenerationScores>,
    /// Seconds in all.
    pub seconds: f64,
}

/// Coverage and MMD of a VAE's samples (`z ~ N(0, I)`), and of as many training shapes (what a
/// generator that reproduced its training set would score), against the held-out shapes.
#[derive(Clone, Debug, Serialize)]
pub struct GenerationScores {
    /// The samples.
    pub samples: crate::shape_generate::SetScores,
    /// Training shapes, spread over the classes.
    pub training_shapes: crate::shape_generate::SetScores,
    /// Points sampled per surface for the Chamfer distances.
    pub points: usize,
}

impl std::fmt::Display for EvalReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{} ({} input, {} steps): {}^3, retrieval among {} training shapes x 4 poses ({:.0} s)",
            self.model.display(),
            format!("{:?}", self.input).to_lowercase(),
            self.trained_steps,
            self.resolution,
            self.retrieval_shapes,
            self.seconds
        )?;
        writeln!(
            f,
            "  {:<28} {:>5} {:>6}   {:>27}   {:>27}   {:>27}",
            "held out",
            "views",
            "shapes",
            "network IoU/CD/F/NC",
            "hull IoU/CD/F/NC",
            "retrieval IoU/CD/F/NC"
        )?;
        for r in &self.rows {
            let m = |s: &MethodScores| {
                let cd = s.chamfer.map_or_else(|| "  -   ".to_owned(), |c| format!("{c:.4}"));
                let nc =
                    s.normal_consistency.map_or_else(|| "  - ".to_owned(), |c| format!("{c:.3}"));
                let empty =
                    if s.empty > 0 { format!(" ({} empty)", s.empty) } else { String::new() };
                format!("{:.3} {cd} {:.3} {nc}{empty}", s.iou, s.fscore)
            };
            writeln!(
                f,
                "  {:<28} {:>5} {:>6}   {:>27}   {:>27}   {:>27}",
                r.group,
                r.views,
                r.shapes,
                m(&r.network),
                m(&r.hull),
                m(&r.retrieval)
            )?;
        }
        if let Some(g) = &self.generation {
            writeln!(
                f,
                "  generation against {} held-out shapes (Chamfer-L1 of {}-point clouds, unit \
                 cube; higher coverage and lower MMD-CD are better):",
                g.samples.references, g.points
            )?;
            let sets = [
                ("samples, z ~ N(0, I)", &g.samples),
                ("training shapes (yardstick)", &g.training_shapes),
            ];
            for (name, s) in sets {
                let mmd = if s.mmd.is_finite() { format!("{:.4}", s.mmd) } else { "-".into() };
                writeln!(
                    f,
                    "  {name:<28} {:>5} shapes ({} without a surface): coverage {:.3}, MMD-CD {mmd}",
                    s.generated, s.empty, s.coverage
                )?;
            }
        }
        Ok(())
    }
}

/// The voxels the first `views` lifted volumes all leave unknown (1), as the network takes
/// them; `None` without lifted volumes.
fn carve(lifted: &[Vec<u8>], views: usize) -> Option<Vec<f32>> {
    let first = lifted.first()?;
    Some(
        (0..first.len())
            .map(|i| f32::from(u8::from(lifted[..views].iter().all(|l| l[i] != 0))))
            .collect(),
    )
}

/// Per shape and view count: IoU, and Chamfer/F-score when there is a surface, per method.
type ShapeScores = [(f64, Option<SurfaceScores>); 3];

fn score(
    occ_pred: &[f32],
    truth: &[u8],
    n: usize,
    mesh: &TriMesh,
) -> Result<(f64, Option<SurfaceScores>)> {
    let iou = hounsfield_nn::shape::iou(occ_pred.iter().map(|&p| p > 0.5), truth);
    Ok((iou, surface_scores(mesh, &grid_mesh(occ_pred, n)?)?))
}

/// Scores a model on the held-out set with the baselines from the same views.
pub fn evaluate(path: &Path, options: &EvalOptions) -> Result<EvalReport> {
    let start = std::time::Instant::now();
    let (model, _, _) = ShapeModel::load(path)?;
    let data = model_data(&model, path)?;
    let n = model.info.net.output_size();
    let kind = model.info.input;
    let cams = cameras(data.size, data.elevation)?;
    let turns = ring_turns();
    let view_counts: Vec<usize> = [1, 3].into_iter().filter(|&v| v <= RING).collect();
    // The retrieval set: every training shape in each of its four ring poses.
    let per_class = options.retrieval_per_class.unwrap_or(data.train_per_class);
    let lifted = model.info.net.lifted.then_some(kind);
    let train = make_set(&training_shapes(per_class), &cams, n, None)?;
    let train_inputs: Vec<Vec<Vec<f32>>> = train
        .examples
        .iter()
        .map(|e| e.views.iter().map(|v| input_of(v, kind)).collect())
        .collect();
    let nearest = |query: &[Vec<f32>]| -> Option<(usize, usize)> {
        let v = query.len();
        let mut best: Option<(f64, usize, usize)> = None;
        for (t, views) in train_inputs.iter().enumerate() {
            for k in 0..RING {
                let mut d = 0.0f64;
                for (j, q) in query.iter().enumerate() {
                    let c = &views[(k + j) % RING];
                    d += q.iter().zip(c).map(|(a, b)| f64::from((a - b) * (a - b))).sum::<f64>();
                }
                if best.is_none_or(|b| d < b.0) {
                    best = Some((d, t, k));
                }
            }
        }
        let _ = v;
        best.map(|(_, t, k)| (t, k))
    };
    let mut shapes = spread_shapes(options.test, TEST_SEED_BASE);
    shapes.extend(
        (0..options.test_held_out_class)
            .map(|k| (ShapeClass::HELD_OUT[0], TEST_SEED_BASE + k as u64)),
    );
    let variational = model.info.net.variational;
    let held_out = ShapeClass::HELD_OUT[0];
    let scored: Vec<(ShapeClass, Vec<ShapeScores>, Option<TriMesh>)> = shapes
        .par_iter()
        .map(|&(class, seed)| {
            let (ex, mesh) = example(class, seed, &cams, n, lifted)?;
            let inputs: Vec<Vec<f32>> = ex.views.iter().map(|v| input_of(v, kind)).collect();
            let mut per_views = Vec::new();
            for &v in &view_counts {
                let carved = carve(&ex.lifted, v);
                let prob = model.probabilities(&inputs[..v], &turns[..v], carved.as_deref())?;
                let net = score(&prob, &ex.occupancy, n, &mesh)?;
                let silhouettes = ex.views[..v]
                    .iter()
                    .map(|m| {
                        Ok(hounsfield_surface::silhouette::Silhouette::new(
                            m.size,
                            m.size,
                            m.mask.clone(),
                        )?)
                    })
                    .collect::<Result<Vec<_>>>()?;
                let hull = crate::shape_data::hull_occupancy(&cams[..v], &silhouettes, n)?;
                let hull: Vec<f32> = hull.as_slice().iter().map(|&h| f32::from(h)).collect();
                let hull = score(&hull, &ex.occupancy, n, &mesh)?;
                let Some((t, k)) = nearest(&inputs[..v]) else { bail!("an empty retrieval set") };
                let found = turn_occupancy(&train.examples[t].occupancy, n, k);
                let found: Vec<f32> = found.iter().map(|&o| f32::from(o)).collect();
                let retrieval = score(&found, &ex.occupancy, n, &mesh)?;
                per_views.push([net, hull, retrieval]);
            }
            // A VAE's samples are compared with the trained classes' true surfaces.
            Ok((class, per_views, (variational && class != held_out).then_some(mesh)))
        })
        .collect::<Result<_>>()?;
    let mean = |rows: &[&ShapeScores], m: usize| -> MethodScores {
        let with: Vec<SurfaceScores> = rows.iter().filter_map(|r| r[m].1).collect();
        let mean_of = |f: fn(&SurfaceScores) -> f64| {
            (!with.is_empty()).then(|| with.iter().map(f).sum::<f64>() / with.len() as f64)
        };
        MethodScores {
            iou: rows.iter().map(|r| r[m].0).sum::<f64>() / rows.len() as f64,
            chamfer: mean_of(|c| c.chamfer),
            normal_consistency: mean_of(|c| c.normal_consistency),
            // A fold from +0: an empty float sum is -0, printed as -0.000.
            fscore: with.iter().fold(0.0, |a, c| a + c.fscore) / rows.len() as f64,
            empty: rows.len() - with.len(),
        }
    };
    // (name, the one class, or None for every trained class)
    let mut groups: Vec<(String, Option<ShapeClass>)> =
        ShapeClass::TRAINED.iter().map(|&c| (c.name().to_owned(), Some(c))).collect();
    groups.push(("all trained classes".into(), None));
    groups.push((format!("{} (held-out class)", held_out.name()), Some(held_out)));
    let mut rows = Vec::new();
    for (vi, &v) in view_counts.iter().enumerate() {
        for (name, class) in &groups {
            let pick = |c: ShapeClass| class.map_or(c != held_out, |g| g == c);
            let sel: Vec<&ShapeScores> =
                scored.iter().filter(|(c, ..)| pick(*c)).map(|(_, s, _)| &s[vi]).collect();
            if sel.is_empty() {
                continue;
            }
            rows.push(EvalRow {
                group: name.clone(),
                views: v,
                shapes: sel.len(),
                network: mean(&sel, 0),
                hull: mean(&sel, 1),
                retrieval: mean(&sel, 2),
            });
        }
    }
    let generation = if variational {
        let references: Vec<TriMesh> = scored.into_iter().filter_map(|(.., m)| m).collect();
        Some(generation_scores(&model, references, data.train_per_class)?)
    } else {
        None
    };
    Ok(EvalReport {
        model: path.to_path_buf(),
        input: kind,
        trained_steps: model.info.trained_steps,
        retrieval_shapes: train.examples.len(),
        resolution: n,
        rows,
        generation,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Samples of a variational model, and training shapes, scored against `references`.
fn generation_scores(
    model: &ShapeModel,
    references: Vec<TriMesh>,
    train_per_class: usize,
) -> Result<GenerationScores> {
    use crate::shape_generate::{SET_POINTS, SampledSurface, chamfer_matrix, coverage_mmd};
    let count = references.len();
    let n = model.info.net.output_size();
    let sampled = |meshes: Vec<TriMesh>, seed: u64| -> Result<(Vec<SampledSurface>, usize)> {
        let all = meshes
            .par_iter()
            .enumerate()
            .map(|(k, m)| SampledSurface::new(m, SET_POINTS, seed + k as u64))
            .collect::<Result<Vec<_>>>()?;
        let empty = all.iter().filter(|s| s.is_none()).count();
        Ok((all.into_iter().flatten().collect(), empty))
    };
    let (refs, _) = sampled(references, 1 << 20)?;
    let z = crate::shape_generate::latents(count, model.info.net.latent, GENERATION_SEED, false);
    let samples = crate::shape_generate::decode(model, &z)?
        .par_iter()
        .map(|p| grid_mesh(p, n))
        .collect::<Result<Vec<_>>>()?;
    let (samples, empty) = sampled(samples, 2 << 20)?;
    let score = |set: &[SampledSurface], empty: usize| {
        coverage_mmd(&chamfer_matrix(set, &refs), refs.len(), empty)
    };
    let samples = score(&samples, empty);
    // Spread over the classes, seeds cycling within the training seeds.
    let training = spread_shapes(count, 0)
        .par_iter()
        .map(|&(class, seed)| {
            Ok(class.sample(seed % train_per_class.max(1) as u64).mesh(MESH_VOXEL)?)
        })
        .collect::<Result<Vec<_>>>()?;
    let (training, empty) = sampled(training, 3 << 20)?;
    let training_shapes = score(&training, empty);
    Ok(GenerationScores { samples, training_shapes, points: SET_POINTS })
}

/// Largest 16-bit depth code: depth `d` in [-1, 1] is stored as `1 + (d + 1) / 2 * 65534`.
const DEPTH_CODES: f32 = 65534.0;

/// A view's depth as a 16-bit picture: 0 = background, else `1 + (d + 1) / 2 * 65534` for
/// the network's depth `d` (-1 at the far side of the framed sphere, +1 at its near side).
pub fn depth_codes(view: &ViewMap) -> Vec<u16> {
    view.depth
        .iter()
        .zip(&view.mask)
        .map(|(&d, &m)| {
            if m { 1 + ((d.clamp(-1.0, 1.0) + 1.0) / 2.0 * DEPTH_CODES).round() as u16 } else { 0 }
        })
        .collect()
}

/// What `shape views` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ViewsSummary {
    /// The shape's class and seed.
    pub class: String,
    /// Its seed.
    pub seed: u64,
    /// Files written, in ring order per kind.
    pub files: Vec<PathBuf>,
}

impl std::fmt::Display for ViewsSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{} seed {}: {} files", self.class, self.seed, self.files.len())?;
        for file in &self.files {
            writeln!(f, "  {}", file.display())?;
        }
        Ok(())
    }
}

/// Writes one family shape's four ring views as the networks see them (`view{k}_shaded.png`
/// under a headlight, `view{k}_depth.png` 16-bit, `view{k}_mask.png`), its mesh
/// (`shape.ply`) and its occupancy (`occupancy.nii.gz`, 1 = inside).
pub fn write_views(
    class: &str,
    seed: u64,
    dir: &Path,
    size: usize,
    elevation: f64,
    resolution: usize,
) -> Result<ViewsSummary> {
    let Some(shape_class) = ShapeClass::from_name(class) else {
        let names: Vec<&str> =
            ShapeClass::TRAINED.iter().chain(&ShapeClass::HELD_OUT).map(|c| c.name()).collect();
        bail!("no shape class {class:?}; the family has {}", names.join(", "));
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let cams = cameras(size, elevation)?;
    let (ex, mesh) = example(shape_class, seed, &cams, resolution, None)?;
    let mut files = Vec::new();
    for (k, view) in ex.views.iter().enumerate() {
        let grey = input_of(view, InputKind::Shaded);
        let shaded = hounsfield_render::RgbImage {
            width: size,
            height: size,
            pixels: grey
                .iter()
                .map(|&g| [(g * 255.0).round().clamp(0.0, 255.0) as u8; 3])
                .collect(),
        };
        let path = dir.join(format!("view{k}_shaded.png"));
        shaded.write_png(&path)?;
        files.push(path);
        let path = dir.join(format!("view{k}_depth.png"));
        hounsfield_render::write_grey16_png(&path, size, size, &depth_codes(view))?;
        files.push(path);
        let mask = hounsfield_render::RgbImage {
            width: size,
            height: size,
            pixels: view.mask.iter().map(|&m| [if m { 255 } else { 0 }; 3]).collect(),
        };
        let path = dir.join(format!("view{k}_mask.png"));
        mask.write_png(&path)?;
        files.push(path);
    }
    let path = dir.join("shape.ply");
    hounsfield_mesh::io::write_mesh(&path, &mesh)?;
    files.push(path);
    let occ =
        padded_grid(&ex.occupancy.iter().map(|&o| f32::from(o)).collect::<Vec<_>>(), resolution)?;
    let path = dir.join("occupancy.nii.gz");
    let inner = crop_padding(&occ, resolution)?;
    hounsfield_io::nifti::write_nifti(
        &path,
        &hounsfield_io::nifti::NiftiImage::from_volume(inner),
    )?;
    files.push(path);
    Ok(ViewsSummary { class: shape_class.name().to_owned(), seed, files })
}

/// The unpadded `n^3` grid of [`padded_grid`]'s output, as u8 (0/1 at 0.5).
fn crop_padding(padded: &Volume<f32>, n: usize) -> Result<Volume<u8>> {
    let m = n + 2;
    let mut out = Vec::with_capacity(n * n * n);
    let v = padded.as_slice();
    for z in 0..n {
        for y in 0..n {
            let at = ((z + 1) * m + y + 1) * m + 1;
            out.extend(v[at..at + n].iter().map(|&p| u8::from(p >= 0.5)));
        }
    }
    let voxel = 1.0 / n as f64;
    let first = -0.5 + voxel / 2.0;
    Ok(Volume::from_vec([n; 3], out, Geometry::axis_aligned([voxel; 3], [first; 3])?)?)
}

/// Reads one view picture for a model with `kind` input and side `size`: shaded and
/// silhouette models take 8-bit PNGs (black background; silhouettes thresholded at half),
/// depth models the 16-bit depth pictures of [`depth_codes`].
pub fn read_view(path: &Path, kind: InputKind, size: usize) -> Result<Vec<f32>> {
    if !path.is_file() {
        bail!("{}: no such picture", path.display());
    }
    let deep = hounsfield_render::read_grey16_png(path);
    let (w, h, values): (usize, usize, Vec<f32>) = match kind {
        InputKind::Depth => {
            let (w, h, codes) = deep.map_err(|e| {
                anyhow::anyhow!(
                    "{}: a depth model takes 16-bit grey depth pictures as `shape views` writes them ({e})",
                    path.display()
                )
            })?;
            let mask = codes.iter().map(|&c| f32::from(u8::from(c > 0)));
            let depth = codes.iter().map(|&c| {
                if c == 0 { 0.0 } else { (f32::from(c) - 1.0) / DEPTH_CODES * 2.0 - 1.0 }
            });
            (w, h, mask.chain(depth).collect())
        }
        InputKind::Shaded | InputKind::Silhouette => {
            if deep.is_ok() {
                bail!(
                    "{}: a 16-bit grey picture (a depth map?); a {} model takes an 8-bit picture",
                    path.display(),
                    if kind == InputKind::Shaded { "shaded" } else { "silhouette" }
                );
            }
            let img = hounsfield_render::read_png(path)?;
            let grey: Vec<f32> = img
                .pixels
                .iter()
                .map(|p| {
                    (0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
                        / 255.0
                })
                .collect();
            if kind == InputKind::Silhouette {
                // A mask is black and white; grey levels mean a shaded picture or a depth map.
                if let Some(g) = grey.iter().find(|&&g| g > 0.02 && g < 0.98) {
                    bail!(
                        "{}: grey level {:.0} of 255; a silhouette model takes a black and white mask",
                        path.display(),
                        g * 255.0
                    );
                }
                (
                    img.width,
                    img.height,
                    grey.iter().map(|&g| f32::from(u8::from(g >= 0.5))).collect(),
                )
            } else {
                (img.width, img.height, grey)
            }
        }
    };
    if w != size || h != size {
        bail!("{}: {w} x {h} pixels; the model takes {size} x {size}", path.display());
    }
    Ok(values)
}

/// What `shape predict` made.
#[derive(Clone, Debug, Serialize)]
pub struct PredictSummary {
    /// The occupancy probabilities written.
    pub output: PathBuf,
    /// The mesh, if asked for.
    pub mesh: Option<PathBuf>,
    /// Views used, with the ring camera each came from.
    pub views: Vec<(PathBuf, usize)>,
    /// Occupied voxels (probability >= 0.5) and the grid side.
    pub occupied: usize,
    /// Grid side.
    pub resolution: usize,
    /// The cameras the model assumes the pictures came from: the ring at this elevation.
    pub elevation: f64,
    /// IoU against a reference occupancy, when one is given.
    pub iou: Option<f64>,
}

impl std::fmt::Display for PredictSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} view(s) from the ring at {} degrees elevation -> {} ({} of {}^3 voxels occupied)",
            self.views.len(),
            self.elevation,
            self.output.display(),
            self.occupied,
            self.resolution
        )?;
        if let Some(m) = &self.mesh {
            write!(f, ", mesh {}", m.display())?;
        }
        if let Some(iou) = self.iou {
            write!(f, "; IoU {iou:.3} against the reference")?;
        }
        writeln!(f)
    }
}

/// Predicts occupancy from view pictures taken by ring cameras `cameras_of` (0-3; default
/// 0, 1, 2... in order); writes probabilities as NIfTI on the unit cube, optionally a mesh,
/// and scores against a reference occupancy.
pub fn predict(
    model_path: &Path,
    views: &[PathBuf],
    ring: Option<&[usize]>,
    output: &Path,
    mesh: Option<&Path>,
    reference: Option<&Path>,
) -> Result<PredictSummary> {
    let (model, _, _) = ShapeModel::load(model_path)?;
    let data = model_data(&model, model_path)?;
    if views.is_empty() || views.len() > RING {
        bail!("give 1 to {RING} view pictures, not {}", views.len());
    }
    let ring: Vec<usize> = ring.map_or_else(|| (0..views.len()).collect(), <[usize]>::to_vec);
    if ring.len() != views.len() {
        bail!("--cameras gives {} camera(s) for {} view(s)", ring.len(), views.len());
    }
    if let Some(k) = ring.iter().find(|&&k| k >= RING) {
        bail!("--cameras {k}: the ring cameras are 0-{}", RING - 1);
    }
    // Everything that can be checked before predicting is: no output is left half made.
    let n = model.info.net.output_size();
    let same_file = |a: &Path, b: &Path| {
        a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
    };
    let truth = match reference {
        Some(path) => {
            if same_file(path, output) || mesh.is_some_and(|m| same_file(path, m)) {
                bail!(
                    "{}: the reference is also an output; it would be overwritten",
                    path.display()
                );
            }
            let r = hounsfield_io::nifti::read_nifti(path)?
                .into_scaled_f32(0)
                .with_context(|| format!("{}: no volume", path.display()))?;
            if r.shape() != [n; 3] {
                bail!("{}: {:?} voxels, the model predicts {n}^3", path.display(), r.shape());
            }
            Some(r.as_slice().iter().map(|&v| u8::from(v >= 0.5)).collect::<Vec<u8>>())
        }
        None => None,
    };
    if let Some(path) = mesh {
        hounsfield_mesh::io::MeshFormat::from_path(path)?;
        if same_file(path, output) {
            bail!("{}: the mesh and the occupancy would be the same file", path.display());
        }
    }
    for path in std::iter::once(output).chain(mesh) {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.is_dir() {
            bail!("{}: the folder {} does not exist", path.display(), parent.display());
        }
    }
    let mut seen = ring.clone();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        bail!("--cameras names a camera twice: {ring:?}");
    }
    let size = model.info.net.image_size;
    let inputs =
        views.iter().map(|p| read_view(p, model.info.input, size)).collect::<Result<Vec<_>>>()?;
    let turns_all = ring_turns();
    let turns: Vec<usize> = ring.iter().map(|&k| turns_all[k]).collect();
    let carved = if model.info.net.lifted {
        let cams = cameras(size, data.elevation)?;
        let lifted: Vec<Vec<u8>> = inputs
            .iter()
            .zip(&ring)
            .map(|(input, &k)| lift(input, model.info.input, size, &cams[k], n))
            .collect();
        carve(&lifted, lifted.len())
    } else {
        None
    };
    let prob = model.probabilities(&inputs, &turns, carved.as_deref())?;
    let voxel = 1.0 / n as f64;
    let geometry = Geometry::axis_aligned([voxel; 3], [-0.5 + voxel / 2.0; 3])?;
    let surface = match mesh {
        Some(path) => {
            let m = grid_mesh(&prob, n)?;
            if m.triangles.is_empty() {
                bail!(
                    "the prediction holds no voxel at 0.5: no mesh to write to {}",
                    path.display()
                );
            }
            Some((path, m))
        }
        None => None,
    };
    let volume = Volume::from_vec([n; 3], prob.clone(), geometry)?;
    hounsfield_io::nifti::write_nifti(
        output,
        &hounsfield_io::nifti::NiftiImage::from_volume(volume),
    )?;
    if let Some((path, m)) = surface {
        hounsfield_mesh::io::write_mesh(path, &m)?;
    }
    let iou = truth.map(|t| hounsfield_nn::shape::iou(prob.iter().map(|&p| p >= 0.5), &t));
    Ok(PredictSummary {
        output: output.to_path_buf(),
        mesh: mesh.map(Path::to_path_buf),
        views: views.iter().cloned().zip(ring).collect(),
        occupied: prob.iter().filter(|&&p| p >= 0.5).count(),
        resolution: n,
        elevation: data.elevation,
        iou,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use candle_core::{Device, Tensor};
    use hounsfield_mesh::Shape;

    use super::*;

    /// `shape` turned by +90 degrees about z (x towards y).
    fn turned(shape: Shape) -> Shape {
        Shape::Transformed {
            shape: Box::new(shape),
            rotation: [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            scale: 1.0,
            translation: [0.0; 3],
        }
    }

    #[test]
    fn camera_one_sees_what_camera_zero_sees_of_the_shape_turned_a_quarter() {
        // The convention the fusion rests on: ring camera k sees the shape turned by +90 k
        // degrees as camera 0 sees it, so its volume goes back by ring_turns()[k] quarters.
        let cams = cameras(48, 20.0).unwrap();
        let shape = ShapeClass::Chair.sample(3);
        let rotated = turned(shape.clone());
        let (m0, m1) = (shape.mesh(MESH_VOXEL).unwrap(), rotated.mesh(MESH_VOXEL).unwrap());
        let a = view_map(&m0, &cams[1]).unwrap();
        let b = view_map(&m1, &cams[0]).unwrap();
        // Pixel masks of two meshings of the same solid: measured 0 to a few differing
        // pixels on the outline; tolerance 1% of the covered pixels.
        let covered = a.mask.iter().filter(|&&m| m).count();
        let differ = a.mask.iter().zip(&b.mask).filter(|(x, y)| x != y).count();
        assert!(covered > 100 && differ * 100 <= covered, "{differ} of {covered}");
        // Depth agrees where both see the shape (1/64 meshes: within 0.05 of the radius).
        let both: Vec<usize> = (0..a.mask.len()).filter(|&i| a.mask[i] && b.mask[i]).collect();
        let close = both.iter().filter(|&&i| (a.depth[i] - b.depth[i]).abs() < 0.05).count();
        assert!(close * 100 >= both.len() * 97, "{close} of {}", both.len());
        // The occupancy of the turned shape is the occupancy turned by one quarter, and
        // ring_turns() turns camera 1's frame back by three.
        let n = 16;
        let occ = occupancy(&shape, n).unwrap().as_slice().to_vec();
        let occ_turned = occupancy(&rotated, n).unwrap().as_slice().to_vec();
        let mismatch =
            turn_occupancy(&occ, n, 1).iter().zip(&occ_turned).filter(|(x, y)| x != y).count();
        assert!(mismatch <= 2, "{mismatch} voxels differ");
        assert_eq!(turn_occupancy(&occ_turned, n, ring_turns()[1]), turn_occupancy(&occ, n, 0));
        // The network's turn is the same permutation.
        let t = Tensor::from_vec(
            occ.iter().map(|&o| f32::from(o)).collect::<Vec<_>>(),
            (1, 1, n, n, n),
            &Device::Cpu,
        )
        .unwrap();
        for q in 0..4 {
            let by_net: Vec<f32> = hounsfield_nn::shape::turn_z(&t, q)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let by_hand: Vec<f32> =
                turn_occupancy(&occ, n, q).iter().map(|&o| f32::from(o)).collect();
            assert_eq!(by_net, by_hand, "{q} quarters");
        }
    }

    #[test]
    fn lifting_keeps_the_shape_and_depth_carves_more_than_the_silhouette() {
        let cams = cameras(64, 20.0).unwrap();
        for (class, seed) in [(ShapeClass::Mug, 2), (ShapeClass::Chair, 4)] {
            let (depth, _) = example(class, seed, &cams, 32, Some(InputKind::Depth)).unwrap();
            let (sil, _) = example(class, seed, &cams, 32, Some(InputKind::Silhouette)).unwrap();
            let occupied = depth.occupancy.iter().filter(|&&o| o != 0).count();
            for k in 0..RING {
                // Occupied voxels stay unknown but where a thin part falls between pixel
                // centres or its depth edge lies within a voxel of the surface: measured
                // 96.3-99.4% (the chair's legs lose most); tolerance 95%.
                let kept = |l: &[u8]| {
                    l.iter().zip(&depth.occupancy).filter(|&(&l, &o)| l != 0 && o != 0).count()
                };
                let (d, s) = (kept(&depth.lifted[k]), kept(&sil.lifted[k]));
                assert!(d * 100 >= occupied * 95, "{class:?} view {k}: {d} of {occupied}");
                assert!(s * 100 >= occupied * 95, "{class:?} view {k}: {s} of {occupied}");
                // Depth leaves the space in front of the surface out as well.
                let unknown = |l: &[u8]| l.iter().filter(|&&v| v != 0).count();
                assert!(unknown(&depth.lifted[k]) < unknown(&sil.lifted[k]), "{class:?} view {k}");
            }
        }
    }

    #[test]
    fn a_grid_surface_is_closed_and_scores_itself_perfectly() {
        let shape = ShapeClass::Bottle.sample(1);
        let n = 24;
        let occ: Vec<f32> =
            occupancy(&shape, n).unwrap().as_slice().iter().map(|&o| f32::from(o)).collect();
        let mesh = grid_mesh(&occ, n).unwrap();
        assert!(mesh.stats().is_watertight());
        let own = surface_scores(&mesh, &mesh).unwrap().unwrap();
        assert!(own.chamfer < 1e-3 && own.fscore > 0.99, "{own:?}");
        assert!(own.normal_consistency > 0.999, "{own:?}");
        // Against the fine mesh of the shape: within a voxel (1/24 of the cube, 0.046 of the
        // bottle's 0.9 side) on average; measured about 0.01.
        let fine = shape.mesh(MESH_VOXEL).unwrap();
        let coarse = surface_scores(&fine, &mesh).unwrap().unwrap();
        assert!(coarse.chamfer < 0.046, "{coarse:?}");
        // The grid's facets follow the true surface's normals loosely: between OccNet's 0.83
        // for networks and 1.
        assert!((0.85..0.999).contains(&coarse.normal_consistency), "{coarse:?}");
        assert!(
            surface_scores(&fine, &grid_mesh(&vec![0.0; n * n * n], n).unwrap()).unwrap().is_none()
        );
    }
}
