//! `hounsfield`: medical 3D imaging from the shell.
//!
//! Exit codes: 0 success, 1 an error the user can act on (one line on standard error), 2 a usage
//! error (clap's message).
#![allow(clippy::print_stdout)]

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

use hounsfield_cli::{
    anonymize, ct, ct_learn, demo, demo_segment, filter, mesh, progress, render, segment,
    volume_info,
};
use hounsfield_filter::{Connectivity, Element3, Interpolation, Window};
use hounsfield_io::dicom::SeriesOptions;
use hounsfield_io::nifti::{self, NiftiImage};
use hounsfield_nn::train::Event;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "hounsfield",
    version,
    about = "Medical 3D imaging from the shell: DICOM and NIfTI, filtering, CT reconstruction, \
             segmentation, meshing and rendering",
    propagate_version = true
)]
struct Cli {
    /// Print machine-readable JSON on standard output instead of text.
    #[arg(long, global = true)]
    json: bool,

    /// Never draw progress bars (they are already hidden when standard error is not a terminal).
    #[arg(long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe an image (size, type, spacing, orientation, value range), or list the series of
    /// a DICOM directory.
    Info {
        /// A NIfTI file (.nii, .nii.gz, .hdr/.img), a DICOM file, or a directory of DICOM files.
        input: PathBuf,
    },
    /// Convert a DICOM series, DICOM file or NIfTI file to NIfTI (.nii or .nii.gz), atomically.
    Convert {
        /// A DICOM directory, DICOM file or NIfTI file.
        input: PathBuf,
        /// The file to write, ending in .nii or .nii.gz.
        output: PathBuf,
        /// The series to convert when the directory holds several: its label as `hounsfield info`
        /// lists it (the SeriesNumber, or NUMBER.K for sub-series of one UID: 3-plane
        /// localizers, scouts), its SeriesNumber or its SeriesInstanceUID.
        #[arg(long)]
        series: Option<String>,
        /// Keep one slice where several copies share a position (otherwise an error); images of
        /// different time points or diffusion weightings are not copies and stay.
        #[arg(long)]
        drop_duplicates: bool,
        /// Keep a gantry-tilted stack as the sheared grid it was acquired on (otherwise an error).
        #[arg(long, conflicts_with = "correct_tilt")]
        keep_tilt: bool,
        /// De-shear a gantry-tilted stack onto an orthogonal grid (bilinear, f32; the plane is
        /// widened to keep every slice's field of view).
        #[arg(long)]
        correct_tilt: bool,
        /// Resample unevenly spaced slices (say, one missing) onto the smallest gap (linear along
        /// the normal, f32) instead of refusing. Refused while a DICOM file of the directory is
        /// unreadable (its slice is not interpolated over).
        #[arg(long)]
        resample_gaps: bool,
        /// Convert although some DICOM images in the directory could not be read (they are named
        /// in the error otherwise; one of them may be a slice of the series).
        #[arg(long)]
        skip_unreadable: bool,
        /// Write no BIDS sidecar (OUTPUT's stem + .json) beside a NIfTI converted from DICOM.
        #[arg(long)]
        no_bids: bool,
    },
    /// Write de-identified DICOM copies (PS3.15 Basic Profile): identifying attributes removed or
    /// blanked, private tags removed, UIDs replaced consistently; pixels and geometry kept.
    Anonymize {
        /// A DICOM file, or a directory (its tree is mirrored; non-DICOM files are skipped).
        input: PathBuf,
        /// The file or directory to write; never the input.
        output: PathBuf,
        /// Secret the new UIDs are derived from: the same key maps a UID to the same new UID in
        /// every run (keep studies linked). Without it a random key is used.
        #[arg(long)]
        key: Option<String>,
    },
    /// Filter, window, threshold or label a volume (NIfTI or DICOM in, NIfTI out).
    Filter {
        #[command(subcommand)]
        op: FilterOp,
    },
    /// CT phantoms, projections and reconstructions from a scan file (TOML or JSON: the image
    /// grid and the geometry; see `hounsfield_cli::ct`).
    Ct {
        #[command(subcommand)]
        op: CtOp,
    },
    /// Train U-Net segmentation models and run them (see `hounsfield_cli::segment` for the
    /// training configuration file).
    Segment {
        #[command(subcommand)]
        op: SegmentOp,
    },
    /// The isosurface of a volume as a watertight mesh (STL, PLY or OBJ by extension), with its
    /// area, enclosed volume and topology.
    Mesh {
        /// NIfTI file, DICOM file or DICOM directory.
        input: PathBuf,
        /// .stl, .ply or .obj.
        output: PathBuf,
        /// The isolevel (values >= level are inside).
        #[arg(long, required_unless_present = "labels", conflicts_with = "labels")]
        level: Option<f64>,
        /// One surface per non-zero label (a segmentation), written as OUTPUT's stem plus
        /// `_<label>`; neighbouring labels share their boundary exactly.
        #[arg(long)]
        labels: bool,
        /// Keep only the largest connected component.
        #[arg(long)]
        largest: bool,
        /// Smoothing passes (removes the voxel staircase without shrinking): Taubin's λ|μ, or
        /// with --sinc the order of the windowed-sinc filter (20 is typical).
        #[arg(long, default_value_t = 0)]
        smooth: usize,
        /// Smooth with the windowed-sinc filter instead of Taubin's.
        #[arg(long, requires = "smooth")]
        sinc: bool,
        /// Decimate to this fraction of the triangles (quadric error, topology kept).
        #[arg(long)]
        decimate: Option<f64>,
    },
    /// A PNG of a volume (slice, montage, MIP, volume rendering; physical proportions) or of a
    /// mesh (.stl, .ply, .obj: shaded preview).
    Render {
        /// NIfTI file, DICOM file or directory, or a mesh file.
        input: PathBuf,
        /// The .png to write.
        output: PathBuf,
        /// What to draw from a volume.
        #[arg(long, value_enum, default_value = "montage")]
        mode: render::Mode,
        /// Plane of slices, montages and axis MIPs: axial, coronal, sagittal.
        #[arg(long, default_value = "axial")]
        plane: String,
        /// Slice index for --mode slice (default: the middle).
        #[arg(long)]
        slice: Option<usize>,
        /// Slices in a montage.
        #[arg(long, default_value_t = 12)]
        count: usize,
        /// Display window as LO,HI (default: 1st to 99th percentile).
        #[arg(long, value_delimiter = ',', num_args = 2, allow_hyphen_values = true)]
        window: Option<Vec<f64>>,
        /// Volume-rendering preset: bone, soft-tissue (CT, HU), mr.
        #[arg(long, default_value = "bone")]
        preset: String,
        /// Camera azimuth in degrees (DVR, meshes; MIP with --oblique).
        #[arg(long, default_value_t = 30.0, allow_hyphen_values = true)]
        azimuth: f64,
        /// Camera elevation in degrees.
        #[arg(long, default_value_t = 20.0, allow_hyphen_values = true)]
        elevation: f64,
        /// Picture size in pixels for DVR, oblique MIP and meshes.
        #[arg(long, default_value_t = 384)]
        size: usize,
        /// MIP from the camera instead of along the plane's normal.
        #[arg(long)]
        oblique: bool,
        /// A label volume to overlay on slices and montages.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Run the end-to-end demo and report what each stage measured.
    Demo {
        /// Edge of the phantom volume in voxels.
        #[arg(long, default_value_t = 48)]
        size: usize,
        /// Seed of the simulated noise.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the phantom and reconstructions as NIfTI into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run the real-data path instead, on this T1 brain MRI (NIfTI): brain mask, surface,
        /// pictures.
        #[arg(long)]
        mri: Option<PathBuf>,
        /// With --mri: a reference brain mask (non-zero = brain) to score the mask with Dice.
        #[arg(long, requires = "mri")]
        reference: Option<PathBuf>,
        /// Training steps of the segmentation stage's U-Net.
        #[arg(long, default_value_t = demo::SEGMENT_STEPS)]
        segment_steps: usize,
    },
}

/// `hounsfield ct` operations.
#[derive(Subcommand)]
enum CtOp {
    /// Print the scan's geometry as ASTRA vectors (JSON: geometry_type, det_rows, det_cols,
    /// vectors) for `astra.create_proj_geom`.
    Astra {
        /// Scan file (.toml or .json).
        scan: PathBuf,
    },
    /// Write the Shepp-Logan phantom (2D or 3D after the scan) or random ellipses on the grid.
    Phantom {
        /// Scan file (.toml or .json).
        scan: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// This many random ellipses/ellipsoids instead of Shepp-Logan.
        #[arg(long)]
        random: Option<usize>,
        /// Seed of the random phantom.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Projections (exact line integrals of the phantom, or Joseph projections of an image),
    /// optionally noisy; writes OUTPUT and OUTPUT's .scan.json.
    Project {
        /// Scan file (.toml or .json).
        scan: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Project this image instead of the analytic phantom.
        #[arg(long)]
        image: Option<PathBuf>,
        /// With no image: this many random ellipses instead of Shepp-Logan.
        #[arg(long)]
        random: Option<usize>,
        /// Multiply the line integrals (0.02 turns a 0..1 phantom into water-like 1/mm).
        #[arg(long, default_value_t = 1.0)]
        scale: f32,
        /// Poisson noise for this many incident photons per pixel.
        #[arg(long)]
        photons: Option<f64>,
        /// Seed of the phantom and the noise.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Reconstruct projections written by `project` (or any NIfTI of [views, rows, cols]).
    Reconstruct {
        /// Projections (NIfTI).
        projections: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Scan file; default: the projections' .scan.json.
        #[arg(long)]
        scan: Option<PathBuf>,
        /// Method.
        #[arg(long, value_enum, default_value = "fbp")]
        method: ct::Method,
        /// Iterations of iterative methods.
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// TV weight of fista-tv.
        #[arg(long, default_value_t = 0.1)]
        lambda: f64,
        /// FBP filter window: ram-lak, shepp-logan, cosine, hamming, hann.
        #[arg(long, default_value = "ram-lak")]
        filter: String,
        /// FBP cut-off frequency as a fraction of Nyquist.
        #[arg(long, default_value_t = 1.0)]
        cutoff: f64,
        /// Divide the result by this (the --scale given to project).
        #[arg(long, default_value_t = 1.0)]
        scale: f32,
        /// Reference image: report PSNR and SSIM against it.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Trained model for --method fbpconvnet or lpd (from `ct learn`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// cpu, cuda or cuda:N: where FBP/FDK back-projects and iterative methods project
        /// (a GPU needs a build with `--features cuda`).
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Train a learned reconstruction (FBPConvNet or Learned Primal-Dual) on simulated data
    /// described by a TOML file; scores it on held-out phantoms beside FBP (and FISTA-TV).
    Learn {
        /// Configuration (TOML; see docs/NN.md).
        config: PathBuf,
    },
}

/// `hounsfield filter` operations: each reads INPUT's first volume and writes OUTPUT (.nii or
/// .nii.gz).
#[derive(Subcommand)]
enum FilterOp {
    /// Gaussian smoothing (scipy's kernel, truncated at 4 sigma, reflecting edges; or the
    /// recursive Deriche filter, whose cost does not grow with sigma).
    Gaussian {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Standard deviation in mm.
        #[arg(long)]
        sigma: f64,
        /// Use the recursive (IIR) filter.
        #[arg(long)]
        recursive: bool,
    },
    /// A display window onto 0..1: a CT preset, or --level and --width.
    Window {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// brain, subdural, stroke, bone, lung, soft-tissue, abdomen or liver.
        #[arg(long, conflicts_with_all = ["level", "width"])]
        preset: Option<String>,
        /// Window centre.
        #[arg(long, requires = "width", allow_hyphen_values = true)]
        level: Option<f64>,
        /// Window width.
        #[arg(long, requires = "level")]
        width: Option<f64>,
    },
    /// A 0/1 mask: above an automatic threshold (--otsu, --li, --triangle) or within --lo..--hi.
    Threshold {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Otsu's threshold (256 bins, scikit-image's convention).
        #[arg(long, conflicts_with_all = ["lo", "hi", "li", "triangle"])]
        otsu: bool,
        /// Li's minimum cross-entropy threshold.
        #[arg(long, conflicts_with_all = ["lo", "hi", "triangle"])]
        li: bool,
        /// The triangle threshold (256 bins).
        #[arg(long, conflicts_with_all = ["lo", "hi"])]
        triangle: bool,
        /// Lowest value inside.
        #[arg(long, allow_hyphen_values = true)]
        lo: Option<f64>,
        /// Highest value inside.
        #[arg(long, allow_hyphen_values = true)]
        hi: Option<f64>,
    },
    /// Edge-preserving smoothing: Perona-Malik anisotropic diffusion.
    Diffusion {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Iterations.
        #[arg(long, default_value_t = 10)]
        iterations: usize,
        /// Conductance: intensity differences per mm well above it are kept as edges.
        #[arg(long)]
        conductance: f64,
    },
    /// Gradient magnitude per mm (after Gaussian smoothing with --sigma mm when given).
    GradientMagnitude {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Smoothing sigma in mm.
        #[arg(long)]
        sigma: Option<f64>,
    },
    /// Unsharp masking: v + amount (v - gaussian(v, sigma)).
    Unsharp {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Blur sigma in mm.
        #[arg(long, default_value_t = 1.0)]
        sigma: f64,
        /// Amount of detail added back.
        #[arg(long, default_value_t = 1.0)]
        amount: f64,
    },
    /// Median over a box of --radius mm (3x3x3 for 1 mm voxels and radius 1).
    Median {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Radius in mm.
        #[arg(long, default_value_t = 1.0)]
        radius: f64,
    },
    /// Binary morphology of the non-zero voxels: dilate, erode, open, close (ball or box of
    /// --radius mm) or fill-holes.
    Morphology {
        /// dilate, erode, open, close or fill-holes.
        #[arg(value_parser = ["dilate", "erode", "open", "close", "fill-holes"])]
        op: String,
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Structuring element radius in mm.
        #[arg(long, default_value_t = 1.0)]
        radius: f64,
        /// The structuring element: ball, box or cross.
        #[arg(long, default_value = "ball", value_parser = ["ball", "box", "cross"])]
        element: String,
    },
    /// Crop to --size voxels starting at index --min (x,y,z each).
    Crop {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// First voxel kept, x,y,z.
        #[arg(long, value_delimiter = ',', required = true)]
        min: Vec<usize>,
        /// Voxels kept, x,y,z.
        #[arg(long, value_delimiter = ',', required = true)]
        size: Vec<usize>,
    },
    /// Pad with --value: --before and --after voxels per axis (x,y,z each).
    Pad {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Voxels before index 0, x,y,z.
        #[arg(long, value_delimiter = ',', required = true)]
        before: Vec<usize>,
        /// Voxels after the last, x,y,z.
        #[arg(long, value_delimiter = ',', required = true)]
        after: Vec<usize>,
        /// The padding value.
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        value: f32,
    },
    /// Reverse the index order along the axes named (x, y and/or z).
    Flip {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Axes to flip, for example x,z.
        #[arg(long, value_delimiter = ',', value_parser = ["x", "y", "z"])]
        axes: Vec<String>,
    },
    /// Mean over a box of --radius voxels (one value, or x,y,z).
    BoxMean {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Radius in voxels.
        #[arg(long, value_delimiter = ',', num_args = 1..=3)]
        radius: Vec<usize>,
    },
    /// Intensity normalisation: zscore, rescale (onto 0..1) or percentile (1st..99th onto 0..1).
    Normalize {
        /// zscore, rescale or percentile.
        #[arg(value_parser = ["zscore", "rescale", "percentile"])]
        method: String,
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
    },
    /// Map the histogram onto a reference volume's.
    MatchHistogram {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// The reference volume.
        #[arg(long)]
        reference: PathBuf,
    },
    /// Reorient to an orientation code (axes permuted and flipped; voxels untouched).
    Reorient {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// Target orientation, nibabel's "points to" letters: RAS, LPS, LAS...
        #[arg(long, default_value = "RAS")]
        to: String,
    },
    /// Resample to a new spacing over the same physical extent (trilinear, or --nearest).
    Resample {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// New spacing in mm: one value for all axes, or x,y,z.
        #[arg(long, value_delimiter = ',', num_args = 1..=3)]
        spacing: Vec<f64>,
        /// Nearest neighbour (for masks and labels).
        #[arg(long, conflicts_with = "bspline")]
        nearest: bool,
        /// Cubic B-spline (scipy's order 3) instead of trilinear.
        #[arg(long, conflicts_with = "lanczos")]
        bspline: bool,
        /// Lanczos windowed sinc (a = 3) instead of trilinear.
        #[arg(long, conflicts_with = "nearest")]
        lanczos: bool,
        /// Smooth before downsampling so that finer detail does not alias.
        #[arg(long)]
        antialias: bool,
    },
    /// Connected components of the non-zero voxels, numbered by decreasing size.
    Label {
        /// Volume to read.
        input: PathBuf,
        /// NIfTI file to write.
        output: PathBuf,
        /// 6 (faces), 18 (and edges) or 26 (and corners).
        #[arg(long, default_value = "6", value_parser = ["6", "18", "26"])]
        connectivity: String,
        /// Write only the largest component, as a 0/1 mask.
        #[arg(long)]
        largest: bool,
    },
}

impl FilterOp {
    fn parts(self) -> Result<(PathBuf, PathBuf, filter::Operation)> {
        use filter::Operation;
        Ok(match self {
            FilterOp::Gaussian { input, output, sigma, recursive } => {
                (input, output, Operation::Gaussian { sigma_mm: sigma, recursive })
            }
            FilterOp::Window { input, output, preset, level, width } => {
                let window = match (preset, level, width) {
                    (Some(p), _, _) => Window::preset(&p)?,
                    (None, Some(l), Some(w)) => Window::new(l, w)?,
                    _ => bail!("window needs --preset NAME, or --level and --width"),
                };
                (input, output, Operation::Window(window))
            }
            FilterOp::Threshold { input, output, otsu, li, triangle, lo, hi } => {
                let automatic = if li {
                    Some(filter::Automatic::Li)
                } else if triangle {
                    Some(filter::Automatic::Triangle)
                } else {
                    otsu.then_some(filter::Automatic::Otsu)
                };
                let op = match (automatic, lo, hi) {
                    (Some(method), _, _) => Operation::Automatic(method),
                    (None, None, None) => {
                        bail!("threshold needs --otsu, --li, --triangle, or --lo and/or --hi")
                    }
                    (None, lo, hi) => Operation::Threshold {
                        lo: lo.unwrap_or(f64::NEG_INFINITY),
                        hi: hi.unwrap_or(f64::INFINITY),
                    },
                };
                (input, output, op)
            }
            FilterOp::Diffusion { input, output, iterations, conductance } => {
                (input, output, Operation::Diffusion { iterations, conductance })
            }
            FilterOp::GradientMagnitude { input, output, sigma } => {
                (input, output, Operation::GradientMagnitude { sigma_mm: sigma })
            }
            FilterOp::Unsharp { input, output, sigma, amount } => {
                (input, output, Operation::Unsharp { sigma_mm: sigma, amount })
            }
            FilterOp::Median { input, output, radius } => {
                (input, output, Operation::Median { radius_mm: radius })
            }
            FilterOp::Morphology { op, input, output, radius, element } => {
                let element = match element.as_str() {
                    "box" => Element3::Box,
                    "cross" => Element3::Cross,
                    _ => Element3::Ball,
                };
                (input, output, Operation::Morphology { op, radius_mm: radius, element })
            }
            FilterOp::Crop { input, output, min, size } => {
                let (min, size) = (three(&min, "--min")?, three(&size, "--size")?);
                (input, output, Operation::Crop { min, size })
            }
            FilterOp::Pad { input, output, before, after, value } => {
                let (before, after) = (three(&before, "--before")?, three(&after, "--after")?);
                (input, output, Operation::Pad { before, after, value })
            }
            FilterOp::Flip { input, output, axes } => {
                let axes = ["x", "y", "z"].map(|a| axes.iter().any(|b| b == a));
                (input, output, Operation::Flip { axes })
            }
            FilterOp::BoxMean { input, output, radius } => {
                let radius = match radius.as_slice() {
                    [r] => [*r; 3],
                    r => three(r, "--radius")?,
                };
                (input, output, Operation::BoxMean { radius })
            }
            FilterOp::Normalize { method, input, output } => {
                (input, output, Operation::Normalize { method })
            }
            FilterOp::MatchHistogram { input, output, reference } => {
                (input, output, Operation::MatchHistogram { reference })
            }
            FilterOp::Reorient { input, output, to } => {
                (input, output, Operation::Reorient { code: to })
            }
            FilterOp::Resample { input, output, spacing, nearest, bspline, lanczos, antialias } => {
                let spacing_mm = match spacing.as_slice() {
                    [s] => [*s; 3],
                    [x, y, z] => [*x, *y, *z],
                    _ => bail!("--spacing takes one value or three (x,y,z)"),
                };
                let interpolation = match (nearest, bspline, lanczos) {
                    (true, _, _) => Interpolation::Nearest,
                    (_, true, _) => Interpolation::BSpline3,
                    (_, _, true) => Interpolation::Lanczos3,
                    _ => Interpolation::Linear,
                };
                (input, output, Operation::Resample { spacing_mm, interpolation, antialias })
            }
            FilterOp::Label { input, output, connectivity, largest } => {
                let connectivity = match connectivity.as_str() {
                    "18" => Connectivity::Eighteen,
                    "26" => Connectivity::TwentySix,
                    _ => Connectivity::Six,
                };
                (input, output, Operation::Label { connectivity, largest })
            }
        })
    }
}

#[derive(Subcommand)]
enum SegmentOp {
    /// Train a U-Net as a configuration file says; the model is saved (safetensors, resumable)
    /// after every validation.
    Train {
        /// TOML or JSON configuration.
        config: PathBuf,
        /// Continue from the model file the configuration names (optimiser state included).
        #[arg(long)]
        resume: bool,
    },
    /// Segment a volume with a trained model (sliding windows, Gaussian blending); labels (u8)
    /// or probabilities (f32) in the input's geometry.
    Predict {
        /// A model written by `segment train`.
        model: PathBuf,
        /// NIfTI image.
        input: PathBuf,
        /// NIfTI to write.
        output: PathBuf,
        /// Fraction shared by neighbouring windows.
        #[arg(long, default_value_t = 0.5)]
        overlap: f64,
        /// Average over mirrored inputs (test-time augmentation).
        #[arg(long)]
        tta: bool,
        /// Write the probability of class 1 instead of labels.
        #[arg(long)]
        probabilities: bool,
        /// Score against these labels (Dice per class).
        #[arg(long)]
        reference: Option<PathBuf>,
        /// The reference is a mask: label = value > threshold.
        #[arg(long, requires = "reference")]
        label_threshold: Option<f64>,
    },
}

/// Exactly three values (x, y, z) of a comma-separated option.
fn three<T: Copy>(values: &[T], name: &str) -> Result<[T; 3]> {
    match values {
        [x, y, z] => Ok([*x, *y, *z]),
        _ => bail!("{name} takes three values, x,y,z"),
    }
}

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let msg = info.to_string().replace('\n', " ");
        eprintln!("hounsfield: internal error (please report): {msg}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hounsfield: error: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, skipping causes the message already quotes (library
/// errors include their source in their own message).
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !line.contains(&text) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&text);
        }
    }
    line.replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { input } => {
            let spinner = progress::spinner(&format!("reading {}", input.display()), !cli.quiet);
            let info = volume_info::info(&input);
            spinner.finish_and_clear();
            print(&info?, cli.json)
        }
        Command::Convert {
            input,
            output,
            series,
            drop_duplicates,
            keep_tilt,
            correct_tilt,
            resample_gaps,
            skip_unreadable,
            no_bids,
        } => {
            let series_options = SeriesOptions::default()
                .with_drop_duplicates(drop_duplicates)
                .with_keep_tilt_shear(keep_tilt)
                .with_correct_tilt(correct_tilt)
                .with_resample_gaps(resample_gaps)
                .with_skip_unreadable(skip_unreadable);
            let options = volume_info::ConvertOptions {
                open: hounsfield_io::OpenOptions::default()
                    .with_series(series)
                    .with_series_options(series_options),
                no_bids,
            };
            let spinner = progress::spinner(&format!("converting {}", input.display()), !cli.quiet);
            let done = volume_info::convert(&input, &output, &options);
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Anonymize { input, output, key } => {
            let spinner =
                progress::spinner(&format!("anonymizing {}", input.display()), !cli.quiet);
            let done = anonymize::anonymize(&input, &output, key.as_deref());
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Filter { op } => {
            let (input, output, op) = op.parts()?;
            let spinner = progress::spinner(&format!("filtering {}", input.display()), !cli.quiet);
            let done = filter::run(&input, &output, &op);
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Ct { op } => run_ct(op, cli.quiet, cli.json),
        Command::Segment { op } => run_segment(op, cli.quiet, cli.json),
        Command::Mesh { input, output, level, labels, largest, smooth, sinc, decimate } => {
            let spinner = progress::spinner(&format!("meshing {}", input.display()), !cli.quiet);
            let post = mesh::PostProcess { largest, smooth, sinc, decimate };
            if labels {
                let done = mesh::mesh_labels(&input, &output, &post);
                spinner.finish_and_clear();
                return print(&done?, cli.json);
            }
            let level = level.context("--level or --labels is required")?;
            let done = mesh::mesh(&input, &output, level, &post);
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Render {
            input,
            output,
            mode,
            plane,
            slice,
            count,
            window,
            preset,
            azimuth,
            elevation,
            size,
            oblique,
            labels,
        } => {
            let options = render::RenderOptions {
                mode,
                plane: hounsfield_render::Plane::from_name(&plane)?,
                slice,
                count,
                window: window.map(|w| (w[0], w[1])),
                preset,
                view: hounsfield_render::View { azimuth, elevation, size },
                oblique,
                labels,
            };
            let spinner = progress::spinner(&format!("rendering {}", input.display()), !cli.quiet);
            let done = render::render(&input, &output, &options);
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Demo { mri: Some(mri), reference, out, .. } => {
            let spinner = progress::spinner("MRI: brain mask, surface, pictures", !cli.quiet);
            let done = demo::run_mri(&mri, reference.as_deref(), out.as_deref());
            spinner.finish_and_clear();
            print(&done?, cli.json)
        }
        Command::Demo { size, seed, out, segment_steps, .. } => {
            run_demo(size, seed, segment_steps, out.as_deref(), cli.json, cli.quiet)
        }
    }
}

fn run_segment(op: SegmentOp, quiet: bool, json: bool) -> Result<()> {
    match op {
        SegmentOp::Train { config, resume } => {
            let bar = progress::bar(1, "training", !quiet);
            let done = segment::train(&config, resume, |event| match event {
                Event::Step { step, total, loss, .. } => {
                    bar.set_length(*total as u64);
                    bar.set_position(*step as u64);
                    bar.set_message(format!("loss {loss:.4}"));
                }
                Event::Validation { step, dice } => {
                    let line = format!("step {step}: validation Dice {dice:.4?}");
                    if bar.is_hidden() { eprintln!("{line}") } else { bar.println(line) }
                }
            });
            bar.finish_and_clear();
            print(&done?, json)
        }
        SegmentOp::Predict {
            model,
            input,
            output,
            overlap,
            tta,
            probabilities,
            reference,
            label_threshold,
        } => {
            let spinner = progress::spinner(&format!("segmenting {}", input.display()), !quiet);
            let options = segment::PredictOptions {
                overlap,
                tta,
                probabilities,
                reference: reference.map(|r| (r, label_threshold)),
            };
            let done = segment::predict(&model, &input, &output, &options);
            spinner.finish_and_clear();
            print(&done?, json)
        }
    }
}

fn run_ct(op: CtOp, quiet: bool, json: bool) -> Result<()> {
    let report = match op {
        CtOp::Astra { scan } => return print(&ct::astra_vectors(&scan)?, json),
        CtOp::Phantom { scan, output, random, seed } => ct::phantom(&scan, &output, random, seed)?,
        CtOp::Project { scan, output, image, random, scale, photons, seed } => {
            let options = ct::ProjectOptions { image, random, scale, photons, seed };
            let spinner = progress::spinner("projecting", !quiet);
            let done = ct::project(&scan, &output, &options);
            spinner.finish_and_clear();
            done?
        }
        CtOp::Reconstruct {
            projections,
            output,
            scan,
            method,
            iterations,
            lambda,
            filter,
            cutoff,
            scale,
            reference,
            model,
            device,
        } => {
            let window = hounsfield_ct::RampWindow::from_name(&filter)?;
            let device = hounsfield_ct::Device::from_name(&device)?;
            let options = ct::ReconstructOptions {
                scan,
                method,
                iterations,
                lambda,
                window,
                cutoff,
                reference,
                scale,
                model,
                device,
            };
            let steps = if method == ct::Method::Fbp { 1 } else { iterations as u64 };
            let bar = progress::bar(steps, &format!("{method:?}"), !quiet);
            let done = ct::reconstruct(&projections, &output, &options, &mut |p| {
                bar.set_position(p.iteration as u64);
                bar.set_message(format!("{method:?} residual {:.3e}", p.residual));
                hounsfield_ct::iterative::Control::Continue
            });
            bar.finish_and_clear();
            done?
        }
        CtOp::Learn { config } => {
            let bar = progress::bar(1, "training", !quiet);
            // Off a terminal (logs of long runs) a line every 100 steps instead of the bar.
            let log = !quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
            let done = ct_learn::learn(&config, |s| {
                bar.set_length(s.total as u64);
                bar.set_position(s.step as u64);
                bar.set_message(format!("loss {:.3e}", s.loss.total));
                if log && s.step % 100 == 0 {
                    eprintln!("step {}/{}: loss {:.4e}", s.step, s.total, s.loss.total);
                }
            });
            bar.finish_and_clear();
            return print(&done?, json);
        }
    };
    print(&report, json)
}

/// Writes to standard output; a closed pipe (`hounsfield ... | head`) ends the output quietly
/// instead of panicking as `println!` would.
fn emit(text: &str) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Prints a report as pretty JSON or as its text form.
fn print<T: Serialize + Display>(report: &T, json: bool) -> Result<()> {
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(report)?))
    } else {
        emit(&report.to_string())
    }
}

fn run_demo(
    size: usize,
    seed: u64,
    segment_steps: usize,
    out: Option<&std::path::Path>,
    json: bool,
    quiet: bool,
) -> Result<()> {
    let stages = demo::stages();
    let spinner = progress::spinner("CT: phantom, projections, FDK, FISTA-TV", !quiet);
    let ct = demo::run_ct(size, seed, out);
    spinner.finish_and_clear();
    let output = ct?;
    let spinner = progress::spinner("NIfTI round trip and filters", !quiet);
    let filtered = demo::run_filter(&output, out);
    spinner.finish_and_clear();
    let filtered = filtered?;
    if segment_steps == 0 {
        bail!("--segment-steps must be at least 1");
    }
    let bar = progress::bar(segment_steps as u64, "segment: U-Net training", !quiet);
    let segmented =
        demo_segment::run_segment(&output, seed, demo::SEGMENT_HEADS, segment_steps, |step, _| {
            bar.set_position(step as u64)
        });
    bar.finish_and_clear();
    let (segmented, labels) = segmented?;
    if let Some(dir) = out {
        nifti::write_nifti(dir.join("unet_labels.nii.gz"), &NiftiImage::from_volume(labels))?;
    }
    let spinner = progress::spinner("mesh: head surface", !quiet);
    let mesh = demo::run_mesh(&output, out);
    spinner.finish_and_clear();
    let (mesh, surface) = mesh?;
    let spinner = progress::spinner("render: montage, MIP, DVR, mesh", !quiet);
    let pictures = demo::run_render(&output, &surface, out);
    spinner.finish_and_clear();
    let (ct, pictures) = (output.results, pictures?);
    let report = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "size": size,
        "seed": seed,
        "stages": stages,
        "results": { "ct": ct, "filter": filtered, "segment": segmented, "mesh": mesh, "render": pictures },
    });
    let text = demo_text(&stages, &ct, &filtered, &segmented, &mesh, &pictures, out.is_some());
    if let Some(dir) = out {
        let json_text = serde_json::to_string_pretty(&report)?;
        hounsfield_core::fs::write_bytes_atomic(&dir.join("report.json"), json_text.as_bytes())?;
        let md = format!(
            "# Hounsfield demo report\n\n```text\n{text}```\n\n![montage](montage.png) ![MIP](mip.png) \
             ![volume rendering](dvr.png) ![mesh](mesh.png)\n"
        );
        hounsfield_core::fs::write_bytes_atomic(&dir.join("report.md"), md.as_bytes())?;
    }
    if json {
        emit(&format!("{}\n", serde_json::to_string_pretty(&report)?))?;
    } else {
        emit(&text)?;
        if let Some(dir) = out {
            emit(&format!("Report: {} and report.json\n", dir.join("report.md").display()))?;
        }
    }
    Ok(())
}

