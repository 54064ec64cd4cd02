//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: format check, clippy with warnings as errors, the layer rule, hounsfield-io without
//!   DICOM, then every test (doc tests included) with `HOUNSFIELD_TESTDATA` and `HOUNSFIELD_PYTHON` set after fetching the
//!   test data and the peers venv; then the Python package, built by maturin into the peers
//!   venv, and its pytest suite. This is the README's test command and what `.ci/run` runs.
//! - `testdata`: fetches the pinned pydicom, pydicom-data, nibabel and dcm2niix wheels from PyPI
//!   into `target/testdata`, checks their SHA-256 and unpacks them (idempotent).
//! - `peers`: a Python venv in `target/peers` with the peer tools the benchmark scripts time.
//! - `bench`: the criterion benches, then the peer scripts on the same inputs.
//! - `demo`: the end-to-end demo in release mode.
//! - `layers`: the layer rule alone.
#![allow(clippy::print_stdout)]

mod layers;
mod peers;
mod testdata;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

fn main() -> ExitCode {
    match xtask() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn xtask() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root).with_context(|| format!("entering {}", root.display()))?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("testdata") => testdata::fetch(&root)
            .map(|dir| println!("test data ready: HOUNSFIELD_TESTDATA={}", dir.display())),
        Some("peers") => {
            peers::venv(&root).map(|py| println!("peer tools ready: {}", py.display()))
        }
        Some("bench") => bench(&root, &args[1..]),
        Some("demo") => {
            run("cargo", &["run", "--release", "--package", "hounsfield-cli", "--", "demo"])
        }
        Some("layers") => layers::check(),
        _ => {
            println!(
                "usage: cargo xtask <ci | testdata | peers | bench [--peers] | demo | layers>"
            );
            bail!("unknown or missing command")
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Runs a command with inherited stdio; fails with its exit status.
fn run(program: &str, args: &[&str]) -> Result<()> {
    run_with_env(program, args, &[])
}

/// [`run`] with extra environment variables.
fn run_with_env(program: &str, args: &[&str], envs: &[(&str, &Path)]) -> Result<()> {
    println!("$ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_os_str())))
        .status()
        .with_context(|| format!("starting {program}"))?;
    if !status.success() {
        bail!("`{program} {}` failed with {status}", args.join(" "));
    }
    Ok(())
}

/// hounsfield-io without its default features reads and writes NIfTI with no DICOM crate in
/// the build: it compiles (tests included) and its dependency tree names no dicom crate.
fn nifti_only_io() -> Result<()> {
    let args = ["-p", "hounsfield-io", "--no-default-features", "--locked"];
    run("cargo", &[&["clippy", "--all-targets"][..], &args, &["--", "-D", "warnings"]].concat())?;
    let tree = Command::new("cargo")
        .args(["tree", "-e", "normal", "--prefix", "none"])
        .args(args)
        .output()
        .context("running cargo tree")?;
    if !tree.status.success() {
        bail!("cargo tree failed: {}", String::from_utf8_lossy(&tree.stderr));
    }
    let text = String::from_utf8_lossy(&tree.stdout);
    if let Some(line) = text.lines().find(|l| l.contains("dicom")) {
        bail!("hounsfield-io without default features still depends on {line}");
    }
    println!("hounsfield-io --no-default-features: NIfTI only, no dicom crate");
    Ok(())
}

fn ci(root: &Path) -> Result<()> {
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run("cargo", &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"])?;
    layers::check()?;
    nifti_only_io()?;
    // Real files and the peer tools, so no test is skipped for want of them.
    let testdata = testdata::fetch(root)?;
    let python = peers::venv(root)?;
    // NVRTC from the venv, so hounsfield-cuda's test compiles every kernel to PTX (no GPU needed).
    let nvrtc = peers::nvrtc_lib(&python)?;
    let envs = [
        ("HOUNSFIELD_TESTDATA", testdata.as_path()),
        ("HOUNSFIELD_PYTHON", python.as_path()),
        ("LD_LIBRARY_PATH", nvrtc.as_path()),
        ("HOUNSFIELD_REQUIRE_NVRTC", Path::new("1")),
        // hounsfield-serve's tests send with dcmtk and drive the page in Debian's chromium
        // (both installed by .ci/run): fail, not skip, without them.
        ("HOUNSFIELD_REQUIRE_DCMTK", Path::new("1")),
        ("HOUNSFIELD_REQUIRE_CHROMIUM", Path::new("1")),
    ];
    // The GPU paths build and pass lint on every machine (their GPU tests are `#[ignore]`d here and
    // run on a GPU by scripts/gpu-tests.sh).
    let lint = [
        "clippy",
        "--all-targets",
        "--locked",
        "-p",
        "hounsfield-ct",
        "-p",
        "hounsfield-nn",
        "-p",
        "hounsfield-cli",
        "--features",
        "hounsfield-ct/cuda,hounsfield-nn/cuda,hounsfield-cli/cuda",
        "--",
        "-D",
        "warnings",
    ];
    run("cargo", &lint)?;
    // --all-targets builds and runs lib, bin, integration tests, examples and benches (criterion
    // runs each bench once in test mode); doc tests need their own invocation.
    run_with_env("cargo", &["test", "--workspace", "--all-targets", "--locked"], &envs)?;
    run_with_env("cargo", &["test", "--workspace", "--doc", "--locked"], &envs)?;
    // The CUDA kernels' logic on the CPU (hounsfield-cuda's emulator: the CUDA C compiled by g++)
    // against the CPU projector, back-projection and convolution; the GPU-only tests stay ignored.
    let cuda_tests = [
        "test",
        "--locked",
        "-p",
        "hounsfield-ct",
        "-p",
        "hounsfield-nn",
        "--features",
        "hounsfield-ct/cuda,hounsfield-nn/cuda",
        "--lib",
        "--test",
        "gpu",
        "--test",
        "ops",
    ];
    run_with_env("cargo", &cuda_tests, &envs)?;
    python_package(root, &python, &envs)?;
    println!("xtask ci: all checks passed");
    Ok(())
}

/// The `hounsfield` Python package: maturin builds it into the peers venv (dev profile, so it
/// shares target/ with the tests above and rebuilds only the bindings), then pytest runs its
/// tests against numpy, scipy, nibabel, SimpleITK, scikit-image, trimesh and dask-image.
fn python_package(root: &Path, python: &Path, envs: &[(&str, &Path)]) -> Result<()> {
    let venv = python.parent().and_then(Path::parent).context("venv root")?;
    let maturin = venv.join("bin/maturin");
    let manifest = root.join("crates/hounsfield-python/Cargo.toml");
    let tests = root.join("crates/hounsfield-python/tests");
    let (Some(maturin), Some(manifest), Some(tests), Some(python)) =
        (maturin.to_str(), manifest.to_str(), tests.to_str(), python.to_str())
    else {
        bail!("non-UTF-8 path under {}", root.display());
    };
    let venv_env = [("VIRTUAL_ENV", venv)];
    run_with_env(maturin, &["develop", "--locked", "--quiet", "-m", manifest], &venv_env)?;
    run_with_env(python, &["-m", "pytest", "-q", "-p", "no:cacheprovider", tests], envs)
}

fn bench(root: &Path, args: &[String]) -> Result<()> {
    run("cargo", &["bench", "--package", "hounsfield-benches"])?;
    if args.iter().any(|a| a == "--peers") {
        let python = peers::venv(root)?;
        let script = root.join("benches/peers/run_all.py");
        let py = python.to_string_lossy().into_owned();
        run(&py, &[&script.to_string_lossy()])?;
    }
    Ok(())
}
