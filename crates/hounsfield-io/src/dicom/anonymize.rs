//! De-identification with the DICOM PS3.15 Basic Application Level Confidentiality Profile.
//!
//! Every attribute of the profile's table (E.1-1) that hospital files commonly carry gets its
//! action: removed (X), emptied (Z), replaced by a dummy (D), or, for UIDs, replaced (U) by
//! `2.25.<128 bits of HMAC-like SHA-256(key, uid)>`, so that one key maps a UID to the same new
//! UID in every file (series stay series, references stay valid) and cannot be inverted without
//! the key. Private attributes, curves (50xx) and overlay data and comments (60xx,3000/4000) are
//! removed, in nested sequences too. Geometry (ImagePositionPatient, ImageOrientationPatient,
//! PixelSpacing...) and the pixel data are kept byte for byte. PatientIdentityRemoved,
//! DeidentificationMethod and its code sequence record what was done. Pixel data with burned-in
//! text (BurnedInAnnotation YES) is reported, not altered: the profile leaves that to the user.

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, open_file};
use sha2::{Digest, Sha256};

use super::header::open_error;
use crate::error::{Error, Result};

/// What the profile does to an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// X: remove.
    Remove,
    /// Z: keep the attribute with an empty value.
    Empty,
    /// D: replace with a dummy value of the same VR.
    Dummy,
    /// U: replace the UID with one derived from it and the key.
    Uid,
}

use Action::{Dummy, Empty, Remove, Uid};

