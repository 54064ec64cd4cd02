//! `hounsfield shape baselines`: the procedural shape family (`hounsfield_mesh::shape_family`)
//! seen from cameras on a ring, and the shape-from-image baselines a network must beat (issue
//! 17), measured on a fixed held-out set: silhouette extrusion from the first view, the visual
//! hull of all views, and retrieval of the training shape whose silhouettes are nearest.
//!
//! Training shapes are seeds `0..train_per_class` of each trained class; held-out shapes are
//! seeds from [`TEST_SEED_BASE`] on, spread over the trained classes, plus the held-out class.

use std::fmt;

use anyhow::{Result, bail};
use hounsfield_core::metrics::jaccard as iou;
use hounsfield_core::{Camera, Projection, Volume};
use hounsfield_mesh::{ShapeClass, TriMesh, occupancy};
use hounsfield_render::{Surface, ViewMaps, render_view};
use hounsfield_surface::hull::{HullGrid, MaskedView, visual_hull};
use hounsfield_surface::silhouette::Silhouette;
use serde::Serialize;

/// Held-out shapes use seeds from here on: never a training seed.
pub const TEST_SEED_BASE: u64 = 1 << 32;

/// The most memory the training shapes may take (bytes).
const MAX_TRAINING_BYTES: usize = 8_000_000_000;

/// Mesh resolution for rendering, in units of the unit cube.
const MESH_VOXEL: f64 = 1.0 / 64.0;

/// What to measure on.
#[derive(Clone, Debug)]
pub struct BaselineOptions {
    /// Training shapes per trained class.
    pub train_per_class: usize,
    /// Held-out shapes of the trained classes, in all (spread over the classes).
    pub test: usize,
    /// Held-out shapes of the held-out class.
    pub test_held_out_class: usize,
    /// Views per shape, on a ring.
    pub views: usize,
    /// Picture side, pixels.
    pub size: usize,
    /// Occupancy grid side, voxels.
    pub resolution: usize,
    /// Elevation of the ring, degrees.
    pub elevation: f64,
}

/// The cameras: `count` orthographic views on a ring at `elevation`, evenly spaced in azimuth
/// from 0, each `size` x `size` pixels framing the sphere of radius 0.8 about the origin (a
/// fitted shape's box, side at most 0.9, lies inside it).
pub fn ring_cameras(count: usize, size: usize, elevation: f64) -> Result<Vec<Camera>> {
    if count == 0 || size < 8 {
        bail!("{count} views of {size} pixels: at least one view of 8 pixels");
    }
    let projection = Projection::Orthographic { width_mm: 1.6, height_mm: 1.6 };
    (0..count)
        .map(|k| {
            let azimuth = 360.0 * k as f64 / count as f64;
            Ok(Camera::orbit(projection, size, size, [0.0; 3], 3.0, azimuth, elevation)?)
        })
        .collect()
}

/// The maps (mask, depth, normals) of an uncoloured mesh seen by `camera`.
pub(crate) fn render_mesh(mesh: &TriMesh, camera: &Camera) -> Result<ViewMaps> {
    let surface = Surface {
        vertices: &mesh.vertices,
        triangles: &mesh.triangles,
        normals: None,
        colours: None,
    };
    Ok(render_view(&surface, camera)?)
}

/// One shape as the baselines see it: its silhouettes and its occupancy.
struct Example {
    class: ShapeClass,
    silhouettes: Vec<Silhouette>,
    occupancy: Volume<u8>,
}

fn example(class: ShapeClass, seed: u64, cameras: &[Camera], resolution: usize) -> Result<Example> {
    let shape = class.sample(seed);
    let mesh = shape.mesh(MESH_VOXEL)?;
    let silhouettes = cameras
        .iter()
        .map(|camera| {
            let maps = render_mesh(&mesh, camera)?;
            Ok(Silhouette::new(maps.width, maps.height, maps.mask)?)
        })
        .collect::<Result<_>>()?;
    Ok(Example { class, silhouettes, occupancy: occupancy(&shape, resolution)? })
}

/// The occupancy the visual hull of `views` gives on the unit cube's grid.
pub(crate) fn hull_occupancy(
    cameras: &[Camera],
    silhouettes: &[Silhouette],
    resolution: usize,
) -> Result<Volume<u8>> {
    let views: Vec<MaskedView> = cameras
        .iter()
        .zip(silhouettes)
        .map(|(c, s)| MaskedView { camera: *c, silhouette: s.clone() })
        .collect();
    let grid = HullGrid { centre: [0.0; 3], half_extent: 0.5, resolution };
    Ok(visual_hull(&views, &grid)?.map(|v| u8::from(v > 0.0)))
}

