//! `hounsfield serve` from the shell: the network guard, the import of the shared DICOM files
//! and the page's address printed (the service itself is tested in hounsfield-serve).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

fn hounsfield() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hounsfield"))
}

#[test]
fn a_network_address_needs_named_senders_and_bad_addresses_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let out = hounsfield()
        .args([
            "serve",
            "--store",
            store.to_str().unwrap(),
            "--bind",
            "0.0.0.0",
            "--dicom-port",
            "0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow"), "{out:?}");
    let out = hounsfield().args(["serve", "--store", "x", "--bind", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an IP address"), "{out:?}");
}

#[test]
fn serve_imports_the_shared_files_and_prints_the_page_address() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/dicom2nifti");
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let mut child = hounsfield()
        .args([
            "serve",
            "--store",
            store.to_str().unwrap(),
            "--dicom-port",
            "0",
            "--http-port",
            "0",
        ])
        .args(["--bind", "localhost", "--import", shared.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let address = line.trim().strip_prefix("page: http://").and_then(|a| a.strip_suffix('/'));
    let address =
        address.unwrap_or_else(|| panic!("no page address printed: {line:?}")).to_string();
    let mut s = std::net::TcpStream::connect(&address).unwrap();
    s.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    child.kill().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    child.wait().unwrap();
    // 66 files: 48 instances, 6 the same again, 12 the same UIDs in other transfer syntaxes.
    assert!(
        response.contains("\"instances\":48") && response.contains("\"conflicts\":12"),
        "{response}"
    );
    assert!(stderr.contains("48 stored, 6 already there, 12 conflicts, 0 refused"), "{stderr}");
}
