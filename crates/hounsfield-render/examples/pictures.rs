//! A montage, a MIP and a volume rendering of a synthetic volume, as PNG.
//!
//! `cargo run --release -p hounsfield-render --example pictures -- [out_dir]`
#![allow(clippy::print_stdout)]

use std::path::PathBuf;

use hounsfield_core::{Geometry, Volume};
use hounsfield_render::{
    DvrOptions, Plane, TransferFunction, View, Window, mip, montage, volume_render,
};

fn main() -> Result<(), hounsfield_core::Error> {
    // Two overlapping balls (values 400 and 1000, like bone in HU) in 64^3 voxels of 1 x 1 x 2 mm.
    let n = 64;
    let values = (0..n * n * n)
        .map(|i| {
            let p = [(i % n) as f64, ((i / n) % n) as f64, 2.0 * (i / (n * n)) as f64];
            let d = |c: [f64; 3]| (0..3).map(|k| (p[k] - c[k]).powi(2)).sum::<f64>().sqrt();
            let a = if d([28.0, 32.0, 60.0]) < 18.0 { 400.0 } else { 0.0 };
            let b = if d([40.0, 32.0, 70.0]) < 12.0 { 600.0 } else { 0.0 };
            (a + b) as f32
        })
        .collect();
    let volume =
        Volume::from_vec([n; 3], values, Geometry::axis_aligned([1.0, 1.0, 2.0], [0.0; 3])?)?;
    let dir = std::env::args().nth(1).map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let window = Window::from_range(0.0, 1000.0)?;
    montage(&volume, Plane::Axial, 9, 3, &window, None)?.write_png(&dir.join("montage.png"))?;
    mip(&volume, Plane::Coronal, &window).write_png(&dir.join("mip.png"))?;
    let options = DvrOptions {
        view: View { azimuth: 30.0, elevation: 20.0, size: 256 },
        ..Default::default()
    };
    volume_render(&volume, &TransferFunction::ct_bone(), &options)?
        .write_png(&dir.join("dvr.png"))?;
    println!("wrote montage.png, mip.png, dvr.png in {}", dir.display());
    Ok(())
}
