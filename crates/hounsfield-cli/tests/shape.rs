//! `hounsfield shape`: the shape family's baselines from the command line.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::process::{Command, Output};

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield")).args(args).output().expect("binary runs")
}

#[test]
fn baselines_report_every_group_and_refuse_impossible_cameras() {
    let small = [
        "--train-per-class",
        "3",
        "--test",
        "12",
        "--test-held-out-class",
        "2",
        "--size",
        "32",
        "--resolution",
        "16",
    ];
    let run = |views: &str| -> serde_json::Value {
        let out =
            hounsfield(&[&["--json", "shape", "baselines", "--views", views], &small[..]].concat());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let (one, four) = (run("1"), run("4"));
    let groups = one["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 8);
    assert_eq!(groups[6]["group"], "all trained classes");
    assert_eq!(groups[6]["shapes"], 12);
    assert_eq!(groups[7]["shapes"], 2);
    assert_eq!(one["train_shapes"], 18);
    // One view: the hull is the extrusion. Four views carve more (the same shapes: the
    // held-out seeds and the first camera do not change with the view count).
    let all = |v: &serde_json::Value, key: &str| v["groups"][6][key].as_f64().unwrap();
    assert_eq!(all(&one, "hull_iou"), all(&one, "extrusion_iou"));
    assert_eq!(all(&four, "extrusion_iou"), all(&one, "extrusion_iou"));
    assert!(all(&four, "hull_iou") > all(&one, "hull_iou") + 0.1, "{four}");
    // Cameras at the pole, and no views, are refused.
    let out = hounsfield(&["shape", "baselines", "--elevation", "90"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(-90, 90)"));
    let out = hounsfield(&["shape", "baselines", "--views", "0"]);
    assert_eq!(out.status.code(), Some(2));
    // A training set beyond memory is refused before any shape is made: 600 shapes x (256^3 +
    // 64 x 1024^2) bytes = 50 GB.
    let out = hounsfield(&[
        "shape",
        "baselines",
        "--resolution",
        "256",
        "--size",
        "1024",
        "--views",
        "64",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("50.3 GB"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(one["elevation"], 20.0);
}
