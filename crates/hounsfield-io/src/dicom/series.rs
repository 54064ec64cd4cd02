//! From a directory of DICOM files to volumes: scan headers, group into series, sort slices along
//! the normal, check that they form a regular grid, decode in parallel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_object::open_file;
use hounsfield_core::volume::checked_len;
use hounsfield_core::{DynVolume, Geometry, Volume};
use rayon::prelude::*;

use super::diffusion::Diffusion;
use super::header::{DicomHeader, read_header};
use super::pixels::{Rescale, Sample, stored_pixels};
use super::regrid;
pub use super::scan::DicomSeries;
use crate::error::{Error, Result, SeriesProblem};

/// Slices closer than this along the normal are at the same position (mm).
const SAME_POSITION_MM: f64 = 1e-3;
/// Slice spacing may vary by this much (mm) plus [`SPACING_RTOL`] before it is uneven.
const SPACING_ATOL_MM: f64 = 0.02;
/// Relative slice spacing tolerance.
const SPACING_RTOL: f64 = 0.01;
/// A slice step this far from the normal (sine of the angle) is gantry tilt: ~0.06 degrees.
const TILT_SINE: f64 = 1e-3;

impl DicomVolume {
    /// The number of time points (volumes per sample): 1 for a 3D image.
    pub fn time_points(&self) -> usize {
        self.volumes.len() / self.samples.max(1)
    }
}

/// How to handle series that are not a regular grid. The defaults refuse each problem with a
/// typed error ([`SeriesProblem`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeriesOptions {
    /// Keep one image (the lowest InstanceNumber) of those at one position that nothing tells
    /// apart (copies, re-sent slices); images of different time points or diffusion weightings
    /// are not duplicates and stay.
    pub drop_duplicates: bool,
    /// Gantry-tilted stacks: keep the sheared grid as acquired (the direction's slice column is
    /// the tilted step; NIfTI gets an sform and no qform) instead of refusing.
    pub keep_tilt_shear: bool,
    /// Gantry-tilted stacks: de-shear onto an orthogonal grid (each slice shifted in its plane
    /// by bilinear interpolation, the plane widened to keep every slice's field of view, f32).
    pub correct_tilt: bool,
    /// Unevenly spaced slices (a missing slice, mixed steps): interpolate linearly along the
    /// normal onto the smallest gap (f32) instead of refusing.
    pub resample_gaps: bool,
    /// [`read_dicom_dir`](super::read_dicom_dir): read a series although some DICOM images in the
    /// directory could not be read (never together with `resample_gaps`).
    pub skip_unreadable: bool,
}

impl SeriesOptions {
    /// Keep one slice per position.
    pub fn with_drop_duplicates(mut self, on: bool) -> Self {
        self.drop_duplicates = on;
        self
    }

    /// Keep gantry-tilted stacks as sheared grids.
    pub fn with_keep_tilt_shear(mut self, on: bool) -> Self {
        self.keep_tilt_shear = on;
        self
    }

    /// De-shear gantry-tilted stacks onto orthogonal grids.
    pub fn with_correct_tilt(mut self, on: bool) -> Self {
        self.correct_tilt = on;
        self
    }

    /// Read a directory's series although some of its DICOM images are unreadable.
    pub fn with_skip_unreadable(mut self, on: bool) -> Self {
        self.skip_unreadable = on;
        self
    }

    /// Resample unevenly spaced slices onto uniform spacing.
    pub fn with_resample_gaps(mut self, on: bool) -> Self {
        self.resample_gaps = on;
        self
    }
}

/// What a series or file holds, with the modality LUT (RescaleSlope/Intercept, per frame)
/// applied: 3D volumes, one per sample (1, or 3 for RGB), and for 4D series (fMRI, dynamic,
/// multi-phase: several images at every position) one set per time point, time-major.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomVolume {
    /// `[v]` for a grey 3D image, `[r, g, b]` for colour; 4D series: time point 0's samples,
    /// then time point 1's... (as [`NiftiImage::from_volumes`](crate::nifti::NiftiImage::from_volumes) takes them).
    pub volumes: Vec<DynVolume>,
    /// Samples per pixel (1 grey, 3 colour).
    pub samples: usize,
    /// What the series says beyond its voxels.
    pub info: DicomInfo,
}

