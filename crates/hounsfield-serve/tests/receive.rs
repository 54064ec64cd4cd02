//! The receiver against a sender written here on dicom-ul's client (so each protocol step can be
//! cut or corrupted): storage of the shared files byte for byte, duplicates, conflicts, refused
//! UIDs, unknown AE titles, malformed PDUs, senders killed mid-instance, the association limit,
//! and a restart that rebuilds the same index.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use common::*;
use dicom_dictionary_std::uids;
use dicom_ul::association::client::ClientAssociationOptions;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use hounsfield_serve::dimse;
use hounsfield_serve::index::INDEX_FILE;
use hounsfield_serve::scp::{Event, ScpOptions};
use hounsfield_serve::store::Store;

/// What a C-STORE through the test's sender came to.
#[derive(Debug, PartialEq)]
enum Sent {
    /// The response's Status (0000,0900).
    Status(u16),
    /// The association was rejected or broken: no response.
    Refused(String),
}

/// Sends and returns the response's Status (0000,0900), or why there was none.
fn store(
    addr: SocketAddr,
    calling: &str,
    file: &std::path::Path,
    cut_after: Option<usize>,
) -> Sent {
    let (sop, class, ts) = uids(file);
    let data = dataset(file).unwrap();
    send(addr, calling, "HOUNSFIELD", (&class, &sop, &ts), &data, cut_after)
}

/// Sends one data set as a C-STORE from `calling` to `called`; with `cut_after`, the sender
/// vanishes (socket shut, no release or abort) once that many data set bytes are sent.
fn send(
    addr: SocketAddr,
    calling: &str,
    called: &str,
    (sop_class, sop_instance, ts): (&str, &str, &str),
    data: &[u8],
    cut_after: Option<usize>,
) -> Sent {
    let association = ClientAssociationOptions::new()
        .calling_ae_title(calling)
        .called_ae_title(called)
        .with_presentation_context(sop_class, vec![ts])
        .read_timeout(Duration::from_secs(10))
        .establish(addr);
    let mut a = match association {
        Ok(a) => a,
        Err(e) => return Sent::Refused(e.to_string()),
    };
    let pc = a.presentation_contexts()[0].id;
    let pdv = |value_type, is_last, data: Vec<u8>| Pdu::PData {
        data: vec![PDataValue { presentation_context_id: pc, value_type, is_last, data }],
    };
    let command = dimse::store_request(1, sop_class, sop_instance);
    if let Err(e) = a.send(&pdv(PDataValueType::Command, true, command)) {
        return Sent::Refused(e.to_string());
    }
    let chunk = 16_000;
    let mut sent = 0;
    for (i, part) in data.chunks(chunk).enumerate() {
        if cut_after.is_some_and(|c| sent >= c) {
            let _ = a.inner_stream().shutdown(Shutdown::Both);
            return Sent::Refused("cut by the test".into());
        }
        let last = (i + 1) * chunk >= data.len();
        if let Err(e) = a.send(&pdv(PDataValueType::Data, last, part.to_vec())) {
            return Sent::Refused(e.to_string());
        }
        sent += part.len();
    }
    let reply = match a.receive() {
        Ok(Pdu::PData { data }) => data.into_iter().next().map(|v| v.data),
        Ok(other) => return Sent::Refused(format!("{other:?}")),
        Err(e) => return Sent::Refused(e.to_string()),
    };
    let _ = a.release();
    let Some(reply) = reply else { return Sent::Refused("empty reply".into()) };
    let ts = dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj = dicom_object::InMemDicomObject::read_dataset_with_ts(reply.as_slice(), &ts).unwrap();
    Sent::Status(obj.element(dicom_dictionary_std::tags::STATUS).unwrap().to_int::<u16>().unwrap())
}

/// The shared files with a meta group (what a sender transmits from them), in a fixed order.
fn shared_files() -> Vec<std::path::PathBuf> {
    dcm_files(&shared()).into_iter().filter(|p| dataset(p).is_some()).collect()
}

#[test]
fn shared_files_are_stored_once_with_their_data_set_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default());
    let files = shared_files();
    assert!(files.len() >= 60, "shared data: {} files", files.len());
    let (want_status, want_files, _) = expected(&files);
    let got: Vec<Sent> = files.iter().map(|f| store(server.addr, "TESTSCU", f, None)).collect();
    let want: Vec<Sent> = want_status.iter().map(|s| Sent::Status(*s)).collect();
    assert_eq!(got, want);
    // Every stored file holds exactly the data set of the original it came from (hashes of the
    // bytes after each file's meta group, computed here), at the path its UIDs give.
    assert_same_files(&store_files(dir.path()), &want_files);
    assert_eq!(partials(dir.path()), 0);
    let conflicts = want_status.iter().filter(|s| **s != 0).count();
    assert!(conflicts > 0, "the shared data has the same images in several transfer syntaxes");
    // The same files again: nothing new is written, the answers are the same.
    let again: Vec<Sent> = files.iter().map(|f| store(server.addr, "TESTSCU", f, None)).collect();
    assert_eq!(again, want);
    assert_same_files(&store_files(dir.path()), &want_files);
    let (reopened, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.rebuilt, None);
    let unique = want_files.keys().filter(|k| k.starts_with("studies/")).count();
    assert_eq!(
        (reopened.instances().len(), reopened.conflicts().len()),
        (unique, want_files.len() - unique)
    );
    for r in reopened.instances().iter().chain(&reopened.conflicts()) {
        assert_eq!(want_files.get(&r.path), Some(&r.sha256), "{}", r.path);
        assert_eq!(r.source_ae, "TESTSCU");
    }
}