/// The Basic Profile's actions for the attributes found in practice (PS3.15 Table E.1-1; where
/// the table allows several, the strictest that keeps the file valid). Retired attributes are
/// listed because old files still carry them.
#[allow(deprecated)]
const PROFILE: &[(Tag, Action)] = &[
    (tags::INSTANCE_CREATOR_UID, Uid),
    (tags::SOP_INSTANCE_UID, Uid),
    (tags::STUDY_DATE, Empty),
    (tags::SERIES_DATE, Remove),
    (tags::ACQUISITION_DATE, Remove),
    (tags::CONTENT_DATE, Empty),
    (tags::OVERLAY_DATE, Remove),
    (tags::CURVE_DATE, Remove),
    (tags::ACQUISITION_DATE_TIME, Remove),
    (tags::STUDY_TIME, Empty),
    (tags::SERIES_TIME, Remove),
    (tags::ACQUISITION_TIME, Remove),
    (tags::CONTENT_TIME, Empty),
    (tags::OVERLAY_TIME, Remove),
    (tags::CURVE_TIME, Remove),
    (tags::INSTANCE_CREATION_DATE, Remove),
    (tags::INSTANCE_CREATION_TIME, Remove),
    (tags::ACCESSION_NUMBER, Empty),
    (tags::INSTITUTION_NAME, Remove),
    (tags::INSTITUTION_ADDRESS, Remove),
    (tags::INSTITUTION_CODE_SEQUENCE, Remove),
    (tags::REFERRING_PHYSICIAN_NAME, Empty),
    (tags::REFERRING_PHYSICIAN_ADDRESS, Remove),
    (tags::REFERRING_PHYSICIAN_TELEPHONE_NUMBERS, Remove),
    (tags::REFERRING_PHYSICIAN_IDENTIFICATION_SEQUENCE, Remove),
    (tags::TIMEZONE_OFFSET_FROM_UTC, Remove),
    (tags::STATION_NAME, Remove),
    (tags::STUDY_DESCRIPTION, Remove),
    (tags::SERIES_DESCRIPTION, Remove),
    (tags::INSTITUTIONAL_DEPARTMENT_NAME, Remove),
    (tags::PHYSICIANS_OF_RECORD, Remove),
    (tags::PHYSICIANS_OF_RECORD_IDENTIFICATION_SEQUENCE, Remove),
    (tags::PERFORMING_PHYSICIAN_NAME, Remove),
    (tags::PERFORMING_PHYSICIAN_IDENTIFICATION_SEQUENCE, Remove),
    (tags::NAME_OF_PHYSICIANS_READING_STUDY, Remove),
    (tags::PHYSICIANS_READING_STUDY_IDENTIFICATION_SEQUENCE, Remove),
    (tags::OPERATORS_NAME, Remove),
    (tags::OPERATOR_IDENTIFICATION_SEQUENCE, Remove),
    (tags::ADMITTING_DIAGNOSES_DESCRIPTION, Remove),
    (tags::ADMITTING_DIAGNOSES_CODE_SEQUENCE, Remove),
    (tags::REFERENCED_STUDY_SEQUENCE, Remove),
    (tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, Remove),
    (tags::REFERENCED_PATIENT_SEQUENCE, Remove),
    (tags::REFERENCED_SOP_INSTANCE_UID, Uid),
    (tags::TRANSACTION_UID, Uid),
    (tags::DERIVATION_DESCRIPTION, Remove),
    (tags::IRRADIATION_EVENT_UID, Uid),
    (tags::PATIENT_NAME, Empty),
    (tags::PATIENT_ID, Empty),
    (tags::ISSUER_OF_PATIENT_ID, Remove),
    (tags::PATIENT_BIRTH_DATE, Empty),
    (tags::PATIENT_BIRTH_TIME, Remove),
    (tags::PATIENT_SEX, Empty),
    (tags::PATIENT_INSURANCE_PLAN_CODE_SEQUENCE, Remove),
    (tags::OTHER_PATIENT_I_DS, Remove),
    (tags::OTHER_PATIENT_NAMES, Remove),
    (tags::OTHER_PATIENT_I_DS_SEQUENCE, Remove),
    (tags::PATIENT_BIRTH_NAME, Remove),
    (tags::PATIENT_AGE, Remove),
    (tags::PATIENT_SIZE, Remove),
    (tags::PATIENT_WEIGHT, Remove),
    (tags::PATIENT_ADDRESS, Remove),
    (tags::PATIENT_MOTHER_BIRTH_NAME, Remove),
    (tags::MILITARY_RANK, Remove),
    (tags::BRANCH_OF_SERVICE, Remove),
    (tags::MEDICAL_RECORD_LOCATOR, Remove),
    (tags::COUNTRY_OF_RESIDENCE, Remove),
    (tags::REGION_OF_RESIDENCE, Remove),
    (tags::PATIENT_TELEPHONE_NUMBERS, Remove),
    (tags::ETHNIC_GROUP, Remove),
    (tags::OCCUPATION, Remove),
    (tags::ADDITIONAL_PATIENT_HISTORY, Remove),
    (tags::PREGNANCY_STATUS, Remove),
    (tags::PATIENT_RELIGIOUS_PREFERENCE, Remove),
    (tags::PATIENT_COMMENTS, Remove),
    (tags::RESPONSIBLE_PERSON, Remove),
    (tags::RESPONSIBLE_ORGANIZATION, Remove),
    (tags::DEVICE_SERIAL_NUMBER, Remove),
    (tags::DEVICE_UID, Uid),
    (tags::PROTOCOL_NAME, Remove),
    (tags::STUDY_INSTANCE_UID, Uid),
    (tags::SERIES_INSTANCE_UID, Uid),
    (tags::STUDY_ID, Empty),
    (tags::FRAME_OF_REFERENCE_UID, Uid),
    (tags::SYNCHRONIZATION_FRAME_OF_REFERENCE_UID, Uid),
    (tags::IMAGE_COMMENTS, Remove),
    (tags::CONCATENATION_UID, Uid),
    (tags::DIMENSION_ORGANIZATION_UID, Uid),
    (tags::REQUESTING_PHYSICIAN, Remove),
    (tags::REQUESTING_SERVICE, Remove),
    (tags::STUDY_COMMENTS, Remove),
    (tags::PATIENT_STATE, Remove),
    (tags::PERFORMED_PROCEDURE_STEP_START_DATE, Remove),
    (tags::PERFORMED_PROCEDURE_STEP_START_TIME, Remove),
    (tags::PERFORMED_PROCEDURE_STEP_ID, Remove),
    (tags::PERFORMED_PROCEDURE_STEP_DESCRIPTION, Remove),
    (tags::REQUEST_ATTRIBUTES_SEQUENCE, Remove),
    (tags::VERIFYING_OBSERVER_NAME, Dummy),
    (tags::PERSON_NAME, Dummy),
    (tags::UID, Uid),
    (tags::TEXT_VALUE, Remove),
    (tags::CONTENT_CREATOR_NAME, Empty),
    (tags::STORAGE_MEDIA_FILE_SET_UID, Uid),
    (tags::REFERENCED_FRAME_OF_REFERENCE_UID, Uid),
    (tags::RELATED_FRAME_OF_REFERENCE_UID, Uid),
];

