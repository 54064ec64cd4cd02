//! Any byte string given to the NIfTI reader, as `.nii` or (gzip magic) `.nii.gz`, returns an
//! image or a typed error: never a panic, an abort or an unbounded allocation.
#![no_main]

use std::io::Write;

use hounsfield_io::nifti::{ReadOptions, read_nifti_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let suffix = if data.starts_with(&[0x1f, 0x8b]) { ".nii.gz" } else { ".nii" };
    let Ok(mut file) = tempfile::Builder::new().suffix(suffix).tempfile() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    // A 1 GiB ceiling keeps libFuzzer's 2 GiB RSS limit for real leaks and runaway allocations.
    let options = ReadOptions { max_bytes: 1 << 30 };
    let _ = read_nifti_with(file.path(), &options);
});
