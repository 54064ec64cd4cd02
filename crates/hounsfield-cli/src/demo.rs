//! The plan of `hounsfield demo`: the end-to-end stages and which of them this build can run.
//!
//! A stage is listed as available only when the crate that implements it exists; the demo never
//! prints a number it did not compute.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use hounsfield_core::Volume;
use hounsfield_core::metrics::{SsimOptions, psnr, ssim};
use hounsfield_ct::{
    Detector, FbpOptions, ImageGrid, IterOptions, NoiseOptions, Phantom, Projector, ScanGeometry,
    TvOptions, add_noise, fdk, fista_tv, uniform_angles,
};
use hounsfield_io::nifti::{self, NiftiImage};
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
    let stage = |name, crate_name: &'static str, description| Stage {
        name,
        crate_name,
        description,
        available: true,
    };
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

/// What the CT stages measured.
#[derive(Clone, Debug, Serialize)]
pub struct CtResults {
    /// Volume edge in voxels (the phantom is `size^3` voxels of 1 mm).
    pub size: usize,
    /// Seed of the noise.
    pub seed: u64,
    /// Cone-beam views over 360 degrees.
    pub views: usize,
    /// Incident photons per detector pixel.
    pub photons: f64,
    /// FDK against the phantom.
    pub fdk_psnr_db: f64,
    /// FDK against the phantom.
    pub fdk_ssim: f64,
    /// FISTA-TV against the phantom.
    pub fista_tv_psnr_db: f64,
    /// FISTA-TV against the phantom.
    pub fista_tv_ssim: f64,
    /// FISTA-TV iterations run.
    pub fista_tv_iterations: usize,
    /// Seconds per stage: phantom, noise, fdk, iterative.
    pub seconds: [f64; 4],
}

/// Random heads the segmentation stage trains on.
pub const SEGMENT_HEADS: usize = 4;
/// Optimiser steps of the segmentation stage.
pub const SEGMENT_STEPS: usize = 150;

/// Attenuation of the phantom's unit density: water-like, per mm.
pub const SCALE: f32 = 0.02;
/// Incident photons per detector pixel.
pub const PHOTONS: f64 = 1e5;

/// The demo's scan of a `size^3` grid of 1 mm voxels: `2 size` cone-beam views over 360 degrees
/// on a panel 1.5x the volume at magnification 2.
pub fn demo_scan(size: usize) -> Result<(ImageGrid, ScanGeometry)> {
    let grid = ImageGrid::new_3d([size; 3], [1.0; 3])?;
    let cols = size * 3 / 2;
    let panel = Detector::panel(cols, cols, 2.0, 2.0);
    let sod = 4.0 * size as f64;
    let angles = uniform_angles(2 * size, 0.0, std::f64::consts::TAU);
    Ok((grid, ScanGeometry::cone(angles, panel, sod, 2.0 * sod)?))
}

/// The FDK reconstruction of `phantom` from noisy projections of the demo scan, in phantom units.
pub fn simulate_fdk(
    phantom: &Phantom,
    grid: &ImageGrid,
    geometry: &ScanGeometry,
    seed: u64,
) -> Result<Volume<f32>> {
    let clean = phantom.project(geometry, 1)? * SCALE;
    let noisy = add_noise(clean.view(), &NoiseOptions::poisson(PHOTONS, seed))?;
    let image = fdk(geometry, grid, noisy.view(), &FbpOptions::default())? / SCALE;
    Ok(grid.volume_of(image)?)
}

