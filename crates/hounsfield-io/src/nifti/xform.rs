//! NIfTI spatial transforms: sform, qform (quaternion + qfac) and the fallback, to and from the
//! voxel -> RAS affine.

use hounsfield_core::mat3::{self, Affine, Mat3};

use super::header::NiftiHeader;

/// Which transform a geometry came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XformSource {
    /// `sform_code > 0`: the general affine (srow_x/y/z), preferred when set.
    Sform,
    /// `qform_code > 0` and no sform: quaternion, offsets and pixdim.
    Qform,
    /// Neither code set: nibabel's fallback, pixdim scaling with x flipped and the origin at
    /// the centre of the grid.
    Fallback,
}

/// The voxel -> RAS affine a reader should use, as nibabel's `get_best_affine` chooses it.
/// Like nibabel and dcm2niix, the spatial unit in `xyzt_units` is not applied: coordinates are
/// taken as millimetres.
pub fn best_affine(h: &NiftiHeader) -> (Affine, XformSource) {
    if h.sform_code > 0 {
        let s = h.srow;
        ([s[0], s[1], s[2], [0.0, 0.0, 0.0, 1.0]], XformSource::Sform)
    } else if h.qform_code > 0 {
        (qform_affine(h), XformSource::Qform)
    } else {
        (fallback_affine(h), XformSource::Fallback)
    }
}

