//! Siemens CSA headers read as nibabel's `csareader` reads them: every CSA blob in nibabel's
//! test data (CSA2 with zero-length items, a tag declaring 1001 items, the image and series
//! headers of the DWI mosaics) gives the same tags, VRs and values (numbers equal to 1e-9
//! relative, text identical), or is refused where nibabel refuses it.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::Read;
use std::process::Command;

use hounsfield_io::dicom::csa::CsaHeader;
use serde_json::Value;

/// nibabel's reading of each blob given as an argument: a JSON object per blob, `{"error": ...}`
/// where it refuses, else `{name: [vr, [items...]]}`. DICOM files give their image and series
/// headers.
const NIBABEL: &str = r#"
import gzip, json, sys, warnings
warnings.simplefilter("ignore")
import pydicom
from nibabel.nicom import csareader
out = {}
for path in sys.argv[1:]:
    if path.endswith(".dcm.gz") or path.endswith(".dcm"):
        raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
        import io
        ds = pydicom.dcmread(io.BytesIO(raw), stop_before_pixels=True)
        blobs = {path + ":image": ds[0x0029, 0x1010].value}
        if (0x0029, 0x1020) in ds:
            blobs[path + ":series"] = ds[0x0029, 0x1020].value
    else:
        blobs = {path: gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()}
    for name, blob in blobs.items():
        try:
            tags = csareader.read(blob)["tags"]
            out[name] = {k: [t["vr"], t["items"]] for k, t in tags.items()}
        except Exception as e:
            out[name] = {"error": str(e)}
print(json.dumps(out))
"#;

fn blob_of(path: &std::path::Path) -> Vec<u8> {
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).unwrap();
        out
    } else {
        raw
    }
}

fn same_item(ours: &str, theirs: &Value) -> bool {
    match theirs {
        Value::String(s) => ours == s,
        Value::Number(n) => {
            let (a, b) = (ours.trim().parse::<f64>().unwrap_or(f64::NAN), n.as_f64().unwrap());
            (a - b).abs() <= 1e-9 * b.abs().max(1.0)
        }
        other => panic!("unexpected item {other}"),
    }
}

fn compare(name: &str, ours: Result<CsaHeader, String>, theirs: &Value) {
    if let Some(err) = theirs.get("error") {
        assert!(ours.is_err(), "{name}: nibabel refuses it ({err}), we read it");
        return;
    }
    let ours = ours.unwrap_or_else(|e| panic!("{name}: {e}"));
    let theirs = theirs.as_object().unwrap();
    assert_eq!(ours.elements.len(), theirs.len(), "{name}: tag count");
    for e in &ours.elements {
        let [vr, items] = &theirs[&e.name].as_array().unwrap()[..] else { panic!() };
        assert_eq!(e.vr, vr.as_str().unwrap(), "{name}: {} VR", e.name);
        let items = items.as_array().unwrap();
        // nibabel keeps empty trailing text items where we keep none.
        let items: Vec<&Value> =
            items.iter().filter(|v| !matches!(v, Value::String(s) if s.is_empty())).collect();
        assert_eq!(e.items.len(), items.len(), "{name}: {} item count", e.name);
        for (a, b) in e.items.iter().zip(items) {
            let short = |s: String| s.chars().take(120).collect::<String>();
            assert!(
                same_item(a, b),
                "{name}: {}: {:?} vs nibabel {}",
                e.name,
                short(a.clone()),
                short(b.to_string())
            );
        }
    }
}

#[test]
fn csa_headers_read_as_nibabel_reads_them() {
    let (Some(data), Some(python)) = (common::testdata(), common::python()) else { return };
    let dir = data.join("nibabel/nibabel/nicom/tests/data");
    let blobs = [
        "csa2_b0.bin",
        "csa2_b1000.bin",
        "csa2_zero_len.bin.gz",
        "csa_str_valid.bin",
        "csa_str_1001n_items.bin",
    ];
    let dicoms = ["siemens_dwi_0.dcm.gz", "siemens_dwi_1000.dcm.gz", "csa_slice_norm.dcm"];
    let mut cmd = Command::new(python);
    cmd.args(["-c", NIBABEL]);
    for name in blobs.iter().chain(&dicoms) {
        cmd.arg(dir.join(name));
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let reference: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut compared = 0;
    for name in blobs {
        let path = dir.join(name);
        compare(name, CsaHeader::parse(&blob_of(&path)), &reference[path.to_str().unwrap()]);
        compared += 1;
    }
    // The DICOM files' headers, as our header reader finds them through the private creator.
    for name in dicoms {
        let path = dir.join(name);
        let raw = blob_of(&path);
        for (which, low) in [("image", 0x10u8), ("series", 0x20)] {
            let key = format!("{}:{which}", path.display());
            let Some(want) = reference.get(&key) else { continue };
            let blob = csa_blob(&raw, low).unwrap_or_else(|| panic!("{key}: no CSA blob"));
            compare(&key, CsaHeader::parse(&blob), want);
            compared += 1;
        }
    }
    assert_eq!(compared, 5 + 5, "blobs compared");
    assert!(
        reference[dir.join("csa_str_1001n_items.bin").to_str().unwrap()].get("error").is_some()
    );
}

/// The (0029,xx10/20) value of an explicit or implicit little-endian file, found through the
/// data set (dicom-object) rather than by scanning bytes.
fn csa_blob(raw: &[u8], low: u8) -> Option<Vec<u8>> {
    let obj = dicom_object::OpenFileOptions::new()
        .read_until(dicom_dictionary_std::tags::PIXEL_DATA)
        .from_reader(&raw[128..])
        .ok()?;
    let creator = (0x10u16..=0xFF).find(|b| {
        obj.element_opt(dicom_core::Tag(0x0029, *b))
            .ok()
            .flatten()
            .and_then(|e| e.to_bytes().ok())
            .is_some_and(|v| {
                String::from_utf8_lossy(&v).trim_end_matches(['\0', ' ']) == "SIEMENS CSA HEADER"
            })
    })?;
    let e = obj.element_opt(dicom_core::Tag(0x0029, (creator << 8) | u16::from(low))).ok()??;
    e.to_bytes().ok().map(|b| b.into_owned())
}
