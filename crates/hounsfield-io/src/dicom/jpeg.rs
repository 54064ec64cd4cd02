//! JPEG pixel data (baseline 8-bit, extended 12-bit, lossless processes 14 and 14 SV1) decoded
//! by libjpeg-turbo 3 (the `turbojpeg-sys` crate builds its bundled source), the decoder behind
//! Pillow, GDCM and dcm2niix: the same IDCT and chroma upsampling as the libjpeg family, 12-bit
//! and 2-16-bit lossless data that jpeg-decoder does not decode, and the Adobe APP14 colour
//! transform flag honoured. Warnings (a truncated or corrupt entropy-coded segment, which libjpeg
//! would fill with grey) are errors: a partly decoded image is never returned.

#![allow(unsafe_code)] // FFI to libjpeg-turbo, confined to `Decompressor`

use std::borrow::Cow;
use std::ffi::CStr;

use turbojpeg_sys as tj;

/// The JPEG transfer syntaxes this decoder takes.
pub fn is_jpeg(transfer_syntax: &str) -> bool {
    matches!(
        transfer_syntax,
        "1.2.840.10008.1.2.4.50" // baseline, process 1
            | "1.2.840.10008.1.2.4.51" // extended, processes 2 and 4 (12-bit)
            | "1.2.840.10008.1.2.4.57" // lossless, process 14
            | "1.2.840.10008.1.2.4.70" // lossless, process 14 selection value 1
    )
}

/// A libjpeg-turbo decompression handle, destroyed on drop.
struct Decompressor(tj::tjhandle);

impl Decompressor {
    fn new() -> Result<Self, String> {
        // SAFETY: tj3Init has no preconditions; a null result is checked.
        let handle = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err("libjpeg-turbo could not create a decompressor".into());
        }
        let d = Decompressor(handle);
        d.set(tj::TJPARAM_TJPARAM_STOPONWARNING, 1)?;
        Ok(d)
    }

    fn error(&self) -> String {
        // SAFETY: the handle is valid; tj3GetErrorStr returns a NUL-terminated static or
        // handle-owned string that we copy before the handle is used again.
        unsafe { CStr::from_ptr(tj::tj3GetErrorStr(self.0)).to_string_lossy().into_owned() }
    }

    fn set(&self, param: tj::TJPARAM, value: i32) -> Result<(), String> {
        // SAFETY: the handle is valid; an unknown parameter is reported, not undefined.
        if unsafe { tj::tj3Set(self.0, param as i32, value) } != 0 {
            return Err(self.error());
        }
        Ok(())
    }

    fn get(&self, param: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is valid.
        unsafe { tj::tj3Get(self.0, param as i32) }
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

/// What a frame must be, from the DICOM header.
#[derive(Clone, Copy, Debug)]
pub struct Expected {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// Samples per pixel (1 or 3).
    pub samples: usize,
    /// BitsAllocated (8 or 16).
    pub bits_allocated: u16,
    /// PhotometricInterpretation says RGB: three components without a colour transform.
    pub rgb: bool,
}

/// An Adobe APP14 segment saying "no colour transform" (transform flag 0).
const ADOBE_NO_TRANSFORM: [u8; 16] =
    [0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0, 0, 0, 0, 0];

/// Whether the stream says its colour space itself: a JFIF APP0 or Adobe APP14 marker, or
/// component identifiers 'R', 'G', 'B', before the first scan. libjpeg otherwise assumes YCbCr.
fn declares_colour_space(jpeg: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= jpeg.len() && jpeg[at] == 0xFF {
        let marker = jpeg[at + 1];
        let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
        let body = &jpeg[(at + 4).min(jpeg.len())..(at + 2 + len).min(jpeg.len())];
        match marker {
            0xE0 if body.starts_with(b"JFIF\0") => return true,
            0xEE if body.starts_with(b"Adobe") => return true,
            // SOFn: precision, height, width, count, then (id, sampling, table) per component.
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let ids: Vec<u8> =
                    body.get(6..).unwrap_or(&[]).iter().step_by(3).copied().collect();
                return ids.starts_with(b"RGB");
            }
            0xDA | 0xD9 => return false,
            _ => {}
        }
        at += 2 + len;
    }
    false
}

