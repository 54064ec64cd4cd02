//! Ray casting through a volume in physical space: direct volume rendering with transfer
//! functions and gradient shading, and maximum-intensity projection from any direction.

use hounsfield_core::{Element, Error, Result, Volume};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::camera::{V3, View, add, dot, normalize, scale};
use crate::image::RgbImage;
use crate::slice::Window;

/// A point of a transfer function: at `value`, this colour (0..1) and opacity per millimetre.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlPoint {
    /// Sample value.
    pub value: f64,
    /// Red, green, blue in 0..=1.
    pub colour: [f64; 3],
    /// Opacity gathered over one millimetre of material, 0..=1.
    pub opacity: f64,
}

/// Colour and opacity as piecewise-linear functions of the value (constant beyond the ends).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransferFunction {
    /// Control points in increasing value.
    pub points: Vec<ControlPoint>,
}

fn cp(value: f64, colour: [f64; 3], opacity: f64) -> ControlPoint {
    ControlPoint { value, colour, opacity }
}

impl TransferFunction {
    /// Bone in CT (HU): transparent below 150 HU, ivory and nearly opaque from 500 HU.
    pub fn ct_bone() -> Self {
        TransferFunction {
            points: vec![
                cp(150.0, [0.9, 0.8, 0.65], 0.0),
                cp(300.0, [0.95, 0.88, 0.75], 0.35),
                cp(700.0, [1.0, 0.97, 0.9], 0.9),
            ],
        }
    }

    /// Soft tissue in CT (HU): faint red muscle and organs, opaque white bone.
    pub fn ct_soft_tissue() -> Self {
        TransferFunction {
            points: vec![
                cp(-200.0, [0.6, 0.3, 0.25], 0.0),
                cp(0.0, [0.8, 0.4, 0.35], 0.02),
                cp(80.0, [0.9, 0.55, 0.45], 0.06),
                cp(200.0, [0.95, 0.9, 0.85], 0.3),
                cp(600.0, [1.0, 1.0, 0.95], 0.9),
            ],
        }
    }

    /// MR and other relative intensities: a warm ramp over the window's upper half.
    pub fn mr(window: &Window) -> Self {
        let lo = window.centre - window.width / 2.0;
        TransferFunction {
            points: vec![
                cp(lo + 0.3 * window.width, [0.8, 0.6, 0.5], 0.0),
                cp(lo + 0.6 * window.width, [0.95, 0.8, 0.7], 0.15),
                cp(lo + window.width, [1.0, 0.95, 0.9], 0.6),
            ],
        }
    }

    /// A preset by name: `bone`, `soft-tissue` (CT, HU) or `mr` (relative to `window`).
    pub fn preset(name: &str, window: &Window) -> Result<Self> {
        match name {
            "bone" | "ct-bone" => Ok(Self::ct_bone()),
            "soft-tissue" | "ct-soft-tissue" => Ok(Self::ct_soft_tissue()),
            "mr" => Ok(Self::mr(window)),
            other => {
                Err(Error::param("preset", format!("{other:?} is not bone, soft-tissue or mr")))
            }
        }
    }

    fn validate(&self) -> Result<()> {
        if self.points.is_empty() {
            return Err(Error::Empty("transfer function".into()));
        }
        for w in self.points.windows(2) {
            if w[1].value.is_nan() || w[0].value.is_nan() || w[1].value < w[0].value {
                return Err(Error::param(
                    "transfer function",
                    "control points must be in increasing value",
                ));
            }
        }
        if self.points.iter().any(|p| {
            !(0.0..=1.0).contains(&p.opacity) || p.colour.iter().any(|c| !(0.0..=1.0).contains(c))
        }) {
            return Err(Error::param(
                "transfer function",
                "colours and opacities must lie in 0..=1",
            ));
        }
        Ok(())
    }

    /// Colour and opacity per mm at `v`.
    fn at(&self, v: f64) -> ([f64; 3], f64) {
        let p = &self.points;
        if v <= p[0].value {
            return (p[0].colour, p[0].opacity);
        }
        for w in p.windows(2) {
            if v <= w[1].value {
                let t = if w[1].value > w[0].value {
                    (v - w[0].value) / (w[1].value - w[0].value)
                } else {
                    1.0
                };
                let c =
                    std::array::from_fn(|k| w[0].colour[k] + t * (w[1].colour[k] - w[0].colour[k]));
                return (c, w[0].opacity + t * (w[1].opacity - w[0].opacity));
            }
        }
        let last = p[p.len() - 1];
        (last.colour, last.opacity)
    }
}

