//! Closed-form 3x3 matrix arithmetic for geometry. A LAPACK-backed crate would be overkill here:
//! every matrix in voxel geometry is 3x3 (or a 4x4 affine built from one).

/// A 3x3 matrix, row-major: `m[row][col]`.
pub type Mat3 = [[f64; 3]; 3];

/// A 4x4 homogeneous affine, row-major.
pub type Affine = [[f64; 4]; 4];

/// The identity matrix.
pub const IDENTITY: Mat3 = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];

/// `m * v`.
pub fn mul_vec(m: &Mat3, v: [f64; 3]) -> [f64; 3] {
    [
        m[0][0] * v[0] + m[0][1] * v[1] + m[0][2] * v[2],
        m[1][0] * v[0] + m[1][1] * v[1] + m[1][2] * v[2],
        m[2][0] * v[0] + m[2][1] * v[1] + m[2][2] * v[2],
    ]
}

/// `a * b`.
pub fn mul(a: &Mat3, b: &Mat3) -> Mat3 {
    let mut out = [[0.0; 3]; 3];
    for (r, row) in out.iter_mut().enumerate() {
        for (c, value) in row.iter_mut().enumerate() {
            *value = (0..3).map(|k| a[r][k] * b[k][c]).sum();
        }
    }
    out
}

/// The transpose of `m`.
pub fn transpose(m: &Mat3) -> Mat3 {
    let mut out = [[0.0; 3]; 3];
    for (r, row) in m.iter().enumerate() {
        for (c, &value) in row.iter().enumerate() {
            out[c][r] = value;
        }
    }
    out
}

/// The determinant of `m`.
pub fn det(m: &Mat3) -> f64 {
    m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0])
}

/// The inverse of `m` by the adjugate, or `None` when `m` is singular relative to its scale.
pub fn inverse(m: &Mat3) -> Option<Mat3> {
    let d = det(m);
    let scale = m.iter().flatten().fold(0.0f64, |a, &b| a.max(b.abs()));
    if !d.is_finite() || scale == 0.0 || d.abs() <= 1e-12 * scale * scale * scale {
        return None;
    }
    let cof =
        |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
    let adj = [
        [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
        [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
        [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
    ];
    Some(adj.map(|row| row.map(|v| v / d)))
}

/// The Euclidean norm of `v`.
pub fn norm(v: [f64; 3]) -> f64 {
    (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt()
}

/// Column `k` of `m`.
pub fn column(m: &Mat3, k: usize) -> [f64; 3] {
    [m[0][k], m[1][k], m[2][k]]
}

/// The rotation of quaternion `[w, x, y, z]` (normalised first; a zero quaternion gives the
/// identity).
pub fn rotation_from_quaternion(q: [f64; 4]) -> Mat3 {
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    if n == 0.0 || !n.is_finite() {
        return IDENTITY;
    }
    let [w, x, y, z] = q.map(|v| v / n);
    [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverse_times_matrix_is_identity_within_1e_12() {
        let m = [[2.0, 0.5, -1.0], [0.3, 1.5, 0.2], [-0.7, 0.1, 3.0]];
        let inv = inverse(&m).unwrap();
        let p = mul(&m, &inv);
        for r in 0..3 {
            for c in 0..3 {
                assert!((p[r][c] - IDENTITY[r][c]).abs() < 1e-12, "{p:?}");
            }
        }
    }

    #[test]
    fn singular_matrix_has_no_inverse() {
        let m = [[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 0.0]];
        assert!(inverse(&m).is_none());
        assert!(inverse(&[[0.0; 3]; 3]).is_none());
        assert!(inverse(&[[f64::NAN, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]).is_none());
    }

    #[test]
    fn quaternion_rotations_are_orthonormal_and_proper() {
        let r = rotation_from_quaternion([0.3, -0.5, 0.7, 0.2]);
        let g = mul(&transpose(&r), &r);
        for i in 0..3 {
            for j in 0..3 {
                assert!((g[i][j] - IDENTITY[i][j]).abs() < 1e-12);
            }
        }
        assert!((det(&r) - 1.0).abs() < 1e-12);
        // 90 degrees about z maps x to y.
        let h = std::f64::consts::FRAC_1_SQRT_2;
        let rz = rotation_from_quaternion([h, 0.0, 0.0, h]);
        let v = mul_vec(&rz, [1.0, 0.0, 0.0]);
        assert!((v[0]).abs() < 1e-12 && (v[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn det_of_permutation_is_its_sign() {
        let swap_xy = [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]];
        assert_eq!(det(&swap_xy), -1.0);
        assert_eq!(det(&IDENTITY), 1.0);
    }
}
