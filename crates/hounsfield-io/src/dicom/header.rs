//! The attributes of one DICOM file that geometry, grouping and pixel decoding need, read from
//! the header alone.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::mem::InMemElement;
use dicom_object::{DefaultDicomObject, InMemDicomObject, OpenFileOptions};

use super::csa::CsaHeader;
use super::diffusion::{self, Diffusion};
use super::mosaic::{self, Mosaic};
use super::pixels::LutTable;
use super::private::{self, SIEMENS_CSA};
use crate::error::{Error, Result};

/// What hounsfield-io knows about one DICOM file before touching its pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct DicomHeader {
    /// The file.
    pub path: PathBuf,
    /// Transfer syntax UID (from the file meta group).
    pub transfer_syntax: String,
    /// (0020,000E)
    pub series_uid: String,
    /// (0020,0011), if present.
    pub series_number: Option<i64>,
    /// (0008,103E)
    pub series_description: String,
    /// (0008,0060)
    pub modality: String,
    /// (0008,0070)
    pub manufacturer: String,
    /// (0020,0013), if present.
    pub instance_number: Option<i64>,
    /// (0008,0018) SOPInstanceUID: the same image twice has the same one.
    pub sop_instance_uid: String,
    /// When the image was acquired within a 4D series, for ordering its volumes: (0020,0100)
    /// TemporalPositionIdentifier, else (0018,1060) TriggerTime, else (0020,0012)
    /// AcquisitionNumber (in that order of preference; the first present is used).
    pub temporal_key: Option<f64>,
    /// (0018,0086) EchoNumbers, if present.
    pub echo_number: Option<i64>,
    /// (0008,0008) ImageType, joined with `\`.
    pub image_type: String,
    /// (0028,0010); for a Siemens mosaic, the rows of one tile (one slice).
    pub rows: usize,
    /// (0028,0011); for a mosaic, the columns of one tile.
    pub columns: usize,
    /// (0028,0008), 1 when absent; for a mosaic, the slices it packs.
    pub frames: usize,
    /// (0028,0002)
    pub samples_per_pixel: usize,
    /// (0028,0004)
    pub photometric: String,
    /// (0028,0100)
    pub bits_allocated: u16,
    /// (0028,0101)
    pub bits_stored: u16,
    /// (0028,0103): true for two's complement.
    pub signed: bool,
    /// (0020,0032) ImagePositionPatient, LPS mm.
    pub position: Option<[f64; 3]>,
    /// (0020,0037) ImageOrientationPatient: row cosine then column cosine.
    pub orientation: Option<[f64; 6]>,
    /// (0028,0030) PixelSpacing: [between rows (y), between columns (x)] mm.
    pub pixel_spacing: Option<[f64; 2]>,
    /// (0018,0050)
    pub slice_thickness: Option<f64>,
    /// (0018,0088)
    pub spacing_between_slices: Option<f64>,
    /// (0028,1053), 1 when absent; 1 for colour images (the modality LUT is for greyscale).
    pub rescale_slope: f64,
    /// (0028,1052), 0 when absent; 0 for colour images.
    pub rescale_intercept: f64,
    /// (0028,3000) ModalityLUTSequence's table, which replaces slope and intercept (greyscale).
    pub modality_lut: Option<Arc<LutTable>>,
    /// (0028,0006) PlanarConfiguration is 1: colour planes stored one after the other.
    pub planar: bool,
    /// Enhanced multi-frame: each frame's geometry and rescale from the shared (5200,9229) and
    /// per-frame (5200,9230) functional groups; empty for other files. The top-level fields
    /// above then hold the first frame's values.
    pub frame_groups: Vec<FrameGroups>,
    /// Each frame's offset from the first along the slice normal, in mm: from (3004,000C)
    /// GridFrameOffsetVector (RT Dose), or a mosaic's tiles at their spacing.
    pub frame_offsets: Option<Vec<f64>>,
    /// The direction in which frames stack when it is not row x column: a mosaic's tiles follow
    /// the CSA SliceNormalVector, which may point the other way.
    pub slice_normal: Option<[f64; 3]>,
    /// Siemens mosaic: how the slices are packed; `position` is then the first tile's corner.
    pub mosaic: Option<Mosaic>,
    /// When each frame (mosaic tile) was acquired within the volume, ms (CSA MosaicRefAcqTimes).
    pub slice_times_ms: Option<Vec<f64>>,
    /// Diffusion weighting of a single-frame image (Enhanced files have it per frame).
    pub diffusion: Option<Diffusion>,
    /// Whether every declared length in the file, pixel data included, was found to fit in the
    /// file when the header was read (decoding then need not check again).
    pub lengths_verified: bool,
    /// Why the pixel data cannot be all there (it runs past the end of the file), found while
    /// reading the header: the header is readable, the image is not.
    pub pixel_data_short: Option<String>,
}

