//! BIDS JSON sidecars: the acquisition parameters that heudiconv, fMRIPrep and QSIPrep read
//! beside each NIfTI, with the keys, units and conventions dcm2niix writes (times in seconds,
//! vendor names shortened, ImageType split into an array), from the series' first image.
//!
//! Nothing that identifies the patient is written (no names, IDs, dates, UIDs, nor the free-text
//! ImageComments that dcm2niix copies). The site's attributes (institution, station, device
//! serial number) are written as dcm2niix writes them; `hounsfield anonymize` removes them. Keys that depend on the voxel axes (SliceTiming, PhaseEncodingDirection)
//! follow the volume as hounsfield stores it: slices in stored order, `j` along increasing row
//! index (dcm2niix flips rows, so its `j-` is our `j`).

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};
use serde_json::{Value, json};

use super::csa::CsaHeader;
use super::header::{DicomHeader, element, floats, header_of, open_error, text};
use super::private::{self, SIEMENS_CSA};
use super::series::DicomInfo;
use crate::error::Result;

/// A sidecar: keys in the order written.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Sidecar {
    /// (key, value) pairs.
    pub entries: Vec<(String, Value)>,
}

impl Sidecar {
    fn put(&mut self, key: &str, value: Value) {
        self.entries.push((key.to_owned(), value));
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The JSON text, one key per line (as dcm2niix lays it out), ending with a newline.
    pub fn to_json(&self) -> String {
        let body: Vec<String> = self
            .entries
            .iter()
            .map(|(k, v)| format!("\t{}: {}", Value::String(k.clone()), v))
            .collect();
        format!("{{\n{}\n}}\n", body.join(",\n"))
    }
}

/// dcm2niix's short vendor names, from the first two letters of Manufacturer.
fn vendor(manufacturer: &str) -> Option<&'static str> {
    let head = manufacturer.get(..2)?.to_ascii_uppercase();
    Some(match head.as_str() {
        "SI" => "Siemens",
        "GE" => "GE",
        "PH" => "Philips",
        "TO" => "Toshiba",
        "CA" => "Canon",
        "HI" => "Hitachi",
        "UI" => "UIH",
        "BR" => "Bruker",
        "ME" => "Mediso",
        "MR" => "MRSolutions",
        "HY" => "Hyperfine",
        "LE" => "Leica",
        _ => return None,
    })
}

fn positive(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<f64> {
    floats(obj, tag).map(|v| v[0]).filter(|v| *v > 0.0)
}

/// "hh:mm:ss.ffffff" from a DICOM TM value.
fn clock(tm: &str) -> Option<String> {
    let tm = tm.trim();
    let (hms, fraction) = tm.split_once('.').unwrap_or((tm, "0"));
    if hms.len() != 6 || !hms.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: f64 = format!("{}.{fraction}", &hms[4..]).parse().ok()?;
    Some(format!("{}:{}:{:09.6}", &hms[..2], &hms[2..4], seconds))
}

/// The sidecar of a series, read from the data set of `info.source` (its first image).
pub fn sidecar(info: &DicomInfo) -> Result<Sidecar> {
    let path = info.source.as_path();
    let obj = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| open_error(path, &e.to_string()))?;
    let header = header_of(&obj, path)?;
    Ok(from_object(&obj, &header, info))
}

