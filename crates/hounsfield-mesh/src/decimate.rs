//! Quadric-error decimation (Garland & Heckbert 1997) with topology and boundary preservation.
//!
//! Every vertex carries the sum of the squared-distance quadrics of the planes of its triangles
//! (area-weighted). Edges are collapsed cheapest first into the point that minimises the summed
//! quadric. A collapse is refused when it would change the topology (the link condition: the
//! two endpoints may share only the two vertices opposite the edge), flip a triangle, or move a
//! boundary vertex; so a closed manifold mesh stays closed and manifold with the same Euler
//! characteristic, and an open one keeps its rim.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use hounsfield_core::{Error, Result};

use crate::mesh::TriMesh;
use crate::process::compact;
use crate::vec3::{cross, dot, sub};

/// A symmetric 4x4 quadric stored as its 10 upper-triangle entries.
#[derive(Clone, Copy, Debug, Default)]
struct Quadric([f64; 10]);

impl Quadric {
    /// `w (n.x + d)^2` for the plane `n.x + d = 0`.
    fn plane(n: [f64; 3], d: f64, w: f64) -> Self {
        let [a, b, c] = n;
        Quadric(
            [a * a, a * b, a * c, a * d, b * b, b * c, b * d, c * c, c * d, d * d].map(|v| v * w),
        )
    }

    fn add(&self, o: &Quadric) -> Quadric {
        Quadric(std::array::from_fn(|k| self.0[k] + o.0[k]))
    }

    fn error(&self, p: [f64; 3]) -> f64 {
        let q = &self.0;
        let [x, y, z] = p;
        q[0] * x * x
            + 2.0 * q[1] * x * y
            + 2.0 * q[2] * x * z
            + 2.0 * q[3] * x
            + q[4] * y * y
            + 2.0 * q[5] * y * z
            + 2.0 * q[6] * y
            + q[7] * z * z
            + 2.0 * q[8] * z
            + q[9]
    }

    /// The point of least error, if the 3x3 system is well conditioned.
    fn minimiser(&self) -> Option<[f64; 3]> {
        let q = &self.0;
        let a = [[q[0], q[1], q[2]], [q[1], q[4], q[5]], [q[2], q[5], q[7]]];
        let det = hounsfield_core::mat3::det(&a);
        let scale = (q[0] + q[4] + q[7]).powi(3);
        if det.is_nan() || det.abs() <= 1e-9 * scale.abs() || scale == 0.0 {
            return None;
        }
        let inv = hounsfield_core::mat3::inverse(&a)?;
        let b = [-q[3], -q[6], -q[8]];
        Some(hounsfield_core::mat3::mul_vec(&inv, b))
    }
}

/// A candidate collapse in the queue; stale once either endpoint's stamp has moved on.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    cost: f64,
    u: u32,
    v: u32,
    stamps: (u32, u32),
    target: [f64; 3],
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    // Cheapest first in a max-heap; ties broken by the vertex indices for determinism.
    fn cmp(&self, other: &Self) -> Ordering {
        other.cost.total_cmp(&self.cost).then_with(|| (other.u, other.v).cmp(&(self.u, self.v)))
    }
}

struct Decimator {
    pos: Vec<[f64; 3]>,
    quadric: Vec<Quadric>,
    stamp: Vec<u32>,
    boundary: Vec<bool>,
    tris: Vec<[u32; 3]>,
    alive: Vec<bool>,
    /// Triangles around each vertex (may hold dead ones, skipped on use).
    around: Vec<Vec<u32>>,
}

impl Decimator {
    fn normal(&self, t: [u32; 3], moved: Option<(u32, [f64; 3])>) -> [f64; 3] {
        let p = |i: u32| match moved {
            Some((m, q)) if m == i => q,
            _ => self.pos[i as usize],
        };
        cross(sub(p(t[1]), p(t[0])), sub(p(t[2]), p(t[0])))
    }

    fn ring(&self, v: u32) -> Vec<u32> {
        let mut r: Vec<u32> = self.around[v as usize]
            .iter()
            .filter(|&&t| self.alive[t as usize])
            .flat_map(|&t| self.tris[t as usize])
            .filter(|&w| w != v)
            .collect();
        r.sort_unstable();
        r.dedup();
        r
    }

    fn candidate(&self, u: u32, v: u32) -> Option<Candidate> {
        if self.boundary[u as usize] || self.boundary[v as usize] {
            return None;
        }
        let q = self.quadric[u as usize].add(&self.quadric[v as usize]);
        let (pu, pv) = (self.pos[u as usize], self.pos[v as usize]);
        let mid = std::array::from_fn(|k| (pu[k] + pv[k]) / 2.0);
        let target = q.minimiser().filter(|p| {
            // Keep the optimum near the edge: far-flung minimisers come from near-flat regions.
            let len2 = dot(sub(pu, pv), sub(pu, pv));
            dot(sub(*p, mid), sub(*p, mid)) <= 4.0 * len2
        });
        let target = target.unwrap_or_else(|| {
            [pu, pv, mid]
                .into_iter()
                .min_by(|a, b| q.error(*a).total_cmp(&q.error(*b)))
                .unwrap_or(mid)
        });
        Some(Candidate {
            cost: q.error(target).max(0.0),
            u: u.min(v),
            v: u.max(v),
            stamps: (self.stamp[u.min(v) as usize], self.stamp[u.max(v) as usize]),
            target,
        })
    }