/// One frame's functional groups: what Enhanced multi-frame files say per frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrameGroups {
    /// PlanePositionSequence > ImagePositionPatient.
    pub position: Option<[f64; 3]>,
    /// PlaneOrientationSequence > ImageOrientationPatient.
    pub orientation: Option<[f64; 6]>,
    /// PixelMeasuresSequence > PixelSpacing (row, column).
    pub pixel_spacing: Option<[f64; 2]>,
    /// PixelMeasuresSequence > SliceThickness.
    pub slice_thickness: Option<f64>,
    /// PixelMeasuresSequence > SpacingBetweenSlices.
    pub spacing_between_slices: Option<f64>,
    /// PixelValueTransformationSequence > RescaleSlope.
    pub rescale_slope: Option<f64>,
    /// PixelValueTransformationSequence > RescaleIntercept.
    pub rescale_intercept: Option<f64>,
    /// FrameContentSequence > TemporalPositionIndex (4D Enhanced files).
    pub temporal_index: Option<f64>,
    /// FrameContentSequence > DimensionIndexValues without the spatial indices (those pointing
    /// at InStackPositionNumber or ImagePositionPatient): which volume the frame belongs to,
    /// as the DimensionIndexSequence orders them.
    pub volume_index: Option<Vec<u32>>,
    /// MRDiffusionSequence: b-value and gradient direction.
    pub diffusion: Option<Diffusion>,
}

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DicomHeader> {
    let lengths = super::lengths::check_element_lengths(path, true)?;
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| open_error(path, &e.to_string()))?;
    let mut header = header_of(&obj, path)?;
    header.lengths_verified = lengths.verified;
    header.pixel_data_short = lengths.pixel_data_short;
    Ok(header)
}

/// A DICOM open error as a typed error: files without the preamble/magic are the wrong format.
pub fn open_error(path: &Path, message: &str) -> Error {
    let mut head = [0u8; 132];
    let is_dicom = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
        .is_ok_and(|_| &head[128..132] == b"DICM");
    if is_dicom {
        Error::InvalidHeader { path: path.to_path_buf(), reason: message.to_owned() }
    } else {
        Error::WrongFormat {
            path: path.to_path_buf(),
            format: "DICOM",
            reason: "no DICM magic at byte 128".into(),
        }
    }
}