/// How to de-identify.
#[derive(Clone, Debug)]
pub struct AnonymizeOptions {
    /// The secret that UIDs are hashed with. Use the same key for every file of a study (and
    /// across runs, to keep references between studies); keep it to re-link, or discard it.
    pub uid_key: Vec<u8>,
}

impl AnonymizeOptions {
    /// Options with the given UID key.
    pub fn with_key(key: impl Into<Vec<u8>>) -> Self {
        AnonymizeOptions { uid_key: key.into() }
    }

    /// Options with a key drawn at random for this process: UIDs stay consistent across the
    /// files anonymized with these options and cannot be linked back afterwards.
    pub fn random_key() -> Self {
        use std::hash::{BuildHasher, RandomState};
        let key: Vec<u8> = (0..4u64)
            .flat_map(|i| RandomState::new().hash_one((i, std::process::id())).to_le_bytes())
            .collect();
        AnonymizeOptions { uid_key: key }
    }
}

/// What anonymizing one file did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnonymizeReport {
    /// Attributes removed (profile X, private, curves, overlay data).
    pub removed: usize,
    /// Attributes emptied (Z) or replaced by a dummy (D).
    pub blanked: usize,
    /// UIDs replaced (U).
    pub uids_replaced: usize,
    /// BurnedInAnnotation is YES: the pixels themselves may show identifying text.
    pub burned_in_annotation: bool,
}

/// The UID that `uid` becomes under `key`: `2.25.` and 128 bits of SHA-256(key, uid) in decimal.
pub fn replacement_uid(key: &[u8], uid: &str) -> String {
    let digest = Sha256::new()
        .chain_update((key.len() as u64).to_le_bytes())
        .chain_update(key)
        .chain_update(uid.trim_end_matches('\0').trim().as_bytes())
        .finalize();
    let mut bits = [0u8; 16];
    bits.copy_from_slice(&digest[..16]);
    format!("2.25.{}", u128::from_be_bytes(bits))
}

/// Writes a de-identified copy of the DICOM file `input` to `output` (atomically).
pub fn anonymize_file(
    input: &Path,
    output: &Path,
    options: &AnonymizeOptions,
) -> Result<AnonymizeReport> {
    let _whole_file = super::lengths::check_element_lengths(input, false)?;
    let mut obj = open_file(input).map_err(|e| open_error(input, &e.to_string()))?;
    let mut report = AnonymizeReport {
        burned_in_annotation: obj
            .element_opt(tags::BURNED_IN_ANNOTATION)
            .ok()
            .flatten()
            .and_then(|e| e.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("YES")),
        ..AnonymizeReport::default()
    };
    anonymize_dataset(&mut obj, options, &mut report);
    let sop = obj
        .element_opt(tags::SOP_INSTANCE_UID)
        .ok()
        .flatten()
        .and_then(|e| e.to_str().ok().map(|s| s.trim_end_matches('\0').to_owned()));
    let key = options.uid_key.clone();
    obj.update_meta(|meta| {
        meta.media_storage_sop_instance_uid =
            sop.unwrap_or_else(|| replacement_uid(&key, &meta.media_storage_sop_instance_uid));
        meta.source_application_entity_title = None;
        meta.sending_application_entity_title = None;
        meta.receiving_application_entity_title = None;
    });
    obj.put(DataElement::new(tags::PATIENT_IDENTITY_REMOVED, VR::CS, PrimitiveValue::from("YES")));
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        PrimitiveValue::from("hounsfield: PS3.15 Basic Profile"),
    ));
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![InMemDicomObject::from_element_iter([
            DataElement::new(tags::CODE_VALUE, VR::SH, PrimitiveValue::from("113100")),
            DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PrimitiveValue::from("DCM")),
            DataElement::new(
                tags::CODE_MEANING,
                VR::LO,
                PrimitiveValue::from("Basic Application Confidentiality Profile"),
            ),
        ])]),
    ));
    obj.put(DataElement::new(
        tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
        VR::CS,
        PrimitiveValue::from("REMOVED"),
    ));
    let mut bytes = Vec::new();
    obj.write_all(&mut bytes).map_err(|e| Error::CannotWrite {
        path: output.to_path_buf(),
        reason: format!("cannot encode the anonymized data set: {e}"),
    })?;
    hounsfield_core::fs::write_bytes_atomic(output, &bytes)
        .map_err(|source| Error::Core { path: output.to_path_buf(), source })?;
    Ok(report)
}