/// The demo's human-readable report.
fn demo_text(
    stages: &[demo::Stage],
    ct: &demo::CtResults,
    filtered: &demo::FilterResults,
    segmented: &demo_segment::SegmentResults,
    mesh: &demo::MeshResults,
    pictures: &demo::RenderResults,
    written: bool,
) -> String {
    use std::fmt::Write as _;
    let mut t = String::new();
    let _ = writeln!(
        t,
        "Hounsfield {} demo: phantom -> CT -> filtering -> segmentation -> mesh -> pictures\n",
        env!("CARGO_PKG_VERSION")
    );
    for s in stages {
        let state = if s.available { "ran" } else { "not built yet" };
        let _ = writeln!(t, "  {:<10} {:<18} {:<62} {state}", s.name, s.crate_name, s.description);
    }
    let _ = writeln!(
        t,
        "\nCT: {0}^3 Shepp-Logan, {1} cone-beam views, {2:.0e} photons (seed {3})",
        ct.size, ct.views, ct.photons, ct.seed
    );
    let _ = writeln!(t, "  FDK       PSNR {:6.2} dB  SSIM {:.4}", ct.fdk_psnr_db, ct.fdk_ssim);
    let _ = writeln!(
        t,
        "  FISTA-TV  PSNR {:6.2} dB  SSIM {:.4}  ({} iterations)",
        ct.fista_tv_psnr_db, ct.fista_tv_ssim, ct.fista_tv_iterations
    );
    let [a, b, c, d] = ct.seconds;
    let _ = writeln!(t, "  seconds: phantom {a:.2}, noise {b:.2}, FDK {c:.2}, FISTA-TV {d:.2}");
    let f = filtered;
    let _ = writeln!(
        t,
        "NIfTI round trip: max difference {}; diffusion on FDK: noise (brain SD) {:.4} -> \
         {:.4}, PSNR {:.2} -> {:.2} dB; resampled to 2 mm: {:?} voxels ({:.2} s)",
        f.nifti_round_trip_max_difference,
        f.fdk_brain_sd,
        f.fdk_smoothed_brain_sd,
        f.fdk_psnr_db,
        f.fdk_smoothed_psnr_db,
        f.resampled_size,
        f.seconds
    );
    let g = segmented;
    let [a, b, c] = g.seconds;
    let _ = writeln!(
        t,
        "Segmentation: 3D U-Net trained on FDK volumes of {} random heads ({} steps, loss {:.3}), \
         applied to the unseen Shepp-Logan FDK volume: Dice brain {:.4}, skull {:.4} \
         (seconds: data {a:.1}, training {b:.1}, inference {c:.2})",
        g.training_heads, g.steps, g.final_loss, g.dice_brain, g.dice_skull
    );
    let _ = writeln!(
        t,
        "Mesh: head surface at {} of the FISTA-TV volume: {} triangles, {:.0} mm², {:.0} mm³ \
         ({:+.2}% against the phantom's), watertight {}, Euler characteristic {} ({:.2} s)",
        mesh.level,
        mesh.triangles,
        mesh.area_mm2,
        mesh.volume_mm3,
        mesh.volume_difference_percent,
        mesh.watertight,
        mesh.euler_characteristic,
        mesh.seconds
    );
    let state = if written { "written" } else { "drawn (add --out DIR to keep them)" };
    let _ =
        writeln!(t, "Render: {} {state} ({:.2} s)", pictures.pictures.join(", "), pictures.seconds);
    let ready = stages.iter().filter(|s| s.available).count();
    if ready < stages.len() {
        let _ = writeln!(
            t,
            "\n{ready} of {} stages are built; the others report nothing.",
            stages.len()
        );
    }
    t
}
