//! How close a reconstructed surface is to a reference: the measures shape-reconstruction papers
//! report (Chamfer-L1, F-score at a distance threshold, normal consistency, volume IoU; OccNet,
//! Tatarchenko et al. 2019) and the ones medical papers report (HD95, mean surface distance,
//! volume error), on points sampled uniformly over both surfaces.
//!
//! Distances are from each sampled point to the closest point of the other surface (point to
//! triangle, not point to point), so the sampling density sets only the noise of the estimate.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Error, Geometry, Result, Volume};
use serde::Serialize;

use crate::distance::Buckets;
use crate::mesh::TriMesh;
use crate::vec3::{V3, dot};

/// Points sampled on a surface, with the normal of the triangle each lies on.
#[derive(Clone, Debug, Default)]
pub struct SurfaceSamples {
    /// Sampled points, mm.
    pub points: Vec<V3>,
    /// Unit normal of each point's triangle.
    pub normals: Vec<V3>,
}

/// `count` points uniformly distributed by area over `mesh` (seeded: the same points for the same
/// seed on every machine).
pub fn sample_surface(mesh: &TriMesh, count: usize, seed: u64) -> Result<SurfaceSamples> {
    let mut cumulative = Vec::with_capacity(mesh.triangles.len());
    let mut total = 0.0;
    for t in 0..mesh.triangles.len() {
        total += mesh.triangle_area(t);
        cumulative.push(total);
    }
    if total.is_nan() || total <= 0.0 || total.is_infinite() {
        return Err(Error::Empty("mesh with no surface area to sample".into()));
    }
    let mut rng = SplitMix64::new(seed);
    let mut out =
        SurfaceSamples { points: Vec::with_capacity(count), normals: Vec::with_capacity(count) };
    for _ in 0..count {
        let r = rng.next_f64() * total;
        let t = cumulative.partition_point(|&c| c <= r).min(cumulative.len() - 1);
        let [a, b, c] = mesh.corners(t);
        // Uniform on a triangle: reflect the unit square's upper half (Osada et al. 2002).
        let (mut u, mut v) = (rng.next_f64(), rng.next_f64());
        if u + v > 1.0 {
            (u, v) = (1.0 - u, 1.0 - v);
        }
        out.points.push(std::array::from_fn(|k| a[k] + u * (b[k] - a[k]) + v * (c[k] - a[k])));
        out.normals.push(unit_normal(mesh, t));
    }
    Ok(out)
}

/// Settings of [`compare_meshes`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CompareOptions {
    /// Points sampled on each surface.
    pub samples: usize,
    /// F-score distance threshold as a fraction of the reference's largest bounding-box side
    /// (Tatarchenko et al.: 1%).
    pub fscore_fraction: f64,
    /// Voxels along the largest side of the common bounding box for the volume IoU.
    pub iou_resolution: usize,
    /// Seed of the surface sampling.
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions { samples: 100_000, fscore_fraction: 0.01, iou_resolution: 128, seed: 7 }
    }
}

impl CompareOptions {
    /// Sets the number of points sampled on each surface.
    pub fn with_samples(mut self, samples: usize) -> Self {
        self.samples = samples;
        self
    }

    /// Sets the IoU grid resolution (voxels along the largest side).
    pub fn with_iou_resolution(mut self, resolution: usize) -> Self {
        self.iou_resolution = resolution;
        self
    }
}

/// Measures of a closed test surface against a closed reference (distances in mm).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeshComparison {
    /// The point-to-surface measures (flattened into the same JSON object).
    #[serde(flatten)]
    pub surface: SurfaceComparison,
    /// Intersection over union of the enclosed volumes, voxelised on a common grid.
    pub volume_iou: f64,
    /// Enclosed volume of the reference, mm³.
    pub reference_volume: f64,
    /// Enclosed volume of the test surface, mm³.
    pub test_volume: f64,
    /// `100 (test - reference) / reference`.
    pub volume_error_percent: f64,
}

fn unit_normal(mesh: &TriMesh, t: usize) -> V3 {
    hounsfield_core::vec3::normalize(mesh.face_normal(t))
}

/// Point-to-surface measures of a test surface against a reference (distances in the meshes'
/// units); the surfaces need not be closed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SurfaceComparison {
    /// Chamfer-L1: mean of the two directions' mean point-to-surface distances.
    pub chamfer_l1: f64,
    /// `chamfer_l1` divided by the reference's largest bounding-box side.
    pub chamfer_normalised: f64,
    /// Mean of all distances of both directions pooled.
    pub mean_surface_distance: f64,
    /// 95th percentile of the pooled distances.
    pub hausdorff95: f64,
    /// Largest distance either way.
    pub hausdorff: f64,
    /// Fraction of test points within the threshold of the reference.
    pub precision: f64,
    /// Fraction of reference points within the threshold of the test surface.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub fscore: f64,
    /// The F-score threshold.
    pub fscore_threshold: f64,
    /// Mean |cos| between each point's normal and the normal of the closest triangle of the
    /// other surface, both directions (OccNet's normal consistency).
    pub normal_consistency: f64,
}

