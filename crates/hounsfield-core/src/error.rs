//! The crate's error type. Every Hounsfield crate follows the same pattern: one `thiserror` enum,
//! `pub type Result<T, E = Error>`, messages that say what was expected and what was found, and
//! file errors that carry the path.

use std::path::PathBuf;

/// Errors of hounsfield-core.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Spacing, origin or direction cannot describe a voxel grid.
    #[error("invalid geometry: {0}")]
    InvalidGeometry(String),

    /// Two arrays or volumes that must agree in shape do not.
    #[error("shape mismatch for {what}: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        /// What was being checked (for example "test image" or "operator domain").
        what: &'static str,
        /// The shape that was required.
        expected: Vec<usize>,
        /// The shape that was given.
        found: Vec<usize>,
    },

    /// A volume, mask or array with nothing in it where something is required.
    #[error("empty input: {0}")]
    Empty(String),

    /// A parameter outside its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name as the API spells it.
        name: &'static str,
        /// What is wrong with the value given.
        reason: String,
    },

    /// A NaN or infinite value where only finite values make sense.
    #[error("non-finite value {value} in {what} at index {index}")]
    NotFinite {
        /// Which input held the value.
        what: &'static str,
        /// The offending value.
        value: f64,
        /// Flat (C order) index of the value.
        index: usize,
    },

    /// A value that does not fit the target element type of a conversion.
    #[error("value {value} at index {index} does not fit {target}")]
    OutOfRange {
        /// The element type converted to.
        target: &'static str,
        /// The offending value.
        value: f64,
        /// Flat (C order) index of the value.
        index: usize,
    },

    /// A declared size that overflows or exceeds the configured limit.
    #[error("size too large: {0}")]
    TooLarge(String),

    /// An I/O failure on a named file.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that could not be read or written.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

/// Result with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::InvalidParameter`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidParameter { name, reason: reason.into() }
    }

    /// Builds an [`Error::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

/// Returns an [`Error::ShapeMismatch`] unless `found == expected`.
pub fn check_shape(what: &'static str, expected: &[usize], found: &[usize]) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::ShapeMismatch { what, expected: expected.to_vec(), found: found.to_vec() })
    }
}
