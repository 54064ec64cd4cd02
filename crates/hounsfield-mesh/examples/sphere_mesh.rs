//! A sphere's isosurface in physical space, smoothed, decimated, measured and written as STL.
//!
//! `cargo run --release -p hounsfield-mesh --example sphere_mesh -- [out.stl]`
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use hounsfield_core::{Geometry, Volume};
use hounsfield_mesh::{IsoOptions, TaubinOptions, decimate, io, isosurface, taubin_smooth};

fn main() -> Result<(), hounsfield_core::Error> {
    // A ball of radius 30 mm as a distance field on 0.8 x 0.8 x 1.5 mm voxels.
    let (n, spacing) = ([60usize, 90, 90], [0.8, 0.8, 1.5]);
    let centre = [36.0, 36.0, 45.0];
    let values = (0..n[0] * n[1] * n[2])
        .map(|i| {
            let ijk = [(i % n[2]) as f64, ((i / n[2]) % n[1]) as f64, (i / (n[1] * n[2])) as f64];
            let d: f64 =
                (0..3).map(|k| (ijk[k] * spacing[k] - centre[k]).powi(2)).sum::<f64>().sqrt();
            (30.0 - d) as f32
        })
        .collect();
    let volume = Volume::from_vec(n, values, Geometry::axis_aligned(spacing, [0.0; 3])?)?;
    let mesh = isosurface(&volume, 0.0, &IsoOptions::default())?;
    let smooth = taubin_smooth(&mesh, &TaubinOptions::default())?;
    let small = decimate(&smooth, 0.2)?;
    for (name, m) in
        [("marching cubes", &mesh), ("smoothed", &smooth), ("decimated to 20%", &small)]
    {
        let s = m.stats();
        println!(
            "{name:18} {:7} triangles  area {:8.1} mm² (sphere {:.1})  volume {:9.1} mm³  watertight {}",
            s.triangles,
            s.area,
            4.0 * std::f64::consts::PI * 900.0,
            s.volume,
            s.is_watertight()
        );
    }
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("sphere.stl"));
    io::write_mesh(&out, &small)?;
    println!("wrote {}", out.display());
    Ok(())
}
