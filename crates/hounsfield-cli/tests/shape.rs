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

/// `shape eval` of `model` on 6 + 1 held-out shapes with 2 retrieval shapes per class.
fn eval_small(model: &std::path::Path) -> serde_json::Value {
    let out = hounsfield(&[
        "--json",
        "--quiet",
        "shape",
        "eval",
        model.to_str().unwrap(),
        "--test",
        "6",
        "--test-held-out-class",
        "1",
        "--retrieval-per-class",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A tiny lifted depth model: 16 px views, 8^3 occupancy, a few steps.
const TINY: &str = r#"
output = "tiny.safetensors"
[data]
input = "depth"
train_per_class = 3
validation = 6
size = 16
[model]
encoder_channels = [4, 8, 8]
latent = 16
decoder_channels = [8, 4]
fuse_level = 0
lifted = true
[train]
steps = 4
batch_size = 4
validate_every = 2
"#;

#[test]
fn train_eval_views_and_predict_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tiny.toml");
    std::fs::write(&config, TINY).unwrap();
    let out = hounsfield(&["--json", "--quiet", "shape", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["report"]["steps"], 4);
    assert_eq!(report["train_shapes"], 18);
    // Validation lines at steps 2 and 4, with one and three views.
    let validation = report["report"]["validation"].as_array().unwrap();
    assert_eq!(validation.len(), 2);
    assert_eq!(validation[1]["iou"][1][0], 3);
    let model = dir.path().join("tiny.safetensors");
    // Resuming to the same step count trains no further; the file still loads.
    let out =
        hounsfield(&["--json", "--quiet", "shape", "train", config.to_str().unwrap(), "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    let eval = eval_small(&model);
    let rows = eval["rows"].as_array().unwrap();
    // Six classes, all trained classes and the held-out class, for one and three views.
    assert_eq!(rows.len(), 16);
    assert_eq!(rows[6]["group"], "all trained classes");
    assert_eq!(rows[6]["shapes"], 6);
    assert_eq!(rows[8]["views"], 3);
    assert_eq!(eval["retrieval_shapes"], 12);
    for row in rows {
        for method in ["network", "hull", "retrieval"] {
            let iou = row[method]["iou"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&iou), "{row}");
        }
    }

    let views = dir.path().join("views");
    let out = hounsfield(&[
        "--json",
        "shape",
        "views",
        "mug",
        "4294967299",
        views.to_str().unwrap(),
        "--size",
        "16",
        "--resolution",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(written["files"].as_array().unwrap().len(), 14);
    let v = |name: &str| views.join(name).to_str().unwrap().to_owned();
    let predicted = dir.path().join("p.nii.gz");
    let out = hounsfield(&[
        "--json",
        "shape",
        "predict",
        model.to_str().unwrap(),
        &v("view0_depth.png"),
        &v("view2_depth.png"),
        predicted.to_str().unwrap(),
        "--cameras",
        "0,2",
        "--reference",
        &v("occupancy.nii.gz"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(p["resolution"], 8);
    let iou = p["iou"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&iou));
    assert!(predicted.exists());

    // Wrong input: a shaded picture for a depth model, a camera off the ring, a camera twice,
    // a corrupt model, an unknown class, an unknown or non-finite configuration key.
    let refused = |args: &[&str], needle: &str| {
        let out = hounsfield(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    let (m, o) = (model.to_str().unwrap(), predicted.to_str().unwrap());
    refused(&["shape", "predict", m, &v("view0_shaded.png"), o], "16-bit");
    refused(&["shape", "predict", m, &v("view0_depth.png"), o, "--cameras", "5"], "ring camera");
    refused(
        &[
            "shape",
            "predict",
            m,
            &v("view0_depth.png"),
            &v("view1_depth.png"),
            o,
            "--cameras",
            "1,1",
        ],
        "twice",
    );
    let corrupt = dir.path().join("corrupt.safetensors");
    std::fs::write(&corrupt, b"\x08\x00\x00\x00\x00\x00\x00\x00{}").unwrap();
    refused(
        &["shape", "predict", corrupt.to_str().unwrap(), &v("view0_depth.png"), o],
        "corrupt.safetensors",
    );
    refused(&["shape", "views", "sofa", "1", views.to_str().unwrap()], "dumbbell");
    // The reference is never overwritten, and nothing is written when a check fails.
    let reference = std::fs::read(v("occupancy.nii.gz")).unwrap();
    refused(
        &[
            "shape",
            "predict",
            m,
            &v("view0_depth.png"),
            &v("occupancy.nii.gz"),
            "--reference",
            &v("occupancy.nii.gz"),
        ],
        "overwritten",
    );
    assert_eq!(std::fs::read(v("occupancy.nii.gz")).unwrap(), reference);
    let never = dir.path().join("never.nii.gz");
    refused(
        &["shape", "predict", m, &v("view0_depth.png"), never.to_str().unwrap(), "--mesh", "m.vtk"],
        "m.vtk",
    );
    assert!(!never.exists());
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, TINY.replace("latent = 16", "latent = 16\nlatnet = 3")).unwrap();
    refused(&["shape", "train", bad.to_str().unwrap()], "bad.toml");
    std::fs::write(&bad, TINY.replace("batch_size = 4", "batch_size = 4\nlearning_rate = nan"))
        .unwrap();
    refused(&["shape", "train", bad.to_str().unwrap()], "train.learning_rate");
    std::fs::write(&bad, TINY.replace("batch_size = 4", "batch_size = 100000000")).unwrap();
    refused(&["shape", "train", bad.to_str().unwrap()], "batch_size");
    std::fs::write(&bad, TINY.replace("batch_size = 4", "batch_size = 4\nmax_views = 5")).unwrap();
    refused(&["shape", "train", bad.to_str().unwrap()], "max_views");
}

#[test]
fn a_variational_model_samples_interpolates_and_scores_its_samples() {
    // The tiny model made variational (not lifted: samples are decoded with nothing carved).
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vae.toml");
    let text = TINY
        .replace("tiny.safetensors", "vae.safetensors")
        .replace("lifted = true", "variational = true");
    std::fs::write(&config, text).unwrap();
    let out = hounsfield(&["--json", "--quiet", "shape", "train", config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let model = dir.path().join("vae.safetensors");
    let m = model.to_str().unwrap();
    let eval = eval_small(&model);
    // As many samples (and training shapes) as held-out shapes of the trained classes.
    let generation = &eval["generation"];
    for set in ["samples", "training_shapes"] {
        let s = &generation[set];
        assert_eq!(s["generated"], 6, "{generation}");
        assert_eq!(s["references"], 6, "{generation}");
        let coverage = s["coverage"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&coverage), "{generation}");
    }
    // Training shapes are real shapes: every one has a surface, and they are at a finite,
    // sub-unit Chamfer distance from their nearest held-out shape.
    let training = &generation["training_shapes"];
    assert_eq!(training["empty"], 0);
    let mmd = training["mmd"].as_f64().unwrap();
    assert!(mmd > 0.0 && mmd < 0.5, "{generation}");

    let samples = dir.path().join("samples");
    let s = samples.to_str().unwrap();
    let out = hounsfield(&["--json", "shape", "sample", m, s, "--count", "3", "--interpolate"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["shapes"].as_array().unwrap().len(), 3);
    assert_eq!(summary["seed"], 0);
    assert!(summary["shapes"][0]["occupancy"].as_str().unwrap().ends_with("sample_000.nii.gz"));
    assert_eq!(summary["resolution"], 8);
    let first = hounsfield_io::open_volume(samples.join("sample_000.nii.gz")).unwrap();
    assert_eq!(first.shape(), [8, 8, 8]);
    assert!(first.as_slice().iter().all(|p| (0.0..=1.0).contains(p)));
    // The same seed gives the same samples.
    let again = dir.path().join("again");
    let out = hounsfield(&[
        "shape",
        "sample",
        m,
        again.to_str().unwrap(),
        "--count",
        "3",
        "--interpolate",
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read(samples.join("sample_002.nii.gz")).unwrap(),
        std::fs::read(again.join("sample_002.nii.gz")).unwrap()
    );

    // A model that is not variational, one interpolation step, a file as the folder.
    let plain = dir.path().join("plain.toml");
    std::fs::write(&plain, TINY).unwrap();
    let out = hounsfield(&["--quiet", "shape", "train", plain.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let tiny = dir.path().join("tiny.safetensors");
    let refused = |args: &[&str], needle: &str| {
        let out = hounsfield(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    refused(&["shape", "sample", tiny.to_str().unwrap(), s], "not a variational model");
    refused(&["shape", "sample", m, s, "--count", "1", "--interpolate"], "at least 2");
    refused(&["shape", "sample", m, config.to_str().unwrap()], "not a folder");
    // A folder holding an earlier run's samples is refused, its files untouched.
    refused(&["shape", "sample", m, s, "--count", "2", "--seed", "5"], "already holds samples");
    assert_eq!(
        std::fs::read(samples.join("sample_002.nii.gz")).unwrap(),
        std::fs::read(again.join("sample_002.nii.gz")).unwrap()
    );
    // Anything named like a sample blocks the folder, before a file is written: a folder
    // standing where the second shape's file would go.
    let half = dir.path().join("half");
    std::fs::create_dir_all(half.join("sample_001.nii.gz")).unwrap();
    refused(&["shape", "sample", m, half.to_str().unwrap(), "--count", "2"], "already holds");
    assert!(!half.join("sample_000.nii.gz").exists());
}

#[test]
fn an_adversarial_model_trains_resumes_and_samples() {
    // The tiny model as a 3D-VAE-GAN: a discriminator of two levels on its 8^3 grid.
    let dir = tempfile::tempdir().unwrap();
    let vae = TINY.replace("lifted = true", "variational = true");
    let gan = format!(
        "{}[train.adversarial]\nchannels = [4, 8]\nprior_samples = 2\n",
        vae.replace("tiny.safetensors", "gan.safetensors")
    );
    let config = dir.path().join("gan.toml");
    std::fs::write(&config, &gan).unwrap();
    let c = config.to_str().unwrap();
    let out = hounsfield(&["--json", "--quiet", "shape", "train", c]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = report["report"]["final_discriminator_loss"].as_f64().unwrap();
    assert!(d.is_finite() && d >= 0.0, "{report}");
    // Resumable with its discriminator; its samples are shapes' probabilities.
    let out = hounsfield(&["--quiet", "shape", "train", c, "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let model = dir.path().join("gan.safetensors");
    let samples = dir.path().join("samples");
    let out = hounsfield(&[
        "--quiet",
        "shape",
        "sample",
        model.to_str().unwrap(),
        samples.to_str().unwrap(),
        "--count",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let first = hounsfield_io::open_volume(samples.join("sample_001.nii.gz")).unwrap();
    assert!(first.as_slice().iter().all(|p| (0.0..=1.0).contains(p)));

    let refused = |name: &str, text: &str, extra: &[&str], needles: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let mut args = vec!["--quiet", "shape", "train", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = hounsfield(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(needles.iter().all(|n| err.contains(n)), "{name}: {err}");
    };
    // Prior samples need a variational model; too many levels halve the grid to nothing.
    let plain = gan.replace("variational = true", "");
    refused("plain.toml", &plain, &[], &["plain.toml", "variational"]);
    let deep = gan.replace("[4, 8]", "[4, 4, 4, 4]");
    refused("deep.toml", &deep, &[], &["deep.toml", "halve"]);
    let never = gan.replace("prior_samples = 2", "prior_samples = 2\nstart_step = 4");
    refused("never.toml", &never, &[], &["never.toml", "start_step 4"]);
    // Resuming a GAN without its [train.adversarial] would drop the discriminator.
    let dropped = vae.replace("tiny.safetensors", "gan.safetensors");
    refused("dropped.toml", &dropped, &["--resume"], &["gan.safetensors", "drop it"]);
    // A plain VAE's file cannot be resumed as a GAN: the model file is named.
    let vae_config = dir.path().join("vae.toml");
    std::fs::write(&vae_config, vae.replace("tiny.safetensors", "vae.safetensors")).unwrap();
    let out = hounsfield(&["--quiet", "shape", "train", vae_config.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let as_gan = gan.replace("gan.safetensors", "vae.safetensors");
    refused(
        "vae_as_gan.toml",
        &as_gan,
        &["--resume"],
        &["vae.safetensors", "without a discriminator"],
    );
}