/// Extracts the header attributes from an opened object.
pub fn header_of(obj: &DefaultDicomObject, path: &Path) -> Result<DicomHeader> {
    let bad =
        |what: &str| Error::InvalidHeader { path: path.to_path_buf(), reason: what.to_owned() };
    let required = |tag, name: &str| -> Result<usize> {
        match int(obj, tag) {
            Some(v) if v > 0 && v <= 1 << 20 => Ok(v as usize),
            Some(v) => Err(bad(&format!("{name} is {v}, expected 1 to 1048576"))),
            None => Err(bad(&format!("{name} is missing"))),
        }
    };
    if element(obj, tags::ROWS).is_none() && element(obj, tags::COLUMNS).is_none() {
        let sop_class = text(obj, tags::SOP_CLASS_UID);
        let what = if sop_class.is_empty() {
            obj.meta().media_storage_sop_class_uid().trim_end_matches('\0').to_owned()
        } else {
            sop_class
        };
        // An image storage class without Rows is a damaged image, not a report.
        if is_non_image_class(&what) {
            return Err(Error::NotAnImage {
                path: path.to_path_buf(),
                reason: format!("no Rows or Columns (SOP class {what})"),
            });
        }
        return Err(bad(&format!("an image (SOP class {what:?}) without Rows or Columns")));
    }
    let bits_allocated = int(obj, tags::BITS_ALLOCATED).unwrap_or(16);
    if ![1, 8, 16, 32, 64].contains(&bits_allocated) {
        return Err(bad(&format!("BitsAllocated is {bits_allocated}, expected 1, 8, 16 or 32")));
    }
    let bits_stored = int(obj, tags::BITS_STORED).unwrap_or(bits_allocated);
    if bits_stored < 1 || bits_stored > bits_allocated {
        return Err(bad(&format!(
            "BitsStored is {bits_stored} with BitsAllocated {bits_allocated}"
        )));
    }
    let frames = match int(obj, tags::NUMBER_OF_FRAMES) {
        None => 1,
        Some(v) if v > 0 && v <= 1 << 20 => v as usize,
        Some(v) => return Err(bad(&format!("NumberOfFrames is {v}"))),
    };
    let frame_groups = functional_groups(obj, frames).map_err(|m| bad(&m))?;
    let signed = int(obj, tags::PIXEL_REPRESENTATION) == Some(1);
    let samples_per_pixel = int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(1, 4) as usize;
    // PS3.3 C.7.6.16.2.9 / C.11.1: the modality LUT applies to greyscale images only.
    let grey = samples_per_pixel == 1;
    let modality_lut = if grey { modality_table(obj, signed).map_err(|m| bad(&m))? } else { None };
    let csa = |low| {
        private::private(obj, SIEMENS_CSA, low)
            .and_then(private::bytes)
            .map(|b| CsaHeader::parse(&b))
    };
    let (csa_image, csa_series) = (csa(0x10), csa(0x20));
    let first = frame_groups.first().cloned().unwrap_or_default();
    // Copies of multi-frame files cut down to fewer frames keep the full vector: ignore a vector
    // too short rather than refuse a file whose frames are otherwise readable.
    let frame_offsets =
        floats(obj, tags::GRID_FRAME_OFFSET_VECTOR).filter(|offsets| offsets.len() >= frames);
    let mut header = DicomHeader {
        path: path.to_path_buf(),
        transfer_syntax: obj.meta().transfer_syntax().trim_end_matches('\0').to_owned(),
        series_uid: text(obj, tags::SERIES_INSTANCE_UID),
        series_number: int(obj, tags::SERIES_NUMBER),
        series_description: text(obj, tags::SERIES_DESCRIPTION),
        modality: text(obj, tags::MODALITY),
        manufacturer: text(obj, tags::MANUFACTURER),
        instance_number: int(obj, tags::INSTANCE_NUMBER),
        sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID),
        temporal_key: float(obj, tags::TEMPORAL_POSITION_IDENTIFIER)
            .or_else(|| float(obj, tags::TRIGGER_TIME))
            .or_else(|| float(obj, tags::ACQUISITION_NUMBER)),
        echo_number: int(obj, tags::ECHO_NUMBERS),
        image_type: text(obj, tags::IMAGE_TYPE),
        rows: required(tags::ROWS, "Rows")?,
        columns: required(tags::COLUMNS, "Columns")?,
        frames,
        samples_per_pixel,
        photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION),
        bits_allocated: bits_allocated as u16,
        bits_stored: bits_stored as u16,
        signed,
        position: first.position.or_else(|| position(obj)),
        orientation: first.orientation.or_else(|| orientation(obj)),
        pixel_spacing: first.pixel_spacing.or_else(|| pixel_spacing(obj)),
        slice_thickness: first.slice_thickness.or_else(|| positive(obj, tags::SLICE_THICKNESS)),
        spacing_between_slices: first
            .spacing_between_slices
            .or_else(|| positive(obj, tags::SPACING_BETWEEN_SLICES)),
        rescale_slope: if grey {
            slope(first.rescale_slope.or_else(|| float(obj, tags::RESCALE_SLOPE)))
        } else {
            1.0
        },
        rescale_intercept: if grey {
            first.rescale_intercept.or_else(|| float(obj, tags::RESCALE_INTERCEPT)).unwrap_or(0.0)
        } else {
            0.0
        },
        modality_lut,
        planar: int(obj, tags::PLANAR_CONFIGURATION) == Some(1),
        diffusion: None,
        frame_groups,
        frame_offsets,
        slice_normal: None,
        mosaic: None,
        slice_times_ms: None,
        lengths_verified: false,
        pixel_data_short: None,
    };
    // A CSA header that does not parse only matters where it is needed: for a mosaic.
    let csa_image = csa_image.and_then(Result::ok);
    if mosaic::is_mosaic(&header.image_type) {
        let parsed = csa(0x10).transpose().map_err(|m| bad(&format!("CSA image header: {m}")))?;
        let series = csa_series.and_then(Result::ok);
        mosaic::unpack(&mut header, obj, parsed.as_ref(), series.as_ref()).map_err(|m| bad(&m))?;
    }
    if header.frame_groups.is_empty() {
        header.diffusion = diffusion::of_image(obj, csa_image.as_ref());
    }
    Ok(header)
}

