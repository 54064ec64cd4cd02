//! Voxel-grid geometry in DICOM/ITK patient coordinates (LPS).
//!
//! A voxel with continuous index `ijk = (i, j, k)` (i along x, the fastest array axis; k along z,
//! the slowest) sits at the physical point
//!
//! ```text
//! p = origin + D * diag(spacing) * ijk        (millimetres, LPS)
//! ```
//!
//! where column `n` of the direction matrix `D` is the unit vector along index axis `n`. Integer
//! indices name voxel centres: `origin` is the centre of voxel (0, 0, 0). The NIfTI RAS affine is
//! derived from this (x and y negated), never stored.

use crate::error::{Error, Result};
use crate::mat3::{self, Affine, Mat3};
use crate::orientation::Orientation;

/// Columns of the direction matrix may deviate this much from unit length (rounding in DICOM
/// ImageOrientationPatient strings is the usual source of the deviation).
pub const UNIT_TOLERANCE: f64 = 1e-3;

/// Spacing, origin and direction of a voxel grid, validated on construction.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    spacing: [f64; 3],
    origin: [f64; 3],
    direction: Mat3,
    /// `(D * diag(spacing))^-1`, cached for physical -> index mapping.
    to_index: Mat3,
}

impl Default for Geometry {
    /// 1 mm isotropic, origin at zero, identity direction (index axes along L, P, S).
    fn default() -> Self {
        Geometry {
            spacing: [1.0; 3],
            origin: [0.0; 3],
            direction: mat3::IDENTITY,
            to_index: mat3::IDENTITY,
        }
    }
}

impl Geometry {
    /// Builds a geometry after checking that spacing is finite and positive, origin finite, and
    /// the direction finite, non-singular, with unit columns (within [`UNIT_TOLERANCE`]).
    ///
    /// `spacing` and `origin` are in (x, y, z) order; `direction[row][col]`, column = index axis.
    pub fn new(spacing: [f64; 3], origin: [f64; 3], direction: Mat3) -> Result<Self> {
        if spacing.iter().any(|s| !s.is_finite() || *s <= 0.0) {
            return Err(Error::InvalidGeometry(format!(
                "spacing must be finite and > 0 mm on every axis, found {spacing:?}"
            )));
        }
        if origin.iter().any(|o| !o.is_finite()) {
            return Err(Error::InvalidGeometry(format!("origin must be finite, found {origin:?}")));
        }
        if direction.iter().flatten().any(|d| !d.is_finite()) {
            return Err(Error::InvalidGeometry(format!(
                "direction must be finite, found {direction:?}"
            )));
        }
        for k in 0..3 {
            let n = mat3::norm(mat3::column(&direction, k));
            if (n - 1.0).abs() > UNIT_TOLERANCE {
                return Err(Error::InvalidGeometry(format!(
                    "direction column {k} must be a unit vector, found length {n}"
                )));
            }
        }
        let scaled = scale_columns(&direction, spacing);
        let to_index = mat3::inverse(&scaled).ok_or_else(|| {
            Error::InvalidGeometry(format!(
                "direction is singular (determinant {})",
                mat3::det(&direction)
            ))
        })?;
        Ok(Geometry { spacing, origin, direction, to_index })
    }

    /// Axis-aligned geometry (identity direction) with the given spacing and origin.
    pub fn axis_aligned(spacing: [f64; 3], origin: [f64; 3]) -> Result<Self> {
        Self::new(spacing, origin, mat3::IDENTITY)
    }

    /// Voxel size in mm, (x, y, z).
    pub fn spacing(&self) -> [f64; 3] {
        self.spacing
    }

    /// Physical position (LPS, mm) of the centre of voxel (0, 0, 0).
    pub fn origin(&self) -> [f64; 3] {
        self.origin
    }

    /// Direction cosines: column `n` is the unit vector of index axis `n` in LPS.
    pub fn direction(&self) -> Mat3 {
        self.direction
    }

    /// Same grid with another spacing.
    pub fn with_spacing(&self, spacing: [f64; 3]) -> Result<Self> {
        Self::new(spacing, self.origin, self.direction)
    }

    /// Same grid with another origin.
    pub fn with_origin(&self, origin: [f64; 3]) -> Result<Self> {
        Self::new(self.spacing, origin, self.direction)
    }

    /// Same grid with another direction.
    pub fn with_direction(&self, direction: Mat3) -> Result<Self> {
        Self::new(self.spacing, self.origin, direction)
    }

