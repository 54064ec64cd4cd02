//! Vertex colours from the views: each vertex takes the colour of the pixel that sees it in
//! every view where it is visible, weighted by how squarely the view faces it, with the
//! renderer's shading divided out when it is known. Vertices no view sees take their seen
//! neighbours' mean colour, ring by ring, and are reported as unseen.
//!
//! Visibility is a depth test against the coloured surface's own depth map in each view (its
//! z-buffer, rendered by the caller with any rasteriser): a vertex is seen when it lies no
//! farther than a tolerance behind the nearest surface at its pixel.

use hounsfield_core::{Camera, Error, Result};
use rayon::prelude::*;

/// How a view's colours were lit, so that the albedo can be recovered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shading {
    /// The colours are the albedo (or lit in a way not known): taken as they are.
    Unlit,
    /// A headlight: `colour = albedo * (ambient + (1 - ambient) |n . f|)` with `f` the camera's
    /// viewing direction, as `hounsfield-render`'s multi-view renderer shades.
    Headlight {
        /// The ambient share in [0, 1).
        ambient: f32,
    },
}

/// One view to take colours from.
#[derive(Clone, Copy, Debug)]
pub struct ColourView<'a> {
    /// The camera.
    pub camera: &'a Camera,
    /// Colour per pixel in [0, 1] (rows from the top).
    pub colour: &'a [[f32; 3]],
    /// The coloured surface's own depth per pixel as this camera sees it (mm along the viewing
    /// direction; infinite where it is not seen): the depth test's reference.
    pub depth: &'a [f32],
    /// How the colours were lit.
    pub shading: Shading,
    /// The view's own silhouette: pixels outside it are background and give no colour (a
    /// reconstruction a pixel too wide would otherwise take the background's colour).
    pub inside: Option<&'a [bool]>,
    /// The view's own unit normals per pixel, to divide the shading out with the surface the
    /// picture shows rather than the reconstruction's estimate of it.
    pub normals: Option<&'a [[f32; 3]]>,
}

/// Colours per vertex and which vertices some view saw.
#[derive(Clone, Debug, PartialEq)]
pub struct VertexColours {
    /// Colour per vertex in [0, 1].
    pub colours: Vec<[f32; 3]>,
    /// Whether some view saw the vertex (its colour is then measured, not filled in).
    pub seen: Vec<bool>,
}

impl VertexColours {
    /// The share of vertices some view saw.
    pub fn seen_fraction(&self) -> f64 {
        if self.seen.is_empty() {
            return 0.0;
        }
        self.seen.iter().filter(|&&s| s).count() as f64 / self.seen.len() as f64
    }
}

/// Views facing a vertex more obliquely than this (cosine) give it no colour: grazing pixels
/// mix the surface with its neighbours and, lit, are dark.
const MIN_COSINE: f64 = 0.15;
/// Grey for the vertices of parts no view saw.
const UNSEEN_GREY: [f32; 3] = [0.5; 3];

