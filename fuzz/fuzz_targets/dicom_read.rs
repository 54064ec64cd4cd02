//! Any byte string given to the DICOM file reader (header, pixel decoding, geometry) returns a
//! volume or a typed error: never a panic, an abort or an unbounded allocation.
#![no_main]

use std::io::Write;

use hounsfield_io::dicom::read_dicom_file;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(mut file) = tempfile::Builder::new().suffix(".dcm").tempfile() else { return };
    if file.write_all(data).is_err() {
        return;
    }
    let _ = read_dicom_file(file.path());
});