/// Phantom -> noisy cone-beam projections -> FDK and FISTA-TV -> PSNR/SSIM: a 3D Shepp-Logan of
/// `size^3` 1 mm voxels scaled to water-like attenuation (0.02/mm), `2 size` views over 360
/// degrees on a panel 1.5x the volume at magnification 2, 1e5 photons. Writes the volumes into
/// `out` when given.
pub fn run_ct(size: usize, seed: u64, out: Option<&Path>) -> Result<CtOutput> {
    let size = size.clamp(16, 256);
    let clock = Instant::now();
    let (grid, geometry) = demo_scan(size)?;
    let views = geometry.views();
    let phantom = Phantom::shepp_logan_3d(size as f64 / 2.0 - 1.0);
    let truth = phantom.rasterize(&grid, 3)?;
    let clean = phantom.project(&geometry, 1)? * SCALE;
    let t_phantom = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let noisy = add_noise(clean.view(), &NoiseOptions::poisson(PHOTONS, seed))?;
    let t_noise = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let fdk_scaled = fdk(&geometry, &grid, noisy.view(), &FbpOptions::default())?;
    let fdk_image = &fdk_scaled / SCALE;
    let t_fdk = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let projector = Projector::new(grid.clone(), geometry)?;
    // Started from FDK, a few FISTA-TV iterations remove noise and cone-beam streaks.
    let iterations = 10;
    let tv = TvOptions { lambda: 0.05, inner_iterations: 10 };
    let iterative = fista_tv(
        &projector,
        noisy.view(),
        Some(&fdk_scaled.mapv(|v| v.max(0.0))),
        &tv,
        &IterOptions::iterations(iterations),
        &mut hounsfield_ct::no_monitor,
    )? / SCALE;
    let t_iter = clock.elapsed().as_secs_f64();
    let volume = |a: ndarray::ArrayD<f32>| -> Result<Volume<f32>> { Ok(grid.volume_of(a)?) };
    let (truth, fdk_image, iterative) = (volume(truth)?, volume(fdk_image)?, volume(iterative)?);
    let options = SsimOptions::new(1.0);
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        for (name, v) in [("phantom", &truth), ("fdk", &fdk_image), ("fista_tv", &iterative)] {
            nifti::write_nifti(
                dir.join(format!("{name}.nii.gz")),
                &NiftiImage::from_volume(v.clone()),
            )?;
        }
    }
    let results = CtResults {
        size,
        seed,
        views,
        photons: PHOTONS,
        fdk_psnr_db: psnr(&truth, &fdk_image, 1.0)?,
        fdk_ssim: ssim(&truth, &fdk_image, &options)?,
        fista_tv_psnr_db: psnr(&truth, &iterative, 1.0)?,
        fista_tv_ssim: ssim(&truth, &iterative, &options)?,
        fista_tv_iterations: iterations,
        seconds: [t_phantom, t_noise, t_fdk, t_iter],
    };
    Ok(CtOutput { results, phantom: truth, fdk: fdk_image, reconstruction: iterative })
}

/// The CT stages' numbers and the volumes later stages use.
pub struct CtOutput {
    /// What the CT stages measured.
    pub results: CtResults,
    /// The phantom on the reconstruction grid.
    pub phantom: Volume<f32>,
    /// The FDK reconstruction.
    pub fdk: Volume<f32>,
    /// The FISTA-TV reconstruction.
    pub reconstruction: Volume<f32>,
}

/// What the NIfTI and filtering stages measured.
#[derive(Clone, Debug, Serialize)]
pub struct FilterResults {
    /// Largest difference between the FISTA-TV volume and its NIfTI round trip (0: lossless).
    pub nifti_round_trip_max_difference: f64,
    /// FDK PSNR before and after edge-preserving (Perona-Malik) diffusion, dB.
    pub fdk_psnr_db: f64,
    /// After the diffusion.
    pub fdk_smoothed_psnr_db: f64,
    /// Standard deviation of the FDK volume inside the phantom's brain (value 0.2): the noise.
    pub fdk_brain_sd: f64,
    /// The same after smoothing.
    pub fdk_smoothed_brain_sd: f64,
    /// Voxels of the reconstruction resampled to 2 mm (B-spline), x y z.
    pub resampled_size: [usize; 3],
    /// Seconds.
    pub seconds: f64,
}

