//! Geometry: index <-> physical mapping, the NIfTI RAS affine, orientation codes, validation.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use hounsfield_core::mat3::{self, Mat3};
use hounsfield_core::{Error, Geometry, Orientation};
use proptest::prelude::*;

/// Rotation matrix from a (not necessarily unit) quaternion, optionally mirrored.
fn rotation(q: [f64; 4], mirror: bool) -> Mat3 {
    let mut m = mat3::rotation_from_quaternion(q);
    if mirror {
        for row in &mut m {
            row[2] = -row[2];
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// index -> physical -> index within 1e-9 voxels for random oblique (and mirrored) grids.
    #[test]
    fn index_physical_round_trip(
        q in prop::array::uniform4(-1.0f64..1.0).prop_filter("non-zero quaternion", |q| q.iter().map(|v| v * v).sum::<f64>() > 1e-3),
        mirror in any::<bool>(),
        spacing in prop::array::uniform3(0.05f64..5.0),
        origin in prop::array::uniform3(-500.0f64..500.0),
        ijk in prop::array::uniform3(-50.0f64..600.0),
    ) {
        let g = Geometry::new(spacing, origin, rotation(q, mirror)).unwrap();
        let back = g.physical_to_index(g.index_to_physical(ijk));
        for k in 0..3 {
            prop_assert!((back[k] - ijk[k]).abs() < 1e-9, "{ijk:?} -> {back:?}");
        }
        // The RAS affine describes the same grid.
        let g2 = Geometry::from_ras_affine(&g.ras_affine()).unwrap();
        prop_assert!(g.approx_eq(&g2, 1e-9));
    }
}

#[test]
fn ras_affine_of_a_sagittal_dicom_geometry_matches_hand_computation() {
    // DICOM: ImageOrientationPatient = [0, 1, 0, 0, 0, -1] (rows run anterior->posterior,
    // columns superior->inferior), PixelSpacing = [0.5, 0.7] (between rows, between columns),
    // slices 3 mm apart along row x column = (-1, 0, 0), ImagePositionPatient = [-50, -100, 80].
    let row = [0.0, 1.0, 0.0];
    let col = [0.0, 0.0, -1.0];
    let normal = [-1.0, 0.0, 0.0];
    let direction =
        [[row[0], col[0], normal[0]], [row[1], col[1], normal[1]], [row[2], col[2], normal[2]]];
    let g = Geometry::new([0.7, 0.5, 3.0], [-50.0, -100.0, 80.0], direction).unwrap();
    // By hand: LPS affine columns are 0.7*row, 0.5*col, 3*normal, then x and y rows negated.
    let expected = [
        [0.0, 0.0, 3.0, 50.0],
        [-0.7, 0.0, 0.0, 100.0],
        [0.0, -0.5, 0.0, 80.0],
        [0.0, 0.0, 0.0, 1.0],
    ];
    assert_eq!(g.ras_affine(), expected);
    assert_eq!(g.orientation_code(), "PIR");
    // Voxel (i=2, j=4, k=1) by hand: IPP + 2*0.7*row + 4*0.5*col + 1*3*normal.
    assert_eq!(g.index_to_physical([2.0, 4.0, 1.0]), [-53.0, -98.6, 78.0]);
}

/// All 48 signed axis permutations: the code names each axis, parses back to the same matrix,
/// and a 10-degree tilt does not change it.
#[test]
fn orientation_codes_for_all_48_signed_permutations() {
    let letters = [('L', 'R'), ('P', 'A'), ('S', 'I')];
    let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let tilt = {
        let (s, c) = 10f64.to_radians().sin_cos();
        [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
    };
    let mut seen = std::collections::HashSet::new();
    for perm in perms {
        for signs in 0..8 {
            let mut d = [[0.0; 3]; 3];
            let mut expected = String::new();
            for n in 0..3 {
                let negative = signs & (1 << n) != 0;
                d[perm[n]][n] = if negative { -1.0 } else { 1.0 };
                let (pos, neg) = letters[perm[n]];
                expected.push(if negative { neg } else { pos });
            }
            let g = Geometry::new([1.0, 2.0, 3.0], [0.0; 3], d).unwrap();
            assert_eq!(g.orientation_code(), expected);
            let parsed = Orientation::from_code(&expected).unwrap();
            assert_eq!(parsed.direction(), d, "{expected}");
            assert_eq!(parsed.code(), expected);
            let tilted = Geometry::new([1.0; 3], [0.0; 3], mat3::mul(&tilt, &d)).unwrap();
            assert_eq!(tilted.orientation_code(), expected, "tilted {expected}");
            seen.insert(expected);
        }
    }
    assert_eq!(seen.len(), 48);
}

#[test]
fn orientation_code_parsing_rejects_nonsense() {
    for bad in ["", "LP", "LPSX", "LLS", "LRS", "XYZ", "PAS"] {
        assert!(Orientation::from_code(bad).is_err(), "{bad:?} was accepted");
    }
    assert_eq!(Orientation::from_code("ras").unwrap().code(), "RAS");
}

#[test]
fn invalid_geometries_are_refused_with_a_reason() {
    let id = mat3::IDENTITY;
    let cases: Vec<(Result<Geometry, Error>, &str)> = vec![
        (Geometry::new([1.0, 0.0, 1.0], [0.0; 3], id), "spacing"),
        (Geometry::new([1.0, -2.0, 1.0], [0.0; 3], id), "spacing"),
        (Geometry::new([1.0, f64::NAN, 1.0], [0.0; 3], id), "spacing"),
        (Geometry::new([1.0; 3], [0.0, f64::INFINITY, 0.0], id), "origin"),
        (
            Geometry::new([1.0; 3], [0.0; 3], [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]),
            "singular",
        ),
        (
            Geometry::new([1.0; 3], [0.0; 3], [[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]),
            "unit",
        ),
        (Geometry::new([1.0; 3], [0.0; 3], [[f64::NAN; 3]; 3]), "finite"),
    ];
    for (result, word) in cases {
        match result {
            Err(Error::InvalidGeometry(msg)) => {
                assert!(msg.contains(word), "{msg:?} should mention {word}")
            }
            other => panic!("expected an invalid geometry error about {word}, got {other:?}"),
        }
    }
    let mut affine = Geometry::default().ras_affine();
    affine[3] = [0.0, 0.0, 1.0, 1.0];
    assert!(Geometry::from_ras_affine(&affine).is_err());
    affine = Geometry::default().ras_affine();
    affine[0][0] = 0.0;
    affine[1][0] = 0.0;
    affine[2][0] = 0.0;
    assert!(Geometry::from_ras_affine(&affine).is_err());
}

#[test]
fn sheared_geometry_is_valid_but_not_orthonormal() {
    // A gantry-tilted stack kept as acquired: slices step along a tilted direction.
    let (s, c) = 15f64.to_radians().sin_cos();
    let d = [[1.0, 0.0, 0.0], [0.0, 1.0, s], [0.0, 0.0, c]];
    let g = Geometry::new([0.5, 0.5, 2.0], [0.0; 3], d).unwrap();
    assert!(!g.is_orthonormal(1e-6));
    assert!(Geometry::default().is_orthonormal(0.0));
    // A voxel's volume shrinks by cos(tilt) under the shear.
    assert!((g.voxel_volume() - 0.5 * 0.5 * 2.0 * c).abs() < 1e-12);
    let p = g.index_to_physical([0.0, 0.0, 1.0]);
    assert!((p[1] - 2.0 * s).abs() < 1e-12 && (p[2] - 2.0 * c).abs() < 1e-12);
}
