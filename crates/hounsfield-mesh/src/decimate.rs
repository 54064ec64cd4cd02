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

    /// The point of least error, if the 3x3 system is well conditioned: solved by the adjugate
    /// of the symmetric matrix (one determinant, no general inverse).
    fn minimiser(&self) -> Option<[f64; 3]> {
        let [a, b, c, qx, e, f, qy, h, qz, _] = self.0;
        let (c00, c01, c02) = (e * h - f * f, c * f - b * h, b * f - e * c);
        let (c11, c12, c22) = (a * h - c * c, b * c - a * f, a * e - b * b);
        let det = a * c00 + b * c01 + c * c02;
        let trace = a + e + h;
        let largest = [a, b, c, e, f, h].iter().fold(0.0f64, |m, v| m.max(v.abs()));
        if !det.is_finite()
            || trace == 0.0
            || det.abs() <= 1e-9 * trace.powi(3).abs()
            || det.abs() <= 1e-12 * largest.powi(3)
        {
            return None;
        }
        let (rx, ry, rz) = (-qx, -qy, -qz);
        Some([
            (c00 * rx + c01 * ry + c02 * rz) / det,
            (c01 * rx + c11 * ry + c12 * rz) / det,
            (c02 * rx + c12 * ry + c22 * rz) / det,
        ])
    }
}

/// A candidate collapse in the queue (20 bytes: the queue outgrows the caches, so its size is
/// its speed); stale once either endpoint's stamp has moved on. The target point is recomputed
/// when the collapse is made, from the same quadrics, so it is not stored.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    cost: f32,
    u: u32,
    v: u32,
    stamps: (u32, u32),
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

/// What a collapse reads of a vertex, together: two cache lines instead of four scattered
/// reads (the queue visits vertices in cost order, all over the mesh).
#[derive(Clone, Copy, Debug, Default)]
#[repr(align(64))]
struct Vertex {
    quadric: Quadric,
    pos: [f64; 3],
    /// Bumped by every collapse the vertex takes part in: queue entries carry it.
    stamp: u32,
    /// On a boundary or non-manifold edge: never moves.
    boundary: bool,
}

struct Decimator {
    verts: Vec<Vertex>,
    tris: Vec<[u32; 3]>,
    alive: Vec<bool>,
    /// Triangles around each vertex (may hold dead ones, skipped on use).
    around: Vec<Vec<u32>>,
    /// Per-vertex marks for ring membership (`epoch` and `epoch + 1` are the current ones), so
    /// rings are gathered without sorting.
    mark: Vec<u32>,
    epoch: u32,
}

impl Decimator {
    fn normal(&self, t: [u32; 3], moved: Option<(u32, [f64; 3])>) -> [f64; 3] {
        let p = |i: u32| match moved {
            Some((m, q)) if m == i => q,
            _ => self.verts[i as usize].pos,
        };
        cross(sub(p(t[1]), p(t[0])), sub(p(t[2]), p(t[0])))
    }

    /// Starts a new pair of marks (clearing them all when the counter would wrap).
    fn next_epoch(&mut self) -> u32 {
        if self.epoch >= u32::MAX - 2 {
            self.mark.iter_mut().for_each(|m| *m = 0);
            self.epoch = 0;
        }
        self.epoch += 2;
        self.epoch
    }

    /// The vertices sharing a live triangle with `v` (each once) into `out`; marks them with
    /// `epoch`.
    fn ring_into(&mut self, v: u32, epoch: u32, out: &mut Vec<u32>) {
        out.clear();
        for &t in &self.around[v as usize] {
            if self.alive[t as usize] {
                for w in self.tris[t as usize] {
                    if w != v && self.mark[w as usize] != epoch {
                        self.mark[w as usize] = epoch;
                        out.push(w);
                    }
                }
            }
        }
    }

    /// Where collapsing edge `(u, v)` puts the merged vertex, and the quadric error there.
    fn placement(&self, u: u32, v: u32) -> ([f64; 3], f64) {
        let (vu, vv) = (&self.verts[u as usize], &self.verts[v as usize]);
        let q = vu.quadric.add(&vv.quadric);
        let (pu, pv) = (vu.pos, vv.pos);
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
        (target, q.error(target).max(0.0))
    }

    fn candidate(&self, u: u32, v: u32) -> Option<Candidate> {
        if self.verts[u as usize].boundary || self.verts[v as usize].boundary {
            return None;
        }
        let (u, v) = (u.min(v), u.max(v));
        let (_, cost) = self.placement(u, v);
        Some(Candidate {
            cost: cost as f32,
            u,
            v,
            stamps: (self.verts[u as usize].stamp, self.verts[v as usize].stamp),
        })
    }

    fn is_current(&self, c: &Candidate) -> bool {
        (self.verts[c.u as usize].stamp, self.verts[c.v as usize].stamp) == c.stamps
    }