/// NIfTI round trip of the reconstruction (through `out`, or a temporary directory),
/// anisotropic diffusion of the noisy FDK volume with its PSNR and noise, and resampling to 2 mm.
pub fn run_filter(ct: &CtOutput, out: Option<&Path>) -> Result<FilterResults> {
    use hounsfield_filter::diffusion::{DiffusionOptions, anisotropic_diffusion};
    use hounsfield_filter::{Interpolation, ResampleOptions, resample};
    let clock = Instant::now();
    let scratch = std::env::temp_dir().join(format!("hounsfield-demo-{}", std::process::id()));
    let dir = match out {
        Some(d) => d.to_path_buf(),
        None => {
            std::fs::create_dir_all(&scratch)?;
            scratch.clone()
        }
    };
    let path = dir.join("fista_tv.nii.gz");
    nifti::write_nifti(&path, &NiftiImage::from_volume(ct.reconstruction.clone()))?;
    let back = nifti::read_nifti(&path)?
        .scaled_f32(0)
        .ok_or_else(|| anyhow::anyhow!("no volume read back"))?;
    if out.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    let difference = back
        .as_slice()
        .iter()
        .zip(ct.reconstruction.as_slice())
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    // Edge-preserving: conductance 0.05 per mm sits between the noise's gradients and the
    // phantom's edges (0.1 to 1 per voxel); a Gaussian would blur this 48^3 phantom's thin skull
    // more than it removes noise.
    let options = DiffusionOptions::new(10, 0.05);
    let smoothed = anisotropic_diffusion(&ct.fdk, &options)?;
    let options = ResampleOptions::default().with_interpolation(Interpolation::BSpline3);
    let coarse = resample::resample_to_spacing(&ct.reconstruction, [2.0; 3], &options)?;
    // Noise: spread of the values where the phantom is exactly the brain's 0.2.
    let brain_sd = |v: &Volume<f32>| {
        let values: Vec<f64> = v
            .as_slice()
            .iter()
            .zip(ct.phantom.as_slice())
            .filter(|(_, p)| (**p - 0.2).abs() < 1e-6)
            .map(|(x, _)| f64::from(*x))
            .collect();
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        (values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / values.len().max(1) as f64).sqrt()
    };
    Ok(FilterResults {
        fdk_brain_sd: brain_sd(&ct.fdk),
        fdk_smoothed_brain_sd: brain_sd(&smoothed),
        nifti_round_trip_max_difference: difference,
        fdk_psnr_db: psnr(&ct.phantom, &ct.fdk, 1.0)?,
        fdk_smoothed_psnr_db: psnr(&ct.phantom, &smoothed, 1.0)?,
        resampled_size: coarse.size_xyz(),
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// What the mesh stage measured.
#[derive(Clone, Debug, Serialize)]
pub struct MeshResults {
    /// The isolevel (background 0, brain 0.2, skull 1).
    pub level: f64,
    /// Triangles after smoothing.
    pub triangles: usize,
    /// Surface area, mm².
    pub area_mm2: f64,
    /// Enclosed volume, mm³.
    pub volume_mm3: f64,
    /// Closed, manifold, consistently wound.
    pub watertight: bool,
    /// 2 for a sphere-like surface.
    pub euler_characteristic: i64,
    /// The same pipeline on the phantom itself.
    pub phantom_volume_mm3: f64,
    /// `100 (volume / phantom volume - 1)`.
    pub volume_difference_percent: f64,
    /// Seconds for both surfaces.
    pub seconds: f64,
}

/// The outer surface of the head: the largest component of the `level = 0.1` isosurface,
/// Taubin-smoothed, from the reconstruction and from the phantom; STL and PLY into `out`.
pub fn run_mesh(
    ct: &CtOutput,
    out: Option<&Path>,
) -> Result<(MeshResults, hounsfield_mesh::TriMesh)> {
    use hounsfield_mesh::{
        IsoOptions, TaubinOptions, isosurface, keep_largest_component, taubin_smooth,
    };
    let clock = Instant::now();
    // Between the background (0) and the brain (0.2): the outer surface of the head.
    let level = 0.1;
    let surface = |v: &Volume<f32>| -> Result<hounsfield_mesh::TriMesh> {
        let mesh = keep_largest_component(&isosurface(v, level, &IsoOptions::default())?);
        Ok(taubin_smooth(&mesh, &TaubinOptions::default())?)
    };
    let mesh = surface(&ct.reconstruction)?;
    let reference = surface(&ct.phantom)?;
    let seconds = clock.elapsed().as_secs_f64();
    if let Some(dir) = out {
        for name in ["head.stl", "head.ply"] {
            hounsfield_mesh::io::write_mesh(&dir.join(name), &mesh)?;
        }
    }
    let s = mesh.stats();
    let phantom_volume = reference.signed_volume();
    let results = MeshResults {
        level,
        triangles: s.triangles,
        area_mm2: s.area,
        volume_mm3: s.volume,
        watertight: s.is_watertight(),
        euler_characteristic: s.euler_characteristic,
        phantom_volume_mm3: phantom_volume,
        volume_difference_percent: 100.0 * (s.volume / phantom_volume - 1.0),
        seconds,
    };
    Ok((results, mesh))
}

/// What the render stage drew.
#[derive(Clone, Debug, Serialize)]
pub struct RenderResults {
    /// PNG files written (names in the output directory), or those that would be written.
    pub pictures: Vec<String>,
    /// Seconds for all pictures.
    pub seconds: f64,
}

/// Montage of the reconstruction with the phantom's head as overlay, coronal MIP, a volume
/// rendering and the head mesh preview, written into `out` when given.
pub fn run_render(
    ct: &CtOutput,
    mesh: &hounsfield_mesh::TriMesh,
    out: Option<&Path>,
) -> Result<RenderResults> {
    use hounsfield_render::{
        DvrOptions, Overlay, Plane, TransferFunction, View, Window, mesh_preview, mip, montage,
        volume_render,
    };
    let clock = Instant::now();
    let window = Window::from_range(0.0, 1.0)?;
    // The overlay marks the phantom's bright structures (skull and the small ellipsoids).
    let labels = ct.phantom.map(|v| u8::from(v > 0.25));
    let overlay = Overlay { labels: &labels, opacity: 0.35 };
    let view = View { azimuth: 30.0, elevation: 20.0, size: 320 };
    // The head semi-transparent (brain 0.2), the skull (1) opaque ivory.
    let cp = |value, colour, opacity| hounsfield_render::ControlPoint { value, colour, opacity };
    let soft = TransferFunction {
        points: vec![
            cp(0.1, [0.7, 0.45, 0.4], 0.0),
            cp(0.2, [0.8, 0.5, 0.45], 0.03),
            cp(0.5, [0.9, 0.8, 0.7], 0.2),
            cp(1.0, [1.0, 0.97, 0.9], 0.8),
        ],
    };
    let pictures = [
        ("montage.png", montage(&ct.reconstruction, Plane::Axial, 9, 3, &window, Some(overlay))?),
        ("mip.png", mip(&ct.reconstruction, Plane::Coronal, &window)),
        (
            "dvr.png",
            volume_render(&ct.reconstruction, &soft, &DvrOptions { view, ..Default::default() })?,
        ),
        ("mesh.png", mesh_preview(&mesh.vertices, &mesh.triangles, &view, [20, 20, 28])?),
    ];
    if let Some(dir) = out {
        for (name, picture) in &pictures {
            picture.write_png(&dir.join(name))?;
        }
    }
    Ok(RenderResults {
        pictures: pictures
            .iter()
            .map(|(n, p)| format!("{n} ({} x {})", p.width, p.height))
            .collect(),
        seconds: clock.elapsed().as_secs_f64(),
    })
}

/// What the MRI path measured.
#[derive(Clone, Debug, Serialize)]
pub struct MriResults {
    /// The input file.
    pub input: String,
    /// Otsu's threshold of the intensities.
    pub threshold: f64,
    /// Brain-mask volume, ml.
    pub mask_ml: f64,
    /// Dice against the reference mask, when one was given.
    pub dice: Option<f64>,
    /// The brain surface: triangles after smoothing and decimation.
    pub triangles: usize,
    /// Its area, mm².
    pub area_mm2: f64,
    /// Its enclosed volume, mm³.
    pub volume_mm3: f64,
    /// Closed, manifold, consistently wound.
    pub watertight: bool,
    /// Pictures drawn.
    pub pictures: Vec<String>,
    /// Seconds per step: mask, mesh, pictures.
    pub seconds: [f64; 3],
}

impl std::fmt::Display for MriResults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "MRI demo on {}", self.input)?;
        let dice =
            self.dice.map_or(String::new(), |d| format!(", Dice against the reference {d:.4}"));
        writeln!(
            f,
            "  brain mask: Otsu threshold {:.1}, {:.0} ml{dice}",
            self.threshold, self.mask_ml
        )?;
        writeln!(
            f,
            "  brain surface: {} triangles, {:.0} mm², {:.0} mm³, watertight {}",
            self.triangles, self.area_mm2, self.volume_mm3, self.watertight
        )?;
        writeln!(f, "  pictures: {}", self.pictures.join(", "))?;
        let [a, b, c] = self.seconds;
        writeln!(f, "  seconds: mask {a:.2}, mesh {b:.2}, pictures {c:.2}")
    }
}