/// Colours of `vertices` (with unit `normals`, pointing out) from `views`; `triangles` link
/// the vertices for filling in the unseen ones.
pub fn vertex_colours(
    vertices: &[[f32; 3]],
    normals: &[[f32; 3]],
    triangles: &[[u32; 3]],
    views: &[ColourView<'_>],
) -> Result<VertexColours> {
    let n = vertices.len();
    if normals.len() != n {
        return Err(Error::ShapeMismatch {
            what: "vertex normals",
            expected: vec![n],
            found: vec![normals.len()],
        });
    }
    if triangles.iter().flatten().any(|&i| i as usize >= n) {
        return Err(Error::param("triangles", "a vertex index is out of range"));
    }
    for (k, view) in views.iter().enumerate() {
        let pixels = view.camera.width() * view.camera.height();
        let sized = view.inside.is_none_or(|m| m.len() == pixels)
            && view.normals.is_none_or(|n| n.len() == pixels);
        if view.colour.len() != pixels || view.depth.len() != pixels || !sized {
            return Err(Error::param(
                "colour view",
                format!(
                    "view {k}: {} colours and {} depths for a {}x{} camera",
                    view.colour.len(),
                    view.depth.len(),
                    view.camera.width(),
                    view.camera.height()
                ),
            ));
        }
        if let Shading::Headlight { ambient } = view.shading
            && !(0.0..1.0).contains(&ambient)
        {
            return Err(Error::param("ambient", format!("must be in [0, 1), found {ambient}")));
        }
    }
    // Each vertex independently: the weighted mean of what the views that see it show.
    let measured: Vec<Option<[f32; 3]>> = vertices
        .par_iter()
        .zip(normals)
        .map(|(vertex, normal)| {
            let (p, normal) = (vertex.map(f64::from), normal.map(f64::from));
            let (mut sum, mut weight) = ([0.0f64; 3], 0.0f64);
            for sample in views.iter().filter_map(|view| sample(view, p, normal)) {
                let w = sample.cosine * sample.cosine;
                for (s, a) in sum.iter_mut().zip(sample.albedo) {
                    *s += w * a;
                }
                weight += w;
            }
            (weight > 0.0).then(|| sum.map(|s| (s / weight).clamp(0.0, 1.0) as f32))
        })
        .collect();
    let seen: Vec<bool> = measured.iter().map(Option::is_some).collect();
    let mut colours: Vec<[f32; 3]> = measured.iter().map(|c| c.unwrap_or(UNSEEN_GREY)).collect();
    fill_unseen(&mut colours, &seen, triangles);
    Ok(VertexColours { colours, seen })
}

/// What one view says of one vertex.
struct Sample {
    albedo: [f64; 3],
    cosine: f64,
}

/// The view's colour at point `p` (normal `normal`) if the view sees it facing it.
fn sample(view: &ColourView<'_>, p: [f64; 3], normal: [f64; 3]) -> Option<Sample> {
    let camera = view.camera;
    let [u, v, z] = camera.project(p)?;
    let (col, row) = camera.pixel(p)?;
    let (_, direction) = camera.ray(u, v);
    let cosine = -(normal[0] * direction[0] + normal[1] * direction[1] + normal[2] * direction[2]);
    if cosine < MIN_COSINE {
        return None;
    }
    let k = row * camera.width() + col;
    if view.inside.is_some_and(|m| !m[k]) {
        return None;
    }
    let nearest = f64::from(view.depth[k]);
    if !nearest.is_finite() {
        return None;
    }
    // The surface's depth changes across a pixel by the pixel's size over the slope's cosine:
    // two pixels of it are the same surface, more is something in front.
    let tolerance = 2.0 * camera.pixel_size_at(z) / cosine.max(0.25);
    if z > nearest + tolerance {
        return None;
    }
    let shade = match view.shading {
        Shading::Unlit => 1.0,
        Shading::Headlight { ambient } => {
            // The picture's own normal where it has one, else the reconstruction's.
            let seen = view.normals.map(|n| n[k].map(f64::from)).filter(|n| {
                let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                (len - 1.0).abs() < 0.1
            });
            let n = seen.unwrap_or(normal);
            let f = camera.forward();
            let a = f64::from(ambient);
            a + (1.0 - a) * (n[0] * f[0] + n[1] * f[1] + n[2] * f[2]).abs()
        }
    };
    let c = view.colour[k];
    Some(Sample { albedo: c.map(|x| f64::from(x) / shade), cosine })
}

/// Unseen vertices take the mean of their coloured neighbours, one ring of the unseen region
/// at a time from its border inwards; parts with no seen vertex stay grey.
fn fill_unseen(colours: &mut [[f32; 3]], seen: &[bool], triangles: &[[u32; 3]]) {
    let n = colours.len();
    let mut neighbours: Vec<Vec<u32>> = vec![Vec::new(); n];
    for t in triangles {
        for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
            neighbours[a as usize].push(b);
            neighbours[b as usize].push(a);
        }
    }
    let mut known = seen.to_vec();
    let mut frontier: Vec<usize> = (0..n).filter(|&v| !known[v]).collect();
    loop {
        let ring: Vec<(usize, [f32; 3])> = frontier
            .iter()
            .filter_map(|&v| {
                let (mut sum, mut count) = ([0.0f32; 3], 0usize);
                for &u in &neighbours[v] {
                    if known[u as usize] {
                        for (s, c) in sum.iter_mut().zip(colours[u as usize]) {
                            *s += c;
                        }
                        count += 1;
                    }
                }
                (count > 0).then(|| (v, sum.map(|s| s / count as f32)))
            })
            .collect();
        if ring.is_empty() {
            return;
        }
        for &(v, c) in &ring {
            colours[v] = c;
            known[v] = true;
        }
        frontier.retain(|&v| !known[v]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_core::camera::Projection;

    /// Two triangles on the plane 10 mm in front of an orthographic camera, their normals
    /// tilted 60 degrees from the viewing ray, seen lit by a headlight.
    #[test]
    fn headlight_shading_is_divided_out_and_hidden_vertices_are_filled() {
        let ortho = Projection::Orthographic { width_mm: 4.0, height_mm: 4.0 };
        let camera = Camera::orbit(ortho, 4, 4, [0.0; 3], 10.0, 0.0, 0.0).unwrap();
        let at = |x: f64, y: f64, depth: f64| camera.to_world([x, y, depth]).map(|c| c as f32);
        // The fourth vertex lies 5 mm behind the surface the depth map holds: hidden.
        let vertices =
            [at(-1.0, -1.0, 10.0), at(1.0, -1.0, 10.0), at(-1.0, 1.0, 10.0), at(1.0, 1.0, 15.0)];
        let tilt = 60f64.to_radians();
        let normal = camera.to_world([0.0, tilt.sin(), -tilt.cos()]);
        let origin = camera.position();
        let normals = vec![std::array::from_fn(|k| (normal[k] - origin[k]) as f32); 4];
        let depth = vec![10.0f32; 16];
        // Shade 0.25 + 0.75 cos 60 = 0.625 times the albedo (0.8, 0.4, 0.2).
        let colour = vec![[0.5f32, 0.25, 0.125]; 16];
        let view = ColourView {
            camera: &camera,
            colour: &colour,
            depth: &depth,
            shading: Shading::Headlight { ambient: 0.25 },
            inside: None,
            normals: None,
        };
        let out = vertex_colours(&vertices, &normals, &[[0, 1, 2], [1, 3, 2]], &[view]).unwrap();
        assert_eq!(out.seen, vec![true, true, true, false]);
        // The hidden vertex takes its seen neighbours' colour.
        for c in &out.colours {
            for (a, b) in c.iter().zip([0.8f32, 0.4, 0.2]) {
                assert!((a - b).abs() < 1e-5, "{c:?}");
            }
        }
        // Unlit views give the picture's colour as it is.
        let unlit = ColourView { shading: Shading::Unlit, ..view };
        let out = vertex_colours(&vertices, &normals, &[], &[unlit]).unwrap();
        assert!((out.colours[0][0] - 0.5).abs() < 1e-6 && out.colours[3] == UNSEEN_GREY);
        // Bad sizes and an ambient share of 1 (nothing to divide out) are refused.
        let short = ColourView { depth: &depth[..3], ..view };
        assert!(vertex_colours(&vertices, &normals, &[], &[short]).is_err());
        let flat = ColourView { shading: Shading::Headlight { ambient: 1.0 }, ..view };
        assert!(vertex_colours(&vertices, &normals, &[], &[flat]).is_err());
    }
}
