//! The crate's error type: what went wrong, with the file or the peer it concerns.

use std::path::PathBuf;

/// Errors of the receiver, the store and the index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory of the store could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A received or stored instance is not usable DICOM, or says something the store refuses
    /// (a UID that is not a UID, a SOP Instance UID other than the one announced).
    #[error("{what}: {reason}")]
    Instance {
        /// Which instance or file.
        what: String,
        /// Why it was refused.
        reason: String,
    },
    /// The server could not start (port taken, options that contradict each other).
    #[error("{0}")]
    Config(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// A refused instance.
    pub fn instance(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Instance { what: what.into(), reason: reason.into() }
    }

    /// Why, without what: for a message that names its subject itself, or goes to a peer that
    /// must not see the server's paths.
    pub fn reason(&self) -> String {
        match self {
            Error::Instance { reason, .. } => reason.clone(),
            Error::Io { source, .. } => {
                format!("the store could not be written ({})", source.kind())
            }
            Error::Config(why) => why.clone(),
        }
    }
}
