//! A safe face on the few libdeflate calls we need (libdeflate-sys builds its C source): one-shot
//! gzip member inflation that reports how much input the member used, raw deflate compression,
//! and CRC-32. libdeflate is the fastest inflater and deflater on CPUs of this kind (about 2-3x
//! zlib at the same level); it works on whole buffers only, which is what blocked gzip and
//! one-shot reading need.

#![allow(unsafe_code)] // FFI to libdeflate, confined to the two handle types below

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys as ld;

/// Why a gzip member did not inflate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// Invalid header or deflate data, or a CRC-32/ISIZE trailer that does not match.
    BadData,
    /// The member inflates to more bytes than the output buffer holds.
    InsufficientSpace,
}

/// A libdeflate decompressor (about 10 KiB of tables), freed on drop.
pub struct Inflater(NonNull<ld::libdeflate_decompressor>);

// SAFETY: a decompressor is plain heap memory owned by this value; libdeflate keeps no global
// state, so it may move between threads (it is never shared: every call takes `&mut self`).
unsafe impl Send for Inflater {}

impl Inflater {
    pub fn new() -> Self {
        // SAFETY: no preconditions; a null result means out of memory.
        let p = unsafe { ld::libdeflate_alloc_decompressor() };
        Inflater(NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout())))
    }

    /// Inflates the gzip member at the start of `input` into `out`, checking its CRC-32 and
    /// ISIZE. Returns (input bytes the member used, bytes written).
    pub fn gzip_member(
        &mut self,
        input: &[u8],
        out: &mut [u8],
    ) -> Result<(usize, usize), InflateError> {
        let (mut used, mut written) = (0usize, 0usize);
        // SAFETY: the pointers and lengths describe live, non-overlapping slices; libdeflate
        // writes at most `out.len()` bytes and reads at most `input.len()`.
        let ret = unsafe {
            ld::libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
                out.len(),
                &mut used,
                &mut written,
            )
        };
        match ret {
            ld::libdeflate_result_LIBDEFLATE_SUCCESS => Ok((used, written)),
            ld::libdeflate_result_LIBDEFLATE_INSUFFICIENT_SPACE => {
                Err(InflateError::InsufficientSpace)
            }
            _ => Err(InflateError::BadData),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor and freed once.
        unsafe { ld::libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

/// A libdeflate compressor at one level (0 = stored, 1 fastest ... 12 smallest), freed on drop.
pub struct Deflater(NonNull<ld::libdeflate_compressor>);

// SAFETY: as for `Inflater`.
unsafe impl Send for Deflater {}

impl Deflater {
    pub fn new(level: u32) -> Self {
        let level = level.min(12) as i32;
        // SAFETY: the level is within 0-12; a null result means out of memory.
        let p = unsafe { ld::libdeflate_alloc_compressor(level) };
        Deflater(NonNull::new(p).unwrap_or_else(|| std::alloc::handle_alloc_error(layout())))
    }

    /// Raw deflate of `input` into `out`; `None` when it does not fit.
    pub fn deflate(&mut self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        // SAFETY: as in `Inflater::gzip_member`.
        let n = unsafe {
            ld::libdeflate_deflate_compress(
                self.0.as_ptr(),
                input.as_ptr().cast::<c_void>(),
                input.len(),
                out.as_mut_ptr().cast::<c_void>(),
                out.len(),
            )
        };
        (n > 0).then_some(n)
    }
}

impl Drop for Deflater {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_compressor and freed once.
        unsafe { ld::libdeflate_free_compressor(self.0.as_ptr()) }
    }
}

/// CRC-32 (gzip's polynomial) of `data`, carried on from `crc` (0 to start).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    // SAFETY: reads `data.len()` bytes of a live slice.
    unsafe { ld::libdeflate_crc32(crc, data.as_ptr().cast::<c_void>(), data.len()) }
}

fn layout() -> std::alloc::Layout {
    std::alloc::Layout::new::<[u8; 4096]>()
}
