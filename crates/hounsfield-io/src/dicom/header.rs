//! The attributes of one DICOM file that geometry, grouping and pixel decoding need, read from
//! the header alone.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};

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
    /// (0020,0013), if present.
    pub instance_number: Option<i64>,
    /// (0018,0086) EchoNumbers, if present.
    pub echo_number: Option<i64>,
    /// (0008,0008) ImageType, joined with `\`.
    pub image_type: String,
    /// (0028,0010)
    pub rows: usize,
    /// (0028,0011)
    pub columns: usize,
    /// (0028,0008), 1 when absent.
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
    /// (0028,1053), 1 when absent.
    pub rescale_slope: f64,
    /// (0028,1052), 0 when absent.
    pub rescale_intercept: f64,
    /// Whether (5200,9230) PerFrameFunctionalGroupsSequence is present (Enhanced multi-frame:
    /// geometry and rescale live per frame).
    pub per_frame_groups: bool,
}

/// Reads the header of `path`, stopping before the pixel data.
pub fn read_header(path: &Path) -> Result<DicomHeader> {
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| open_error(path, &e.to_string()))?;
    header_of(&obj, path)
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
    let text = |tag| -> String {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok().map(|s| s.trim().to_owned()))
            .unwrap_or_default()
    };
    let int = |tag| -> Option<i64> {
        obj.element_opt(tag).ok().flatten().and_then(|e| e.to_int::<i64>().ok())
    };
    let floats = |tag| -> Option<Vec<f64>> {
        obj.element_opt(tag)
            .ok()
            .flatten()
            .and_then(|e| e.to_multi_float64().ok())
            .filter(|v| v.iter().all(|x| x.is_finite()))
    };
    let float = |tag| floats(tag).and_then(|v| v.first().copied());
    let required = |tag, name: &str| -> Result<usize> {
        match int(tag) {
            Some(v) if v > 0 && v <= 1 << 20 => Ok(v as usize),
            Some(v) => Err(bad(&format!("{name} is {v}, expected 1 to 1048576"))),
            None => Err(bad(&format!("{name} is missing"))),
        }
    };
    let bits_allocated = int(tags::BITS_ALLOCATED).unwrap_or(16);
    if ![1, 8, 16, 32, 64].contains(&bits_allocated) {
        return Err(bad(&format!("BitsAllocated is {bits_allocated}, expected 8, 16 or 32")));
    }
    let bits_stored = int(tags::BITS_STORED).unwrap_or(bits_allocated);
    if bits_stored < 1 || bits_stored > bits_allocated {
        return Err(bad(&format!(
            "BitsStored is {bits_stored} with BitsAllocated {bits_allocated}"
        )));
    }
    let fixed = |v: Option<Vec<f64>>, n: usize| v.filter(|v| v.len() >= n);
    let slope = float(tags::RESCALE_SLOPE).unwrap_or(1.0);
    Ok(DicomHeader {
        path: path.to_path_buf(),
        transfer_syntax: obj.meta().transfer_syntax().trim_end_matches('\0').to_owned(),
        series_uid: text(tags::SERIES_INSTANCE_UID),
        series_number: int(tags::SERIES_NUMBER),
        series_description: text(tags::SERIES_DESCRIPTION),
        modality: text(tags::MODALITY),
        instance_number: int(tags::INSTANCE_NUMBER),
        echo_number: int(tags::ECHO_NUMBERS),
        image_type: text(tags::IMAGE_TYPE),
        rows: required(tags::ROWS, "Rows")?,
        columns: required(tags::COLUMNS, "Columns")?,
        frames: match int(tags::NUMBER_OF_FRAMES) {
            None => 1,
            Some(v) if v > 0 && v <= 1 << 20 => v as usize,
            Some(v) => return Err(bad(&format!("NumberOfFrames is {v}"))),
        },
        samples_per_pixel: int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).clamp(1, 4) as usize,
        photometric: text(tags::PHOTOMETRIC_INTERPRETATION),
        bits_allocated: bits_allocated as u16,
        bits_stored: bits_stored as u16,
        signed: int(tags::PIXEL_REPRESENTATION) == Some(1),
        position: fixed(floats(tags::IMAGE_POSITION_PATIENT), 3).map(|v| [v[0], v[1], v[2]]),
        orientation: fixed(floats(tags::IMAGE_ORIENTATION_PATIENT), 6)
            .map(|v| [v[0], v[1], v[2], v[3], v[4], v[5]]),
        pixel_spacing: fixed(floats(tags::PIXEL_SPACING), 2)
            .map(|v| [v[0], v[1]])
            .filter(|s| s[0] > 0.0 && s[1] > 0.0),
        slice_thickness: float(tags::SLICE_THICKNESS).filter(|v| *v > 0.0),
        spacing_between_slices: float(tags::SPACING_BETWEEN_SLICES).filter(|v| *v > 0.0),
        // A slope of 0 would erase the image: treat it as absent, as pydicom users expect.
        rescale_slope: if slope == 0.0 { 1.0 } else { slope },
        rescale_intercept: float(tags::RESCALE_INTERCEPT).unwrap_or(0.0),
        per_frame_groups: obj
            .element_opt(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
            .ok()
            .flatten()
            .is_some(),
    })
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
