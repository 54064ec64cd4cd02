//! A directory of DICOM files: headers read in parallel, grouped into series as dcm2niix groups
//! them, one series chosen by UID, number or sub-series label, and files that could not be read
//! kept in view so that a series is never converted with a hole where one of them was.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::header::{DicomHeader, read_header};
use super::series::{DicomVolume, SeriesOptions, read_dicom_series};
use crate::error::{Error, Result};

/// One series as dcm2niix groups them: same SeriesInstanceUID, orientation, image size, echo and
/// image type (AcquisitionNumber does not split).
#[derive(Clone, Debug, PartialEq)]
pub struct DicomSeries {
    /// SeriesInstanceUID.
    pub uid: String,
    /// SeriesNumber, if present.
    pub number: Option<i64>,
    /// How the series is named in listings and chosen: its SeriesNumber, or `NUMBER.K` where
    /// several series share one SeriesNumber (3-plane localizers, scouts and echoes under one
    /// UID, or series of other UIDs numbered alike), K counting from 1 in listing order; `#I`
    /// (the position in the listing) without a number.
    pub label: String,
    /// SeriesDescription.
    pub description: String,
    /// Modality.
    pub modality: String,
    /// The headers of its files, in directory order.
    pub files: Vec<DicomHeader>,
}

impl DicomSeries {
    /// Number of 2D images (frames summed over files).
    pub fn slices(&self) -> usize {
        self.files.iter().map(|h| h.frames).sum()
    }

    /// The plane of its images (axial, coronal, sagittal or oblique, from the slice normal) and
    /// their size: what tells sub-series of one UID apart.
    pub fn plane(&self) -> String {
        let h = &self.files[0];
        let plane = match h.axes() {
            Some([_, _, n]) => {
                let (k, v) = n
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (k, v.abs()))
                    .fold((0, 0.0), |a, b| if b.1 > a.1 { b } else { a });
                match (k, v > 0.9) {
                    (_, false) => "oblique",
                    (0, true) => "sagittal",
                    (1, true) => "coronal",
                    _ => "axial",
                }
            }
            None => "unknown plane",
        };
        format!("{plane} {}x{}", h.columns, h.rows)
    }
}

/// A file of the directory that is not part of any series, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// The file.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
    /// A DICOM image whose header could not be read (truncated, corrupt): it may belong to any
    /// series, so reading one refuses while it is there (see [`read_dicom_dir`]). False for
    /// files that are not DICOM and DICOM files that are not images (reports, DICOMDIR).
    pub unreadable: bool,
}

/// What a directory scan found.
#[derive(Clone, Debug, Default)]
pub struct DicomScan {
    /// The series, ordered by SeriesNumber then UID.
    pub series: Vec<DicomSeries>,
    /// Files that are not part of any series, with the reason.
    pub skipped: Vec<Skipped>,
}

/// Reads the headers of every file under `dir` (recursively, in parallel) and groups them.
pub fn scan_dicom_dir(dir: impl AsRef<Path>) -> Result<DicomScan> {
    let dir = dir.as_ref();
    let mut paths = Vec::new();
    collect_files(dir, &mut paths)?;
    paths.sort();
    let headers: Vec<(PathBuf, Result<DicomHeader>)> = paths
        .into_par_iter()
        .map(|p| {
            let h = read_header(&p);
            (p, h)
        })
        .collect();
    let mut groups: BTreeMap<(i64, String, String), DicomSeries> = BTreeMap::new();
    let mut scan = DicomScan::default();
    for (path, header) in headers {
        match header {
            Ok(h) if h.pixel_data_short.is_some() => {
                let why = h.pixel_data_short.unwrap_or_default();
                let reason = format!("{}: truncated: {why}", path.display());
                scan.skipped.push(Skipped { path, reason, unreadable: true });
            }
            Ok(h) => {
                let key =
                    (h.series_number.unwrap_or(i64::MAX), h.series_uid.clone(), group_key(&h));
                groups
                    .entry(key)
                    .or_insert_with(|| DicomSeries {
                        uid: h.series_uid.clone(),
                        number: h.series_number,
                        label: String::new(),
                        description: h.series_description.clone(),
                        modality: h.modality.clone(),
                        files: Vec::new(),
                    })
                    .files
                    .push(h);
            }
            Err(e) => {
                let unreadable = !matches!(e, Error::WrongFormat { .. } | Error::NotAnImage { .. });
                scan.skipped.push(Skipped { path, reason: e.to_string(), unreadable });
            }
        }
    }
    scan.series = groups.into_values().collect();
    label_series(&mut scan.series);
    Ok(scan)
}

