//! The command line as clap sees it: every subcommand, option and value set, with typed values
//! (clap `ValueEnum`s) so that a misspelt name is a usage error listing the choices, never a
//! silent default.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use hounsfield_cli::{ct, demo, filter, render};
use hounsfield_core::WindowPreset;
use hounsfield_ct::{Device, RampWindow};
use hounsfield_filter::{Connectivity, Element3, Interpolation, Window};

#[derive(Parser)]
#[command(
    name = "hounsfield",
    version,
    about = "Medical 3D imaging from the shell: DICOM and NIfTI, filtering, CT reconstruction, \
             segmentation, meshing and rendering",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Print machine-readable JSON on standard output instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Never draw progress bars (they are already hidden when standard error is not a terminal).
    #[arg(long, global = true)]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Describe an image (size, type, spacing, orientation, value range), or list the series of
    /// a DICOM directory.
    Info {
        /// A NIfTI file (.nii, .nii.gz, .hdr/.img), a DICOM file, a directory of DICOM files, or
        /// an OME-Zarr store (Zarr v3 or v2).
        input: PathBuf,
        #[command(flatten)]
        zarr: ZarrArgs,
    },
    /// Convert a DICOM series, DICOM file, NIfTI file or OME-Zarr store to NIfTI (.nii or
    /// .nii.gz) or OME-Zarr (.zarr, optionally with a --pyramid), atomically.
    Convert {
        /// A DICOM directory, DICOM file, NIfTI file or OME-Zarr store (Zarr v3 or v2).
        input: PathBuf,
        /// The file to write, ending in .nii, .nii.gz or .zarr.
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
        #[command(flatten)]
        zarr: ZarrArgs,
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
    /// Receive DICOM from scanners and PACS (C-ECHO, C-STORE) into a study store: instances
    /// written atomically by study/series/instance UID, a re-sent instance with the same bytes
    /// accepted once, one with other bytes kept under conflicts/ and reported to its sender, an
    /// index (index.jsonl) rebuilt from the files when missing. Runs until interrupted.
    Serve {
        /// The store directory (created if missing).
        #[arg(long)]
        store: PathBuf,
        /// DICOM port (C-STORE/C-ECHO; 0: any free port, printed).
        #[arg(long, default_value_t = 11112)]
        dicom_port: u16,
        /// Address to listen on. Anything but loopback needs --allow: an open port on a
        /// network must name the senders it accepts.
        #[arg(long, default_value = "127.0.0.1", value_parser = parse_bind)]
        bind: std::net::IpAddr,
        /// This receiver's AE title (associations calling another title are rejected).
        #[arg(long, default_value = "HOUNSFIELD")]
        ae: String,
        /// Calling AE titles allowed to send (repeat or comma-separate); others are rejected.
        /// Without it, any caller is accepted (loopback only).
        #[arg(long, value_delimiter = ',')]
        allow: Vec<String>,
        /// Associations served at once; more are rejected as "local limit exceeded".
        #[arg(long, default_value_t = 32)]
        max_associations: usize,
        /// The largest instance accepted, in MiB.
        #[arg(long, default_value_t = 4096)]
        max_instance_mib: u64,
        /// Seconds a silent sender is waited for before its association is dropped.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// HTTP port of the web page and API (0: any free port, printed).
        #[arg(long, default_value_t = 8042)]
        http_port: u16,
        /// Serve no page or API: the DICOM receiver alone.
        #[arg(long)]
        no_http: bool,
        /// Token the HTTP API requires (`?token=` or `Authorization: Bearer`). Bound beyond
        /// loopback, one is made up and printed when not given.
        #[arg(long)]
        token: Option<String>,
        /// The largest upload (STOW-RS request) in MiB.
        #[arg(long, default_value_t = 1024)]
        max_upload_mib: usize,
        /// Store the DICOM files under these directories first (as uploads are stored:
        /// duplicates once, conflicts kept and reported), then serve.
        #[arg(long)]
        import: Vec<PathBuf>,
    },
    /// Filter, window, threshold or label a volume (NIfTI, DICOM or OME-Zarr in; NIfTI or
    /// OME-Zarr out). From a .zarr store to a .zarr store, gaussian, median, box-mean,
    /// gradient-magnitude, unsharp, window, resample (not --bspline), threshold, morphology (not
    /// fill-holes) and label run chunk by chunk within --memory.
    Filter {
        #[command(subcommand)]
        op: FilterOp,
        /// Memory budget of a chunked run (.zarr in and out), e.g. 512MiB or 2GiB: the chunks
        /// in flight are bounded by it (default 1GiB).
        #[arg(long, global = true, value_parser = hounsfield_cli::filter_chunked::parse_memory)]
        memory: Option<u64>,
        #[command(flatten)]
        zarr: ZarrArgs,
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
    /// 3D shape from 2D images (docs/SHAPE.md): the procedural shape family seen from a ring of
    /// cameras, and the baselines a network must beat.
    Shape {
        #[command(subcommand)]
        op: ShapeOp,
    },
    /// Surfaces and their views: render a surface from several cameras (mask, normals, colour,
    /// depth), reconstruct it from its views (visual hull), compare two surfaces.
    Surface {
        #[command(subcommand)]
        op: SurfaceOp,
    },
    /// The isosurface of a volume as a watertight mesh (STL, PLY or OBJ by extension), with its
    /// area, enclosed volume and topology.
    Mesh {
        /// NIfTI file, DICOM file or directory, or OME-Zarr store (isosurfaces of a store are
        /// extracted chunk by chunk, never holding the whole volume).
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
        /// with --sinc the order of the windowed-sinc filter (20 is typical). With --labels, the
        /// passes of the joint relaxation that keeps neighbours' shared boundaries (default 10).
        #[arg(long)]
        smooth: Option<usize>,
        /// Smooth with the windowed-sinc filter instead of Taubin's (not with --labels: each
        /// label smoothed alone would open gaps along the boundaries it shares).
        #[arg(long, requires = "smooth", conflicts_with = "labels")]
        sinc: bool,
        /// Decimate to this fraction of the triangles (quadric error, topology kept; not with
        /// --labels: each label decimated alone would no longer share its boundaries).
        #[arg(long, conflicts_with = "labels")]
        decimate: Option<f64>,
        /// Leave the surface open where it reaches the volume's edge (as VTK's marching cubes
        /// does) instead of closing it there (not with --labels, whose surfaces are always closed).
        #[arg(long, conflicts_with = "labels")]
        open: bool,
        #[command(flatten)]
        zarr: ZarrArgs,
    },
    /// A PNG of a volume (slice, montage, MIP, volume rendering; physical proportions) or of a
    /// mesh (.stl, .ply, .obj: shaded preview). Volumes are shown in the radiological
    /// convention whatever their storage order: reordered exactly onto LPS axes, so an axial
    /// picture has the patient's left on the right and anterior at the top.
    Render {
        /// NIfTI file, DICOM file or directory, or a mesh file.
        input: PathBuf,
        /// The .png to write.
        output: PathBuf,
        /// What to draw from a volume.
        #[arg(long, value_enum, default_value = "montage")]
        mode: render::Mode,
        /// Plane of slices, montages and axis MIPs.
        #[arg(long, value_enum, default_value = "axial")]
        plane: PlaneArg,
        /// Slice index for --mode slice (default: the middle), counted along the LPS axis
        /// normal to the plane (volumes are shown on LPS axes: see `hounsfield render --help`).
        #[arg(long)]
        slice: Option<usize>,
        /// Slices in a montage.
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u16).range(1..=256))]
        count: u16,
        /// Display window as LO,HI (default: 1st to 99th percentile).
        #[arg(long, value_parser = parse_range, allow_hyphen_values = true)]
        window: Option<(f64, f64)>,
        /// Volume-rendering preset (bone and soft-tissue take CT values in HU).
        #[arg(long, value_enum, default_value = "bone")]
        preset: DvrPreset,
        /// Camera azimuth in degrees (DVR, meshes; MIP with --oblique).
        #[arg(long, default_value_t = 30.0, allow_hyphen_values = true)]
        azimuth: f64,
        /// Camera elevation in degrees.
        #[arg(long, default_value_t = 20.0, allow_hyphen_values = true)]
        elevation: f64,
        /// Picture size in pixels for DVR, oblique MIP and meshes.
        #[arg(long, default_value_t = 384, value_parser = clap::value_parser!(u16).range(16..=8192))]
        size: u16,
        /// MIP from the camera instead of along the plane's normal.
        #[arg(long)]
        oblique: bool,
        /// A label volume on the same grid (NIfTI or DICOM) to overlay on slices and montages.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
    /// Run the end-to-end demo and report what each stage measured.
    Demo {
        /// Edge of the phantom volume in voxels.
        #[arg(long, default_value_t = 48, conflicts_with_all = ["mri", "ct"])]
        size: usize,
        /// Seed of the simulated noise.
        #[arg(long, default_value_t = 1, conflicts_with_all = ["mri", "ct"])]
        seed: u64,
        /// Write the phantom and reconstructions as NIfTI into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run the real-data path instead, on this T1 brain MRI (NIfTI): brain mask, surface,
        /// pictures.
        #[arg(long, conflicts_with = "ct")]
        mri: Option<PathBuf>,
        /// Run the real-CT path instead, on this CT in HU (NIfTI or DICOM): a montage with the
        /// structures overlaid, bone rendered at full resolution, every structure's surface in
        /// one coloured PLY/GLB and its picture. Without --labels the structures are classical
        /// (lungs; everything >= 250 HU).
        #[arg(long)]
        ct: Option<PathBuf>,
        /// With --ct: a label file on the CT's grid; each label value is a structure, unless
        /// --classes groups them.
        #[arg(long, requires = "ct")]
        labels: Option<PathBuf>,
        /// With --labels: a TOML file whose `classes` table (top level or under [data], as in a
        /// segmentation configuration) names groups of label values, e.g.
        /// benches/demo/chest_ct_classes.toml for TotalSegmentator's labels.
        #[arg(long, requires = "labels")]
        classes: Option<PathBuf>,
        /// With --mri: a reference brain mask (non-zero = brain) to score the mask with Dice.
        #[arg(long, requires = "mri", conflicts_with = "ct")]
        reference: Option<PathBuf>,
        /// Training steps of the segmentation stage's U-Net.
        #[arg(long, default_value_t = demo::SEGMENT_STEPS, conflicts_with_all = ["mri", "ct"])]
        segment_steps: usize,
    },
}

