//! One surface per label of a segmentation, with shared boundaries (multi-label Surface Nets).
//!
//! Every cube of eight neighbouring voxel centres whose labels are not all equal gets one
//! vertex; every pair of face-neighbouring voxels with different labels gets one quad joining
//! the four cubes around their shared face, and that quad belongs to both labels' surfaces
//! (wound outward for each). Neighbouring labels therefore share their boundary exactly: the
//! surfaces cannot intersect or leave gaps between them. Outside the volume counts as
//! background (label 0), so every label's surface is closed. Vertices start at cube centres
//! and are relaxed towards their neighbours while staying inside their cube (Frisken's
//! constrained smoothing, with Taubin's non-shrinking step pair), which removes the staircase
//! without moving a boundary across a voxel.

use std::collections::BTreeMap;

use hounsfield_core::{Element, Error, Result, Volume, mat3};
use serde::{Deserialize, Serialize};

use crate::mesh::TriMesh;
use crate::process::compact;

/// Options of [`label_surfaces`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelOptions {
    /// Constrained relaxation passes, each a λ|μ pair (10; 0 keeps the blocky voxel faces).
    pub relaxation_iterations: usize,
    /// Fraction of the way towards the neighbours' mean per pass (0.5).
    pub relaxation_factor: f64,
}

impl Default for LabelOptions {
    fn default() -> Self {
        LabelOptions { relaxation_iterations: 10, relaxation_factor: 0.5 }
    }
}

/// A label's surface.
#[derive(Clone, Debug)]
pub struct LabelSurface {
    /// The label value.
    pub label: i64,
    /// Its closed surface, normals outward (away from the label).
    pub mesh: TriMesh,
}

/// Surfaces of every non-zero label of `labels` (integer values; 0 is background), in label
/// order, in physical coordinates.
pub fn label_surfaces<T: Element>(
    labels: &Volume<T>,
    options: &LabelOptions,
) -> Result<Vec<LabelSurface>> {
    if !(options.relaxation_factor >= 0.0 && options.relaxation_factor <= 1.0) {
        return Err(Error::param(
            "relaxation_factor",
            format!("must be in [0, 1], found {}", options.relaxation_factor),
        ));
    }
    let [nz, ny, nx] = labels.shape();
    let mut ids = Vec::with_capacity(labels.len());
    for (index, v) in labels.as_slice().iter().enumerate() {
        let f = v.to_f64();
        if !f.is_finite() || f.fract() != 0.0 || f.abs() > 2f64.powi(53) {
            return Err(Error::param(
                "labels",
                format!("label values must be integers, found {f} at index {index}"),
            ));
        }
        ids.push(f as i64);
    }
    // Padded coordinates: voxel (x, y, z) for x in -1..=nx (outside = background).
    let label = |x: i64, y: i64, z: i64| -> i64 {
        if x < 0 || y < 0 || z < 0 || x >= nx as i64 || y >= ny as i64 || z >= nz as i64 {
            0
        } else {
            ids[(z as usize * ny + y as usize) * nx + x as usize]
        }
    };
    // Cube (x, y, z) for x in -1..nx joins voxels x..=x+1 (padded); dense vertex index table.
    let (cx, cy, cz) = (nx + 1, ny + 1, nz + 1);
    let cube_count = cx
        .checked_mul(cy)
        .and_then(|v| v.checked_mul(cz))
        .ok_or_else(|| Error::TooLarge("label grid".into()))?;
    let cube =
        |x: i64, y: i64, z: i64| ((z + 1) as usize * cy + (y + 1) as usize) * cx + (x + 1) as usize;
    let mut vertex_of = vec![u32::MAX; cube_count];
    let mut centres: Vec<[f64; 3]> = Vec::new();
    let mut vertex = |x: i64, y: i64, z: i64, centres: &mut Vec<[f64; 3]>| -> u32 {
        let c = cube(x, y, z);
        if vertex_of[c] == u32::MAX {
            vertex_of[c] = centres.len() as u32;
            centres.push([x as f64 + 0.5, y as f64 + 0.5, z as f64 + 0.5]);
        }
        vertex_of[c]
    };
    // Quads per label, wound outward from that label.
    let mut quads: BTreeMap<i64, Vec<[u32; 4]>> = BTreeMap::new();
    let unit = [[1i64, 0, 0], [0, 1, 0], [0, 0, 1]];
    for z in -1..nz as i64 {
        for y in -1..ny as i64 {
            for x in -1..nx as i64 {
                let a_label = label(x, y, z);
                for axis in 0..3 {
                    let e = unit[axis];
                    let b_label = label(x + e[0], y + e[1], z + e[2]);
                    if a_label == b_label {
                        continue;
                    }
                    // The four cubes around the face between the voxels, counter-clockwise
                    // around +axis (from the first voxel towards the second).
                    let (eb, ec) = (unit[(axis + 1) % 3], unit[(axis + 2) % 3]);
                    let corner = |db: i64, dc: i64| {
                        [
                            x - db * eb[0] - dc * ec[0],
                            y - db * eb[1] - dc * ec[1],
                            z - db * eb[2] - dc * ec[2],
                        ]
                    };
                    let q = [corner(0, 0), corner(1, 0), corner(1, 1), corner(0, 1)]
                        .map(|[a, b, c]| vertex(a, b, c, &mut centres));
                    if a_label != 0 {
                        quads.entry(a_label).or_default().push(q);
                    }
                    if b_label != 0 {
                        quads.entry(b_label).or_default().push([q[0], q[3], q[2], q[1]]);
                    }
                }
            }
        }
    }
    let positions = relax(&centres, &quads, options);
    // Index space -> physical, winding flipped for mirrored grids.
    let g = labels.geometry();
    let flip = mat3::det(&g.direction()) < 0.0;
    let vertices: Vec<[f32; 3]> =
        positions.iter().map(|p| g.index_to_physical(*p).map(|c| c as f32)).collect();
    Ok(quads
        .into_iter()
        .map(|(label, qs)| {
            let mut triangles = Vec::with_capacity(2 * qs.len());
            for [a, b, c, d] in qs {
                let (t1, t2) = ([a, b, c], [a, c, d]);
                let fix = |t: [u32; 3]| if flip { [t[0], t[2], t[1]] } else { t };
                triangles.push(fix(t1));
                triangles.push(fix(t2));
            }
            let mesh =
                TriMesh { vertices: vertices.clone(), triangles, normals: None, colours: None };
            LabelSurface { label, mesh: compact(&mesh) }
        })
        .collect())
}

