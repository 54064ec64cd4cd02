//! A shaded preview of a triangle mesh: orthographic projection, z-buffer, Lambert shading.
//!
//! The mesh comes as plain vertex and triangle arrays (render depends on no sibling crate).

use hounsfield_core::{Error, Result};

use crate::camera::{V3, View, add, cross, dot, normalize, scale, sub};
use crate::image::RgbImage;

/// Renders `triangles` over `vertices` (mm) seen from `view`, framed to the mesh's bounding
/// sphere, ivory on `background`.
pub fn mesh_preview(
    vertices: &[[f32; 3]],
    triangles: &[[u32; 3]],
    view: &View,
    background: [u8; 3],
) -> Result<RgbImage> {
    if triangles.is_empty() {
        return Err(Error::Empty("mesh without triangles".into()));
    }
    if let Some(t) = triangles.iter().find(|t| t.iter().any(|&i| i as usize >= vertices.len())) {
        return Err(Error::param("triangles", format!("{t:?} refers to a missing vertex")));
    }
    let p: Vec<V3> = vertices.iter().map(|v| v.map(f64::from)).collect();
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for v in &p {
        for k in 0..3 {
            lo[k] = lo[k].min(v[k]);
            hi[k] = hi[k].max(v[k]);
        }
    }
    let centre = scale(add(lo, hi), 0.5);
    let half =
        (0..3).map(|k| (hi[k] - lo[k]) / 2.0).map(|h| h * h).sum::<f64>().sqrt().max(1e-6) * 1.05;
    let size = view.size.clamp(1, 8192);
    let frame = view.frame();
    let light =
        normalize(add(add(scale(frame.dir, -1.0), scale(frame.up, 0.4)), scale(frame.right, -0.3)));
    let mut img = RgbImage::new(size, size, background);
    let mut depth = vec![f64::INFINITY; size * size];
    let colour = [0.96, 0.92, 0.84];
    for t in triangles {
        let [a, b, c] = t.map(|i| p[i as usize]);
        let n = normalize(cross(sub(b, a), sub(c, a)));
        let shade = 0.2 + 0.8 * dot(n, light).abs();
        let q = [a, b, c].map(|v| frame.project(centre, half, size, v));
        let (x0, x1) = (
            q.iter().map(|v| v.0).fold(f64::INFINITY, f64::min),
            q.iter().map(|v| v.0).fold(f64::NEG_INFINITY, f64::max),
        );
        let (y0, y1) = (
            q.iter().map(|v| v.1).fold(f64::INFINITY, f64::min),
            q.iter().map(|v| v.1).fold(f64::NEG_INFINITY, f64::max),
        );
        let area = (q[1].0 - q[0].0) * (q[2].1 - q[0].1) - (q[2].0 - q[0].0) * (q[1].1 - q[0].1);
        if area == 0.0 {
            continue;
        }
        let clamp = |v: f64| v.clamp(0.0, size as f64 - 1.0) as usize;
        for y in clamp(y0.ceil())..=clamp(y1.floor()) {
            for x in clamp(x0.ceil())..=clamp(x1.floor()) {
                let (px, py) = (x as f64, y as f64);
                // Barycentric weights of the pixel centre.
                let w0 = ((q[1].0 - px) * (q[2].1 - py) - (q[2].0 - px) * (q[1].1 - py)) / area;
                let w1 = ((q[2].0 - px) * (q[0].1 - py) - (q[0].0 - px) * (q[2].1 - py)) / area;
                let w2 = 1.0 - w0 - w1;
                if w0 < 0.0 || w1 < 0.0 || w2 < 0.0 {
                    continue;
                }
                let z = w0 * q[0].2 + w1 * q[1].2 + w2 * q[2].2;
                let k = y * size + x;
                if z < depth[k] {
                    depth[k] = z;
                    img.pixels[k] = colour.map(|c| (c * shade * 255.0).round() as u8);
                }
            }
        }
    }
    Ok(img)
}
