//! The NIfTI-1 (348-byte) and NIfTI-2 (540-byte) headers, decoded into one version-agnostic
//! struct and encoded back. Field offsets are those of nifti1.h and nifti2.h.

/// Which of the two header layouts a file uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NiftiVersion {
    /// 348-byte header, 16-bit dimensions, 32-bit floats.
    V1,
    /// 540-byte header, 64-bit dimensions, 64-bit floats.
    V2,
}

impl NiftiVersion {
    /// Header size in bytes (the value of `sizeof_hdr`).
    pub fn header_size(self) -> usize {
        match self {
            NiftiVersion::V1 => 348,
            NiftiVersion::V2 => 540,
        }
    }
}

/// A header extension (`esize` includes its 8-byte prefix; `data` holds the rest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// `ecode`: who defined the content (e.g. 2 = DICOM, 4 = AFNI, 32 = CIFTI).
    pub code: i32,
    /// The content, padded as stored.
    pub data: Vec<u8>,
}

/// Every field of a NIfTI-1 or NIfTI-2 header, widened to the NIfTI-2 types.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // field names and meanings are those of nifti1.h / nifti2.h
pub struct NiftiHeader {
    pub version: NiftiVersion,
    /// Byte order of the file (`true` for big-endian).
    pub big_endian: bool,
    /// `true` for a header/image pair (`ni1`/`ni2` magic), `false` for a single `.nii`.
    pub pair: bool,
    pub dim_info: u8,
    pub dim: [i64; 8],
    pub intent_p: [f64; 3],
    pub intent_code: i32,
    pub datatype: i16,
    pub bitpix: i16,
    pub slice_start: i64,
    pub pixdim: [f64; 8],
    pub vox_offset: f64,
    pub scl_slope: f64,
    pub scl_inter: f64,
    pub slice_end: i64,
    pub slice_code: i32,
    pub xyzt_units: i32,
    pub cal_max: f64,
    pub cal_min: f64,
    pub slice_duration: f64,
    pub toffset: f64,
    pub descrip: String,
    pub aux_file: String,
    pub qform_code: i32,
    pub sform_code: i32,
    /// quatern_b, quatern_c, quatern_d
    pub quatern: [f64; 3],
    /// qoffset_x, qoffset_y, qoffset_z
    pub qoffset: [f64; 3],
    /// srow_x, srow_y, srow_z
    pub srow: [[f64; 4]; 3],
    pub intent_name: String,
    pub extensions: Vec<Extension>,
}

impl Default for NiftiHeader {
    /// A NIfTI-1 single-file header for a 1x1x1 uint8 image with unit spacing and no scaling.
    fn default() -> Self {
        NiftiHeader {
            version: NiftiVersion::V1,
            big_endian: false,
            pair: false,
            dim_info: 0,
            dim: [3, 1, 1, 1, 1, 1, 1, 1],
            intent_p: [0.0; 3],
            intent_code: 0,
            datatype: 2,
            bitpix: 8,
            slice_start: 0,
            pixdim: [1.0; 8],
            vox_offset: 352.0,
            scl_slope: 1.0,
            scl_inter: 0.0,
            slice_end: 0,
            slice_code: 0,
            xyzt_units: 2, // mm, seconds unset
            cal_max: 0.0,
            cal_min: 0.0,
            slice_duration: 0.0,
            toffset: 0.0,
            descrip: String::new(),
            aux_file: String::new(),
            qform_code: 0,
            sform_code: 0,
            quatern: [0.0; 3],
            qoffset: [0.0; 3],
            srow: [[0.0; 4]; 3],
            intent_name: String::new(),
            extensions: Vec::new(),
        }
    }
}

impl NiftiHeader {
    /// Number of dimensions in use (`dim[0]`).
    pub fn ndim(&self) -> usize {
        self.dim[0].clamp(0, 7) as usize
    }

