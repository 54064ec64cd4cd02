//! Errors of hounsfield-io. Every variant that concerns a file names it.

use std::path::PathBuf;

/// Errors of hounsfield-io.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system refused a read or write.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// The file is not of the expected format (wrong magic number, wrong header size).
    #[error("{}: not a {format} file: {reason}", path.display())]
    WrongFormat {
        /// The file concerned.
        path: PathBuf,
        /// The format that was expected.
        format: &'static str,
        /// What was found instead.
        reason: String,
    },

    /// The header is readable but describes something impossible or inconsistent.
    #[error("{}: invalid header: {reason}", path.display())]
    InvalidHeader {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The file ends before the data its header declares.
    #[error("{}: truncated: {reason}", path.display())]
    Truncated {
        /// The file concerned.
        path: PathBuf,
        /// What was expected and what was found.
        reason: String,
    },

    /// The file's own integrity check fails (a gzip CRC-32 or length that does not match the
    /// data): its content was altered after it was written.
    #[error("{}: corrupt: {reason}", path.display())]
    Corrupt {
        /// The file concerned.
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },

    /// A valid DICOM file that holds no image (a structured report, a DICOMDIR, a plan).
    #[error("{}: not an image: {reason}", path.display())]
    NotAnImage {
        /// The file concerned.
        path: PathBuf,
        /// What it is.
        reason: String,
    },

    /// The input holds several candidates and none, or more than one, was named.
    #[error("{}: {reason}", path.display())]
    Ambiguous {
        /// The directory or file concerned.
        path: PathBuf,
        /// The candidates and how to name one.
        reason: String,
    },

    /// Part of the input could not be read, so a result made of the rest could be missing data.
    #[error("{}: {reason}", path.display())]
    Incomplete {
        /// The directory concerned.
        path: PathBuf,
        /// What could not be read, and what to do.
        reason: String,
    },

    /// A valid file using a feature this crate does not handle.
    #[error("{}: unsupported: {what}", path.display())]
    Unsupported {
        /// The file concerned.
        path: PathBuf,
        /// The feature.
        what: String,
    },

    /// Data that cannot be written in the requested format.
    #[error("{}: cannot write: {reason}", path.display())]
    CannotWrite {
        /// The file concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },

    /// The slices of a DICOM series do not form a regular volume (and no option asked to handle
    /// what was found).
    #[error("{}: {problem}", path.display())]
    Series {
        /// The directory or first file of the series.
        path: PathBuf,
        /// What was found.
        problem: SeriesProblem,
    },

    /// An error from hounsfield-core (invalid geometry, size limit...) about a file.
    #[error("{}: {source}", path.display())]
    Core {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: hounsfield_core::Error,
    },
}

/// Why a DICOM series is not a regular volume.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SeriesProblem {
    /// Several slices lie at the same position along the slice normal.
    #[error(
        "{count} slices share position {position_mm:.3} mm along the slice normal ({}; duplicates: the drop_duplicates option, `hounsfield convert --drop-duplicates`, keeps one per position)",
        names(files)
    )]
    DuplicatePositions {
        /// How many slices share one position.
        count: usize,
        /// The position along the normal, mm.
        position_mm: f64,
        /// The files of those slices.
        files: Vec<PathBuf>,
    },
    /// Every slice lies at the same position: a set of images, not a volume.
    #[error("all {0} slices lie at the same position: not a volume")]
    NotAVolume(usize),
    /// The distance between neighbouring slices changes (missing slices, variable thickness).
    #[error(
        "uneven slice spacing: {first_mm:.4} mm between the first slices but {found_mm:.4} mm between slices {index} and {next} ({}; missing slices?)",
        names(between)
    )]
    UnevenSpacing {
        /// The first spacing, mm.
        first_mm: f64,
        /// The deviating spacing, mm.
        found_mm: f64,
        /// Index of the slice before the deviating gap (sorted order).
        index: usize,
        /// Index of the slice after it.
        next: usize,
        /// The files of those two slices.
        between: [PathBuf; 2],
    },
    /// Slices step in a direction that is not the slice normal.
    #[error(
        "gantry tilt: slices step {degrees:.2} degrees away from the slice normal (the keep_tilt_shear option, `hounsfield convert --keep-tilt`, keeps the sheared grid; correct_tilt, `--correct-tilt`, resamples it)"
    )]
    GantryTilt {
        /// Angle between the slice step and the normal.
        degrees: f64,
    },
    /// Slices disagree on orientation, size or pixel layout.
    #[error("slices disagree: {0}")]
    Inconsistent(String),
}

/// File names for messages: the first few, and how many more.
fn names(files: &[PathBuf]) -> String {
    let shown: Vec<String> = files.iter().take(3).map(|p| p.display().to_string()).collect();
    match files.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(" and "),
    }
}

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<hounsfield_core::Error> for Error {
    /// Core errors that already carry a path (atomic writes) keep it; others get an empty one.
    fn from(e: hounsfield_core::Error) -> Self {
        match e {
            hounsfield_core::Error::Io { path, source } => Error::Io { path, source },
            other => Error::Core { path: PathBuf::new(), source: other },
        }
    }
}
