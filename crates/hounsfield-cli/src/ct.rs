//! `hounsfield ct`: phantoms, projections and reconstructions described by a scan file.
//!
//! A scan file (TOML or JSON) holds the image grid and the geometry:
//!
//! ```toml
//! [grid]
//! shape = [1, 256, 256]          # nz, ny, nx (nz = 1 for 2D geometries)
//! spacing = [1.0, 1.0, 1.0]      # mm, x y z
//!
//! [scan]
//! type = "fan2d"                 # parallel2d, fan2d, parallel3d, cone, vector
//! angles = { count = 720, span_degrees = 360 }
//! detector = { cols = 300, col_spacing = 2.0 }
//! source_origin = 500.0
//! source_detector = 1000.0
//! ```
//!
//! Projections are written as NIfTI volumes of `[views, rows, cols]` with the scan file beside
//! them as `<name>.scan.json`, which `reconstruct` finds on its own.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::metrics::{SsimOptions, psnr, ssim};
use hounsfield_core::{LinearOperator, Volume};
use hounsfield_ct::iterative::{Control, Progress};
use hounsfield_ct::{
    Device, FbpOptions, ImageGrid, IterOptions, NoiseOptions, Phantom, Projector, RampWindow,
    ScanGeometry, TvOptions, add_noise, cgls, fbp, fista_tv, mlem, os_sart, sirt,
};
use hounsfield_io::nifti::{self, NiftiImage};
use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};

/// The contents of a scan file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanFile {
    /// Where the image lives.
    pub grid: ImageGrid,
    /// How it is scanned.
    pub scan: ScanGeometry,
}

impl ScanFile {
    /// Reads and validates a `.toml` or `.json` scan file.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read the scan file", path.display()))?;
        let file: ScanFile = if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("json")) {
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not a scan file", path.display()))?
        } else {
            toml::from_str(&text).with_context(|| format!("{}: not a scan file", path.display()))?
        };
        file.grid.validate().with_context(|| format!("{}: grid", path.display()))?;
        file.scan.validate().with_context(|| format!("{}: scan", path.display()))?;
        file.scan.image_shape(&file.grid).with_context(|| format!("{}", path.display()))?;
        Ok(file)
    }
}

/// `<dir>/<stem>.scan.json` for `<dir>/<stem>.nii[.gz]`.
pub fn sidecar(projections: &Path) -> PathBuf {
    let name =
        projections.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    let stem = stem.strip_suffix(".nii").unwrap_or(stem);
    projections.with_file_name(format!("{stem}.scan.json"))
}

/// What a `ct` command did.
#[derive(Debug, Serialize)]
pub struct CtReport {
    /// The file written.
    pub output: PathBuf,
    /// What was computed.
    pub what: String,
    /// Array shape written.
    pub shape: Vec<usize>,
    /// Value range.
    pub min: f64,
    /// Value range.
    pub max: f64,
    /// PSNR against `--reference` (data range of the reference).
    pub psnr_db: Option<f64>,
    /// SSIM against `--reference`.
    pub ssim: Option<f64>,
    /// Seconds of computation.
    pub seconds: f64,
}

impl fmt::Display for CtReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} -> {}", self.what, self.output.display())?;
        writeln!(
            f,
            "  shape {:?}, values {:.4} .. {:.4}, {:.2} s",
            self.shape, self.min, self.max, self.seconds
        )?;
        match (self.psnr_db, self.ssim) {
            (Some(p), Some(s)) => {
                writeln!(f, "  against the reference: PSNR {p:.2} dB, SSIM {s:.4}")?
            }
            (Some(p), None) => writeln!(
                f,
                "  against the reference: PSNR {p:.2} dB (SSIM needs 11 voxels along each axis)"
            )?,
            _ => {}
        }
        Ok(())
    }
}

fn report(output: &Path, what: String, data: &ArrayD<f32>, seconds: f64) -> CtReport {
    let (min, max) = data.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(f64::from(v)), hi.max(f64::from(v)))
    });
    CtReport {
        output: output.to_owned(),
        what,
        shape: data.shape().to_vec(),
        min,
        max,
        psnr_db: None,
        ssim: None,
        seconds,
    }
}

/// A scan in ASTRA's vector form, for `astra.create_proj_geom(geometry_type, ...)`.
#[derive(Debug, Serialize)]
pub struct AstraVectors {
    /// `parallel_vec`, `fanflat_vec`, `parallel3d_vec` or `cone_vec`.
    pub geometry_type: &'static str,
    /// Detector rows (1 in 2D).
    pub det_rows: usize,
    /// Detector columns.
    pub det_cols: usize,
    /// One row per view (6 numbers in 2D, 12 in 3D).
    pub vectors: Vec<Vec<f64>>,
}

