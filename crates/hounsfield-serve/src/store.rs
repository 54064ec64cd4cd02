//! The study store: instances written atomically under `studies/<study>/<series>/<sop>.dcm`,
//! a re-sent instance with the same bytes accepted once, one with other bytes kept under
//! `conflicts/<sop>/<sha256>.dcm` and reported, never written over; the index kept in step.
//!
//! An instance is received into `.incoming/` (its meta group first, then the data set as it
//! arrives, hashed on the way), synced, read back for its UIDs, then renamed into place without
//! replacing anything (`persist_noclobber`). A sender that dies mid-instance leaves only a
//! temporary file, removed when the transfer is dropped or at the next start.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use dicom_object::FileMetaTableBuilder;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::index::{self, INDEX_FILE, InstanceRecord, dataset_digest, hex, record_of_file};
use crate::uid::checked_uid;

/// This implementation's class UID, written into the meta group of the files it stores.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.302502930482911948311467451129637251837";
/// This implementation's version name (at most 16 characters).
pub const IMPLEMENTATION_VERSION_NAME: &str = "HOUNSFIELD_0_1";

const INCOMING: &str = ".incoming";
const STUDIES: &str = "studies";
const CONFLICTS: &str = "conflicts";

/// A directory of received instances and their index.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Stored instances by SOP Instance UID.
    instances: BTreeMap<String, InstanceRecord>,
    /// Instances kept beside a stored one of the same UID with other bytes.
    conflicts: Vec<InstanceRecord>,
}

/// What opening a store found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct OpenReport {
    /// Stored instances.
    pub instances: usize,
    /// Conflicting instances kept under `conflicts/`.
    pub conflicts: usize,
    /// Why the index was rebuilt from the files, if it was.
    pub rebuilt: Option<String>,
    /// Temporary files of interrupted transfers removed from `.incoming/`.
    pub removed_partials: usize,
    /// Files in the store that could not be read as instances (left where they are).
    pub unreadable: Vec<String>,
}

/// What became of one received instance.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per instance received, moved once
pub enum Outcome {
    /// Stored for the first time.
    Stored(InstanceRecord),
    /// The same SOP Instance UID with the same data set bytes was stored before; nothing written.
    Duplicate(InstanceRecord),
    /// The same SOP Instance UID was stored before with other bytes: this one is kept under
    /// `conflicts/` (`kept`), the stored one is untouched (`stored`).
    Conflict {
        /// The instance just received, kept under `conflicts/`.
        kept: InstanceRecord,
        /// The instance stored first.
        stored: InstanceRecord,
    },
}

/// An instance being received: a temporary file in the store's `.incoming/` that holds the meta
/// group and the data set bytes so far, and their running digest.
#[derive(Debug)]
pub struct Incoming {
    file: tempfile::NamedTempFile,
    hasher: Sha256,
    bytes: u64,
    limit: u64,
    sop_class_uid: String,
    sop_instance_uid: String,
}

impl Incoming {
    /// Appends data set bytes; refuses to go past the size limit.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.bytes += data.len() as u64;
        if self.bytes > self.limit {
            return Err(Error::instance(
                &self.sop_instance_uid,
                format!("instance larger than the limit of {}", size_text(self.limit)),
            ));
        }
        self.hasher.update(data);
        self.file.write_all(data).map_err(|e| Error::io(self.file.path(), e))
    }

    /// Data set bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// A study in the store, with its series.
#[derive(Clone, Debug, Serialize)]
pub struct StudySummary {
    /// StudyInstanceUID.
    pub study_uid: String,
    /// PatientName.
    pub patient_name: String,
    /// PatientID.
    pub patient_id: String,
    /// StudyDate.
    pub study_date: String,
    /// StudyDescription.
    pub description: String,
    /// Its series, by SeriesNumber then UID.
    pub series: Vec<SeriesSummary>,
}

/// A series in the store.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesSummary {
    /// SeriesInstanceUID.
    pub series_uid: String,
    /// SeriesNumber.
    pub number: Option<i64>,
    /// SeriesDescription.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// Stored instances.
    pub instances: usize,
    /// Frames summed over its images.
    pub frames: u64,
    /// Rows and columns of its first image, if it has images.
    pub size: Option<[u32; 2]>,
    /// Its directory, relative to the store's root.
    pub dir: String,
}