/// Pixels where two sets of silhouettes differ.
fn silhouette_distance(a: &[Silhouette], b: &[Silhouette]) -> usize {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            (0..x.height())
                .flat_map(|v| (0..x.width()).map(move |u| (u, v)))
                .filter(|&(u, v)| x.get(u, v) != y.get(u, v))
                .count()
        })
        .sum()
}

/// Mean IoU per method on one group of held-out shapes.
#[derive(Clone, Debug, Serialize)]
pub struct GroupScores {
    /// The class, or `all trained classes`.
    pub group: String,
    /// Shapes scored.
    pub shapes: usize,
    /// Silhouette extrusion (the hull of the first view alone).
    pub extrusion_iou: f64,
    /// The visual hull of every view.
    pub hull_iou: f64,
    /// The training shape whose silhouettes (every view) differ from the shape's in fewest
    /// pixels.
    pub retrieval_iou: f64,
}

/// What `shape baselines` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineReport {
    /// Views per shape and their size.
    pub views: usize,
    /// Picture side, pixels.
    pub size: usize,
    /// Occupancy grid side.
    pub resolution: usize,
    /// Elevation of the ring of cameras, degrees.
    pub elevation: f64,
    /// Training shapes (for retrieval).
    pub train_shapes: usize,
    /// Per trained class, all trained classes together, and the held-out class.
    pub groups: Vec<GroupScores>,
    /// Seconds in all.
    pub seconds: f64,
}

impl fmt::Display for BaselineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "baselines: {} view(s) of {} px at {} deg elevation, {}^3 occupancy, retrieval among {} training shapes ({:.0} s)",
            self.views, self.size, self.elevation, self.resolution, self.train_shapes, self.seconds
        )?;
        writeln!(
            f,
            "  {:<26} {:>6} {:>10} {:>10} {:>10}",
            "held out", "shapes", "extrusion", "hull", "retrieval"
        )?;
        for g in &self.groups {
            writeln!(
                f,
                "  {:<26} {:>6} {:>10.3} {:>10.3} {:>10.3}",
                g.group, g.shapes, g.extrusion_iou, g.hull_iou, g.retrieval_iou
            )?;
        }
        Ok(())
    }
}