    /// `dim[k]` for k in 1..=7, or 1 beyond `dim[0]`.
    pub fn size(&self, k: usize) -> i64 {
        if k >= 1 && k <= self.ndim() { self.dim[k] } else { 1 }
    }

    /// The scaling to apply to stored values, `None` when absent: a slope of 0 means unscaled
    /// (the standard), and so do NaN or infinite fields (as nibabel reads them), as does the
    /// identity (1, 0).
    pub fn scaling(&self) -> Option<(f64, f64)> {
        let (s, i) = (self.scl_slope, self.scl_inter);
        if s == 0.0 || !s.is_finite() {
            return None;
        }
        let i = if i.is_finite() { i } else { 0.0 };
        if s == 1.0 && i == 0.0 { None } else { Some((s, i)) }
    }

    /// The spatial unit named by `xyzt_units` bits 0-2 ("m", "mm", "um" or "unknown").
    pub fn spatial_unit(&self) -> &'static str {
        match self.xyzt_units & 0x07 {
            1 => "m",
            2 => "mm",
            3 => "um",
            _ => "unknown",
        }
    }
}

const MAGIC_V1_SINGLE: &[u8; 4] = b"n+1\0";
const MAGIC_V1_PAIR: &[u8; 4] = b"ni1\0";
const MAGIC_V2_SINGLE: &[u8; 8] = b"n+2\0\r\n\x1a\n";
const MAGIC_V2_PAIR: &[u8; 8] = b"ni2\0\r\n\x1a\n";

/// The version and byte order announced by the first four bytes (`sizeof_hdr`), if any.
pub fn detect(first4: [u8; 4]) -> Option<(NiftiVersion, bool)> {
    match (i32::from_le_bytes(first4), i32::from_be_bytes(first4)) {
        (348, _) => Some((NiftiVersion::V1, false)),
        (_, 348) => Some((NiftiVersion::V1, true)),
        (540, _) => Some((NiftiVersion::V2, false)),
        (_, 540) => Some((NiftiVersion::V2, true)),
        _ => None,
    }
}

/// Reads fixed-offset fields in the file's byte order.
struct Fields<'a> {
    b: &'a [u8],
    be: bool,
}

impl Fields<'_> {
    fn arr<const N: usize>(&self, o: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[o..o + N]);
        a
    }
    fn i16(&self, o: usize) -> i16 {
        let a = self.arr(o);
        if self.be { i16::from_be_bytes(a) } else { i16::from_le_bytes(a) }
    }
    fn i32(&self, o: usize) -> i32 {
        let a = self.arr(o);
        if self.be { i32::from_be_bytes(a) } else { i32::from_le_bytes(a) }
    }
    fn i64(&self, o: usize) -> i64 {
        let a = self.arr(o);
        if self.be { i64::from_be_bytes(a) } else { i64::from_le_bytes(a) }
    }
    fn f32(&self, o: usize) -> f64 {
        let a = self.arr(o);
        f64::from(if self.be { f32::from_be_bytes(a) } else { f32::from_le_bytes(a) })
    }
    fn f64(&self, o: usize) -> f64 {
        let a = self.arr(o);
        if self.be { f64::from_be_bytes(a) } else { f64::from_le_bytes(a) }
    }
    fn text(&self, o: usize, n: usize) -> String {
        let s = &self.b[o..o + n];
        let end = s.iter().position(|&c| c == 0).unwrap_or(n);
        String::from_utf8_lossy(&s[..end]).into_owned()
    }
}