/// Compares the surface `test` with `reference` from `samples` points on each (drawn with
/// `seed`), the F-score at `fscore_fraction` of the reference's largest side. A surface without
/// area is an error.
pub fn compare_surfaces(
    reference: &TriMesh,
    test: &TriMesh,
    samples: usize,
    fscore_fraction: f64,
    seed: u64,
) -> Result<SurfaceComparison> {
    if samples == 0 || samples > 10_000_000 {
        return Err(Error::param("samples", format!("{samples} (1..=10^7)")));
    }
    if !(fscore_fraction > 0.0 && fscore_fraction < 1.0) {
        return Err(Error::param("fscore_fraction", format!("{fscore_fraction} (in (0, 1))")));
    }
    for (name, mesh) in [("reference", reference), ("test", test)] {
        if mesh.is_empty() {
            return Err(Error::Empty(format!("{name} mesh")));
        }
    }
    let (lo, hi) = reference.bounds();
    let side = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
    if side.is_nan() || side <= 0.0 {
        return Err(Error::Empty("reference mesh with no extent".into()));
    }
    let threshold = fscore_fraction * side;
    let ref_samples = sample_surface(reference, samples, seed)?;
    let test_samples = sample_surface(test, samples, seed ^ 0x5eed)?;
    let directed = |from: &SurfaceSamples, to: &TriMesh| -> (Vec<f64>, f64) {
        let buckets = Buckets::new(to);
        let mut cos_sum = 0.0;
        let d = from
            .points
            .iter()
            .zip(&from.normals)
            .map(|(p, n)| {
                let (d, t) = buckets.closest(*p);
                cos_sum += dot(*n, unit_normal(to, t as usize)).abs();
                d
            })
            .collect();
        (d, cos_sum / from.points.len() as f64)
    };
    let (to_ref, nc_test) = directed(&test_samples, reference);
    let (to_test, nc_ref) = directed(&ref_samples, test);
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let within = |d: &[f64]| d.iter().filter(|&&x| x <= threshold).count() as f64 / d.len() as f64;
    let (precision, recall) = (within(&to_ref), within(&to_test));
    let mut pooled: Vec<f64> = to_ref.iter().chain(&to_test).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let rank = ((0.95 * pooled.len() as f64).ceil() as usize).clamp(1, pooled.len()) - 1;
    let chamfer_l1 = (mean(&to_ref) + mean(&to_test)) / 2.0;
    Ok(SurfaceComparison {
        chamfer_l1,
        chamfer_normalised: chamfer_l1 / side,
        mean_surface_distance: mean(&pooled),
        hausdorff95: pooled[rank],
        hausdorff: pooled[pooled.len() - 1],
        precision,
        recall,
        fscore: if precision + recall > 0.0 {
            2.0 * precision * recall / (precision + recall)
        } else {
            0.0
        },
        fscore_threshold: threshold,
        normal_consistency: (nc_test + nc_ref) / 2.0,
    })
}

/// Compares `test` with `reference`; both must be closed (watertight) for the volume measures.
pub fn compare_meshes(
    reference: &TriMesh,
    test: &TriMesh,
    options: &CompareOptions,
) -> Result<MeshComparison> {
    for (name, mesh) in [("reference", reference), ("test", test)] {
        let stats = mesh.stats();
        if mesh.is_empty() {
            return Err(Error::Empty(format!("{name} mesh")));
        }
        if !stats.is_watertight() {
            return Err(Error::param(
                "mesh",
                format!(
                    "the {name} mesh is not closed ({} boundary, {} non-manifold, {} inconsistent edges): its volume is undefined",
                    stats.boundary_edges, stats.non_manifold_edges, stats.inconsistent_edges
                ),
            ));
        }
    }
    let surface =
        compare_surfaces(reference, test, options.samples, options.fscore_fraction, options.seed)?;
    let volume_iou = volume_iou(reference, test, options.iou_resolution)?;
    let (reference_volume, test_volume) = (reference.signed_volume(), test.signed_volume());
    Ok(MeshComparison {
        surface,
        volume_iou,
        reference_volume,
        test_volume,
        volume_error_percent: 100.0 * (test_volume - reference_volume) / reference_volume,
    })
}

