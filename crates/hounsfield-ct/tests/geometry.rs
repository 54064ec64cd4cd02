#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

//! Geometry conventions, serialisation, ASTRA vectors and refusals of bad input.

use hounsfield_core::LinearOperator;
use hounsfield_ct::{
    Detector, FbpOptions, ImageGrid, Phantom, Projector, ScanGeometry, fbp, uniform_angles,
};
use ndarray::{ArrayD, IxDyn};
use std::f64::consts::PI;

#[test]
fn a_point_projects_where_the_convention_says() {
    // A single bright pixel at (x, y) = (8.5, -21.5) mm: at angle 0 the detector axis is +x, at
    // 90 degrees it is +y; detector pixel j sits at u = j - (n-1)/2.
    let grid = ImageGrid::new_2d(64, 64, 1.0).unwrap();
    let mut image = ArrayD::<f32>::zeros(IxDyn(&[64, 64]));
    image[[10, 40]] = 1.0; // row 10 -> y = 10 - 31.5, column 40 -> x = 40 - 31.5
    let g = ScanGeometry::parallel_2d(vec![0.0, PI / 2.0], 64, 1.0).unwrap();
    let s = Projector::new(grid, g).unwrap().apply(image.view()).unwrap();
    let peak = |v: usize| (0..64).max_by(|&a, &b| s[[v, a]].total_cmp(&s[[v, b]])).unwrap();
    assert_eq!(peak(0), 40, "u = x = 8.5 -> pixel 40");
    assert_eq!(peak(1), 10, "u = y = -21.5 -> pixel 10");
}

#[test]
fn geometries_round_trip_through_json_and_astra_vectors() {
    let cone = ScanGeometry::cone(
        uniform_angles(8, 0.2, 2.0 * PI),
        Detector::panel(20, 30, 1.5, 1.2).with_offset(3.0, -2.0),
        300.0,
        500.0,
    )
    .unwrap();
    let json = serde_json::to_string(&cone).unwrap();
    assert_eq!(serde_json::from_str::<ScanGeometry>(&json).unwrap(), cone);
    // Angles may be written as a count and a span in a geometry file.
    let parsed: ScanGeometry = serde_json::from_str(
        r#"{"type": "parallel2d", "angles": {"count": 4, "span_degrees": 180},
            "detector": {"cols": 10, "col_spacing": 1.0}}"#,
    )
    .unwrap();
    assert_eq!(parsed.angles().unwrap(), uniform_angles(4, 0.0, PI).as_slice());
    // ASTRA vectors: the cone beam as cone_vec, back to our vector form, same projections.
    let grid = ImageGrid::new_3d([12, 12, 12], [1.0; 3]).unwrap();
    for g in [
        cone,
        ScanGeometry::fan_2d(
            uniform_angles(9, 0.0, 2.0 * PI),
            Detector::line(30, 1.0),
            40.0,
            70.0,
            false,
        )
        .unwrap(),
        ScanGeometry::parallel_2d(uniform_angles(9, 0.0, PI), 30, 0.8).unwrap(),
    ] {
        let (kind, rows) = g.to_astra().unwrap();
        let (det_rows, det_cols) = g.detector_shape();
        let back = ScanGeometry::from_astra(kind, det_rows, det_cols, &rows).unwrap();
        let grid =
            if g.dims() == 2 { ImageGrid::new_2d(12, 12, 1.0).unwrap() } else { grid.clone() };
        let x = hounsfield_core::operator::random_array(
            &g.image_shape(&grid).unwrap(),
            &mut hounsfield_core::rng::SplitMix64::new(1),
        );
        let a = Projector::new(grid.clone(), g).unwrap().apply(x.view()).unwrap();
        let b = Projector::new(grid, back).unwrap().apply(x.view()).unwrap();
        let diff = (&a - &b).mapv(f32::abs).fold(0.0f32, |m, &v| m.max(v));
        assert!(diff < 1e-4, "{kind}: projections differ by {diff}");
    }
    assert!(
        ScanGeometry::fan_2d(vec![0.0], Detector::line(4, 1.0), 10.0, 20.0, true)
            .unwrap()
            .to_astra()
            .is_err()
    );
}