/// Decodes a complete header (`bytes.len()` = the version's header size). Returns a reason
/// string when the magic does not match the version.
pub fn decode(
    bytes: &[u8],
    version: NiftiVersion,
    big_endian: bool,
) -> Result<NiftiHeader, String> {
    let f = Fields { b: bytes, be: big_endian };
    let mut h = NiftiHeader { version, big_endian, ..NiftiHeader::default() };
    match version {
        NiftiVersion::V1 => {
            let magic: [u8; 4] = f.arr(344);
            h.pair = match &magic {
                m if m == MAGIC_V1_SINGLE => false,
                m if m == MAGIC_V1_PAIR => true,
                m => {
                    return Err(format!(
                        "magic is {:?}, expected \"n+1\\0\" or \"ni1\\0\" (an Analyze 7.5 header has none)",
                        String::from_utf8_lossy(m)
                    ));
                }
            };
            h.dim_info = bytes[39];
            for k in 0..8 {
                h.dim[k] = i64::from(f.i16(40 + 2 * k));
                h.pixdim[k] = f.f32(76 + 4 * k);
            }
            h.intent_p = [f.f32(56), f.f32(60), f.f32(64)];
            h.intent_code = i32::from(f.i16(68));
            h.datatype = f.i16(70);
            h.bitpix = f.i16(72);
            h.slice_start = i64::from(f.i16(74));
            h.vox_offset = f.f32(108);
            h.scl_slope = f.f32(112);
            h.scl_inter = f.f32(116);
            h.slice_end = i64::from(f.i16(120));
            h.slice_code = i32::from(bytes[122]);
            h.xyzt_units = i32::from(bytes[123]);
            h.cal_max = f.f32(124);
            h.cal_min = f.f32(128);
            h.slice_duration = f.f32(132);
            h.toffset = f.f32(136);
            h.descrip = f.text(148, 80);
            h.aux_file = f.text(228, 24);
            h.qform_code = i32::from(f.i16(252));
            h.sform_code = i32::from(f.i16(254));
            h.quatern = [f.f32(256), f.f32(260), f.f32(264)];
            h.qoffset = [f.f32(268), f.f32(272), f.f32(276)];
            for r in 0..3 {
                for c in 0..4 {
                    h.srow[r][c] = f.f32(280 + 16 * r + 4 * c);
                }
            }
            h.intent_name = f.text(328, 16);
        }
        NiftiVersion::V2 => {
            let magic: [u8; 8] = f.arr(4);
            h.pair = match &magic {
                m if m == MAGIC_V2_SINGLE => false,
                m if m == MAGIC_V2_PAIR => true,
                m => {
                    return Err(format!(
                        "magic is {:?}, expected \"n+2\" or \"ni2\" followed by \\0\\r\\n\\x1a\\n",
                        String::from_utf8_lossy(m)
                    ));
                }
            };
            h.datatype = f.i16(12);
            h.bitpix = f.i16(14);
            for k in 0..8 {
                h.dim[k] = f.i64(16 + 8 * k);
                h.pixdim[k] = f.f64(104 + 8 * k);
            }
            h.intent_p = [f.f64(80), f.f64(88), f.f64(96)];
            h.vox_offset = f.i64(168) as f64;
            h.scl_slope = f.f64(176);
            h.scl_inter = f.f64(184);
            h.cal_max = f.f64(192);
            h.cal_min = f.f64(200);
            h.slice_duration = f.f64(208);
            h.toffset = f.f64(216);
            h.slice_start = f.i64(224);
            h.slice_end = f.i64(232);
            h.descrip = f.text(240, 80);
            h.aux_file = f.text(320, 24);
            h.qform_code = f.i32(344);
            h.sform_code = f.i32(348);
            h.quatern = [f.f64(352), f.f64(360), f.f64(368)];
            h.qoffset = [f.f64(376), f.f64(384), f.f64(392)];
            for r in 0..3 {
                for c in 0..4 {
                    h.srow[r][c] = f.f64(400 + 32 * r + 8 * c);
                }
            }
            h.slice_code = f.i32(496);
            h.xyzt_units = f.i32(500);
            h.intent_code = f.i32(504);
            h.intent_name = f.text(508, 16);
            h.dim_info = bytes[524];
        }
    }
    Ok(h)
}

/// Writes fixed-offset fields, always little-endian.
struct Out(Vec<u8>);