#[test]
fn instances_that_are_not_what_they_claim_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default().with_max_instance_bytes(50_000));
    let file = shared().join("generic/rgb/001/IM-0001-0001-0001.dcm");
    let (sop, class, ts) = uids(&file);
    let data = dataset(&file).unwrap();
    assert!(data.len() < 50_000, "{}", data.len());
    let send_as = |sop_uid: &str, data: &[u8]| {
        send(server.addr, "TESTSCU", "HOUNSFIELD", (&class, sop_uid, &ts), data, None)
    };
    // Announced as another instance than the data set is.
    assert_eq!(send_as("1.2.3.4", &data), Sent::Status(0xA900));
    // An announced UID that would leave the store.
    assert_eq!(send_as("../../../escaped", &data), Sent::Status(0xC000));
    // A data set whose StudyInstanceUID would leave the store.
    let evil =
        dataset_with_uid(&file, dicom_dictionary_std::tags::STUDY_INSTANCE_UID, "../../escaped");
    assert_eq!(send_as(&sop, &evil), Sent::Status(0xA900));
    assert!(store_files(dir.path()).is_empty());
    assert!(
        !dir.path().join("escaped").exists()
            && !dir.path().parent().unwrap().join("escaped").exists()
    );
    // Over the size limit: refused (out of resources) once its data set is read, nothing kept.
    let big = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    let big_len = dataset(&big).unwrap().len();
    assert!(big_len > 50_000, "{big_len}");
    assert_eq!(store(server.addr, "TESTSCU", &big, None), Sent::Status(0xA700));
    server.wait_ended(4);
    assert!(store_files(dir.path()).is_empty());
    assert_eq!(partials(dir.path()), 0);
    // The instance itself, as it is, is stored.
    assert_eq!(send_as(&sop, &data), Sent::Status(0));
    assert_eq!(store_files(dir.path()).len(), 1);
    assert_eq!(server.stats.refused.load(std::sync::atomic::Ordering::Relaxed), 4);
}

#[test]
fn unknown_callers_and_other_called_titles_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let options = ScpOptions::default().with_allow(vec!["SCANNER".into(), "PACS".into()]);
    let server = start(dir.path(), options);
    let file = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    let (sop, class, ts) = uids(&file);
    let data = dataset(&file).unwrap();
    let from = |calling: &str, called: &str| {
        send(server.addr, calling, called, (&class, &sop, &ts), &data, None)
    };
    for (calling, called) in
        [("INTRUDER", "HOUNSFIELD"), ("SCANNER", "OTHER"), ("scanner", "HOUNSFIELD")]
    {
        match from(calling, called) {
            Sent::Refused(why) => assert!(why.to_lowercase().contains("reject"), "{why}"),
            other => panic!("{calling} -> {called}: {other:?}"),
        }
    }
    assert!(store_files(dir.path()).is_empty());
    assert_eq!(from("SCANNER", "HOUNSFIELD"), Sent::Status(0));
    let events = server.wait_ended(1);
    let rejected: Vec<&Event> =
        events.iter().filter(|e| matches!(e, Event::Rejected { .. })).collect();
    assert_eq!(rejected.len(), 3, "{events:?}");
    assert_eq!(store_files(dir.path()).len(), 1);
}

#[test]
fn malformed_pdus_and_killed_senders_end_only_their_association() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default().with_timeout(Duration::from_secs(2)));
    let garbage: [&[u8]; 5] = [
        // A-ASSOCIATE-RQ claiming a 4 GiB body.
        &[0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x01],
        // An unknown PDU type.
        &[0x42, 0x00, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4],
        // An A-ASSOCIATE-RQ body of zeros.
        &[0x01, 0x00, 0x00, 0x00, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        // Text.
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        // Half a header, then silence (the 2 s timeout ends it).
        &[0x01, 0x00],
    ];
    for bytes in garbage {
        let mut s = TcpStream::connect(server.addr).unwrap();
        let _ = s.write_all(bytes);
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut sink);
    }
    // Killed mid-instance: after 16 kB of a 132 kB data set.
    let file = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    assert!(matches!(store(server.addr, "TESTSCU", &file, Some(16_000)), Sent::Refused(_)));
    server.wait_ended(1);
    assert!(store_files(dir.path()).is_empty());
    assert_eq!(partials(dir.path()), 0);
    // Still serving: the same instance, whole, is stored.
    assert_eq!(store(server.addr, "TESTSCU", &file, None), Sent::Status(0));
    assert_eq!(store_files(dir.path()).len(), 1);
}

