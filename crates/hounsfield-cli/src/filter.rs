//! `hounsfield filter`: one operation of hounsfield-filter from a volume file to a NIfTI file or
//! OME-Zarr store, the whole volume in memory.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::Result;
use hounsfield_core::{DynVolume, Volume};
use hounsfield_filter::diffusion::{self, DiffusionOptions};
use hounsfield_filter::recursive;
use hounsfield_filter::{
    Boundary, Connectivity, Element3, GaussianOptions, Interpolation, ResampleOptions, Window,
    derivative, gaussian, intensity, label, morphology, rank, resample, reshape, threshold,
};
use hounsfield_io::OpenOptions;
use hounsfield_io::nifti::{self, NiftiImage};
use serde::Serialize;

use crate::zarr_io::ZarrIo;

/// Binary morphology operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MorphologyOp {
    /// Grow the foreground by the element.
    Dilate,
    /// Shrink it.
    Erode,
    /// Erode then dilate (removes specks).
    Open,
    /// Dilate then erode (closes gaps).
    Close,
    /// Fill background regions not connected to the border.
    FillHoles,
}

/// Intensity normalisations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NormalizeMethod {
    /// Subtract the mean, divide by the standard deviation.
    Zscore,
    /// The range onto 0..1.
    Rescale,
    /// The 1st..99th percentiles onto 0..1.
    Percentile,
}

/// One filtering operation and its parameters.
#[derive(Clone, Debug)]
pub enum Operation {
    /// Gaussian smoothing, sigma in mm.
    Gaussian {
        /// Standard deviation in mm.
        sigma_mm: f64,
        /// The recursive (IIR) filter instead of the FIR one.
        recursive: bool,
    },
    /// A display window onto 0..1, by preset name or level/width.
    Window(Window),
    /// An automatic threshold; foreground above it, as a 0/1 mask.
    Automatic(Automatic),
    /// A fixed threshold: 1 where lo <= v <= hi.
    Threshold {
        /// Lowest value inside.
        lo: f64,
        /// Highest value inside.
        hi: f64,
    },
    /// Perona-Malik anisotropic diffusion.
    Diffusion {
        /// Iterations.
        iterations: usize,
        /// Conductance (intensity per mm).
        conductance: f64,
    },
    /// Gradient magnitude per mm, after Gaussian smoothing of sigma mm when given.
    GradientMagnitude {
        /// Optional smoothing sigma in mm.
        sigma_mm: Option<f64>,
    },
    /// Unsharp masking.
    Unsharp {
        /// Blur sigma in mm.
        sigma_mm: f64,
        /// How much of the detail to add back.
        amount: f64,
    },
    /// Median over the box of this radius (mm).
    Median {
        /// Radius in mm (whole voxels per axis).
        radius_mm: f64,
    },
    /// Binary morphology of the non-zero voxels.
    Morphology {
        /// The operation.
        op: MorphologyOp,
        /// Structuring element radius in mm (not used by fill-holes).
        radius_mm: f64,
        /// The structuring element.
        element: Element3,
    },
    /// Crop to `size` voxels from index `min` (x, y, z).
    Crop {
        /// First voxel kept.
        min: [usize; 3],
        /// Voxels kept per axis.
        size: [usize; 3],
    },
    /// Pad with `value`: voxels before and after per axis (x, y, z).
    Pad {
        /// Voxels before index 0.
        before: [usize; 3],
        /// Voxels after the last.
        after: [usize; 3],
        /// The padding value.
        value: f32,
    },
    /// Reverse the index order along the flagged axes (x, y, z).
    Flip {
        /// Which axes.
        axes: [bool; 3],
    },
    /// Mean over the box of this radius (voxels, x y z).
    BoxMean {
        /// Radius in voxels per axis.
        radius: [usize; 3],
    },
    /// Intensity normalisation.
    Normalize {
        /// How.
        method: NormalizeMethod,
    },
    /// Histogram matching to a reference volume.
    MatchHistogram {
        /// The reference volume's file.
        reference: PathBuf,
    },
    /// Reorientation to an orientation code (RAS, LPS...): axes permuted and flipped only.
    Reorient {
        /// The orientation code.
        code: String,
    },
    /// Resampling to a spacing (mm, x y z) over the same extent.
    Resample {
        /// The new spacing.
        spacing_mm: [f64; 3],
        /// How to interpolate.
        interpolation: Interpolation,
        /// Smooth before downsampling.
        antialias: bool,
        /// Turn the grid about a patient axis (0, 1, 2 = LPS x, y, z) by degrees.
        turn: Option<(usize, f64)>,
    },
    /// Connected components of the non-zero voxels, numbered by decreasing size; or only the
    /// largest as a 0/1 mask.
    Label {
        /// Which neighbours touch.
        connectivity: Connectivity,
        /// Keep only the largest component.
        largest: bool,
    },
}

