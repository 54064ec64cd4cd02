//! # hounsfield-cli
//!
//! The library half of the `hounsfield` binary: what its subcommands compute (as serialisable
//! reports the binary prints as text or JSON), progress bars, and the demo's stage plan. The binary itself is `src/main.rs`; run `hounsfield --help`.
//!
//! ```
//! // Progress bars are hidden when asked, and whenever standard error is not a terminal.
//! let bar = hounsfield_cli::progress::bar(100, "reconstructing", false);
//! assert!(bar.is_hidden());
//! ```
#![warn(missing_docs)]

pub mod align;
pub mod anonymize;
pub mod ct;
pub mod ct_learn;
pub mod demo;
pub mod demo_ct;
pub mod demo_report;
pub mod demo_segment;
pub mod filter;
pub mod filter_chunked;
pub mod mesh;
pub mod outputs;
pub mod progress;
pub mod render;
pub mod segment;
pub mod segment_data;
pub mod serve;
pub mod shape_data;
pub mod shape_generate;
pub mod shape_learn;
pub mod surface;
pub mod volume_info;
pub mod zarr_io;
