//! The store's index: one JSON line per stored instance in `index.jsonl`, appended (and synced)
//! as each instance is committed, read back at start and rebuilt from the files when it is
//! missing, torn or disagrees with them.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, OpenFileOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::uid::checked_uid;

/// What the index knows about one stored file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// (0008,0018) SOPInstanceUID.
    pub sop_instance_uid: String,
    /// (0008,0016) SOPClassUID.
    pub sop_class_uid: String,
    /// (0020,000D) StudyInstanceUID.
    pub study_uid: String,
    /// (0020,000E) SeriesInstanceUID.
    pub series_uid: String,
    /// The file, relative to the store's root, with `/` separators.
    pub path: String,
    /// SHA-256 of the data set as received (the file without its meta group), hex.
    pub sha256: String,
    /// Length of that data set in bytes.
    pub bytes: u64,
    /// The transfer syntax it was received (and is stored) in.
    pub transfer_syntax: String,
    /// The calling AE title of the sender, as recorded in the file's (0002,0016).
    pub source_ae: String,
    /// (0010,0010) PatientName.
    pub patient_name: String,
    /// (0010,0020) PatientID.
    pub patient_id: String,
    /// (0008,0020) StudyDate.
    pub study_date: String,
    /// (0008,1030) StudyDescription.
    pub study_description: String,
    /// (0008,103E) SeriesDescription.
    pub series_description: String,
    /// (0008,0060) Modality.
    pub modality: String,
    /// (0020,0011) SeriesNumber.
    pub series_number: Option<i64>,
    /// (0020,0013) InstanceNumber.
    pub instance_number: Option<i64>,
    /// (0028,0010) Rows, for images.
    pub rows: Option<u32>,
    /// (0028,0011) Columns, for images.
    pub columns: Option<u32>,
    /// (0028,0008) NumberOfFrames (1 for a single-frame image).
    pub frames: Option<u32>,
    /// True for an instance kept under `conflicts/` because one with the same SOP Instance UID
    /// but other bytes was stored first.
    pub conflict: bool,
}

/// The name of the index file in the store's root.
pub const INDEX_FILE: &str = "index.jsonl";

/// Reads `index.jsonl`; `Ok(None)` when it is absent, an error naming the line when a line is
/// not a record (a torn write), so that the caller rebuilds.
pub fn load(path: &Path) -> Result<Option<Vec<InstanceRecord>>> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut records = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line).map_err(|e| {
            Error::instance(path.display().to_string(), format!("line {}: {e}", n + 1))
        })?;
        records.push(record);
    }
    Ok(Some(records))
}

/// Appends one record and syncs it to disk.
pub fn append(path: &Path, record: &InstanceRecord) -> Result<()> {
    let mut line = serde_json::to_vec(record)
        .map_err(|e| Error::instance(&record.sop_instance_uid, e.to_string()))?;
    line.push(b'\n');
    let mut file =
        OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    file.write_all(&line).and_then(|()| file.sync_data()).map_err(|e| Error::io(path, e))
}

/// Replaces the index with `records`, atomically (hounsfield-core's temporary file and rename).
pub fn rewrite(path: &Path, records: &[InstanceRecord]) -> Result<()> {
    let mut text = String::new();
    for r in records {
        let line = serde_json::to_string(r)
            .map_err(|e| Error::instance(&r.sop_instance_uid, e.to_string()))?;
        text.push_str(&line);
        text.push('\n');
    }
    crate::jobs::write_atomic(path, text.as_bytes())
}

/// The byte offset where a Part 10 file's data set starts: after the 128-byte preamble, `DICM`
/// and the meta group, whose length (0002,0000) must come first as the standard requires.
pub fn dataset_offset(path: &Path, head: &[u8]) -> Result<u64> {
    let refuse = |why: &str| Error::instance(path.display().to_string(), why.to_string());
    if head.len() < 144 || &head[128..132] != b"DICM" {
        return Err(refuse("not a DICOM Part 10 file (no DICM at byte 128)"));
    }
    if head[132..136] != [0x02, 0x00, 0x00, 0x00] || &head[136..138] != b"UL" {
        return Err(refuse("the meta group does not start with (0002,0000) UL"));
    }
    let length = u32::from_le_bytes([head[140], head[141], head[142], head[143]]);
    Ok(144 + u64::from(length))
}

/// SHA-256 and length of the data set of the Part 10 file at `path`.
pub fn dataset_digest(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut head = [0u8; 144];
    file.read_exact(&mut head).map_err(|e| Error::io(path, e))?;
    let offset = dataset_offset(path, &head)?;
    // Skipped, not read into memory: a corrupt group length may claim gigabytes.
    let skipped = std::io::copy(&mut (&mut file).take(offset - 144), &mut std::io::sink())
        .map_err(|e| Error::io(path, e))?;
    if skipped != offset - 144 {
        return Err(Error::instance(
            path.display().to_string(),
            "the meta group runs past the end of the file",
        ));
    }
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher).map_err(|e| Error::io(path, e))?;
    Ok((hex(&hasher.finalize()), bytes))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record of the file at `path` (stored as `rel` in the store), from its header (read up to
/// the pixel data) and the digest of its data set. UIDs that are not UIDs are refused.
pub fn record_of_file(
    path: &Path,
    rel: &str,
    sha256: String,
    bytes: u64,
    conflict: bool,
) -> Result<InstanceRecord> {
    let what = path.display().to_string();
    let obj: DefaultDicomObject = OpenFileOptions::new()
        .read_until(tags::PIXEL_DATA)
        .open_file(path)
        .map_err(|e| Error::instance(&what, format!("not readable as DICOM: {e}")))?;
    let text = |tag| crate::uid::text_of(&obj, tag);
    // Numbers as numbers, or as the text a UN-encoded IS holds.
    let int = |tag| {
        let e = obj.element_opt(tag).ok().flatten()?;
        (e.vr() != dicom_core::VR::UN)
            .then(|| e.to_int::<i64>().ok())
            .flatten()
            .or_else(|| text(tag).parse().ok())
    };
    let uint = |tag| int(tag).and_then(|v| u32::try_from(v).ok());
    let uid = |tag, name: &str| -> Result<String> {
        let value = text(tag);
        checked_uid(&value, name).map(str::to_string).map_err(|why| Error::instance(&what, why))
    };
    let meta = obj.meta();
    let is_image = obj.element_opt(tags::ROWS).ok().flatten().is_some();
    Ok(InstanceRecord {
        sop_instance_uid: uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?,
        sop_class_uid: uid(tags::SOP_CLASS_UID, "SOPClassUID")?,
        study_uid: uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?,
        series_uid: uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?,
        path: rel.to_string(),
        sha256,
        bytes,
        transfer_syntax: meta.transfer_syntax().trim_end_matches(['\0', ' ']).to_string(),
        source_ae: meta.source_application_entity_title().unwrap_or_default().trim().to_string(),
        patient_name: text(tags::PATIENT_NAME),
        patient_id: text(tags::PATIENT_ID),
        study_date: text(tags::STUDY_DATE),
        study_description: text(tags::STUDY_DESCRIPTION),
        series_description: text(tags::SERIES_DESCRIPTION),
        modality: text(tags::MODALITY),
        series_number: int(tags::SERIES_NUMBER),
        instance_number: int(tags::INSTANCE_NUMBER),
        rows: uint(tags::ROWS),
        columns: uint(tags::COLUMNS),
        frames: if is_image { Some(uint(tags::NUMBER_OF_FRAMES).unwrap_or(1)) } else { None },
        conflict,
    })
}
