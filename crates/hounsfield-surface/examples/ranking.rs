//! The ranking loss against corrupted normal maps, on the concave suite's dented sphere (whose
//! dent only the normals show): the fit from clean views, from views with a fraction of their
//! normal pixels replaced by random unit vectors, and the same without the ranking loss.
//!
//! `cargo run --release -p hounsfield-surface --example ranking [-- FRACTION]` (default 0.1).

#![allow(clippy::print_stdout)] // an example prints its table

use hounsfield_core::Camera;
use hounsfield_core::rng::SplitMix64;
use hounsfield_render::{Surface, render_view};
use hounsfield_surface::{FitOptions, HullGrid, Silhouette, TargetView, fit_sdf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fraction: f64 = std::env::args().nth(1).map_or(Ok(0.1), |a| a.parse())?;
    let (name, shape) = hounsfield_mesh::concave_suite()
        .into_iter()
        .find(|(n, _)| *n == "dented_sphere")
        .ok_or("no dented sphere")?;
    let mesh = shape.mesh(0.4)?;
    let surface = Surface {
        vertices: &mesh.vertices,
        triangles: &mesh.triangles,
        normals: None,
        colours: None,
    };
    let (centre, radius) = ([0.0; 3], 26.0);
    let mut clean = Vec::new();
    for (_, camera) in Camera::wonder3d(centre, radius, 256)? {
        let maps = render_view(&surface, &camera)?;
        let silhouette = Silhouette::new(maps.width, maps.height, maps.mask)?;
        clean.push(TargetView { camera, silhouette, normals: Some(maps.normal), depths: None });
    }
    let mut corrupted = clean.clone();
    let mut rng = SplitMix64::new(5);
    let mut replaced = 0usize;
    for view in &mut corrupted {
        for n in view.normals.iter_mut().flatten() {
            if rng.next_f64() < fraction {
                let (z, a) = (2.0 * rng.next_f64() - 1.0, std::f64::consts::TAU * rng.next_f64());
                let r = (1.0 - z * z).sqrt();
                *n = [(r * a.cos()) as f32, (r * a.sin()) as f32, z as f32];
                replaced += 1;
            }
        }
    }
    let grid = HullGrid { centre, half_extent: radius, resolution: 96 };
    let options = FitOptions { resolution: 96, steps: 1500, ..FitOptions::default() };
    let iou =
        |views: &[TargetView], options: &FitOptions| -> Result<f64, Box<dyn std::error::Error>> {
            let field = fit_sdf(views, &grid, options, |_| {})?.to_inside_positive()?;
            let (mut both, mut either) = (0usize, 0usize);
            for (index, v) in field.data().indexed_iter() {
                let (z, y, x) = index;
                let inside = shape.distance(field.voxel_to_physical([z, y, x])) <= 0.0;
                both += usize::from(*v > 0.0 && inside);
                either += usize::from(*v > 0.0 || inside);
            }
            Ok(both as f64 / either as f64)
        };
    println!(
        "{name}, six 256 px views, {replaced} normal pixels replaced ({fraction}), 96^3, 1500 steps"
    );
    let base = iou(&clean, &options)?;
    println!("clean views, ranking 0.2:      IoU {base:.4}");
    let ranked = iou(&corrupted, &options)?;
    println!("corrupted views, ranking 0.2:  IoU {ranked:.4} (drop {:.4})", base - ranked);
    let plain = iou(&corrupted, &FitOptions { ranking: 0.0, ..options })?;
    println!("corrupted views, no ranking:   IoU {plain:.4} (drop {:.4})", base - plain);
    Ok(())
}
