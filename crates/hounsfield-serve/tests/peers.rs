//! The receiver against real senders: dcmtk's echoscu/storescu (Debian package dcmtk) and
//! pynetdicom (peers venv), one at a time and eight associations at once. Every instance must be
//! stored once with its data set byte for byte, each series listed with the grid hounsfield-io
//! reads from the original files.
//!
//! dcmtk is looked up on PATH; without it these tests say SKIPPED, unless
//! HOUNSFIELD_REQUIRE_DCMTK is set (`cargo xtask ci` sets it, `.ci/run` installs dcmtk).
//! pynetdicom runs from HOUNSFIELD_PYTHON (the peers venv, set by `cargo xtask ci`).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::Ordering;

use common::*;
use hounsfield_serve::scp::ScpOptions;
use hounsfield_serve::store::Store;

fn dcmtk() -> bool {
    let found =
        Command::new("storescu").arg("--version").output().is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("HOUNSFIELD_REQUIRE_DCMTK").is_none(),
            "dcmtk's storescu is not on PATH (apt-get install dcmtk)"
        );
        eprintln!("SKIPPED: dcmtk's storescu is not on PATH (apt-get install dcmtk)");
    }
    found
}

fn python() -> Option<PathBuf> {
    let Some(py) = std::env::var_os("HOUNSFIELD_PYTHON").map(PathBuf::from) else {
        eprintln!(
            "SKIPPED: HOUNSFIELD_PYTHON is not set; run `cargo xtask peers` (cargo xtask ci sets it)"
        );
        return None;
    };
    Some(py)
}

fn sender_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/serve/pynetdicom_send.py")
}

/// pynetdicom sends `files` over one association; the status of each.
fn pynetdicom(py: &Path, port: u16, calling: &str, files: &[PathBuf]) -> Command {
    let mut cmd = Command::new(py);
    cmd.arg(sender_script())
        .args(["127.0.0.1", &port.to_string(), calling, "HOUNSFIELD"])
        .args(files);
    cmd
}

fn statuses(out: &Output) -> Vec<Option<u16>> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["statuses"].as_array().unwrap().iter().map(|s| s.as_u64().map(|s| s as u16)).collect()
}

/// dcmtk's option proposing a file's own transfer syntax (so storescu sends it unconverted).
fn storescu_flag(ts: &str) -> Option<&'static str> {
    match ts {
        "1.2.840.10008.1.2.1" => Some("-xe"),
        "1.2.840.10008.1.2" => Some("-xi"),
        _ => None,
    }
}

/// storescu sends `files` (all of one transfer syntax) with `flag`.
fn storescu(port: u16, calling: &str, flag: &str, files: &[PathBuf]) -> Command {
    let mut cmd = Command::new("storescu");
    cmd.args(["-aet", calling, "-aec", "HOUNSFIELD", flag, "127.0.0.1", &port.to_string()])
        .args(files);
    cmd
}

