//! The web page in headless Chromium (Debian's chromium driven by Playwright from the peers
//! venv, tests/page_check.py): the study list appears, a series opens with its slice, an
//! isosurface job runs to completion, the 3D view draws the mesh and turns when dragged, and
//! the STL downloaded from the page opens in trimesh as watertight; a file chosen in the page is
//! uploaded (STOW-RS) and stored.
//!
//! Without HOUNSFIELD_PYTHON or /usr/bin/chromium it says SKIPPED, unless
//! HOUNSFIELD_REQUIRE_CHROMIUM is set (`cargo xtask ci` sets it, `.ci/run` installs chromium).

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The SOP Instance UID of the file uploaded through the page.
const UPLOADED: &str = "1.2.826.0.1.3680043.10.543.1.2.3";

#[test]
fn the_page_lists_studies_runs_a_job_draws_its_mesh_and_downloads_it() {
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/usr/bin/chromium".into());
    let python = std::env::var_os("HOUNSFIELD_PYTHON").map(PathBuf::from);
    let (Some(python), true) = (python, chromium.exists()) else {
        assert!(
            std::env::var_os("HOUNSFIELD_REQUIRE_CHROMIUM").is_none(),
            "the page test needs HOUNSFIELD_PYTHON (peers venv) and {} (apt-get install chromium)",
            chromium.display()
        );
        eprintln!("SKIPPED: needs HOUNSFIELD_PYTHON and {}", chromium.display());
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (addr, store) = start_http(dir.path(), None);
    // A new instance to upload through the page: a shared file with another SOP Instance UID.
    let upload = dir.path().join("upload.dcm");
    let source = shared().join("anatomical/001/IM-0001-0112-0001.dcm");
    let mut obj = dicom_object::open_file(source).unwrap();
    obj.put(dicom_core::DataElement::new(
        dicom_dictionary_std::tags::SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(UPLOADED),
    ));
    obj.write_to_file(&upload).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/page_check.py");
    let out = Command::new(python)
        .arg(script)
        .arg(format!("http://{addr}/"))
        .arg("--upload")
        .arg(&upload)
        .env("CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(seen["errors"], serde_json::json!([]), "{seen}");
    let series: usize = store.studies().iter().map(|s| s.series.len()).sum();
    assert_eq!(seen["series_rows"].as_u64(), Some(series as u64), "{seen}");
    assert!(seen["slice_width"].as_u64().unwrap() > 0, "{seen}");
    assert_eq!(seen["upload"], "stored 1", "{seen}");
    assert!(store.instances().iter().any(|r| r.sop_instance_uid == UPLOADED));
    // The mesh covers part of the 3D view (tolerance: at least 1% of its pixels), and dragging
    // turns it (at least 1% of the pixels change).
    assert!(seen["mesh_fraction"].as_f64().unwrap() > 0.01, "{seen}");
    assert!(seen["turn_changed"].as_f64().unwrap() > 0.01, "{seen}");
    assert_eq!(seen["watertight"], true, "{seen}");
    // The download is the job's own STL: the triangle count the job reported.
    let job = store_jobs_triangles(dir.path());
    assert_eq!(seen["triangles"].as_u64(), Some(job), "{seen}");
    assert!(seen["download_name"].as_str().unwrap().ends_with("surface.stl"), "{seen}");
}

/// The triangles of the surface STL the (only) job wrote, from its job.json.
fn store_jobs_triangles(root: &Path) -> u64 {
    let text = std::fs::read_to_string(root.join("jobs/1/job.json")).unwrap();
    let job: serde_json::Value = serde_json::from_str(&text).unwrap();
    job["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "surface.stl").unwrap()["triangles"].as_u64().unwrap()
}
