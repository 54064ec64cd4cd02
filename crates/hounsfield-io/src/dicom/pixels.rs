//! Stored pixel values of one DICOM file, frame by frame, through the modality LUT.
//!
//! RLE is decoded by our own [`rle`](super::rle) module; dicom-pixeldata decompresses (JPEG baseline/extended/lossless, JPEG 2000, deflate); the
//! meaning of the bytes is applied here, because it is where decoders disagree: values are
//! masked to BitsStored and sign-extended when PixelRepresentation is 1, whatever the codec
//! returned; colour planes are de-interleaved per PlanarConfiguration; 1-bit data (segmentations)
//! is unpacked least significant bit first. MONOCHROME1 is kept as stored (as pydicom and
//! dcm2niix store it): inversion is a display matter.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use dicom_core::PrimitiveValue;
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::{PixelDecoder, PlanarConfiguration};
use hounsfield_core::Element;

use super::header::DicomHeader;
use super::rle::{decode_rle, encapsulated_frames};
use crate::error::{Error, Result};

const EXPLICIT_VR_BIG_ENDIAN: &str = "1.2.840.10008.1.2.2";
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// An element type the modality LUT can write into. The reader picks the type so that every
/// value the stored bits and the intercepts allow fits, so these conversions never saturate.
pub trait Sample: Element {
    /// An integer value (identity LUT with an integral intercept).
    fn from_int(v: i64) -> Self;
    /// A real value (any other LUT); only used for floating-point types.
    fn from_real(v: f64) -> Self;
}

macro_rules! sample {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            #[inline]
            fn from_int(v: i64) -> Self {
                v as $t
            }
            #[inline]
            fn from_real(v: f64) -> Self {
                v as $t
            }
        }
    )*};
}
sample!(u8, i8, u16, i16, i32, f32);

/// The modality LUT of a frame: value = stored * slope + intercept, or a lookup table (Modality
/// LUT Sequence) where the file has one.
#[derive(Clone, Debug, PartialEq)]
pub struct Rescale {
    /// RescaleSlope.
    pub slope: f64,
    /// RescaleIntercept.
    pub intercept: f64,
    /// (0028,3000) ModalityLUTSequence: replaces slope and intercept.
    pub table: Option<Arc<LutTable>>,
}

/// A Modality LUT Sequence table: stored values below `first` map to the first entry, above the
/// last to the last entry (PS3.3 C.11.1.1.1, as pydicom applies it).
#[derive(Clone, Debug, PartialEq)]
pub struct LutTable {
    /// LUTDescriptor[1]: the stored value that maps to the first entry.
    pub first: i64,
    /// LUTData.
    pub values: Vec<u16>,
}

impl LutTable {
    /// The output for stored value `v`.
    #[inline]
    pub fn lookup(&self, v: i64) -> i64 {
        let last = self.values.len().saturating_sub(1) as i64;
        i64::from(self.values[(v - self.first).clamp(0, last) as usize])
    }
}

impl Rescale {
    /// The identity: stored values as they are.
    pub const IDENTITY: Rescale = Rescale { slope: 1.0, intercept: 0.0, table: None };

    /// Whether the LUT maps integers to integers exactly.
    pub fn is_integral(&self) -> bool {
        self.table.is_some()
            || (self.slope == 1.0 && self.intercept.fract() == 0.0 && self.intercept.abs() < 1e15)
    }

    /// The smallest and largest output for stored values in `lo..=hi`.
    pub fn output_range(&self, lo: f64, hi: f64) -> (f64, f64) {
        match &self.table {
            Some(t) => t.values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(f64::from(v)), b.max(f64::from(v)))
            }),
            None => {
                let (a, b) = (lo * self.slope + self.intercept, hi * self.slope + self.intercept);
                (a.min(b), a.max(b))
            }
        }
    }
}

/// The decoded (decompressed) pixel bytes of one file and how to read them.
pub struct StoredPixels<'a> {
    data: Cow<'a, [u8]>,
    rows: usize,
    columns: usize,
    samples: usize,
    frames: usize,
    bits_allocated: u16,
    bits_stored: u16,
    signed: bool,
    planar: bool,
    /// Explicit VR Big Endian: the parser hands pixel data over as native 16-bit words (OW), so
    /// a 32-bit value arrives as its high word then its low word.
    word_swapped: bool,
    /// A Siemens mosaic: frame `k` is tile `k` (row-major) of the one stored image.
    tiles: Option<Tiles>,
}

/// Where the tiles of a mosaic lie in its stored image.
#[derive(Clone, Copy, Debug)]
struct Tiles {
    grid: usize,
    rows: usize,
    columns: usize,
}

