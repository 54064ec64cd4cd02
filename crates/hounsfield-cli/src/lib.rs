//! # hounsfield-cli
//!
//! The library half of the `hounsfield` binary: the pieces its subcommands share (progress bars,
//! the demo's stage plan). The binary itself is `src/main.rs`; run `hounsfield --help`.
//!
//! ```
//! // Progress bars are hidden when asked, and whenever standard error is not a terminal.
//! let bar = hounsfield_cli::progress::bar(100, "reconstructing", false);
//! assert!(bar.is_hidden());
//! ```
#![warn(missing_docs)]

pub mod demo;
pub mod progress;