    /// Collapses `v` into `u` at `target` if topology and orientation allow; returns the
    /// number of triangles removed.
    fn collapse(&mut self, u: u32, v: u32, target: [f64; 3]) -> usize {
        let (ru, rv) = (self.ring(u), self.ring(v));
        if ru.binary_search(&v).is_err() {
            return 0; // no longer an edge
        }
        let shared: Vec<u32> = ru.iter().filter(|w| rv.binary_search(w).is_ok()).copied().collect();
        let edge_tris: Vec<u32> = self.around[u as usize]
            .iter()
            .filter(|&&t| self.alive[t as usize] && self.tris[t as usize].contains(&v))
            .copied()
            .collect();
        // Link condition for an interior edge: exactly the two opposite vertices are shared.
        if edge_tris.len() != 2 || shared.len() != 2 || ru.len() + rv.len() <= 6 {
            return 0;
        }
        // No surviving triangle may flip or degenerate when u and v move to the target.
        for &w in &[u, v] {
            for &t in &self.around[w as usize] {
                let tri = self.tris[t as usize];
                if !self.alive[t as usize] || tri.contains(&u) && tri.contains(&v) {
                    continue;
                }
                let before = self.normal(tri, None);
                let after = self.normal(tri, Some((w, target)));
                if dot(before, after)
                    <= 0.05 * dot(before, before).sqrt() * dot(after, after).sqrt()
                {
                    return 0;
                }
            }
        }
        for &t in &edge_tris {
            self.alive[t as usize] = false;
        }
        let moved: Vec<u32> = self.around[v as usize].clone();
        for t in moved {
            if !self.alive[t as usize] {
                continue;
            }
            for i in self.tris[t as usize].iter_mut() {
                if *i == v {
                    *i = u;
                }
            }
            self.around[u as usize].push(t);
        }
        self.around[v as usize].clear();
        self.around[u as usize].retain(|&t| self.alive[t as usize]);
        self.pos[u as usize] = target;
        self.quadric[u as usize] = self.quadric[u as usize].add(&self.quadric[v as usize]);
        self.stamp[u as usize] += 1;
        self.stamp[v as usize] += 1;
        edge_tris.len()
    }
}

/// Decimates `mesh` to about `ratio` of its triangles (0 < ratio <= 1), keeping its topology
/// and boundary. Stops early when no allowed collapse is left.
pub fn decimate(mesh: &TriMesh, ratio: f64) -> Result<TriMesh> {
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(Error::param("ratio", format!("must be in (0, 1], found {ratio}")));
    }
    let n = mesh.vertices.len();
    let mut d = Decimator {
        pos: mesh.vertices.iter().map(|v| v.map(f64::from)).collect(),
        quadric: vec![Quadric::default(); n],
        stamp: vec![0; n],
        boundary: vec![false; n],
        tris: mesh.triangles.clone(),
        alive: vec![true; mesh.triangles.len()],
        around: vec![Vec::new(); n],
    };
    let mut edges: std::collections::HashMap<(u32, u32), u32> = std::collections::HashMap::new();
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let nrm = d.normal(*tri, None);
        let len = dot(nrm, nrm).sqrt();
        if len > 0.0 {
            let unit = nrm.map(|c| c / len);
            let q = Quadric::plane(unit, -dot(unit, d.pos[tri[0] as usize]), len / 2.0);
            for &i in tri {
                d.quadric[i as usize] = d.quadric[i as usize].add(&q);
            }
        }
        for k in 0..3 {
            d.around[tri[k] as usize].push(t as u32);
            let (a, b) = (tri[k], tri[(k + 1) % 3]);
            *edges.entry((a.min(b), a.max(b))).or_insert(0) += 1;
        }
    }
    for (&(a, b), &uses) in &edges {
        if uses != 2 {
            d.boundary[a as usize] = true;
            d.boundary[b as usize] = true;
        }
    }
    let mut keys: Vec<(u32, u32)> = edges.keys().copied().collect();
    keys.sort_unstable();
    let mut heap: BinaryHeap<Candidate> =
        keys.iter().filter_map(|&(a, b)| d.candidate(a, b)).collect();
    let target = ((mesh.triangles.len() as f64) * ratio).round() as usize;
    let mut live = mesh.triangles.len();
    while live > target {
        let Some(c) = heap.pop() else { break };
        if (d.stamp[c.u as usize], d.stamp[c.v as usize]) != c.stamps {
            continue; // an endpoint changed since this entry was queued
        }
        let removed = d.collapse(c.u, c.v, c.target);
        if removed == 0 {
            continue;
        }
        live -= removed;
        for w in d.ring(c.u) {
            if let Some(next) = d.candidate(c.u, w) {
                heap.push(next);
            }
        }
    }
    let out = TriMesh {
        vertices: d.pos.iter().map(|p| p.map(|c| c as f32)).collect(),
        triangles: d.tris.iter().zip(&d.alive).filter(|(_, a)| **a).map(|(t, _)| *t).collect(),
        normals: None,
    };
    let mut out = compact(&out);
    if mesh.normals.is_some() {
        out.normals = Some(out.vertex_normals_from_faces());
    }
    Ok(out)
}
