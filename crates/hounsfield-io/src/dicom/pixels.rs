//! Stored pixel values of one DICOM file, frame by frame.
//!
//! dicom-pixeldata decompresses (RLE, JPEG baseline/extended/lossless, JPEG 2000, deflate); the
//! meaning of the bytes is applied here, because it is where decoders disagree: values are
//! masked to BitsStored and sign-extended when PixelRepresentation is 1, whatever the codec
//! returned; colour planes are de-interleaved per PlanarConfiguration. MONOCHROME1 is kept as
//! stored (as pydicom and dcm2niix store it): inversion is a display matter.

use std::path::Path;

use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{PixelDecoder, PlanarConfiguration};

use super::header::DicomHeader;
use crate::error::{Error, Result};

const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";

/// Decodes every frame of `obj`: `frames[f][component][pixel]`, pixels in row-major order,
/// stored values (before the modality LUT).
pub fn stored_frames(obj: &DefaultDicomObject, h: &DicomHeader) -> Result<Vec<Vec<Vec<f64>>>> {
    let path = h.path.as_path();
    if ![8, 16, 32].contains(&h.bits_allocated) {
        return Err(unsupported(path, format!("BitsAllocated {} pixel data", h.bits_allocated)));
    }
    if h.photometric.starts_with("YBR_FULL_422") && decoded_natively(&h.transfer_syntax) {
        return Err(unsupported(
            path,
            "uncompressed YBR_FULL_422 (horizontally subsampled chroma)".into(),
        ));
    }
    let decoded = obj.decode_pixel_data().map_err(|e| {
        unsupported(path, format!("pixel data in transfer syntax {} ({e})", h.transfer_syntax))
    })?;
    let samples = usize::from(decoded.samples_per_pixel());
    let planar = decoded.planar_configuration() == PlanarConfiguration::PixelFirst;
    let bytes_per = usize::from(h.bits_allocated / 8);
    let pixels = h.rows * h.columns;
    let frame_len = pixels * samples * bytes_per;
    let data = decoded.data();
    if data.len() < frame_len * h.frames {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            reason: format!(
                "pixel data holds {} bytes, {} frames of {}x{}x{} need {}",
                data.len(),
                h.frames,
                h.rows,
                h.columns,
                samples,
                frame_len * h.frames
            ),
        });
    }
    let value = |raw: u64| -> f64 {
        // Keep BitsStored bits, then sign-extend from the top stored bit if signed.
        let bits = u32::from(h.bits_stored);
        let masked = raw & ((1u64 << bits) - 1);
        if h.signed && masked >> (bits - 1) == 1 {
            masked as f64 - (1u64 << bits) as f64
        } else {
            masked as f64
        }
    };
    // Explicit VR Big Endian: the parser hands pixel data over as native 16-bit words (OW), so a
    // 32-bit value arrives as its high word then its low word.
    let big_endian = h.transfer_syntax == EXPLICIT_VR_BIG_ENDIAN;
    let read = |b: &[u8]| -> u64 {
        match bytes_per {
            1 => u64::from(b[0]),
            2 => u64::from(u16::from_le_bytes([b[0], b[1]])),
            _ if big_endian => {
                (u64::from(u16::from_le_bytes([b[0], b[1]])) << 16)
                    | u64::from(u16::from_le_bytes([b[2], b[3]]))
            }
            _ => u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        }
    };
    let frames = (0..h.frames)
        .map(|f| {
            let frame = &data[f * frame_len..(f + 1) * frame_len];
            (0..samples)
                .map(|c| {
                    (0..pixels)
                        .map(|p| {
                            let index = if planar { c * pixels + p } else { p * samples + c };
                            value(read(&frame[index * bytes_per..(index + 1) * bytes_per]))
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    Ok(frames)
}

/// Transfer syntaxes whose pixel data is stored as is (implicit/explicit VR little endian,
/// deflated, explicit big endian).
fn decoded_natively(ts: &str) -> bool {
    matches!(
        ts,
        "1.2.840.10008.1.2"
            | "1.2.840.10008.1.2.1"
            | "1.2.840.10008.1.2.1.99"
            | EXPLICIT_VR_BIG_ENDIAN
    )
}

fn unsupported(path: &Path, what: String) -> Error {
    Error::Unsupported { path: path.to_path_buf(), what }
}