    /// Collapses `v` into `u` if topology and orientation allow; returns the number of triangles
    /// removed.
    fn collapse(&mut self, u: u32, v: u32, ring: &mut Vec<u32>) -> usize {
        let epoch = self.next_epoch();
        self.ring_into(u, epoch, ring);
        if self.mark[v as usize] != epoch {
            return 0; // no longer an edge
        }
        let ring_u = ring.len();
        // v's ring: members also in u's ring are shared; each is counted once (marked epoch + 1).
        let (mut ring_v, mut shared) = (0, 0);
        for &t in &self.around[v as usize] {
            if self.alive[t as usize] {
                for w in self.tris[t as usize] {
                    let m = &mut self.mark[w as usize];
                    if w != v && *m != epoch + 1 {
                        shared += usize::from(*m == epoch);
                        ring_v += 1;
                        *m = epoch + 1;
                    }
                }
            }
        }
        let mut edge_tris = [0u32; 2];
        let mut n_edge = 0;
        for &t in &self.around[u as usize] {
            if self.alive[t as usize] && self.tris[t as usize].contains(&v) {
                if n_edge < 2 {
                    edge_tris[n_edge] = t;
                }
                n_edge += 1;
            }
        }
        // Link condition for an interior edge: exactly the two opposite vertices are shared.
        if n_edge != 2 || shared != 2 || ring_u + ring_v <= 6 {
            return 0;
        }
        // The merged vertex's valence is bounded. In a flat region every collapse costs nothing,
        // so without a bound one vertex absorbs its whole neighbourhood: a fan of thousands of
        // slivers, and each later collapse there walks that fan (a one-slice 512x512 mask took
        // minutes instead of a second).
        if ring_u + ring_v - 4 > MAX_VALENCE {
            return 0;
        }
        let (target, _) = self.placement(u, v);
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
        let moved = std::mem::take(&mut self.around[v as usize]);
        let mut into = std::mem::take(&mut self.around[u as usize]);
        into.retain(|&t| self.alive[t as usize]);
        for &t in &moved {
            if !self.alive[t as usize] {
                continue;
            }
            for i in self.tris[t as usize].iter_mut() {
                if *i == v {
                    *i = u;
                }
            }
            into.push(t);
        }
        self.around[u as usize] = into;
        let absorbed = self.verts[v as usize].quadric;
        let into = &mut self.verts[u as usize];
        into.pos = target;
        into.quadric = into.quadric.add(&absorbed);
        into.stamp += 1;
        self.verts[v as usize].stamp += 1;
        2
    }
}

/// The most neighbours a vertex may have after a collapse.
const MAX_VALENCE: usize = 24;

/// Decimates `mesh` to about `ratio` of its triangles (0 < ratio <= 1), keeping its topology
/// and boundary. Stops early when no allowed collapse is left. Vertex colours are dropped (a
/// collapse moves its vertex to a new point, which no input colour belongs to).
pub fn decimate(mesh: &TriMesh, ratio: f64) -> Result<TriMesh> {
    if !(ratio > 0.0 && ratio <= 1.0) {
        return Err(Error::param("ratio", format!("must be in (0, 1], found {ratio}")));
    }
    let n = mesh.vertices.len();
    let mut d = Decimator {
        verts: mesh
            .vertices
            .iter()
            .map(|v| Vertex { pos: v.map(f64::from), ..Default::default() })
            .collect(),
        tris: mesh.triangles.clone(),
        alive: vec![true; mesh.triangles.len()],
        around: vec![Vec::new(); n],
        mark: vec![0; n],
        epoch: 0,
    };
    // Edges as sorted (low, high) pairs: a run of one is a boundary edge, of three or more a
    // non-manifold one; both pin their vertices.
    let mut edges: Vec<(u32, u32)> = Vec::with_capacity(3 * mesh.triangles.len());
    for (t, tri) in mesh.triangles.iter().enumerate() {
        let nrm = d.normal(*tri, None);
        let len = dot(nrm, nrm).sqrt();
        if len > 0.0 {
            let unit = nrm.map(|c| c / len);
            let q = Quadric::plane(unit, -dot(unit, d.verts[tri[0] as usize].pos), len / 2.0);
            for &i in tri {
                let vert = &mut d.verts[i as usize];
                vert.quadric = vert.quadric.add(&q);
            }
        }
        for k in 0..3 {
            d.around[tri[k] as usize].push(t as u32);
            let (a, b) = (tri[k], tri[(k + 1) % 3]);
            edges.push((a.min(b), a.max(b)));
        }
    }
    edges.sort_unstable();
    let mut keys: Vec<(u32, u32)> = Vec::with_capacity(edges.len() / 2);
    for run in edges.chunk_by(|a, b| a == b) {
        let (a, b) = run[0];
        if run.len() != 2 {
            d.verts[a as usize].boundary = true;
            d.verts[b as usize].boundary = true;
        }
        keys.push((a, b));
    }
    drop(edges);
    let mut heap: BinaryHeap<Candidate> =
        keys.iter().filter_map(|&(a, b)| d.candidate(a, b)).collect();
    drop(keys);
    let target = ((mesh.triangles.len() as f64) * ratio).round() as usize;
    let mut live = mesh.triangles.len();
    let mut ring = Vec::new();
    while live > target {
        // Stale entries pile up (each collapse outdates a dozen and adds half a dozen): sweep
        // them out when they outnumber the live edges, so the queue stays small and cached.
        if heap.len() > 2 * live + 4096 {
            heap.retain(|c| d.is_current(c));
        }
        let Some(c) = heap.pop() else { break };
        if !d.is_current(&c) {
            continue; // an endpoint changed since this entry was queued
        }
        let removed = d.collapse(c.u, c.v, &mut ring);
        if removed == 0 {
            continue;
        }
        live -= removed;
        let epoch = d.next_epoch();
        d.ring_into(c.u, epoch, &mut ring);
        for &w in &ring {
            if let Some(next) = d.candidate(c.u, w) {
                heap.push(next);
            }
        }
    }
    let out = TriMesh {
        vertices: d.verts.iter().map(|v| v.pos.map(|c| c as f32)).collect(),
        triangles: d.tris.iter().zip(&d.alive).filter(|(_, a)| **a).map(|(t, _)| *t).collect(),
        normals: None,
        // Collapses move vertices; colours are not carried through them.
        colours: None,
    };
    let mut out = compact(&out);
    if mesh.normals.is_some() {
        out.normals = Some(out.vertex_normals_from_faces());
    }
    Ok(out)
}
