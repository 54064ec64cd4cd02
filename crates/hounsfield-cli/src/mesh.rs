//! `hounsfield mesh`: the isosurface of a volume, written as STL, PLY or OBJ, with its measures.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hounsfield_mesh::io::write_mesh;
use hounsfield_mesh::{
    IsoOptions, LabelOptions, MeshStats, TaubinOptions, TriMesh, WindowedSincOptions, decimate,
    isosurface, keep_largest_component, label_surfaces, taubin_smooth, windowed_sinc_smooth,
};
use serde::Serialize;

/// What `hounsfield mesh` wrote.
#[derive(Debug, Serialize)]
pub struct MeshReport {
    /// The file written.
    pub output: PathBuf,
    /// The isolevel.
    pub level: f64,
    /// Measures of the mesh.
    #[serde(flatten)]
    pub stats: MeshStats,
    /// No holes, manifold, consistently wound.
    pub watertight: bool,
    /// Seconds spent extracting and post-processing the surface.
    pub seconds: f64,
}

impl fmt::Display for MeshReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(f, "isosurface at {} -> {}", self.level, self.output.display())?;
        writeln!(
            f,
            "  {} vertices, {} triangles, {} component(s)",
            s.vertices, s.triangles, s.components
        )?;
        writeln!(f, "  area {:.2} mm², enclosed volume {:.2} mm³", s.area, s.volume)?;
        writeln!(
            f,
            "  watertight: {} (boundary edges {}, non-manifold edges {}), Euler characteristic {}",
            if self.watertight { "yes" } else { "no" },
            s.boundary_edges,
            s.non_manifold_edges,
            s.euler_characteristic
        )?;
        writeln!(f, "  {:.2} s", self.seconds)
    }
}

/// What to do to the surface after extraction, in this order.
#[derive(Clone, Copy, Debug, Default)]
pub struct PostProcess {
    /// Keep only the largest connected component.
    pub largest: bool,
    /// Smoothing passes (0 = none): Taubin λ|μ pairs, or the order of the windowed-sinc filter.
    pub smooth: usize,
    /// Windowed-sinc smoothing instead of Taubin's.
    pub sinc: bool,
    /// Decimate to this fraction of the triangles.
    pub decimate: Option<f64>,
    /// Leave the isosurface open where it meets the volume's edge.
    pub open: bool,
}

impl PostProcess {
    fn apply(&self, mut mesh: TriMesh) -> Result<TriMesh> {
        if self.largest {
            mesh = keep_largest_component(&mesh);
        }
        if self.smooth > 0 && self.sinc {
            let options = WindowedSincOptions { iterations: self.smooth, ..Default::default() };
            mesh = windowed_sinc_smooth(&mesh, &options)?;
        } else if self.smooth > 0 {
            let options = TaubinOptions { iterations: self.smooth, ..Default::default() };
            mesh = taubin_smooth(&mesh, &options)?;
        }
        if let Some(ratio) = self.decimate {
            mesh = decimate(&mesh, ratio)?;
        }
        Ok(mesh)
    }
}

/// One label's surface as `hounsfield mesh --labels` reports it.
#[derive(Debug, Serialize)]
pub struct LabelReport {
    /// The label value.
    pub label: i64,
    /// The file written.
    pub output: PathBuf,
    /// Measures of the mesh.
    #[serde(flatten)]
    pub stats: MeshStats,
    /// No holes, manifold, consistently wound.
    pub watertight: bool,
}

/// What `hounsfield mesh --labels` wrote.
#[derive(Debug, Serialize)]
pub struct LabelsReport {
    /// One entry per label, in label order.
    pub labels: Vec<LabelReport>,
    /// Seconds for all surfaces.
    pub seconds: f64,
}

impl fmt::Display for LabelsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.labels {
            let s = &l.stats;
            writeln!(
                f,
                "label {} -> {}: {} triangles, area {:.2} mm², volume {:.2} mm³, watertight: {} \
                 (boundary edges {}, non-manifold edges {})",
                l.label,
                l.output.display(),
                s.triangles,
                s.area,
                s.volume,
                if l.watertight { "yes" } else { "no" },
                s.boundary_edges,
                s.non_manifold_edges
            )?;
        }
        writeln!(f, "  {:.2} s", self.seconds)
    }
}

/// `<dir>/<stem>_<label>.<ext>` for `<dir>/<stem>.<ext>`.
fn label_path(output: &Path, label: i64) -> PathBuf {
    let stem = output.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let ext = output.extension().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!("{stem}_{label}.{ext}"))
}

/// One surface per non-zero label of `input` (shared boundaries between neighbours, kept by
/// `relaxation` joint smoothing passes), written as `<output stem>_<label>.<ext>`; `largest`
/// keeps each label's largest component. No per-label smoothing or decimation: either would
/// move a shared boundary differently in the two labels' meshes.
pub fn mesh_labels(
    input: &Path,
    output: &Path,
    largest: bool,
    relaxation: usize,
) -> Result<LabelsReport> {
    hounsfield_mesh::io::MeshFormat::from_path(output)?;
    let volume = hounsfield_io::open_volume(input)?;
    let start = std::time::Instant::now();
    let options = LabelOptions { relaxation_iterations: relaxation, ..Default::default() };
    let surfaces =
        label_surfaces(&volume, &options).with_context(|| format!("{}", input.display()))?;
    let post = PostProcess { largest, ..Default::default() };
    if surfaces.is_empty() {
        anyhow::bail!("{}: no label other than 0", input.display());
    }
    let mut labels = Vec::with_capacity(surfaces.len());
    let mut outputs = crate::outputs::Outputs::new();
    for s in surfaces {
        let mesh = post.apply(s.mesh)?;
        let path = label_path(output, s.label);
        outputs.write(&path, |p| Ok(write_mesh(p, &mesh)?))?;
        let stats = mesh.stats();
        labels.push(LabelReport {
            label: s.label,
            output: path,
            stats,
            watertight: stats.is_watertight(),
        });
    }
    outputs.keep();
    Ok(LabelsReport { labels, seconds: start.elapsed().as_secs_f64() })
}

/// Extracts the `level` isosurface of `input`'s first volume, post-processes it and writes it
/// to `output`.
pub fn mesh(input: &Path, output: &Path, level: f64, post: &PostProcess) -> Result<MeshReport> {
    // Check the output format before the (possibly long) extraction.
    hounsfield_mesh::io::MeshFormat::from_path(output)?;
    let mut volume = hounsfield_io::open_volume(input)?;
    let start = std::time::Instant::now();
    if !post.open {
        // One voxel of "outside" around the volume closes the surface where it meets the edge
        // (the vertices stay where they were: the padding lies beyond the original grid).
        let (lo, _) = volume.min_max().unwrap_or((level, level));
        let outside = (lo.min(level) - 1.0) as f32;
        volume = hounsfield_filter::reshape::pad(&volume, [1; 3], [1; 3], outside)?;
    }
    let mut mesh = isosurface(&volume, level, &IsoOptions::default())?;
    if mesh.is_empty() {
        anyhow::bail!(
            "{}: no surface at level {level} (the volume is entirely on one side)",
            input.display()
        );
    }
    mesh = post.apply(mesh)?;
    let seconds = start.elapsed().as_secs_f64();
    write_mesh(output, &mesh)?;
    let stats = mesh.stats();
    Ok(MeshReport {
        output: output.to_owned(),
        level,
        stats,
        watertight: stats.is_watertight(),
        seconds,
    })
}
