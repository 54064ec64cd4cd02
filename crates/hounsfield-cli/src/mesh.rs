//! `hounsfield mesh`: the isosurface of a volume, written as STL, PLY or OBJ, with its measures.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hounsfield_mesh::io::write_mesh;
use hounsfield_mesh::{IsoOptions, MeshStats, isosurface};
use serde::Serialize;

use crate::volume_info::{ConvertOptions, read_image};

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
    /// Seconds spent extracting the surface.
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

/// Extracts the `level` isosurface of `input`'s first volume and writes it to `output`.
pub fn mesh(input: &Path, output: &Path, level: f64) -> Result<MeshReport> {
    // Check the output format before the (possibly long) extraction.
    hounsfield_mesh::io::MeshFormat::from_path(output)?;
    let image = read_image(input, &ConvertOptions::default())?;
    let volume = image.scaled_f32(0).context("an image without voxels")?;
    let start = std::time::Instant::now();
    let mesh = isosurface(&volume, level, &IsoOptions::default())?;
    let seconds = start.elapsed().as_secs_f64();
    if mesh.is_empty() {
        anyhow::bail!(
            "{}: no surface at level {level} (the volume is entirely on one side)",
            input.display()
        );
    }
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
