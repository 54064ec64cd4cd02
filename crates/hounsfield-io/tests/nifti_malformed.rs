//! Bad NIfTI input never panics and never allocates what a lying header declares: every case is
//! a typed error that names the file and the problem.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};

use hounsfield_io::Error;
use hounsfield_io::nifti::read_nifti;
use proptest::prelude::*;

fn corpus(name: &str) -> Vec<u8> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reference/nifti/corpus").join(name);
    std::fs::read(p).unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Reads `bytes` as `name`; the error must name the file and contain `words`.
fn refused(name: &str, bytes: &[u8], words: &[&str]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), name, bytes);
    let err = read_nifti(&path).expect_err(name);
    let msg = err.to_string();
    assert!(msg.contains(name), "{name}: message does not name the file: {msg}");
    for w in words {
        assert!(msg.contains(w), "{name}: message lacks {w:?}: {msg}");
    }
    err
}

fn put_i16(b: &mut [u8], offset: usize, v: i16) {
    b[offset..offset + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_f32(b: &mut [u8], offset: usize, v: f32) {
    b[offset..offset + 4].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn empty_tiny_and_foreign_files_are_not_nifti() {
    assert!(matches!(refused("empty.nii", b"", &["too few"]), Error::WrongFormat { .. }));
    assert!(matches!(refused("three.nii", b"abc", &["too few"]), Error::WrongFormat { .. }));
    let png = b"\x89PNG\r\n\x1a\n0000000000000000000000000000";
    assert!(matches!(
        refused("picture.nii", png, &["sizeof_hdr", "348"]),
        Error::WrongFormat { .. }
    ));
}

#[test]
fn wrong_magic_is_refused() {
    let mut b = corpus("dtype_i2.nii");
    b[344..348].copy_from_slice(b"xyz\0");
    assert!(matches!(refused("magic.nii", &b, &["magic"]), Error::WrongFormat { .. }));
}

#[test]
fn truncation_anywhere_is_reported() {
    let b = corpus("dtype_i2.nii");
    assert!(matches!(
        refused("cut_header.nii", &b[..200], &["truncated", "header"]),
        Error::Truncated { .. }
    ));
    assert!(matches!(refused("cut_flag.nii", &b[..349], &["truncated"]), Error::Truncated { .. }));
    // Cut inside the voxel data: refused from the file size, before allocating.
    assert!(matches!(
        refused("cut_data.nii", &b[..b.len() - 1], &["truncated"]),
        Error::Truncated { .. }
    ));
    // Gzipped: the stream ends early.
    let gz = gzip(&b[..b.len() - 10]);
    assert!(matches!(
        refused("cut_data.nii.gz", &gz, &["truncated", "voxel data"]),
        Error::Truncated { .. }
    ));
    // A gzip stream cut in the middle of its compressed bytes.
    let full = gzip(&b);
    let err = refused("cut_stream.nii.gz", &full[..full.len() / 2], &[]);
    assert!(matches!(err, Error::Truncated { .. } | Error::Io { .. }), "{err:?}");
}

#[test]
fn absurd_dimensions_are_refused_before_allocation() {
    let mut b = corpus("dtype_i2.nii");
    for k in 0..8 {
        put_i16(&mut b, 40 + 2 * k, if k == 0 { 7 } else { 32767 });
    }
    // 32767^7 voxels overflows; no allocation is attempted.
    refused("overflow.nii", &b, &["shape"]);
    // 10^12 bytes: over the reader's size limit (16 GiB by default).
    let mut b = corpus("dtype_u1.nii");
    for (k, v) in [(0, 3), (1, 10000), (2, 10000), (3, 10000)] {
        put_i16(&mut b, 40 + 2 * k, v);
    }
    assert!(matches!(refused("huge.nii", &b, &["limit"]), Error::Core { .. }));
    // 4 GB declared by a tiny gzip file: under the limit, but more than deflate can hold.
    for (k, v) in [(1, 2000), (2, 2000), (3, 1000)] {
        put_i16(&mut b, 40 + 2 * k, v);
    }
    assert!(matches!(refused("huge.nii.gz", &gzip(&b), &["gzip"]), Error::Truncated { .. }));
    assert!(matches!(refused("big.nii", &b, &["truncated"]), Error::Truncated { .. }));
}

#[test]
fn nonsense_header_fields_are_refused() {
    let base = corpus("dtype_i2.nii");
    let mut b = base.clone();
    put_i16(&mut b, 42, -5);
    assert!(matches!(
        refused("negative_dim.nii", &b, &["dim[1]", "-5"]),
        Error::InvalidHeader { .. }
    ));
    let mut b = base.clone();
    put_i16(&mut b, 40, 9);
    assert!(matches!(refused("dim0.nii", &b, &["dim[0]"]), Error::InvalidHeader { .. }));
    let mut b = base.clone();
    put_i16(&mut b, 70, 1536);
    assert!(matches!(refused("float128.nii", &b, &["128-bit float"]), Error::Unsupported { .. }));
    let mut b = base.clone();
    put_i16(&mut b, 70, 3);
    assert!(matches!(
        refused("datatype3.nii", &b, &["datatype code 3"]),
        Error::Unsupported { .. }
    ));
    let mut b = base.clone();
    put_f32(&mut b, 108, f32::NAN);
    assert!(matches!(refused("vox_offset.nii", &b, &["vox_offset"]), Error::InvalidHeader { .. }));
    let mut b = base.clone();
    put_f32(&mut b, 280, f32::NAN);
    assert!(matches!(refused("nan_sform.nii", &b, &["Sform"]), Error::InvalidHeader { .. }));
    // No transform and zero spacing: no grid can be built.
    let mut b = corpus("no_xform.nii");
    put_f32(&mut b, 80, 0.0);
    assert!(matches!(refused("zero_spacing.nii", &b, &["spacing"]), Error::InvalidHeader { .. }));
    // An extension whose size points outside the header area.
    let mut b = base.clone();
    b[348] = 1;
    let ext: Vec<u8> =
        4i32.to_le_bytes().iter().chain(&6i32.to_le_bytes()).chain(&[0u8; 8]).copied().collect();
    b.splice(352..352, ext);
    put_f32(&mut b, 108, 368.0);
    assert!(matches!(refused("extension.nii", &b, &["extension"]), Error::InvalidHeader { .. }));
}

#[test]
fn a_pair_without_its_image_names_the_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let hdr = write(dir.path(), "lonely.hdr", &corpus("pair_i2.hdr"));
    let msg = read_nifti(&hdr).unwrap_err().to_string();
    assert!(msg.contains("lonely.img"), "{msg}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Random corruption of a valid file (plain or gzipped): an image or a typed error, never a
    /// panic.
    #[test]
    fn corrupted_files_never_panic(edits in prop::collection::vec((0usize..500, any::<u8>()), 1..12), cut in 0usize..600, gz in any::<bool>()) {
        let mut b = corpus("fourd_f4.nii.gz");
        b = {
            let mut d = flate2::read::GzDecoder::new(&b[..]);
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut d, &mut out).unwrap();
            out
        };
        for (pos, val) in edits {
            let i = pos % b.len();
            b[i] = val;
        }
        b.truncate(b.len().min(cut * 4));
        let bytes = if gz { gzip(&b) } else { b };
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), "fuzz.nii", &bytes);
        let _ = read_nifti(&path);
    }
}