/// The table of (0028,3000) ModalityLUTSequence, if any: LUTDescriptor (entries, 0 meaning 65536;
/// first mapped value, signed when the pixels are; bits per entry) and LUTData.
fn modality_table(
    obj: &InMemDicomObject,
    signed: bool,
) -> std::result::Result<Option<Arc<LutTable>>, String> {
    let Some(lut) = item(obj, tags::MODALITY_LUT_SEQUENCE) else { return Ok(None) };
    let descriptor = element(lut, tags::LUT_DESCRIPTOR)
        .and_then(|e| e.to_multi_int::<i64>().ok())
        .filter(|d| d.len() == 3)
        .ok_or("ModalityLUTSequence has no LUTDescriptor of 3 values")?;
    let entries = match descriptor[0] {
        0 => 65536,
        n if (1..=65536).contains(&n) => n as usize,
        n => return Err(format!("ModalityLUTSequence declares {n} entries")),
    };
    // The first mapped value is US or SS as the pixels are; parsed as US it must be re-signed.
    let first = if signed && descriptor[1] > 32767 { descriptor[1] - 65536 } else { descriptor[1] };
    let values: Vec<u16> = element(lut, tags::LUT_DATA)
        .and_then(|e| e.to_multi_int::<u16>().ok())
        .ok_or("ModalityLUTSequence has no LUTData")?;
    if values.len() < entries {
        return Err(format!(
            "ModalityLUTSequence's LUTData has {} of its {entries} entries",
            values.len()
        ));
    }
    Ok(Some(Arc::new(LutTable { first, values: values[..entries].to_vec() })))
}

/// SOP classes whose instances hold no image: DICOMDIR, structured reports, presentation states,
/// waveforms, encapsulated documents, RT plans and structure sets, registrations, spectroscopy.
fn is_non_image_class(uid: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "1.2.840.10008.1.3.10",
        "1.2.840.10008.5.1.4.1.1.88.",
        "1.2.840.10008.5.1.4.1.1.11.",
        "1.2.840.10008.5.1.4.1.1.9.",
        "1.2.840.10008.5.1.4.1.1.104.",
        "1.2.840.10008.5.1.4.38.",
        "1.2.840.10008.5.1.4.39.",
        "1.2.840.10008.5.1.4.1.1.68.",
    ];
    const CLASSES: [&str; 14] = [
        "1.2.840.10008.5.1.4.1.1.481.3",
        "1.2.840.10008.5.1.4.1.1.481.4",
        "1.2.840.10008.5.1.4.1.1.481.5",
        "1.2.840.10008.5.1.4.1.1.481.6",
        "1.2.840.10008.5.1.4.1.1.481.7",
        "1.2.840.10008.5.1.4.1.1.481.8",
        "1.2.840.10008.5.1.4.1.1.481.9",
        "1.2.840.10008.5.1.4.1.1.66",
        "1.2.840.10008.5.1.4.1.1.66.1",
        "1.2.840.10008.5.1.4.1.1.66.2",
        "1.2.840.10008.5.1.4.1.1.66.3",
        "1.2.840.10008.5.1.4.1.1.66.5",
        "1.2.840.10008.5.1.4.1.1.4.2",
        "1.2.840.10008.5.1.4.1.1.481.10",
    ];
    PREFIXES.iter().any(|p| uid.starts_with(p)) || CLASSES.contains(&uid)
}