/// What a DICOM series says beyond its voxels: what FSL tables and BIDS sidecars are made of.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomInfo {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// Modality.
    pub modality: String,
    /// Each time point's diffusion weighting, in volume order; empty when no image has any.
    /// [`fsl_tables`](super::fsl_tables) turns it into `.bval`/`.bvec` tables.
    pub diffusion: Vec<Option<Diffusion>>,
    /// The first image of the first volume (the file a sidecar describes).
    pub source: PathBuf,
    /// When each slice (bottom to top, as stored in the volume) was acquired within a time
    /// point, ms from the first (Siemens mosaics: CSA MosaicRefAcqTimes); `None` when unknown
    /// or when the slices were resampled.
    pub slice_times_ms: Option<Vec<f64>>,
    /// Rows and columns of each slice as stored in the volume.
    pub rows: usize,
    /// Columns of each slice.
    pub columns: usize,
}

/// Reads one DICOM file as a volume: a single image is a one-slice volume; a classic multi-frame
/// file stacks its frames along the normal at SpacingBetweenSlices (or SliceThickness).
pub fn read_dicom_file(path: impl AsRef<Path>) -> Result<DicomVolume> {
    let h = read_header(path.as_ref())?;
    let series = DicomSeries {
        uid: h.series_uid.clone(),
        number: h.series_number,
        label: h.series_number.map_or_else(|| "#1".into(), |n| n.to_string()),
        description: h.series_description.clone(),
        modality: h.modality.clone(),
        files: vec![h],
    };
    read_dicom_series(&series, &SeriesOptions::default())
}

/// One 2D image of a series: which file, which frame, where, and its modality LUT.
#[derive(Clone, Debug)]
struct Slice {
    file: usize,
    frame: usize,
    position: [f64; 3],
    along_normal: f64,
    instance: i64,
    lut: Rescale,
    /// Orders the volumes of a 4D series.
    temporal: Option<f64>,
    /// Enhanced files: the frame's non-spatial DimensionIndexValues.
    volume_index: Option<Vec<u32>>,
    /// The image's diffusion weighting.
    diffusion: Option<Diffusion>,
    /// Index of the slice while volumes are arranged.
    id: usize,
}

impl Slice {
    /// Whether two images at one position can belong to the same volume: nothing that
    /// distinguishes volumes (dimension index, temporal position, diffusion weighting) differs.
    fn same_volume(&self, other: &Slice) -> bool {
        self.volume_index == other.volume_index
            && self.temporal == other.temporal
            && match (&self.diffusion, &other.diffusion) {
                (None, None) => true,
                (Some(a), Some(b)) => a.same_as(b),
                _ => false,
            }
    }

    /// What tells this image's volume apart, for messages.
    fn volume_label(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.volume_index {
            parts.push(format!("dimension index {v:?}"));
        }
        if let Some(t) = self.temporal {
            parts.push(format!("temporal position {t}"));
        }
        if let Some(d) = &self.diffusion {
            match d.direction {
                Some(g) => parts.push(format!(
                    "b = {} along ({:.4}, {:.4}, {:.4})",
                    d.b_value, g[0], g[1], g[2]
                )),
                None => parts.push(format!("b = {}", d.b_value)),
            }
        }
        if parts.is_empty() { "no volume attributes".into() } else { parts.join(", ") }
    }
}

