//! Diffusion weighting: b-values and gradient directions as each vendor stores them, and the
//! FSL `.bval`/`.bvec` tables that FSL, MRtrix, DIPY and fMRIPrep read.
//!
//! Sources, in order of preference: the standard MR Diffusion attributes ((0018,9087)
//! DiffusionBValue, (0018,9089) DiffusionGradientOrientation, (0018,9075) DiffusionDirectionality;
//! per frame in Enhanced MR files), then Siemens' CSA image header (`B_value`,
//! `DiffusionGradientDirection`) and MR shadow group ((0019,xx0C), (0019,xx0E)). Directions there
//! are unit vectors in patient coordinates (LPS). Philips' (2001,xx03) and GE's (0043,xx39) give
//! the b-value only: their private vectors are in other frames (GE's in the image frame with
//! orientation-dependent sign flips) that no test file here can confirm, so such volumes carry
//! no direction and no `.bvec` is written for them rather than a possibly wrong one.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use hounsfield_core::Geometry;

use super::csa::CsaHeader;
use super::header::{floats, item, text};
use super::private::{self, GE_PARM, PHILIPS_IMAGING, SIEMENS_MR};
use crate::error::{Error, Result};

/// Gradient directions closer than this (each component) are the same direction.
const SAME_DIRECTION: f64 = 1e-4;
/// b-values closer than this (s/mm^2) are the same.
const SAME_B: f64 = 1e-3;

/// What an image says about its diffusion weighting.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diffusion {
    /// b-value, s/mm^2.
    pub b_value: f64,
    /// The unit gradient direction in patient coordinates (LPS), for a directional image; `None`
    /// for b = 0, an isotropic (trace) image, or a vendor frame not converted here.
    pub direction: Option<[f64; 3]>,
    /// Whether the image is a directionless combination (trace, isotropic, ADC-like) rather than
    /// one gradient direction: (0018,9075) ISOTROPIC.
    pub isotropic: bool,
}

impl Diffusion {
    /// Whether two images carry the same weighting (so may belong to one volume).
    pub fn same_as(&self, other: &Diffusion) -> bool {
        (self.b_value - other.b_value).abs() <= SAME_B
            && self.isotropic == other.isotropic
            && match (self.direction, other.direction) {
                (None, None) => true,
                (Some(a), Some(b)) => (0..3).all(|k| (a[k] - b[k]).abs() <= SAME_DIRECTION),
                _ => false,
            }
    }
}

/// A unit vector, or `None` for (near) zero or non-finite input.
fn unit(v: &[f64]) -> Option<[f64; 3]> {
    let v: [f64; 3] = v.get(..3)?.try_into().ok()?;
    let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
    (n.is_finite() && n > 1e-6).then(|| v.map(|x| x / n))
}

/// From the standard attributes of `g` (the data set, an MRDiffusionSequence item...).
fn standard(g: &InMemDicomObject) -> Option<Diffusion> {
    let b = floats(g, tags::DIFFUSION_B_VALUE).map(|v| v[0])?;
    let directionality = text(g, tags::DIFFUSION_DIRECTIONALITY).to_ascii_uppercase();
    let direction = item(g, tags::DIFFUSION_GRADIENT_DIRECTION_SEQUENCE)
        .and_then(|d| floats(d, tags::DIFFUSION_GRADIENT_ORIENTATION))
        .or_else(|| floats(g, tags::DIFFUSION_GRADIENT_ORIENTATION))
        .and_then(|v| unit(&v));
    Some(make(b, direction, directionality == "ISOTROPIC", directionality == "NONE"))
}

fn make(b: f64, direction: Option<[f64; 3]>, isotropic: bool, unweighted: bool) -> Diffusion {
    let b_value = if unweighted { 0.0 } else { b.max(0.0) };
    let directional = b_value > 0.0 && !isotropic;
    Diffusion { b_value, direction: direction.filter(|_| directional), isotropic }
}

