//! Writes shapes of every class of the procedural family as STL files:
//! `cargo run --release -p hounsfield-mesh --example shape_family -- DIR [COUNT]`
//! (COUNT shapes per class, seeds 0..COUNT; `hounsfield render DIR/chair_0.stl chair.png` draws
//! one).

#![allow(clippy::print_stdout)] // an example: it reports what it wrote

use std::path::PathBuf;

use hounsfield_mesh::{ShapeClass, io::write_mesh};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: shape_family DIR [COUNT]")?);
    let count: u64 = args.next().map_or(Ok(3), |c| c.parse())?;
    std::fs::create_dir_all(&dir)?;
    for class in ShapeClass::TRAINED.into_iter().chain(ShapeClass::HELD_OUT) {
        for seed in 0..count {
            let mesh = class.sample(seed).mesh(1.0 / 96.0)?;
            let path = dir.join(format!("{}_{seed}.stl", class.name()));
            write_mesh(&path, &mesh)?;
            println!("{} ({} triangles)", path.display(), mesh.triangles.len());
        }
    }
    Ok(())
}