/// Assembles a series into a volume.
pub fn read_dicom_series(series: &DicomSeries, options: &SeriesOptions) -> Result<DicomVolume> {
    let first = series.files.first().ok_or_else(|| Error::Series {
        path: PathBuf::new(),
        problem: SeriesProblem::Inconsistent("the series has no files".into()),
    })?;
    let path = first.path.clone();
    let problem = |p| Error::Series { path: path.clone(), problem: p };
    for h in &series.files {
        let same = h.rows == first.rows
            && h.columns == first.columns
            && h.samples_per_pixel == first.samples_per_pixel
            && h.bits_allocated == first.bits_allocated;
        if !same {
            return Err(problem(SeriesProblem::Inconsistent(format!(
                "{} is {}x{}x{} at {} bits, {} is {}x{}x{} at {} bits",
                h.path.display(),
                h.rows,
                h.columns,
                h.samples_per_pixel,
                h.bits_allocated,
                first.path.display(),
                first.rows,
                first.columns,
                first.samples_per_pixel,
                first.bits_allocated
            ))));
        }
    }
    for h in &series.files {
        check_declared_size(h)?;
    }
    let [row, col, cross] =
        first.axes().unwrap_or([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]);
    // Slices are sorted along this; a mosaic's tiles keep their order along the CSA normal.
    let normal = first.slice_normal.unwrap_or(cross);
    if let Some(h) = series.files.iter().find(|h| h.slice_normal.unwrap_or(cross) != normal) {
        return Err(problem(SeriesProblem::Inconsistent(format!(
            "{} stacks its slices along {:?}, {} along {normal:?}",
            h.path.display(),
            h.slice_normal.unwrap_or(cross),
            first.path.display()
        ))));
    }
    let frame_step = first.spacing_between_slices.or(first.slice_thickness).unwrap_or(1.0);
    let mut slices: Vec<Slice> = Vec::new();
    for (file, h) in series.files.iter().enumerate() {
        for frame in 0..h.frames {
            let (position, lut) = frame_position_and_lut(h, frame, normal, frame_step, &problem)?;
            slices.push(Slice {
                file,
                frame,
                position,
                along_normal: dot(position, normal),
                instance: h.instance_number.unwrap_or(0),
                lut,
                temporal: h
                    .frame_groups
                    .get(frame)
                    .and_then(|g| g.temporal_index)
                    .or(h.temporal_key),
                volume_index: h.frame_groups.get(frame).and_then(|g| g.volume_index.clone()),
                diffusion: match h.frame_groups.get(frame) {
                    Some(g) => g.diffusion,
                    None => h.diffusion,
                },
                id: 0,
            });
        }
    }
    let have_positions = series
        .files
        .iter()
        .all(|h| h.position.is_some() && h.frame_groups.iter().all(|g| g.position.is_some()));
    if have_positions {
        slices.sort_by(|a, b| {
            a.along_normal.total_cmp(&b.along_normal).then(a.instance.cmp(&b.instance))
        });
    } else {
        // No ImagePositionPatient: InstanceNumber is all there is.
        slices.sort_by_key(|s| (s.instance, s.file, s.frame));
    }
    let (slices, volume_count) = arrange_volumes(slices, series, options, &problem)?;
    // Geometry from the first volume's slices; the others lie at the same positions.
    let nz = slices.len() / volume_count;
    let first_volume = &slices[..nz];
    let stack = slice_step(series, first_volume, normal, frame_step, options, &problem)?;
    let (slice_dir, dz) = match stack {
        Stack::Regular(dir, dz) => (dir, dz),
        // Decoded on a provisional grid, then resampled below.
        Stack::Resample { .. } => {
            (normal, first_volume[1].along_normal - first_volume[0].along_normal)
        }
    };
    let spacing = first.pixel_spacing.unwrap_or([1.0, 1.0]);
    let direction = [
        [row[0], col[0], slice_dir[0]],
        [row[1], col[1], slice_dir[1]],
        [row[2], col[2], slice_dir[2]],
    ];
    let spacing = [spacing[1], spacing[0], dz];
    let origin = if have_positions {
        first_volume[0].position
    } else {
        // No ImagePositionPatient: centre the grid on the origin, as dcm2niix does.
        let half = [first.columns, first.rows, nz].map(|n| (n as f64 - 1.0) / 2.0);
        [0, 1, 2].map(|r| -(0..3).map(|c| direction[r][c] * spacing[c] * half[c]).sum::<f64>())
    };
    let geometry = Geometry::new(spacing, origin, direction)
        .map_err(|source| Error::Core { path: path.clone(), source })?;
    let diffusion: Vec<Option<Diffusion>> = if slices.iter().any(|s| s.diffusion.is_some()) {
        (0..volume_count).map(|t| slices[t * nz].diffusion).collect()
    } else {
        Vec::new()
    };
    let slice_times_ms = match stack {
        Stack::Regular(..) => first_volume
            .iter()
            .map(|s| series.files[s.file].slice_times_ms.as_ref()?.get(s.frame).copied())
            .collect::<Option<Vec<f64>>>(),
        Stack::Resample { .. } => None,
    };
    let mut volumes = decode(series, &slices, volume_count, &geometry)?;
    if let Stack::Resample { deshear, gaps } = stack {
        let core = |source| Error::Core { path: path.clone(), source };
        let positions: Vec<[f64; 3]> = first_volume.iter().map(|s| s.position).collect();
        let along: Vec<f64> = first_volume.iter().map(|s| s.along_normal).collect();
        volumes = volumes
            .into_iter()
            .map(|v| {
                let mut v = v.to_f32();
                if deshear {
                    let fill = v.min_max().map_or(0.0, |(lo, _)| lo as f32);
                    let axes = [row, col, normal];
                    v = regrid::deshear(&v, &positions, axes, [spacing[0], spacing[1]], fill)
                        .map_err(core)?;
                }
                if gaps {
                    let g = v.geometry().clone();
                    v = regrid::fill_gaps(&v, &along, &g).map_err(core)?;
                }
                Ok(DynVolume::from(v))
            })
            .collect::<Result<_>>()?;
    }
    let [_, rows, columns] = volumes.first().map_or([0; 3], DynVolume::shape);
    Ok(DicomVolume {
        samples: first.samples_per_pixel,
        volumes,
        info: DicomInfo {
            series_uid: series.uid.clone(),
            modality: series.modality.clone(),
            diffusion,
            source: series.files[slices[0].file].path.clone(),
            slice_times_ms,
            rows,
            columns,
        },
    })
}

