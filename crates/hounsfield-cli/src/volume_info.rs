//! `hounsfield info` and `hounsfield convert`: what a file holds, and moving it between formats.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_io::dicom::{self, DicomScan};
use hounsfield_io::nifti::{self, XformSource};
use hounsfield_io::{Format, OpenOptions, Opened};
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
    /// Smallest and largest value over all frames, before NIfTI scaling (NaN ignored); for DICOM
    /// after the modality LUT.
    pub range: Option<[f64; 2]>,
    /// The header's description field.
    pub description: String,
    /// OME-Zarr: the resolution levels the store holds (`--zarr-level` reads one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub levels: Option<usize>,
}

/// What `hounsfield info` found: one image, or the series of a DICOM directory.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
pub enum Info {
    /// A NIfTI or DICOM file.
    Image(Box<ImageInfo>),
    /// A directory of DICOM files.
    Directory(DirectoryInfo),
}

impl fmt::Display for Info {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Info::Image(i) => i.fmt(f),
            Info::Directory(d) => d.fmt(f),
        }
    }
}

/// The series found in a directory.
#[derive(Clone, Debug, Serialize)]
pub struct DirectoryInfo {
    /// The directory.
    pub path: PathBuf,
    /// One entry per series, ordered by series number.
    pub series: Vec<SeriesInfo>,
    /// Files that belong to no series, with the reason.
    pub skipped: Vec<SkippedInfo>,
}

/// A file of a directory that belongs to no series.
#[derive(Clone, Debug, Serialize)]
pub struct SkippedInfo {
    /// The file.
    pub path: PathBuf,
    /// Why.
    pub reason: String,
    /// A DICOM image whose header could not be read (`convert` refuses while it is there).
    pub unreadable: bool,
}

/// One series of a directory.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesInfo {
    /// What `--series` takes: the SeriesNumber, or NUMBER.K for sub-series of one UID.
    pub label: String,
    /// SeriesInstanceUID.
    pub uid: String,
    /// SeriesNumber.
    pub number: Option<i64>,
    /// Plane and image size (axial 512x512...).
    pub plane: String,
    /// SeriesDescription.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// 2D images in the series.
    pub slices: usize,
    /// Columns x rows of each image.
    pub size: [usize; 2],
}

impl fmt::Display for DirectoryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}: {} series", self.path.display(), self.series.len())?;
        for s in &self.series {
            writeln!(
                f,
                "  {:<6} {:<4} {:>4} images  {:<22} {}  {}",
                s.label, s.modality, s.slices, s.plane, s.description, s.uid
            )?;
        }
        let unreadable: Vec<&SkippedInfo> = self.skipped.iter().filter(|s| s.unreadable).collect();
        for s in &unreadable {
            writeln!(f, "  UNREADABLE {}", s.reason)?;
        }
        let other = self.skipped.len() - unreadable.len();
        if other > 0 {
            writeln!(f, "  ({other} files skipped: not DICOM images)")?;
        }
        Ok(())
    }
}

/// Reads `path` (a NIfTI file, a DICOM file, a directory of DICOM files or an OME-Zarr store)
/// and describes it.
pub fn info(path: &Path, options: &OpenOptions) -> Result<Info> {
    if path.is_dir() && !hounsfield_io::zarr::is_zarr_store(path) {
        let scan = dicom::scan_dicom_dir(path)?;
        return Ok(Info::Directory(directory_info(path, scan)));
    }
    let opened = hounsfield_io::open(path, options)?;
    Ok(Info::Image(Box::new(describe(&opened))))
}

fn directory_info(path: &Path, scan: DicomScan) -> DirectoryInfo {
    let series = scan
        .series
        .iter()
        .map(|s| SeriesInfo {
            label: s.label.clone(),
            uid: s.uid.clone(),
            number: s.number,
            plane: s.plane(),
            description: s.description.clone(),
            modality: s.modality.clone(),
            slices: s.slices(),
            size: [s.files[0].columns, s.files[0].rows],
        })
        .collect();
    let skipped = scan
        .skipped
        .into_iter()
        .map(|s| SkippedInfo { path: s.path, reason: s.reason, unreadable: s.unreadable })
        .collect();
    DirectoryInfo { path: path.to_path_buf(), series, skipped }
}

/// How `hounsfield convert` assembles DICOM series.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Which series and how irregular ones are handled.
    pub open: OpenOptions,
    /// Write no BIDS sidecar (.json) beside a NIfTI converted from DICOM.
    pub no_bids: bool,
    /// OME-Zarr input level and orientation, output pyramid.
    pub zarr: crate::zarr_io::ZarrIo,
}

