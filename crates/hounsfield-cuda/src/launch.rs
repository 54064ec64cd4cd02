//! The crate's only `unsafe`: probing for the CUDA libraries (cudarc's probes are `unsafe fn`)
//! and launching kernels (the driver cannot check arguments against a kernel's signature).
//!
//! Safety of [`launch`]: every call site in this crate pushes exactly the arguments, in order and
//! type, of the `extern "C"` kernel it names in `kernels/*.cu`, device buffers sized for the
//! thread count it launches; the kernels bound-check their thread index against those sizes.
#![allow(unsafe_code)]

use cudarc::driver::{LaunchArgs, LaunchConfig};

use crate::Result;

/// Whether the CUDA driver library can be loaded.
pub(crate) fn driver_present() -> bool {
    // SAFETY: only tries to open the shared library by its candidate names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// Whether the NVRTC library can be loaded.
pub(crate) fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library by its candidate names.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Threads per block of every launch.
const BLOCK: u32 = 256;

/// Launches `args`' kernel on `threads` threads (1D, [`BLOCK`] per block).
pub(crate) fn launch(args: &mut LaunchArgs<'_>, threads: usize) -> Result<()> {
    let blocks = u32::try_from(threads.div_ceil(BLOCK as usize).max(1)).map_err(|_| {
        crate::Error::Invalid(format!("{threads} threads exceed one launch's grid"))
    })?;
    let cfg =
        LaunchConfig { grid_dim: (blocks, 1, 1), block_dim: (BLOCK, 1, 1), shared_mem_bytes: 0 };
    // SAFETY: see the module documentation; call sites match the kernels' signatures.
    unsafe { args.launch(cfg) }?;
    Ok(())
}