/// Decodes (decompresses) the pixel data of `obj`, checking that it holds every frame.
pub fn stored_pixels<'a>(obj: &'a DefaultDicomObject, h: &DicomHeader) -> Result<StoredPixels<'a>> {
    let path = h.path.as_path();
    if ![1, 8, 16, 32].contains(&h.bits_allocated) {
        return Err(unsupported(path, format!("BitsAllocated {} pixel data", h.bits_allocated)));
    }
    let native = decoded_natively(&h.transfer_syntax);
    let (data, samples, planar) = if native {
        // Stored as is: take the bytes without a decoder pass.
        let element = obj.element(tags::PIXEL_DATA).map_err(|e| Error::Truncated {
            path: path.to_path_buf(),
            reason: format!("no pixel data ({e})"),
        })?;
        // Borrow the parsed words or bytes where their memory already is little-endian bytes.
        let bytes = match element.value() {
            Value::Primitive(PrimitiveValue::U8(b)) => Cow::Borrowed(&b[..]),
            Value::Primitive(PrimitiveValue::U16(w)) if cfg!(target_endian = "little") => {
                Cow::Borrowed(bytemuck::cast_slice::<u16, u8>(&w[..]))
            }
            _ => element.to_bytes().map_err(|e| Error::InvalidHeader {
                path: path.to_path_buf(),
                reason: format!("pixel data is not a byte array ({e})"),
            })?,
        };
        let ybr = h.photometric.starts_with("YBR_FULL") && h.samples_per_pixel == 3;
        if ybr && h.bits_allocated == 8 {
            // As pydicom: 4:2:2 chroma repeated over its two pixels, then YCbCr to RGB.
            let subsampled = h.photometric.starts_with("YBR_FULL_422");
            let rgb = ybr_to_rgb(&bytes, h, subsampled).ok_or_else(|| Error::Truncated {
                path: path.to_path_buf(),
                reason: format!("{} pixel data holds {} bytes", h.photometric, bytes.len()),
            })?;
            (Cow::Owned(rgb), 3, false)
        } else if ybr {
            return Err(unsupported(path, format!("{}-bit {}", h.bits_allocated, h.photometric)));
        } else {
            (bytes, h.samples_per_pixel, h.planar)
        }
    } else if h.transfer_syntax == RLE_LOSSLESS && h.bits_allocated >= 8 {
        let fragments =
            obj.element(tags::PIXEL_DATA).ok().and_then(|e| e.value().fragments()).ok_or_else(
                || Error::InvalidHeader {
                    path: path.to_path_buf(),
                    reason: "RLE pixel data is not encapsulated".into(),
                },
            )?;
        let truncated = |reason| Error::Truncated { path: path.to_path_buf(), reason };
        let frames = encapsulated_frames(fragments, h.frames).map_err(truncated)?;
        let bytes = usize::from(h.bits_allocated / 8);
        let data = decode_rle(&frames, h.rows * h.columns, h.samples_per_pixel, bytes)
            .map_err(truncated)?;
        (Cow::Owned(data), h.samples_per_pixel, true)
    } else if let Some(decoded) = decode_jpeg(obj, h)? {
        (Cow::Owned(decoded), h.samples_per_pixel, false)
    } else {
        if h.bits_allocated == 1 {
            return Err(unsupported(path, "compressed 1-bit pixel data".into()));
        }
        let decoded = obj.decode_pixel_data().map_err(|e| {
            if decodable(&h.transfer_syntax) {
                Error::Corrupt {
                    path: path.to_path_buf(),
                    reason: format!(
                        "pixel data in transfer syntax {} does not decode (damaged or truncated): {e}",
                        h.transfer_syntax
                    ),
                }
            } else {
                unsupported(path, format!("pixel data in transfer syntax {} ({e})", h.transfer_syntax))
            }
        })?;
        let samples = usize::from(decoded.samples_per_pixel());
        let planar = decoded.planar_configuration() == PlanarConfiguration::PixelFirst;
        (Cow::Owned(decoded.into_data()), samples, planar)
    };
    // A mosaic is stored as one image of tiles; frames are cut out of it.
    let (rows, columns, frames, tiles) = match h.mosaic {
        Some(m) => (
            m.stored_rows,
            m.stored_columns,
            1,
            Some(Tiles { grid: m.grid, rows: h.rows, columns: h.columns }),
        ),
        None => (h.rows, h.columns, h.frames, None),
    };
    let pixels = StoredPixels {
        data,
        rows,
        columns,
        samples,
        frames,
        bits_allocated: h.bits_allocated,
        bits_stored: h.bits_stored,
        signed: h.signed,
        planar,
        word_swapped: h.transfer_syntax == EXPLICIT_VR_BIG_ENDIAN,
        tiles,
    };
    if tiles.is_some() && (samples != 1 || h.bits_allocated < 8) {
        return Err(unsupported(
            path,
            format!("a mosaic of {samples} samples at {} bits", h.bits_allocated),
        ));
    }
    let needed = pixels.frame_bits().saturating_mul(frames as u64).div_ceil(8);
    if (pixels.data.len() as u64) < needed {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            reason: format!(
                "pixel data holds {} bytes, {} frames of {}x{}x{} at {} bits need {needed}",
                pixels.data.len(),
                frames,
                rows,
                columns,
                samples,
                h.bits_allocated,
            ),
        });
    }
    Ok(pixels)
}