/// Describes an image as it was opened.
pub fn describe(opened: &Opened) -> ImageInfo {
    let (path, image) = (opened.path.as_path(), &opened.image);
    let dicom = matches!(opened.format, Format::DicomFile | Format::DicomSeries);
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
        format: opened.format.name().into(),
        gzip: hounsfield_io::is_gzip(path),
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
            _ if dicom => "ImagePositionPatient/ImageOrientationPatient".into(),
            _ if opened.format == Format::Zarr => {
                if hounsfield_io::zarr::has_geometry(path) {
                    "the store's hounsfield geometry".into()
                } else {
                    "given: NGFF records none".into()
                }
            }
            XformSource::Sform => format!("sform (code {})", h.sform_code),
            XformSource::Qform => format!("qform (code {})", h.qform_code),
            XformSource::Fallback => "none (pixdim only)".into(),
        },
        range,
        description: h.descrip.clone(),
        levels: (opened.format == Format::Zarr)
            .then(|| hounsfield_io::zarr::zarr_levels(path).ok())
            .flatten(),
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
        if let Some(n) = self.levels.filter(|&n| n > 1) {
            writeln!(f, "  levels       {n} (0 to {}; --zarr-level reads one)", n - 1)?;
        }
        match self.range {
            Some([lo, hi]) if self.scaling.is_some() => {
                writeln!(f, "  range        {lo} .. {hi} (before scaling)")?
            }
            Some([lo, hi]) => writeln!(f, "  range        {lo} .. {hi}")?,
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
    /// The files written beside it: FSL `.bval`/`.bvec` of a diffusion series, the BIDS `.json`.
    pub sidecars: Vec<PathBuf>,
    /// What the user should know: tables not written and why.
    pub warnings: Vec<String>,
}

impl fmt::Display for Converted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "converted {}", self.input.display())?;
        write!(f, "{}", self.output)?;
        for p in &self.sidecars {
            writeln!(f, "  wrote        {}", p.display())?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning      {w}")?;
        }
        Ok(())
    }
}

/// `out.nii.gz` (any case) -> `out` + `ext`.
fn beside(output: &Path, ext: &str) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let cut = [".nii.gz", ".nii"].iter().find(|s| lower.ends_with(*s)).map_or(0, |s| s.len());
    output.with_file_name(format!("{}{ext}", &name[..name.len() - cut]))
}

/// Whether `path` names an OME-Zarr store (`.zarr`).
fn is_zarr(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zarr"))
}

/// Converts `input` (NIfTI file, DICOM file or series directory, or OME-Zarr store) to NIfTI
/// or, for a `.zarr` name, OME-Zarr `output` (one 3D volume, 64^3 chunks, zstd), then reads the
/// result back to describe it. From DICOM it also writes, beside the image, the FSL
/// `.bval`/`.bvec` tables of a diffusion series and (unless `no_bids`) a BIDS `.json` sidecar.
pub fn convert(input: &Path, output: &Path, options: &ConvertOptions) -> Result<Converted> {
    let opened = hounsfield_io::open(input, &options.open)?;
    let tables = match &opened.dicom {
        Some(info) if !info.diffusion.is_empty() => {
            Some(dicom::fsl_tables(&info.diffusion, opened.image.geometry(), input))
        }
        _ => None,
    };
    if opened.dicom.is_some() {
        // Files of an earlier conversion to this name that this one would not replace would
        // describe another image: refuse before writing anything.
        let writes_tables = matches!(tables, Some(Ok(_)));
        for (ext, written) in
            [(".bval", writes_tables), (".bvec", writes_tables), (".json", !options.no_bids)]
        {
            let path = beside(output, ext);
            if !written && path.exists() {
                bail!(
                    "{} exists beside {} and this conversion writes no {ext}: it would describe another image; remove it first",
                    path.display(),
                    output.display()
                );
            }
        }
    }
    // Sidecars first, the image last; a failure removes what this conversion wrote.
    let mut outputs = crate::outputs::Outputs::new();
    let mut warnings = Vec::new();
    if let Some(info) = &opened.dicom {
        match tables {
            Some(Ok(tables)) => {
                for (ext, text) in [(".bval", tables.bval_text()), (".bvec", tables.bvec_text())] {
                    let path = beside(output, ext);
                    outputs.write(&path, |p| {
                        Ok(hounsfield_core::fs::write_bytes_atomic(p, text.as_bytes())?)
                    })?;
                }
                if let Some(t) = info.diffusion.iter().position(|d| d.is_some_and(|d| d.isotropic))
                {
                    warnings.push(format!(
                        "volume {t} is an isotropic (trace) image: its .bvec column is 0 0 0"
                    ));
                }
            }
            Some(Err(e)) => warnings.push(format!("no .bval/.bvec written: {e}")),
            None => {}
        }
        if !options.no_bids {
            let sidecar = dicom::sidecar(info)?.to_json();
            outputs.write(&beside(output, ".json"), |p| {
                Ok(hounsfield_core::fs::write_bytes_atomic(p, sidecar.as_bytes())?)
            })?;
        }
    }
    if is_zarr(output) {
        let [volume] = opened.image.volumes() else {
            bail!(
                "{}: OME-Zarr output holds one 3D volume; {} has {}",
                output.display(),
                input.display(),
                opened.image.volumes().len()
            );
        };
        let zarr_options = options.zarr.options([64; 3]);
        // Zarr has no scale slope: scaled stored values are written as the f32 values they mean.
        let scaled = match opened.image.scaling() {
            Some(_) => Some(hounsfield_core::DynVolume::from(hounsfield_io::open_volume(input)?)),
            None => None,
        };
        let volume = scaled.as_ref().unwrap_or(volume);
        outputs.write(output, |p| {
            Ok(hounsfield_io::zarr::write_zarr_dyn(p, volume, &zarr_options)?)
        })?;
    } else {
        outputs.write(output, |p| Ok(nifti::write_nifti(p, &opened.image)?))?;
    }
    let mut sidecars = outputs.keep();
    sidecars.pop(); // the image itself
    let back = hounsfield_io::open(output, &OpenOptions::default())
        .with_context(|| format!("reading back {}", output.display()))?;
    Ok(Converted { input: input.to_path_buf(), output: describe(&back), sidecars, warnings })
}