#[test]
fn geometry_files_with_unknown_keys_are_refused() {
    // A misspelled key would otherwise fall back to its default and give a silently wrong
    // geometry: every key must be one the type knows.
    let good = r#"{"type": "cone", "angles": {"count": 4, "span_degrees": 360},
        "detector": {"cols": 10, "rows": 8, "col_spacing": 1.0, "col_offset": 2.0},
        "source_origin": 300.0, "source_detector": 500.0}"#;
    let parsed: ScanGeometry = serde_json::from_str(good).unwrap();
    assert_eq!(parsed.detector_shape(), (8, 10));
    for (wrong, key) in [
        (good.replace("col_offset", "col_ofset"), "col_ofset"),
        (good.replace("source_origin\": 300.0", "source_origin\": 300.0, \"arc\": true"), "arc"),
        (good.replace("span_degrees\": 360", "span_degrees\": 360, \"start_degree\": 5"), "start"),
    ] {
        let err = serde_json::from_str::<ScanGeometry>(&wrong);
        assert!(err.is_err(), "accepted an unknown key {key}: {wrong}");
    }
    let grid = r#"{"shape": [1, 8, 8], "spacing": [1, 1, 1], "center": [0, 0, 0]}"#;
    assert!(serde_json::from_str::<ImageGrid>(grid).is_err(), "accepted `center`");
    let angles = good.replace("span_degrees", "span_degree");
    let err = serde_json::from_str::<ScanGeometry>(&angles).unwrap_err().to_string();
    assert!(err.contains("count, span_degrees, start_degrees"), "{err}");
    let fbp = r#"{"window": "hann", "cutof": 0.5}"#;
    assert!(serde_json::from_str::<FbpOptions>(fbp).is_err(), "accepted `cutof`");
}

#[test]
fn bad_geometries_and_inputs_are_refused_with_a_reason() {
    let line = Detector::line(16, 1.0);
    let cases = [
        ScanGeometry::parallel_2d(vec![], 16, 1.0).err(),
        ScanGeometry::parallel_2d(vec![f64::NAN], 16, 1.0).err(),
        ScanGeometry::parallel_2d(vec![0.0], 0, 1.0).err(),
        ScanGeometry::parallel_2d(vec![0.0], 16, 0.0).err(),
        ScanGeometry::fan_2d(vec![0.0], line, 100.0, 50.0, false).err(),
        ScanGeometry::fan_2d(vec![0.0], Detector::line(1000, 2.0), 100.0, 200.0, true).err(),
        ScanGeometry::cone(vec![0.0], Detector::panel(4, 4, 1.0, f64::INFINITY), 10.0, 20.0).err(),
        ImageGrid::new_3d([0, 4, 4], [1.0; 3]).err(),
        ImageGrid::new_2d(4, 4, -1.0).err(),
        Phantom::random(4, 3, 10.0, 1).err(),
        Phantom::random(2, usize::MAX, 10.0, 1).err(),
        // 2^20 views of a 2^20 x 2^20 panel: refused before anything is allocated.
        ScanGeometry::cone(
            vec![0.0; 1 << 20],
            Detector::panel(1 << 20, 1 << 20, 1.0, 1.0),
            10.0,
            20.0,
        )
        .err(),
        ImageGrid::new_3d([1 << 20; 3], [1.0; 3]).err(),
    ];
    for (k, e) in cases.iter().enumerate() {
        let e = e.as_ref().unwrap_or_else(|| panic!("case {k} was accepted"));
        assert!(!e.to_string().is_empty());
    }
    // Shapes, NaN and geometry kinds.
    let g = ScanGeometry::parallel_2d(uniform_angles(8, 0.0, PI), 16, 1.0).unwrap();
    let grid = ImageGrid::new_2d(16, 16, 1.0).unwrap();
    let wrong = ArrayD::<f32>::zeros(IxDyn(&[7, 16]));
    assert!(fbp(&g, &grid, wrong.view(), &FbpOptions::default()).is_err());
    let mut nan = ArrayD::<f32>::zeros(IxDyn(&[8, 16]));
    nan[[3, 3]] = f32::NAN;
    let err = fbp(&g, &grid, nan.view(), &FbpOptions::default()).unwrap_err().to_string();
    assert!(err.contains("non-finite"), "{err}");
    assert!(Projector::new(ImageGrid::new_3d([2, 16, 16], [1.0; 3]).unwrap(), g.clone()).is_err());
    let vectors = g.to_vectors().unwrap();
    assert!(
        fbp(&vectors, &grid, ArrayD::zeros(IxDyn(&[8, 16])).view(), &FbpOptions::default())
            .is_err()
    );
    // A short fan scan below 180 degrees plus the fan angle cannot be weighted.
    let short =
        ScanGeometry::fan_2d(uniform_angles(90, 0.0, PI), line, 50.0, 100.0, false).unwrap();
    let err = fbp(&short, &grid, ArrayD::zeros(IxDyn(&[90, 16])).view(), &FbpOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("short scan"), "{err}");
}