/// IoU of the solids bounded by two closed meshes, voxelised on one grid over both with
/// `resolution` voxels along its largest side.
pub fn volume_iou(a: &TriMesh, b: &TriMesh, resolution: usize) -> Result<f64> {
    if !(2..=1024).contains(&resolution) {
        return Err(Error::param("iou resolution", format!("{resolution} (2..=1024)")));
    }
    let ((alo, ahi), (blo, bhi)) = (a.bounds(), b.bounds());
    let lo: V3 = std::array::from_fn(|k| alo[k].min(blo[k]));
    let hi: V3 = std::array::from_fn(|k| ahi[k].max(bhi[k]));
    let side = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
    if !(side > 0.0 && side.is_finite()) {
        return Err(Error::Empty("meshes with no extent".into()));
    }
    let voxel = side / resolution as f64;
    // One voxel of margin so nothing lies on the grid's edge.
    let dims: [usize; 3] = std::array::from_fn(|k| ((hi[k] - lo[k]) / voxel).ceil() as usize + 2);
    let origin: V3 = std::array::from_fn(|k| lo[k] - voxel / 2.0);
    let geometry = Geometry::axis_aligned([voxel; 3], origin)?;
    let shape = [dims[2], dims[1], dims[0]];
    let (va, vb) = (voxelize(a, &geometry, shape)?, voxelize(b, &geometry, shape)?);
    let (mut inter, mut union) = (0usize, 0usize);
    for (x, y) in va.data().iter().zip(vb.data().iter()) {
        inter += usize::from(*x != 0 && *y != 0);
        union += usize::from(*x != 0 || *y != 0);
    }
    if union == 0 {
        return Err(Error::Empty("both solids are empty at this resolution".into()));
    }
    Ok(inter as f64 / union as f64)
}

