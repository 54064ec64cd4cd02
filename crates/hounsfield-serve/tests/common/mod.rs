//! Helpers shared by the receiver's tests: a server on a free loopback port over a fresh store,
//! the shared DICOM files, and data-set digests computed here, apart from the crate's own.

#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hounsfield_serve::scp::{DicomServer, Event, ScpOptions, Stats};
use hounsfield_serve::store::Store;
use sha2::{Digest, Sha256};

/// A running receiver and what it reported.
pub struct Running {
    pub addr: SocketAddr,
    pub stats: Arc<Stats>,
    pub events: Arc<Mutex<Vec<Event>>>,
}

impl Running {
    /// Waits (at most 10 s) until `n` associations have ended; the events so far.
    pub fn wait_ended(&self, n: usize) -> Vec<Event> {
        let start = Instant::now();
        loop {
            let events = self.events.lock().unwrap().clone();
            let ended = events.iter().filter(|e| matches!(e, Event::Ended { .. })).count();
            if ended >= n || start.elapsed() > Duration::from_secs(10) {
                return events;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Opens the store at `dir` and serves it on 127.0.0.1 (a free port).
pub fn start(dir: &Path, options: ScpOptions) -> Running {
    let (store, _) = Store::open(dir).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = events.clone();
    let options = options.with_on_event(move |e| sink.lock().unwrap().push(e.clone()));
    let server = DicomServer::bind("127.0.0.1:0", Arc::new(store), options).unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    server.spawn();
    Running { addr, stats, events }
}

/// ../shared/data/dicom2nifti.
pub fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti")
}

/// Every `.dcm` file under `dir`, sorted.
pub fn dcm_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "dcm") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The data set of a Part 10 file (what a sender transmits): the bytes after the meta group,
/// whose length is the value of (0002,0000) at bytes 140..144. `None` without a meta group.
pub fn dataset(path: &Path) -> Option<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    if bytes.len() < 144 || &bytes[128..132] != b"DICM" {
        return None;
    }
    let group = u32::from_le_bytes(bytes[140..144].try_into().unwrap()) as usize;
    Some(bytes[144 + group..].to_vec())
}

/// SHA-256 hex of `bytes`.
pub fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// SOP Instance UID and SOP Class UID of a Part 10 file's data set (what a sender announces;
/// some shared files' meta groups name other UIDs), and its transfer syntax (dicom-object).
pub fn uids(path: &Path) -> (String, String, String) {
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .open_file(path)
        .unwrap();
    let t = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    // UN-encoded UIDs (some test files) read as their text.
    let text = |tag| hounsfield_serve::uid::text_of(&obj, tag);
    (
        text(dicom_dictionary_std::tags::SOP_INSTANCE_UID),
        text(dicom_dictionary_std::tags::SOP_CLASS_UID),
        t(obj.meta().transfer_syntax()),
    )
}

/// Every file under the store's `studies/` and `conflicts/`, by path relative to the root, with
/// the digest of its data set.
pub fn store_files(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for top in ["studies", "conflicts"] {
        let dir = root.join(top);
        if !dir.exists() {
            continue;
        }
        for p in dcm_files(&dir) {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            out.insert(rel, sha(&dataset(&p).unwrap()));
        }
    }
    out
}

/// Files left in the store's `.incoming/` (partial transfers).
pub fn partials(root: &Path) -> usize {
    fs::read_dir(root.join(".incoming")).map(|d| d.count()).unwrap_or(0)
}

/// Asserts two store listings are equal, naming at most three differing paths (not all of them).
pub fn assert_same_files(got: &BTreeMap<String, String>, want: &BTreeMap<String, String>) {
    let mut diff: Vec<String> = got
        .iter()
        .filter(|(k, v)| want.get(*k) != Some(*v))
        .map(|(k, _)| format!("unexpected or different: {k}"))
        .chain(want.keys().filter(|k| !got.contains_key(*k)).map(|k| format!("missing: {k}")))
        .collect();
    let n = diff.len();
    diff.truncate(3);
    assert!(n == 0, "{n} path(s) differ from the expected store, e.g. {diff:#?}");
}

/// A store filled with the shared files (as uploads), served over HTTP on a free loopback port
/// with jobs; returns the address and the store.
pub fn start_http(dir: &Path, token: Option<&str>) -> (SocketAddr, Arc<Store>) {
    use hounsfield_serve::http::{AppState, HttpOptions};
    let (store, _) = Store::open(dir).unwrap();
    let store = Arc::new(store);
    for f in dcm_files(&shared()) {
        let _ = store.store_file_bytes(
            &f.display().to_string(),
            &fs::read(&f).unwrap(),
            "TEST",
            u64::MAX,
        );
    }
    let jobs = hounsfield_serve::jobs::Jobs::start(store.clone()).unwrap();
    let options =
        HttpOptions { token: token.map(str::to_string), max_upload_bytes: 4 << 20, dicom: None };
    let state = AppState::new(store.clone(), jobs, None, options);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || hounsfield_serve::http::serve(listener, state).unwrap());
    (addr, store)
}