#[test]
fn a_source_inside_the_grid_and_limited_angle_fbp_are_refused() {
    // The 64 mm square grid's corners reach 45.3 mm from the axis: a source circling at 40 mm
    // passes through the image.
    let grid = ImageGrid::new_2d(64, 64, 1.0).unwrap();
    let fan = |sod: f64| {
        ScanGeometry::fan_2d(
            uniform_angles(90, 0.0, 2.0 * PI),
            Detector::line(128, 1.0),
            sod,
            2.0 * sod,
            false,
        )
        .unwrap()
    };
    let err = fan(40.0).image_shape(&grid).unwrap_err().to_string();
    assert!(err.contains("inside the image grid"), "{err}");
    assert!(fan(46.0).image_shape(&grid).is_ok());
    assert!(Projector::new(grid.clone(), fan(40.0)).is_err());
    // A vector cone beam's focal spot inside the grid's box, and one outside it.
    let vector = |sx: f64| {
        ScanGeometry::from_astra("fanflat_vec", 1, 64, &[vec![sx, 0.0, -60.0, 0.0, 0.0, 1.0]])
            .unwrap()
    };
    let err = vector(10.0).image_shape(&grid).unwrap_err().to_string();
    assert!(err.contains("view 0") && err.contains("inside the image grid"), "{err}");
    assert!(vector(40.0).image_shape(&grid).is_ok());
    // Parallel-beam FBP over 90°: lines never measured would come back as streaks.
    let y = ArrayD::<f32>::zeros(IxDyn(&[45, 96]));
    let limited = ScanGeometry::parallel_2d(uniform_angles(45, 0.0, PI / 2.0), 96, 1.0).unwrap();
    let err = fbp(&limited, &grid, y.view(), &FbpOptions::default()).unwrap_err().to_string();
    assert!(err.contains("180°") && err.contains("90.00°"), "{err}");
    let half = ScanGeometry::parallel_2d(uniform_angles(45, 0.0, PI), 96, 1.0).unwrap();
    assert!(fbp(&half, &grid, y.view(), &FbpOptions::default()).is_ok());
    // Directions count modulo 180°: 0-88° plus 180-268° spans 268° but measures 90° of
    // directions; 0-58° plus 120-178° misses a 62° wedge. A full 360° scan and 45 scattered
    // views (gaps under 10°) are fine.
    let parallel = |angles: Vec<f64>| ScanGeometry::parallel_2d(angles, 96, 1.0).unwrap();
    let deg = |d: f64| d.to_radians();
    let twice: Vec<f64> = (0..45)
        .map(|k| deg(2.0 * f64::from(k)))
        .chain((0..45).map(|k| deg(180.0 + 2.0 * f64::from(k))))
        .collect();
    let gap: Vec<f64> = (0..30)
        .map(|k| deg(2.0 * f64::from(k)))
        .chain((0..30).map(|k| deg(120.0 + 2.0 * f64::from(k))))
        .collect();
    for (name, angles) in [("twice", twice), ("gap", gap)] {
        let y = ArrayD::<f32>::zeros(IxDyn(&[angles.len(), 96]));
        let err = fbp(&parallel(angles), &grid, y.view(), &FbpOptions::default()).unwrap_err();
        assert!(err.to_string().contains("wedge of directions"), "{name}: {err}");
    }
    let scattered: Vec<f64> = (0..45)
        .map(|k| deg(4.0 * f64::from(k) + 3.0 * (f64::from(k * 7 % 5) - 2.0) / 2.0))
        .collect();
    let full = uniform_angles(90, 0.3, 2.0 * PI);
    for angles in [scattered, full] {
        let y = ArrayD::<f32>::zeros(IxDyn(&[angles.len(), 96]));
        fbp(&parallel(angles), &grid, y.view(), &FbpOptions::default()).unwrap();
    }
}
