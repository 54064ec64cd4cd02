//! Distances between surfaces: vertex-to-surface distances through a uniform grid of triangle
//! buckets, Hausdorff (maximum or a percentile) and Chamfer (mean) distances.
//!
//! Distances are measured from each vertex of one mesh to the closest point on the other
//! mesh's triangles (not vertex to vertex), in both directions.

use hounsfield_core::{Error, Result};
use serde::Serialize;

use crate::mesh::TriMesh;

use crate::vec3::{V3 as P, dot, lerp, sub};

/// The point of triangle `abc` closest to `p` (Ericson, Real-Time Collision Detection 5.1.5).
fn closest_on_triangle(p: P, a: P, b: P, c: P) -> P {
    let (ab, ac, ap) = (sub(b, a), sub(c, a), sub(p, a));
    let (d1, d2) = (dot(ab, ap), dot(ac, ap));
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = sub(p, b);
    let (d3, d4) = (dot(ab, bp), dot(ac, bp));
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return lerp(a, b, d1 / (d1 - d3));
    }
    let cp = sub(p, c);
    let (d5, d6) = (dot(ab, cp), dot(ac, cp));
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return lerp(a, c, d2 / (d2 - d6));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        return lerp(b, c, (d4 - d3) / ((d4 - d3) + (d5 - d6)));
    }
    let denom = 1.0 / (va + vb + vc);
    let (v, w) = (vb * denom, vc * denom);
    [a[0] + ab[0] * v + ac[0] * w, a[1] + ab[1] * v + ac[1] * w, a[2] + ab[2] * v + ac[2] * w]
}

/// Triangles bucketed on a uniform grid over their bounding boxes.
pub(crate) struct Buckets<'m> {
    mesh: &'m TriMesh,
    lo: P,
    cell: f64,
    dims: [usize; 3],
    start: Vec<u32>,
    items: Vec<u32>,
}

impl<'m> Buckets<'m> {
    pub(crate) fn new(mesh: &'m TriMesh) -> Self {
        let (lo, hi) = mesh.bounds();
        // About two triangles per occupied cell: the cell is a few mean edge lengths.
        let extent = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max).max(1e-9);
        let target = (mesh.triangles.len() as f64 / 2.0).cbrt().clamp(1.0, 256.0);
        let cell = extent / target;
        let dims: [usize; 3] =
            std::array::from_fn(|k| (((hi[k] - lo[k]) / cell) as usize + 1).min(512));
        let index = |c: [usize; 3]| (c[2] * dims[1] + c[1]) * dims[0] + c[0];
        let cell_of = |p: P| -> [usize; 3] {
            std::array::from_fn(|k| (((p[k] - lo[k]) / cell).max(0.0) as usize).min(dims[k] - 1))
        };
        let mut counts = vec![0u32; dims[0] * dims[1] * dims[2] + 1];
        let ranges: Vec<([usize; 3], [usize; 3])> = (0..mesh.triangles.len())
            .map(|t| {
                let c = mesh.corners(t);
                let a: P = std::array::from_fn(|k| c[0][k].min(c[1][k]).min(c[2][k]));
                let b: P = std::array::from_fn(|k| c[0][k].max(c[1][k]).max(c[2][k]));
                (cell_of(a), cell_of(b))
            })
            .collect();
        let each = |(a, b): &([usize; 3], [usize; 3]), f: &mut dyn FnMut(usize)| {
            for z in a[2]..=b[2] {
                for y in a[1]..=b[1] {
                    for x in a[0]..=b[0] {
                        f(index([x, y, z]));
                    }
                }
            }
        };
        for r in &ranges {
            each(r, &mut |i| counts[i + 1] += 1);
        }
        for i in 1..counts.len() {
            counts[i] += counts[i - 1];
        }
        let mut fill = counts.clone();
        let mut items = vec![0u32; counts[counts.len() - 1] as usize];
        for (t, r) in ranges.iter().enumerate() {
            each(r, &mut |i| {
                items[fill[i] as usize] = t as u32;
                fill[i] += 1;
            });
        }
        Buckets { mesh, lo, cell, dims, start: counts, items }
    }

    /// Distance from `p` to the closest point of the mesh.
    fn distance(&self, p: P) -> f64 {
        self.closest(p).0
    }

    /// Distance from `p` to the closest point of the mesh and the triangle it lies on: cells
    /// are searched in growing shells until no unsearched cell can hold anything closer.
    pub(crate) fn closest(&self, p: P) -> (f64, u32) {
        let centre: [i64; 3] =
            std::array::from_fn(|k| ((p[k] - self.lo[k]) / self.cell).floor() as i64);
        let (mut best, mut best_t) = (f64::INFINITY, 0);
        let max_ring = self.dims.iter().max().copied().unwrap_or(1) as i64 + 1;
        for ring in 0..=max_ring {
            // Every point of a cell in shell `ring` is at least (ring - 1) cells away.
            if (ring as f64 - 1.0) * self.cell > best {
                break;
            }
            for dz in -ring..=ring {
                for dy in -ring..=ring {
                    for dx in -ring..=ring {
                        if dx.abs().max(dy.abs()).max(dz.abs()) != ring {
                            continue;
                        }
                        let c = [centre[0] + dx, centre[1] + dy, centre[2] + dz];
                        if (0..3).any(|k| c[k] < 0 || c[k] >= self.dims[k] as i64) {
                            continue;
                        }
                        let i = (c[2] as usize * self.dims[1] + c[1] as usize) * self.dims[0]
                            + c[0] as usize;
                        for &t in &self.items[self.start[i] as usize..self.start[i + 1] as usize] {
                            let [a, b, cc] = self.mesh.corners(t as usize);
                            let q = closest_on_triangle(p, a, b, cc);
                            let d = dot(sub(p, q), sub(p, q)).sqrt();
                            if d < best {
                                (best, best_t) = (d, t);
                            }
                        }
                    }
                }
            }
        }
        (best, best_t)
    }
}