/// `hounsfield shape` operations.
#[derive(Subcommand)]
pub(crate) enum ShapeOp {
    /// IoU of silhouette extrusion (first view), the visual hull (all views) and retrieval of
    /// the training shape with the nearest silhouettes, on held-out shapes of the family's six
    /// trained classes and of its held-out class.
    Baselines {
        /// Training shapes per trained class (the retrieval set).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        train_per_class: u32,
        /// Held-out shapes of the trained classes, spread over them.
        #[arg(long, default_value_t = 504, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        test: u32,
        /// Held-out shapes of the held-out class.
        #[arg(long, default_value_t = 84, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        test_held_out_class: u32,
        /// Views per shape, evenly spaced on a ring.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        views: u16,
        /// Picture side in pixels.
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(8..=1024))]
        size: u16,
        /// Occupancy grid side in voxels.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(8..=256))]
        resolution: u16,
        /// Elevation of the ring of cameras, degrees.
        #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
        elevation: f64,
    },
    /// Train a shape-from-images network (encoder-decoder or VAE) on the procedural family,
    /// from a TOML configuration (benches/shape/); validation IoU lines as it goes.
    Train {
        /// The configuration file.
        config: PathBuf,
        /// Continue from the configuration's output file (its network must match).
        #[arg(long)]
        resume: bool,
    },
    /// The table of docs/SHAPE.md for a trained model: IoU at 0.5, Chamfer-L1 and F-score at
    /// 1% from one and three views on the held-out shapes, beside silhouette extrusion, the
    /// visual hull and retrieval from the same views, measured in the same run.
    Eval {
        /// The model file.
        model: PathBuf,
        /// Held-out shapes of the trained classes, spread over them.
        #[arg(long, default_value_t = 504, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        test: u32,
        /// Held-out shapes of the held-out class.
        #[arg(long, default_value_t = 84, value_parser = clap::value_parser!(u32).range(0..=100_000))]
        test_held_out_class: u32,
        /// Retrieval set: training shapes per class (default: the model's own training set).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        retrieval_per_class: Option<u32>,
    },
    /// One shape of the family seen by the ring's four cameras as the networks see it:
    /// view{k}_shaded.png, view{k}_depth.png (16-bit), view{k}_mask.png, shape.ply and
    /// occupancy.nii.gz; inputs for `shape predict`.
    Views {
        /// The class (chair, table, lamp, mug, airplane, bottle, dumbbell).
        class: String,
        /// The shape's seed (held-out shapes use seeds from 4294967296).
        seed: u64,
        /// Output folder.
        dir: PathBuf,
        /// Picture side in pixels (the model's).
        #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(8..=256))]
        size: u16,
        /// Elevation of the ring, degrees (the model's).
        #[arg(long, default_value_t = 20.0, allow_negative_numbers = true)]
        elevation: f64,
        /// Occupancy grid side.
        #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(8..=256))]
        resolution: u16,
    },
    /// Occupancy (NIfTI, probabilities on the unit cube) from 1-4 view pictures of the ring
    /// cameras: shaded or silhouette PNGs, or 16-bit depth PNGs, as the model was trained.
    Predict {
        /// The model file.
        model: PathBuf,
        /// View pictures, then the output .nii.gz.
        #[arg(num_args = 2.., required = true)]
        files: Vec<PathBuf>,
        /// The ring camera (0-3: azimuth 0, 90, 180, 270) of each view; default 0, 1, 2...
        #[arg(long, value_delimiter = ',')]
        cameras: Option<Vec<usize>>,
        /// Also write the surface at 0.5 (PLY, STL, OBJ or GLB by extension).
        #[arg(long)]
        mesh: Option<PathBuf>,
        /// A reference occupancy (NIfTI of the same grid, e.g. from `shape views`): print IoU.
        #[arg(long)]
        reference: Option<PathBuf>,
    },
    /// Shapes from a variational model's prior (z ~ N(0, I)), or a latent interpolation:
    /// sample_NNN.nii.gz (occupancy probabilities on the unit cube) and sample_NNN.ply.
    Sample {
        /// The model file (trained with variational = true).
        model: PathBuf,
        /// Output folder (created if missing).
        dir: PathBuf,
        /// Shapes to write (with --interpolate: steps from one draw to another, ends included).
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=1000))]
        count: u16,
        /// Seed of the latents.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Evenly spaced latents between two draws instead of independent draws.
        #[arg(long)]
        interpolate: bool,
    },
}

