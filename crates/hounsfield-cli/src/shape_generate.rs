//! The generative side of `hounsfield shape`: samples and latent interpolations of a
//! variational model (`shape sample`), and how well a set of generated shapes covers a
//! reference set: coverage and minimum matching distance (MMD) of Chamfer-L1 distances
//! (Achlioptas et al. 2018) between point clouds sampled on the surfaces, in unit-cube units.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::{TriMesh, sample_surface};
use hounsfield_nn::shape::ShapeModel;
use rayon::prelude::*;
use serde::Serialize;

use crate::shape_learn::grid_mesh;

/// Points sampled on each surface for the set metrics.
pub const SET_POINTS: usize = 512;

/// Latents decoded per call (bounds the decoder's memory).
const CHUNK: usize = 16;

/// Points sampled on a surface, stored by coordinate for the all-pairs distance loops.
pub struct SampledSurface {
    xyz: [Vec<f32>; 3],
}

impl SampledSurface {
    /// `points` points on `mesh` (drawn with `seed`); `None` for a mesh without area.
    pub fn new(mesh: &TriMesh, points: usize, seed: u64) -> Result<Option<Self>> {
        let area = mesh.area();
        if mesh.triangles.is_empty() || area.is_nan() || area <= 0.0 {
            return Ok(None);
        }
        let p = sample_surface(mesh, points, seed)?.points;
        Ok(Some(Self { xyz: std::array::from_fn(|k| p.iter().map(|q| q[k] as f32).collect()) }))
    }

    /// Mean over this cloud's points of the distance to the nearest point of `other`.
    fn mean_nearest(&self, other: &Self) -> f64 {
        let [ox, oy, oz] = &other.xyz;
        let mut sum = 0.0f64;
        for ((&x, &y), &z) in self.xyz[0].iter().zip(&self.xyz[1]).zip(&self.xyz[2]) {
            // Brute force over `other` (512 points): a loop the compiler vectorises, faster
            // here than a tree, since most pairs of shapes are far apart.
            let mut best = f32::INFINITY;
            for ((&a, &b), &c) in ox.iter().zip(oy).zip(oz) {
                let d = (a - x) * (a - x) + (b - y) * (b - y) + (c - z) * (c - z);
                best = best.min(d);
            }
            sum += f64::from(best.sqrt());
        }
        sum / self.xyz[0].len().max(1) as f64
    }
}

/// `d[i][j]`: the Chamfer-L1 distance of point clouds `a[i]` and `b[j]` (Achlioptas et al.'s
/// point-cloud Chamfer, with distances rather than squared distances): the mean of the mean
/// distance from each cloud's points to the nearest point of the other.
pub fn chamfer_matrix(a: &[SampledSurface], b: &[SampledSurface]) -> Vec<Vec<f64>> {
    a.par_iter()
        .map(|sa| b.iter().map(|sb| 0.5 * (sa.mean_nearest(sb) + sb.mean_nearest(sa))).collect())
        .collect()
}

/// How a generated set covers a reference set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SetScores {
    /// Shapes generated (those without a surface included).
    pub generated: usize,
    /// Generated shapes without a surface (they match nothing).
    pub empty: usize,
    /// Reference shapes.
    pub references: usize,
    /// The fraction of reference shapes that are the nearest reference of some generated one.
    pub coverage: f64,
    /// Minimum matching distance: the mean over reference shapes of the Chamfer-L1 distance
    /// to their nearest generated shape (unit-cube units).
    pub mmd: f64,
}

/// Coverage and MMD from `d[i][j]`, the distance of generated shape `i` (with a surface) to
/// reference `j`; `empty` more generated shapes had no surface.
pub fn coverage_mmd(d: &[Vec<f64>], references: usize, empty: usize) -> SetScores {
    let mut covered = vec![false; references];
    for row in d {
        let nearest = row.iter().enumerate().min_by(|x, y| x.1.total_cmp(y.1)).map(|(j, _)| j);
        if let Some(j) = nearest {
            covered[j] = true;
        }
    }
    let mmd = if d.is_empty() {
        f64::INFINITY
    } else {
        (0..references).map(|j| d.iter().map(|r| r[j]).fold(f64::INFINITY, f64::min)).sum::<f64>()
            / references.max(1) as f64
    };
    SetScores {
        generated: d.len() + empty,
        empty,
        references,
        coverage: covered.iter().filter(|&&c| c).count() as f64 / references.max(1) as f64,
        mmd,
    }
}