/// An Enhanced MR frame's diffusion, from its (per-frame or shared) MRDiffusionSequence.
pub fn of_frame_group(group: &InMemDicomObject) -> Option<Diffusion> {
    item(group, tags::MR_DIFFUSION_SEQUENCE).and_then(standard)
}

/// A single-frame image's diffusion, from the standard attributes or the vendor's private ones.
pub fn of_image(obj: &InMemDicomObject, csa: Option<&CsaHeader>) -> Option<Diffusion> {
    if let Some(d) =
        item(obj, tags::MR_DIFFUSION_SEQUENCE).and_then(standard).or_else(|| standard(obj))
    {
        return Some(d);
    }
    // Siemens: the CSA header, then the shadow group.
    let siemens_b = csa.and_then(|c| c.float("B_value")).or_else(|| {
        private::private(obj, SIEMENS_MR, 0x0C).and_then(private::text_numbers).map(|v| v[0])
    });
    if let Some(b) = siemens_b {
        let direction = csa
            .and_then(|c| c.floats("DiffusionGradientDirection"))
            .or_else(|| {
                private::private(obj, SIEMENS_MR, 0x0E)
                    .and_then(|e| private::binary_floats(e, false))
            })
            .and_then(|v| unit(&v));
        return Some(make(b, direction, false, false));
    }
    // Philips classic and GE: the b-value only (see the module notes).
    let philips = private::private(obj, PHILIPS_IMAGING, 0x03)
        .and_then(|e| private::binary_floats(e, true))
        .map(|v| v[0]);
    // GE adds 10^9 multiples to mark the b-value's origin (dcm2niix issue 602).
    let ge = private::private(obj, GE_PARM, 0x39)
        .and_then(private::text_numbers)
        .map(|v| v[0].rem_euclid(1e9));
    philips.or(ge).map(|b| make(b, None, false, false))
}

/// The FSL tables of a diffusion series: one b-value and one gradient direction per volume,
/// directions in FSL's convention (the image's voxel axes, x negated when the voxel-to-world
/// matrix has a positive determinant, i.e. the voxels are not stored radiologically).
#[derive(Clone, Debug, PartialEq)]
pub struct FslTables {
    /// b-values, s/mm^2.
    pub bvals: Vec<f64>,
    /// Unit vectors (zero for b = 0 and isotropic volumes).
    pub bvecs: Vec<[f64; 3]>,
}

/// The FSL tables for volumes with `weights` on `geometry`; an error saying why when a volume's
/// weighting is unknown or a directional volume has no direction (no table is better than a
/// wrong one).
pub fn fsl_tables(
    weights: &[Option<Diffusion>],
    geometry: &Geometry,
    path: &Path,
) -> Result<FslTables> {
    let d = geometry.direction();
    let axes = [0, 1, 2].map(|c| [d[0][c], d[1][c], d[2][c]]);
    let det = axes[0][0] * (axes[1][1] * axes[2][2] - axes[1][2] * axes[2][1])
        - axes[1][0] * (axes[0][1] * axes[2][2] - axes[0][2] * axes[2][1])
        + axes[2][0] * (axes[0][1] * axes[1][2] - axes[0][2] * axes[1][1]);
    let mut tables = FslTables { bvals: Vec::new(), bvecs: Vec::new() };
    for (t, w) in weights.iter().enumerate() {
        let unsupported = |what: String| Error::Unsupported { path: path.to_path_buf(), what };
        let w = w.ok_or_else(|| {
            unsupported(format!("volume {t} has no diffusion weighting in its header"))
        })?;
        let vector = match w.direction {
            Some(g) => {
                // Direction cosines are orthonormal here (Geometry checks non-singular only;
                // DICOM's are orthonormal to 1e-4), so voxel components are dot products.
                let mut v = axes.map(|a| a[0] * g[0] + a[1] * g[1] + a[2] * g[2]);
                if det > 0.0 {
                    v[0] = -v[0];
                }
                v.map(|x| if x == 0.0 { 0.0 } else { x })
            }
            None if w.b_value == 0.0 || w.isotropic => [0.0; 3],
            None => {
                return Err(unsupported(format!(
                    "volume {t} (b = {}) has no gradient direction this reader can convert (Philips and GE store them in private frames)",
                    w.b_value
                )));
            }
        };
        tables.bvals.push(w.b_value);
        tables.bvecs.push(vector);
    }
    Ok(tables)
}

