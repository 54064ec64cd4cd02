//! What each job task computes on a series: reading it, the masks and labels, the surfaces
//! (smoothed and decimated only while they stay clean), the pictures and the files.

use std::fs;
use std::path::Path;

use hounsfield_core::{Volume, WindowPreset};
use hounsfield_mesh::{
    IsoOptions, TaubinOptions, TriMesh, decimate, isosurface, keep_largest_component, taubin_smooth,
};
use hounsfield_render::{Overlay, Plane, View, Window, label_colour, mesh_preview, montage};

use super::{Job, JobOutput, JobRequest, Task, write_atomic};
use crate::error::{Error, Result};
use crate::store::Store;

/// Runs `job`'s task on its series, writing into `dir`; `progress` reports each stage (and
/// stops the job when it was cancelled), `notes` collects what the job chose to do differently.
pub(super) fn compute(
    store: &Store,
    job: &Job,
    dir: &Path,
    progress: &dyn Fn(&str, f64) -> Result<()>,
    notes: &mut Vec<String>,
) -> Result<Vec<JobOutput>> {
    let series = store
        .series_dir(&job.series_uid)
        .ok_or_else(|| Error::instance(&job.series_uid, "the series left the store"))?;
    let modality = store
        .instances()
        .into_iter()
        .find(|r| r.series_uid == job.series_uid)
        .map(|r| r.modality)
        .unwrap_or_default();
    progress("reading the series", 0.05)?;
    let read = crate::store::read_series(&series, &job.series_uid)?;
    let mut out = Outputs { dir, list: Vec::new() };
    let r = &job.request;
    match r.task {
        Task::Convert => {
            progress("writing NIfTI", 0.4)?;
            let image =
                hounsfield_io::nifti::NiftiImage::from_volumes(read.volumes.clone(), read.samples)
                    .ok_or_else(|| Error::instance(&job.series_uid, "no volume to write"))?;
            let path = dir.join("volume.nii.gz");
            hounsfield_io::nifti::write_nifti(&path, &image)
                .map_err(|e| Error::instance("volume.nii.gz", e.to_string()))?;
            out.file("volume.nii.gz", "volume")?;
            progress("drawing", 0.8)?;
            let volume = first_volume(&read, &job.series_uid)?;
            let window = window_for(&volume, &modality)?;
            let picture =
                montage(&volume, Plane::Axial, 9, 3, &window, None).map_err(render_error)?;
            out.png("montage.png", &picture)?;
        }
        Task::BrainMask => {
            if modality != "MR" {
                return Err(Error::instance(
                    &job.series_uid,
                    format!(
                        "the brain mask is made for T1-weighted MRI: the series is {}",
                        shown(&modality)
                    ),
                ));
            }
            let volume = first_volume(&read, &job.series_uid)?;
            progress("masking the brain", 0.2)?;
            let mask = hounsfield_filter::brain::brain_mask(&volume, 5.0)
                .map_err(|e| Error::instance(&job.series_uid, e.to_string()))?
                .mask;
            if !mask.as_slice().contains(&1) {
                return Err(Error::instance(
                    &job.series_uid,
                    "the brain mask came out empty: is this a T1-weighted MRI of a whole head?",
                ));
            }
            write_labels(&mask, &dir.join("mask.nii.gz"))?;
            out.file("mask.nii.gz", "labels")?;
            progress("meshing", 0.6)?;
            let padded =
                hounsfield_filter::reshape::pad(&mask, [1; 3], [1; 3], 0u8).map_err(mesh_error)?;
            let surface = keep_largest_component(
                &isosurface(&padded, 0.5, &IsoOptions::default()).map_err(mesh_error)?,
            );
            let surface = finish_mesh(&surface, r, "brain", progress, notes)?;
            out.meshes("brain", &surface, Some(1), label_colour(1))?;
            progress("drawing", 0.9)?;
            let window = window_for(&volume, &modality)?;
            let overlay = Overlay { labels: &mask, opacity: 0.3 };
            let picture = montage(&volume, Plane::Axial, 9, 3, &window, Some(overlay))
                .map_err(render_error)?;
            out.png("montage.png", &picture)?;
        }
        Task::Surface => {
            let volume = first_volume(&read, &job.series_uid)?;
            let level = match r.level {
                Some(l) => l,
                None if modality == "CT" => 300.0,
                None => hounsfield_filter::threshold::otsu_threshold(&volume, 256)
                    .map_err(mesh_error)?,
            };
            // Integer samples (CT) exactly at an integer level put many vertices on one
            // point; half a unit below classifies every voxel as `value >= level` does and
            // keeps the surface between samples.
            let integral = volume.as_slice().iter().all(|v| v.fract() == 0.0);
            let level = if integral && level.fract() == 0.0 {
                notes.push(format!(
                    "the samples are integers: the surface is drawn at {} (between {} and {level}), which keeps every voxel >= {level} inside",
                    level - 0.5,
                    level - 1.0
                ));
                level - 0.5
            } else {
                level
            };
            progress(&format!("isosurface at {level}"), 0.2)?;
            let low = volume.as_slice().iter().copied().fold(f32::INFINITY, f32::min);
            let padded = hounsfield_filter::reshape::pad(
                &volume,
                [1; 3],
                [1; 3],
                low.min(level as f32 - 1.0),
            )
            .map_err(mesh_error)?;
            let surface = isosurface(&padded, level, &IsoOptions::default()).map_err(mesh_error)?;
            if surface.triangles.is_empty() {
                return Err(Error::instance(
                    &job.series_uid,
                    format!("no surface at level {level}: every voxel is on one side"),
                ));
            }
            progress("smoothing and decimating", 0.6)?;
            let surface = finish_mesh(&surface, r, "surface", progress, notes)?;
            out.meshes("surface", &surface, None, [226, 214, 190])?;
        }
        Task::Tissues => {
            if modality != "CT" {
                return Err(Error::instance(
                    &job.series_uid,
                    format!(
                        "tissue labels use Hounsfield units: the series is {}, not CT",
                        shown(&modality)
                    ),
                ));
            }
            let volume = first_volume(&read, &job.series_uid)?;
            progress("labelling", 0.1)?;
            let labels = volume.map(|v| {
                if v >= 300.0 {
                    2u8
                } else if v >= -300.0 {
                    1
                } else {
                    0
                }
            });
            write_labels(&labels, &dir.join("tissues.nii.gz"))?;
            out.file("tissues.nii.gz", "labels")?;
            // Each tissue's surface is the marching-cubes surface of its mask (soft tissue
            // with the bone inside it: the skin), padded so that it closes at the edges.
            let parts = [(1u8, "skin", [210, 150, 130]), (2, "bone", [235, 225, 200])];
            for (k, (label, name, colour)) in parts.into_iter().enumerate() {
                progress(&format!("{name} surface"), 0.3 + 0.3 * k as f64)?;
                let mask = labels.map(|v| u8::from(v >= label));
                if !mask.as_slice().contains(&1) {
                    continue;
                }
                let padded = hounsfield_filter::reshape::pad(&mask, [1; 3], [1; 3], 0u8)
                    .map_err(mesh_error)?;
                let surface =
                    isosurface(&padded, 0.5, &IsoOptions::default()).map_err(mesh_error)?;
                let mesh = finish_mesh(&surface, r, name, progress, notes)?;
                out.meshes(name, &mesh, Some(i64::from(label)), colour)?;
            }
        }
    }
    Ok(out.list)
}