/// Constrained relaxation: each vertex moves towards the mean of its quad neighbours (over all
/// labels, so shared boundaries move together) but stays within its cube.
fn relax(
    centres: &[[f64; 3]],
    quads: &BTreeMap<i64, Vec<[u32; 4]>>,
    options: &LabelOptions,
) -> Vec<[f64; 3]> {
    let n = centres.len();
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); n];
    for q in quads.values().flatten() {
        for k in 0..4 {
            let (a, b) = (q[k], q[(k + 1) % 4]);
            neighbours[a as usize].push(b);
            neighbours[b as usize].push(a);
        }
    }
    for list in &mut neighbours {
        list.sort_unstable();
        list.dedup();
    }
    let mut pos = centres.to_vec();
    let mut next = pos.clone();
    // Taubin's pair of steps (shrink by λ, inflate by μ = -1.06 λ) instead of plain averaging,
    // which would shrink convex labels by several percent.
    let steps = [options.relaxation_factor, -1.06 * options.relaxation_factor];
    for step in (0..options.relaxation_iterations).flat_map(|_| steps) {
        for (v, out) in next.iter_mut().enumerate() {
            let nb = &neighbours[v];
            if nb.is_empty() {
                continue;
            }
            let inv = 1.0 / nb.len() as f64;
            *out = std::array::from_fn(|k| {
                let mean = nb.iter().map(|&u| pos[u as usize][k]).sum::<f64>() * inv;
                let moved = pos[v][k] + step * (mean - pos[v][k]);
                moved.clamp(centres[v][k] - 0.5, centres[v][k] + 0.5)
            });
        }
        std::mem::swap(&mut pos, &mut next);
    }
    pos
}