fn from_object(obj: &InMemDicomObject, header: &DicomHeader, volume: &DicomInfo) -> Sidecar {
    let mut s = Sidecar::default();
    let t = |tag| text(obj, tag);
    let string = |s: &mut Sidecar, key: &str, v: String| {
        if !v.is_empty() {
            s.put(key, Value::String(v));
        }
    };
    let modality = t(tags::MODALITY);
    let mr = modality == "MR";
    // dcm2niix's X-ray test: exposure attributes, which take the place of echo time and slice
    // thickness in its sidecar.
    let xray = positive(obj, tags::EXPOSURE).is_some()
        || positive(obj, tags::X_RAY_TUBE_CURRENT).is_some();
    string(&mut s, "Modality", modality.clone());
    if let Some(v) = positive(obj, tags::MAGNETIC_FIELD_STRENGTH) {
        s.put("MagneticFieldStrength", json!(v));
    }
    if let Some(v) = positive(obj, tags::IMAGING_FREQUENCY) {
        s.put("ImagingFrequency", json!(v));
    }
    let manufacturer = t(tags::MANUFACTURER);
    string(
        &mut s,
        "Manufacturer",
        vendor(&manufacturer).map_or(manufacturer.clone(), str::to_owned),
    );
    string(&mut s, "ManufacturersModelName", t(tags::MANUFACTURER_MODEL_NAME));
    string(&mut s, "InstitutionName", t(tags::INSTITUTION_NAME));
    string(&mut s, "InstitutionalDepartmentName", t(tags::INSTITUTIONAL_DEPARTMENT_NAME));
    string(&mut s, "InstitutionAddress", t(tags::INSTITUTION_ADDRESS));
    string(&mut s, "DeviceSerialNumber", t(tags::DEVICE_SERIAL_NUMBER));
    string(&mut s, "StationName", t(tags::STATION_NAME));
    string(&mut s, "BodyPart", t(tags::BODY_PART_EXAMINED));
    string(&mut s, "PatientPosition", t(tags::PATIENT_POSITION));
    string(&mut s, "ProcedureStepDescription", t(tags::PERFORMED_PROCEDURE_STEP_DESCRIPTION));
    string(&mut s, "SoftwareVersions", t(tags::SOFTWARE_VERSIONS));
    let acquisition_type = t(tags::MR_ACQUISITION_TYPE);
    if matches!(acquisition_type.as_str(), "2D" | "3D") {
        s.put("MRAcquisitionType", json!(acquisition_type));
    }
    string(&mut s, "StudyDescription", t(tags::STUDY_DESCRIPTION));
    string(&mut s, "SeriesDescription", t(tags::SERIES_DESCRIPTION));
    // dcm2niix names an unnamed protocol after the series or the sequence.
    let protocol = [tags::PROTOCOL_NAME, tags::SERIES_DESCRIPTION, tags::SEQUENCE_NAME]
        .into_iter()
        .map(t)
        .find(|v| !v.is_empty())
        .unwrap_or_default();
    string(&mut s, "ProtocolName", protocol);
    let scanning = t(tags::SCANNING_SEQUENCE);
    string(&mut s, "ScanningSequence", scanning.clone());
    string(&mut s, "SequenceVariant", t(tags::SEQUENCE_VARIANT));
    string(&mut s, "ScanOptions", t(tags::SCAN_OPTIONS));
    let sequence = t(tags::SEQUENCE_NAME);
    string(
        &mut s,
        "SequenceName",
        if sequence.is_empty() { t(tags::PULSE_SEQUENCE_NAME) } else { sequence },
    );
    let image_type: Vec<String> = t(tags::IMAGE_TYPE)
        .split('\\')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    if !image_type.is_empty() {
        // As dcm2niix: the complex component spelled out where ImageType abbreviates it (M, P,
        // R, I) or ComplexImageComponent gives it.
        let mut image_type = image_type;
        let component = match t(tags::COMPLEX_IMAGE_COMPONENT).as_str() {
            c @ ("MAGNITUDE" | "PHASE" | "REAL" | "IMAGINARY") => Some(c.to_owned()),
            _ => image_type.iter().find_map(|v| match v.as_str() {
                "M" => Some("MAGNITUDE".to_owned()),
                "P" => Some("PHASE".to_owned()),
                "R" => Some("REAL".to_owned()),
                "I" => Some("IMAGINARY".to_owned()),
                _ => None,
            }),
        };
        if let Some(c) = component.filter(|c| !image_type.contains(c)) {
            image_type.push(c);
        }
        s.put("ImageType", json!(image_type));
        if image_type[0] == "DERIVED" {
            s.put("RawImage", json!(false));
        }
    }
    if let Some(n) = element(obj, tags::SERIES_NUMBER).and_then(|e| e.to_int::<i64>().ok()) {
        s.put("SeriesNumber", json!(n));
    }
    if !t(tags::ACQUISITION_DATE).is_empty()
        && let Some(c) = clock(&t(tags::ACQUISITION_TIME))
    {
        s.put("AcquisitionTime", json!(c));
    }
    if let Some(n) = element(obj, tags::ACQUISITION_NUMBER)
        .and_then(|e| e.to_int::<i64>().ok())
        .filter(|n| *n > 0)
    {
        s.put("AcquisitionNumber", json!(n));
    }
    if let Some(v) = positive(obj, tags::TRIGGER_TIME) {
        s.put("TriggerDelayTime", json!(v));
    }
    string(&mut s, "ConvolutionKernel", t(tags::CONVOLUTION_KERNEL));
    if let Some(v) = positive(obj, tags::EXPOSURE_TIME) {
        s.put("ExposureTime", json!(v / 1000.0));
    }
    if let Some(v) = positive(obj, tags::X_RAY_TUBE_CURRENT) {
        s.put("XRayTubeCurrent", json!(v));
    }
    if let Some(v) = positive(obj, tags::EXPOSURE) {
        s.put("XRayExposure", json!(v));
    }
    if !xray {
        // From the functional groups in Enhanced files.
        if let Some(v) = header.slice_thickness {
            s.put("SliceThickness", json!(v));
        }
        if let Some(v) = header.spacing_between_slices {
            s.put("SpacingBetweenSlices", json!(v));
        }
    }
    if let Some(v) = positive(obj, tags::SAR) {
        s.put("SAR", json!(v));
    }
    if let Some(v) = positive(obj, tags::NUMBER_OF_AVERAGES).filter(|v| *v > 1.0) {
        s.put("NumberOfAverages", json!(v));
    }
    if let Some(v) = positive(obj, tags::ECHO_NUMBERS).filter(|v| *v > 1.0) {
        s.put("EchoNumber", json!(v as i64));
    }
    if !xray && let Some(v) = positive(obj, tags::ECHO_TIME) {
        s.put("EchoTime", json!(v / 1000.0));
    }
    if let Some(v) = positive(obj, tags::REPETITION_TIME) {
        s.put("RepetitionTime", json!(v / 1000.0));
    }
    if let Some(v) = positive(obj, tags::INVERSION_TIME) {
        s.put("InversionTime", json!(v / 1000.0));
    }
    if let Some(v) = positive(obj, tags::FLIP_ANGLE) {
        s.put("FlipAngle", json!(v));
    }
    if let Some(v) = positive(obj, tags::PERCENT_PHASE_FIELD_OF_VIEW) {
        s.put("PercentPhaseFOV", json!(v));
    }
    if let Some(v) = positive(obj, tags::PERCENT_SAMPLING) {
        s.put("PercentSampling", json!(v));
    }
    let echo_train = positive(obj, tags::ECHO_TRAIN_LENGTH).unwrap_or(0.0);
    if echo_train > 1.0 {
        s.put("EchoTrainLength", json!(echo_train as i64));
    }
    if let Some(v) = positive(obj, tags::NUMBER_OF_PHASE_ENCODING_STEPS) {
        s.put("PhaseEncodingSteps", json!(v as i64));
    }
    let direction = t(tags::IN_PLANE_PHASE_ENCODING_DIRECTION);
    let (rows, columns) = (volume.rows, volume.columns);
    let mut recon_pe = None;
    if mr {
        let matrix = element(obj, tags::ACQUISITION_MATRIX)
            .and_then(|e| e.to_multi_int::<i64>().ok())
            .filter(|m| m.len() == 4);
        if let Some(pe) = matrix.and_then(|m| [m[2], m[3]].into_iter().find(|v| *v > 0)) {
            s.put("AcquisitionMatrixPE", json!(pe));
        }
        recon_pe = match direction.as_str() {
            _ if rows == columns && rows > 0 => Some(rows),
            "COL" => Some(rows),
            "ROW" => Some(columns),
            _ => None,
        };
        if let Some(r) = recon_pe {
            s.put("ReconMatrixPE", json!(r));
        }
    }
    if let Some(v) = positive(obj, tags::PARALLEL_REDUCTION_FACTOR_IN_PLANE).filter(|v| *v >= 1.0) {
        s.put("ParallelReductionFactorInPlane", json!(v));
    }
    if let Some(v) = positive(obj, tags::PIXEL_BANDWIDTH) {
        s.put("PixelBandwidth", json!(v));
    }
    // Siemens: phase-encoding polarity and echo spacing from the CSA image header.
    let csa = private::private(obj, SIEMENS_CSA, 0x10)
        .and_then(private::bytes)
        .and_then(|b| CsaHeader::parse(&b).ok());
    if let (Some(bandwidth), Some(r)) = (
        csa.as_ref().and_then(|c| c.float("BandwidthPerPixelPhaseEncode")).filter(|v| *v > 0.0),
        recon_pe,
    ) {
        let spacing = 1.0 / (bandwidth * r as f64);
        s.put("EffectiveEchoSpacing", json!(spacing));
        s.put("TotalReadoutTime", json!(spacing * (r as f64 - 1.0)));
    }
    // dcm2niix leaves phase encoding out of 3D acquisitions, but for echo trains that are not
    // spin echoes.
    let phase_encoded = acquisition_type != "3D" || (echo_train > 1.0 && !scanning.contains("SE"));
    let axis = match direction.as_str() {
        "ROW" => Some('i'),
        "COL" => Some('j'),
        _ => None,
    };
    if let (true, Some(axis)) = (mr && phase_encoded, axis) {
        match csa.as_ref().and_then(|c| c.float("PhaseEncodingDirectionPositive")) {
            Some(p) => {
                let sign = if p == 1.0 { "" } else { "-" };
                s.put("PhaseEncodingDirection", json!(format!("{axis}{sign}")));
            }
            None => s.put("PhaseEncodingAxis", json!(axis.to_string())),
        }
    }
    if let Some(times) = &volume.slice_times_ms {
        let first = times.iter().copied().fold(f64::INFINITY, f64::min).min(0.0);
        // Seconds, to the microsecond (the CSA values carry float noise in the last digits).
        let seconds: Vec<f64> =
            times.iter().map(|t| ((t - first) * 1000.0).round() / 1e6).collect();
        s.put("SliceTiming", json!(seconds));
    }
    if let Some(o) = header.orientation {
        s.put("ImageOrientationPatientDICOM", json!(o));
    }
    if matches!(direction.as_str(), "ROW" | "COL") {
        s.put("InPlanePhaseEncodingDirectionDICOM", json!(direction));
    }
    s.put("ConversionSoftware", json!("hounsfield"));
    s.put("ConversionSoftwareVersion", json!(env!("CARGO_PKG_VERSION")));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_vendors_as_dcm2niix_writes_them() {
        assert_eq!(clock("202959.925000").as_deref(), Some("20:29:59.925000"));
        assert_eq!(clock("102634").as_deref(), Some("10:26:34.000000"));
        assert_eq!(clock("10:26"), None);
        assert_eq!(vendor("SIEMENS"), Some("Siemens"));
        assert_eq!(vendor("GE MEDICAL SYSTEMS"), Some("GE"));
        assert_eq!(vendor("Philips Medical Systems"), Some("Philips"));
        assert_eq!(vendor("ACME"), None);
        let mut s = Sidecar::default();
        s.put("A", json!(1.5));
        s.put("B", json!(["x", "y"]));
        assert_eq!(s.to_json(), "{\n\t\"A\": 1.5,\n\t\"B\": [\"x\",\"y\"]\n}\n");
        assert!(serde_json::from_str::<Value>(&s.to_json()).is_ok());
    }
}
