//! How .nii.gz files are written and read: our files are blocked gzip (BGZF) that every gzip
//! reader inflates to the .nii bytes (flate2 here; nibabel, SimpleITK and Python's gzip when the
//! peers' Python is there), and each way we read gzip (blocked in parallel, one member in one
//! call, streamed) gives the same image and refuses a changed byte.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use hounsfield_core::{Geometry, Volume};
use hounsfield_io::Error;
use hounsfield_io::nifti::{NiftiImage, WriteOptions, read_nifti, write_nifti, write_nifti_with};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// An int16 image of `frames` frames whose values vary smoothly with some noise, so that gzip
/// compresses it about 2:1 as it does CT.
fn image(shape: [usize; 3], frames: usize) -> NiftiImage {
    let g = Geometry::axis_aligned([0.9, 0.8, 2.0], [-10.0, 20.0, 30.0]).unwrap();
    let n: usize = shape.iter().product();
    let volume = |t: usize| {
        let values: Vec<i16> = (0..n)
            .map(|i| {
                let hash = (i as u64 ^ (t as u64) << 40).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58;
                ((i / 97) % 300) as i16 - 150 + hash as i16 + 100 * t as i16
            })
            .collect();
        Volume::from_vec(shape, values, g.clone()).unwrap()
    };
    NiftiImage::from_volumes((0..frames).map(|t| volume(t).into()).collect(), 1).unwrap()
}

/// The same voxels (every value, exactly) and geometry (1e-4 mm: the header stores f32).
fn same(a: &NiftiImage, b: &NiftiImage) -> bool {
    a.frames() == b.frames()
        && a.volumes().iter().zip(b.volumes()).all(|(x, y)| {
            x.dtype() == y.dtype()
                && x.shape() == y.shape()
                && x.to_f64().as_slice() == y.to_f64().as_slice()
        })
        && a.geometry().approx_eq(b.geometry(), 1e-4)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn nii_bytes(img: &NiftiImage) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("plain.nii");
    write_nifti(&p, img).unwrap();
    std::fs::read(p).unwrap()
}

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The members of a BGZF file: (compressed length, data length) each, checking the framing.
fn bgzf_members(gz: &[u8]) -> Vec<(usize, usize)> {
    let mut members = Vec::new();
    let mut at = 0;
    while at < gz.len() {
        let m = &gz[at..];
        assert_eq!(m[..4], [0x1f, 0x8b, 8, 4], "member at {at}: gzip with FEXTRA");
        assert_eq!(m[10..16], [6, 0, b'B', b'C', 2, 0], "member at {at}: one BC subfield");
        let len = usize::from(u16::from_le_bytes([m[16], m[17]])) + 1;
        let data = u32::from_le_bytes(m[len - 4..len].try_into().unwrap()) as usize;
        assert!(data <= 0xff00, "member at {at} holds {data} bytes");
        members.push((len, data));
        at += len;
    }
    assert_eq!(at, gz.len(), "members end at the end of the file");
    members
}

#[test]
fn our_gz_is_blocked_gzip_that_any_gzip_reader_inflates_to_the_nii() {
    let dir = tempfile::tempdir().unwrap();
    for (name, img) in [("3d", image([96, 80, 40], 1)), ("4d", image([40, 30, 20], 5))] {
        let path = dir.path().join(format!("{name}.nii.gz"));
        write_nifti(&path, &img).unwrap();
        let gz = std::fs::read(&path).unwrap();
        let members = bgzf_members(&gz);
        let plain = nii_bytes(&img);
        assert_eq!(members.last(), Some(&(28, 0)), "{name}: ends with the BGZF EOF member");
        assert_eq!(members.iter().map(|m| m.1).sum::<usize>(), plain.len());
        assert!(members.len() > 4, "{name}: {} members", members.len());
        let mut inflated = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut inflated).unwrap();
        assert!(inflated == plain, "{name}: flate2 inflates our file to the .nii bytes");
        assert!(same(&read_nifti(&path).unwrap(), &img), "{name}: reads back");
        assert!(
            gz.len() < plain.len() * 3 / 4,
            "{name}: compressed to {} of {}",
            gz.len(),
            plain.len()
        );
    }
}

