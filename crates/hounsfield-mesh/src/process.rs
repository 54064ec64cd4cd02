//! Cleaning and smoothing: unused vertices, connected components, Taubin smoothing.

use hounsfield_core::{Error, Result};
use serde::{Deserialize, Serialize};

use crate::mesh::TriMesh;

/// The mesh without vertices that no triangle uses (indices renumbered in order; normals and
/// colours kept).
pub fn compact(mesh: &TriMesh) -> TriMesh {
    let mut map = vec![u32::MAX; mesh.vertices.len()];
    let mut vertices = Vec::new();
    let mut normals = mesh.normals.as_ref().map(|_| Vec::new());
    let mut colours = mesh.colours.as_ref().map(|_| Vec::new());
    let triangles = mesh
        .triangles
        .iter()
        .map(|t| {
            t.map(|i| {
                if map[i as usize] == u32::MAX {
                    map[i as usize] = vertices.len() as u32;
                    vertices.push(mesh.vertices[i as usize]);
                    if let (Some(out), Some(src)) = (normals.as_mut(), mesh.normals.as_ref()) {
                        out.push(src[i as usize]);
                    }
                    if let (Some(out), Some(src)) = (colours.as_mut(), mesh.colours.as_ref()) {
                        out.push(src[i as usize]);
                    }
                }
                map[i as usize]
            })
        })
        .collect();
    TriMesh { vertices, triangles, normals, colours }
}

/// Each vertex's component and each component's area (mm²).
fn component_areas(mesh: &TriMesh) -> (Vec<u32>, Vec<f64>) {
    let (label, count) = mesh.components();
    let mut area = vec![0.0f64; count];
    for (t, tri) in mesh.triangles.iter().enumerate() {
        area[label[tri[0] as usize] as usize] += mesh.triangle_area(t);
    }
    (label, area)
}

/// The mesh without zero-area triangles (repeated or collinear corners), compacted.
pub fn drop_degenerate(mesh: &TriMesh) -> TriMesh {
    let keep: Vec<[u32; 3]> = (0..mesh.triangles.len())
        .filter(|&t| mesh.triangle_area(t) > 0.0)
        .map(|t| mesh.triangles[t])
        .collect();
    compact(&TriMesh {
        vertices: mesh.vertices.clone(),
        triangles: keep,
        normals: mesh.normals.clone(),
        colours: mesh.colours.clone(),
    })
}

/// Cleans an imported mesh: vertices at exactly the same position merged, zero-area and
/// repeated triangles (the same three vertices) dropped, unused vertices removed.
pub fn clean(mesh: &TriMesh) -> TriMesh {
    let mut first: std::collections::HashMap<[u32; 3], u32> = std::collections::HashMap::new();
    let remap: Vec<u32> = mesh
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| *first.entry(v.map(f32::to_bits)).or_insert(i as u32))
        .collect();
    let mut seen = std::collections::HashSet::new();
    let triangles = mesh
        .triangles
        .iter()
        .map(|t| t.map(|i| remap[i as usize]))
        .filter(|t| {
            let mut key = *t;
            key.sort_unstable();
            seen.insert(key)
        })
        .collect();
    drop_degenerate(&TriMesh {
        vertices: mesh.vertices.clone(),
        triangles,
        normals: mesh.normals.clone(),
        colours: mesh.colours.clone(),
    })
}

/// The triangles of the components whose area passes `keep(component, area)`, compacted.
fn filter_components(mesh: &TriMesh, keep: impl Fn(usize, f64) -> bool) -> TriMesh {
    let (label, area) = component_areas(mesh);
    let kept: Vec<bool> = area.iter().enumerate().map(|(c, &a)| keep(c, a)).collect();
    let selected = TriMesh {
        vertices: mesh.vertices.clone(),
        triangles: mesh
            .triangles
            .iter()
            .filter(|t| kept[label[t[0] as usize] as usize])
            .copied()
            .collect(),
        normals: mesh.normals.clone(),
        colours: mesh.colours.clone(),
    };
    compact(&selected)
}

/// The connected component with the largest area.
pub fn keep_largest_component(mesh: &TriMesh) -> TriMesh {
    let (_, area) = component_areas(mesh);
    let best = (0..area.len()).max_by(|&a, &b| area[a].total_cmp(&area[b])).unwrap_or(0);
    filter_components(mesh, |c, _| c == best)
}

/// The mesh without components smaller than `min_area` mm² (specks of noise).
pub fn remove_small_components(mesh: &TriMesh, min_area: f64) -> TriMesh {
    filter_components(mesh, |_, area| area >= min_area)
}