/// Measures the baselines (IoU at the occupancy grid) on the held-out shapes.
pub fn baselines(options: &BaselineOptions) -> Result<BaselineReport> {
    let start = std::time::Instant::now();
    if options.train_per_class == 0 || options.test == 0 {
        bail!("shape baselines needs training shapes and held-out shapes (both > 0)");
    }
    // The training set is held in memory (silhouettes and occupancy per shape), and retrieval
    // compares every held-out shape with all of it: both are refused when out of reach.
    let per_shape = options.resolution.pow(3) + options.views * options.size * options.size;
    let memory = (options.train_per_class * ShapeClass::TRAINED.len()).saturating_mul(per_shape);
    if memory > MAX_TRAINING_BYTES {
        bail!(
            "the training set would take {:.1} GB (shapes x (resolution^3 + views x size^2)); at most {} GB: fewer shapes, views or pixels",
            memory as f64 / 1e9,
            MAX_TRAINING_BYTES / 1_000_000_000
        );
    }
    let cameras = ring_cameras(options.views, options.size, options.elevation)?;
    let n = options.resolution;
    let train: Vec<Example> = ShapeClass::TRAINED
        .iter()
        .flat_map(|&c| (0..options.train_per_class as u64).map(move |s| (c, s)))
        .map(|(c, s)| example(c, s, &cameras, n))
        .collect::<Result<_>>()?;
    let trained = ShapeClass::TRAINED.len();
    let test = (0..options.test)
        .map(|k| (ShapeClass::TRAINED[k % trained], TEST_SEED_BASE + (k / trained) as u64))
        .chain(
            (0..options.test_held_out_class)
                .map(|k| (ShapeClass::HELD_OUT[0], TEST_SEED_BASE + k as u64)),
        );
    // Per shape: class and the three IoUs.
    let mut scored: Vec<(ShapeClass, [f64; 3])> = Vec::new();
    for (class, seed) in test {
        let shape = example(class, seed, &cameras, n)?;
        let extrusion = hull_occupancy(&cameras[..1], &shape.silhouettes[..1], n)?;
        let hull = hull_occupancy(&cameras, &shape.silhouettes, n)?;
        let nearest = train
            .iter()
            .min_by_key(|t| silhouette_distance(&t.silhouettes, &shape.silhouettes))
            .map(|t| &t.occupancy);
        let Some(nearest) = nearest else { bail!("no training shapes") };
        scored.push((
            shape.class,
            [
                iou(&extrusion, &shape.occupancy)?,
                iou(&hull, &shape.occupancy)?,
                iou(nearest, &shape.occupancy)?,
            ],
        ));
    }
    let group = |name: String, pick: &dyn Fn(ShapeClass) -> bool| -> Option<GroupScores> {
        let rows: Vec<&[f64; 3]> =
            scored.iter().filter(|(c, _)| pick(*c)).map(|(_, s)| s).collect();
        if rows.is_empty() {
            return None;
        }
        let mean = |k: usize| rows.iter().map(|s| s[k]).sum::<f64>() / rows.len() as f64;
        Some(GroupScores {
            group: name,
            shapes: rows.len(),
            extrusion_iou: mean(0),
            hull_iou: mean(1),
            retrieval_iou: mean(2),
        })
    };
    let mut groups: Vec<GroupScores> = ShapeClass::TRAINED
        .iter()
        .filter_map(|&c| group(c.name().to_owned(), &|x| x == c))
        .collect();
    groups.extend(group("all trained classes".to_owned(), &|x| x != ShapeClass::HELD_OUT[0]));
    groups.extend(group(format!("{} (held-out class)", ShapeClass::HELD_OUT[0].name()), &|x| {
        x == ShapeClass::HELD_OUT[0]
    }));
    Ok(BaselineReport {
        views: options.views,
        size: options.size,
        resolution: n,
        elevation: options.elevation,
        train_shapes: train.len(),
        groups,
        seconds: start.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    #[test]
    fn the_hull_holds_the_shape_and_more_views_carve_closer() {
        // The occupied voxel centres lie inside the visual hull but for those within about a
        // pixel (1/40 of the cube) of an outline, which the silhouettes of the mesh (marching
        // cubes at 1/64) sampled at pixel centres may miss: measured 99.1% (one view) and
        // 96.8% (three) on this mug with its thin walls and handle; tolerance 95%. Three
        // views carve the hull closer: IoU 0.104 from one, 0.274 from three (the inside of
        // the cup stays in any hull); tolerance: 0.1 better.
        let cameras = ring_cameras(3, 64, 20.0).unwrap();
        let shape = example(ShapeClass::Mug, 5, &cameras, 32).unwrap();
        let one = hull_occupancy(&cameras[..1], &shape.silhouettes[..1], 32).unwrap();
        let three = hull_occupancy(&cameras, &shape.silhouettes, 32).unwrap();
        let inside = |hull: &Volume<u8>| {
            let (mut kept, mut total) = (0usize, 0usize);
            for (&h, &o) in hull.as_slice().iter().zip(shape.occupancy.as_slice()) {
                total += usize::from(o != 0);
                kept += usize::from(o != 0 && h != 0);
            }
            kept as f64 / total as f64
        };
        assert!(
            inside(&one) > 0.95 && inside(&three) > 0.95,
            "{} {}",
            inside(&one),
            inside(&three)
        );
        let iou_one = iou(&one, &shape.occupancy).unwrap();
        let iou_three = iou(&three, &shape.occupancy).unwrap();
        assert!(iou_three > iou_one + 0.1, "{iou_one} {iou_three}");
        assert_eq!(iou(&shape.occupancy, &shape.occupancy).unwrap(), 1.0);
    }

    #[test]
    fn a_shape_retrieves_itself_from_a_set_that_holds_it() {
        let options = BaselineOptions {
            train_per_class: 2,
            test: 6,
            test_held_out_class: 1,
            views: 2,
            size: 32,
            resolution: 16,
            elevation: 20.0,
        };
        let report = baselines(&options).unwrap();
        assert_eq!(report.train_shapes, 12);
        // Six trained classes, one shape each, then the summary and the held-out class.
        assert_eq!(report.groups.len(), 8);
        assert_eq!(report.groups[6].shapes, 6);
        assert_eq!(report.groups[7].shapes, 1);
        for g in &report.groups {
            for v in [g.extrusion_iou, g.hull_iou, g.retrieval_iou] {
                assert!((0.0..=1.0).contains(&v), "{g:?}");
            }
        }
        // A test set that is a training shape: retrieval finds it exactly.
        let cameras = ring_cameras(2, 32, 20.0).unwrap();
        let train: Vec<Example> =
            (0..3).map(|s| example(ShapeClass::Table, s, &cameras, 16).unwrap()).collect();
        let probe = example(ShapeClass::Table, 1, &cameras, 16).unwrap();
        let nearest = train
            .iter()
            .min_by_key(|t| silhouette_distance(&t.silhouettes, &probe.silhouettes))
            .unwrap();
        assert_eq!(iou(&nearest.occupancy, &probe.occupancy).unwrap(), 1.0);
    }
}