/// The rotation of quaternion (b, c, d), with a = sqrt(1 - b^2 - c^2 - d^2) as nifti1_io
/// computes it (a 180-degree rotation when the norm reaches 1).
pub fn quatern_to_rotation(quatern: [f64; 3]) -> Mat3 {
    let [mut b, mut c, mut d] = quatern;
    let mut a = 1.0 - (b * b + c * c + d * d);
    if a < 1e-7 {
        let n = 1.0 / (b * b + c * c + d * d).sqrt();
        b *= n;
        c *= n;
        d *= n;
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    [
        [a * a + b * b - c * c - d * d, 2.0 * (b * c - a * d), 2.0 * (b * d + a * c)],
        [2.0 * (b * c + a * d), a * a + c * c - b * b - d * d, 2.0 * (c * d - a * b)],
        [2.0 * (b * d - a * c), 2.0 * (c * d + a * b), a * a + d * d - c * c - b * b],
    ]
}

fn qform_affine(h: &NiftiHeader) -> Affine {
    let r = quatern_to_rotation(h.quatern);
    let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
    let zooms = [h.pixdim[1], h.pixdim[2], h.pixdim[3] * qfac];
    let mut a = [[0.0; 4]; 4];
    for row in 0..3 {
        for col in 0..3 {
            a[row][col] = r[row][col] * zooms[col];
        }
        a[row][3] = h.qoffset[row];
    }
    a[3][3] = 1.0;
    a
}

fn fallback_affine(h: &NiftiHeader) -> Affine {
    let mut a = [[0.0; 4]; 4];
    for (k, row) in a.iter_mut().take(3).enumerate() {
        let zoom = if k == 0 { -h.pixdim[1] } else { h.pixdim[k + 1] };
        let n = h.size(k + 1) as f64;
        row[k] = zoom;
        row[3] = -(n - 1.0) / 2.0 * zoom;
    }
    a[3][3] = 1.0;
    a
}

/// Quaternion (b, c, d) and qfac of an orthonormal RAS rotation `r` (columns = index axes), as
/// nifti1_io's `nifti_mat44_to_quatern`: a left-handed `r` gets qfac = -1 and its third column
/// negated first.
pub fn rotation_to_quatern(r: &Mat3) -> ([f64; 3], f64) {
    let mut r = *r;
    let qfac = if mat3::det(&r) < 0.0 {
        for row in r.iter_mut() {
            row[2] = -row[2];
        }
        -1.0
    } else {
        1.0
    };
    let trace = r[0][0] + r[1][1] + r[2][2] + 1.0;
    let (mut a, mut b, mut c, mut d);
    if trace > 0.5 {
        a = 0.5 * trace.sqrt();
        b = 0.25 * (r[2][1] - r[1][2]) / a;
        c = 0.25 * (r[0][2] - r[2][0]) / a;
        d = 0.25 * (r[1][0] - r[0][1]) / a;
    } else {
        let xd = 1.0 + r[0][0] - (r[1][1] + r[2][2]);
        let yd = 1.0 + r[1][1] - (r[0][0] + r[2][2]);
        let zd = 1.0 + r[2][2] - (r[0][0] + r[1][1]);
        if xd > 1.0 {
            b = 0.5 * xd.sqrt();
            c = 0.25 * (r[0][1] + r[1][0]) / b;
            d = 0.25 * (r[0][2] + r[2][0]) / b;
            a = 0.25 * (r[2][1] - r[1][2]) / b;
        } else if yd > 1.0 {
            c = 0.5 * yd.sqrt();
            b = 0.25 * (r[0][1] + r[1][0]) / c;
            d = 0.25 * (r[1][2] + r[2][1]) / c;
            a = 0.25 * (r[0][2] - r[2][0]) / c;
        } else {
            d = 0.5 * zd.sqrt();
            b = 0.25 * (r[0][2] + r[2][0]) / d;
            c = 0.25 * (r[1][2] + r[2][1]) / d;
            a = 0.25 * (r[1][0] - r[0][1]) / d;
        }
        if a < 0.0 {
            b = -b;
            c = -c;
            d = -d;
            a = -a;
        }
    }
    let _ = a;
    ([b, c, d], qfac)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_core::rng::SplitMix64;

    fn random_rotation(rng: &mut SplitMix64) -> Mat3 {
        mat3::rotation_from_quaternion(std::array::from_fn(|_| rng.uniform(-1.0, 1.0)))
    }

    #[test]
    fn quaternion_round_trip_recovers_proper_and_improper_rotations() {
        let mut rng = SplitMix64::new(3);
        let mut cases: Vec<Mat3> = (0..500).map(|_| random_rotation(&mut rng)).collect();
        // The branches for rotations near 180 degrees about each axis.
        cases.push([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]);
        cases.push([[-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, -1.0]]);
        cases.push([[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]]);
        for (i, r) in cases.into_iter().enumerate() {
            for mirror in [false, true] {
                let mut m = r;
                if mirror {
                    m.iter_mut().for_each(|row| row[2] = -row[2]);
                }
                let (q, qfac) = rotation_to_quatern(&m);
                let mut back = quatern_to_rotation(q);
                if qfac < 0.0 {
                    back.iter_mut().for_each(|row| row[2] = -row[2]);
                }
                for (a, b) in m.iter().flatten().zip(back.iter().flatten()) {
                    assert!((a - b).abs() < 1e-9, "case {i} mirror {mirror}: {m:?} vs {back:?}");
                }
            }
        }
    }

    #[test]
    fn sform_wins_over_qform_and_fallback_centres_the_grid() {
        let mut h = NiftiHeader {
            dim: [3, 11, 21, 5, 1, 1, 1, 1],
            pixdim: [1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
            ..NiftiHeader::default()
        };
        let (a, src) = best_affine(&h);
        assert_eq!(src, XformSource::Fallback);
        assert_eq!(a[0], [-2.0, 0.0, 0.0, 10.0]);
        assert_eq!(a[1], [0.0, 3.0, 0.0, -30.0]);
        assert_eq!(a[2], [0.0, 0.0, 4.0, -8.0]);
        h.qform_code = 1;
        h.qoffset = [1.0, 2.0, 3.0];
        assert_eq!(best_affine(&h).1, XformSource::Qform);
        assert_eq!(best_affine(&h).0[1], [0.0, 3.0, 0.0, 2.0]);
        h.sform_code = 4;
        h.srow = [[9.0, 0.0, 0.0, 0.0], [0.0, 9.0, 0.0, 0.0], [0.0, 0.0, 9.0, 0.0]];
        assert_eq!(
            best_affine(&h),
            (
                [
                    [9.0, 0.0, 0.0, 0.0],
                    [0.0, 9.0, 0.0, 0.0],
                    [0.0, 0.0, 9.0, 0.0],
                    [0.0, 0.0, 0.0, 1.0]
                ],
                XformSource::Sform
            )
        );
    }
}