impl fmt::Display for AstraVectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string_pretty(self).map_err(|_| fmt::Error)?;
        writeln!(f, "{json}")
    }
}

/// `hounsfield ct astra`: the scan's geometry as ASTRA vectors.
pub fn astra_vectors(scan: &Path) -> Result<AstraVectors> {
    let file = ScanFile::read(scan)?;
    let (geometry_type, vectors) = file.scan.to_astra()?;
    let (det_rows, det_cols) = file.scan.detector_shape();
    Ok(AstraVectors { geometry_type, det_rows, det_cols, vectors })
}

/// Which analytic phantom `ct phantom` and `ct project` make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhantomChoice {
    /// The modified Shepp-Logan phantom of the scan's dimension.
    SheppLogan,
    /// This many random ellipses or ellipsoids.
    Random(usize),
    /// A random head with this many soft-tissue blobs (3D scans).
    Head(usize),
}

impl PhantomChoice {
    /// What it is, for reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::SheppLogan => "Shepp-Logan phantom",
            Self::Random(_) => "random phantom",
            Self::Head(_) => "random head",
        }
    }

    /// From the command line's `--random N` and `--head` (a head has 8 blobs unless N says).
    pub fn new(random: Option<usize>, head: bool) -> Self {
        match (random, head) {
            (count, true) => Self::Head(count.unwrap_or(8)),
            (Some(count), false) => Self::Random(count),
            (None, false) => Self::SheppLogan,
        }
    }
}

/// `hounsfield ct phantom`: the Shepp-Logan phantom (or random ellipses, or a random head) on
/// the scan's grid.
pub fn phantom(scan: &Path, output: &Path, choice: PhantomChoice, seed: u64) -> Result<CtReport> {
    let file = ScanFile::read(scan)?;
    let start = std::time::Instant::now();
    let ph = make_phantom(&file, scan, choice, seed)?;
    // Pixel averages over 16x16 points in 2D (4x4x4 in 3D): the reference PSNRs are measured against.
    let image = ph.rasterize(&file.grid, if ph.dims == 2 { 16 } else { 4 })?;
    let what = format!("{}D {}", ph.dims, choice.name());
    let r = report(output, what, &image, start.elapsed().as_secs_f64());
    nifti::write_nifti(output, &NiftiImage::from_volume(file.grid.volume_of(image)?))?;
    Ok(r)
}

fn make_phantom(file: &ScanFile, scan: &Path, choice: PhantomChoice, seed: u64) -> Result<Phantom> {
    let dims = file.scan.dims();
    let radius = file.grid.inscribed_radius();
    Ok(match choice {
        // No shape at all would write an empty phantom as if it were one.
        PhantomChoice::Random(0) => bail!("--random 0: a random phantom needs at least 1 shape"),
        PhantomChoice::Random(count) => Phantom::random(dims, count, radius, seed)?,
        PhantomChoice::Head(_) if dims != 3 => {
            bail!("a random head is 3D; {} describes a 2D scan", scan.display())
        }
        // In 90% of the inscribed ball, as `ct learn` draws them (a head reaches 1.04 radii).
        PhantomChoice::Head(blobs) => Phantom::random_head(0.9 * radius, blobs, seed)?,
        PhantomChoice::SheppLogan if dims == 2 => Phantom::shepp_logan_2d(radius),
        PhantomChoice::SheppLogan => Phantom::shepp_logan_3d(radius),
    })
}

/// Options of `hounsfield ct project`.
pub struct ProjectOptions {
    /// Project this image with the Joseph projector; `None`: exact line integrals of the phantom.
    pub image: Option<PathBuf>,
    /// With no image: the analytic phantom to project.
    pub phantom: PhantomChoice,
    /// Scale applied to the line integrals (e.g. 0.02 to turn a 0..1 phantom into water-like
    /// attenuation per mm).
    pub scale: f32,
    /// Poisson noise for this many incident photons.
    pub photons: Option<f64>,
    /// Seed of the phantom and the noise.
    pub seed: u64,
}

