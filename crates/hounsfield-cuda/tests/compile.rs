#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
//! What can be checked without a GPU: every kernel compiles to PTX with NVRTC (where the NVRTC
//! library is on the library path; `cargo xtask ci` puts the PyPI wheel's there and sets
//! `HOUNSFIELD_REQUIRE_NVRTC=1`, so there a missing library fails the test), and asking for a
//! device that is not there is an error value.

use hounsfield_cuda::kernels::{KERNELS, check_all, nvrtc_available};
use hounsfield_cuda::{Error, Gpu};

#[test]
fn every_kernel_compiles_to_ptx_and_defines_its_entry_points() {
    let required = std::env::var("HOUNSFIELD_REQUIRE_NVRTC").is_ok_and(|v| v == "1");
    if !nvrtc_available() {
        assert!(!required, "HOUNSFIELD_REQUIRE_NVRTC=1 but libnvrtc is not on the library path");
        eprintln!("libnvrtc not found: kernel compilation not checked here");
        return;
    }
    let sizes = check_all().unwrap();
    assert_eq!(sizes.len(), KERNELS.len());
    // Each source yields real code (a PTX header alone is ~300 bytes).
    assert!(sizes.iter().all(|(_, len)| *len > 2_000), "{sizes:?}");
}

#[test]
fn a_syntax_error_is_reported_with_the_compilers_log() {
    if !nvrtc_available() {
        return; // covered by the test above where NVRTC is required
    }
    let broken = hounsfield_cuda::kernels::Kernel {
        name: "broken",
        source: "extern \"C\" __global__ void k(float* x) { x[0] = undefined_name; }",
        functions: &["k"],
    };
    let err = hounsfield_cuda::kernels::compile(&broken).unwrap_err();
    assert!(matches!(err, Error::Compile { kernel: "broken", .. }), "{err}");
    assert!(err.to_string().contains("undefined_name"), "{err}");
}

#[test]
fn devices_that_are_not_there_are_errors_not_panics() {
    // No machine has ten thousand GPUs; on one without a driver every ordinal is an error.
    let err = Gpu::open(9_999).unwrap_err();
    assert!(matches!(err, Error::NoDevice(_)), "{err}");
    assert!(err.to_string().starts_with("no CUDA device"), "{err}");
    match Gpu::open(0) {
        Ok(gpu) => assert!(!gpu.name().is_empty()),
        Err(e) => assert!(matches!(e, Error::NoDevice(_)), "{e}"),
    }
}