/// The components holding at least one vertex marked in `marked` (one flag per vertex), e.g.
/// the parts of a reconstruction that some view saw; the rest dropped, the mesh compacted.
pub fn keep_marked_components(mesh: &TriMesh, marked: &[bool]) -> Result<TriMesh> {
    if marked.len() != mesh.vertices.len() {
        return Err(Error::ShapeMismatch {
            what: "vertex marks",
            expected: vec![mesh.vertices.len()],
            found: vec![marked.len()],
        });
    }
    let (label, count) = mesh.components();
    let mut keep = vec![false; count];
    for (v, &m) in marked.iter().enumerate() {
        if m {
            keep[label[v] as usize] = true;
        }
    }
    Ok(filter_components(mesh, |c, _| keep[c]))
}

/// Options of [`taubin_smooth`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaubinOptions {
    /// Passes of the λ|μ pair (10).
    pub iterations: usize,
    /// Shrinking step λ (0.5).
    pub lambda: f64,
    /// Inflating step μ, negative with |μ| > λ (-0.53): together they pass low frequencies
    /// (the shape) and damp high ones (staircase and noise) without shrinking.
    pub mu: f64,
    /// Keep boundary vertices fixed (true) so open surfaces keep their rims.
    pub fix_boundary: bool,
}

impl Default for TaubinOptions {
    fn default() -> Self {
        TaubinOptions { iterations: 10, lambda: 0.5, mu: -0.53, fix_boundary: true }
    }
}

/// Each vertex's neighbours (by edges) and whether it lies on a boundary edge.
fn neighbourhoods(mesh: &TriMesh) -> (Vec<Vec<u32>>, Vec<bool>) {
    let n = mesh.vertices.len();
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut edge_uses: std::collections::HashMap<(u32, u32), u32> =
        std::collections::HashMap::new();
    for t in &mesh.triangles {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            *edge_uses.entry((a.min(b), a.max(b))).or_insert(0) += 1;
        }
    }
    let mut boundary = vec![false; n];
    for (&(a, b), &uses) in &edge_uses {
        neighbours[a as usize].push(b);
        neighbours[b as usize].push(a);
        if uses == 1 {
            boundary[a as usize] = true;
            boundary[b as usize] = true;
        }
    }
    for list in &mut neighbours {
        list.sort_unstable(); // deterministic sums whatever the hash order
    }
    (neighbours, boundary)
}

/// Taubin's λ|μ smoothing (uniform Laplacian): removes the marching-cubes staircase while
/// keeping the enclosed volume within a fraction of a percent. Normals, if any, are recomputed
/// from the faces.
pub fn taubin_smooth(mesh: &TriMesh, options: &TaubinOptions) -> Result<TriMesh> {
    let o = options;
    if !(o.lambda > 0.0 && o.lambda < 1.0 && o.mu < -o.lambda && o.mu > -1.0) {
        return Err(Error::param(
            "lambda/mu",
            format!("need 0 < lambda < -mu < 1, found {} and {}", o.lambda, o.mu),
        ));
    }
    let (neighbours, boundary) = neighbourhoods(mesh);
    let mut pos: Vec<[f64; 3]> = mesh.vertices.iter().map(|v| v.map(f64::from)).collect();
    let mut next = pos.clone();
    for _ in 0..o.iterations {
        for factor in [o.lambda, o.mu] {
            for (v, out) in next.iter_mut().enumerate() {
                let nb = &neighbours[v];
                if nb.is_empty() || (o.fix_boundary && boundary[v]) {
                    *out = pos[v];
                    continue;
                }
                let mut mean = [0.0; 3];
                for &u in nb {
                    for k in 0..3 {
                        mean[k] += pos[u as usize][k];
                    }
                }
                let inv = 1.0 / nb.len() as f64;
                *out = std::array::from_fn(|k| pos[v][k] + factor * (mean[k] * inv - pos[v][k]));
            }
            std::mem::swap(&mut pos, &mut next);
        }
    }
    let mut out = TriMesh {
        vertices: pos.iter().map(|p| p.map(|c| c as f32)).collect(),
        triangles: mesh.triangles.clone(),
        normals: None,
        colours: mesh.colours.clone(),
    };
    if mesh.normals.is_some() {
        out.normals = Some(out.vertex_normals_from_faces());
    }
    Ok(out)
}

/// Options of [`windowed_sinc_smooth`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowedSincOptions {
    /// Order of the polynomial filter (20).
    pub iterations: usize,
    /// Pass band in the Laplacian's spectrum, (0, 2) (0.1: lower is smoother).
    pub pass_band: f64,
    /// Keep boundary vertices fixed (true).
    pub fix_boundary: bool,
}

impl Default for WindowedSincOptions {
    fn default() -> Self {
        WindowedSincOptions { iterations: 20, pass_band: 0.1, fix_boundary: true }
    }
}

