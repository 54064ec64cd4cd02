//! `hounsfield anonymize`: de-identified copies of a DICOM file or directory tree.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_io::dicom::{AnonymizeOptions, AnonymizeReport, anonymize_dir, anonymize_file};
use serde::Serialize;

/// What an anonymize run did.
#[derive(Clone, Debug, Serialize)]
pub struct Anonymized {
    /// The input file or directory.
    pub input: PathBuf,
    /// Where the copies went.
    pub output: PathBuf,
    /// Files written.
    pub files: usize,
    /// Attributes removed, summed over files.
    pub removed: usize,
    /// Attributes emptied or replaced by a dummy, summed over files.
    pub blanked: usize,
    /// UIDs replaced, summed over files.
    pub uids_replaced: usize,
    /// Files whose pixels may show identifying text (BurnedInAnnotation YES): check them.
    pub burned_in_annotation: Vec<PathBuf>,
    /// Files that are not DICOM, not copied, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// De-identifies `input` (a DICOM file, or a directory whose tree is mirrored) into `output`.
/// UIDs are hashed with `key` (the same key keeps references across runs), or with a random key.
pub fn anonymize(input: &Path, output: &Path, key: Option<&str>) -> Result<Anonymized> {
    let options = key.map_or_else(AnonymizeOptions::random_key, AnonymizeOptions::with_key);
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same(input, output) {
        bail!("{}: the output would overwrite the input", output.display());
    }
    let reports: Vec<(PathBuf, AnonymizeReport)>;
    let skipped;
    if input.is_dir() {
        if let (Ok(i), Ok(o)) = (input.canonicalize(), absolute(output))
            && o.starts_with(&i)
        {
            bail!("{}: the output directory lies inside the input", output.display());
        }
        std::fs::create_dir_all(output)
            .with_context(|| format!("{}: cannot create the directory", output.display()))?;
        let done = anonymize_dir(input, output, &options)?;
        (reports, skipped) = (done.files, done.skipped);
    } else {
        let report = anonymize_file(input, output, &options)?;
        (reports, skipped) = (vec![(input.to_path_buf(), report)], Vec::new());
    }
    Ok(Anonymized {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        files: reports.len(),
        removed: reports.iter().map(|(_, r)| r.removed).sum(),
        blanked: reports.iter().map(|(_, r)| r.blanked).sum(),
        uids_replaced: reports.iter().map(|(_, r)| r.uids_replaced).sum(),
        burned_in_annotation: reports
            .iter()
            .filter(|(_, r)| r.burned_in_annotation)
            .map(|(p, _)| p.clone())
            .collect(),
        skipped,
    })
}

/// `p` with symbolic links and `..` resolved, even where its last components do not exist yet.
fn absolute(p: &Path) -> std::io::Result<PathBuf> {
    let p = std::path::absolute(p)?;
    let mut existing = p.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(existing.file_name().unwrap_or_default().to_owned());
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let mut resolved = existing.canonicalize()?;
    for part in rest.iter().rev() {
        if part == ".." {
            resolved.pop();
        } else if !part.is_empty() && part != "." {
            resolved.push(part);
        }
    }
    Ok(resolved)
}

impl fmt::Display for Anonymized {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "anonymized {} file(s) from {} into {} (PS3.15 Basic Profile)",
            self.files,
            self.input.display(),
            self.output.display()
        )?;
        writeln!(
            f,
            "  {} attributes removed, {} blanked, {} UIDs replaced",
            self.removed, self.blanked, self.uids_replaced
        )?;
        for p in &self.burned_in_annotation {
            writeln!(f, "  check {}: BurnedInAnnotation is YES (text in the pixels)", p.display())?;
        }
        for (p, why) in &self.skipped {
            writeln!(f, "  skipped {}: {why}", p.display())?;
        }
        Ok(())
    }
}
