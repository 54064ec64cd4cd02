//! The plan of `hounsfield demo`: the end-to-end stages and which of them this build can run.
//!
//! A stage is listed as available only when the crate that implements it exists; the demo never
//! prints a number it did not compute.

use serde::Serialize;

/// One stage of the end-to-end pipeline.
#[derive(Clone, Debug, Serialize)]
pub struct Stage {
    /// Short name, as it appears in the report.
    pub name: &'static str,
    /// The crate that implements it.
    #[serde(rename = "crate")]
    pub crate_name: &'static str,
    /// What the stage does.
    pub description: &'static str,
    /// Whether this build can run it.
    pub available: bool,
}

/// The stages in pipeline order.
pub fn stages() -> Vec<Stage> {
    let stage =
        |name, crate_name, description| Stage { name, crate_name, description, available: false };
    vec![
        stage(
            "phantom",
            "hounsfield-ct",
            "3D Shepp-Logan phantom and its analytic cone-beam projections",
        ),
        stage("noise", "hounsfield-ct", "Poisson and electronic noise on the projections"),
        stage("fdk", "hounsfield-ct", "FDK reconstruction, PSNR and SSIM against the phantom"),
        stage("iterative", "hounsfield-ct", "iterative reconstruction (FISTA-TV), PSNR and SSIM"),
        stage("nifti", "hounsfield-io", "write the volumes as NIfTI and read them back"),
        stage("filter", "hounsfield-filter", "denoising and resampling of the reconstruction"),
        stage(
            "segment",
            "hounsfield-nn",
            "U-Net segmentation trained on the fly, Dice against truth",
        ),
        stage("mesh", "hounsfield-mesh", "watertight surface (STL, PLY) with area and volume"),
        stage(
            "render",
            "hounsfield-render",
            "montage, MIP, volume rendering and mesh preview as PNG",
        ),
        stage("report", "hounsfield-cli", "report.md and report.json with every measured number"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_stage_claims_to_run_before_its_crate_exists() {
        // Every implementing crate is still empty in this build; flip a stage only with its code.
        let s = stages();
        assert_eq!(s.len(), 10);
        assert!(s.iter().all(|st| !st.available));
    }
}
