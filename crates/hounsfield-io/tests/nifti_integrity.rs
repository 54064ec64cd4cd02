//! A .nii.gz whose bytes changed after compression is refused, never read as altered voxels:
//! every gzip member's CRC-32 and length are checked at the end of the stream (as nibabel, via
//! Python's gzip, does). Padding and concatenated members, which gzip readers accept, still read.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::io::Write;
use std::path::{Path, PathBuf};

use hounsfield_core::{Geometry, Volume};
use hounsfield_io::Error;
use hounsfield_io::nifti::{NiftiImage, read_nifti, write_nifti};
use proptest::prelude::*;

/// An int16 image whose every voxel differs from its neighbours (any change shows).
fn image() -> NiftiImage {
    let g = Geometry::axis_aligned([0.9, 0.8, 2.0], [-10.0, 20.0, 30.0]).unwrap();
    let values: Vec<i16> = (0..12 * 16 * 20).map(|i| ((i * 7919) % 4001) as i16 - 2000).collect();
    NiftiImage::from_volume(Volume::from_vec([12, 16, 20], values, g).unwrap())
}

/// The uncompressed .nii bytes of [`image`].
fn nii_bytes() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plain.nii");
    write_nifti(&path, &image()).unwrap();
    std::fs::read(path).unwrap()
}

fn gzip(bytes: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), level);
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Reads `bytes` as a .nii.gz: Ok(true) when it reads as the uncompressed original does,
/// Ok(false) when it reads as something else (the defect this file guards against), Err when
/// refused.
fn reads_as_original(bytes: &[u8]) -> Result<bool, Error> {
    let dir = tempfile::tempdir().unwrap();
    let original = read_nifti(write(dir.path(), "original.nii", &nii_bytes())).unwrap();
    let back = read_nifti(write(dir.path(), "x.nii.gz", bytes))?;
    Ok(back.volumes() == original.volumes()
        && back.geometry() == original.geometry()
        && back.header == original.header)
}

/// Stored (level 0) deflate blocks hold the bytes as they are: a flipped bit there inflates
/// without complaint, and only the CRC-32 can tell.
#[test]
fn a_flipped_bit_in_stored_blocks_fails_the_crc() {
    let gz = gzip(&nii_bytes(), flate2::Compression::none());
    let mut bad = gz.clone();
    let middle = gz.len() / 2;
    bad[middle] ^= 0x10;
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "flipped.nii.gz", &bad);
    let err = read_nifti(&path).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(msg.contains("flipped.nii.gz") && msg.contains("checksum"), "{msg}");
    assert!(reads_as_original(&gz).unwrap());
}

#[test]
fn a_wrong_crc_or_length_in_the_trailer_is_refused() {
    let gz = gzip(&nii_bytes(), flate2::Compression::fast());
    let n = gz.len();
    for (what, at) in [("CRC-32", n - 8), ("ISIZE", n - 4)] {
        let mut bad = gz.clone();
        bad[at] ^= 0x01;
        let err = reads_as_original(&bad).unwrap_err();
        assert!(matches!(err, Error::Corrupt { .. }), "{what}: {err:?}");
    }
}

#[test]
fn padding_and_several_members_read_but_garbage_after_them_does_not() {
    let plain = nii_bytes();
    let mut padded = gzip(&plain, flate2::Compression::fast());
    padded.extend([0u8; 700]);
    assert!(reads_as_original(&padded).unwrap(), "zero padding after the member");

    let cut = plain.len() / 3;
    let mut members = gzip(&plain[..cut], flate2::Compression::fast());
    members.extend(gzip(&plain[cut..], flate2::Compression::best()));
    assert!(reads_as_original(&members).unwrap(), "two concatenated members");

    let mut garbage = gzip(&plain, flate2::Compression::fast());
    garbage.extend(b"trailing text");
    let err = reads_as_original(&garbage).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// One byte of a .nii.gz (as our writer and as gzip -9 compress it) changed anywhere: the file
    /// is refused, or it reads as exactly the original image (a change in the gzip header's
    /// modification time, say). Never altered voxels with success.
    #[test]
    fn a_changed_byte_never_reads_as_altered_voxels(
        position in 0.0f64..1.0,
        mask in 1u8..=255,
        best in any::<bool>(),
    ) {
        let level = if best { flate2::Compression::best() } else { flate2::Compression::fast() };
        let mut gz = gzip(&nii_bytes(), level);
        let i = ((gz.len() as f64 * position) as usize).min(gz.len() - 1);
        gz[i] ^= mask;
        match reads_as_original(&gz) {
            Ok(same) => prop_assert!(same, "byte {i} ^ {mask:#04x}: read as a different image"),
            Err(e) => prop_assert!(e.to_string().contains("x.nii.gz"), "{e}"),
        }
    }
}