/// A slope of 0 (or none) would erase the image: treat it as 1, as pydicom users expect.
pub fn slope(v: Option<f64>) -> f64 {
    match v {
        Some(s) if s != 0.0 => s,
        _ => 1.0,
    }
}

/// The element at `tag`, when present. Files converted through a tool that lost the dictionary
/// store standard attributes as UN (bytes): those are read as the text they hold.
pub(super) fn element(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemElement> {
    obj.element_opt(tag).ok().flatten()
}

/// The text of an element stored as UN, or None for any other VR.
pub(super) fn unknown_text(e: &InMemElement) -> Option<String> {
    if e.vr() != VR::UN {
        return None;
    }
    let bytes = e.to_bytes().ok()?;
    Some(
        String::from_utf8_lossy(&bytes)
            .trim_matches(|c: char| c == '\0' || c.is_whitespace())
            .to_owned(),
    )
}

pub(super) fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    element(obj, tag)
        .and_then(|e| unknown_text(e).or_else(|| e.to_str().ok().map(|s| s.trim().to_owned())))
        .unwrap_or_default()
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i64> {
    let e = element(obj, tag)?;
    match unknown_text(e) {
        // Binary integer VRs (US, SL...) keep their binary form under UN: only IS text parses.
        Some(t) => t.split('\\').next()?.trim().parse().ok(),
        None => e.to_int::<i64>().ok(),
    }
}

/// A multi-valued decimal attribute; absent when any value is not finite.
pub(super) fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = element(obj, tag)?;
    let values = match unknown_text(e) {
        Some(t) => {
            t.split('\\').map(|v| v.trim().parse::<f64>()).collect::<Result<Vec<_>, _>>().ok()
        }
        None => e.to_multi_float64().ok(),
    };
    values.filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).and_then(|v| v.first().copied())
}

fn positive(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    float(obj, tag).filter(|v| *v > 0.0)
}

fn position(obj: &InMemDicomObject) -> Option<[f64; 3]> {
    floats(obj, tags::IMAGE_POSITION_PATIENT).filter(|v| v.len() >= 3).map(|v| [v[0], v[1], v[2]])
}

fn orientation(obj: &InMemDicomObject) -> Option<[f64; 6]> {
    floats(obj, tags::IMAGE_ORIENTATION_PATIENT)
        .filter(|v| v.len() >= 6)
        .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]])
}

fn pixel_spacing(obj: &InMemDicomObject) -> Option<[f64; 2]> {
    floats(obj, tags::PIXEL_SPACING)
        .filter(|v| v.len() >= 2)
        .map(|v| [v[0], v[1]])
        .filter(|s| s[0] > 0.0 && s[1] > 0.0)
}

/// The first item of sequence `tag` in `obj`.
pub(super) fn item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.element_opt(tag).ok().flatten().and_then(|e| e.items()).and_then(|items| items.first())
}

