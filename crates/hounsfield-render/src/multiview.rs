//! Multi-view renders of a triangle mesh for any [`Camera`]: silhouette mask, depth, world-frame
//! normals and shaded colour, as a surface fit or a visual hull consumes them.
//!
//! A z-buffer rasteriser sampling each pixel at its centre (`(i + 0.5, j + 0.5)`, the
//! convention of [`Camera`]), with a top-left fill rule so a pixel on an edge shared by two
//! triangles is covered exactly once, and perspective-correct interpolation for pinhole cameras.

use hounsfield_core::camera::Projection;
use hounsfield_core::{Camera, Error, Result};
use rayon::prelude::*;

use crate::camera::{V3, cross, dot, normalize, sub};
use crate::image::RgbImage;

/// What a mesh renders with besides its geometry.
#[derive(Clone, Copy, Debug, Default)]
pub struct Surface<'a> {
    /// Vertex positions, mm (LPS).
    pub vertices: &'a [[f32; 3]],
    /// Triangles as vertex indices.
    pub triangles: &'a [[u32; 3]],
    /// Per-vertex normals to interpolate (smooth shading); face normals when `None`.
    pub normals: Option<&'a [[f32; 3]]>,
    /// Per-vertex albedo in [0, 1]; ivory when `None`.
    pub colours: Option<&'a [[f32; 3]]>,
}

/// The maps of one view, row by row from the top, `width * height` each.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewMaps {
    /// Picture width.
    pub width: usize,
    /// Picture height.
    pub height: usize,
    /// Whether the pixel sees the surface.
    pub mask: Vec<bool>,
    /// Camera-frame depth (mm along the viewing direction); `f32::INFINITY` where the mask is off.
    pub depth: Vec<f32>,
    /// Unit surface normal in world coordinates (LPS); zero where the mask is off.
    pub normal: Vec<[f32; 3]>,
    /// Shaded colour in [0, 1] (albedo x headlight Lambert term); zero where the mask is off.
    pub colour: Vec<[f32; 3]>,
}

const IVORY: [f32; 3] = [0.96, 0.92, 0.84];

/// The ambient share of the headlight shading: a pixel's colour is the albedo times
/// `HEADLIGHT_AMBIENT + (1 - HEADLIGHT_AMBIENT) |n . f|`, `f` the camera's viewing direction.
pub const HEADLIGHT_AMBIENT: f64 = 0.25;

impl ViewMaps {
    /// Number of pixels that see the surface.
    pub fn coverage(&self) -> usize {
        self.mask.iter().filter(|&&m| m).count()
    }

    /// The mask as a black and white picture.
    pub fn mask_image(&self) -> RgbImage {
        let px = self.mask.iter().map(|&m| if m { [255; 3] } else { [0; 3] }).collect();
        RgbImage { width: self.width, height: self.height, pixels: px }
    }

    /// The normals as a picture, `(n + 1) / 2` per channel (x red, y green, z blue), over
    /// `background`.
    pub fn normal_image(&self, background: [u8; 3]) -> RgbImage {
        let px = self
            .normal
            .iter()
            .zip(&self.mask)
            .map(|(n, &m)| if m { n.map(|c| to_byte((c + 1.0) / 2.0)) } else { background })
            .collect();
        RgbImage { width: self.width, height: self.height, pixels: px }
    }

    /// The shaded colour over `background`.
    pub fn colour_image(&self, background: [u8; 3]) -> RgbImage {
        let px = self
            .colour
            .iter()
            .zip(&self.mask)
            .map(|(c, &m)| if m { c.map(to_byte) } else { background })
            .collect();
        RgbImage { width: self.width, height: self.height, pixels: px }
    }

    /// The nearest and farthest depth in the mask, if anything is seen.
    pub fn depth_range(&self) -> Option<(f32, f32)> {
        let seen = self.depth.iter().zip(&self.mask).filter(|(_, m)| **m).map(|(d, _)| *d);
        seen.fold(None, |acc, d| match acc {
            None => Some((d, d)),
            Some((lo, hi)) => Some((lo.min(d), hi.max(d))),
        })
    }
}

