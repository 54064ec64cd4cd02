//! The crate's error type: every failure is a value, never a panic.

/// What went wrong on the way to, or on, the GPU.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No usable CUDA driver or device (the usual case on machines without a GPU).
    #[error("no CUDA device: {0}")]
    NoDevice(String),
    /// The NVRTC runtime compiler library could not be loaded.
    #[error("NVRTC (the CUDA runtime compiler) is not available: {0}")]
    NoCompiler(String),
    /// A kernel failed to compile; the log says why.
    #[error("compiling CUDA kernels {kernel}: {log}")]
    Compile {
        /// Which source.
        kernel: &'static str,
        /// NVRTC's message.
        log: String,
    },
    /// A driver call failed (out of memory, launch failure...).
    #[error("CUDA driver: {0}")]
    Driver(String),
    /// Arguments that do not describe a valid problem.
    #[error("{0}")]
    Invalid(String),
}

impl From<cudarc::driver::DriverError> for Error {
    fn from(e: cudarc::driver::DriverError) -> Self {
        Error::Driver(e.to_string())
    }
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