/// `hounsfield ct project`: projections as NIfTI plus the scan file beside them.
pub fn project(scan: &Path, output: &Path, options: &ProjectOptions) -> Result<CtReport> {
    let file = ScanFile::read(scan)?;
    let start = std::time::Instant::now();
    let (mut p, what) = match &options.image {
        Some(path) => {
            // The image must lie where the scan file's grid lies (axis-aligned LPS, centred at
            // grid.centre): its voxels are projected as voxels of that grid.
            let grid_geometry = file.grid.geometry()?;
            let image = crate::align::on_grid_of(
                read_volume(path)?,
                (&grid_geometry, file.grid.shape),
                path,
                scan,
            )?;
            let x = file
                .grid
                .image_of(&image, &file.scan)
                .with_context(|| format!("{}: not an image on the scan's grid", path.display()))?;
            let projector = Projector::new(file.grid.clone(), file.scan.clone())?;
            (projector.apply(x.view())?, format!("Joseph projections of {}", path.display()))
        }
        None => {
            let ph = make_phantom(&file, scan, options.phantom, options.seed)?;
            (
                ph.project(&file.scan, 1)?,
                format!("exact line integrals of a {}D {}", ph.dims, options.phantom.name()),
            )
        }
    };
    p *= options.scale;
    let what = match options.photons {
        Some(i0) => {
            p = add_noise(p.view(), &NoiseOptions::poisson(i0, options.seed))?;
            format!("{what}, Poisson noise at {i0} photons")
        }
        None => what,
    };
    let r = report(output, what, &p, start.elapsed().as_secs_f64());
    write_projections(&file, &p, output)?;
    Ok(r)
}

fn read_volume(path: &Path) -> Result<Volume<f32>> {
    Ok(hounsfield_io::open_volume(path)?)
}

fn write_projections(file: &ScanFile, p: &ArrayD<f32>, output: &Path) -> Result<()> {
    let (rows, cols) = file.scan.detector_shape();
    let views = file.scan.views();
    let geometry = hounsfield_core::Geometry::axis_aligned([1.0, 1.0, 1.0], [0.0; 3])?;
    let volume = Volume::from_vec([views, rows, cols], p.iter().copied().collect(), geometry)?;
    let json = serde_json::to_vec_pretty(file)?;
    let mut outputs = crate::outputs::Outputs::new();
    outputs.write(&sidecar(output), |p| Ok(hounsfield_core::fs::write_bytes_atomic(p, &json)?))?;
    outputs.write(output, |p| Ok(nifti::write_nifti(p, &NiftiImage::from_volume(volume))?))?;
    outputs.keep();
    Ok(())
}

/// Reconstruction methods of `hounsfield ct reconstruct`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Filtered back-projection (FDK for cone beams).
    Fbp,
    /// Simultaneous iterative reconstruction.
    Sirt,
    /// Ordered-subsets SART (10 subsets).
    OsSart,
    /// Conjugate gradients on the normal equations.
    Cgls,
    /// Maximum-likelihood expectation maximisation.
    Mlem,
    /// FISTA with total variation (`--lambda`).
    FistaTv,
    /// The model's prior (FBP/FDK, or the backprojection) followed by its trained U-Net
    /// (`--model` from `ct learn`).
    Fbpconvnet,
    /// Learned Primal-Dual (`--model` from `ct learn`).
    Lpd,
}

impl Method {
    /// The name on the command line.
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default()
    }
}

/// Options of `hounsfield ct reconstruct`.
pub struct ReconstructOptions {
    /// The scan file (default: the projections' `.scan.json`).
    pub scan: Option<PathBuf>,
    /// Method.
    pub method: Method,
    /// Iterations of iterative methods.
    pub iterations: usize,
    /// TV weight of FISTA-TV.
    pub lambda: f64,
    /// FBP window.
    pub window: RampWindow,
    /// FBP cut-off (fraction of Nyquist).
    pub cutoff: f64,
    /// Reference image for PSNR/SSIM.
    pub reference: Option<PathBuf>,
    /// Divide the result by this (undo `project --scale`).
    pub scale: f32,
    /// A model from `ct learn`, for the learned methods.
    pub model: Option<PathBuf>,
    /// Where FBP's back-projection and the iterative methods' projector run.
    pub device: Device,
}