/// Where frame `frame` of `h` lies and its modality LUT: from the functional groups of Enhanced
/// files (whose orientation must be the series'), from GridFrameOffsetVector (RT Dose), else
/// stacked along the normal at `frame_step` from ImagePositionPatient.
fn frame_position_and_lut(
    h: &DicomHeader,
    frame: usize,
    normal: [f64; 3],
    frame_step: f64,
    problem: &dyn Fn(SeriesProblem) -> Error,
) -> Result<([f64; 3], Rescale)> {
    let origin = h.position.unwrap_or([0.0; 3]);
    let lut = Rescale {
        slope: h.rescale_slope,
        intercept: h.rescale_intercept,
        table: h.modality_lut.clone(),
    };
    if let Some(g) = h.frame_groups.get(frame) {
        if g.orientation.is_some() && g.orientation != h.orientation {
            return Err(problem(SeriesProblem::Inconsistent(format!(
                "frame {} of {} has orientation {:?}, frame 1 has {:?}",
                frame + 1,
                h.path.display(),
                g.orientation.unwrap_or_default(),
                h.orientation.unwrap_or_default()
            ))));
        }
        // Colour images take no modality LUT, whatever their functional groups say.
        let lut = if h.samples_per_pixel > 1 {
            Rescale::IDENTITY
        } else {
            Rescale {
                slope: super::header::slope(g.rescale_slope.or(Some(lut.slope))),
                intercept: g.rescale_intercept.unwrap_or(lut.intercept),
                table: lut.table,
            }
        };
        return Ok((g.position.unwrap_or(origin), lut));
    }
    let offset = match &h.frame_offsets {
        Some(offsets) => offsets[frame] - offsets[0],
        None => frame as f64 * frame_step,
    };
    Ok(([0, 1, 2].map(|k| origin[k] + offset * normal[k]), lut))
}