/// `hounsfield ct` operations.
#[derive(Subcommand)]
pub(crate) enum CtOp {
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
        /// A random head instead (3D: a skull shell around soft-tissue blobs, as `ct learn`'s
        /// `phantoms = "heads"`); --random sets its blob count (default 8).
        #[arg(long)]
        head: bool,
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
        /// With no image: a random head instead (3D; --random sets its blob count, default 8).
        #[arg(long, conflicts_with = "image")]
        head: bool,
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
        /// FBP filter window (apodisation of the ramp).
        #[arg(long, value_enum, default_value = "ram-lak")]
        filter: RampWindowArg,
        /// FBP cut-off frequency as a fraction of Nyquist.
        #[arg(long, default_value_t = 1.0)]
        cutoff: f64,
        /// Divide the result by this (the --scale given to project).
        #[arg(long, default_value_t = 1.0)]
        scale: f32,
        /// Reference image on the scan's grid (NIfTI or DICOM): report PSNR and SSIM against it.
        #[arg(long)]
        reference: Option<PathBuf>,
        /// Trained model for --method fbpconvnet or lpd (from `ct learn`).
        #[arg(long)]
        model: Option<PathBuf>,
        /// cpu, cuda or cuda:N: where FBP/FDK back-projects and iterative methods project
        /// (a GPU needs a build with `--features cuda`).
        #[arg(long, default_value = "cpu", value_parser = parse_device)]
        device: Device,
    },
    /// Train a learned reconstruction (FBPConvNet or Learned Primal-Dual) on simulated data
    /// described by a TOML file; scores it on held-out phantoms beside FBP (and FISTA-TV).
    Learn {
        /// Configuration (TOML; see docs/NN.md).
        config: PathBuf,
    },
}