/// A volume prepared for ray casting: f32 samples, index <-> physical maps.
struct Sampler {
    data: Vec<f32>,
    n: [usize; 3],
    origin: V3,
    to_index: [[f64; 3]; 3],
    gradient_to_world: [[f64; 3]; 3],
    centre: V3,
    radius: f64,
    step: f64,
}

impl Sampler {
    fn new<T: Element>(volume: &Volume<T>) -> Result<Self> {
        let data: Vec<f32> = volume.as_slice().iter().map(|v| v.to_f64() as f32).collect();
        if let Some(index) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NotFinite { what: "volume", value: f64::from(data[index]), index });
        }
        let g = volume.geometry();
        let n = volume.size_xyz();
        let far = g.index_to_physical([n[0] as f64 - 1.0, n[1] as f64 - 1.0, n[2] as f64 - 1.0]);
        let origin = g.index_to_physical([0.0; 3]);
        let centre = scale(add(origin, far), 0.5);
        // Half the diagonal of the box of voxel centres plus half a voxel: any view fits.
        let sp = g.spacing();
        let half: V3 = std::array::from_fn(|k| (n[k] as f64) * sp[k] / 2.0);
        let radius = dot(half, half).sqrt();
        let step = sp.iter().copied().fold(f64::INFINITY, f64::min) / 4.0;
        // physical -> index is q = J (p - origin); column c of J is the index of origin + e_c.
        let columns: [V3; 3] = std::array::from_fn(|c| {
            let e: V3 = std::array::from_fn(|k| f64::from(u8::from(k == c)));
            g.physical_to_index(add(origin, e))
        });
        let to_index = std::array::from_fn(|r| std::array::from_fn(|c| columns[c][r]));
        // World gradients are J^T times index gradients: row r of J^T is column r of J.
        let gradient_to_world = columns;
        Ok(Sampler { data, n, origin, to_index, gradient_to_world, centre, radius, step })
    }

    fn index_of(&self, p: V3) -> V3 {
        let rel = [p[0] - self.origin[0], p[1] - self.origin[1], p[2] - self.origin[2]];
        self.index_step(rel)
    }

    /// A physical displacement in index units.
    fn index_step(&self, d: V3) -> V3 {
        std::array::from_fn(|r| dot(self.to_index[r], d))
    }

    /// Trilinear value at continuous index `q`, `None` outside the grid.
    fn sample(&self, q: V3) -> Option<f64> {
        let [nx, ny, nz] = self.n;
        if q.iter().zip(self.n).any(|(&c, n)| c < 0.0 || c > (n - 1) as f64) {
            return None;
        }
        let i: [usize; 3] =
            std::array::from_fn(|k| (q[k].floor() as usize).min(self.n[k].saturating_sub(2)));
        let f: V3 = std::array::from_fn(|k| q[k] - i[k] as f64);
        let at = |x: usize, y: usize, z: usize| {
            f64::from(self.data[(z.min(nz - 1) * ny + y.min(ny - 1)) * nx + x.min(nx - 1)])
        };
        let mut v = 0.0;
        for dz in 0..2 {
            for dy in 0..2 {
                for dx in 0..2 {
                    let w = (if dx == 1 { f[0] } else { 1.0 - f[0] })
                        * (if dy == 1 { f[1] } else { 1.0 - f[1] })
                        * (if dz == 1 { f[2] } else { 1.0 - f[2] });
                    if w > 0.0 {
                        v += w * at(i[0] + dx, i[1] + dy, i[2] + dz);
                    }
                }
            }
        }
        Some(v)
    }

    /// Unit normal (towards lower values) at index `q` from central differences, if defined.
    fn normal(&self, q: V3) -> Option<V3> {
        let mut g = [0.0; 3];
        for k in 0..3 {
            let (mut a, mut b) = (q, q);
            a[k] += 1.0;
            b[k] -= 1.0;
            g[k] = self.sample(a).unwrap_or(0.0) - self.sample(b).unwrap_or(0.0);
        }
        let world: V3 = std::array::from_fn(|r| dot(self.gradient_to_world[r], g));
        let len = dot(world, world).sqrt();
        (len > 0.0).then(|| scale(world, -1.0 / len))
    }
}

