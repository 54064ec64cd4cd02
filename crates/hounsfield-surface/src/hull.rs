//! The visual hull: the largest solid consistent with every silhouette (Laurentini 1994).
//!
//! Each voxel centre is projected exactly into every view. Rather than a yes/no carving, each
//! view gives the signed distance (mm, at the voxel's depth) from the projection to the
//! silhouette's outline, interpolated between pixel centres; the hull's field is the smallest
//! of these over the views. Its zero level is the hull's surface to a fraction of a pixel, so
//! marching cubes on the field gives a smooth hull instead of voxel stairs, and `field > 0` is
//! the carved occupancy.

use hounsfield_core::{Camera, Error, Geometry, Result, Volume};
use rayon::prelude::*;

use crate::silhouette::Silhouette;

/// A camera and what it saw.
#[derive(Clone, Debug)]
pub struct MaskedView {
    /// Where the picture was taken from.
    pub camera: Camera,
    /// Which of its pixels see the object.
    pub silhouette: Silhouette,
}

/// The grid a hull is computed on: a cube of side `2 half_extent` mm about `centre`, with
/// `resolution` voxels along each side.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HullGrid {
    /// Centre of the cube, mm (LPS).
    pub centre: [f64; 3],
    /// Half the cube's side, mm.
    pub half_extent: f64,
    /// Voxels along each side.
    pub resolution: usize,
}

impl HullGrid {
    /// The voxel grid's geometry (axis aligned) and shape `[n, n, n]`.
    pub fn geometry(&self) -> Result<(Geometry, [usize; 3])> {
        if !(2..=1024).contains(&self.resolution) {
            return Err(Error::param("resolution", format!("{} (2..=1024)", self.resolution)));
        }
        if !(self.half_extent > 0.0 && self.half_extent.is_finite()) {
            return Err(Error::param("half_extent", format!("{} mm", self.half_extent)));
        }
        let n = self.resolution;
        let voxel = 2.0 * self.half_extent / n as f64;
        let origin = self.centre.map(|c| c - self.half_extent + voxel / 2.0);
        Ok((Geometry::axis_aligned([voxel; 3], origin)?, [n; 3]))
    }
}

/// Bilinear sample of a pixel-centred map at picture point `(u, v)`; beyond the picture, the
/// edge value minus the distance outside (the edge is outside the object, see `visual_hull`).
fn sample(map: &[f32], width: usize, height: usize, u: f64, v: f64) -> f64 {
    let (x, y) = (u - 0.5, v - 0.5);
    let (cx, cy) = (x.clamp(0.0, (width - 1) as f64), y.clamp(0.0, (height - 1) as f64));
    let beyond = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
    let (x0, y0) = (cx.floor() as usize, cy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = (cx - x0 as f64, cy - y0 as f64);
    let at = |x: usize, y: usize| f64::from(map[y * width + x]);
    let top = at(x0, y0) * (1.0 - fx) + at(x1, y0) * fx;
    let bottom = at(x0, y1) * (1.0 - fx) + at(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy - beyond
}

/// The visual hull of `views` on `grid` as a signed field in mm (positive inside every
/// silhouette's cone; the hull is `field > 0`).
///
/// Refused: no views; a silhouette whose size differs from its camera's picture; an empty
/// silhouette; a silhouette touching its picture's edge (the object may extend beyond the
/// picture, and carving would cut it off without saying so).
pub fn visual_hull(views: &[MaskedView], grid: &HullGrid) -> Result<Volume<f32>> {
    if views.is_empty() {
        return Err(Error::Empty("no views for a visual hull".into()));
    }
    let mut maps = Vec::with_capacity(views.len());
    for (i, view) in views.iter().enumerate() {
        let (c, s) = (&view.camera, &view.silhouette);
        if (c.width(), c.height()) != (s.width(), s.height()) {
            return Err(Error::ShapeMismatch {
                what: "silhouette of a view (rows, columns)",
                expected: vec![c.height(), c.width()],
                found: vec![s.height(), s.width()],
            });
        }
        if s.count() == 0 {
            return Err(Error::Empty(format!("silhouette of view {i} (the object is not seen)")));
        }
        if s.touches_border() {
            return Err(Error::param(
                "silhouette",
                format!(
                    "view {i} touches the picture's edge: the object may extend beyond the picture"
                ),
            ));
        }
        maps.push(s.signed_distance()?);
    }
    let (geometry, shape) = grid.geometry()?;
    let [nz, ny, nx] = shape;
    let mut field = vec![0f32; nz * ny * nx];
    field.par_chunks_mut(ny * nx).enumerate().for_each(|(z, slab)| {
        for y in 0..ny {
            for x in 0..nx {
                let p = geometry.index_to_physical([x as f64, y as f64, z as f64]);
                let mut value = f64::INFINITY;
                for (view, map) in views.iter().zip(&maps) {
                    let c = &view.camera;
                    let d = match c.project(p) {
                        // Behind a pinhole: not in that cone.
                        None => -f64::from(f32::MAX),
                        Some([u, v, depth]) => {
                            sample(map, c.width(), c.height(), u, v) * c.pixel_size_at(depth)
                        }
                    };
                    value = value.min(d);
                }
                slab[y * nx + x] = value as f32;
            }
        }
    });
    Volume::from_vec(shape, field, geometry)
}