/// The job's output directory and the files written so far.
struct Outputs<'a> {
    dir: &'a Path,
    list: Vec<JobOutput>,
}

impl Outputs<'_> {
    fn file(&mut self, name: &str, kind: &str) -> Result<()> {
        let path = self.dir.join(name);
        let bytes = fs::metadata(&path).map_err(|e| Error::io(&path, e))?.len();
        self.list.push(JobOutput {
            name: name.into(),
            kind: kind.into(),
            bytes,
            label: None,
            colour: None,
            triangles: None,
            watertight: None,
        });
        Ok(())
    }

    fn png(&mut self, name: &str, image: &hounsfield_render::RgbImage) -> Result<()> {
        let png = image.encode_png().map_err(render_error)?;
        write_atomic(&self.dir.join(name), &png)?;
        self.file(name, "picture")
    }

    /// The mesh as STL (what the page draws), PLY and GLB, and a preview picture.
    fn meshes(
        &mut self,
        stem: &str,
        mesh: &TriMesh,
        label: Option<i64>,
        colour: [u8; 3],
    ) -> Result<()> {
        let stats = mesh.stats();
        let clean = is_clean(mesh);
        for ext in ["stl", "ply", "glb"] {
            let name = format!("{stem}.{ext}");
            hounsfield_mesh::io::write_mesh(&self.dir.join(&name), mesh).map_err(mesh_error)?;
            self.file(&name, "mesh")?;
            let last = self.list.last_mut().expect("just pushed");
            last.label = label;
            last.colour = Some(colour);
            last.triangles = Some(stats.triangles);
            last.watertight = Some(clean);
        }
        let view = View { azimuth: 60.0, elevation: 20.0, size: 320 };
        let picture = mesh_preview(&mesh.vertices, &mesh.triangles, &view, [20, 20, 28])
            .map_err(render_error)?;
        self.png(&format!("{stem}.png"), &picture)
    }
}