/// The real-data path on a T1 brain MRI: a classical brain mask (Otsu threshold, a 5 mm
/// erosion that cuts the brain from the scalp, the largest component, reconstruction by
/// dilation within the threshold mask, holes filled), the brain's surface (smoothed,
/// decimated) and pictures; Dice against `reference` (mask > 0) when given. (A U-Net mask
/// comes from `hounsfield segment`; this path stays classical so that it needs no model.)
pub fn run_mri(input: &Path, reference: Option<&Path>, out: Option<&Path>) -> Result<MriResults> {
    use hounsfield_mesh::{
        IsoOptions, TaubinOptions, decimate, isosurface, keep_largest_component, taubin_smooth,
    };
    use hounsfield_render::{
        DvrOptions, Overlay, Plane, TransferFunction, View, Window, mesh_preview, montage,
        volume_render,
    };
    let read = |p: &Path| -> Result<Volume<f32>> { Ok(hounsfield_io::open_volume(p)?) };
    let clock = Instant::now();
    let t1 = read(input)?;
    let hounsfield_filter::brain::BrainMask { mask, threshold: level } =
        hounsfield_filter::brain::brain_mask(&t1, 5.0)?;
    let voxel_ml = mask.geometry().voxel_volume() / 1000.0;
    let mask_ml = mask.as_slice().iter().filter(|&&v| v != 0).count() as f64 * voxel_ml;
    let dice = match reference {
        Some(p) => {
            let r = read(p)?.map(|v| u8::from(v > 0.0));
            Some(hounsfield_core::metrics::dice(&r, &mask)?)
        }
        None => None,
    };
    let t_mask = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    // A voxel of background around the mask closes the surface where the brain stem leaves
    // the field of view.
    let padded = hounsfield_filter::reshape::pad(&mask, [1; 3], [1; 3], 0u8)?;
    let surface = keep_largest_component(&isosurface(&padded, 0.5, &IsoOptions::default())?);
    let surface = decimate(
        &taubin_smooth(&surface, &TaubinOptions { iterations: 20, ..Default::default() })?,
        0.3,
    )?;
    let stats = surface.stats();
    let t_mesh = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let window = Window::auto(&t1)?;
    let view = View { azimuth: 60.0, elevation: 20.0, size: 320 };
    let pictures = [
        (
            "mri_montage.png",
            montage(
                &crate::demo_ct::on_lps_axes(&t1)?,
                Plane::Axial,
                9,
                3,
                &window,
                Some(Overlay { labels: &crate::demo_ct::on_lps_axes(&mask)?, opacity: 0.3 }),
            )?,
        ),
        (
            "mri_dvr.png",
            volume_render(
                &t1,
                &TransferFunction::mr(&window),
                &DvrOptions { view, ..Default::default() },
            )?,
        ),
        (
            "brain_mesh.png",
            mesh_preview(&surface.vertices, &surface.triangles, &view, [20, 20, 28])?,
        ),
    ];
    if let Some(dir) = out {
        std::fs::create_dir_all(dir)?;
        for (name, p) in &pictures {
            p.write_png(&dir.join(name))?;
        }
        hounsfield_mesh::io::write_mesh(&dir.join("brain.stl"), &surface)?;
        let mask_image = NiftiImage::from_volume(mask.clone());
        nifti::write_nifti(dir.join("brain_mask.nii.gz"), &mask_image)?;
    }
    Ok(MriResults {
        input: input.display().to_string(),
        threshold: level,
        mask_ml,
        dice,
        triangles: stats.triangles,
        area_mm2: stats.area,
        volume_mm3: stats.volume,
        watertight: stats.is_watertight(),
        pictures: pictures
            .iter()
            .map(|(n, p)| format!("{n} ({} x {})", p.width, p.height))
            .collect(),
        seconds: [t_mask, t_mesh, clock.elapsed().as_secs_f64()],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_runs() {
        let s = stages();
        assert_eq!(s.len(), 10);
        assert!(s.iter().all(|st| st.available));
    }
}