/// A stored series' voxel grid, as hounsfield-io reads the series (the grid `hounsfield convert`
/// would write).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SeriesGeometry {
    /// Voxels along (z, y, x).
    pub shape: [usize; 3],
    /// Spacing along x, y, z in mm.
    pub spacing: [f64; 3],
    /// Centre of voxel (0, 0, 0), LPS mm.
    pub origin: [f64; 3],
    /// Direction cosines (column k: index axis k), LPS.
    pub direction: [[f64; 3]; 3],
    /// Orientation code of the index axes (e.g. `LPS`).
    pub orientation: String,
    /// Volumes read (time points times samples).
    pub volumes: usize,
}

impl Store {
    /// Opens (creating if needed) the store at `root`: removes partial transfers, loads the
    /// index and rebuilds it from the files when it is missing, unreadable or out of step.
    pub fn open(root: impl AsRef<Path>) -> Result<(Store, OpenReport)> {
        let root = root.as_ref().to_path_buf();
        for dir in [&root, &root.join(INCOMING), &root.join(STUDIES), &root.join(CONFLICTS)] {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let mut report = OpenReport::default();
        let incoming = root.join(INCOMING);
        for entry in fs::read_dir(&incoming).map_err(|e| Error::io(&incoming, e))? {
            let path = entry.map_err(|e| Error::io(&incoming, e))?.path();
            if path.is_file() {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                report.removed_partials += 1;
            }
        }
        let index_path = root.join(INDEX_FILE);
        let mut files = BTreeSet::new();
        for top in [STUDIES, CONFLICTS] {
            collect_dcm(&root, &root.join(top), &mut files)?;
        }
        let loaded = index::load(&index_path);
        let (records, why) = match loaded {
            Ok(Some(records)) => {
                let listed: BTreeSet<&str> = records.iter().map(|r| r.path.as_str()).collect();
                let missing = listed.iter().filter(|p| !files.contains(**p)).count();
                let unlisted = files.iter().filter(|p| !listed.contains(p.as_str())).count();
                let why =
                    (missing > 0 || unlisted > 0 || listed.len() != records.len()).then(|| {
                        format!(
                            "{INDEX_FILE} disagrees with the files: {unlisted} file(s) not in it, \
                         {missing} entry(ies) without a file, {} repeated entry(ies)",
                            records.len() - listed.len()
                        )
                    });
                (records, why)
            }
            Ok(None) => {
                (Vec::new(), (!files.is_empty()).then(|| format!("{INDEX_FILE} is missing")))
            }
            Err(e) => (Vec::new(), Some(format!("{INDEX_FILE} is unreadable ({e})"))),
        };
        let records = match why {
            None => records,
            Some(why) => {
                let mut known: BTreeMap<String, InstanceRecord> =
                    records.into_iter().map(|r| (r.path.clone(), r)).collect();
                let mut rebuilt = Vec::new();
                for rel in &files {
                    if let Some(r) = known.remove(rel) {
                        rebuilt.push(r);
                        continue;
                    }
                    let path = root.join(rel);
                    let conflict = rel.starts_with(CONFLICTS);
                    match dataset_digest(&path)
                        .and_then(|(sha, bytes)| record_of_file(&path, rel, sha, bytes, conflict))
                    {
                        Ok(r) => rebuilt.push(r),
                        Err(e) => report.unreadable.push(e.to_string()),
                    }
                }
                index::rewrite(&index_path, &rebuilt)?;
                report.rebuilt = Some(why);
                rebuilt
            }
        };
        let mut state = State::default();
        for r in records {
            if r.conflict {
                state.conflicts.push(r);
            } else {
                state.instances.insert(r.sop_instance_uid.clone(), r);
            }
        }
        report.instances = state.instances.len();
        report.conflicts = state.conflicts.len();
        Ok((Store { root, state: Mutex::new(state) }, report))
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated (each update is one
        // insert or push), so a poisoned lock is still good to use.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts receiving an instance announced as `sop_class_uid`/`sop_instance_uid` in
    /// `transfer_syntax` from `source_ae`, at most `limit` data set bytes.
    pub fn begin(
        &self,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        transfer_syntax: &str,
        source_ae: &str,
        limit: u64,
    ) -> Result<Incoming> {
        let sop_instance_uid = checked_uid(sop_instance_uid, "Affected SOP Instance UID")
            .map_err(|why| Error::instance("C-STORE request", why))?;
        let sop_class_uid = checked_uid(sop_class_uid, "Affected SOP Class UID")
            .map_err(|why| Error::instance(sop_instance_uid, why))?;
        let mut meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class_uid)
            .media_storage_sop_instance_uid(sop_instance_uid)
            .transfer_syntax(transfer_syntax)
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
        if !source_ae.trim().is_empty() {
            meta = meta.source_application_entity_title(source_ae.trim());
        }
        let meta = meta.build().map_err(|e| Error::instance(sop_instance_uid, e.to_string()))?;
        let dir = self.root.join(INCOMING);
        let mut file = tempfile::Builder::new()
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(&dir, e))?;
        let mut head = vec![0u8; 128];
        head.extend_from_slice(b"DICM");
        meta.write(&mut head).map_err(|e| Error::instance(sop_instance_uid, e.to_string()))?;
        file.write_all(&head).map_err(|e| Error::io(file.path(), e))?;
        Ok(Incoming {
            file,
            hasher: Sha256::new(),
            bytes: 0,
            limit,
            sop_class_uid: sop_class_uid.to_string(),
            sop_instance_uid: sop_instance_uid.to_string(),
        })
    }

    /// Finishes a received instance: checks that its data set is the instance announced, then
    /// stores it, recognises it as a duplicate, or keeps it as a conflict.
    pub fn commit(&self, incoming: Incoming) -> Result<Outcome> {
        let Incoming { mut file, hasher, bytes, sop_class_uid, sop_instance_uid, .. } = incoming;
        file.as_file_mut()
            .flush()
            .and_then(|()| file.as_file().sync_all())
            .map_err(|e| Error::io(file.path(), e))?;
        let sha = hex(&hasher.finalize());
        let mut record = record_of_file(file.path(), "", sha, bytes, false)
            .map_err(|e| Error::instance(&sop_instance_uid, e.reason()))?;
        if record.sop_instance_uid != sop_instance_uid {
            return Err(Error::instance(
                &sop_instance_uid,
                format!(
                    "data set is another instance than announced: SOPInstanceUID {}",
                    record.sop_instance_uid
                ),
            ));
        }
        if record.sop_class_uid != sop_class_uid {
            return Err(Error::instance(
                &sop_instance_uid,
                format!(
                    "data set is of another SOP class than announced: {}, not {sop_class_uid}",
                    record.sop_class_uid
                ),
            ));
        }
        let mut state = self.state();
        if let Some(stored) = state.instances.get(&sop_instance_uid).cloned() {
            if stored.sha256 == record.sha256 {
                return Ok(Outcome::Duplicate(stored));
            }
            if let Some(kept) = state.conflicts.iter().find(|c| {
                c.sop_instance_uid == record.sop_instance_uid && c.sha256 == record.sha256
            }) {
                return Ok(Outcome::Conflict { kept: kept.clone(), stored });
            }
            record.conflict = true;
            record.path = format!("{CONFLICTS}/{sop_instance_uid}/{}.dcm", record.sha256);
            self.place(file, &record)?;
            index::append(&self.root.join(INDEX_FILE), &record)?;
            state.conflicts.push(record.clone());
            return Ok(Outcome::Conflict { kept: record, stored });
        }
        record.path =
            format!("{STUDIES}/{}/{}/{sop_instance_uid}.dcm", record.study_uid, record.series_uid);
        self.place(file, &record)?;
        index::append(&self.root.join(INDEX_FILE), &record)?;
        state.instances.insert(sop_instance_uid, record.clone());
        Ok(Outcome::Stored(record))
    }

    /// Renames the finished temporary file to the record's path, never over an existing file.
    fn place(&self, file: tempfile::NamedTempFile, record: &InstanceRecord) -> Result<()> {
        let dest = self.root.join(&record.path);
        if let Some(dir) = dest.parent() {
            fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        file.persist_noclobber(&dest).map_err(|e| {
            let why = if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                std::io::Error::new(
                    e.error.kind(),
                    "a file not in the index is already there; restart the server to re-index \
                     the store",
                )
            } else {
                e.error
            };
            Error::io(&dest, why)
        })?;
        Ok(())
    }

    /// Stores a Part 10 file given whole (an upload or an import): its data set bytes are kept
    /// as they are, under a meta group of this store's (the file's transfer syntax, `source_ae`).
    /// The instance is the one its data set names (some files' meta groups name another UID,
    /// left behind by a de-identification that rewrote the data set only), as a DICOM sender
    /// would announce it.
    pub fn store_file_bytes(
        &self,
        name: &str,
        file: &[u8],
        source_ae: &str,
        limit: u64,
    ) -> Result<Outcome> {
        let offset = usize::try_from(index::dataset_offset(Path::new(name), file)?)
            .map_err(|_| Error::instance(name, "meta group too long"))?;
        if offset > file.len() {
            return Err(Error::instance(name, "the meta group runs past the end of the file"));
        }
        let obj = dicom_object::OpenFileOptions::new()
            .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
            .from_reader(&file[128..])
            .map_err(|e| Error::instance(name, format!("not readable as DICOM: {e}")))?;
        let ts = obj.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_string();
        if !crate::sop::TRANSFER_SYNTAXES.contains(&ts.as_str()) {
            return Err(Error::instance(
                name,
                format!("transfer syntax {ts} is not one this store accepts"),
            ));
        }
        let text = |tag, attribute: &str| -> Result<String> {
            let value = crate::uid::text_of(&obj, tag);
            if value.is_empty() {
                return Err(Error::instance(name, format!("the data set has no {attribute}")));
            }
            Ok(value)
        };
        let sop_class = text(dicom_dictionary_std::tags::SOP_CLASS_UID, "SOPClassUID")?;
        let sop_instance = text(dicom_dictionary_std::tags::SOP_INSTANCE_UID, "SOPInstanceUID")?;
        if !crate::sop::STORAGE_SOP_CLASSES.contains(&sop_class.as_str()) {
            return Err(Error::instance(
                name,
                format!("SOP class {sop_class} is not a standard storage class this store accepts"),
            ));
        }
        let named = |e: Error| match e {
            Error::Instance { reason, .. } => Error::instance(name, reason),
            other => other,
        };
        let mut incoming =
            self.begin(&sop_class, &sop_instance, &ts, source_ae, limit).map_err(named)?;
        incoming.write(&file[offset..]).map_err(named)?;
        self.commit(incoming).map_err(named)
    }

    /// Every stored instance (conflicts excluded), by SOP Instance UID.
    pub fn instances(&self) -> Vec<InstanceRecord> {
        self.state().instances.values().cloned().collect()
    }

    /// The instances kept as conflicts.
    pub fn conflicts(&self) -> Vec<InstanceRecord> {
        self.state().conflicts.clone()
    }

    /// The studies and their series, by study date then UID.
    pub fn studies(&self) -> Vec<StudySummary> {
        let state = self.state();
        let mut studies: BTreeMap<&str, StudySummary> = BTreeMap::new();
        let mut series: BTreeMap<(&str, &str), SeriesSummary> = BTreeMap::new();
        for r in state.instances.values() {
            studies.entry(&r.study_uid).or_insert_with(|| StudySummary {
                study_uid: r.study_uid.clone(),
                patient_name: r.patient_name.clone(),
                patient_id: r.patient_id.clone(),
                study_date: r.study_date.clone(),
                description: r.study_description.clone(),
                series: Vec::new(),
            });
            let s = series.entry((&r.study_uid, &r.series_uid)).or_insert_with(|| SeriesSummary {
                series_uid: r.series_uid.clone(),
                number: r.series_number,
                description: r.series_description.clone(),
                modality: r.modality.clone(),
                instances: 0,
                frames: 0,
                size: r.rows.zip(r.columns).map(|(rows, cols)| [rows, cols]),
                dir: format!("{STUDIES}/{}/{}", r.study_uid, r.series_uid),
            });
            s.instances += 1;
            s.frames += u64::from(r.frames.unwrap_or(0));
        }
        for ((study, _), s) in series {
            if let Some(st) = studies.get_mut(study) {
                st.series.push(s);
            }
        }
        let mut out: Vec<StudySummary> = studies.into_values().collect();
        for st in &mut out {
            st.series.sort_by(|a, b| (a.number, &a.series_uid).cmp(&(b.number, &b.series_uid)));
        }
        out.sort_by(|a, b| (&a.study_date, &a.study_uid).cmp(&(&b.study_date, &b.study_uid)));
        out
    }

    /// The grid of a stored series, read with hounsfield-io (pixels decoded, so it is exactly
    /// what a conversion would give); the reader's error when the series is not one volume.
    pub fn series_geometry(&self, series_uid: &str) -> Result<SeriesGeometry> {
        let dir = self
            .series_dir(series_uid)
            .ok_or_else(|| Error::instance(series_uid, "no such series in the store"))?;
        let read = read_series(&dir, series_uid)?;
        let first = read
            .volumes
            .first()
            .ok_or_else(|| Error::instance(series_uid, "the series has no volume"))?;
        let g = first.geometry();
        Ok(SeriesGeometry {
            shape: first.shape(),
            spacing: g.spacing(),
            origin: g.origin(),
            direction: g.direction(),
            orientation: g.orientation_code(),
            volumes: read.volumes.len(),
        })
    }

    /// The directory of a stored series (for reading it with hounsfield-io), if it is stored.
    pub fn series_dir(&self, series_uid: &str) -> Option<PathBuf> {
        let state = self.state();
        let r = state.instances.values().find(|r| r.series_uid == series_uid)?;
        Some(self.root.join(STUDIES).join(&r.study_uid).join(&r.series_uid))
    }
}

/// A stored series' directory read as one volume by hounsfield-io (as `hounsfield convert`
/// reads it); a series whose images form several volumes (planes, sizes, echoes) is refused
/// with the list of them, and a series with an unreadable image with its name, never guessed.
pub fn read_series(dir: &Path, series_uid: &str) -> Result<hounsfield_io::dicom::DicomVolume> {
    let fail =
        |e: hounsfield_io::Error| Error::instance(series_uid, strip_dir(&e.to_string(), dir));
    let scan = hounsfield_io::dicom::scan_dicom_dir(dir).map_err(fail)?;
    if let Some(bad) = scan.unreadable().next() {
        let why = strip_dir(&bad.reason, dir);
        return Err(Error::instance(
            series_uid,
            format!("an image of the series is unreadable: {why}"),
        ));
    }
    match scan.series.as_slice() {
        [one] => hounsfield_io::dicom::read_dicom_series(one, &Default::default()).map_err(fail),
        [] => Err(Error::instance(series_uid, "the series holds no image")),
        several => Err(Error::instance(
            series_uid,
            format!(
                "its images form {} volumes (different planes, sizes, echoes or image types), not one: {}",
                several.len(),
                scan.listing()
            ),
        )),
    }
}

/// A message about files of `dir` with the store's directory left out.
fn strip_dir(message: &str, dir: &Path) -> String {
    message
        .replace(&format!("{}/", dir.display()), "")
        .replace(&dir.display().to_string(), "the series")
}

/// `bytes` as MiB when it is a whole number of them, else as bytes.
fn size_text(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

/// Every `.dcm` file under `dir`, as paths relative to `root` with `/` separators.
fn collect_dcm(root: &Path, dir: &Path, out: &mut BTreeSet<String>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let kind = entry.file_type().map_err(|e| Error::io(&path, e))?;
        if kind.is_dir() {
            collect_dcm(root, &path, out)?;
        } else if let Some(rel) = path
            .strip_prefix(root)
            .ok()
            .filter(|_| kind.is_file() && path.extension().is_some_and(|e| e == "dcm"))
        {
            let rel: Vec<String> =
                rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            out.insert(rel.join("/"));
        }
    }
    Ok(())
}