impl FslTables {
    /// The `.bval` text: one line, values separated by spaces (as dcm2niix writes them).
    pub fn bval_text(&self) -> String {
        line(&self.bvals)
    }

    /// The `.bvec` text: three lines (x, y, z components).
    pub fn bvec_text(&self) -> String {
        (0..3).map(|k| line(&self.bvecs.iter().map(|v| v[k]).collect::<Vec<_>>())).collect()
    }
}

fn line(values: &[f64]) -> String {
    let mut s = values.iter().map(|v| format_g(*v)).collect::<Vec<_>>().join(" ");
    s.push('\n');
    s
}

/// C's `%g`: 6 significant digits, trailing zeros dropped, exponent form outside 1e-4..1e6.
pub fn format_g(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() { "0".into() } else { v.to_string() };
    }
    let exponent = v.abs().log10().floor() as i32;
    // Rounding to 6 digits can carry into the next power of ten (999999.5 -> 1e+06).
    let rounded: f64 = format!("{v:.5e}").parse().unwrap_or(v);
    let exponent = if rounded.abs() >= 10f64.powi(exponent + 1) { exponent + 1 } else { exponent };
    let trim = |s: String| {
        if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_owned() } else { s }
    };
    if (-4..6).contains(&exponent) {
        let decimals = (5 - exponent).max(0) as usize;
        trim(format!("{v:.decimals$}"))
    } else {
        let text = format!("{v:.5e}");
        let (mantissa, e) = text.split_once('e').unwrap_or((&text, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{}e{}{:02}", trim(mantissa.to_owned()), if e < 0 { '-' } else { '+' }, e.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_g_as_c_prints_it() {
        for (v, want) in [
            (0.0, "0"),
            (1000.0, "1000"),
            (0.999975, "0.999975"),
            (-0.005076489, "-0.00507649"),
            (6.4875, "6.4875"),
            (1e-5, "1e-05"),
            (123456789.0, "1.23457e+08"),
            (999999.5, "1e+06"),
            (0.0001, "0.0001"),
            (-2.5e-7, "-2.5e-07"),
            (0.000409997, "0.000409997"),
            (100.0, "100"),
        ] {
            assert_eq!(format_g(v), want, "{v}");
        }
    }

    #[test]
    fn fsl_vectors_follow_the_voxel_axes_and_the_determinant() {
        // Axial, unflipped (det > 0): x is negated; a y-flipped grid (det < 0) keeps x.
        let g = [0.6, 0.8, 0.0];
        let w = [Some(Diffusion { b_value: 1000.0, direction: Some(g), isotropic: false })];
        let path = Path::new("x");
        let plain = Geometry::axis_aligned([1.0; 3], [0.0; 3]).unwrap();
        let t = fsl_tables(&w, &plain, path).unwrap();
        assert!((t.bvecs[0][0] + 0.6).abs() < 1e-12 && (t.bvecs[0][1] - 0.8).abs() < 1e-12);
        let flipped =
            Geometry::new([1.0; 3], [0.0; 3], [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
                .unwrap();
        let t = fsl_tables(&w, &flipped, path).unwrap();
        assert!((t.bvecs[0][0] - 0.6).abs() < 1e-12 && (t.bvecs[0][1] + 0.8).abs() < 1e-12);
        let unknown = [Some(Diffusion { b_value: 700.0, direction: None, isotropic: false })];
        assert!(fsl_tables(&unknown, &plain, path).is_err());
        assert!(fsl_tables(&[None], &plain, path).is_err());
    }
}