/// The functional groups of one item of the shared or per-frame sequence.
fn groups_of(g: &InMemDicomObject) -> FrameGroups {
    let measures = item(g, tags::PIXEL_MEASURES_SEQUENCE);
    let transform = item(g, tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
    FrameGroups {
        position: item(g, tags::PLANE_POSITION_SEQUENCE).and_then(position),
        orientation: item(g, tags::PLANE_ORIENTATION_SEQUENCE).and_then(orientation),
        pixel_spacing: measures.and_then(pixel_spacing),
        slice_thickness: measures.and_then(|m| positive(m, tags::SLICE_THICKNESS)),
        spacing_between_slices: measures.and_then(|m| positive(m, tags::SPACING_BETWEEN_SLICES)),
        rescale_slope: transform.and_then(|t| float(t, tags::RESCALE_SLOPE)),
        rescale_intercept: transform.and_then(|t| float(t, tags::RESCALE_INTERCEPT)),
        temporal_index: item(g, tags::FRAME_CONTENT_SEQUENCE)
            .and_then(|c| float(c, tags::TEMPORAL_POSITION_INDEX)),
        volume_index: None,
        diffusion: diffusion::of_frame_group(g),
    }
}

/// Which entries of DimensionIndexValues locate a frame within a volume (they point at
/// InStackPositionNumber or ImagePositionPatient); `None` without a DimensionIndexSequence.
fn spatial_dimensions(obj: &InMemDicomObject) -> Option<Vec<bool>> {
    let items = obj.element_opt(tags::DIMENSION_INDEX_SEQUENCE).ok().flatten()?.items()?;
    items
        .iter()
        .map(|d| {
            let pointer = element(d, tags::DIMENSION_INDEX_POINTER)?.value().to_tag().ok()?;
            Some(
                pointer == tags::IN_STACK_POSITION_NUMBER
                    || pointer == tags::IMAGE_POSITION_PATIENT,
            )
        })
        .collect()
}

/// A frame's DimensionIndexValues without its spatial entries.
fn volume_index(frame: &InMemDicomObject, spatial: &[bool]) -> Option<Vec<u32>> {
    let values: Vec<u32> =
        element(item(frame, tags::FRAME_CONTENT_SEQUENCE)?, tags::DIMENSION_INDEX_VALUES)?
            .to_multi_int::<u32>()
            .ok()?;
    (values.len() == spatial.len())
        .then(|| values.iter().zip(spatial).filter(|(_, s)| !**s).map(|(v, _)| *v).collect())
}

/// Each frame's groups, per-frame values over shared ones; empty without per-frame groups.
fn functional_groups(
    obj: &InMemDicomObject,
    frames: usize,
) -> std::result::Result<Vec<FrameGroups>, String> {
    let Some(per_frame) = obj
        .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .ok()
        .flatten()
        .and_then(|e| e.items())
    else {
        return Ok(Vec::new());
    };
    // Copies cut down to fewer frames keep every item: use the first `frames`.
    if per_frame.len() < frames {
        return Err(format!(
            "PerFrameFunctionalGroupsSequence has {} items for {frames} frames",
            per_frame.len()
        ));
    }
    let shared = item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).map(groups_of);
    let shared = shared.unwrap_or_default();
    let spatial = spatial_dimensions(obj);
    Ok(per_frame[..frames]
        .iter()
        .map(|f| {
            let own = groups_of(f);
            FrameGroups {
                position: own.position.or(shared.position),
                orientation: own.orientation.or(shared.orientation),
                pixel_spacing: own.pixel_spacing.or(shared.pixel_spacing),
                slice_thickness: own.slice_thickness.or(shared.slice_thickness),
                spacing_between_slices: own
                    .spacing_between_slices
                    .or(shared.spacing_between_slices),
                rescale_slope: own.rescale_slope.or(shared.rescale_slope),
                rescale_intercept: own.rescale_intercept.or(shared.rescale_intercept),
                temporal_index: own.temporal_index.or(shared.temporal_index),
                volume_index: spatial.as_deref().and_then(|s| volume_index(f, s)),
                diffusion: own.diffusion.or(shared.diffusion),
            }
        })
        .collect())
}

impl DicomHeader {
    /// Row and column direction cosines, normalised, and their cross product (the slice normal).
    pub fn axes(&self) -> Option<[[f64; 3]; 3]> {
        let o = self.orientation?;
        let norm = |v: [f64; 3]| {
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            (n > 1e-6).then(|| v.map(|x| x / n))
        };
        let r = norm([o[0], o[1], o[2]])?;
        let c = norm([o[3], o[4], o[5]])?;
        let n = norm([
            r[1] * c[2] - r[2] * c[1],
            r[2] * c[0] - r[0] * c[2],
            r[0] * c[1] - r[1] * c[0],
        ])?;
        Some([r, c, n])
    }
}
