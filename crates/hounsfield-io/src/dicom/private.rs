//! Private (vendor) attributes: found through their private creator, as PS3.5 section 7.8.1
//! reserves them, never at a fixed tag, and decoded whatever VR the file gave them (implicit VR
//! files store them as UN bytes).

use dicom_core::{Tag, VR};
use dicom_object::InMemDicomObject;
use dicom_object::mem::InMemElement;

use super::header::{element, unknown_text};

/// Siemens: the CSA image (xx10) and series (xx20) headers.
pub const SIEMENS_CSA: (u16, &str) = (0x0029, "SIEMENS CSA HEADER");
/// Siemens: the MR shadow group (xx0A NumberOfImagesInMosaic, xx0C B_value, xx0E gradient).
pub const SIEMENS_MR: (u16, &str) = (0x0019, "SIEMENS MR HEADER");
/// Philips: (2001,xx03) DiffusionBValue.
pub const PHILIPS_IMAGING: (u16, &str) = (0x2001, "Philips Imaging DD 001");
/// GE: (0043,xx39) SlopInt 6-9, whose first value is the b-value.
pub const GE_PARM: (u16, &str) = (0x0043, "GEMS_PARM_01");

/// The private element `low` (the element number within its block) of the block reserved by
/// `creator` in odd group `group`.
pub fn private<'a>(
    obj: &'a InMemDicomObject,
    (group, creator): (u16, &str),
    low: u8,
) -> Option<&'a InMemElement> {
    (0x10u16..=0xFF).find_map(|block| {
        let reserved = element(obj, Tag(group, block))?;
        let name = unknown_text(reserved)
            .or_else(|| reserved.to_str().ok().map(|s| s.trim().to_owned()))?;
        (name == creator).then(|| element(obj, Tag(group, (block << 8) | u16::from(low))))?
    })
}

/// The raw bytes of a private element (CSA headers are OB or UN).
pub fn bytes(e: &InMemElement) -> Option<Vec<u8>> {
    e.to_bytes().ok().map(|b| b.into_owned())
}

/// Binary floating-point values (FD, or FL with `single`): decoded from the value where the file
/// gave the VR, from little-endian bytes where it is UN.
pub fn binary_floats(e: &InMemElement, single: bool) -> Option<Vec<f64>> {
    let values: Vec<f64> = if e.vr() == VR::UN || e.vr() == VR::OB {
        let b = e.to_bytes().ok()?;
        if single {
            if b.len() % 4 != 0 {
                return None;
            }
            b.chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect()
        } else {
            if b.len() % 8 != 0 {
                return None;
            }
            b.chunks_exact(8)
                .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect()
        }
    } else {
        e.to_multi_float64().ok()?
    };
    (!values.is_empty() && values.iter().all(|v| v.is_finite())).then_some(values)
}

/// A binary unsigned short (US), decoded likewise.
pub fn binary_u16(e: &InMemElement) -> Option<u16> {
    if e.vr() == VR::UN || e.vr() == VR::OB {
        let b = e.to_bytes().ok()?;
        (b.len() == 2).then(|| u16::from_le_bytes([b[0], b[1]]))
    } else {
        e.to_int::<u16>().ok()
    }
}

/// Decimal text values (IS, DS), whatever VR the file gave them.
pub fn text_numbers(e: &InMemElement) -> Option<Vec<f64>> {
    let text = unknown_text(e).or_else(|| e.to_str().ok().map(|s| s.into_owned()))?;
    let values: Option<Vec<f64>> =
        text.split('\\').map(|v| v.trim().trim_end_matches('\0').parse::<f64>().ok()).collect();
    values.filter(|v| !v.is_empty() && v.iter().all(|x| x.is_finite()))
}
