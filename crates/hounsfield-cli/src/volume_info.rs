//! `hounsfield info` and `hounsfield convert`: what a file holds, and moving it between formats.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_io::nifti::{self, NiftiImage, NiftiVersion, XformSource};
use serde::Serialize;

/// What `hounsfield info` reports about an image file.
#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    /// The file.
    pub path: PathBuf,
    /// "NIfTI-1" or "NIfTI-2".
    pub format: String,
    /// Whether the file is gzip-compressed.
    pub gzip: bool,
    /// Voxels along x, y, z.
    pub size_xyz: [usize; 3],
    /// 3D frames (time points and higher dimensions).
    pub frames: usize,
    /// Values per voxel (3 for RGB).
    pub components: usize,
    /// Stored element type.
    pub dtype: String,
    /// `[slope, intercept]` applied to stored values, if any.
    pub scaling: Option<[f64; 2]>,
    /// Voxel size in mm (x, y, z).
    pub spacing_mm: [f64; 3],
    /// Centre of the first voxel, LPS mm.
    pub origin_lps_mm: [f64; 3],
    /// Direction cosines, columns = index axes, LPS.
    pub direction: [[f64; 3]; 3],
    /// Closest orientation code (where each index axis points to).
    pub orientation: String,
    /// Which header transform the geometry came from.
    pub transform: String,
    /// Smallest and largest stored value over all frames (NaN ignored).
    pub range: Option<[f64; 2]>,
    /// The header's description field.
    pub description: String,
}

/// Reads `path` and describes it.
pub fn info(path: &Path) -> Result<ImageInfo> {
    refuse_dicom(path)?;
    let image = nifti::read_nifti(path)?;
    Ok(describe(path, &image))
}

/// Describes an image already read from `path`.
pub fn describe(path: &Path, image: &NiftiImage) -> ImageInfo {
    let g = image.geometry();
    let first = &image.volumes()[0];
    let [nz, ny, nx] = first.shape();
    let range = image.volumes().iter().filter_map(|v| v.min_max()).fold(
        None,
        |acc: Option<[f64; 2]>, (lo, hi)| {
            Some(acc.map_or([lo, hi], |[a, b]| [a.min(lo), b.max(hi)]))
        },
    );
    let h = &image.header;
    ImageInfo {
        path: path.to_path_buf(),
        format: match h.version {
            NiftiVersion::V1 => "NIfTI-1".into(),
            NiftiVersion::V2 => "NIfTI-2".into(),
        },
        gzip: is_gzip(path),
        size_xyz: [nx, ny, nz],
        frames: image.frames(),
        components: image.components(),
        dtype: first.dtype().to_string(),
        scaling: image.scaling().map(|(s, i)| [s, i]),
        spacing_mm: g.spacing(),
        origin_lps_mm: g.origin(),
        direction: g.direction(),
        orientation: g.orientation_code(),
        transform: match image.xform_source() {
            XformSource::Sform => format!("sform (code {})", h.sform_code),
            XformSource::Qform => format!("qform (code {})", h.qform_code),
            XformSource::Fallback => "none (pixdim only)".into(),
        },
        range,
        description: h.descrip.clone(),
    }
}

impl fmt::Display for ImageInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [x, y, z] = self.size_xyz;
        let [sx, sy, sz] = self.spacing_mm;
        let [ox, oy, oz] = self.origin_lps_mm;
        writeln!(f, "{}", self.path.display())?;
        writeln!(f, "  format       {}{}", self.format, if self.gzip { ", gzip" } else { "" })?;
        write!(f, "  size         {x} x {y} x {z} voxels")?;
        if self.frames > 1 {
            write!(f, ", {} frames", self.frames)?;
        }
        if self.components > 1 {
            write!(f, ", {} components", self.components)?;
        }
        writeln!(f)?;
        write!(f, "  type         {}", self.dtype)?;
        if let Some([s, i]) = self.scaling {
            write!(f, " scaled by {s} + {i}")?;
        }
        writeln!(f)?;
        writeln!(f, "  spacing      {sx:.4} x {sy:.4} x {sz:.4} mm")?;
        writeln!(f, "  origin       ({ox:.3}, {oy:.3}, {oz:.3}) mm LPS")?;
        writeln!(f, "  orientation  {} (from {})", self.orientation, self.transform)?;
        match self.range {
            Some([lo, hi]) => writeln!(f, "  range        {lo} .. {hi} (stored values)")?,
            None => writeln!(f, "  range        all NaN")?,
        }
        if !self.description.is_empty() {
            writeln!(f, "  description  {}", self.description)?;
        }
        Ok(())
    }
}

/// What `hounsfield convert` did.
#[derive(Clone, Debug, Serialize)]
pub struct Converted {
    /// The input file.
    pub input: PathBuf,
    /// The written file, described as it was read back.
    pub output: ImageInfo,
}

impl fmt::Display for Converted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "converted {}", self.input.display())?;
        write!(f, "{}", self.output)
    }
}

/// Converts `input` to `output` (NIfTI to NIfTI for now: `.nii` <-> `.nii.gz`, pairs to single
/// files, NIfTI-2 to NIfTI-1 where dimensions allow), then reads the result back to describe it.
pub fn convert(input: &Path, output: &Path) -> Result<Converted> {
    refuse_dicom(input)?;
    let image = nifti::read_nifti(input)?;
    nifti::write_nifti(output, &image)?;
    let back =
        nifti::read_nifti(output).with_context(|| format!("reading back {}", output.display()))?;
    Ok(Converted { input: input.to_path_buf(), output: describe(output, &back) })
}

fn is_gzip(path: &Path) -> bool {
    let mut magic = [0u8; 2];
    std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok()
        && magic == [0x1f, 0x8b]
}

/// DICOM input gets a clear message rather than a NIfTI parse error.
fn refuse_dicom(path: &Path) -> Result<()> {
    if path.is_dir() {
        bail!("{}: DICOM directories are not supported yet (NIfTI files are)", path.display());
    }
    let mut head = [0u8; 132];
    let dicm = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok()
        && &head[128..132] == b"DICM";
    if dicm {
        bail!("{}: DICOM files are not supported yet (NIfTI files are)", path.display());
    }
    Ok(())
}