/// `hounsfield filter` operations: each reads INPUT's first volume (NIfTI, DICOM or OME-Zarr)
/// and writes OUTPUT (.nii, .nii.gz or .zarr).
#[derive(Subcommand)]
pub(crate) enum FilterOp {
    /// Gaussian smoothing (scipy's kernel, truncated at 4 sigma, reflecting edges; or the
    /// recursive Deriche filter, whose cost does not grow with sigma).
    Gaussian {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Standard deviation in mm.
        #[arg(long)]
        sigma: f64,
        /// Use the recursive (IIR) filter.
        #[arg(long)]
        recursive: bool,
    },
    /// A display window onto 0..1: a CT preset, or --level and --width.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["preset", "level"])))]
    Window {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// A CT window preset.
        #[arg(long, value_enum, conflicts_with_all = ["level", "width"])]
        preset: Option<WindowPresetArg>,
        /// Window centre.
        #[arg(long, requires = "width", allow_hyphen_values = true)]
        level: Option<f64>,
        /// Window width.
        #[arg(long, requires = "level")]
        width: Option<f64>,
    },
    /// A 0/1 mask: above an automatic threshold (--otsu, --li, --triangle) or within --lo..--hi.
    #[command(group(
        clap::ArgGroup::new("how").required(true).multiple(true).args(["otsu", "li", "triangle", "lo", "hi"])
    ))]
    Threshold {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
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
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
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
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Smoothing sigma in mm.
        #[arg(long)]
        sigma: Option<f64>,
    },
    /// Unsharp masking: v + amount (v - gaussian(v, sigma)).
    Unsharp {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
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
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Radius in mm.
        #[arg(long, default_value_t = 1.0)]
        radius: f64,
    },
    /// Binary morphology of the non-zero voxels: dilate, erode, open, close (ball or box of
    /// --radius mm) or fill-holes.
    Morphology {
        /// The operation.
        #[arg(value_enum)]
        op: filter::MorphologyOp,
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Structuring element radius in mm.
        #[arg(long, default_value_t = 1.0)]
        radius: f64,
        /// The structuring element.
        #[arg(long, value_enum, default_value = "ball")]
        element: ElementArg,
    },
    /// Crop to --size voxels starting at index --min (x,y,z each).
    Crop {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// First voxel kept, x,y,z.
        #[arg(long, value_parser = parse_xyz::<usize>)]
        min: [usize; 3],
        /// Voxels kept, x,y,z.
        #[arg(long, value_parser = parse_xyz::<usize>)]
        size: [usize; 3],
    },
    /// Pad with --value: --before and --after voxels per axis (x,y,z each).
    Pad {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Voxels before index 0, x,y,z.
        #[arg(long, value_parser = parse_xyz::<usize>)]
        before: [usize; 3],
        /// Voxels after the last, x,y,z.
        #[arg(long, value_parser = parse_xyz::<usize>)]
        after: [usize; 3],
        /// The padding value.
        #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
        value: f32,
    },
    /// Reverse the index order along the axes named (x, y and/or z).
    Flip {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Axes to flip, for example x,z.
        #[arg(long, value_delimiter = ',', value_enum, required = true)]
        axes: Vec<Axis>,
    },
    /// Mean over a box of --radius voxels (one value, or x,y,z).
    BoxMean {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Radius in voxels (one value, or x,y,z), at most 100.
        #[arg(long, value_parser = parse_radius)]
        radius: [usize; 3],
    },
    /// Intensity normalisation: zscore, rescale (onto 0..1) or percentile (1st..99th onto 0..1).
    Normalize {
        /// The normalisation.
        #[arg(value_enum)]
        method: filter::NormalizeMethod,
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
    },
    /// Map the histogram onto a reference volume's.
    MatchHistogram {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// The reference volume (NIfTI or DICOM).
        #[arg(long)]
        reference: PathBuf,
    },
    /// Reorient to an orientation code (axes permuted and flipped; voxels untouched).
    Reorient {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// Target orientation, nibabel's "points to" letters: RAS, LPS, LAS...
        #[arg(long, default_value = "RAS", value_parser = parse_orientation)]
        to: String,
    },
    /// Resample to a new spacing over the same physical extent (trilinear, or --nearest).
    Resample {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// New spacing in mm: one value for all axes, or x,y,z.
        #[arg(long, value_parser = parse_spacing)]
        spacing: [f64; 3],
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
        /// Turn the output grid about a patient axis through the volume's centre: AXIS:DEGREES
        /// with AXIS one of x, y, z (LPS, right-handed), e.g. z:15. The anatomy is unchanged
        /// in space and appears turned within the array (a tilted scan): the output box keeps
        /// the input's extent, so anatomy in its corners is cut, and the corners it reaches
        /// beyond the input get the input's minimum; not chunked.
        #[arg(long, value_parser = parse_turn)]
        turn: Option<(usize, f64)>,
    },
    /// Connected components of the non-zero voxels, numbered by decreasing size.
    Label {
        /// Volume to read: NIfTI file, DICOM file or directory, or OME-Zarr store.
        input: PathBuf,
        /// NIfTI file (.nii, .nii.gz) or OME-Zarr store (.zarr) to write.
        output: PathBuf,
        /// 6 (faces), 18 (and edges) or 26 (and corners).
        #[arg(long, value_enum, default_value = "6")]
        connectivity: ConnectivityArg,
        /// Write only the largest component, as a 0/1 mask.
        #[arg(long)]
        largest: bool,
    },
}