/// `hounsfield ct reconstruct`.
pub fn reconstruct(
    projections: &Path,
    output: &Path,
    options: &ReconstructOptions,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<CtReport> {
    // A model given to a method that takes none would be ignored without a word.
    if options.model.is_some() && !matches!(options.method, Method::Fbpconvnet | Method::Lpd) {
        bail!("--model is for --method fbpconvnet or lpd, not {}", options.method.name());
    }
    let scan = options.scan.clone().unwrap_or_else(|| sidecar(projections));
    let file = ScanFile::read(&scan)?;
    // A reference is read and put on the scan's grid before the (long) reconstruction.
    let reference = match &options.reference {
        Some(path) => {
            let grid_geometry = file.grid.geometry()?;
            let volume = read_volume(path)?;
            let aligned =
                crate::align::on_grid_of(volume, (&grid_geometry, file.grid.shape), path, &scan)?;
            Some(aligned)
        }
        None => None,
    };
    let p = read_volume(projections)?;
    let shape = file.scan.projection_shape();
    if p.len() != shape.iter().product::<usize>() {
        bail!(
            "{}: {} values, the scan {} needs {shape:?}",
            projections.display(),
            p.len(),
            scan.display()
        );
    }
    // NaN or infinite line integrals spread through every method's output: refuse them here,
    // naming the file, instead of writing a NaN image.
    if let Some(k) = p.as_slice().iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: value {k} is {} (projections must be finite)",
            projections.display(),
            p.as_slice()[k]
        );
    }
    let y = ArrayD::from_shape_vec(IxDyn(&shape), p.as_slice().to_vec())?;
    let start = std::time::Instant::now();
    let iter = IterOptions::iterations(options.iterations);
    let image = match options.method {
        Method::Fbp => {
            let o = FbpOptions {
                window: options.window,
                cutoff: options.cutoff,
                device: options.device,
                ..Default::default()
            };
            fbp(&file.scan, &file.grid, y.view(), &o)
                .with_context(|| format!("{}: FBP of this scan", scan.display()))?
        }
        Method::Fbpconvnet | Method::Lpd => {
            // The network saw data at the training scale: undo --scale before, not after.
            let y = y / options.scale;
            let image = learned(&file, &scan, &y, options)?;
            image * options.scale
        }
        Method::OsSart => {
            // Ordered subsets need the CPU projector's view subsets.
            if options.device != Device::Cpu {
                bail!("--method os-sart runs on the CPU only");
            }
            let op = Projector::new(file.grid.clone(), file.scan.clone())?;
            os_sart(&op, y.view(), None, 10.min(file.scan.views()), 1.0, &iter, progress)?
        }
        method => {
            let op =
                hounsfield_ct::projector_on(file.grid.clone(), file.scan.clone(), options.device)?;
            let op = op.as_ref();
            match method {
                Method::Sirt => sirt(op, y.view(), None, 1.0, &iter, progress)?,
                Method::Cgls => cgls(op, y.view(), None, &iter, progress)?,
                Method::Mlem => mlem(op, y.view(), None, &iter, progress)?,
                _ => {
                    let tv = TvOptions { lambda: options.lambda, inner_iterations: 20 };
                    fista_tv(op, y.view(), None, &tv, &iter, progress)?
                }
            }
        }
    } / options.scale;
    let mut r = report(
        output,
        format!("{} reconstruction", options.method.name()),
        &image,
        start.elapsed().as_secs_f64(),
    );
    let volume = file.grid.volume_of(image)?;
    nifti::write_nifti(output, &NiftiImage::from_volume(volume.clone()))?;
    if let Some(reference) = reference {
        let (lo, hi) = reference.min_max().context("empty reference")?;
        let range = if hi > lo { hi - lo } else { 1.0 };
        r.psnr_db = Some(psnr(&reference, &volume, range)?);
        // SSIM needs its 11-voxel window along every axis the image has more than one voxel on.
        r.ssim = ssim(&reference, &volume, &SsimOptions::new(range)).ok();
    }
    Ok(r)
}

/// Reconstructs `y` with the model of `options.model`, which must have been trained for this
/// scan and be of the asked kind.
fn learned(
    file: &ScanFile,
    scan_path: &Path,
    y: &ArrayD<f32>,
    options: &ReconstructOptions,
) -> Result<ArrayD<f32>> {
    use hounsfield_nn::recon::{Architecture, ReconModel};
    let Some(path) = &options.model else {
        bail!(
            "--method {} needs --model (a file written by `hounsfield ct learn`)",
            options.method.name()
        );
    };
    let context = ReconModel::context(path)?;
    let trained: crate::ct_learn::ModelScan = serde_json::from_str(&context)
        .with_context(|| format!("{}: the model does not record its scan", path.display()))?;
    if trained.grid != file.grid || trained.scan != file.scan {
        bail!(
            "{}: trained for another grid or scan than {} (the model's scan is the .scan.json \
             written beside it)",
            path.display(),
            scan_path.display()
        );
    }
    let op = std::sync::Arc::new(Projector::new(file.grid.clone(), file.scan.clone())?);
    let model = ReconModel::load(path, op)
        .with_context(|| format!("{}: loading the model", path.display()))?;
    let kind_matches = matches!(
        (options.method, model.architecture()),
        (Method::Fbpconvnet, Architecture::PostProcessing { .. })
            | (Method::Lpd, Architecture::PrimalDual { .. })
    );
    if !kind_matches {
        bail!("{}: not a model for --method {}", path.display(), options.method.name());
    }
    // The image the network was trained to start from (FBP/FDK or the backprojection).
    let prior = trained.prior.image(&file.grid, &file.scan, y.view()).with_context(|| {
        format!(
            "{}: the model starts from the {} of the data (prior = \"{}\")",
            path.display(),
            trained.prior.name(&file.scan),
            trained.prior.key()
        )
    })?;
    Ok(model.reconstruct(y.view(), prior.view())?)
}
