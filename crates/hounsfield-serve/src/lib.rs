//! Hounsfield's DICOM service: the C-STORE port that scanners and PACS send to, in front of a
//! study store that never loses or overwrites an instance, and the HTTP side with its web page
//! (what `hounsfield serve` runs; docs/SERVE.md).
//!
//! - [`scp::DicomServer`]: C-ECHO and C-STORE service class provider (dicom-ul) for every
//!   standard storage SOP class ([`sop`]) and every transfer syntax hounsfield-io decodes, a
//!   calling-AE allow list, concurrent associations (one thread each, bounded), PDU and instance
//!   size limits.
//! - [`store::Store`]: instances written atomically under `studies/<study>/<series>/<sop>.dcm`
//!   with their data set exactly as received; the same instance re-sent is accepted once, one
//!   with other bytes is kept under `conflicts/` and reported to its sender; an index
//!   ([`index`], `index.jsonl`) that survives restarts and is rebuilt from the files.
//! - [`http`]: the JSON API, slices and thumbnails, downloads, STOW-RS ([`stow`]) and the page
//!   (`web/`, compiled in); [`jobs`]: convert, brain mask, isosurface and CT tissue surfaces on
//!   a worker thread, cancellable, recorded on disk.
//!
//! Networking lives here and in the CLI only; the libraries stay free of it.
//!
//! ```
//! use std::sync::Arc;
//! use hounsfield_serve::{scp::{DicomServer, ScpOptions}, store::Store};
//!
//! let dir = tempfile::tempdir()?;
//! let (store, report) = Store::open(dir.path())?;
//! assert_eq!(report.instances, 0);
//! let server = DicomServer::bind("127.0.0.1:0", Arc::new(store), ScpOptions::default())?;
//! println!("receiving on {}", server.local_addr()?);
//! // server.serve() accepts associations until the process ends.
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod dimse;
pub mod error;
pub mod http;
pub mod index;
pub mod jobs;
pub mod scp;
pub mod sop;
pub mod store;
pub mod stow;
pub mod uid;

pub use error::{Error, Result};
