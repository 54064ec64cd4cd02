//! The triangle mesh type and its measures.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hounsfield_core::{Error, Result};
use serde::Serialize;

use crate::vec3::{cross, dot, norm, sub};

/// An indexed triangle mesh in physical coordinates (mm, LPS when it comes from a volume).
/// Triangles are counter-clockwise seen from outside: normals point outward.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TriMesh {
    /// Vertex positions.
    pub vertices: Vec<[f32; 3]>,
    /// Vertex indices, three per triangle.
    pub triangles: Vec<[u32; 3]>,
    /// Unit vertex normals, if computed (one per vertex).
    pub normals: Option<Vec<[f32; 3]>>,
    /// Vertex colours, 8-bit sRGB as PLY stores them (one per vertex), if the mesh has them.
    pub colours: Option<Vec<[u8; 3]>>,
}

/// How many triangles use an undirected edge, and how many of them run it lower -> higher index.
struct EdgeUse {
    uses: u32,
    forward: u32,
}

/// A fast hasher for vertex positions (their f32 bit patterns): multiply-rotate per word, as
/// rustc's FxHasher. Positions are not attacker-chosen keys, so SipHash's cost buys nothing.
#[derive(Default)]
struct PositionHasher(u64);

impl Hasher for PositionHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u32(u32::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(v)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Topology and size of a mesh, as `hounsfield mesh` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeshStats {
    /// Vertices.
    pub vertices: usize,
    /// Triangles.
    pub triangles: usize,
    /// Surface area, mm².
    pub area: f64,
    /// Enclosed volume by the divergence theorem, mm³ (positive for outward normals; only
    /// meaningful for a closed mesh).
    pub volume: f64,
    /// `V - E + F` (2 for a sphere, 0 for a torus, per connected closed component).
    pub euler_characteristic: i64,
    /// Edges used by one triangle only (holes).
    pub boundary_edges: usize,
    /// Edges used by three or more triangles.
    pub non_manifold_edges: usize,
    /// Edges used twice in the same direction (neighbouring triangles wound inconsistently).
    pub inconsistent_edges: usize,
    /// Triangles of zero area (collinear or repeated vertices).
    pub degenerate_triangles: usize,
    /// Vertices at exactly the same position as an earlier vertex.
    pub duplicate_vertices: usize,
    /// Connected components (by shared vertices).
    pub components: usize,
}

impl MeshStats {
    /// Closed (no boundary edges), manifold and consistently oriented.
    pub fn is_watertight(&self) -> bool {
        self.boundary_edges == 0 && self.non_manifold_edges == 0 && self.inconsistent_edges == 0
    }
}

impl TriMesh {
    /// A mesh from positions and triangles, checking that every index exists.
    pub fn new(vertices: Vec<[f32; 3]>, triangles: Vec<[u32; 3]>) -> Result<Self> {
        let n = vertices.len();
        if let Some((k, t)) =
            triangles.iter().enumerate().find(|(_, t)| t.iter().any(|&i| i as usize >= n))
        {
            return Err(Error::param(
                "triangles",
                format!("triangle {k} {t:?} refers to a vertex beyond the {n} vertices"),
            ));
        }
        if let Some(k) = vertices.iter().position(|v| v.iter().any(|c| !c.is_finite())) {
            return Err(Error::param("vertices", format!("vertex {k} is not finite")));
        }
        Ok(TriMesh { vertices, triangles, normals: None, colours: None })
    }

    /// Whether the mesh has no triangle.
    pub fn is_empty(&self) -> bool {
        self.triangles.is_empty()
    }

    /// The axis-aligned bounding box `(lowest, highest)` corner of the vertices, mm (infinite
    /// and inverted for a mesh without vertices).
    pub fn bounds(&self) -> ([f64; 3], [f64; 3]) {
        let mut lo = [f64::INFINITY; 3];
        let mut hi = [f64::NEG_INFINITY; 3];
        for v in &self.vertices {
            for k in 0..3 {
                lo[k] = lo[k].min(f64::from(v[k]));
                hi[k] = hi[k].max(f64::from(v[k]));
            }
        }
        (lo, hi)
    }

    /// The corners of triangle `t` in f64.
    pub fn corners(&self, t: usize) -> [[f64; 3]; 3] {
        self.triangles[t].map(|i| self.vertices[i as usize].map(f64::from))
    }

    /// `(b - a) x (c - a)` of triangle `t`: along its outward normal, twice its area long.
    pub fn face_normal(&self, t: usize) -> [f64; 3] {
        let [a, b, c] = self.corners(t);
        cross(sub(b, a), sub(c, a))
    }

    /// Area of triangle `t`, mm².
    pub fn triangle_area(&self, t: usize) -> f64 {
        norm(self.face_normal(t)) / 2.0
    }

    /// Surface area, mm².
    pub fn area(&self) -> f64 {
        (0..self.triangles.len())
            .map(|t| {
                let [a, b, c] = self.corners(t);
                let n = cross(sub(b, a), sub(c, a));
                dot(n, n).sqrt() / 2.0
            })
            .sum()
    }

    /// Signed enclosed volume, mm³: positive when a closed mesh's normals point outward. (An
    /// open surface encloses nothing: its value is that of the surface closed by cones to the
    /// centre of its bounding box.)
    pub fn signed_volume(&self) -> f64 {
        // Relative to the bounding box's centre, which keeps the sum's terms small far from the
        // origin and, unlike a chosen vertex, does not depend on the vertices' order.
        let (lo, hi) = self.bounds();
        let o: [f64; 3] = if self.vertices.is_empty() {
            [0.0; 3]
        } else {
            std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0)
        };
        (0..self.triangles.len())
            .map(|t| {
                let [a, b, c] = self.corners(t).map(|p| sub(p, o));
                dot(a, cross(b, c)) / 6.0
            })
            .sum()
    }

    /// Area-weighted mean of the triangle centroids (the surface's centre), mm.
    pub fn centroid(&self) -> [f64; 3] {
        let mut sum = [0.0; 3];
        let mut total = 0.0;
        for t in 0..self.triangles.len() {
            let [a, b, c] = self.corners(t);
            let w = dot(cross(sub(b, a), sub(c, a)), cross(sub(b, a), sub(c, a))).sqrt();
            for k in 0..3 {
                sum[k] += w * (a[k] + b[k] + c[k]) / 3.0;
            }
            total += w;
        }
        if total > 0.0 { sum.map(|s| s / total) } else { sum }
    }

    /// Every measure of [`MeshStats`].
    pub fn stats(&self) -> MeshStats {
        let edges = self.edge_uses();
        let mut boundary = 0;
        let mut non_manifold = 0;
        let mut inconsistent = 0;
        for e in &edges {
            match e.uses {
                1 => boundary += 1,
                2 => inconsistent += usize::from(e.forward != 1),
                _ => non_manifold += 1,
            }
        }
        let degenerate = (0..self.triangles.len())
            .filter(|&t| {
                let [a, b, c] = self.corners(t);
                let n = cross(sub(b, a), sub(c, a));
                dot(n, n) == 0.0
            })
            .count();
        let mut positions: HashSet<[u32; 3], BuildHasherDefault<PositionHasher>> =
            HashSet::with_capacity_and_hasher(self.vertices.len(), Default::default());
        let duplicates =
            self.vertices.iter().filter(|v| !positions.insert(v.map(f32::to_bits))).count();
        let used = {
            let mut u = vec![false; self.vertices.len()];
            self.triangles.iter().flatten().for_each(|&i| u[i as usize] = true);
            u.iter().filter(|&&x| x).count()
        };
        MeshStats {
            vertices: self.vertices.len(),
            triangles: self.triangles.len(),
            area: self.area(),
            volume: self.signed_volume(),
            euler_characteristic: used as i64 - edges.len() as i64 + self.triangles.len() as i64,
            boundary_edges: boundary,
            non_manifold_edges: non_manifold,
            inconsistent_edges: inconsistent,
            degenerate_triangles: degenerate,
            duplicate_vertices: duplicates,
            components: self.components().1,
        }
    }

    /// Every undirected edge once, with how many triangles use it and how many of those run it
    /// from its lower to its higher vertex index. Edges are bucketed by their lower vertex (a
    /// counting sort), and each bucket (a handful of edges) is sorted: linear time, no hashing.
    fn edge_uses(&self) -> Vec<EdgeUse> {
        let n = self.vertices.len();
        let mut start = vec![0u32; n + 1];
        for tri in &self.triangles {
            for k in 0..3 {
                let (u, v) = (tri[k], tri[(k + 1) % 3]);
                start[u.min(v) as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        // (higher vertex << 1) | forward, per lower vertex's bucket.
        let mut entries = vec![0u64; self.triangles.len() * 3];
        for tri in &self.triangles {
            for k in 0..3 {
                let (u, v) = (tri[k], tri[(k + 1) % 3]);
                let slot = &mut fill[u.min(v) as usize];
                entries[*slot as usize] = (u64::from(u.max(v)) << 1) | u64::from(u < v);
                *slot += 1;
            }
        }
        let mut edges = Vec::with_capacity(entries.len() / 2);
        for i in 0..n {
            let bucket = &mut entries[start[i] as usize..start[i + 1] as usize];
            bucket.sort_unstable();
            for group in bucket.chunk_by(|a, b| a >> 1 == b >> 1) {
                let forward = group.iter().map(|e| (e & 1) as u32).sum();
                edges.push(EdgeUse { uses: group.len() as u32, forward });
            }
        }
        edges
    }

    /// `(component of each vertex, number of components)` over vertices used by triangles
    /// (unused vertices get `u32::MAX`).
    pub fn components(&self) -> (Vec<u32>, usize) {
        let n = self.vertices.len();
        let mut parent: Vec<u32> = (0..n as u32).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                p[x as usize] = p[p[x as usize] as usize];
                x = p[x as usize];
            }
            x
        }
        for t in &self.triangles {
            for k in 1..3 {
                let (a, b) = (find(&mut parent, t[0]), find(&mut parent, t[k]));
                if a != b {
                    parent[a.max(b) as usize] = a.min(b);
                }
            }
        }
        let mut used = vec![false; n];
        self.triangles.iter().flatten().for_each(|&i| used[i as usize] = true);
        let mut label = vec![u32::MAX; n];
        // Component numbers by root, in the order the roots are first met.
        let mut id_of_root = vec![u32::MAX; n];
        let mut count = 0u32;
        for v in 0..n {
            if used[v] {
                let root = find(&mut parent, v as u32) as usize;
                if id_of_root[root] == u32::MAX {
                    id_of_root[root] = count;
                    count += 1;
                }
                label[v] = id_of_root[root];
            }
        }
        (label, count as usize)
    }

    /// Unit normals per vertex from the area-weighted normals of the triangles around it.
    pub fn vertex_normals_from_faces(&self) -> Vec<[f32; 3]> {
        let mut acc = vec![[0.0f64; 3]; self.vertices.len()];
        for (t, tri) in self.triangles.iter().enumerate() {
            let [a, b, c] = self.corners(t);
            let n = cross(sub(b, a), sub(c, a));
            for &i in tri {
                for k in 0..3 {
                    acc[i as usize][k] += n[k];
                }
            }
        }
        acc.iter()
            .map(|n| {
                let len = dot(*n, *n).sqrt();
                if len > 0.0 { n.map(|c| (c / len) as f32) } else { [0.0; 3] }
            })
            .collect()
    }
}