/// Gives every series its [`DicomSeries::label`]: the SeriesNumber, suffixed `.1`, `.2`... where
/// several series share it (one UID split by plane or size, or different UIDs numbered alike).
fn label_series(series: &mut [DicomSeries]) {
    let mut shared: BTreeMap<i64, usize> = BTreeMap::new();
    for n in series.iter().filter_map(|s| s.number) {
        *shared.entry(n).or_default() += 1;
    }
    let mut seen: BTreeMap<i64, usize> = BTreeMap::new();
    for (i, s) in series.iter_mut().enumerate() {
        s.label = match s.number {
            None => format!("#{}", i + 1),
            Some(n) if shared[&n] > 1 => {
                let k = seen.entry(n).or_default();
                *k += 1;
                format!("{n}.{k}")
            }
            Some(n) => n.to_string(),
        };
    }
}

/// What splits a SeriesInstanceUID into several series.
fn group_key(h: &DicomHeader) -> String {
    let o =
        h.orientation.map(|o| o.map(|v| format!("{:.4}", v + 0.0)).join(",")).unwrap_or_default();
    format!(
        "{o}|{}x{}|{}|echo {:?}|{}|{}",
        h.rows, h.columns, h.samples_per_pixel, h.echo_number, h.image_type, h.bits_allocated
    )
}

pub(super) fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io { path: dir.to_path_buf(), source };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_dir() {
            collect_files(&path, out)?;
        } else if path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

impl DicomScan {
    /// One line per series: label, modality, slices, plane and size, description, UID.
    pub fn listing(&self) -> String {
        self.series
            .iter()
            .map(|s| {
                format!(
                    "{}: {} {} slices, {}{}, UID {}",
                    s.label,
                    s.modality,
                    s.slices(),
                    s.plane(),
                    if s.description.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", s.description)
                    },
                    s.uid
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The series `which` names (a label, a SeriesNumber or a SeriesInstanceUID), or the only
    /// series when `which` is `None`. Names that fit several series are refused with the list.
    pub fn select(&self, dir: &Path, which: Option<&str>) -> Result<&DicomSeries> {
        let ambiguous = |reason: String| Error::Ambiguous { path: dir.to_path_buf(), reason };
        let Some(which) = which else {
            return match self.series.as_slice() {
                [one] => Ok(one),
                [] => Err(ambiguous(self.none_found())),
                several => Err(ambiguous(format!(
                    "{} series found, choose one by its label or UID (`hounsfield convert --series LABEL`, or the series' own directory): {}",
                    several.len(),
                    self.listing()
                ))),
            };
        };
        if let Some(s) = self.series.iter().find(|s| s.label == which) {
            return Ok(s);
        }
        let named: Vec<&DicomSeries> = self
            .series
            .iter()
            .filter(|s| s.uid == which || s.number.is_some_and(|n| n.to_string() == which))
            .collect();
        match named.as_slice() {
            [one] => Ok(one),
            [] => Err(ambiguous(format!(
                "no series labelled, numbered or with UID {which}; found: {}",
                self.listing()
            ))),
            several => Err(ambiguous(format!(
                "{which} names {} series (different planes, sizes or image types); choose one by its label: {}",
                several.len(),
                several
                    .iter()
                    .map(|s| format!("{} ({}, {} slices)", s.label, s.plane(), s.slices()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    fn none_found(&self) -> String {
        match self.skipped.len() {
            0 => "no DICOM files".into(),
            n => format!(
                "no DICOM image series ({n} files skipped, e.g. {}: {})",
                self.skipped[0].path.display(),
                self.skipped[0].reason
            ),
        }
    }

    /// Files that are DICOM images but could not be read.
    pub fn unreadable(&self) -> impl Iterator<Item = &Skipped> {
        self.skipped.iter().filter(|s| s.unreadable)
    }
}

/// Reads one series of a directory: scans it, refuses while any DICOM image in it could not be
/// read (it may be a slice of the series, which would leave a hole or, with `resample_gaps`, be
/// interpolated over) unless `skip_unreadable` is set (and then never with `resample_gaps`),
/// chooses the series [`DicomScan::select`] names and assembles it.
pub fn read_dicom_dir(
    dir: impl AsRef<Path>,
    which: Option<&str>,
    options: &SeriesOptions,
) -> Result<DicomVolume> {
    let dir = dir.as_ref();
    let scan = scan_dicom_dir(dir)?;
    let unreadable: Vec<&Skipped> = scan.unreadable().collect();
    if !unreadable.is_empty() && (!options.skip_unreadable || options.resample_gaps) {
        let list =
            unreadable.iter().take(5).map(|s| s.reason.clone()).collect::<Vec<_>>().join("; ");
        let more = if unreadable.len() > 5 {
            format!(" and {} more", unreadable.len() - 5)
        } else {
            String::new()
        };
        let advice = if options.resample_gaps {
            "A slice missing because its file is unreadable is never interpolated over: repair or remove the file"
        } else {
            "One may be a slice of the series: repair or remove it, or skip it knowingly (skip_unreadable, `hounsfield convert --skip-unreadable`)"
        };
        return Err(Error::Incomplete {
            path: dir.to_path_buf(),
            reason: format!(
                "{} DICOM file(s) could not be read: {list}{more}. {advice}",
                unreadable.len()
            ),
        });
    }
    read_dicom_series(scan.select(dir, which)?, options)
}