    /// Physical point (LPS, mm) of continuous index `ijk` = (i along x, j along y, k along z).
    pub fn index_to_physical(&self, ijk: [f64; 3]) -> [f64; 3] {
        let scaled = [ijk[0] * self.spacing[0], ijk[1] * self.spacing[1], ijk[2] * self.spacing[2]];
        let d = mat3::mul_vec(&self.direction, scaled);
        [self.origin[0] + d[0], self.origin[1] + d[1], self.origin[2] + d[2]]
    }

    /// Continuous index (i, j, k) of physical point `p` (LPS, mm); the inverse of
    /// [`index_to_physical`](Self::index_to_physical).
    pub fn physical_to_index(&self, p: [f64; 3]) -> [f64; 3] {
        let rel = [p[0] - self.origin[0], p[1] - self.origin[1], p[2] - self.origin[2]];
        mat3::mul_vec(&self.to_index, rel)
    }

    /// The 4x4 index -> LPS affine `[[D * diag(spacing), origin], [0, 0, 0, 1]]`.
    pub fn lps_affine(&self) -> Affine {
        let m = scale_columns(&self.direction, self.spacing);
        let o = self.origin;
        [
            [m[0][0], m[0][1], m[0][2], o[0]],
            [m[1][0], m[1][1], m[1][2], o[1]],
            [m[2][0], m[2][1], m[2][2], o[2]],
            [0.0, 0.0, 0.0, 1.0],
        ]
    }

    /// The NIfTI affine: voxel index (i, j, k) -> RAS mm. It is the LPS affine with its x and y
    /// rows negated.
    pub fn ras_affine(&self) -> Affine {
        let mut a = self.lps_affine();
        for row in a.iter_mut().take(2) {
            for v in row.iter_mut() {
                *v = -*v;
            }
        }
        a
    }

    /// The geometry described by a NIfTI (index -> RAS) affine: spacing is the length of each
    /// column, direction the normalised columns converted to LPS.
    pub fn from_ras_affine(affine: &Affine) -> Result<Self> {
        let bottom = affine[3];
        if bottom != [0.0, 0.0, 0.0, 1.0] {
            return Err(Error::InvalidGeometry(format!(
                "affine bottom row must be [0, 0, 0, 1], found {bottom:?}"
            )));
        }
        let mut spacing = [0.0; 3];
        let mut direction = [[0.0; 3]; 3];
        for k in 0..3 {
            // RAS -> LPS flips the first two world axes.
            let col = [-affine[0][k], -affine[1][k], affine[2][k]];
            let len = mat3::norm(col);
            if !len.is_finite() || len <= 0.0 {
                return Err(Error::InvalidGeometry(format!("affine column {k} has length {len}")));
            }
            spacing[k] = len;
            for r in 0..3 {
                direction[r][k] = col[r] / len;
            }
        }
        Self::new(spacing, [-affine[0][3], -affine[1][3], affine[2][3]], direction)
    }

    /// The closest signed axis permutation to the direction matrix.
    pub fn orientation(&self) -> Orientation {
        Orientation::closest_to(&self.direction)
    }

    /// Three letters naming where each index axis points, e.g. "LPS" for the identity direction
    /// and "RAS" for a NIfTI-style radiological-to-neurological flip (see [`Orientation`]).
    pub fn orientation_code(&self) -> String {
        self.orientation().code()
    }

    /// Whether the direction columns are orthonormal within `tol`. A sheared (gantry-tilted) stack
    /// kept as it was acquired is not.
    pub fn is_orthonormal(&self, tol: f64) -> bool {
        let g = mat3::mul(&mat3::transpose(&self.direction), &self.direction);
        (0..3).all(|r| (0..3).all(|c| (g[r][c] - mat3::IDENTITY[r][c]).abs() <= tol))
    }

    /// Volume of one voxel in mm^3 (accounts for shear).
    pub fn voxel_volume(&self) -> f64 {
        (mat3::det(&self.direction) * self.spacing.iter().product::<f64>()).abs()
    }

    /// Whether two geometries describe the same grid within `tol` mm (origin and voxel steps).
    pub fn approx_eq(&self, other: &Geometry, tol: f64) -> bool {
        let a = self.lps_affine();
        let b = other.lps_affine();
        (0..3).all(|r| (0..4).all(|c| (a[r][c] - b[r][c]).abs() <= tol))
    }
}

fn scale_columns(m: &Mat3, s: [f64; 3]) -> Mat3 {
    let mut out = *m;
    for row in out.iter_mut() {
        for (v, sk) in row.iter_mut().zip(s) {
            *v *= sk;
        }
    }
    out
}