/// `count` latents of `latent` values: independent draws from `N(0, I)`, or, for an
/// interpolation, `count` evenly spaced points on the segment between two draws (both ends
/// included).
pub fn latents(count: usize, latent: usize, seed: u64, interpolate: bool) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(seed);
    let mut draw = || -> Vec<f32> { (0..latent).map(|_| rng.normal() as f32).collect() };
    if !interpolate {
        return (0..count).map(|_| draw()).collect();
    }
    let (a, b) = (draw(), draw());
    (0..count)
        .map(|k| {
            let t = if count > 1 { k as f32 / (count - 1) as f32 } else { 0.0 };
            a.iter().zip(&b).map(|(x, y)| (1.0 - t) * x + t * y).collect()
        })
        .collect()
}

/// Occupancy probabilities of each latent (decoded in chunks).
pub fn decode(model: &ShapeModel, z: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(z.len());
    for chunk in z.chunks(CHUNK) {
        out.extend(model.generate(chunk.concat())?);
    }
    Ok(out)
}

/// One shape `shape sample` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SampledShape {
    /// Occupancy probabilities (NIfTI, unit cube).
    pub occupancy: PathBuf,
    /// The surface at 0.5 (none when no voxel reaches it).
    pub mesh: Option<PathBuf>,
    /// Voxels with probability >= 0.5.
    pub voxels: usize,
}

/// What `shape sample` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SampleSummary {
    /// The model.
    pub model: PathBuf,
    /// Independent samples, or a latent interpolation (from the first to the second draw).
    pub interpolation: bool,
    /// Seed of the latents.
    pub seed: u64,
    /// The shapes written.
    pub shapes: Vec<SampledShape>,
    /// Occupancy side.
    pub resolution: usize,
}

impl std::fmt::Display for SampleSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.shapes.len();
        let what = match (self.interpolation, n) {
            (true, _) => "interpolation steps",
            (false, 1) => "sample",
            (false, _) => "samples",
        };
        writeln!(
            f,
            "{n} {what} of {} (seed {}; {}^3, unit cube, camera 0's frame)",
            self.model.display(),
            self.seed,
            self.resolution
        )?;
        for s in &self.shapes {
            let mesh = s.mesh.as_ref().map_or("no surface".to_owned(), |m| m.display().to_string());
            writeln!(f, "  {} ({} voxels >= 0.5) {mesh}", s.occupancy.display(), s.voxels)?;
        }
        Ok(())
    }
}

/// `hounsfield shape sample`: decodes `count` latents of a variational model into `dir`
/// (`sample_NNN.nii.gz` probabilities on the unit cube and `sample_NNN.ply` surfaces).
pub fn sample(
    model_path: &Path,
    dir: &Path,
    count: usize,
    seed: u64,
    interpolate: bool,
) -> Result<SampleSummary> {
    if !(1..=1000).contains(&count) || (interpolate && count < 2) {
        bail!("--count must be 1-1000 (at least 2 for an interpolation), not {count}");
    }
    let (model, _, _) = ShapeModel::load(model_path)?;
    if !model.info.net.variational {
        bail!(
            "{}: not a variational model (trained with variational = false): it has no prior \
             to sample from",
            model_path.display()
        );
    }
    if dir.exists() && !dir.is_dir() {
        bail!("{}: exists and is not a folder", dir.display());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Samples of another run left beside these would pass for theirs.
    let earlier = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().starts_with("sample_"));
    if let Some(e) = earlier {
        bail!(
            "{}: already holds samples ({}); give an empty or new folder",
            dir.display(),
            e.file_name().to_string_lossy()
        );
    }
    let n = model.info.net.output_size();
    let z = latents(count, model.info.net.latent, seed, interpolate);
    let probabilities = decode(&model, &z)?;
    let voxel = 1.0 / n as f64;
    let geometry = Geometry::axis_aligned([voxel; 3], [-0.5 + voxel / 2.0; 3])?;
    let mut shapes = Vec::with_capacity(count);
    let written = write_samples(dir, probabilities, n, &geometry, &mut shapes);
    if let Err(e) = written {
        // No partial set is left behind: remove what this run wrote.
        for s in &shapes {
            let _ = std::fs::remove_file(&s.occupancy);
            if let Some(m) = &s.mesh {
                let _ = std::fs::remove_file(m);
            }
        }
        return Err(e);
    }
    Ok(SampleSummary {
        model: model_path.to_path_buf(),
        interpolation: interpolate,
        seed,
        shapes,
        resolution: n,
    })
}

