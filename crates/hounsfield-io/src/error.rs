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

    /// An error from hounsfield-core (invalid geometry, size limit...) about a file.
    #[error("{}: {source}", path.display())]
    Core {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: hounsfield_core::Error,
    },
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