/// Refuses, before anything is allocated, a header declaring more pixel data than its file can
/// hold: the file size itself for uncompressed syntaxes, 1032 times it (deflate's limit, above
/// what JPEG and RLE reach) for compressed ones.
fn check_declared_size(h: &DicomHeader) -> Result<()> {
    let file_len = std::fs::metadata(&h.path)
        .map_err(|source| Error::Io { path: h.path.clone(), source })?
        .len();
    let bits = u64::from(h.bits_allocated).max(1);
    let mut declared = [h.rows, h.columns, h.samples_per_pixel, h.frames]
        .iter()
        .fold(bits, |acc, &n| acc.saturating_mul(n as u64))
        / 8;
    if h.photometric.starts_with("YBR_FULL_422") {
        // Two luma samples share one Cb and one Cr: 2 bytes per pixel where RGB needs 3.
        declared = declared / 3 * 2;
    }
    let native = matches!(
        h.transfer_syntax.as_str(),
        "1.2.840.10008.1.2" | "1.2.840.10008.1.2.1" | "1.2.840.10008.1.2.2"
    );
    let limit =
        if native { file_len } else { file_len.saturating_mul(crate::source::MAX_DEFLATE_RATIO) };
    if declared > limit {
        let layout = match h.mosaic {
            Some(m) => format!(
                "a {} x {} mosaic of {} tiles at {} bits",
                m.stored_columns, m.stored_rows, m.slices, h.bits_allocated
            ),
            None => format!(
                "{} x {} x {} samples x {} frames at {} bits",
                h.columns, h.rows, h.samples_per_pixel, h.frames, h.bits_allocated
            ),
        };
        return Err(Error::Truncated {
            path: h.path.clone(),
            reason: format!(
                "the header declares {declared} bytes of pixel data ({layout}), but the file has {file_len} bytes"
            ),
        });
    }
    Ok(())
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

/// Arranges slices sorted along the normal into volumes: one per position normally; where
/// every position holds the same number N > 1 of different images (distinct SOPInstanceUID or
/// frame), N volumes. At each position the images are ordered by their DimensionIndexValues
/// (Enhanced files, spatial entries left out) where every image has them, else by temporal key
/// (TemporalPositionIndex, TemporalPositionIdentifier, TriggerTime or AcquisitionNumber), then
/// InstanceNumber, file and frame; volume t takes the t-th image of every position, and those
/// images must agree on everything that tells volumes apart (dimension index, temporal key,
/// diffusion b-value and direction), so an order that would mix volumes is refused. Returns the
/// slices volume-major (volume 0 bottom to top, then volume 1...) and the number of volumes.
fn arrange_volumes(
    slices: Vec<Slice>,
    series: &DicomSeries,
    options: &SeriesOptions,
    problem: &dyn Fn(SeriesProblem) -> Error,
) -> Result<(Vec<Slice>, usize)> {
    let mut groups: Vec<Vec<Slice>> = Vec::new();
    for s in slices {
        match groups.last_mut() {
            Some(g) if (s.along_normal - g[0].along_normal).abs() < SAME_POSITION_MM => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    if options.drop_duplicates {
        // Images of one position that no attribute tells apart (copies, re-sent or re-numbered
        // slices) are duplicates: keep the first (lowest InstanceNumber, as sorted). Images of
        // different volumes (time points, diffusion weightings) are not duplicates.
        for g in &mut groups {
            let mut kept: Vec<Slice> = Vec::with_capacity(g.len());
            for s in g.drain(..) {
                if !kept.iter().any(|k| k.same_volume(&s)) {
                    kept.push(s);
                }
            }
            *g = kept;
        }
    }
    let total: usize = groups.iter().map(Vec::len).sum();
    if groups.len() == 1 && total > 1 {
        return Err(problem(SeriesProblem::NotAVolume(total)));
    }
    let per_position = groups[0].len();
    if groups.iter().all(|g| g.len() == 1) {
        return Ok((groups.into_iter().flatten().collect(), 1));
    }
    let image = |s: &Slice| (series.files[s.file].sop_instance_uid.as_str(), s.frame);
    let duplicate = |g: &[Slice]| {
        g.iter().enumerate().any(|(i, a)| g[..i].iter().any(|b| image(a) == image(b)))
    };
    if let Some(g) = groups.iter().find(|g| g.len() != per_position || duplicate(g)) {
        return Err(problem(SeriesProblem::DuplicatePositions {
            count: g.len().max(2),
            position_mm: g[0].along_normal,
            files: g.iter().map(|s| series.files[s.file].path.clone()).collect(),
        }));
    }
    let by_index = groups.iter().flatten().all(|s| s.volume_index.is_some());
    let rank = identity_ranks(&mut groups);
    for g in &mut groups {
        g.sort_by(|a, b| {
            let key = |s: &Slice| s.temporal.unwrap_or(f64::NEG_INFINITY);
            let index = if by_index {
                a.volume_index.cmp(&b.volume_index)
            } else {
                std::cmp::Ordering::Equal
            };
            index
                .then(key(a).total_cmp(&key(b)))
                .then(rank[a.id].cmp(&rank[b.id]))
                .then(a.instance.cmp(&b.instance))
                .then((a.file, a.frame).cmp(&(b.file, b.frame)))
        });
    }
    // Volume t takes the t-th image of every position: they must be images of one volume.
    for t in 0..per_position {
        let first = &groups[0][t];
        if let Some(other) = groups.iter().map(|g| &g[t]).find(|s| !s.same_volume(first)) {
            return Err(problem(SeriesProblem::Inconsistent(format!(
                "{per_position} images at each of {} positions, but they do not line up into volumes: volume {t} would mix {} ({}) with {} ({})",
                groups.len(),
                first.volume_label(),
                series.files[first.file].path.display(),
                other.volume_label(),
                series.files[other.file].path.display(),
            ))));
        }
    }
    let ordered =
        (0..per_position).flat_map(|t| groups.iter().map(move |g| g[t].clone())).collect();
    Ok((ordered, per_position))
}

/// Numbers the distinct volume identities (what [`Slice::same_volume`] compares) in the order
/// their first image appears (by InstanceNumber, file, frame), and gives each slice an `id`
/// indexing the returned ranks. Sorting every position by rank lines up images of one identity
/// even where frames were stored in no particular order.
fn identity_ranks(groups: &mut [Vec<Slice>]) -> Vec<usize> {
    let mut order: Vec<(i64, usize, usize, usize, usize)> = Vec::new();
    let mut id = 0;
    for (gi, g) in groups.iter_mut().enumerate() {
        for (si, s) in g.iter_mut().enumerate() {
            s.id = id;
            order.push((s.instance, s.file, s.frame, gi, si));
            id += 1;
        }
    }
    order.sort_unstable();
    let mut classes: Vec<&Slice> = Vec::new();
    let mut rank = vec![0; id];
    for &(.., gi, si) in &order {
        let s = &groups[gi][si];
        rank[s.id] = match classes.iter().position(|c| c.same_volume(s)) {
            Some(r) => r,
            None => {
                classes.push(s);
                classes.len() - 1
            }
        };
    }
    rank
}

/// How the sorted slices lie.
enum Stack {
    /// A regular grid: the unit slice direction and the spacing along it.
    Regular([f64; 3], f64),
    /// To be resampled: de-sheared (gantry tilt) and/or evened out along the normal (gaps).
    Resample { deshear: bool, gaps: bool },
}

/// Checks even spacing and tilt, and says what to do with the stack per the options.
fn slice_step(
    series: &DicomSeries,
    slices: &[Slice],
    normal: [f64; 3],
    single_step: f64,
    options: &SeriesOptions,
    problem: &dyn Fn(SeriesProblem) -> Error,
) -> Result<Stack> {
    if slices.len() < 2 {
        return Ok(Stack::Regular(normal, single_step));
    }
    let gaps: Vec<f64> = slices.windows(2).map(|w| w[1].along_normal - w[0].along_normal).collect();
    let uneven = gaps
        .iter()
        .enumerate()
        .find(|(_, g)| (*g - gaps[0]).abs() > SPACING_ATOL_MM + SPACING_RTOL * gaps[0].abs());
    let (a, b) = (slices[0].position, slices[slices.len() - 1].position);
    let n = (slices.len() - 1) as f64;
    let step = [(b[0] - a[0]) / n, (b[1] - a[1]) / n, (b[2] - a[2]) / n];
    let len = dot(step, step).sqrt();
    let along = dot(step, normal);
    let lateral =
        [step[0] - along * normal[0], step[1] - along * normal[1], step[2] - along * normal[2]];
    let sine = dot(lateral, lateral).sqrt() / len;
    let tilted = sine > TILT_SINE;
    if let Some((i, g)) = uneven
        && !options.resample_gaps
    {
        return Err(problem(SeriesProblem::UnevenSpacing {
            first_mm: gaps[0],
            found_mm: *g,
            index: i,
            next: i + 1,
            between: [i, i + 1].map(|k| series.files[slices[k].file].path.clone()),
        }));
    }
    let deshear = tilted && options.correct_tilt;
    if tilted && !options.correct_tilt && (uneven.is_some() || !options.keep_tilt_shear) {
        return Err(problem(SeriesProblem::GantryTilt { degrees: sine.asin().to_degrees() }));
    }
    Ok(match (uneven.is_some(), deshear) {
        (false, false) if tilted => Stack::Regular(step.map(|v| v / len), len),
        (false, false) => Stack::Regular(normal, along),
        (gaps, deshear) => Stack::Resample { deshear, gaps },
    })
}

/// Decodes every slice in parallel into preallocated volumes (one per sample), applying each
/// slice's modality LUT. Integer output when every slope is 1 and every intercept whole, in the
/// smallest type holding every value the stored bits allow; f32 otherwise.
fn decode(
    series: &DicomSeries,
    slices: &[Slice],
    volume_count: usize,
    geometry: &Geometry,
) -> Result<Vec<DynVolume>> {
    let first = &series.files[0];
    let integral = slices.iter().all(|s| s.lut.is_integral());
    let bits = i32::from(first.bits_stored);
    let (lo, hi) = if first.signed {
        (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
    } else {
        (0.0, 2f64.powi(bits) - 1.0)
    };
    let (min, max) = slices.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), s| {
        let (lo, hi) = s.lut.output_range(lo, hi);
        (a.min(lo), b.max(hi))
    });
    let fits = |a: f64, b: f64| min >= a && max <= b;
    let shape = [slices.len() / volume_count, first.rows, first.columns];
    macro_rules! run {
        ($t:ty) => {
            decode_as::<$t>(series, slices, volume_count, geometry, shape)
        };
    }
    if !integral {
        run!(f32)
    } else if fits(0.0, 255.0) {
        run!(u8)
    } else if fits(-128.0, 127.0) {
        run!(i8)
    } else if fits(0.0, 65535.0) {
        run!(u16)
    } else if fits(-32768.0, 32767.0) {
        run!(i16)
    } else if fits(-2147483648.0, 2147483647.0) {
        run!(i32)
    } else {
        run!(f32)
    }
}

/// Where one file's frames go: (frame, LUT, one output plane per sample).
type Targets<'a, T> = Vec<(usize, &'a Rescale, Vec<&'a mut [T]>)>;

fn decode_as<T: Sample>(
    series: &DicomSeries,
    slices: &[Slice],
    volume_count: usize,
    geometry: &Geometry,
    shape: [usize; 3],
) -> Result<Vec<DynVolume>>
where
    DynVolume: From<Volume<T>>,
{
    let first = &series.files[0];
    let samples = first.samples_per_pixel;
    let plane = shape[1] * shape[2];
    checked_len(&[volume_count, shape[0], plane, samples], size_of::<T>(), 64 << 30)
        .map_err(|source| Error::Core { path: first.path.clone(), source })?;
    // Time-major, then sample: the order of the slices (volume-major) and of `volumes`.
    let mut planes: Vec<Vec<T>> =
        (0..volume_count * samples).map(|_| vec![T::default(); shape[0] * plane]).collect();
    {
        // Hand each file the output planes of its frames, so that every file is opened and
        // decoded once, in parallel, straight into the volume.
        let mut chunks: Vec<std::vec::IntoIter<&mut [T]>> = planes
            .iter_mut()
            .map(|p| p.chunks_mut(plane).collect::<Vec<_>>().into_iter())
            .collect();
        let mut by_file: BTreeMap<usize, Targets<'_, T>> = BTreeMap::new();
        for (i, s) in slices.iter().enumerate() {
            let t = i / shape[0];
            let outs = chunks[t * samples..(t + 1) * samples]
                .iter_mut()
                .filter_map(Iterator::next)
                .collect();
            by_file.entry(s.file).or_default().push((s.frame, &s.lut, outs));
        }
        by_file.into_par_iter().try_for_each(|(file, targets)| {
            let h = &series.files[file];
            if !h.lengths_verified {
                super::lengths::check_element_lengths(&h.path, false)?;
            }
            if let Some(reason) = &h.pixel_data_short {
                return Err(Error::Truncated { path: h.path.clone(), reason: reason.clone() });
            }
            // The header read, so what fails now lies after it: the pixel data.
            let obj = open_file(&h.path).map_err(|e| Error::Corrupt {
                path: h.path.clone(),
                reason: format!(
                    "the data after the header cannot be read (damaged or truncated file): {e}"
                ),
            })?;
            let pixels = stored_pixels(&obj, h)?;
            if pixels.samples() != samples {
                return Err(Error::InvalidHeader {
                    path: h.path.clone(),
                    reason: format!(
                        "pixel data decodes to {} samples per pixel, the header says {samples}",
                        pixels.samples()
                    ),
                });
            }
            for (frame, lut, outs) in targets {
                for (c, out) in outs.into_iter().enumerate() {
                    pixels.frame_into(frame, c, lut, out);
                }
            }
            Ok(())
        })?;
    }
    planes
        .into_iter()
        .map(|p| {
            Volume::from_vec(shape, p, geometry.clone())
                .map(DynVolume::from)
                .map_err(|source| Error::Core { path: first.path.clone(), source })
        })
        .collect()
}