impl FilterOp {
    pub(crate) fn parts(self) -> Result<(PathBuf, PathBuf, filter::Operation)> {
        use filter::Operation;
        Ok(match self {
            FilterOp::Gaussian { input, output, sigma, recursive } => {
                (input, output, Operation::Gaussian { sigma_mm: sigma, recursive })
            }
            FilterOp::Window { input, output, preset, level, width } => {
                let window = match (preset, level, width) {
                    (Some(p), _, _) => p.preset().window(),
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
                    (None, lo, hi) => {
                        let (lo, hi) =
                            (lo.unwrap_or(f64::NEG_INFINITY), hi.unwrap_or(f64::INFINITY));
                        if lo > hi {
                            bail!(
                                "threshold --lo {lo} is above --hi {hi}: the mask would be empty"
                            );
                        }
                        Operation::Threshold { lo, hi }
                    }
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
            FilterOp::Morphology { op, input, output, radius, element } => (
                input,
                output,
                Operation::Morphology { op, radius_mm: radius, element: element.into() },
            ),
            FilterOp::Crop { input, output, min, size } => {
                (input, output, Operation::Crop { min, size })
            }
            FilterOp::Pad { input, output, before, after, value } => {
                (input, output, Operation::Pad { before, after, value })
            }
            FilterOp::Flip { input, output, axes } => {
                let axes = [Axis::X, Axis::Y, Axis::Z].map(|a| axes.contains(&a));
                (input, output, Operation::Flip { axes })
            }
            FilterOp::BoxMean { input, output, radius } => {
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
            FilterOp::Resample {
                input,
                output,
                spacing,
                nearest,
                bspline,
                lanczos,
                antialias,
                turn,
            } => {
                let spacing_mm = spacing;
                let interpolation = match (nearest, bspline, lanczos) {
                    (true, _, _) => Interpolation::Nearest,
                    (_, true, _) => Interpolation::BSpline3,
                    (_, _, true) => Interpolation::Lanczos3,
                    _ => Interpolation::Linear,
                };
                (input, output, Operation::Resample { spacing_mm, interpolation, antialias, turn })
            }
            FilterOp::Label { input, output, connectivity, largest } => {
                (input, output, Operation::Label { connectivity: connectivity.into(), largest })
            }
        })
    }
}

#[derive(Subcommand)]
pub(crate) enum SegmentOp {
    /// Train a U-Net as a configuration file says; the model is saved (safetensors, resumable)
    /// after every validation.
    Train {
        /// TOML or JSON configuration.
        config: PathBuf,
        /// Continue from the model file the configuration names (optimiser state included).
        #[arg(long)]
        resume: bool,
    },
    /// Show the training plan a configuration leads to (with `plan = true`: patch, batch,
    /// 2D/3D, widths and mirroring derived from the data, as nnU-Net does), without training.
    Plan {
        /// TOML or JSON configuration.
        config: PathBuf,
    },
    /// Segment a volume with a trained model (sliding windows, Gaussian blending); labels (u8)
    /// or probabilities (f32) in the input's geometry.
    Predict {
        /// A model written by `segment train`.
        model: PathBuf,
        /// Image to segment: NIfTI file, DICOM file or DICOM directory.
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

#[derive(Subcommand)]
pub(crate) enum SurfaceOp {
    /// Render a surface from cameras around it: per view a silhouette, world-frame normals,
    /// shaded colour and 16-bit depth (PNG), plus views.json (the cameras), a contact sheet and
    /// the rendered surface as reference.ply.
    Views {
        /// A mesh (.stl, .ply, .obj), or a volume (NIfTI, DICOM) with --level or --labels.
        input: PathBuf,
        /// Directory to write the views into (created if missing).
        dir: PathBuf,
        /// Number of views: 6 is Wonder3D's preset (front, front-right, right, back, left,
        /// front-left); other counts are spread evenly in azimuth.
        #[arg(long, default_value_t = 6)]
        views: usize,
        /// Picture side in pixels.
        #[arg(long, default_value_t = 256)]
        size: usize,
        /// Camera elevation in degrees.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        elevation: f64,
        /// Pinhole cameras with this full field of view in degrees (orthographic otherwise).
        #[arg(long)]
        perspective: Option<f64>,
        /// For a volume: the surface of values >= LEVEL.
        #[arg(long, conflicts_with = "labels", allow_negative_numbers = true)]
        level: Option<f64>,
        /// For a volume: one surface per non-zero label, each in its overlay colour.
        #[arg(long)]
        labels: bool,
    },
    /// Reconstruct a surface from a views directory: an SDF fitted to the silhouettes and
    /// normal maps by NeuS volume rendering, started from the visual hull (or, with --hull-only,
    /// the hull itself); compared with the directory's reference.ply when it is there.
    Fit {
        /// A directory written by `surface views` (views.json and the silhouettes).
        dir: PathBuf,
        /// The mesh to write: .ply, .obj or .glb carry the vertex colours taken from the
        /// views; .stl holds the shape only.
        output: PathBuf,
        /// Only the visual hull (no optimisation).
        #[arg(long)]
        hull_only: bool,
        /// Voxels along each side of the reconstruction cube (the fit's finest level).
        #[arg(long, default_value_t = 128)]
        resolution: usize,
        /// Optimisation steps of the SDF fit.
        #[arg(long, default_value_t = 2000)]
        steps: usize,
        /// Fraction of each batch's normal errors the ranking loss ignores (0 turns it off).
        #[arg(long, default_value_t = 0.2)]
        ranking: f64,
        /// Fit the depth maps too (renders have them; views generated from one image do not).
        #[arg(long, conflicts_with = "hull_only")]
        depth: bool,
        #[command(flatten)]
        tuning: FitTuning,
        /// Compare with this closed mesh instead of the directory's reference.ply.
        #[arg(long, conflicts_with = "no_reference")]
        reference: Option<PathBuf>,
        /// Compare with nothing.
        #[arg(long)]
        no_reference: bool,
        /// Points sampled on each surface for the comparison.
        #[arg(long, default_value_t = 100_000)]
        samples: usize,
        /// Keep the connected parts of the result that no view sees (by default they are
        /// dropped: debris in pockets no camera looks into).
        #[arg(long)]
        keep_unseen: bool,
    },
    /// Write a test solid of the concave suite (dents, notches, grooves, steps; exact signed
    /// distances meshed by marching cubes): `list` prints the names.
    Shape {
        /// The solid's name, or `list`.
        name: String,
        /// The mesh to write (.stl, .ply, .obj); not needed for `list`.
        output: Option<PathBuf>,
        /// Sampling voxel in mm (the solids are about 40 mm across).
        #[arg(long, default_value_t = 0.4)]
        voxel: f64,
    },
    /// Compare a closed mesh with a reference: volume IoU and error, Chamfer-L1, mean surface
    /// distance, HD95, F-score at 1% of the reference's size, normal consistency.
    Compare {
        /// The reference mesh.
        reference: PathBuf,
        /// The mesh to score.
        test: PathBuf,
        /// Points sampled on each surface.
        #[arg(long, default_value_t = 100_000)]
        samples: usize,
    },
}

/// `x,y,z`: exactly three values.
fn parse_xyz<T: std::str::FromStr + Copy>(text: &str) -> Result<[T; 3], String> {
    let values: Vec<T> = text
        .split(',')
        .map(|v| v.trim().parse().map_err(|_| format!("{v:?} is not a number")))
        .collect::<Result<_, _>>()?;
    match values.as_slice() {
        [x, y, z] => Ok([*x, *y, *z]),
        _ => Err(format!("expected three values x,y,z, found {}", values.len())),
    }
}

/// One value for every axis, or `x,y,z`.
fn parse_one_or_three<T: std::str::FromStr + Copy>(text: &str) -> Result<[T; 3], String> {
    if text.contains(',') {
        parse_xyz(text)
    } else {
        let v = text.trim().parse().map_err(|_| format!("{text:?} is not a number"))?;
        Ok([v; 3])
    }
}

/// A spacing in mm: finite and > 0, one value or `x,y,z`.
fn parse_turn(text: &str) -> std::result::Result<(usize, f64), String> {
    let (axis, degrees) = text.split_once(':').ok_or("expected AXIS:DEGREES, e.g. z:15")?;
    let axis = match axis.trim() {
        "x" => 0,
        "y" => 1,
        "z" => 2,
        other => return Err(format!("axis {other:?} is not x, y or z")),
    };
    let degrees: f64 = degrees.trim().parse().map_err(|e| format!("angle {degrees:?}: {e}"))?;
    if !degrees.is_finite() {
        return Err(format!("angle {degrees} is not finite"));
    }
    Ok((axis, degrees))
}

fn parse_spacing(text: &str) -> Result<[f64; 3], String> {
    let s: [f64; 3] = parse_one_or_three(text)?;
    if s.iter().all(|v| v.is_finite() && *v > 0.0) {
        Ok(s)
    } else {
        Err(format!("spacings must be finite and > 0 mm, found {s:?}"))
    }
}

/// A box radius in voxels, at most 100 per axis.
fn parse_radius(text: &str) -> Result<[usize; 3], String> {
    let r: [usize; 3] = parse_one_or_three(text)?;
    if r.iter().all(|v| *v <= 100) { Ok(r) } else { Err(format!("{r:?} exceeds 100 voxels")) }
}

/// `lo,hi` with lo < hi, both finite.
fn parse_range(text: &str) -> Result<(f64, f64), String> {
    let parts: Vec<f64> = text
        .split(',')
        .map(|v| v.trim().parse::<f64>().map_err(|_| format!("{v:?} is not a number")))
        .collect::<Result<_, _>>()?;
    match parts.as_slice() {
        [lo, hi] if lo.is_finite() && hi.is_finite() && lo < hi => Ok((*lo, *hi)),
        [_, _] => Err(format!("expected finite LO < HI, found {text}")),
        _ => Err(format!("expected LO,HI, found {text:?}")),
    }
}

/// An orientation code of three distinct axes (RAS, LPS, LIP...).
/// OME-Zarr input level and orientation, output pyramid (global to the command's subcommands).
#[derive(Args, Clone, Debug)]
pub(crate) struct ZarrArgs {
    /// OME-Zarr input: the resolution level to read (0, the default, is full resolution).
    #[arg(long, global = true, default_value_t = 0)]
    zarr_level: usize,
    /// OME-Zarr input written by another tool: which way its x, y, z axes run (RAS, LPS...),
    /// which NGFF does not record; such a store is refused without it.
    #[arg(long, global = true, value_parser = parse_orientation)]
    orientation: Option<String>,
    /// OME-Zarr output: pyramid levels below full resolution, each half the level above.
    #[arg(long, global = true, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=16))]
    pyramid: u8,
    /// How pyramid levels are made: mean (the default for float volumes) or nearest (the
    /// default for integer volumes, which may be labels).
    #[arg(long, global = true)]
    downsample: Option<hounsfield_io::zarr::Downsample>,
}

impl ZarrArgs {
    pub(crate) fn io(&self) -> Result<hounsfield_cli::zarr_io::ZarrIo> {
        let orientation =
            self.orientation.as_deref().map(hounsfield_core::Orientation::from_code).transpose()?;
        Ok(hounsfield_cli::zarr_io::ZarrIo {
            read: hounsfield_io::zarr::ZarrRead { level: self.zarr_level, orientation },
            pyramid: usize::from(self.pyramid),
            downsample: self.downsample,
        })
    }
}

fn parse_orientation(text: &str) -> Result<String, String> {
    hounsfield_core::Orientation::from_code(text)
        .map(|_| text.to_ascii_uppercase())
        .map_err(|e| e.to_string())
}

/// A structuring element.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ElementArg {
    /// A ball of the radius (in mm, per axis spacing).
    Ball,
    /// A box of the radius.
    Box,
    /// The 6-neighbour cross, repeated to the radius.
    Cross,
}

impl From<ElementArg> for Element3 {
    fn from(e: ElementArg) -> Self {
        match e {
            ElementArg::Ball => Element3::Ball,
            ElementArg::Box => Element3::Box,
            ElementArg::Cross => Element3::Cross,
        }
    }
}

/// Voxel connectivity of components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum ConnectivityArg {
    /// Faces.
    #[value(name = "6")]
    Six,
    /// Faces and edges.
    #[value(name = "18")]
    Eighteen,
    /// Faces, edges and corners.
    #[value(name = "26")]
    TwentySix,
}

impl From<ConnectivityArg> for Connectivity {
    fn from(c: ConnectivityArg) -> Self {
        match c {
            ConnectivityArg::Six => Connectivity::Six,
            ConnectivityArg::Eighteen => Connectivity::Eighteen,
            ConnectivityArg::TwentySix => Connectivity::TwentySix,
        }
    }
}

/// An index axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Axis {
    /// Columns.
    X,
    /// Rows.
    Y,
    /// Slices.
    Z,
}

/// A CT window preset (core's [`WindowPreset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum WindowPresetArg {
    /// Level 40, width 80.
    Brain,
    /// Level 75, width 215.
    Subdural,
    /// Level 40, width 40.
    Stroke,
    /// Level 400, width 1800.
    Bone,
    /// Level -600, width 1500.
    Lung,
    /// Level 50, width 350 (mediastinum).
    SoftTissue,
    /// Level 40, width 400.
    Abdomen,
    /// Level 60, width 160.
    Liver,
}

impl WindowPresetArg {
    pub(crate) fn preset(self) -> WindowPreset {
        match self {
            WindowPresetArg::Brain => WindowPreset::Brain,
            WindowPresetArg::Subdural => WindowPreset::Subdural,
            WindowPresetArg::Stroke => WindowPreset::Stroke,
            WindowPresetArg::Bone => WindowPreset::Bone,
            WindowPresetArg::Lung => WindowPreset::Lung,
            WindowPresetArg::SoftTissue => WindowPreset::SoftTissue,
            WindowPresetArg::Abdomen => WindowPreset::Abdomen,
            WindowPresetArg::Liver => WindowPreset::Liver,
        }
    }
}

/// A plane of the index axes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum PlaneArg {
    /// (x, y) at fixed z.
    Axial,
    /// (x, z) at fixed y.
    Coronal,
    /// (y, z) at fixed x.
    Sagittal,
}

