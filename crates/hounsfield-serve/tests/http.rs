//! The HTTP API over a store of the shared files: listings, series grids, slices, jobs and
//! their downloads, STOW-RS uploads, the token, and requests that try to leave the store.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// Series that read as one volume, with their modality.
fn volumes(addr: std::net::SocketAddr) -> Vec<(String, String, Value)> {
    let (status, studies) = get_json(addr, "/api/studies");
    assert_eq!(status, 200);
    let mut out = Vec::new();
    for s in
        studies["studies"].as_array().unwrap().iter().flat_map(|s| s["series"].as_array().unwrap())
    {
        let uid = s["series_uid"].as_str().unwrap().to_string();
        let (status, details) = get_json(addr, &format!("/api/series/{uid}"));
        assert_eq!(status, 200, "{details}");
        if details.get("geometry").is_some() {
            out.push((uid, s["modality"].as_str().unwrap().to_string(), details));
        }
    }
    out
}

/// Polls a job until it is done, failed or cancelled (at most 120 s).
fn wait_job(addr: std::net::SocketAddr, id: u64) -> Value {
    let start = Instant::now();
    loop {
        let (status, job) = get_json(addr, &format!("/api/jobs/{id}"));
        assert_eq!(status, 200);
        let finished = ["done", "failed", "cancelled"].iter().any(|s| job["state"] == *s);
        if finished || start.elapsed() > Duration::from_secs(120) {
            return job;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn submit(addr: std::net::SocketAddr, uid: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = http(
        addr,
        "POST",
        &format!("/api/series/{uid}/jobs"),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn series_are_listed_with_their_grid_and_drawn_as_slices() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, store) = start_http(dir.path(), None);
    let series = volumes(addr);
    assert!(series.len() >= 5, "{} series read as volumes", series.len());
    for (uid, _, details) in &series {
        let grid = store.series_geometry(uid).unwrap();
        assert_eq!(details["geometry"], serde_json::to_value(&grid).unwrap());
        let [nz, ny, nx] = grid.shape;
        let slices = &details["slices"];
        let mut counts = [
            slices["axial"].as_u64().unwrap(),
            slices["coronal"].as_u64().unwrap(),
            slices["sagittal"].as_u64().unwrap(),
        ];
        counts.sort();
        let mut shape = [nz as u64, ny as u64, nx as u64];
        shape.sort();
        assert_eq!(counts, shape, "the display grid is a permutation of the stored one");
        for plane in ["axial", "coronal", "sagittal"] {
            let (status, headers, png) = http(
                addr,
                "GET",
                &format!("/api/series/{uid}/slice.png?plane={plane}&window=auto"),
                &[],
                b"",
            );
            assert_eq!((status, headers["content-type"].as_str()), (200, "image/png"));
            assert_eq!(&png[1..4], b"PNG");
        }
        // The list's thumbnail: a PNG at most 96 pixels wide (IHDR width), cached on disk.
        let (status, _, png) =
            http(addr, "GET", &format!("/api/series/{uid}/thumbnail.png"), &[], b"");
        assert_eq!((status, &png[1..4]), (200, &b"PNG"[..]));
        // Drawn in the acquisition plane: a 4-slice sagittal stack is a sagittal picture, not
        // a sliver of an axial one (IHDR width and height, at least 12 pixels each).
        let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
        assert!((12..=96).contains(&width) && (12..=96).contains(&height), "{width}x{height}");
        let count = details["instances"].as_array().unwrap().len();
        assert!(store.root().join(format!("thumbnails/{uid}-{count}.png")).exists());
        // Beyond the last slice: refused with the reason.
        let n = slices["axial"].as_u64().unwrap();
        let (status, _, body) =
            http(addr, "GET", &format!("/api/series/{uid}/slice.png?index={n}"), &[], b"");
        assert_eq!(status, 422, "{}", String::from_utf8_lossy(&body));
    }
    // A series that is not one volume says why.
    let (_, studies) = get_json(addr, "/api/studies");
    let all: Vec<String> = studies["studies"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["series"].as_array().unwrap())
        .map(|s| s["series_uid"].as_str().unwrap().to_string())
        .collect();
    let broken = all
        .iter()
        .find(|u| !series.iter().any(|s| &s.0 == *u))
        .expect("the shared data has failing series");
    let (_, details) = get_json(addr, &format!("/api/series/{broken}"));
    assert!(details["volume_error"].as_str().is_some_and(|e| !e.is_empty()), "{details}");
    // Its thumbnail is its middle image alone.
    let (status, _, png) =
        http(addr, "GET", &format!("/api/series/{broken}/thumbnail.png"), &[], b"");
    assert_eq!((status, &png[1..4]), (200, &b"PNG"[..]));
    assert_eq!(http(addr, "GET", "/api/series/..%2F..%2Fx/thumbnail.png", &[], b"").0, 404);
    assert_eq!(get_json(addr, "/api/series/1.2.3").0, 404);
    assert_eq!(http(addr, "GET", "/", &[], b"").0, 200);
}

#[test]
fn jobs_run_off_the_request_and_their_outputs_download() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, store) = start_http(dir.path(), None);
    // Every shared CT series is one that fails to read as a volume; pydicom's CT_small.dcm (one
    // 128x128 slice, from the pinned wheel `cargo xtask testdata` fetches) is a CT that reads.
    let testdata = std::env::var_os("HOUNSFIELD_TESTDATA").map(std::path::PathBuf::from);
    let ct_file = testdata
        .map(|t| t.join("pydicom/pydicom/data/test_files/CT_small.dcm"))
        .filter(|p| p.exists());
    if let Some(f) = &ct_file {
        store
            .store_file_bytes("CT_small.dcm", &std::fs::read(f).unwrap(), "TEST", u64::MAX)
            .unwrap();
    } else {
        eprintln!("SKIPPED (CT part): HOUNSFIELD_TESTDATA is not set; run `cargo xtask testdata`");
    }
    let series = volumes(addr);
    let (mr, ..) = series.iter().find(|s| s.1 == "MR").unwrap();
    let (status, job) = submit(addr, mr, r#"{"task": "surface", "smoothing": 5, "keep": 0.8}"#);
    assert_eq!(status, 202, "{job}");
    let job = wait_job(addr, job["id"].as_u64().unwrap());
    assert_eq!(job["state"], "done", "{job}");
    let stl =
        job["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "surface.stl").unwrap();
    let (status, headers, bytes) =
        http(addr, "GET", &format!("/api/jobs/{}/files/surface.stl", job["id"]), &[], b"");
    assert_eq!(status, 200);
    assert!(headers["content-disposition"].contains("attachment"));
    // A binary STL: 80-byte header, triangle count, 50 bytes per triangle.
    let n = u32::from_le_bytes(bytes[80..84].try_into().unwrap()) as usize;
    assert_eq!((n, bytes.len()), (stl["triangles"].as_u64().unwrap() as usize, 84 + 50 * n));
    assert_eq!(stl["watertight"], true);
    // CT tissues: two labels, each its own mesh and colour; the labels overlay a slice.
    if let Some((ct, ..)) = series.iter().find(|s| s.1 == "CT") {
        let (_, job) = submit(addr, ct, r#"{"task": "tissues", "smoothing": 0, "keep": 1}"#);
        let job = wait_job(addr, job["id"].as_u64().unwrap());
        assert_eq!(job["state"], "done", "{job}");
        let meshes: Vec<&Value> = job["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|o| o["name"].as_str().unwrap().ends_with(".stl"))
            .collect();
        assert_eq!(
            meshes.iter().map(|o| o["label"].as_i64().unwrap()).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(meshes.iter().all(|o| o["watertight"] == true), "{job}");
        let id = job["id"].as_u64().unwrap();
        let (status, _, png) =
            http(addr, "GET", &format!("/api/series/{ct}/slice.png?overlay={id}"), &[], b"");
        assert_eq!((status, &png[1..4]), (200, &b"PNG"[..]));
    } else {
        assert!(ct_file.is_none(), "CT_small.dcm did not read as a volume");
    }
    let id = job["id"].as_u64().unwrap();
    // A failed job keeps no partial output; a brain mask that comes out empty (small series of
    // the shared data that are not whole heads) says so.
    let mut failed = 0;
    for (uid, modality, _) in &series {
        if modality != "MR" {
            continue;
        }
        let (_, job) = submit(addr, uid, r#"{"task": "brain-mask"}"#);
        let job = wait_job(addr, job["id"].as_u64().unwrap());
        if job["state"] == "failed" {
            failed += 1;
            assert!(job["error"].as_str().unwrap().contains("empty"), "{job}");
            let left: Vec<_> = std::fs::read_dir(dir.path().join(format!("jobs/{}", job["id"])))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, vec![std::ffi::OsString::from("job.json")], "{job}");
        }
    }
    assert!(failed > 0);
    // Cancelling: a queued job never runs (the worker is busy with a first one).
    let (_, first) = submit(addr, mr, r#"{"task": "surface", "smoothing": 100, "keep": 0.9}"#);
    let (_, queued) = submit(addr, mr, r#"{"task": "convert"}"#);
    let (status, _, body) = http(addr, "DELETE", &format!("/api/jobs/{}", queued["id"]), &[], b"");
    let cancelled: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200);
    wait_job(addr, first["id"].as_u64().unwrap());
    let (_, after) = get_json(addr, &format!("/api/jobs/{}", queued["id"]));
    assert!(cancelled["state"] == "cancelled" || cancelled["state"] == "running", "{cancelled}");
    assert_eq!(after["state"], "cancelled", "{after}");
    assert_eq!(http(addr, "DELETE", "/api/jobs/999", &[], b"").0, 404);
    // Tissues of an MR, a bad request, an unknown series: refused with the reason.
    let (status, reply) = submit(addr, mr, r#"{"task": "tissues"}"#);
    assert_eq!(status, 422, "{reply}");
    assert!(reply["error"].as_str().unwrap().contains("not CT"), "{reply}");
    let (status, reply) = submit(addr, mr, r#"{"task": "convert", "level": 100}"#);
    assert!(status == 422 && reply["error"].as_str().unwrap().contains("surface task only"));
    assert_eq!(submit(addr, mr, r#"{"task": "explode"}"#).0, 400);
    assert_eq!(submit(addr, mr, r#"{"task": "surface", "keep": 0}"#).0, 422);
    assert_eq!(submit(addr, "1.2.3", r#"{"task": "convert"}"#).0, 404);
    // Only a job's listed outputs are served: no name reaches other files.
    for name in ["..%2F..%2Findex.jsonl", "../../index.jsonl", "job.json", "nothing.stl"] {
        let (status, ..) = http(addr, "GET", &format!("/api/jobs/{id}/files/{name}"), &[], b"");
        assert_eq!(status, 404, "{name}");
    }
    assert_eq!(http(addr, "GET", "/api/jobs/999/files/surface.stl", &[], b"").0, 404);
    // Cancelling a running job: it stops at its next stage and keeps only its record.
    let (_, long) = submit(addr, mr, r#"{"task": "surface", "smoothing": 100, "keep": 0.05}"#);
    let long = long["id"].as_u64().unwrap();
    let start = Instant::now();
    while get_json(addr, &format!("/api/jobs/{long}")).1["state"] != "running" {
        assert!(start.elapsed() < Duration::from_secs(60));
        std::thread::sleep(Duration::from_millis(20));
    }
    let (_, asked) = get_json(addr, &format!("/api/jobs/{long}"));
    let (_, _, body) = http(addr, "DELETE", &format!("/api/jobs/{long}"), &[], b"");
    let answer: Value = serde_json::from_slice(&body).unwrap();
    assert!(answer["cancel_requested"] == true || answer["state"] == "done", "{asked} {answer}");
    let done = wait_job(addr, long);
    if done["state"] == "cancelled" {
        let left: Vec<_> = std::fs::read_dir(dir.path().join(format!("jobs/{long}")))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("job.json")], "{done}");
    } else {
        // Only if it finished between the two requests (it takes seconds).
        assert_eq!(done["state"], "done", "{done}");
    }
    // A restart: finished jobs are listed again, a job recorded as queued runs, and numbers
    // are never reused (an empty job directory counts).
    let record = serde_json::json!({
        "id": 70, "series_uid": mr, "request": {"task": "convert"}, "state": "queued",
        "stage": "queued", "progress": 0.0, "error": null, "outputs": [], "seconds": null
    });
    std::fs::create_dir_all(dir.path().join("jobs/70")).unwrap();
    std::fs::write(dir.path().join("jobs/70/job.json"), record.to_string()).unwrap();
    std::fs::create_dir_all(dir.path().join("jobs/77")).unwrap();
    let (store, _) = hounsfield_serve::store::Store::open(dir.path()).unwrap();
    let jobs = hounsfield_serve::jobs::Jobs::start(std::sync::Arc::new(store)).unwrap();
    assert_eq!(jobs.get(id).unwrap().state, hounsfield_serve::jobs::JobState::Done);
    let start = Instant::now();
    while jobs.get(70).unwrap().state != hounsfield_serve::jobs::JobState::Done {
        assert!(start.elapsed() < Duration::from_secs(60), "{:?}", jobs.get(70));
        std::thread::sleep(Duration::from_millis(50));
    }
    let request = serde_json::from_str(r#"{"task": "convert"}"#).unwrap();
    assert_eq!(jobs.submit(mr, request).unwrap().id, 78);
}

#[test]
fn stow_rs_uploads_are_stored_like_c_store() {
    let empty = tempfile::tempdir().unwrap();
    let (addr, store) = start_http_empty(empty.path());
    let files: Vec<_> = dcm_files(&shared().join("anatomical/001"));
    let multipart = |files: &[std::path::PathBuf]| {
        let mut body = b"ignored preamble\r\n".to_vec();
        for f in files {
            body.extend_from_slice(b"--B0UNDARY\r\nContent-Type: application/dicom\r\n\r\n");
            body.extend_from_slice(&std::fs::read(f).unwrap());
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"--B0UNDARY--\r\n");
        body
    };
    let content_type =
        [("Content-Type", "multipart/related; type=\"application/dicom\"; boundary=B0UNDARY")];
    let (status, headers, body) =
        http(addr, "POST", "/dicomweb/studies", &content_type, &multipart(&files));
    let reply: Value = serde_json::from_slice(&body).unwrap();
    // PS3.18 10.5.3: ReferencedSOPSequence (0008,1199) lists every stored instance.
    let referenced = reply["00081199"]["Value"].as_array().unwrap();
    assert_eq!((status, referenced.len()), (200, 4), "{reply}");
    assert_eq!(headers["content-type"], "application/dicom+json");
    assert!(reply.get("00081198").is_none());
    for f in &files {
        let (sop, ..) = uids(f);
        let r = store.instances().into_iter().find(|r| r.sop_instance_uid == sop).unwrap();
        assert_eq!(r.sha256, sha(&dataset(f).unwrap()));
    }
    // Again: accepted, nothing new.
    assert_eq!(http(addr, "POST", "/dicomweb/studies", &content_type, &multipart(&files)).0, 200);
    assert_eq!(store.instances().len(), 4);
    // Garbage: refused.
    let (status, _, _) =
        http(addr, "POST", "/dicomweb/studies", &[("Content-Type", "text/plain")], b"hello");
    assert_eq!(status, 400);
    let (status, _, body) = http(
        addr,
        "POST",
        "/dicomweb/studies",
        &content_type,
        b"--B0UNDARY\r\nContent-Type: application/dicom\r\n\r\nnot dicom\r\n--B0UNDARY--\r\n",
    );
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(reply["00081198"]["Value"][0]["00081197"]["Value"][0], 0xC000);
    // (The test client's header map keeps the last Warning; there is one here.)
    let (_, headers, _) = http(
        addr,
        "POST",
        "/dicomweb/studies",
        &content_type,
        b"--B0UNDARY\r\nContent-Type: application/dicom\r\n\r\nnot dicom\r\n--B0UNDARY--\r\n",
    );
    assert!(headers["warning"].starts_with("299 hounsfield \"part 1:"), "{headers:?}");
    // Into a named study: a part of another study fails (0xA900), the others are stored.
    let other = dcm_files(&shared().join("anatomical/001_implicit"));
    let mut mixed = files.clone();
    mixed.push(other[0].clone());
    let study = {
        let obj = dicom_object::open_file(&files[0]).unwrap();
        hounsfield_serve::uid::text_of(&obj, dicom_dictionary_std::tags::STUDY_INSTANCE_UID)
    };
    let path = format!("/dicomweb/studies/{study}");
    let (status, _, body) = http(addr, "POST", &path, &content_type, &multipart(&mixed));
    let reply: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 202, "{reply}");
    assert_eq!(reply["00081198"]["Value"][0]["00081197"]["Value"][0], 0xA900);
    assert_eq!(reply["00081199"]["Value"].as_array().unwrap().len(), 4);
    // pydicom's RT dose with UN-encoded UIDs: stored over STOW-RS as over DICOM.
    if let Some(testdata) = std::env::var_os("HOUNSFIELD_TESTDATA") {
        let rtdose =
            std::path::Path::new(&testdata).join("pydicom/pydicom/data/test_files/rtdose_rle.dcm");
        let (status, _, body) =
            http(addr, "POST", "/dicomweb/studies", &content_type, &multipart(&[rtdose]));
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    // Over the upload limit (4 MiB here): refused before it is read.
    let big = vec![0u8; 5 << 20];
    assert_eq!(http(addr, "POST", "/dicomweb/studies", &content_type, &big).0, 413);
    assert!(store.instances().len() >= 4);
}

fn start_http_empty(
    dir: &std::path::Path,
) -> (std::net::SocketAddr, std::sync::Arc<hounsfield_serve::store::Store>) {
    use hounsfield_serve::http::{AppState, HttpOptions};
    let (store, _) = hounsfield_serve::store::Store::open(dir).unwrap();
    let store = std::sync::Arc::new(store);
    let jobs = hounsfield_serve::jobs::Jobs::start(store.clone()).unwrap();
    let state = AppState::new(
        store.clone(),
        jobs,
        None,
        HttpOptions { token: None, max_upload_bytes: 4 << 20, dicom: None },
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || hounsfield_serve::http::serve(listener, state).unwrap());
    (addr, store)
}

#[test]
fn a_token_guards_the_api_but_not_the_page() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, _) = start_http(dir.path(), Some("s3cret"));
    assert_eq!(http(addr, "GET", "/", &[], b"").0, 200);
    assert_eq!(http(addr, "GET", "/viewer.js", &[], b"").0, 200);
    assert_eq!(http(addr, "GET", "/api/studies", &[], b"").0, 401);
    assert_eq!(http(addr, "GET", "/api/studies?token=wrong", &[], b"").0, 401);
    assert_eq!(http(addr, "GET", "/api/studies", &[("Authorization", "Bearer wrong")], b"").0, 401);
    assert_eq!(
        http(addr, "POST", "/dicomweb/studies", &[("Content-Type", "application/dicom")], b"x").0,
        401
    );
    assert_eq!(http(addr, "GET", "/api/studies?token=s3cret", &[], b"").0, 200);
    assert_eq!(
        http(addr, "GET", "/api/studies", &[("Authorization", "Bearer s3cret")], b"").0,
        200
    );
    let lower = [("Authorization", "bearer s3cret")];
    assert_eq!(http(addr, "GET", "/api/studies", &lower, b"").0, 200);
    let wrong_case = [("Authorization", "Bearer S3CRET")];
    assert_eq!(http(addr, "GET", "/api/studies", &wrong_case, b"").0, 401);
}