impl StoredPixels<'_> {
    /// Samples per pixel of the decoded data (3 for colour).
    pub fn samples(&self) -> usize {
        self.samples
    }

    fn frame_bits(&self) -> u64 {
        (self.rows * self.columns * self.samples) as u64 * u64::from(self.bits_allocated)
    }

    /// Writes sample `component` of `frame` through `lut` into `out` (rows x columns of the
    /// frame, row-major; for a mosaic, of one tile).
    pub fn frame_into<T: Sample>(
        &self,
        frame: usize,
        component: usize,
        lut: &Rescale,
        out: &mut [T],
    ) {
        if let Some(t) = self.tiles {
            // Tile `frame`, row by row: each tile row is a run of the stored image's row.
            let (tile_row, tile_column) = (frame / t.grid, frame % t.grid);
            debug_assert!(tile_row < t.grid && out.len() == t.rows * t.columns);
            for (r, out_row) in out.chunks_exact_mut(t.columns).enumerate() {
                let start = (tile_row * t.rows + r) * self.columns + tile_column * t.columns;
                self.values_into(start, 1, lut, out_row);
            }
            return;
        }
        let pixels = self.rows * self.columns;
        debug_assert!(frame < self.frames && component < self.samples && out.len() == pixels);
        // Element index (in samples) of the first value and the step between pixels.
        let frame_start = frame * pixels * self.samples;
        let (start, stride) = if self.planar {
            (frame_start + component * pixels, 1)
        } else {
            (frame_start + component, self.samples)
        };
        self.values_into(start, stride, lut, out);
    }

    /// `out.len()` values from sample index `start` on, `stride` samples apart, through `lut`.
    fn values_into<T: Sample>(&self, start: usize, stride: usize, lut: &Rescale, out: &mut [T]) {
        let bits = u32::from(self.bits_stored);
        let signed = self.signed;
        // Keep BitsStored bits, then sign-extend from the top stored bit if signed.
        let stored = move |raw: u64| -> i64 {
            let shift = 64 - bits;
            if signed { ((raw << shift) as i64) >> shift } else { ((raw << shift) >> shift) as i64 }
        };
        let data = &self.data[..];
        match self.bits_allocated {
            1 => apply(
                out,
                lut,
                1,
                (start..)
                    .map(|bit| stored(u64::from(data[bit / 8] >> (bit % 8)) & 1))
                    .step_by(stride),
            ),
            8 => apply(out, lut, stride, data[start..].iter().map(|&b| stored(u64::from(b)))),
            16 => apply(
                out,
                lut,
                stride,
                data[2 * start..]
                    .chunks_exact(2)
                    .map(|b| stored(u64::from(u16::from_le_bytes([b[0], b[1]])))),
            ),
            _ if self.word_swapped => apply(
                out,
                lut,
                stride,
                data[4 * start..].chunks_exact(4).map(|b| {
                    let high = u16::from_le_bytes([b[0], b[1]]);
                    let low = u16::from_le_bytes([b[2], b[3]]);
                    stored((u64::from(high) << 16) | u64::from(low))
                }),
            ),
            _ => apply(
                out,
                lut,
                stride,
                data[4 * start..]
                    .chunks_exact(4)
                    .map(|b| stored(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
            ),
        }
    }
}

/// `out[p] = lut(stored values[p * stride])`, in integers when the LUT allows. Stride 1 (grey or
/// planar colour) gets its own loop, which the compiler vectorises.
#[inline]
fn apply<T: Sample>(
    out: &mut [T],
    lut: &Rescale,
    stride: usize,
    values: impl Iterator<Item = i64>,
) {
    if stride == 1 {
        apply_lut(out, lut, values);
    } else {
        apply_lut(out, lut, values.step_by(stride));
    }
}

#[inline]
fn apply_lut<T: Sample>(out: &mut [T], lut: &Rescale, values: impl Iterator<Item = i64>) {
    if let Some(table) = &lut.table {
        for (o, v) in out.iter_mut().zip(values) {
            *o = T::from_int(table.lookup(v));
        }
    } else if lut.is_integral() {
        let intercept = lut.intercept as i64;
        for (o, v) in out.iter_mut().zip(values) {
            *o = T::from_int(v + intercept);
        }
    } else {
        for (o, v) in out.iter_mut().zip(values) {
            *o = T::from_real(v as f64 * lut.slope + lut.intercept);
        }
    }
}

/// 8-bit YBR_FULL (pixel- or plane-interleaved) or YBR_FULL_422 (Y0 Y1 Cb Cr per pixel pair)
/// as interleaved RGB, with pydicom's arithmetic (PS3.3 C.7.6.3.1.2 in f32, rounded half up,
/// clamped), so that the values match it exactly. `None` when the data is too short.
fn ybr_to_rgb(bytes: &[u8], h: &DicomHeader, subsampled: bool) -> Option<Vec<u8>> {
    let pixels = h.rows * h.columns;
    let frame_len = if subsampled { 2 * pixels } else { 3 * pixels };
    if bytes.len() < frame_len * h.frames || (subsampled && h.columns % 2 == 1) {
        return None;
    }
    let (g_cb, g_cr) = ((-0.114 * 1.772 / 0.587) as f32, (-0.299 * 1.402 / 0.587) as f32);
    let mut out = Vec::with_capacity(3 * pixels * h.frames);
    for frame in bytes.chunks_exact(frame_len).take(h.frames) {
        for p in 0..pixels {
            let (y, cb, cr) = if subsampled {
                let pair = &frame[4 * (p / 2)..4 * (p / 2) + 4];
                (pair[p % 2], pair[2], pair[3])
            } else if h.planar {
                (frame[p], frame[pixels + p], frame[2 * pixels + p])
            } else {
                (frame[3 * p], frame[3 * p + 1], frame[3 * p + 2])
            };
            let (y, cb, cr) = (f32::from(y), f32::from(cb) - 128.0, f32::from(cr) - 128.0);
            let rgb = [y + 1.402 * cr, y + g_cb * cb + g_cr * cr, y + 1.772 * cb];
            out.extend(rgb.map(|v| (v + 0.5).floor().clamp(0.0, 255.0) as u8));
        }
    }
    Some(out)
}

/// JPEG pixel data through libjpeg-turbo, frames in parallel; `None` for other transfer
/// syntaxes (or without the `jpeg-turbo` feature, when dicom-pixeldata's jpeg-decoder decodes).
#[cfg(feature = "jpeg-turbo")]
fn decode_jpeg(obj: &DefaultDicomObject, h: &DicomHeader) -> Result<Option<Vec<u8>>> {
    use super::jpeg;
    use rayon::prelude::*;
    if !jpeg::is_jpeg(&h.transfer_syntax) || h.mosaic.is_some() {
        return Ok(None);
    }
    let path = h.path.as_path();
    let bad = |reason: String| Error::InvalidHeader { path: path.to_path_buf(), reason };
    if !matches!(h.bits_allocated, 8 | 16) || !matches!(h.samples_per_pixel, 1 | 3) {
        return Err(unsupported(
            path,
            format!(
                "JPEG pixel data of {} samples at {} bits",
                h.samples_per_pixel, h.bits_allocated
            ),
        ));
    }
    let fragments = obj
        .element(tags::PIXEL_DATA)
        .ok()
        .and_then(|e| e.value().fragments())
        .ok_or_else(|| bad("JPEG pixel data is not encapsulated".into()))?;
    let frames = jpeg::frames_of(fragments, h.frames).map_err(bad)?;
    let expected = jpeg::Expected {
        rows: h.rows,
        columns: h.columns,
        samples: h.samples_per_pixel,
        bits_allocated: h.bits_allocated,
        rgb: h.photometric == "RGB",
    };
    let decoded: Vec<Vec<u8>> = frames
        .par_iter()
        .enumerate()
        .map(|(f, frame)| {
            jpeg::decode_frame(frame, expected).map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                reason: format!("JPEG frame {f}: {e}"),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Some(decoded.concat()))
}

#[cfg(not(feature = "jpeg-turbo"))]
fn decode_jpeg(_: &DefaultDicomObject, _: &DicomHeader) -> Result<Option<Vec<u8>>> {
    Ok(None)
}

/// Compressed transfer syntaxes this build decodes through dicom-pixeldata: a failure there is
/// damaged data, not a missing codec.
fn decodable(ts: &str) -> bool {
    matches!(
        ts,
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" // JPEG 2000 (openjp2)
            | "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70"
    ) || (cfg!(feature = "jpeg-ls")
        && matches!(ts, "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81"))
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
