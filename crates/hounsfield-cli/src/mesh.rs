//! `hounsfield mesh`: the isosurface of a volume, written as STL, PLY or OBJ, with its measures.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use hounsfield_core::chunk::{ChunkSource, Region};
use hounsfield_core::{Geometry, Volume};
use hounsfield_io::OpenOptions;
use hounsfield_io::zarr::ZarrRead;
use hounsfield_mesh::chunked::isosurface_chunked;
use hounsfield_mesh::io::write_mesh;
use hounsfield_mesh::{
    IsoOptions, LabelOptions, MeshStats, TaubinOptions, TriMesh, WindowedSincOptions, decimate,
    isosurface, keep_largest_component, label_surfaces, taubin_smooth, windowed_sinc_smooth,
};
use rayon::prelude::*;
use serde::Serialize;

use crate::zarr_io::ZarrIo;

/// A chunk source with one voxel of `value` around it (the padding lies beyond the grid).
struct Padded<'a> {
    inner: &'a dyn ChunkSource<f32>,
    shape: [usize; 3],
    geometry: Geometry,
    value: f32,
}

impl<'a> Padded<'a> {
    fn new(inner: &'a dyn ChunkSource<f32>, value: f32) -> hounsfield_core::Result<Self> {
        let g = inner.geometry();
        let geometry = g.with_origin(g.index_to_physical([-1.0; 3]))?;
        Ok(Padded { inner, shape: inner.shape().map(|n| n + 2), geometry, value })
    }
}

impl ChunkSource<f32> for Padded<'_> {
    fn shape(&self) -> [usize; 3] {
        self.shape
    }

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn read(&self, region: &Region) -> hounsfield_core::Result<Volume<f32>> {
        let inner = self.inner.shape();
        // The part of `region` inside the original grid, in its indices.
        let lo: [usize; 3] = std::array::from_fn(|k| region.start[k].max(1) - 1);
        let hi: [usize; 3] =
            std::array::from_fn(|k| (region.end()[k].min(inner[k] + 1)).max(1) - 1);
        let geometry = hounsfield_core::chunk::region_geometry(&self.geometry, region)?;
        let mut out = Volume::filled(region.shape, self.value, geometry)?;
        if (0..3).any(|k| hi[k] <= lo[k]) {
            return Ok(out);
        }
        let part = self.inner.read(&Region::new(lo, std::array::from_fn(|k| hi[k] - lo[k]))?)?;
        let [pz, py, px] = part.shape();
        let [_, ry, rx] = region.shape;
        let at: [usize; 3] = std::array::from_fn(|k| lo[k] + 1 - region.start[k]);
        let values = out.as_slice_mut();
        for z in 0..pz {
            for y in 0..py {
                let from = (z * py + y) * px;
                let to = ((z + at[0]) * ry + y + at[1]) * rx + at[2];
                values[to..to + px].copy_from_slice(&part.as_slice()[from..from + px]);
            }
        }
        Ok(out)
    }
}

/// The isosurface of an OME-Zarr store, chunk by chunk (never the whole volume in memory),
/// closed at the grid's edge unless `post.open`, then post-processed in memory.
fn mesh_chunked(
    input: &Path,
    output: &Path,
    level: f64,
    post: &PostProcess,
    read: &ZarrRead,
) -> Result<MeshReport> {
    // Each chunk's read reaches into 7 neighbours: keep decoded chunks (at most 1 GiB).
    let (source, block) = crate::filter_chunked::open_as_f32(input, read, 1 << 30)?;
    let start = std::time::Instant::now();
    let options = IsoOptions::default();
    let named = |what: &str| format!("{} ({what})", input.display());
    let mesh = if post.open {
        isosurface_chunked(source.as_ref(), level, &options, block, &|_, _| {})
            .with_context(|| named("indices of the store's grid"))?
    } else {
        // The same "outside" value as the in-memory path: below both the level and the minimum.
        let tiles = Region::tiles(source.shape(), block)?;
        let lo = tiles
            .par_iter()
            .map(|t| Ok(source.read(t)?.min_max().map_or(f64::INFINITY, |(lo, _)| lo)))
            .try_reduce(|| f64::INFINITY, |a, b| Ok(a.min(b)))
            .map_err(|e: hounsfield_core::Error| anyhow::anyhow!("{}: {e}", input.display()))?;
        let outside = (lo.min(level) - 1.0) as f32;
        let padded = Padded::new(source.as_ref(), outside)?;
        isosurface_chunked(&padded, level, &options, block, &|_, _| {})
            .with_context(|| named("indices of the grid padded by one voxel"))?
    };
    finish(input, output, level, mesh, post, start)
}

/// Post-processes and writes an extracted surface, and describes it.
fn finish(
    input: &Path,
    output: &Path,
    level: f64,
    mut mesh: TriMesh,
    post: &PostProcess,
    start: std::time::Instant,
) -> Result<MeshReport> {
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
        if self.watertight {
            writeln!(f, "  area {:.2} mm², enclosed volume {:.2} mm³", s.area, s.volume)?;
        } else {
            writeln!(f, "  area {:.2} mm² (an open surface encloses no volume)", s.area)?;
        }
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
    zarr: &ZarrIo,
) -> Result<LabelsReport> {
    hounsfield_mesh::io::MeshFormat::from_path(output)?;
    let volume = hounsfield_io::open(input, &zarr.open_options(OpenOptions::default()))?
        .into_volume_f32()?;
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
pub fn mesh(
    input: &Path,
    output: &Path,
    level: f64,
    post: &PostProcess,
    zarr: &ZarrIo,
) -> Result<MeshReport> {
    // Check the output format before the (possibly long) extraction.
    hounsfield_mesh::io::MeshFormat::from_path(output)?;
    if crate::zarr_io::is_zarr(input) {
        return mesh_chunked(input, output, level, post, &zarr.read);
    }
    let mut volume = hounsfield_io::open(input, &zarr.open_options(OpenOptions::default()))?
        .into_volume_f32()?;
    let start = std::time::Instant::now();
    if !post.open {
        // One voxel of "outside" around the volume closes the surface where it meets the edge
        // (the vertices stay where they were: the padding lies beyond the original grid).
        let (lo, _) = volume.min_max().unwrap_or((level, level));
        let outside = (lo.min(level) - 1.0) as f32;
        volume = hounsfield_filter::reshape::pad(&volume, [1; 3], [1; 3], outside)?;
    }
    let mesh = isosurface(&volume, level, &IsoOptions::default()).with_context(|| {
        format!("{} (indices of the grid padded by one voxel)", input.display())
    })?;
    finish(input, output, level, mesh, post, start)
}