/// Writes each shape's occupancy and surface, recording each as soon as a file of it exists.
fn write_samples(
    dir: &Path,
    probabilities: Vec<Vec<f32>>,
    n: usize,
    geometry: &Geometry,
    shapes: &mut Vec<SampledShape>,
) -> Result<()> {
    for (k, p) in probabilities.into_iter().enumerate() {
        let occ = dir.join(format!("sample_{k:03}.nii.gz"));
        let mesh = grid_mesh(&p, n)?;
        let voxels = p.iter().filter(|&&v| v >= 0.5).count();
        let volume = Volume::from_vec([n; 3], p, geometry.clone())?;
        hounsfield_io::nifti::write_nifti(
            &occ,
            &hounsfield_io::nifti::NiftiImage::from_volume(volume),
        )?;
        shapes.push(SampledShape { occupancy: occ, mesh: None, voxels });
        if !mesh.triangles.is_empty() {
            let path = dir.join(format!("sample_{k:03}.ply"));
            hounsfield_mesh::io::write_mesh(&path, &mesh)?;
            if let Some(last) = shapes.last_mut() {
                last.mesh = Some(path);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    #[test]
    fn coverage_and_mmd_follow_their_definitions() {
        // Three references; generated shape 0 is nearest reference 1, shape 1 also reference 1:
        // coverage 1/3. MMD: the column minima 0.4, 0.1, 0.5 average to 1/3.
        let d = vec![vec![0.4, 0.1, 0.9], vec![0.6, 0.2, 0.5]];
        let s = coverage_mmd(&d, 3, 1);
        assert_eq!((s.generated, s.empty, s.references), (3, 1, 3));
        assert!((s.coverage - 1.0 / 3.0).abs() < 1e-12);
        assert!((s.mmd - (0.4 + 0.1 + 0.5) / 3.0).abs() < 1e-12);
        // Nothing generated with a surface: nothing covered, MMD infinite.
        let none = coverage_mmd(&[], 3, 2);
        assert_eq!(none.coverage, 0.0);
        assert!(none.mmd.is_infinite());
    }

    #[test]
    fn chamfer_of_concentric_spheres_is_the_radius_gap() {
        // Spheres of radius 0.3 and 0.4 about the same centre: every point of one is 0.1 from
        // the other's surface, its nearest sample a little farther (within 0.01). A sphere
        // against another sampling of itself: the mean nearest-neighbour gap of 512 uniform
        // points, about 0.5 sqrt(area / 512) = 0.0235 (to 30%). The same cloud: 0.
        let sphere = |r: f64, seed: u64| {
            let mesh = hounsfield_mesh::icosphere([0.0; 3], r, 4).unwrap();
            SampledSurface::new(&mesh, SET_POINTS, seed).unwrap().unwrap()
        };
        let a = [sphere(0.3, 1)];
        let b = [sphere(0.4, 2), sphere(0.3, 3), sphere(0.3, 1)];
        let d = chamfer_matrix(&a, &b);
        assert!(d[0][0] >= 0.1 - 1e-3 && d[0][0] < 0.11, "{d:?}");
        let gap = 0.5 * (4.0 * std::f64::consts::PI * 0.09 / SET_POINTS as f64).sqrt();
        assert!((d[0][1] / gap - 1.0).abs() < 0.3, "{d:?} vs {gap}");
        assert_eq!(d[0][2], 0.0);
        let mesh = hounsfield_mesh::icosphere([0.0; 3], 0.3, 1).unwrap();
        let empty = TriMesh { triangles: Vec::new(), ..mesh };
        assert!(SampledSurface::new(&empty, 10, 0).unwrap().is_none());
    }

    #[test]
    fn interpolation_latents_run_from_one_draw_to_another() {
        let z = latents(5, 8, 3, true);
        assert_eq!(z.len(), 5);
        let mid: Vec<f32> = z[0].iter().zip(&z[4]).map(|(a, b)| (a + b) / 2.0).collect();
        assert!(z[2].iter().zip(&mid).all(|(a, b)| (a - b).abs() < 1e-6));
        // Independent draws differ and are reproducible.
        let s = latents(2, 8, 3, false);
        assert_ne!(s[0], s[1]);
        assert_eq!(s, latents(2, 8, 3, false));
        assert_eq!(s[0], z[0]);
    }
}