/// Distance from every vertex of `from` to the surface of `to`.
pub fn vertex_to_surface(from: &TriMesh, to: &TriMesh) -> Result<Vec<f64>> {
    if to.triangles.is_empty() || from.vertices.is_empty() {
        return Err(Error::Empty("mesh for a surface distance".into()));
    }
    let buckets = Buckets::new(to);
    Ok(from.vertices.iter().map(|v| buckets.distance(v.map(f64::from))).collect())
}

/// Barycentric weights of `p` (on or near the plane of `abc`) for `a`, `b` and `c` (Ericson,
/// Real-Time Collision Detection 3.4); a degenerate triangle gives `a` all the weight.
fn barycentric(p: P, a: P, b: P, c: P) -> [f64; 3] {
    let (v0, v1, v2) = (sub(b, a), sub(c, a), sub(p, a));
    let (d00, d01, d11) = (dot(v0, v0), dot(v0, v1), dot(v1, v1));
    let (d20, d21) = (dot(v2, v0), dot(v2, v1));
    let denom = d00 * d11 - d01 * d01;
    if denom.abs() <= f64::EPSILON * d00 * d11 {
        return [1.0, 0.0, 0.0];
    }
    let v = (d11 * d20 - d01 * d21) / denom;
    let w = (d00 * d21 - d01 * d20) / denom;
    [1.0 - v - w, v, w]
}

/// The colour (in [0, 1]) of `to`'s surface at the point closest to each vertex of `from`,
/// interpolated from `to`'s vertex colours: how a coloured reference scores a coloured result.
pub fn colour_at_closest(from: &TriMesh, to: &TriMesh) -> Result<Vec<[f32; 3]>> {
    if to.triangles.is_empty() || from.vertices.is_empty() {
        return Err(Error::Empty("mesh for a colour lookup".into()));
    }
    let Some(colours) = to.colours.as_ref().filter(|c| c.len() == to.vertices.len()) else {
        return Err(Error::param("reference mesh", "has no vertex colours"));
    };
    let buckets = Buckets::new(to);
    Ok(from
        .vertices
        .iter()
        .map(|v| {
            let p = v.map(f64::from);
            let (_, t) = buckets.closest(p);
            let [a, b, c] = to.corners(t as usize);
            let q = closest_on_triangle(p, a, b, c);
            let w = barycentric(q, a, b, c);
            let tri = to.triangles[t as usize];
            std::array::from_fn(|ch| {
                let mix: f64 =
                    (0..3).map(|k| w[k] * f64::from(colours[tri[k] as usize][ch]) / 255.0).sum();
                mix.clamp(0.0, 1.0) as f32
            })
        })
        .collect())
}

/// Symmetric distances between two surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct SurfaceDistances {
    /// Hausdorff distance: the largest vertex-to-surface distance either way, mm.
    pub hausdorff: f64,
    /// 95th percentile of the distances of both directions pooled (HD95), mm.
    pub hausdorff95: f64,
    /// Chamfer distance: the mean of the two directions' mean distances, mm.
    pub chamfer: f64,
}

/// Hausdorff, HD95 and Chamfer distances between `a` and `b` (vertex to surface, both ways).
pub fn surface_distances(a: &TriMesh, b: &TriMesh) -> Result<SurfaceDistances> {
    let (ab, ba) = (vertex_to_surface(a, b)?, vertex_to_surface(b, a)?);
    let mean = |d: &[f64]| d.iter().sum::<f64>() / d.len() as f64;
    let mut all: Vec<f64> = ab.iter().chain(&ba).copied().collect();
    all.sort_by(f64::total_cmp);
    let rank = ((0.95 * all.len() as f64).ceil() as usize).clamp(1, all.len()) - 1;
    Ok(SurfaceDistances {
        hausdorff: all[all.len() - 1],
        hausdorff95: all[rank],
        chamfer: (mean(&ab) + mean(&ba)) / 2.0,
    })
}