fn to_byte(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// What a pixel sees: its index, the nearest triangle, the barycentric weights of its
/// corners there, and the depth.
type Hit = (usize, u32, [f64; 3], f64);

/// A projected vertex: picture coordinates and depth.
#[derive(Clone, Copy)]
struct Projected {
    u: f64,
    v: f64,
    z: f64,
}

/// Whether an edge from `a` to `b` (picture coordinates, rows down) of a triangle whose edge
/// functions are positive inside is a top or left edge (those own the pixels exactly on them).
fn top_left(a: Projected, b: Projected) -> bool {
    let (du, dv) = (b.u - a.u, b.v - a.v);
    (dv == 0.0 && du > 0.0) || dv < 0.0
}

/// Twice the signed area spanned by `a -> b` and `a -> p`, computed from the endpoints in a
/// fixed order so that the two triangles sharing an edge get exactly opposite values.
fn edge(a: Projected, b: Projected, pu: f64, pv: f64) -> f64 {
    let (first, second, sign) = if (a.u, a.v) <= (b.u, b.v) { (a, b, 1.0) } else { (b, a, -1.0) };
    sign * ((second.u - first.u) * (pv - first.v) - (second.v - first.v) * (pu - first.u))
}

/// Renders `surface` as seen by `camera`.
pub fn render_view(surface: &Surface<'_>, camera: &Camera) -> Result<ViewMaps> {
    let Surface { vertices, triangles, normals, colours } = *surface;
    if triangles.is_empty() {
        return Err(Error::Empty("mesh without triangles".into()));
    }
    for (what, len) in [("normals", normals.map(<[_]>::len)), ("colours", colours.map(<[_]>::len))]
    {
        if let Some(len) = len
            && len != vertices.len()
        {
            return Err(Error::param(
                "surface",
                format!("{len} vertex {what} for {} vertices", vertices.len()),
            ));
        }
    }
    if let Some(t) = triangles.iter().find(|t| t.iter().any(|&i| i as usize >= vertices.len())) {
        return Err(Error::param("triangles", format!("{t:?} refers to a missing vertex")));
    }
    let world: Vec<V3> = vertices.iter().map(|v| v.map(f64::from)).collect();
    if let Some(i) = world.iter().position(|p| !p.iter().all(|c| c.is_finite())) {
        return Err(Error::NotFinite { what: "mesh vertex", value: f64::NAN, index: i });
    }
    let mut projected = Vec::with_capacity(world.len());
    for (i, &p) in world.iter().enumerate() {
        let Some([u, v, z]) = camera.project(p) else {
            return Err(Error::param(
                "camera",
                format!(
                    "vertex {i} at {p:?} mm is behind the pinhole camera (move it further away)"
                ),
            ));
        };
        projected.push(Projected { u, v, z });
    }
    let perspective = matches!(camera.projection(), Projection::Pinhole { .. });
    let (width, height) = (camera.width(), camera.height());
    let forward = camera.forward();

    // Triangles bucketed by the picture rows they may cover, so rows render in parallel.
    let band = 16usize;
    let bands = height.div_ceil(band);
    let mut by_band: Vec<Vec<u32>> = vec![Vec::new(); bands];
    for (t, tri) in triangles.iter().enumerate() {
        let q = tri.map(|i| projected[i as usize]);
        let (v0, v1) = (
            q.iter().map(|p| p.v).fold(f64::INFINITY, f64::min),
            q.iter().map(|p| p.v).fold(f64::NEG_INFINITY, f64::max),
        );
        let (u0, u1) = (
            q.iter().map(|p| p.u).fold(f64::INFINITY, f64::min),
            q.iter().map(|p| p.u).fold(f64::NEG_INFINITY, f64::max),
        );
        if v1 < 0.0 || u1 < 0.0 || v0 >= height as f64 || u0 >= width as f64 {
            continue;
        }
        let first = (v0.max(0.0) as usize / band).min(bands - 1);
        let last = (v1.min(height as f64 - 1.0) as usize / band).min(bands - 1);
        for b in &mut by_band[first..=last] {
            b.push(t as u32);
        }
    }

    let face_normal = |t: usize| -> V3 {
        let [a, b, c] = triangles[t].map(|i| world[i as usize]);
        normalize(cross(sub(b, a), sub(c, a)))
    };
    let mut maps = ViewMaps {
        width,
        height,
        mask: vec![false; width * height],
        depth: vec![f32::INFINITY; width * height],
        normal: vec![[0.0; 3]; width * height],
        colour: vec![[0.0; 3]; width * height],
    };
    // Per band: the nearest triangle and its barycentric weights at each pixel.
    let rows = band * width;
    let hits: Vec<Vec<Hit>> = by_band
        .par_iter()
        .enumerate()
        .map(|(b, tris)| {
            let y_start = b * band;
            let y_end = (y_start + band).min(height);
            let mut best: Vec<(f64, u32, [f64; 3])> = vec![(f64::INFINITY, 0, [0.0; 3]); rows];
            for &t in tris {
                let corners = triangles[t as usize].map(|i| projected[i as usize]);
                let area = edge(corners[0], corners[1], corners[2].u, corners[2].v);
                if area == 0.0 || !area.is_finite() {
                    continue;
                }
                // Corner order with the inside positive; weights go back through `order`.
                let order = if area > 0.0 { [0, 1, 2] } else { [0, 2, 1] };
                let q = order.map(|k| corners[k]);
                let area = area.abs();
                let owns = [top_left(q[1], q[2]), top_left(q[2], q[0]), top_left(q[0], q[1])];
                let v_lo = q.iter().map(|p| p.v).fold(f64::INFINITY, f64::min);
                let v_hi = q.iter().map(|p| p.v).fold(f64::NEG_INFINITY, f64::max);
                let u_lo = q.iter().map(|p| p.u).fold(f64::INFINITY, f64::min);
                let u_hi = q.iter().map(|p| p.u).fold(f64::NEG_INFINITY, f64::max);
                // Pixel centres j + 0.5 in [v_lo, v_hi].
                let j0 = ((v_lo - 0.5).ceil().max(y_start as f64)) as usize;
                let j1 = ((v_hi - 0.5).floor().min(y_end as f64 - 1.0)).max(-1.0);
                let i0 = ((u_lo - 0.5).ceil().max(0.0)) as usize;
                let i1 = ((u_hi - 0.5).floor().min(width as f64 - 1.0)).max(-1.0);
                if j1 < j0 as f64 || i1 < i0 as f64 {
                    continue;
                }
                for j in j0..=j1 as usize {
                    let pv = j as f64 + 0.5;
                    for i in i0..=i1 as usize {
                        let pu = i as f64 + 0.5;
                        let w = [
                            edge(q[1], q[2], pu, pv),
                            edge(q[2], q[0], pu, pv),
                            edge(q[0], q[1], pu, pv),
                        ];
                        if (0..3).any(|k| w[k] < 0.0 || (w[k] == 0.0 && !owns[k])) {
                            continue;
                        }
                        let mut bary = w.map(|x| x / area);
                        let z = if perspective {
                            let inv: f64 = (0..3).map(|k| bary[k] / q[k].z).sum();
                            bary = [0, 1, 2].map(|k| bary[k] / q[k].z / inv);
                            1.0 / inv
                        } else {
                            (0..3).map(|k| bary[k] * q[k].z).sum()
                        };
                        let k = (j - y_start) * width + i;
                        if z < best[k].0 {
                            let mut weights = [0.0; 3];
                            for c in 0..3 {
                                weights[order[c]] = bary[c];
                            }
                            best[k] = (z, t, weights);
                        }
                    }
                }
            }
            best.into_iter()
                .enumerate()
                .filter(|(_, h)| h.0.is_finite())
                .map(|(k, (z, t, bary))| (y_start * width + k, t, bary, z))
                .collect()
        })
        .collect();

    for (k, t, bary, z) in hits.into_iter().flatten() {
        let tri = triangles[t as usize];
        let mut n = match normals {
            Some(ns) => normalize((0..3).fold([0.0; 3], |acc, c| {
                let m = ns[tri[c] as usize].map(f64::from);
                [acc[0] + bary[c] * m[0], acc[1] + bary[c] * m[1], acc[2] + bary[c] * m[2]]
            })),
            None => face_normal(t as usize),
        };
        if !n.iter().all(|c| c.is_finite()) {
            n = [0.0; 3];
        }
        let albedo = match colours {
            Some(cs) => (0..3).fold([0.0; 3], |acc, c| {
                let m = cs[tri[c] as usize];
                [0, 1, 2].map(|ch| acc[ch] + bary[c] * f64::from(m[ch]))
            }),
            None => IVORY.map(f64::from),
        };
        let shade = HEADLIGHT_AMBIENT + (1.0 - HEADLIGHT_AMBIENT) * dot(n, forward).abs();
        maps.mask[k] = true;
        maps.depth[k] = z as f32;
        maps.normal[k] = n.map(|c| c as f32);
        maps.colour[k] = albedo.map(|c| (c * shade) as f32);
    }
    Ok(maps)
}