#[test]
fn callers_beyond_the_association_limit_are_rejected_as_transient() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default().with_max_associations(1));
    let held = ClientAssociationOptions::new()
        .called_ae_title("HOUNSFIELD")
        .with_abstract_syntax(uids::VERIFICATION)
        .establish(server.addr)
        .unwrap();
    let file = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    match store(server.addr, "TESTSCU", &file, None) {
        Sent::Refused(why) => assert!(why.to_lowercase().contains("reject"), "{why}"),
        other => panic!("a second association was served: {other:?}"),
    }
    held.release().unwrap();
    server.wait_ended(1);
    // The slot is freed when the association's thread ends, just after Ended.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(store(server.addr, "TESTSCU", &file, None), Sent::Status(0));
}

#[test]
fn a_restart_rebuilds_the_same_index_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default());
    let files: Vec<_> =
        shared_files().into_iter().filter(|f| f.to_string_lossy().contains("generic/")).collect();
    for f in &files {
        assert!(matches!(store(server.addr, "TESTSCU", f, None), Sent::Status(_)));
    }
    let (store0, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.rebuilt, None);
    let sorted = |s: &Store| {
        let mut all: Vec<String> = s
            .instances()
            .iter()
            .chain(&s.conflicts())
            .map(|r| serde_json::to_string(r).unwrap())
            .collect();
        all.sort();
        all
    };
    let before = sorted(&store0);
    assert!(store0.conflicts().len() >= 4 && store0.instances().len() >= 20);
    // Index missing.
    std::fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
    let (s, report) = Store::open(dir.path()).unwrap();
    assert!(report.rebuilt.as_deref().unwrap().contains("missing"), "{report:?}");
    assert_eq!(sorted(&s), before);
    // A torn last line, and a partial transfer left by a crash.
    let mut index =
        std::fs::OpenOptions::new().append(true).open(dir.path().join(INDEX_FILE)).unwrap();
    index.write_all(b"{\"sop_instance_uid\": \"1.2").unwrap();
    std::fs::write(dir.path().join(".incoming/crash.part"), b"half an instance").unwrap();
    let (s, report) = Store::open(dir.path()).unwrap();
    assert!(report.rebuilt.as_deref().unwrap().contains("unreadable"), "{report:?}");
    assert_eq!(report.removed_partials, 1);
    assert_eq!(sorted(&s), before);
    // A file removed by hand: its entry goes.
    let gone = s.instances()[0].path.clone();
    std::fs::remove_file(dir.path().join(&gone)).unwrap();
    let (s, report) = Store::open(dir.path()).unwrap();
    assert!(
        report.rebuilt.as_deref().unwrap().contains("1 entry(ies) without a file"),
        "{report:?}"
    );
    assert_eq!(sorted(&s).len(), before.len() - 1);
    let (_, report) = Store::open(dir.path()).unwrap();
    assert_eq!(report.rebuilt, None);
}

#[test]
fn legacy_uids_and_attributes_encoded_as_un_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), ScpOptions::default());
    // A SOP Instance UID with a leading zero in a component, as legacy modalities write them.
    let file = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    let (_, class, ts) = uids(&file);
    let data = dataset_with_uid(&file, dicom_dictionary_std::tags::SOP_INSTANCE_UID, "1.2.03.102");
    let sent = send(server.addr, "TESTSCU", "HOUNSFIELD", (&class, "1.2.03.102", &ts), &data, None);
    assert_eq!(sent, Sent::Status(0));
    assert!(store_files(dir.path()).keys().any(|k| k.ends_with("/1.2.03.102.dcm")));
    // pydicom's RT dose with its UIDs encoded as UN (explicit VR): read by the dictionary VR.
    let Some(testdata) = std::env::var_os("HOUNSFIELD_TESTDATA") else {
        eprintln!("SKIPPED (UN part): HOUNSFIELD_TESTDATA is not set; run `cargo xtask testdata`");
        return;
    };
    let rtdose =
        std::path::Path::new(&testdata).join("pydicom/pydicom/data/test_files/rtdose_rle.dcm");
    assert_eq!(store(server.addr, "TESTSCU", &rtdose, None), Sent::Status(0));
    let (store, _) = Store::open(dir.path()).unwrap();
    let r = store.instances().into_iter().find(|r| r.modality == "RTDOSE").unwrap();
    assert!(hounsfield_serve::uid::is_valid_uid(&r.study_uid), "{r:?}");
    assert_eq!(r.sha256, sha(&dataset(&rtdose).unwrap()));
}
