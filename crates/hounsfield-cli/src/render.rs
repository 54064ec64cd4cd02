//! `hounsfield render`: a PNG of a volume (slice, montage, MIP, volume rendering) or a mesh.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use hounsfield_render::{
    DvrOptions, Overlay, Plane, RgbImage, TransferFunction, View, Window, mesh_preview, mip,
    mip_view, montage, slice_image, volume_render,
};
use serde::Serialize;

/// What to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Evenly spaced slices along the plane's normal.
    Montage,
    /// The middle slice (or --slice).
    Slice,
    /// Maximum-intensity projection (along the plane's normal, or from --azimuth/--elevation).
    Mip,
    /// Direct volume rendering with a transfer-function preset.
    Dvr,
}

/// Options of `hounsfield render`.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    /// What to draw (volumes).
    pub mode: Mode,
    /// Plane for slices, montages and axis MIPs.
    pub plane: Plane,
    /// Slice index for `slice`.
    pub slice: Option<usize>,
    /// Slices in a montage.
    pub count: usize,
    /// Display window `(lo, hi)`; default: the 1st to 99th percentile.
    pub window: Option<(f64, f64)>,
    /// DVR preset: bone, soft-tissue, mr.
    pub preset: String,
    /// Camera for DVR, view MIPs and meshes.
    pub view: View,
    /// Use the camera for MIP instead of the plane's normal.
    pub oblique: bool,
    /// Label volume to overlay on slices and montages.
    pub labels: Option<PathBuf>,
}

/// What `hounsfield render` wrote.
#[derive(Debug, Serialize)]
pub struct RenderReport {
    /// The PNG written.
    pub output: PathBuf,
    /// Pixels.
    pub width: usize,
    /// Pixels.
    pub height: usize,
    /// What was drawn.
    pub what: String,
}

impl fmt::Display for RenderReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} -> {} ({} x {})", self.what, self.output.display(), self.width, self.height)
    }
}

fn is_mesh(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["stl", "ply", "obj"].contains(&e.to_ascii_lowercase().as_str()))
}

/// Renders `input` (a volume, or a .stl/.ply/.obj mesh) to `output` (.png).
pub fn render(input: &Path, output: &Path, options: &RenderOptions) -> Result<RenderReport> {
    if !output.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        bail!("{}: the output must be a .png file", output.display());
    }
    // Options that would be ignored are refused: the picture would not be what was asked for.
    if options.labels.is_some()
        && (is_mesh(input) || !matches!(options.mode, Mode::Slice | Mode::Montage))
    {
        bail!("--labels overlays slices and montages of a volume (--mode slice or montage)");
    }
    let (img, what): (RgbImage, String) = if is_mesh(input) {
        let mesh = hounsfield_mesh::io::read_mesh(input)?;
        let img = mesh_preview(&mesh.vertices, &mesh.triangles, &options.view, [20, 20, 28])?;
        (img, format!("mesh preview of {} triangles", mesh.triangles.len()))
    } else {
        let volume = hounsfield_io::open_volume(input)?;
        let window = match options.window {
            Some((lo, hi)) => Window::from_range(lo, hi)?,
            None => Window::auto(&volume)?,
        };
        let labels = match &options.labels {
            Some(path) => {
                let l = hounsfield_io::open_volume(path)?;
                let grid = (volume.geometry(), volume.shape());
                let l = crate::align::on_grid_of(l, grid, path, input)?;
                Some(l.map(|v| v.clamp(0.0, 255.0).round() as u8))
            }
            None => None,
        };
        // Pictures follow the radiological convention whatever the storage order: the
        // volume (and its labels) reordered exactly onto LPS axes, so axial is axial, the
        // patient's left on the right and anterior at the top.
        let volume = crate::demo_ct::on_lps_axes(&volume)?;
        let labels = labels.as_ref().map(crate::demo_ct::on_lps_axes).transpose()?;
        let overlay = labels.as_ref().map(|l| Overlay { labels: l, opacity: 0.45 });
        let plane = options.plane;
        match options.mode {
            Mode::Montage => {
                // A near-square grid: ceil(sqrt(count)) columns.
                let count = options.count.max(1);
                let columns = (1..=count).find(|c| c * c >= count).unwrap_or(count);
                (
                    montage(&volume, plane, count, columns, &window, overlay)?,
                    format!("{plane:?} montage of {count} slices"),
                )
            }
            Mode::Slice => {
                let n = volume.size_xyz()[plane.normal_axis()];
                let index = options.slice.unwrap_or(n / 2);
                (
                    slice_image(&volume, plane, index, &window, overlay)?,
                    format!("{plane:?} slice {index}"),
                )
            }
            Mode::Mip if options.oblique => (
                mip_view(&volume, &window, &options.view)?,
                format!(
                    "MIP from azimuth {}°, elevation {}°",
                    options.view.azimuth, options.view.elevation
                ),
            ),
            Mode::Mip => (mip(&volume, plane, &window), format!("{plane:?} MIP")),
            Mode::Dvr => {
                let tf = TransferFunction::preset(&options.preset, &window)?;
                let dvr = DvrOptions { view: options.view, ..Default::default() };
                (
                    volume_render(&volume, &tf, &dvr)?,
                    format!("volume rendering ({})", options.preset),
                )
            }
        }
    };
    img.write_png(output)?;
    Ok(RenderReport { output: output.to_owned(), width: img.width, height: img.height, what })
}