#[test]
fn every_level_writes_a_file_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let img = image([64, 64, 20], 1);
    let mut sizes = Vec::new();
    for level in [0, 1, 6, 9] {
        let path = dir.path().join(format!("l{level}.nii.gz"));
        write_nifti_with(&path, &img, &WriteOptions::default().with_compression_level(level))
            .unwrap();
        bgzf_members(&std::fs::read(&path).unwrap());
        assert!(same(&read_nifti(&path).unwrap(), &img), "level {level}");
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    assert!(sizes[0] > sizes[1] && sizes[1] >= sizes[3], "sizes by level {sizes:?}");
}

/// nibabel, SimpleITK and Python's gzip module read our blocked file as the .nii we write:
/// the same voxel bytes (SHA-256), shape and affine.
#[test]
fn peers_read_our_blocked_gzip_identically() {
    let Some(python) = common::python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let img = image([96, 80, 40], 1);
    let gz = dir.path().join("ours.nii.gz");
    write_nifti(&gz, &img).unwrap();
    let plain = nii_bytes(&img);
    let voxels = &plain[352..];
    let want = format!("{:x}", Sha256::digest(voxels));
    let script = r#"
import gzip, hashlib, json, sys
import nibabel as nib, numpy as np, SimpleITK as sitk
path = sys.argv[1]
nb = nib.load(path)
a = np.asanyarray(nb.dataobj)
s = sitk.GetArrayFromImage(sitk.ReadImage(path))
raw = gzip.open(path).read()
print(json.dumps({
    "nibabel": hashlib.sha256(np.asfortranarray(a).astype("<i2").tobytes(order="F")).hexdigest(),
    "sitk": hashlib.sha256(s.astype("<i2").tobytes()).hexdigest(),
    "gzip": hashlib.sha256(raw[352:]).hexdigest(),
    "gzip_len": len(raw),
    "shape": list(a.shape),
    "affine": nb.affine.tolist(),
}))
"#;
    let out = Command::new(python).arg("-c").arg(script).arg(&gz).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for reader in ["nibabel", "sitk", "gzip"] {
        assert_eq!(got[reader].as_str(), Some(want.as_str()), "{reader} reads other voxels");
    }
    assert_eq!(got["gzip_len"].as_u64(), Some(plain.len() as u64));
    assert_eq!(got["shape"], serde_json::json!([40, 80, 96]), "(x, y, z)");
    // The geometry in RAS: LPS axes flipped in x and y.
    let affine = [[-0.9, 0.0, 0.0, 10.0], [0.0, -0.8, 0.0, -20.0], [0.0, 0.0, 2.0, 30.0]];
    for (r, row) in got["affine"].as_array().unwrap().iter().enumerate().take(3) {
        for (c, v) in row.as_array().unwrap().iter().enumerate() {
            let a = affine[r][c];
            assert!((v.as_f64().unwrap() - a).abs() < 1e-4, "affine[{r}][{c}] {v} vs {a}");
        }
    }
}

