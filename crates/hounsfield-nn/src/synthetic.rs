//! A synthetic segmentation dataset: random ellipsoids (class 1) and tubes (class 2) in a
//! textured background, with noise, a smooth bias field and partial-volume blur, and labels that
//! are exact (membership of each voxel centre in the drawn shapes).

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};

use crate::data::Sample;
use crate::{Error, Result};

/// Parameters of the generator.
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Edge length of the cubic volumes (1 mm voxels).
    pub size: usize,
    /// Ellipsoids per volume (their count is drawn from `1..=ellipsoids`).
    pub ellipsoids: usize,
    /// Tubes per volume (drawn from `0..=tubes`).
    pub tubes: usize,
    /// Standard deviation of the white noise, relative to the ellipsoid contrast of 1.
    pub noise: f64,
    /// Amplitude of the multiplicative bias field (0.2 = +-20 %).
    pub bias: f64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self { size: 48, ellipsoids: 3, tubes: 2, noise: 0.1, bias: 0.2 }
    }
}

/// One volume with its labels; the same seed gives the same volume.
pub fn generate(cfg: &SyntheticConfig, seed: u64) -> Result<Sample> {
    let n = cfg.size;
    if !((8..=512).contains(&n) && cfg.noise >= 0.0 && cfg.bias >= 0.0 && cfg.bias < 1.0) {
        return Err(Error::Config(format!(
            "synthetic size {n} must be 8..=512, noise >= 0, bias in [0, 1)"
        )));
    }
    let mut rng = SplitMix64::new(seed);
    let nf = n as f64;
    let mut label = vec![0u8; n * n * n];
    let mut clean = vec![0f32; n * n * n];
    let index = |z: usize, y: usize, x: usize| (z * n + y) * n + x;
    let ellipsoids =
        1 + (rng.uniform(0.0, cfg.ellipsoids as f64) as usize).min(cfg.ellipsoids.max(1) - 1);
    for _ in 0..ellipsoids {
        let c: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.25, 0.75) * nf);
        let r: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.1, 0.25) * nf);
        let rot = random_rotation(&mut rng);
        let level = rng.uniform(0.8, 1.2) as f32;
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let d = [z as f64 - c[0], y as f64 - c[1], x as f64 - c[2]];
                    let q: f64 = (0..3)
                        .map(|k| {
                            ((rot[k][0] * d[0] + rot[k][1] * d[1] + rot[k][2] * d[2]) / r[k])
                                .powi(2)
                        })
                        .sum();
                    if q <= 1.0 {
                        label[index(z, y, x)] = 1;
                        clean[index(z, y, x)] = level;
                    }
                }
            }
        }
    }
    let tubes = (rng.uniform(0.0, (cfg.tubes + 1) as f64) as usize).min(cfg.tubes);
    for _ in 0..tubes {
        // A straight tube between two random points, radius 3.5 to 6 voxels, darker than the
        // ellipsoids and drawn over them.
        let a: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.1, 0.9) * nf);
        let b: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.1, 0.9) * nf);
        let radius = rng.uniform(3.5, 6.0);
        let level = rng.uniform(-0.9, -0.6) as f32;
        let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
        let len2 = ab.iter().map(|v| v * v).sum::<f64>().max(1e-9);
        for z in 0..n {
            for y in 0..n {
                for x in 0..n {
                    let ap = [z as f64 - a[0], y as f64 - a[1], x as f64 - a[2]];
                    let t =
                        ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0);
                    let d2: f64 = (0..3).map(|k| (ap[k] - t * ab[k]).powi(2)).sum();
                    if d2 <= radius * radius {
                        label[index(z, y, x)] = 2;
                        clean[index(z, y, x)] = level;
                    }
                }
            }
        }
    }
    // Partial volume: a 3-tap [1/4, 1/2, 1/4] blur per axis; then texture, bias and noise.
    let blurred = blur(&clean, n);
    let tex_freq: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.2, 0.6));
    let tex_phase: [f64; 3] = std::array::from_fn(|_| rng.uniform(0.0, std::f64::consts::TAU));
    let bias_c: [f64; 3] = std::array::from_fn(|_| rng.uniform(-1.0, 1.0) * cfg.bias);
    let mut image = vec![0f32; n * n * n];
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let p = [z as f64 / nf - 0.5, y as f64 / nf - 0.5, x as f64 / nf - 0.5];
                let texture = 0.1
                    * ((tex_freq[0] * z as f64 + tex_phase[0]).sin()
                        * (tex_freq[1] * y as f64 + tex_phase[1]).sin()
                        * (tex_freq[2] * x as f64 + tex_phase[2]).sin());
                let bias =
                    1.0 + bias_c[0] * p[0] * 2.0 + bias_c[1] * p[1] * 2.0 + bias_c[2] * p[2] * 2.0;
                let v = (f64::from(blurred[index(z, y, x)]) + texture) * bias
                    + cfg.noise * rng.normal();
                image[index(z, y, x)] = v as f32;
            }
        }
    }
    let geometry = Geometry::default();
    Sample::new(
        Volume::from_vec([n; 3], image, geometry.clone())?,
        Volume::from_vec([n; 3], label, geometry)?,
    )
}

fn random_rotation(rng: &mut SplitMix64) -> [[f64; 3]; 3] {
    // A uniformly random rotation from a random unit quaternion.
    let q: [f64; 4] = std::array::from_fn(|_| rng.normal());
    let norm = q.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
    let [w, x, y, z] = q.map(|v| v / norm);
    [
        [1.0 - 2.0 * (y * y + z * z), 2.0 * (x * y - w * z), 2.0 * (x * z + w * y)],
        [2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)],
        [2.0 * (x * z - w * y), 2.0 * (y * z + w * x), 1.0 - 2.0 * (x * x + y * y)],
    ]
}

fn blur(v: &[f32], n: usize) -> Vec<f32> {
    let mut cur = v.to_vec();
    for stride in [n * n, n, 1] {
        let mut next = cur.clone();
        for (i, out) in next.iter_mut().enumerate() {
            let pos = i / stride % n;
            let prev = if pos > 0 { cur[i - stride] } else { cur[i] };
            let succ = if pos + 1 < n { cur[i + stride] } else { cur[i] };
            *out = 0.25 * prev + 0.5 * cur[i] + 0.25 * succ;
        }
        cur = next;
    }
    cur
}