/// What [`anonymize_dir`] did.
#[derive(Clone, Debug, Default)]
pub struct AnonymizedDir {
    /// Each file written, by input path, with its report.
    pub files: Vec<(PathBuf, AnonymizeReport)>,
    /// Files that are not DICOM, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Anonymizes every DICOM file under `input` into the same relative paths under `output`;
/// files that are not DICOM are skipped and listed with the reason.
pub fn anonymize_dir(
    input: &Path,
    output: &Path,
    options: &AnonymizeOptions,
) -> Result<AnonymizedDir> {
    let mut files = Vec::new();
    super::scan::collect_files(input, &mut files)?;
    files.sort();
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for file in files {
        let relative = file.strip_prefix(input).unwrap_or(&file);
        let target = output.join(relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { path: parent.to_path_buf(), source })?;
        }
        match anonymize_file(&file, &target, options) {
            Ok(report) => done.push((file, report)),
            Err(e @ (Error::WrongFormat { .. } | Error::InvalidHeader { .. })) => {
                skipped.push((file, e.to_string()))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(AnonymizedDir { files: done, skipped })
}

/// Applies the profile to one data set and, recursively, to the items of its sequences.
fn anonymize_dataset(
    obj: &mut InMemDicomObject,
    options: &AnonymizeOptions,
    report: &mut AnonymizeReport,
) {
    let present: Vec<Tag> = obj.tags().collect();
    for tag in present {
        let private = tag.group() % 2 == 1;
        let curve = (0x5000..=0x50FF).contains(&tag.group());
        let overlay = (0x6000..=0x60FF).contains(&tag.group())
            && (tag.element() == 0x3000 || tag.element() == 0x4000);
        if private || curve || overlay {
            obj.remove_element(tag);
            report.removed += 1;
            continue;
        }
        match PROFILE.iter().find(|(t, _)| *t == tag).map(|(_, a)| *a) {
            Some(Remove) => {
                obj.remove_element(tag);
                report.removed += 1;
            }
            Some(action @ (Empty | Dummy)) => {
                let vr = obj.get(tag).map_or(VR::LO, |e| e.vr());
                let value = if action == Dummy { dummy(vr) } else { PrimitiveValue::Empty };
                obj.put(DataElement::new(tag, vr, value));
                report.blanked += 1;
            }
            Some(Uid) => {
                let old = obj.get(tag).and_then(|e| e.to_str().ok().map(|s| s.into_owned()));
                if let Some(old) = old.filter(|s| !s.trim_end_matches('\0').is_empty()) {
                    let new = old
                        .split('\\')
                        .map(|u| replacement_uid(&options.uid_key, u))
                        .collect::<Vec<_>>()
                        .join("\\");
                    obj.put(DataElement::new(tag, VR::UI, PrimitiveValue::from(new)));
                    report.uids_replaced += 1;
                }
            }
            None => {
                obj.update_value(tag, |value| {
                    if let Value::Sequence(seq) = value {
                        for item in seq.items_mut() {
                            anonymize_dataset(item, options, report);
                        }
                    }
                });
            }
        }
    }
}

/// A dummy value that is valid for `vr`.
fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => PrimitiveValue::from("19000101"),
        VR::TM => PrimitiveValue::from("000000"),
        VR::DT => PrimitiveValue::from("19000101000000"),
        VR::PN | VR::LO | VR::SH | VR::LT | VR::ST | VR::UT | VR::CS => {
            PrimitiveValue::from("ANONYMIZED")
        }
        _ => PrimitiveValue::Empty,
    }
}