impl From<PlaneArg> for hounsfield_render::Plane {
    fn from(p: PlaneArg) -> Self {
        match p {
            PlaneArg::Axial => hounsfield_render::Plane::Axial,
            PlaneArg::Coronal => hounsfield_render::Plane::Coronal,
            PlaneArg::Sagittal => hounsfield_render::Plane::Sagittal,
        }
    }
}

/// A volume-rendering transfer function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DvrPreset {
    /// CT bone (HU).
    Bone,
    /// CT soft tissue (HU).
    SoftTissue,
    /// MR: the display window as a ramp.
    Mr,
}

impl DvrPreset {
    pub(crate) fn name(self) -> &'static str {
        match self {
            DvrPreset::Bone => "bone",
            DvrPreset::SoftTissue => "soft-tissue",
            DvrPreset::Mr => "mr",
        }
    }
}

/// An apodisation window of the FBP ramp filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum RampWindowArg {
    /// The plain ramp.
    RamLak,
    /// Ramp times sinc.
    SheppLogan,
    /// Ramp times cosine.
    Cosine,
    /// Ramp times Hamming.
    Hamming,
    /// Ramp times Hann.
    Hann,
}

impl From<RampWindowArg> for RampWindow {
    fn from(w: RampWindowArg) -> Self {
        match w {
            RampWindowArg::RamLak => RampWindow::RamLak,
            RampWindowArg::SheppLogan => RampWindow::SheppLogan,
            RampWindowArg::Cosine => RampWindow::Cosine,
            RampWindowArg::Hamming => RampWindow::Hamming,
            RampWindowArg::Hann => RampWindow::Hann,
        }
    }
}

