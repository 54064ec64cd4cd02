//! The crate's error type: candle's errors, core's errors, and what training and checkpoints add.

use std::path::PathBuf;

/// Errors of the training, inference and checkpoint APIs (the ops return candle's errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor operation failed (shape mismatch, unsupported dtype...).
    #[error("tensor operation: {0}")]
    Candle(#[from] candle_core::Error),
    /// A volume operation failed.
    #[error(transparent)]
    Core(#[from] hounsfield_core::Error),
    /// A configuration value is out of range or inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A checkpoint could not be read or written.
    #[error("{}: {reason}", path.display())]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
