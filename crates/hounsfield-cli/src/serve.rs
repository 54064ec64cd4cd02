//! `hounsfield serve`: the DICOM receiver and the web page in front of one study store, until
//! interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use hounsfield_serve::http::{AppState, HttpOptions};
use hounsfield_serve::jobs::Jobs;
use hounsfield_serve::scp::{DicomServer, Event, ScpOptions};
use hounsfield_serve::store::{Outcome, Store};

/// What `hounsfield serve` was asked for.
#[derive(Clone, Debug)]
pub struct ServeArgs {
    /// The store directory.
    pub store: PathBuf,
    /// Where the DICOM receiver listens.
    pub dicom: SocketAddr,
    /// Its AE title.
    pub ae: String,
    /// Calling AE titles allowed (empty: any, loopback only).
    pub allow: Vec<String>,
    /// Associations at once.
    pub max_associations: usize,
    /// The largest instance, bytes.
    pub max_instance_bytes: u64,
    /// How long a silent sender is waited for.
    pub timeout: Duration,
    /// Where the page and API listen (none: no page).
    pub http: Option<SocketAddr>,
    /// The API token.
    pub token: Option<String>,
    /// The largest upload, bytes.
    pub max_upload_bytes: usize,
    /// Directories whose DICOM files are stored before serving.
    pub import: Vec<PathBuf>,
    /// Events as JSON lines instead of text.
    pub json: bool,
}

/// Checks the options, opens the store, imports, and serves until the process is interrupted.
pub fn run(args: &ServeArgs) -> Result<()> {
    if !args.dicom.ip().is_loopback() && args.allow.is_empty() {
        bail!(
            "--bind {} opens the DICOM port to the network: name the senders it accepts with \
             --allow AE[,AE...]",
            args.dicom.ip()
        );
    }
    let (store, report) = Store::open(&args.store)
        .with_context(|| format!("opening the store {}", args.store.display()))?;
    if let Some(why) = &report.rebuilt {
        eprintln!("index rebuilt from the files: {why}");
    }
    for bad in &report.unreadable {
        eprintln!("not indexed: {bad}");
    }
    let store = Arc::new(store);
    for dir in &args.import {
        import(&store, dir)?;
    }
    let json = args.json;
    let options = ScpOptions::default()
        .with_ae_title(args.ae.clone())
        .with_allow(args.allow.clone())
        .with_max_associations(args.max_associations)
        .with_max_instance_bytes(args.max_instance_bytes)
        .with_timeout(args.timeout)
        .with_on_event(move |e| log_event(e, json));
    let server = DicomServer::bind(args.dicom, store.clone(), options)?;
    let dicom_addr = server.local_addr()?;
    let stats = server.stats();
    eprintln!(
        "DICOM receiver {} listening on {dicom_addr}; store {} ({} instances, {} conflicts{})",
        args.ae,
        args.store.display(),
        store.instances().len(),
        store.conflicts().len(),
        if args.allow.is_empty() {
            String::from("; any calling AE accepted")
        } else {
            format!("; calling AEs allowed: {}", args.allow.join(", "))
        }
    );
    let Some(http) = args.http else {
        server.serve();
        return Ok(());
    };
    server.spawn();
    let token = match (&args.token, http.ip().is_loopback()) {
        (Some(t), _) => Some(t.clone()),
        (None, true) => None,
        (None, false) => Some(random_token()?),
    };
    let listener = std::net::TcpListener::bind(http)
        .with_context(|| format!("cannot listen for HTTP on {http}"))?;
    let address = listener.local_addr()?;
    let jobs = Jobs::start(store.clone())?;
    let state = AppState::new(
        store,
        jobs,
        Some(stats),
        HttpOptions {
            token: token.clone(),
            max_upload_bytes: args.max_upload_bytes,
            dicom: Some((args.ae.clone(), dicom_addr)),
        },
    );
    let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
    // The one line a user needs: where the page is. Listening on every interface, the page is
    // at any of this machine's addresses, not at 0.0.0.0.
    let host = if address.ip().is_unspecified() {
        String::from("THIS-MACHINE")
    } else {
        address.ip().to_string()
    };
    #[allow(clippy::print_stdout)]
    {
        println!("page: http://{host}:{}/{query}", address.port());
    }
    if address.ip().is_unspecified() {
        eprintln!("listening on every interface: use any address of this machine for THIS-MACHINE");
    }
    hounsfield_serve::http::serve(listener, state)?;
    Ok(())
}

/// Stores every DICOM file under `dir` (recursively) as an upload would be stored.
fn import(store: &Store, dir: &std::path::Path) -> Result<()> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if hounsfield_io::is_dicom_file(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    let (mut stored, mut duplicates, mut conflicts, mut failed) = (0, 0, 0, 0);
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        match store.store_file_bytes(&path.display().to_string(), &bytes, "IMPORT", u64::MAX) {
            Ok(Outcome::Stored(_)) => stored += 1,
            Ok(Outcome::Duplicate(_)) => duplicates += 1,
            Ok(Outcome::Conflict { kept, .. }) => {
                conflicts += 1;
                eprintln!(
                    "{}: another instance with its UID is stored; kept as {}",
                    path.display(),
                    kept.path
                );
            }
            Err(e) => {
                failed += 1;
                eprintln!("not imported: {e}");
            }
        }
    }
    eprintln!(
        "imported {}: {stored} stored, {duplicates} already there, {conflicts} conflicts, {failed} refused",
        dir.display()
    );
    Ok(())
}

/// 128 bits from the system's random source, as hex.
fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom for an API token (or give --token)")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn log_event(e: &Event, json: bool) {
    if json {
        if let Ok(line) = serde_json::to_string(e) {
            eprintln!("{line}");
        }
        return;
    }
    match e {
        Event::Associated { calling_ae, peer } => {
            eprintln!("association from {calling_ae} ({peer})")
        }
        Event::Rejected { calling_ae, peer, reason } => {
            eprintln!("rejected {calling_ae} ({peer}): {reason}")
        }
        Event::Instance { calling_ae, outcome, path, .. } => {
            eprintln!("{outcome} {path} from {calling_ae}")
        }
        Event::Refused { calling_ae, sop_instance_uid, reason } => {
            eprintln!("refused {sop_instance_uid} from {calling_ae}: {reason}")
        }
        Event::Ended { calling_ae, how } => eprintln!("association with {calling_ae} ended: {how}"),
    }
}