/// `cpu`, `cuda` or `cuda:N`.
fn parse_device(name: &str) -> Result<Device, String> {
    Device::from_name(name).map_err(|e| e.to_string())
}

/// The SDF fit's optimiser settings; each defaults to `hounsfield_surface::FitOptions`'s.
#[derive(Args, Debug, Clone, Copy, Default)]
pub struct FitTuning {
    /// Rays per step [default: 4096].
    #[arg(long)]
    pub batch: Option<usize>,
    /// Adam step size in voxels of the current level [default: 0.15].
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// Weight of the silhouette (mask) loss [default: 1].
    #[arg(long)]
    pub mask_weight: Option<f64>,
    /// Weight of the normal loss [default: 5].
    #[arg(long)]
    pub normal_weight: Option<f64>,
    /// Weight of the depth loss, with --depth [default: 1].
    #[arg(long)]
    pub depth_weight: Option<f64>,
    /// Weight of the eikonal loss [default: 0.1].
    #[arg(long)]
    pub eikonal_weight: Option<f64>,
    /// Weight of the smoothness loss [default: 0.05].
    #[arg(long)]
    pub smooth_weight: Option<f64>,
    /// NeuS sharpness times the voxel side [default: 4].
    #[arg(long)]
    pub sharpness: Option<f64>,
    /// Seed of the ray sampling [default: 1].
    #[arg(long)]
    pub seed: Option<u64>,
    /// Let the surface grow beyond the visual hull (for silhouettes that may be too small).
    #[arg(long)]
    pub beyond_hull: bool,
}