/// The shared uncompressed files in send order with the storescu flag for each. storescu
/// re-encodes encapsulated pixel data as it sends (it pads odd-length fragments, seen on the
/// JPEG 2000, JPEG-LS, JPEG and RLE files here), so the compressed files' byte-for-byte check is
/// pynetdicom's, which sends a file's data set as it is.
fn dcmtk_files() -> Vec<(PathBuf, &'static str)> {
    let mut out: Vec<(PathBuf, &'static str)> = dcm_files(&shared())
        .into_iter()
        .filter(|f| dataset(f).is_some())
        .filter_map(|f| storescu_flag(&uids(&f).2).map(|flag| (f, flag)))
        .collect();
    out.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
    out
}

#[test]
fn dcmtk_echoes_and_stores_the_shared_series_byte_for_byte() {
    if !dcmtk() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = start(
        dir.path(),
        ScpOptions::default().with_allow(vec!["STORESCU".into(), "ECHOSCU".into()]),
    );
    let port = server.addr.port();
    let echo = |calling: &str| {
        Command::new("echoscu")
            .args(["-aet", calling, "-aec", "HOUNSFIELD", "127.0.0.1", &port.to_string()])
            .output()
            .unwrap()
    };
    assert!(echo("ECHOSCU").status.success());
    let refused = echo("INTRUDER");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Rejected"), "{refused:?}");
    let files = dcmtk_files();
    assert!(files.len() >= 40, "{}", files.len());
    let order: Vec<PathBuf> = files.iter().map(|f| f.0.clone()).collect();
    let (want_status, want_files, _) = expected(&order);
    for flag in ["-xe", "-xi"] {
        let group: Vec<PathBuf> =
            files.iter().filter(|f| f.1 == flag).map(|f| f.0.clone()).collect();
        let conflicts =
            files.iter().zip(&want_status).filter(|(f, s)| f.1 == flag && **s != 0).count();
        let out = storescu(port, "STORESCU", flag, &group).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // storescu exits with an error when a store fails: here only when a conflict is expected.
        assert_eq!(
            out.status.success(),
            conflicts == 0,
            "{flag}: {conflicts} conflict(s) expected; {stderr}"
        );
        if conflicts == 0 {
            assert!(!stderr.contains("E:"), "{stderr}");
        }
    }
    assert_same_files(&store_files(dir.path()), &want_files);
    assert_eq!(partials(dir.path()), 0);
    let conflicts = want_status.iter().filter(|s| **s != 0).count() as u64;
    assert_eq!(server.stats.conflicts.load(Ordering::Relaxed), conflicts);
    assert_eq!(server.stats.refused.load(Ordering::Relaxed), 0);
    assert!(server.stats.rejected.load(Ordering::Relaxed) >= 1);
}

#[test]
fn pynetdicom_stores_every_shared_file_and_the_index_lists_each_series_with_its_grid() {
    let Some(py) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default());
    let files: Vec<PathBuf> =
        dcm_files(&shared()).into_iter().filter(|f| dataset(f).is_some()).collect();
    let out = pynetdicom(&py, server.addr.port(), "PYNETDICOM", &files).output().unwrap();
    let (want_status, want_files, first) = expected(&files);
    let got = statuses(&out);
    assert_eq!(got, want_status.iter().map(|s| Some(*s)).collect::<Vec<_>>());
    assert_same_files(&store_files(dir.path()), &want_files);
    // Each series listed once, with its instances; its grid is the one hounsfield-io reads from
    // the original directory (where the series' stored instances are exactly that directory's).
    let (store, _) = Store::open(dir.path()).unwrap();
    let studies = store.studies();
    let listed: usize = studies.iter().flat_map(|s| &s.series).map(|s| s.instances).sum();
    assert_eq!(listed, first.len());
    let mut compared = 0;
    for series in studies.iter().flat_map(|s| &s.series) {
        let sources: Vec<&PathBuf> = store
            .instances()
            .iter()
            .filter(|r| r.series_uid == series.series_uid)
            .map(|r| &first[&r.sop_instance_uid])
            .collect();
        let original = sources[0].parent().unwrap();
        let in_dir = dcm_files(original).len();
        if !sources.iter().all(|s| s.parent() == Some(original)) || in_dir != sources.len() {
            continue;
        }
        let ours = store.series_geometry(&series.series_uid);
        let theirs = hounsfield_io::dicom::read_dicom_dir(original, None, &Default::default());
        match (ours, theirs) {
            (Ok(g), Ok(v)) => {
                let t = v.volumes[0].geometry();
                assert_eq!(g.shape, v.volumes[0].shape(), "{}", original.display());
                assert_eq!(
                    (g.spacing, g.origin, g.direction),
                    (t.spacing(), t.origin(), t.direction())
                );
                compared += 1;
            }
            (Err(_), Err(_)) => {}
            (ours, theirs) => {
                panic!("{}: {ours:?} vs {:?}", original.display(), theirs.map(|_| ()))
            }
        }
    }
    assert!(compared >= 5, "{compared} series compared");
}

#[test]
fn eight_senders_at_once_store_every_instance_once() {
    let Some(py) = python() else { return };
    if !dcmtk() {
        return;
    }
    // Uncompressed series whose SOP Instance UIDs appear in no other file: every sender sends
    // all of them, so each instance arrives eight times, possibly at the same moment.
    let dirs = [
        "anatomical/001",
        "anatomical/001_implicit",
        "generic/anatomical/001_implicit",
        "generic/anatomical/002_non_isotropic",
        "failing/gantrytilting/001",
        "failing/notavolume/001",
        "failing/sliceincrement/001",
        "failing/sliceincrement/002",
    ];
    let files: Vec<PathBuf> = dirs.iter().flat_map(|d| dcm_files(&shared().join(d))).collect();
    let (_, want_files, first) = expected(&files);
    assert_eq!(first.len(), files.len(), "these files have distinct UIDs");
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default());
    let port = server.addr.port();
    let mut children = Vec::new();
    for k in 0..4 {
        let mut dcmtk_cmds: Vec<Command> = Vec::new();
        for flag in ["-xe", "-xi"] {
            let group: Vec<PathBuf> =
                files.iter().filter(|f| storescu_flag(&uids(f).2) == Some(flag)).cloned().collect();
            dcmtk_cmds.push(storescu(port, &format!("DCMTK{k}"), flag, &group));
        }
        children.push(("dcmtk", dcmtk_cmds));
        children.push(("pynetdicom", vec![pynetdicom(&py, port, &format!("PYNET{k}"), &files)]));
    }
    // Each sender runs its commands one after the other; the eight senders run at once.
    let handles: Vec<_> = children
        .into_iter()
        .map(|(who, cmds)| {
            std::thread::spawn(move || {
                cmds.into_iter().map(|mut c| (who, c.output().unwrap())).collect::<Vec<_>>()
            })
        })
        .collect();
    for h in handles {
        for (who, out) in h.join().unwrap() {
            if who == "pynetdicom" {
                assert!(statuses(&out).iter().all(|s| *s == Some(0)), "{out:?}");
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success() && !stderr.contains("E:"), "{stderr}");
            }
        }
    }
    assert_same_files(&store_files(dir.path()), &want_files);
    assert_eq!(partials(dir.path()), 0);
    let n = files.len() as u64;
    let s = &server.stats;
    assert_eq!(s.stored.load(Ordering::Relaxed), n);
    assert_eq!(s.duplicates.load(Ordering::Relaxed), 7 * n);
    assert_eq!(s.conflicts.load(Ordering::Relaxed) + s.refused.load(Ordering::Relaxed), 0);
    assert!(s.associations.load(Ordering::Relaxed) >= 8);
}
