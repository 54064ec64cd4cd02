//! Trains a small 3D U-Net on generated ellipsoids and tubes and reports Dice on held-out
//! generated volumes:
//! `cargo run --release -p hounsfield-nn --example synthetic_unet [steps] [lr] [tubes] [width]`
//! (defaults 300 steps, learning rate 3e-3, up to 2 tubes per volume, 8 channels at full
//! resolution).
#![allow(clippy::print_stdout)]

use hounsfield_nn::UNetConfig;
use hounsfield_nn::synthetic::{SyntheticConfig, generate};
use hounsfield_nn::train::{Event, TrainConfig, Trainer};

fn main() -> Result<(), hounsfield_nn::Error> {
    let arg = |i: usize| std::env::args().nth(i).and_then(|s| s.parse::<f64>().ok());
    let steps = arg(1).map_or(300, |v| v as usize);
    let learning_rate = arg(2).unwrap_or(3e-3);
    let tubes = arg(3).map_or(2, |v| v as usize);
    let width = arg(4).map_or(8, |v| v as usize);
    let data = SyntheticConfig { size: 48, tubes, ..Default::default() };
    let train: Vec<_> = (0..6).map(|i| generate(&data, i)).collect::<Result<_, _>>()?;
    let held_out: Vec<_> = (100..104).map(|i| generate(&data, i)).collect::<Result<_, _>>()?;
    let cfg = TrainConfig {
        model: UNetConfig {
            channels: vec![width, 2 * width, 4 * width],
            out_channels: if tubes > 0 { 3 } else { 2 },
            ..Default::default()
        },
        learning_rate,
        patch: [32; 3],
        batch_size: 2,
        steps,
        validate_every: 50,
        ..Default::default()
    };
    let mut trainer = Trainer::new(cfg)?;
    let start = std::time::Instant::now();
    let report = trainer.fit(&train, &held_out, None, |e| {
        if let Event::Validation { step, dice } = e {
            println!(
                "step {step}: held-out Dice {dice:.4?} ({:.1} s)",
                start.elapsed().as_secs_f64()
            );
        }
    })?;
    println!(
        "{} steps in {:.1} s, final loss {:.4}",
        report.steps, report.seconds, report.final_loss
    );
    Ok(())
}