/// One HTTP/1.1 request (Connection: close); the status, the headers (lower-case names) and
/// the body.
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, BTreeMap<String, String>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    s.write_all(request.as_bytes()).unwrap();
    let _ = s.write_all(body);
    let mut response = Vec::new();
    let _ = s.read_to_end(&mut response);
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response header");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = response[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|t| t == "chunked") {
        body = dechunk(&body);
    }
    (status, headers, body)
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[line_end + 2..line_end + 2 + size]);
        body = &body[line_end + 2 + size + 2..];
    }
}

/// GET `path` as JSON.
pub fn get_json(addr: SocketAddr, path: &str) -> (u16, serde_json::Value) {
    let (status, _, body) = http(addr, "GET", path, &[], b"");
    (status, serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null))
}

/// Expected store after sending `files` in order to an empty store: for each SOP Instance UID
/// the first data set under studies/, each other data set under conflicts/; with the status of
/// each send (0 stored or duplicate, 0xC010 conflict).
pub fn expected(
    files: &[PathBuf],
) -> (Vec<u16>, BTreeMap<String, String>, BTreeMap<String, PathBuf>) {
    let mut first: BTreeMap<String, (String, PathBuf)> = BTreeMap::new();
    let mut want = BTreeMap::new();
    let mut statuses = Vec::new();
    for f in files {
        let (sop, ..) = uids(f);
        let digest = sha(&dataset(f).unwrap());
        let obj = dicom_object::open_file(f).unwrap();
        let text = |tag| {
            obj.element(tag).unwrap().to_str().unwrap().trim_end_matches(['\0', ' ']).to_string()
        };
        let (study, series) = (
            text(dicom_dictionary_std::tags::STUDY_INSTANCE_UID),
            text(dicom_dictionary_std::tags::SERIES_INSTANCE_UID),
        );
        match first.get(&sop) {
            None => {
                first.insert(sop.clone(), (digest.clone(), f.clone()));
                want.insert(format!("studies/{study}/{series}/{sop}.dcm"), digest);
                statuses.push(0);
            }
            Some((d, _)) if *d == digest => statuses.push(0),
            Some(_) => {
                want.insert(format!("conflicts/{sop}/{digest}.dcm"), digest);
                statuses.push(0xC010);
            }
        }
    }
    (statuses, want, first.into_iter().map(|(k, (_, f))| (k, f)).collect())
}

/// The data set of `file` (in its own transfer syntax) with the UI attribute `tag` set to
/// `value`: an instance that claims something else.
pub fn dataset_with_uid(file: &Path, tag: dicom_core::Tag, value: &str) -> Vec<u8> {
    use dicom_encoding::transfer_syntax::TransferSyntaxIndex;
    let (.., ts) = uids(file);
    let mut obj = dicom_object::open_file(file).unwrap();
    obj.put(dicom_core::DataElement::new(
        tag,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(value),
    ));
    let mut data = Vec::new();
    let registry_ts = dicom_transfer_syntax_registry::TransferSyntaxRegistry.get(&ts).unwrap();
    obj.write_dataset_with_ts(&mut data, registry_ts).unwrap();
    data
}