/// A fraction in [0, 1) from a pixel position (SplitMix64's finaliser).
fn jitter(x: usize, y: usize) -> f64 {
    let mut z = ((x as u64) << 32 ^ y as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Options of [`volume_render`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DvrOptions {
    /// The camera.
    pub view: View,
    /// Gradient (Lambert) shading (true).
    pub shading: bool,
    /// Background colour.
    pub background: [u8; 3],
}

impl Default for DvrOptions {
    fn default() -> Self {
        DvrOptions { view: View::default(), shading: true, background: [0, 0, 0] }
    }
}

/// Direct volume rendering: front-to-back compositing along orthographic rays, half-voxel
/// steps, opacity corrected for the step length, optional gradient shading lit from the
/// camera and slightly above-left.
pub fn volume_render<T: Element>(
    volume: &Volume<T>,
    tf: &TransferFunction,
    options: &DvrOptions,
) -> Result<RgbImage> {
    tf.validate()?;
    let s = Sampler::new(volume)?;
    let size = options.view.size.clamp(1, 8192);
    let frame = options.view.frame();
    let light =
        normalize(add(add(scale(frame.dir, -1.0), scale(frame.up, 0.4)), scale(frame.right, -0.3)));
    let steps = (2.0 * s.radius / s.step).ceil() as usize;
    let mut img = RgbImage::new(size, size, options.background);
    img.pixels.par_chunks_mut(size).enumerate().for_each(|(y, row)| {
        for (x, out) in row.iter_mut().enumerate() {
            // Each ray starts a fixed pseudo-random fraction of a step late: samples of
            // neighbouring rays then do not line up into the wood-grain rings that a thin bright
            // shell shows otherwise (the pattern is the same on every run).
            let start = add(
                frame.pixel(s.centre, s.radius, size, x, y),
                scale(frame.dir, -s.radius + jitter(x, y) * s.step),
            );
            let (q0, dq) = (s.index_of(start), s.index_step(scale(frame.dir, s.step)));
            let mut colour = [0.0f64; 3];
            let mut alpha = 0.0f64;
            for k in 0..steps {
                let q =
                    [q0[0] + k as f64 * dq[0], q0[1] + k as f64 * dq[1], q0[2] + k as f64 * dq[2]];
                let Some(v) = s.sample(q) else { continue };
                let (c, per_mm) = tf.at(v);
                if per_mm <= 0.0 {
                    continue;
                }
                let a = 1.0 - (1.0 - per_mm).powf(s.step);
                let shade = if options.shading {
                    s.normal(q).map_or(1.0, |n| 0.25 + 0.75 * dot(n, light).abs())
                } else {
                    1.0
                };
                for ch in 0..3 {
                    colour[ch] += (1.0 - alpha) * a * c[ch] * shade;
                }
                alpha += (1.0 - alpha) * a;
                if alpha > 0.995 {
                    break;
                }
            }
            let bg = options.background.map(f64::from);
            *out = std::array::from_fn(|ch| {
                (colour[ch] * 255.0 + (1.0 - alpha) * bg[ch]).round().clamp(0.0, 255.0) as u8
            });
        }
    });
    Ok(img)
}

/// Maximum-intensity projection along any view direction (ray casting, trilinear samples).
pub fn mip_view<T: Element>(volume: &Volume<T>, window: &Window, view: &View) -> Result<RgbImage> {
    let s = Sampler::new(volume)?;
    let size = view.size.clamp(1, 8192);
    let frame = view.frame();
    let steps = (2.0 * s.radius / s.step).ceil() as usize;
    let mut img = RgbImage::new(size, size, [0, 0, 0]);
    img.pixels.par_chunks_mut(size).enumerate().for_each(|(y, row)| {
        for (x, out) in row.iter_mut().enumerate() {
            let start =
                add(frame.pixel(s.centre, s.radius, size, x, y), scale(frame.dir, -s.radius));
            let best = (0..steps)
                .filter_map(|k| {
                    s.sample(s.index_of(add(start, scale(frame.dir, k as f64 * s.step))))
                })
                .fold(f64::NEG_INFINITY, f64::max);
            if best.is_finite() {
                *out = [window.grey(best); 3];
            }
        }
    });
    Ok(img)
}