/// Decodes one JPEG frame into interleaved little-endian samples of `expected.bits_allocated`.
pub fn decode_frame(jpeg: &[u8], expected: Expected) -> Result<Vec<u8>, String> {
    // PS3.5 8.2.1: PhotometricInterpretation RGB means the components are R, G and B. A stream
    // that does not say so itself would be taken for YCbCr and colour-converted: tell libjpeg.
    let marked;
    let jpeg = if expected.rgb && expected.samples == 3 && !declares_colour_space(jpeg) {
        marked = [&jpeg[..2], &ADOBE_NO_TRANSFORM[..], &jpeg[2..]].concat();
        &marked[..]
    } else {
        jpeg
    };
    let d = Decompressor::new()?;
    // SAFETY: the buffer pointer and length describe `jpeg`, which outlives the call.
    if unsafe { tj::tj3DecompressHeader(d.0, jpeg.as_ptr(), jpeg.len() as _) } != 0 {
        return Err(format!("JPEG header: {}", d.error()));
    }
    let (width, height) =
        (d.get(tj::TJPARAM_TJPARAM_JPEGWIDTH), d.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT));
    let precision = d.get(tj::TJPARAM_TJPARAM_PRECISION);
    let colorspace = d.get(tj::TJPARAM_TJPARAM_COLORSPACE);
    if (width as usize, height as usize) != (expected.columns, expected.rows) {
        return Err(format!(
            "the JPEG frame is {width}x{height}, the header says {}x{}",
            expected.columns, expected.rows
        ));
    }
    let grey = colorspace == tj::TJCS_TJCS_GRAY as i32;
    let (format, components) = match (expected.samples, grey) {
        (1, true) => (tj::TJPF_TJPF_GRAY, 1),
        (3, false)
            if colorspace == tj::TJCS_TJCS_RGB as i32
                || colorspace == tj::TJCS_TJCS_YCbCr as i32 =>
        {
            (tj::TJPF_TJPF_RGB, 3)
        }
        (samples, _) => {
            return Err(format!(
                "a JPEG frame in colour space {colorspace} for {samples} samples per pixel"
            ));
        }
    };
    let values = expected.rows * expected.columns * components;
    let too_deep = |bits| {
        Err(format!("{bits}-bit JPEG samples in {}-bit pixel data", expected.bits_allocated))
    };
    // One libjpeg-turbo entry point per sample precision, each into a buffer of its sample
    // type holding rows x columns x components values (pitch 0: packed rows).
    macro_rules! decompress {
        ($function:ident, $sample:ty) => {{
            let mut out = vec![<$sample>::default(); values];
            // SAFETY: `out` holds rows x columns x components samples, what libjpeg-turbo
            // writes for this header with pitch 0 and this pixel format; `jpeg` outlives it.
            let rc = unsafe {
                tj::$function(d.0, jpeg.as_ptr(), jpeg.len() as _, out.as_mut_ptr(), 0, format)
            };
            if rc != 0 {
                return Err(d.error());
            }
            out
        }};
    }
    match precision {
        2..=8 => {
            let out = decompress!(tj3Decompress8, u8);
            Ok(match expected.bits_allocated {
                8 => out,
                _ => out.iter().flat_map(|&v| u16::from(v).to_le_bytes()).collect(),
            })
        }
        9..=16 if expected.bits_allocated < 16 => too_deep(precision),
        9..=12 => {
            Ok(decompress!(tj3Decompress12, i16).iter().flat_map(|v| v.to_le_bytes()).collect())
        }
        13..=16 => {
            Ok(decompress!(tj3Decompress16, u16).iter().flat_map(|v| v.to_le_bytes()).collect())
        }
        p => Err(format!("JPEG data precision {p}")),
    }
}

/// The JPEG stream of each frame: one fragment per frame; or for one frame, all fragments
/// joined; or else fragments grouped at those that start a JPEG stream (SOI marker), as pydicom
/// does without an offset table.
pub fn frames_of(fragments: &[Vec<u8>], frames: usize) -> Result<Vec<Cow<'_, [u8]>>, String> {
    if fragments.len() == frames {
        return Ok(fragments.iter().map(|f| Cow::Borrowed(f.as_slice())).collect());
    }
    if frames == 1 && !fragments.is_empty() {
        return Ok(vec![Cow::Owned(fragments.concat())]);
    }
    let starts: Vec<usize> = fragments
        .iter()
        .enumerate()
        .filter(|(_, f)| f.starts_with(&[0xFF, 0xD8]))
        .map(|(i, _)| i)
        .collect();
    if starts.len() != frames || starts.first() != Some(&0) {
        let hint = if starts.len() < frames { " (pixel data truncated?)" } else { "" };
        return Err(format!(
            "{} fragments, {} of which start a JPEG stream, for {frames} frames{hint}",
            fragments.len(),
            starts.len()
        ));
    }
    Ok(starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let end = starts.get(k + 1).copied().unwrap_or(fragments.len());
            Cow::Owned(fragments[s..end].concat())
        })
        .collect())
}