impl Out {
    fn put(&mut self, o: usize, b: &[u8]) {
        self.0[o..o + b.len()].copy_from_slice(b);
    }
    fn i16(&mut self, o: usize, v: i16) {
        self.put(o, &v.to_le_bytes());
    }
    fn i32(&mut self, o: usize, v: i32) {
        self.put(o, &v.to_le_bytes());
    }
    fn i64(&mut self, o: usize, v: i64) {
        self.put(o, &v.to_le_bytes());
    }
    fn f32(&mut self, o: usize, v: f64) {
        self.put(o, &(v as f32).to_le_bytes());
    }
    fn f64(&mut self, o: usize, v: f64) {
        self.put(o, &v.to_le_bytes());
    }
    /// Text truncated to leave a terminating NUL.
    fn text(&mut self, o: usize, n: usize, s: &str) {
        let b = s.as_bytes();
        let len = b.len().min(n - 1);
        self.put(o, &b[..len]);
    }
}

/// Encodes the header (little-endian, single-file magic), without the extension flag. The caller
/// has checked that every value fits the version's field types.
pub fn encode(h: &NiftiHeader) -> Vec<u8> {
    let mut o = Out(vec![0u8; h.version.header_size()]);
    match h.version {
        NiftiVersion::V1 => {
            o.i32(0, 348);
            o.0[38] = b'r'; // "regular", as every writer sets it
            o.0[39] = h.dim_info;
            for k in 0..8 {
                o.i16(40 + 2 * k, h.dim[k] as i16);
                o.f32(76 + 4 * k, h.pixdim[k]);
            }
            o.f32(56, h.intent_p[0]);
            o.f32(60, h.intent_p[1]);
            o.f32(64, h.intent_p[2]);
            o.i16(68, h.intent_code as i16);
            o.i16(70, h.datatype);
            o.i16(72, h.bitpix);
            o.i16(74, h.slice_start as i16);
            o.f32(108, h.vox_offset);
            o.f32(112, h.scl_slope);
            o.f32(116, h.scl_inter);
            o.i16(120, h.slice_end as i16);
            o.0[122] = h.slice_code as u8;
            o.0[123] = h.xyzt_units as u8;
            o.f32(124, h.cal_max);
            o.f32(128, h.cal_min);
            o.f32(132, h.slice_duration);
            o.f32(136, h.toffset);
            o.text(148, 80, &h.descrip);
            o.text(228, 24, &h.aux_file);
            o.i16(252, h.qform_code as i16);
            o.i16(254, h.sform_code as i16);
            for k in 0..3 {
                o.f32(256 + 4 * k, h.quatern[k]);
                o.f32(268 + 4 * k, h.qoffset[k]);
            }
            for r in 0..3 {
                for c in 0..4 {
                    o.f32(280 + 16 * r + 4 * c, h.srow[r][c]);
                }
            }
            o.text(328, 16, &h.intent_name);
            o.put(344, MAGIC_V1_SINGLE);
        }
        NiftiVersion::V2 => {
            o.i32(0, 540);
            o.put(4, MAGIC_V2_SINGLE);
            o.i16(12, h.datatype);
            o.i16(14, h.bitpix);
            for k in 0..8 {
                o.i64(16 + 8 * k, h.dim[k]);
                o.f64(104 + 8 * k, h.pixdim[k]);
            }
            for k in 0..3 {
                o.f64(80 + 8 * k, h.intent_p[k]);
            }
            o.i64(168, h.vox_offset as i64);
            o.f64(176, h.scl_slope);
            o.f64(184, h.scl_inter);
            o.f64(192, h.cal_max);
            o.f64(200, h.cal_min);
            o.f64(208, h.slice_duration);
            o.f64(216, h.toffset);
            o.i64(224, h.slice_start);
            o.i64(232, h.slice_end);
            o.text(240, 80, &h.descrip);
            o.text(320, 24, &h.aux_file);
            o.i32(344, h.qform_code);
            o.i32(348, h.sform_code);
            for k in 0..3 {
                o.f64(352 + 8 * k, h.quatern[k]);
                o.f64(376 + 8 * k, h.qoffset[k]);
            }
            for r in 0..3 {
                for c in 0..4 {
                    o.f64(400 + 32 * r + 8 * c, h.srow[r][c]);
                }
            }
            o.i32(496, h.slice_code);
            o.i32(500, h.xyzt_units);
            o.i32(504, h.intent_code);
            o.text(508, 16, &h.intent_name);
            o.0[524] = h.dim_info;
        }
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(version: NiftiVersion) -> NiftiHeader {
        NiftiHeader {
            version,
            dim: [4, 5, 6, 7, 2, 1, 1, 1],
            pixdim: [-1.0, 0.5, 0.75, 2.0, 1.5, 0.0, 0.0, 0.0],
            datatype: 4,
            bitpix: 16,
            vox_offset: 352.0,
            scl_slope: 2.0,
            scl_inter: -1.0,
            descrip: "round trip".into(),
            intent_name: "name".into(),
            qform_code: 1,
            sform_code: 2,
            quatern: [0.0, 0.5, 0.5],
            qoffset: [1.0, 2.0, 3.0],
            srow: [[0.5, 0.0, 0.0, 1.0], [0.0, 0.75, 0.0, 2.0], [0.0, 0.0, 2.0, 3.0]],
            slice_code: 3,
            xyzt_units: 10,
            ..NiftiHeader::default()
        }
    }

    #[test]
    fn encode_then_decode_is_identity_for_both_versions() {
        for v in [NiftiVersion::V1, NiftiVersion::V2] {
            let h = sample(v);
            let bytes = encode(&h);
            assert_eq!(bytes.len(), v.header_size());
            let first: [u8; 4] = bytes[..4].try_into().unwrap();
            assert_eq!(detect(first), Some((v, false)));
            assert_eq!(decode(&bytes, v, false).unwrap(), h);
        }
    }

    #[test]
    fn big_endian_headers_are_detected_and_decoded() {
        // Build a big-endian NIfTI-1 header by swapping every numeric field of a little-endian one.
        let h = sample(NiftiVersion::V1);
        let le = encode(&h);
        let mut be = le.clone();
        let swap = |b: &mut Vec<u8>, o: usize, n: usize| b[o..o + n].reverse();
        swap(&mut be, 0, 4);
        for k in 0..8 {
            swap(&mut be, 40 + 2 * k, 2);
            swap(&mut be, 76 + 4 * k, 4);
        }
        for o in [56, 60, 64, 108, 112, 116, 124, 128, 132, 136, 140, 144] {
            swap(&mut be, o, 4);
        }
        for o in [68, 70, 72, 74, 120, 252, 254] {
            swap(&mut be, o, 2);
        }
        for k in 0..(3 + 3 + 12) {
            swap(&mut be, 256 + 4 * k, 4);
        }
        let first: [u8; 4] = be[..4].try_into().unwrap();
        assert_eq!(detect(first), Some((NiftiVersion::V1, true)));
        let d = decode(&be, NiftiVersion::V1, true).unwrap();
        assert_eq!(NiftiHeader { big_endian: false, ..d }, h);
    }

    #[test]
    fn wrong_magic_is_reported() {
        let mut bytes = encode(&sample(NiftiVersion::V1));
        bytes[344..348].copy_from_slice(b"\0\0\0\0");
        assert!(decode(&bytes, NiftiVersion::V1, false).unwrap_err().contains("Analyze"));
        assert_eq!(detect([1, 2, 3, 4]), None);
    }

    #[test]
    fn scaling_follows_the_standard() {
        let mut h = NiftiHeader::default();
        for (s, i, want) in [
            (0.0, 5.0, None),
            (f64::NAN, 0.0, None),
            (1.0, 0.0, None),
            (2.0, 1.0, Some((2.0, 1.0))),
            (2.0, f64::NAN, Some((2.0, 0.0))),
        ] {
            h.scl_slope = s;
            h.scl_inter = i;
            assert_eq!(h.scaling(), want, "slope {s} inter {i}");
        }
    }
}