/// The automatic thresholds (scikit-image's conventions, 256 bins where binned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Automatic {
    /// Otsu's.
    Otsu,
    /// Li's minimum cross entropy.
    Li,
    /// The triangle method.
    Triangle,
}

/// What a filter run did.
#[derive(Clone, Debug, Serialize)]
pub struct Filtered {
    /// The input.
    pub input: PathBuf,
    /// The NIfTI file or OME-Zarr store written.
    pub output: PathBuf,
    /// The operation, in words.
    pub operation: String,
    /// The threshold an automatic method chose.
    pub threshold: Option<f64>,
    /// Components found, for `label`.
    pub components: Option<u32>,
    /// Volume of the largest component in mm^3, for `label`.
    pub largest_mm3: Option<f64>,
}

impl fmt::Display for Filtered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} -> {}", self.operation, self.input.display(), self.output.display())?;
        if let Some(t) = self.threshold {
            writeln!(f, "  threshold  {t}")?;
        }
        if let Some(n) = self.components {
            writeln!(f, "  components {n}")?;
        }
        if let Some(v) = self.largest_mm3 {
            writeln!(f, "  largest    {v:.1} mm^3")?;
        }
        Ok(())
    }
}

impl Filtered {
    /// A report of `input` to `output` before anything is done.
    pub fn new(input: &Path, output: &Path) -> Self {
        Filtered {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            operation: String::new(),
            threshold: None,
            components: None,
            largest_mm3: None,
        }
    }
}