/// Chebyshev coefficients `c_0..=c_n` of the Hamming-windowed ideal low-pass filter with its
/// edge shifted by `σ` so that the gain at the pass band is exactly 1 (Taubin, Zhang & Golub's
/// remedy for shrinkage; VTK finds the same `σ` by Newton's method to 1e-3).
fn sinc_coefficients(n: usize, pass_band: f64) -> Vec<f64> {
    let pi = std::f64::consts::PI;
    let theta = (1.0 - pass_band / 2.0).acos();
    let window = |i: usize| 0.54 + 0.46 * (i as f64 * pi / (n as f64 + 1.0)).cos();
    let coefficients = |sigma: f64| -> Vec<f64> {
        (0..=n)
            .map(|i| {
                let t = theta + sigma;
                let ideal =
                    if i == 0 { t / pi } else { 2.0 * (i as f64 * t).sin() / (i as f64 * pi) };
                ideal * window(i)
            })
            .collect()
    };
    // Gain at the pass band: sum c_i T_i(1 - k_pb / 2) = sum c_i cos(i theta).
    let gain = |sigma: f64| -> f64 {
        coefficients(sigma).iter().enumerate().map(|(i, c)| c * (i as f64 * theta).cos()).sum()
    };
    // The gain grows with σ near 0; bracket the root and bisect (no derivative needed).
    let (mut lo, mut hi) = (-theta, pi - theta);
    if gain(lo) > 1.0 || gain(hi) < 1.0 {
        return coefficients(0.0);
    }
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if gain(mid) < 1.0 { lo = mid } else { hi = mid }
    }
    coefficients((lo + hi) / 2.0)
}

/// Windowed-sinc smoothing (Taubin, Zhang & Golub 1996, as VTK's
/// vtkWindowedSincPolyDataFilter): a Chebyshev expansion of the ideal low-pass filter on the
/// umbrella Laplacian, Hamming-windowed, its edge placed so that the pass band keeps unit gain,
/// applied by the three-term recurrence. Smooths like many Taubin passes at the cost of `iterations` Laplacians,
/// with almost no shrinkage.
pub fn windowed_sinc_smooth(mesh: &TriMesh, options: &WindowedSincOptions) -> Result<TriMesh> {
    let o = options;
    if !(o.pass_band > 0.0 && o.pass_band < 2.0) {
        return Err(Error::param("pass_band", format!("must be in (0, 2), found {}", o.pass_band)));
    }
    let n = o.iterations.max(1);
    let c = sinc_coefficients(n, o.pass_band);
    let (neighbours, boundary) = neighbourhoods(mesh);
    let fixed = |v: usize| neighbours[v].is_empty() || (o.fix_boundary && boundary[v]);
    // x - K x with K = I - W (W: the neighbours' mean): the averaging step of the recurrence.
    let average = |x: &[[f64; 3]], v: usize| -> [f64; 3] {
        let nb = &neighbours[v];
        let inv = 1.0 / nb.len() as f64;
        std::array::from_fn(|k| nb.iter().map(|&u| x[u as usize][k]).sum::<f64>() * inv)
    };
    let x0: Vec<[f64; 3]> = mesh.vertices.iter().map(|v| v.map(f64::from)).collect();
    let count = x0.len();
    // x1 = (I - K/2) x0 = (x0 + W x0) / 2; x_{i+1} = 2 (I - K/2) x_i - x_{i-1} = W x_i + ... :
    // (I - K/2) x = (x + W x) / 2, so x_{i+1} = x_i + W x_i - x_{i-1}.
    let mut prev = x0.clone();
    let mut cur: Vec<[f64; 3]> = (0..count)
        .map(|v| {
            if fixed(v) {
                x0[v]
            } else {
                let w = average(&x0, v);
                std::array::from_fn(|k| (x0[v][k] + w[k]) / 2.0)
            }
        })
        .collect();
    let mut out: Vec<[f64; 3]> =
        (0..count).map(|v| std::array::from_fn(|k| c[0] * x0[v][k] + c[1] * cur[v][k])).collect();
    for coefficient in c.iter().skip(2) {
        let next: Vec<[f64; 3]> = (0..count)
            .map(|v| {
                if fixed(v) {
                    x0[v]
                } else {
                    let w = average(&cur, v);
                    std::array::from_fn(|k| cur[v][k] + w[k] - prev[v][k])
                }
            })
            .collect();
        for (o, x) in out.iter_mut().zip(&next) {
            for k in 0..3 {
                o[k] += coefficient * x[k];
            }
        }
        prev = std::mem::replace(&mut cur, next);
    }
    let mut result = TriMesh {
        vertices: (0..count)
            .map(|v| if fixed(v) { mesh.vertices[v] } else { out[v].map(|c| c as f32) })
            .collect(),
        triangles: mesh.triangles.clone(),
        normals: None,
        colours: mesh.colours.clone(),
    };
    if mesh.normals.is_some() {
        result.normals = Some(result.vertex_normals_from_faces());
    }
    Ok(result)
}