/// The voxels of the grid `geometry` x `shape` (`[nz, ny, nx]`) whose centres lie inside the
/// closed mesh (1) or outside (0): crossings of each row of voxel centres with the triangles,
/// counted by winding number, with a tie rule that counts a crossing exactly on a shared edge
/// or vertex once.
pub fn voxelize(mesh: &TriMesh, geometry: &Geometry, shape: [usize; 3]) -> Result<Volume<u8>> {
    let [nz, ny, nx] = shape;
    let voxels = nz.checked_mul(ny).and_then(|v| v.checked_mul(nx));
    if !matches!(voxels, Some(v) if v > 0 && v <= 1 << 31) {
        return Err(Error::param("voxelize shape", format!("{shape:?}")));
    }
    // Vertices in continuous index coordinates (i along x, j along y, k along z).
    let idx: Vec<V3> =
        mesh.vertices.iter().map(|v| geometry.physical_to_index(v.map(f64::from))).collect();
    // Crossings per row (j, k): (i where the row meets the triangle, +-1 by orientation).
    let mut rows: Vec<Vec<(f64, i32)>> = vec![Vec::new(); ny * nz];
    // Canonical edge function in the (j, k) plane, as the renderer's: exactly opposite for the
    // two triangles that share an edge.
    let edge = |a: V3, b: V3, pj: f64, pk: f64| -> f64 {
        let (f, s, sign) = if (a[1], a[2]) <= (b[1], b[2]) { (a, b, 1.0) } else { (b, a, -1.0) };
        sign * ((s[1] - f[1]) * (pk - f[2]) - (s[2] - f[2]) * (pj - f[1]))
    };
    let owns = |a: V3, b: V3| -> bool {
        let (dj, dk) = (b[1] - a[1], b[2] - a[2]);
        (dk == 0.0 && dj > 0.0) || dk < 0.0
    };
    for tri in &mesh.triangles {
        let c = tri.map(|i| idx[i as usize]);
        let area = edge(c[0], c[1], c[2][1], c[2][2]);
        if area == 0.0 || !area.is_finite() {
            continue; // edge-on to the rows: its neighbours carry the crossing
        }
        let sign = if area > 0.0 { 1 } else { -1 };
        let q = if area > 0.0 { c } else { [c[0], c[2], c[1]] };
        let area = area.abs();
        let tl = [owns(q[1], q[2]), owns(q[2], q[0]), owns(q[0], q[1])];
        let jlo = q.iter().map(|p| p[1]).fold(f64::INFINITY, f64::min).ceil().max(0.0);
        let jhi = q.iter().map(|p| p[1]).fold(f64::NEG_INFINITY, f64::max).floor();
        let klo = q.iter().map(|p| p[2]).fold(f64::INFINITY, f64::min).ceil().max(0.0);
        let khi = q.iter().map(|p| p[2]).fold(f64::NEG_INFINITY, f64::max).floor();
        let (jhi, khi) = (jhi.min(ny as f64 - 1.0), khi.min(nz as f64 - 1.0));
        if jhi < jlo || khi < klo {
            continue;
        }
        for k in klo as usize..=khi as usize {
            for j in jlo as usize..=jhi as usize {
                let (pj, pk) = (j as f64, k as f64);
                let w =
                    [edge(q[1], q[2], pj, pk), edge(q[2], q[0], pj, pk), edge(q[0], q[1], pj, pk)];
                if (0..3).any(|e| w[e] < 0.0 || (w[e] == 0.0 && !tl[e])) {
                    continue;
                }
                let i = (0..3).map(|e| w[e] / area * q[e][0]).sum::<f64>();
                rows[k * ny + j].push((i, sign));
            }
        }
    }
    let mut data = vec![0u8; nz * ny * nx];
    for (r, crossings) in rows.iter_mut().enumerate() {
        if crossings.is_empty() {
            continue;
        }
        crossings.sort_by(|a, b| a.0.total_cmp(&b.0));
        let row = &mut data[r * nx..(r + 1) * nx];
        let (mut winding, mut next) = (0i32, 0usize);
        for (i, voxel) in row.iter_mut().enumerate() {
            while next < crossings.len() && crossings[next].0 <= i as f64 {
                winding += crossings[next].1;
                next += 1;
            }
            *voxel = u8::from(winding != 0);
        }
    }
    Volume::from_vec(shape, data, geometry.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::primitives::icosphere;

    #[test]
    fn samples_are_uniform_by_area_and_on_the_surface() {
        let m = icosphere([0.0; 3], 10.0, 3).expect("sphere");
        let s = sample_surface(&m, 20_000, 1).expect("samples");
        let r: Vec<f64> = s.points.iter().map(|p| dot(*p, *p).sqrt()).collect();
        assert!(r.iter().all(|&r| r > 9.8 && r <= 10.0 + 1e-9));
        // Uniform on the sphere: the mean of z is 0 (sd 10/sqrt(3 * 20000) = 0.04), and half
        // the points are above the equator (sd 0.0035).
        let mz = s.points.iter().map(|p| p[2]).sum::<f64>() / 20_000.0;
        let upper = s.points.iter().filter(|p| p[2] > 0.0).count() as f64 / 20_000.0;
        assert!(mz.abs() < 0.2 && (upper - 0.5).abs() < 0.02, "{mz} {upper}");
    }

    #[test]
    fn concentric_spheres_are_as_far_apart_as_their_radii() {
        // Radii 10 and 11: every distance is ~1 mm (up to the facets' sag, 0.01 mm at level 5).
        let (a, b) =
            (icosphere([0.0; 3], 10.0, 5).expect("a"), icosphere([0.0; 3], 11.0, 5).expect("b"));
        let c = compare_meshes(&a, &b, &CompareOptions::default().with_samples(20_000))
            .expect("compare");
        for d in [c.surface.chamfer_l1, c.surface.mean_surface_distance, c.surface.hausdorff95] {
            assert!((d - 1.0).abs() < 0.02, "{c:?}");
        }
        assert!((c.surface.chamfer_normalised - 1.0 / 20.0).abs() < 0.002, "{c:?}");
        // F-score at 1% of 20 mm = 0.2 mm: nothing is that close.
        assert_eq!(c.surface.fscore, 0.0);
        assert!(c.surface.normal_consistency > 0.999, "{c:?}");
        // IoU = (10/11)^3 = 0.7513; volume error +33.1%.
        assert!((c.volume_iou - (10.0f64 / 11.0).powi(3)).abs() < 0.01, "{c:?}");
        assert!((c.volume_error_percent - 33.1).abs() < 0.5, "{c:?}");
        let same =
            compare_meshes(&a, &a, &CompareOptions::default().with_samples(5_000)).expect("same");
        assert!(
            same.surface.chamfer_l1 < 1e-9 && same.surface.fscore == 1.0 && same.volume_iou == 1.0,
            "{same:?}"
        );
    }

    #[test]
    fn voxelised_volume_matches_the_mesh_volume_on_grid_aligned_vertices() {
        // A marching-cubes-like case: vertices exactly on row lines (ties everywhere).
        let m = icosphere([0.0; 3], 10.0, 4).expect("sphere");
        let mut snapped = m.clone();
        for v in &mut snapped.vertices {
            *v = v.map(|c| (c * 2.0).round() / 2.0);
        }
        let snapped = crate::process::clean(&snapped);
        let g = Geometry::axis_aligned([0.5; 3], [-12.0; 3]).expect("geometry");
        for mesh in [&m, &snapped] {
            let v = voxelize(mesh, &g, [49, 49, 49]).expect("voxels");
            let count = v.data().iter().filter(|&&x| x == 1).count() as f64 * 0.125;
            let exact = mesh.signed_volume();
            assert!((count - exact).abs() < 0.01 * exact, "{count} vs {exact}");
        }
        let open = TriMesh::new(m.vertices.clone(), m.triangles[1..].to_vec()).expect("open");
        assert!(compare_meshes(&m, &open, &CompareOptions::default()).is_err());
    }
}