/// Reads `input` (NIfTI, DICOM file or directory, OME-Zarr store: one 3D grey volume, with the
/// scaling applied), applies `op` in memory and writes `output` (.nii, .nii.gz or .zarr)
/// atomically. [`crate::filter_chunked`] runs the chunked operations from store to store.
pub fn run(input: &Path, output: &Path, op: &Operation, zarr: &ZarrIo) -> Result<Filtered> {
    let volume: Volume<f32> =
        hounsfield_io::open(input, &zarr.open_options(OpenOptions::default()))?
            .into_volume_f32()?;
    let mut report = Filtered::new(input, output);
    let result: DynVolume = match op {
        Operation::Gaussian { sigma_mm, recursive } => {
            if *recursive {
                report.operation = format!("recursive gaussian sigma {sigma_mm} mm");
                recursive::recursive_gaussian(&volume, [*sigma_mm; 3])?.into()
            } else {
                report.operation = format!("gaussian sigma {sigma_mm} mm");
                gaussian::gaussian(&volume, &GaussianOptions::new(*sigma_mm))?.into()
            }
        }
        Operation::Window(w) => {
            report.operation = format!("window level {} width {}", w.centre, w.width);
            intensity::window(&volume, *w).into()
        }
        Operation::Automatic(method) => {
            let t = match method {
                Automatic::Otsu => threshold::otsu_threshold(&volume, 256)?,
                Automatic::Li => threshold::li_threshold(&volume)?,
                Automatic::Triangle => threshold::triangle_threshold(&volume, 256)?,
            };
            report.operation = format!("{method:?} threshold").to_lowercase();
            report.threshold = Some(t);
            // Strictly above the threshold, as scikit-image's `image > threshold`.
            volume.map(|v| u8::from(f64::from(v) > t)).into()
        }
        Operation::Diffusion { iterations, conductance } => {
            report.operation =
                format!("anisotropic diffusion ({iterations} iterations, K {conductance})");
            let options = DiffusionOptions::new(*iterations, *conductance);
            diffusion::anisotropic_diffusion(&volume, &options)?.into()
        }
        Operation::GradientMagnitude { sigma_mm } => {
            report.operation = format!("gradient magnitude (sigma {sigma_mm:?} mm)");
            derivative::gradient_magnitude(&volume, *sigma_mm)?.into()
        }
        Operation::Unsharp { sigma_mm, amount } => {
            report.operation = format!("unsharp mask (sigma {sigma_mm} mm, amount {amount})");
            derivative::unsharp_mask(&volume, *sigma_mm, *amount)?.into()
        }
        Operation::Median { radius_mm } => {
            report.operation = format!("median radius {radius_mm} mm");
            rank::median(&volume, [*radius_mm; 3], Boundary::Reflect)?.into()
        }
        Operation::Morphology { op, radius_mm, element } => {
            let element = *element;
            report.operation = format!("{op:?} ({element:?} of {radius_mm} mm)").to_lowercase();
            match op {
                MorphologyOp::Dilate => morphology::dilate(&volume, element, *radius_mm)?,
                MorphologyOp::Erode => morphology::erode(&volume, element, *radius_mm)?,
                MorphologyOp::Open => morphology::open(&volume, element, *radius_mm)?,
                MorphologyOp::Close => morphology::close(&volume, element, *radius_mm)?,
                MorphologyOp::FillHoles => morphology::fill_holes(&volume)?,
            }
            .into()
        }
        Operation::Crop { min, size } => {
            report.operation = format!("crop {size:?} voxels from {min:?}");
            reshape::crop(&volume, *min, *size)?.into()
        }
        Operation::Pad { before, after, value } => {
            report.operation = format!("pad {before:?} before, {after:?} after with {value}");
            reshape::pad(&volume, *before, *after, *value)?.into()
        }
        Operation::Flip { axes } => {
            report.operation = format!("flip {axes:?}");
            reshape::flip(&volume, *axes)?.into()
        }
        Operation::BoxMean { radius } => {
            report.operation = format!("box mean radius {radius:?} voxels");
            derivative::box_mean(&volume, *radius, Boundary::Reflect)?.into()
        }
        Operation::Normalize { method } => {
            report.operation = format!("normalize ({method:?})").to_lowercase();
            match method {
                NormalizeMethod::Zscore => intensity::zscore(&volume, None)?,
                NormalizeMethod::Rescale => intensity::rescale(&volume, 0.0, 1.0)?,
                NormalizeMethod::Percentile => intensity::percentile_normalize(&volume, 1.0, 99.0)?,
            }
            .into()
        }
        Operation::MatchHistogram { reference } => {
            report.operation = format!("match histogram to {}", reference.display());
            let reference = hounsfield_io::open_volume(reference)?;
            intensity::match_histogram(&volume, &reference)?.into()
        }
        Operation::Reorient { code } => {
            report.operation = format!("reorient to {code}");
            reshape::reorient(&volume, code)?.into()
        }
        Operation::Resample { spacing_mm, interpolation, antialias, turn } => {
            let interpolation = *interpolation;
            report.operation = format!("resample to {spacing_mm:?} mm ({interpolation:?})");
            let options = ResampleOptions::default()
                .with_interpolation(interpolation)
                .with_antialias(*antialias);
            match turn {
                None => resample::resample_to_spacing(&volume, *spacing_mm, &options)?.into(),
                Some((axis, degrees)) => {
                    report.operation +=
                        &format!(", turned {degrees} degrees about {}", ["x", "y", "z"][*axis]);
                    // The turned box reaches beyond the input at its corners: fill them with
                    // the input's minimum (air in a CT, background in labels), not 0, which
                    // in HU would be water.
                    let lowest = volume.as_slice().iter().copied().fold(f32::INFINITY, f32::min);
                    let options =
                        options.with_outside(if lowest.is_finite() { lowest } else { 0.0 }.into());
                    resample::resample_turned(&volume, *spacing_mm, *axis, *degrees, &options)?
                        .into()
                }
            }
        }
        Operation::Threshold { lo, hi } => {
            report.operation = format!("threshold {lo}..{hi}");
            threshold::binary_threshold(&volume, *lo, *hi).into()
        }
        Operation::Label { connectivity, largest } => {
            report.operation = format!("label ({connectivity:?} connectivity)");
            let labels = label::relabel_by_size(&label::label(&volume, *connectivity)?)?;
            report.components = Some(labels.count);
            report.largest_mm3 =
                label::regions(&labels).iter().find(|r| r.label == 1).map(|r| r.volume_mm3);
            if *largest {
                labels.volume.map(|l| u8::from(l == 1)).into()
            } else if labels.count <= u32::from(u16::MAX) {
                labels.volume.map(|l| l as u16).into()
            } else {
                labels.volume.map(|l| l as i32).into()
            }
        }
    };
    if output.extension().is_some_and(|e| e.eq_ignore_ascii_case("zarr")) {
        hounsfield_io::zarr::write_zarr_dyn(output, &result, &zarr.options([64; 3]))?;
    } else {
        nifti::write_nifti(output, &NiftiImage::from_volume(result))?;
    }
    Ok(report)
}
