//! The Python environment of the peer tools (scikit-image, scipy, SimpleITK, nibabel, pydicom,
//! VTK, trimesh, ASTRA, dcm2niix), pinned in `benches/peers/requirements.txt`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Creates or updates `target/peers` and returns its Python interpreter. Reinstalls only when the
/// requirements file changed since the last successful install.
pub fn venv(root: &Path) -> Result<PathBuf> {
    let dir = root.join("target/peers");
    let python = dir.join("bin/python");
    let requirements = root.join("benches/peers/requirements.txt");
    let wanted = fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = dir.join(".installed-requirements");
    if python.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(python);
    }
    if !python.exists() {
        step(Command::new("python3").args(["-m", "venv"]).arg(&dir), "creating the peers venv")?;
    }
    step(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "--upgrade", "pip"]),
        "upgrading pip in the peers venv",
    )?;
    step(
        Command::new(&python).args(["-m", "pip", "install", "--quiet", "-r"]).arg(&requirements),
        "installing the peer tools",
    )?;
    fs::write(&stamp, wanted).with_context(|| format!("writing {}", stamp.display()))?;
    Ok(python)
}

/// The directory of the NVRTC library the `nvidia-cuda-nvrtc-cu12` wheel installs in the venv
/// (for the kernel compile check of hounsfield-cuda).
pub fn nvrtc_lib(python: &Path) -> Result<PathBuf> {
    let lib = python.parent().and_then(Path::parent).map(|v| v.join("lib")).context("venv root")?;
    for entry in fs::read_dir(&lib).with_context(|| format!("reading {}", lib.display()))? {
        let dir = entry?.path().join("site-packages/nvidia/cuda_nvrtc/lib");
        if dir.join("libnvrtc.so.12").exists() {
            return Ok(dir);
        }
    }
    bail!(
        "no libnvrtc.so.12 under {} (is nvidia-cuda-nvrtc-cu12 in the requirements?)",
        lib.display()
    )
}

fn step(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| what.to_owned())?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}