fn first_volume(read: &hounsfield_io::dicom::DicomVolume, series: &str) -> Result<Volume<f32>> {
    read.volumes
        .first()
        .map(|v| v.to_f32())
        .ok_or_else(|| Error::instance(series, "the series has no volume"))
}

/// A CT's soft-tissue window, or the 1st to 99th percentile of other images.
pub fn window_for(volume: &Volume<f32>, modality: &str) -> Result<Window> {
    if modality == "CT" {
        return Ok(WindowPreset::SoftTissue.window());
    }
    Window::auto(volume).map_err(render_error)
}

/// Smooths and decimates as asked, keeping each step only if the surface stays clean: closed,
/// manifold, and without coincident vertices or zero-area triangles (which an STL reader, going
/// by positions, welds into non-manifold edges). Thin structures (a one-slice series) can be
/// pressed onto themselves by either step; the step is then left out and said so.
fn finish_mesh(
    mesh: &TriMesh,
    r: &JobRequest,
    name: &str,
    progress: &dyn Fn(&str, f64) -> Result<()>,
    notes: &mut Vec<String>,
) -> Result<TriMesh> {
    let mut current = mesh.clone();
    if r.smoothing > 0 {
        progress(&format!("smoothing the {name}"), 0.6)?;
        let options = TaubinOptions { iterations: r.smoothing as usize, ..Default::default() };
        let smoothed = taubin_smooth(&current, &options).map_err(mesh_error)?;
        if is_clean(&smoothed) || !is_clean(&current) {
            current = smoothed;
        } else {
            notes.push(format!("{name}: smoothing left out, it pressed the surface onto itself (coincident vertices)"));
        }
    }
    if r.keep < 1.0 {
        progress(&format!("decimating the {name}"), 0.7)?;
        let decimated = decimate(&current, r.keep).map_err(mesh_error)?;
        if is_clean(&decimated) || !is_clean(&current) {
            current = decimated;
        } else {
            notes.push(format!("{name}: decimation left out, it pressed the surface onto itself (coincident vertices)"));
        }
    }
    progress(&format!("writing the {name}"), 0.8)?;
    Ok(current)
}

/// Closed and manifold by index, and by position too (what an STL holds).
pub fn is_clean(mesh: &TriMesh) -> bool {
    let s = mesh.stats();
    s.is_watertight() && s.duplicate_vertices == 0 && s.degenerate_triangles == 0
}

/// A modality for a message: quoted, or said to be missing.
pub(super) fn shown(modality: &str) -> String {
    if modality.is_empty() { "without a Modality".into() } else { modality.to_string() }
}

fn write_labels(labels: &Volume<u8>, path: &Path) -> Result<()> {
    let image = hounsfield_io::nifti::NiftiImage::from_volume(labels.clone());
    hounsfield_io::nifti::write_nifti(path, &image)
        .map_err(|e| Error::instance(path.display().to_string(), e.to_string()))
}

fn mesh_error(e: impl std::fmt::Display) -> Error {
    Error::instance("job", e.to_string())
}

fn render_error(e: impl std::fmt::Display) -> Error {
    Error::instance("picture", e.to_string())
}