impl FitTuning {
    /// `base` with the settings given on the command line.
    pub fn apply(&self, base: hounsfield_surface::FitOptions) -> hounsfield_surface::FitOptions {
        hounsfield_surface::FitOptions {
            batch: self.batch.unwrap_or(base.batch),
            learning_rate: self.learning_rate.unwrap_or(base.learning_rate),
            mask_weight: self.mask_weight.unwrap_or(base.mask_weight),
            normal_weight: self.normal_weight.unwrap_or(base.normal_weight),
            depth_weight: self.depth_weight.unwrap_or(base.depth_weight),
            eikonal_weight: self.eikonal_weight.unwrap_or(base.eikonal_weight),
            smooth_weight: self.smooth_weight.unwrap_or(base.smooth_weight),
            sharpness: self.sharpness.unwrap_or(base.sharpness),
            seed: self.seed.unwrap_or(base.seed),
            within_hull: base.within_hull && !self.beyond_hull,
            ..base
        }
    }
}

/// An address to listen on: an IP address, or `localhost` (127.0.0.1).
fn parse_bind(text: &str) -> Result<std::net::IpAddr, String> {
    if text.eq_ignore_ascii_case("localhost") {
        return Ok(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
    }
    text.parse().map_err(|_| format!("{text:?} is not an IP address (or `localhost`)"))
}