/// Files other writers make: one member (gzip, pigz, nibabel, dcm2niix) inflated in one call,
/// with padding or a second member after it, several members, a 4D file read frame by frame,
/// and data that compress too poorly for the one-call path: all read as the .nii does.
#[test]
fn single_member_and_other_gzip_layouts_read_as_the_nii() {
    let dir = tempfile::tempdir().unwrap();
    let img = image([128, 128, 40], 1);
    let plain = nii_bytes(&img);
    let want = img.clone();
    let one = gzip(&plain, 6);
    assert!(one.len() * 5 < plain.len() * 3, "compressible enough for the one-call path");
    let mut padded = one.clone();
    padded.extend([0u8; 512]);
    let mut two_members = one.clone();
    two_members.extend(gzip(b"extra", 1));
    let cut = plain.len() / 3;
    let mut split = gzip(&plain[..cut], 1);
    split.extend(gzip(&plain[cut..], 9));
    for (name, bytes) in
        [("one", &one), ("padded", &padded), ("two", &two_members), ("split", &split)]
    {
        let back = read_nifti(write(dir.path(), &format!("{name}.nii.gz"), bytes)).unwrap();
        assert!(same(&back, &want), "{name}");
    }
    let four = image([64, 64, 20], 4);
    let path = write(dir.path(), "4d.nii.gz", &gzip(&nii_bytes(&four), 6));
    assert!(same(&read_nifti(path).unwrap(), &four), "4D, one member");
    // Noise compresses to more than 0.6 of the volume: streamed.
    let noise: Vec<f32> = (0..300_000u64)
        .map(|i| (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 * 1e-3)
        .collect();
    let noisy = NiftiImage::from_volume(
        Volume::from_vec([100, 100, 30], noise, Geometry::default()).unwrap(),
    );
    let noisy_gz = gzip(&nii_bytes(&noisy), 6);
    assert!(noisy_gz.len() * 5 > nii_bytes(&noisy).len() * 3, "too compressible for this case");
    assert!(same(&read_nifti(write(dir.path(), "noise.nii.gz", &noisy_gz)).unwrap(), &noisy));
}

#[test]
fn a_blocked_file_whose_bc_sizes_are_wrong_reads_as_gzip() {
    // Our blocked file with the first member's BC size widened to cover the second member too:
    // still valid gzip (every reader ignores BC), no longer valid BGZF. The index believes it,
    // finds a member that does not end where BC says, and the read goes on as a stream.
    let img = image([96, 80, 40], 1);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ours.nii.gz");
    write_nifti(&path, &img).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let members = bgzf_members(&bytes);
    let (first, second) = (members[0].0, members[1].0);
    assert!(first + second <= 1 << 16, "both members fit one BC size");
    bytes[16..18].copy_from_slice(&((first + second - 1) as u16).to_le_bytes());
    let mut inflated = Vec::new();
    flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_end(&mut inflated).unwrap();
    assert_eq!(inflated, nii_bytes(&img), "still the same gzip stream");
    assert!(reads_as(&bytes, &img).unwrap(), "read as another image");
    // The same lie in a member after the header's: the voxels are read by streaming too.
    let mut later = std::fs::read(&path).unwrap();
    assert!(members.len() > 4, "{members:?}");
    let (third, at) = (members[2].0, first + second);
    assert!(third + members[3].0 <= 1 << 16, "both members fit one BC size");
    later[at + 16..at + 18].copy_from_slice(&((third + members[3].0 - 1) as u16).to_le_bytes());
    assert!(reads_as(&later, &img).unwrap(), "read as another image");
}

/// Reads `bytes` as a .nii.gz: Ok(true) when it reads as `want`, Ok(false) when it reads as
/// something else (the defect guarded against), Err when refused.
fn reads_as(bytes: &[u8], want: &NiftiImage) -> Result<bool, Error> {
    let dir = tempfile::tempdir().unwrap();
    let back = read_nifti(write(dir.path(), "x.nii.gz", bytes))?;
    Ok(same(&back, want))
}

fn changed(mut bytes: Vec<u8>, position: f64, mask: u8) -> (usize, Vec<u8>) {
    let i = ((bytes.len() as f64 * position) as usize).min(bytes.len() - 1);
    bytes[i] ^= mask;
    (i, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(120))]

    /// One byte of our blocked file changed anywhere (a header, a BC size, deflate data, a CRC,
    /// the EOF member): refused, or read as exactly the original. Never altered voxels.
    #[test]
    fn a_changed_byte_in_our_blocked_file_never_reads_as_altered_voxels(
        position in 0.0f64..1.0,
        mask in 1u8..=255,
    ) {
        let img = image([48, 40, 30], 1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ours.nii.gz");
        write_nifti(&path, &img).unwrap();
        let (i, bad) = changed(std::fs::read(&path).unwrap(), position, mask);
        match reads_as(&bad, &img) {
            Ok(same) => prop_assert!(same, "byte {i} ^ {mask:#04x}: read as a different image"),
            Err(e) => prop_assert!(e.to_string().contains("x.nii.gz"), "{e}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// The same for one large member, read in one libdeflate call.
    #[test]
    fn a_changed_byte_in_one_large_member_never_reads_as_altered_voxels(
        position in 0.0f64..1.0,
        mask in 1u8..=255,
    ) {
        let img = image([128, 128, 40], 1);
        let (i, bad) = changed(gzip(&nii_bytes(&img), 1), position, mask);
        match reads_as(&bad, &img) {
            Ok(same) => prop_assert!(same, "byte {i} ^ {mask:#04x}: read as a different image"),
            Err(e) => prop_assert!(e.to_string().contains("x.nii.gz"), "{e}"),
        }
    }
}
