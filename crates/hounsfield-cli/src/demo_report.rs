//! The demo's report: what every stage measured, as JSON (`--json`, report.json) and as text
//! (the terminal, report.md).

use std::fmt;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::demo::{CtResults, FilterResults, MeshResults, RenderResults, Stage};
use crate::demo_segment::SegmentResults;

/// Everything the demo ran and measured.
#[derive(Clone, Debug, Serialize)]
pub struct DemoReport {
    /// The hounsfield version.
    pub version: &'static str,
    /// Phantom edge in voxels.
    pub size: usize,
    /// Noise seed.
    pub seed: u64,
    /// The stages and whether each is built.
    pub stages: Vec<Stage>,
    /// What each stage measured.
    pub results: DemoResults,
    /// Whether the volumes and pictures were written (`--out`).
    #[serde(skip)]
    pub written: bool,
}

/// What each stage measured.
#[derive(Clone, Debug, Serialize)]
pub struct DemoResults {
    /// CT reconstruction.
    pub ct: CtResults,
    /// NIfTI round trip and filters.
    pub filter: FilterResults,
    /// U-Net segmentation.
    pub segment: SegmentResults,
    /// The head surface.
    pub mesh: MeshResults,
    /// The pictures.
    pub render: RenderResults,
}

impl DemoReport {
    /// Writes report.json and report.md (the text and the pictures) into `dir`, atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        hounsfield_core::fs::write_bytes_atomic(&dir.join("report.json"), json.as_bytes())?;
        let md = format!(
            "# Hounsfield demo report\n\n```text\n{self}```\n\n![montage](montage.png) ![MIP](mip.png) \
             ![volume rendering](dvr.png) ![mesh](mesh.png)\n"
        );
        hounsfield_core::fs::write_bytes_atomic(&dir.join("report.md"), md.as_bytes())?;
        Ok(())
    }
}

impl fmt::Display for DemoReport {
    fn fmt(&self, t: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (stages, written) = (&self.stages, self.written);
        let r = &self.results;
        let (ct, filtered, segmented, mesh, pictures) =
            (&r.ct, &r.filter, &r.segment, &r.mesh, &r.render);
        writeln!(
            t,
            "Hounsfield {} demo: phantom -> CT -> filtering -> segmentation -> mesh -> pictures\n",
            env!("CARGO_PKG_VERSION")
        )?;
        for s in stages {
            let state = if s.available { "ran" } else { "not built yet" };
            writeln!(t, "  {:<10} {:<18} {:<62} {state}", s.name, s.crate_name, s.description)?;
        }
        writeln!(
            t,
            "\nCT: {0}^3 Shepp-Logan, {1} cone-beam views, {2:.0e} photons (seed {3})",
            ct.size, ct.views, ct.photons, ct.seed
        )?;
        writeln!(t, "  FDK       PSNR {:6.2} dB  SSIM {:.4}", ct.fdk_psnr_db, ct.fdk_ssim)?;
        writeln!(
            t,
            "  FISTA-TV  PSNR {:6.2} dB  SSIM {:.4}  ({} iterations)",
            ct.fista_tv_psnr_db, ct.fista_tv_ssim, ct.fista_tv_iterations
        )?;
        let [a, b, c, d] = ct.seconds;
        writeln!(t, "  seconds: phantom {a:.2}, noise {b:.2}, FDK {c:.2}, FISTA-TV {d:.2}")?;
        let f = filtered;
        writeln!(
            t,
            "NIfTI round trip: max difference {}; diffusion on FDK: noise (brain SD) {:.4} -> \
         {:.4}, PSNR {:.2} -> {:.2} dB; resampled to 2 mm: {:?} voxels ({:.2} s)",
            f.nifti_round_trip_max_difference,
            f.fdk_brain_sd,
            f.fdk_smoothed_brain_sd,
            f.fdk_psnr_db,
            f.fdk_smoothed_psnr_db,
            f.resampled_size,
            f.seconds
        )?;
        let g = segmented;
        let [a, b, c] = g.seconds;
        writeln!(
            t,
            "Segmentation: 3D U-Net trained on FDK volumes of {} random heads ({} steps, loss {:.3}), \
         applied to the unseen Shepp-Logan FDK volume: Dice brain {:.4}, skull {:.4} \
         (seconds: data {a:.1}, training {b:.1}, inference {c:.2})",
            g.training_heads, g.steps, g.final_loss, g.dice_brain, g.dice_skull
        )?;
        writeln!(
            t,
            "Mesh: head surface at {} of the FISTA-TV volume: {} triangles, {:.0} mm², {:.0} mm³ \
         ({:+.2}% against the phantom's), watertight {}, Euler characteristic {} ({:.2} s)",
            mesh.level,
            mesh.triangles,
            mesh.area_mm2,
            mesh.volume_mm3,
            mesh.volume_difference_percent,
            mesh.watertight,
            mesh.euler_characteristic,
            mesh.seconds
        )?;
        let state = if written { "written" } else { "drawn (add --out DIR to keep them)" };
        writeln!(
            t,
            "Render: {} {state} ({:.2} s)",
            pictures.pictures.join(", "),
            pictures.seconds
        )?;
        let ready = stages.iter().filter(|s| s.available).count();
        if ready < stages.len() {
            writeln!(
                t,
                "\n{ready} of {} stages are built; the others report nothing.",
                stages.len()
            )?;
        }
        Ok(())
    }
}
