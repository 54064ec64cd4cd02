//! Training data: image/label pairs, intensity normalisation, and patch sampling with
//! augmentation in the manner of nnU-Net and MONAI: flips, axis permutations, rotation and
//! scaling, elastic deformation, intensity scale/shift, gamma, contrast, noise, blur, simulated
//! low resolution and a bias field.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Geometry, Volume};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One training or validation case: an image and its integer labels on the same grid.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The (normalised) image.
    pub image: Volume<f32>,
    /// Class per voxel, 0 = background.
    pub label: Volume<u8>,
}

impl Sample {
    /// Pairs an image with labels, checking that the grids agree.
    pub fn new(image: Volume<f32>, label: Volume<u8>) -> Result<Self> {
        if image.shape() != label.shape() {
            return Err(Error::Config(format!(
                "image {:?} and label {:?} grids differ",
                image.shape(),
                label.shape()
            )));
        }
        Ok(Self { image, label })
    }
}

/// Z-score normalisation (nnU-Net's choice for MRI): mean 0 and standard deviation 1 over the
/// voxels above `floor` (all voxels when `floor` is `None`), applied to the whole image.
pub fn zscore(image: &Volume<f32>, floor: Option<f32>) -> Result<Volume<f32>> {
    let (mut n, mut sum, mut sq) = (0usize, 0f64, 0f64);
    for &v in image.as_slice() {
        if !v.is_finite() {
            return Err(Error::Config("image holds NaN or infinite values".into()));
        }
        if floor.is_none_or(|f| v > f) {
            n += 1;
            sum += f64::from(v);
            sq += f64::from(v) * f64::from(v);
        }
    }
    if n == 0 {
        return Err(Error::Config("no voxel above the normalisation floor".into()));
    }
    let mean = sum / n as f64;
    let std = (sq / n as f64 - mean * mean).max(0.0).sqrt().max(1e-8);
    Ok(image.map(|v| ((f64::from(v) - mean) / std) as f32))
}

/// What random changes a training patch may undergo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AugmentConfig {
    /// Per axis (z, y, x): mirror the patch with probability 1/2.
    pub flip: [bool; 3],
    /// Permute the axes of equal patch length at random (with the flips: all 90-degree turns).
    pub rot90: bool,
    /// Probability of a random rotation and scaling.
    pub affine_probability: f64,
    /// Largest rotation about each axis, in degrees.
    pub max_rotation_deg: f64,
    /// Largest relative scale change.
    pub max_scale: f64,
    /// Intensity scale in `1 +- intensity_scale` and shift in `+- intensity_shift`.
    pub intensity_scale: f64,
    /// See `intensity_scale`.
    pub intensity_shift: f64,
    /// Probability of added Gaussian noise, with standard deviation up to `noise_std`.
    pub noise_probability: f64,
    /// See `noise_probability`.
    pub noise_std: f64,
    /// Probability of a smooth multiplicative bias field of up to `+- bias_strength`.
    pub bias_probability: f64,
    /// See `bias_probability`.
    pub bias_strength: f64,
    /// Probability of a gamma change `v -> v^gamma` on the patch rescaled to [0, 1], with
    /// `gamma` in `[1 / (1 + gamma_range), 1 + gamma_range]` (nnU-Net: 0.7..1.5).
    pub gamma_probability: f64,
    /// See `gamma_probability`.
    pub gamma_range: f64,
    /// Probability of a contrast change about the patch mean by a factor in `1 +- contrast`.
    pub contrast_probability: f64,
    /// See `contrast_probability`.
    pub contrast: f64,
    /// Probability of a Gaussian blur (in the patch's plane for a 2D patch) of a standard
    /// deviation up to `blur_sigma` voxels.
    pub blur_probability: f64,
    /// See `blur_probability`.
    pub blur_sigma: f64,
    /// Probability of a simulated low resolution: the patch downsampled by a factor up to
    /// `low_resolution_factor` (nearest) and interpolated back (linear).
    pub low_resolution_probability: f64,
    /// See `low_resolution_probability`.
    pub low_resolution_factor: f64,
    /// Probability of an elastic deformation: a smooth displacement field (random vectors on a
    /// coarse grid of `elastic_grid` cells per patch axis, interpolated) of up to
    /// `elastic_magnitude` voxels, applied to image and labels alike.
    pub elastic_probability: f64,
    /// See `elastic_probability`.
    pub elastic_magnitude: f64,
    /// See `elastic_probability`.
    pub elastic_grid: usize,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            flip: [true; 3],
            rot90: false,
            affine_probability: 0.2,
            max_rotation_deg: 15.0,
            max_scale: 0.1,
            intensity_scale: 0.1,
            intensity_shift: 0.1,
            noise_probability: 0.15,
            noise_std: 0.1,
            bias_probability: 0.3,
            bias_strength: 0.2,
            gamma_probability: 0.0,
            gamma_range: 0.5,
            contrast_probability: 0.0,
            contrast: 0.25,
            blur_probability: 0.0,
            blur_sigma: 1.0,
            low_resolution_probability: 0.0,
            low_resolution_factor: 2.0,
            elastic_probability: 0.0,
            elastic_magnitude: 4.0,
            elastic_grid: 4,
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> Self {
        Self {
            flip: [false; 3],
            rot90: false,
            affine_probability: 0.0,
            max_rotation_deg: 0.0,
            max_scale: 0.0,
            intensity_scale: 0.0,
            intensity_shift: 0.0,
            noise_probability: 0.0,
            noise_std: 0.0,
            bias_probability: 0.0,
            bias_strength: 0.0,
            gamma_probability: 0.0,
            gamma_range: 0.0,
            contrast_probability: 0.0,
            contrast: 0.0,
            blur_probability: 0.0,
            blur_sigma: 0.0,
            low_resolution_probability: 0.0,
            low_resolution_factor: 1.0,
            elastic_probability: 0.0,
            elastic_magnitude: 0.0,
            elastic_grid: 4,
        }
    }

    /// What a planned run uses ([`crate::plan`]): the default's intensity changes, noise and
    /// bias field, with rotations up to 30 degrees and scaling by up to 25% in 60% of the
    /// patches. On ch2 split front/back it generalised better than the default (Dice 0.888 vs
    /// 0.870 after 900 steps), and better than [`Self::strong`] left-right (docs/NN.md).
    pub fn planned() -> Self {
        Self { affine_probability: 0.6, max_rotation_deg: 30.0, max_scale: 0.25, ..Self::default() }
    }

    /// The strong augmentation of nnU-Net's default trainer, for training that must generalise
    /// beyond the anatomy it saw: rotations up to 30 degrees and scaling by up to 25% in 60% of
    /// the patches, elastic deformation, gamma, contrast, blur, simulated low resolution, noise
    /// and a bias field. Mirroring stays off: whether an axis may be mirrored is a matter of
    /// anatomy, which the plan decides ([`crate::plan`]).
    pub fn strong() -> Self {
        Self {
            flip: [false; 3],
            rot90: false,
            affine_probability: 0.6,
            max_rotation_deg: 30.0,
            max_scale: 0.25,
            intensity_scale: 0.1,
            intensity_shift: 0.1,
            noise_probability: 0.15,
            noise_std: 0.1,
            bias_probability: 0.3,
            bias_strength: 0.3,
            gamma_probability: 0.3,
            gamma_range: 0.5,
            contrast_probability: 0.15,
            contrast: 0.25,
            blur_probability: 0.2,
            blur_sigma: 1.0,
            low_resolution_probability: 0.25,
            low_resolution_factor: 2.0,
            elastic_probability: 0.2,
            elastic_magnitude: 4.0,
            elastic_grid: 4,
        }
    }
}

/// A patch cut from a sample: image values and labels, `patch[0] * patch[1] * patch[2]` each.
#[derive(Clone, Debug, PartialEq)]
pub struct Patch {
    /// Image values in C order.
    pub image: Vec<f32>,
    /// Labels in C order.
    pub label: Vec<u8>,
}

/// Cuts training patches: a `positive_fraction` of them centred on a random foreground voxel
/// (of a class drawn uniformly among those the case holds, as nnU-Net oversamples the
/// foreground, so that a small organ is as often in view as a large one), the rest anywhere;
/// then augments them.
#[derive(Clone, Debug)]
pub struct PatchSampler {
    patch: [usize; 3],
    positive_fraction: f64,
    augment: AugmentConfig,
    /// Per case, per foreground class it holds: the voxel indices of that class.
    foreground: Vec<Vec<Vec<u32>>>,
}

impl PatchSampler {
    /// Indexes the foreground of every sample once.
    pub fn new(
        samples: &[Sample],
        patch: [usize; 3],
        positive_fraction: f64,
        augment: AugmentConfig,
    ) -> Result<Self> {
        if patch.contains(&0) || !(0.0..=1.0).contains(&positive_fraction) {
            return Err(Error::Config(format!(
                "patch {patch:?} must be positive, positive fraction in [0, 1]"
            )));
        }
        if samples.is_empty() {
            return Err(Error::Config("no training samples".into()));
        }
        let foreground = samples
            .iter()
            .map(|s| {
                let mut by_class = vec![Vec::new(); 256];
                for (i, &l) in s.label.as_slice().iter().enumerate() {
                    if l > 0 {
                        by_class[usize::from(l)].push(i as u32);
                    }
                }
                by_class.into_iter().filter(|v| !v.is_empty()).collect()
            })
            .collect();
        Ok(Self { patch, positive_fraction, augment, foreground })
    }

    /// One augmented patch from `samples[index]`.
    pub fn sample(&self, samples: &[Sample], index: usize, rng: &mut SplitMix64) -> Patch {
        let s = &samples[index];
        let shape = s.image.shape();
        let classes = &self.foreground[index];
        let centre: [f64; 3] =
            if !classes.is_empty() && rng.uniform(0.0, 1.0) < self.positive_fraction {
                // One class: no draw, so a binary task's random stream is what it always was.
                let fg = match classes.len() {
                    1 => &classes[0],
                    n => &classes[(rng.uniform(0.0, n as f64) as usize).min(n - 1)],
                };
                let i = fg[(rng.uniform(0.0, fg.len() as f64) as usize).min(fg.len() - 1)] as usize;
                [
                    (i / (shape[1] * shape[2])) as f64,
                    (i / shape[2] % shape[1]) as f64,
                    (i % shape[2]) as f64,
                ]
            } else {
                shape.map(|n| rng.uniform(0.0, n as f64).floor())
            };
        let a = &self.augment;
        // Patch axis -> volume direction: permutation, flips, then rotation and scale.
        let mut m = [[0.0f64; 3]; 3];
        let mut perm = [0usize, 1, 2];
        if a.rot90 {
            for i in (1..3).rev() {
                let j = (rng.uniform(0.0, (i + 1) as f64) as usize).min(i);
                if self.patch[perm[i]] == self.patch[perm[j]] {
                    perm.swap(i, j);
                }
            }
        }
        for (axis, row) in m.iter_mut().enumerate() {
            let sign = if a.flip[axis] && rng.uniform(0.0, 1.0) < 0.5 { -1.0 } else { 1.0 };
            row[perm[axis]] = sign;
        }
        if a.affine_probability > 0.0 && rng.uniform(0.0, 1.0) < a.affine_probability {
            let r = rotation(std::array::from_fn(|_| {
                rng.uniform(-1.0, 1.0) * a.max_rotation_deg.to_radians()
            }));
            let scale = 1.0 + rng.uniform(-a.max_scale, a.max_scale);
            m = hounsfield_core::mat3::mul(&r, &m).map(|row| row.map(|v| v * scale));
        }
        let elastic = (a.elastic_probability > 0.0
            && rng.uniform(0.0, 1.0) < a.elastic_probability)
            .then(|| Displacement::random(self.patch, a.elastic_grid, a.elastic_magnitude, rng));
        let mut patch = extract(s, self.patch, centre, &m, elastic.as_ref());
        self.intensity(&mut patch.image, rng);
        self.appearance(&mut patch.image, rng);
        patch
    }

    /// Blur, contrast, simulated low resolution and gamma, each with its probability.
    fn appearance(&self, image: &mut [f32], rng: &mut SplitMix64) {
        let a = &self.augment;
        let mut happens = |p: f64| p > 0.0 && rng.uniform(0.0, 1.0) < p;
        let blur = happens(a.blur_probability);
        let contrast = happens(a.contrast_probability);
        let low_res = happens(a.low_resolution_probability);
        let gamma = happens(a.gamma_probability);
        if blur {
            let sigma = rng.uniform(0.25, a.blur_sigma.max(0.25));
            gaussian_blur(image, self.patch, sigma);
        }
        if contrast {
            let factor = 1.0 + rng.uniform(-a.contrast, a.contrast);
            let mean = image.iter().map(|&v| f64::from(v)).sum::<f64>() / image.len() as f64;
            let (lo, hi) = min_max(image);
            for v in image.iter_mut() {
                // Clipped to the patch's range, as nnU-Net's contrast augmentation does.
                *v = ((f64::from(*v) - mean) * factor + mean).clamp(lo, hi) as f32;
            }
        }
        if low_res {
            let factor = rng.uniform(1.0, a.low_resolution_factor.max(1.0));
            simulate_low_resolution(image, self.patch, factor);
        }
        if gamma {
            let g = if rng.uniform(0.0, 1.0) < 0.5 {
                rng.uniform(1.0 / (1.0 + a.gamma_range), 1.0)
            } else {
                rng.uniform(1.0, 1.0 + a.gamma_range)
            };
            let (lo, hi) = min_max(image);
            let range = (hi - lo).max(1e-8);
            for v in image.iter_mut() {
                let t = ((f64::from(*v) - lo) / range).clamp(0.0, 1.0);
                *v = (t.powf(g) * range + lo) as f32;
            }
        }
    }

    fn intensity(&self, image: &mut [f32], rng: &mut SplitMix64) {
        let a = &self.augment;
        let scale = 1.0 + rng.uniform(-a.intensity_scale, a.intensity_scale);
        let shift = rng.uniform(-a.intensity_shift, a.intensity_shift);
        if a.bias_probability > 0.0 && rng.uniform(0.0, 1.0) < a.bias_probability {
            // exp of a random linear + quadratic polynomial over the patch, within +- strength.
            let c: [f64; 6] =
                std::array::from_fn(|_| rng.uniform(-1.0, 1.0) * a.bias_strength / 3.0);
            let p = self.patch;
            for (i, v) in image.iter_mut().enumerate() {
                let u = [i / (p[1] * p[2]), i / p[2] % p[1], i % p[2]];
                let t: [f64; 3] =
                    std::array::from_fn(|k| 2.0 * u[k] as f64 / p[k].max(2) as f64 - 1.0);
                let f = c[0] * t[0]
                    + c[1] * t[1]
                    + c[2] * t[2]
                    + c[3] * t[0] * t[0]
                    + c[4] * t[1] * t[1]
                    + c[5] * t[2] * t[2];
                *v *= f.exp() as f32;
            }
        }
        let noise = if a.noise_probability > 0.0 && rng.uniform(0.0, 1.0) < a.noise_probability {
            rng.uniform(0.0, a.noise_std)
        } else {
            0.0
        };
        for v in image.iter_mut() {
            let n = if noise > 0.0 { noise * rng.normal() } else { 0.0 };
            *v = (f64::from(*v) * scale + shift + n) as f32;
        }
    }
}

fn min_max(image: &[f32]) -> (f64, f64) {
    image.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
        (lo.min(f64::from(v)), hi.max(f64::from(v)))
    })
}

/// Separable Gaussian blur along the patch axes longer than one voxel, edges repeated.
fn gaussian_blur(image: &mut [f32], patch: [usize; 3], sigma: f64) {
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f64> =
        (-radius..=radius).map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut line = Vec::new();
    for axis in (0..3).filter(|&a| patch[a] > 1) {
        let n = patch[axis];
        let stride = patch[axis + 1..].iter().product::<usize>();
        for start in (0..image.len()).filter(|i| i / stride % n == 0) {
            line.clear();
            line.extend((0..n).map(|k| f64::from(image[start + k * stride])));
            for k in 0..n {
                let mut v = 0.0;
                for (j, w) in weights.iter().enumerate() {
                    let at = (k as isize + j as isize - radius).clamp(0, n as isize - 1);
                    v += w * line[at as usize];
                }
                image[start + k * stride] = (v / total) as f32;
            }
        }
    }
}

/// Downsamples by `factor` along the patch axes longer than one voxel (nearest) and
/// interpolates back (linear): the look of a scan acquired at a lower resolution.
fn simulate_low_resolution(image: &mut [f32], patch: [usize; 3], factor: f64) {
    let mut line = Vec::new();
    for axis in (0..3).filter(|&a| patch[a] > 1) {
        let n = patch[axis];
        let coarse = ((n as f64 / factor).round() as usize).clamp(2, n);
        let stride = patch[axis + 1..].iter().product::<usize>();
        let scale = (n - 1) as f64 / (coarse - 1) as f64;
        for start in (0..image.len()).filter(|i| i / stride % n == 0) {
            line.clear();
            line.extend((0..coarse).map(|c| {
                let k = ((c as f64 * scale).round() as usize).min(n - 1);
                image[start + k * stride]
            }));
            for k in 0..n {
                let t = k as f64 / scale;
                let lo = (t.floor() as usize).min(coarse - 2);
                let f = t - lo as f64;
                let v = f64::from(line[lo]) * (1.0 - f) + f64::from(line[lo + 1]) * f;
                image[start + k * stride] = v as f32;
            }
        }
    }
}

/// A smooth random displacement (in patch voxels) of the patch's sampling positions: random
/// vectors on a coarse grid, interpolated linearly; no displacement along an axis of length 1.
#[derive(Clone, Debug)]
struct Displacement {
    patch: [usize; 3],
    cells: [usize; 3],
    vectors: Vec<[f64; 3]>,
}

impl Displacement {
    fn random(patch: [usize; 3], grid: usize, magnitude: f64, rng: &mut SplitMix64) -> Self {
        let cells = patch.map(|p| if p > 1 { grid.max(1) } else { 0 });
        let count = cells.iter().map(|c| c + 1).product();
        let vectors = (0..count)
            .map(|_| {
                std::array::from_fn(|k| {
                    if patch[k] > 1 { rng.uniform(-magnitude, magnitude) } else { 0.0 }
                })
            })
            .collect();
        Self { patch, cells, vectors }
    }

    fn at(&self, u: [usize; 3]) -> [f64; 3] {
        let mut lo = [0usize; 3];
        let mut t = [0.0f64; 3];
        for k in 0..3 {
            if self.cells[k] == 0 {
                continue;
            }
            let g = u[k] as f64 / (self.patch[k] - 1) as f64 * self.cells[k] as f64;
            lo[k] = (g.floor() as usize).min(self.cells[k] - 1);
            t[k] = g - lo[k] as f64;
        }
        let dims = self.cells.map(|c| c + 1);
        let mut out = [0.0; 3];
        for corner in 0..8usize {
            let o: [usize; 3] = std::array::from_fn(|k| (corner >> k) & 1);
            if (0..3).any(|k| o[k] == 1 && self.cells[k] == 0) {
                continue;
            }
            let w: f64 = (0..3)
                .map(|k| {
                    if self.cells[k] == 0 {
                        1.0
                    } else if o[k] == 1 {
                        t[k]
                    } else {
                        1.0 - t[k]
                    }
                })
                .product();
            let i = ((lo[0] + o[0]) * dims[1] + lo[1] + o[1]) * dims[2] + lo[2] + o[2];
            for (k, v) in out.iter_mut().enumerate() {
                *v += w * self.vectors[i][k];
            }
        }
        out
    }
}

fn rotation(angles: [f64; 3]) -> [[f64; 3]; 3] {
    let (s, c) = (angles.map(f64::sin), angles.map(f64::cos));
    let rz = [[1.0, 0.0, 0.0], [0.0, c[0], -s[0]], [0.0, s[0], c[0]]];
    let ry = [[c[1], 0.0, s[1]], [0.0, 1.0, 0.0], [-s[1], 0.0, c[1]]];
    let rx = [[c[2], -s[2], 0.0], [s[2], c[2], 0.0], [0.0, 0.0, 1.0]];
    hounsfield_core::mat3::mul(&hounsfield_core::mat3::mul(&rz, &ry), &rx)
}

/// Samples a patch whose centre sits at voxel `centre` and whose axis `k` runs along `m[.][k]`
/// (index space): the image trilinearly (edge voxels repeated outside), labels by nearest
/// neighbour (background outside). A pure permutation/flip takes the exact integer path.
fn extract(
    s: &Sample,
    patch: [usize; 3],
    centre: [f64; 3],
    m: &[[f64; 3]; 3],
    elastic: Option<&Displacement>,
) -> Patch {
    let shape = s.image.shape();
    let (img, lab) = (s.image.as_slice(), s.label.as_slice());
    let n = patch.iter().product::<usize>();
    let mut out = Patch { image: Vec::with_capacity(n), label: Vec::with_capacity(n) };
    let integer = elastic.is_none() && m.iter().flatten().all(|v| *v == 0.0 || v.abs() == 1.0);
    let half = patch.map(|p| (p as f64 - 1.0) / 2.0);
    let centre = if integer { centre.map(f64::floor) } else { centre };
    for i in 0..n {
        let u = [i / (patch[1] * patch[2]), i / patch[2] % patch[1], i % patch[2]];
        let d: [f64; 3] = std::array::from_fn(|k| u[k] as f64 - half[k]);
        let d = if integer { d.map(f64::floor) } else { d };
        let d = match elastic {
            Some(e) => {
                let v = e.at(u);
                std::array::from_fn(|k| d[k] + v[k])
            }
            None => d,
        };
        let p: [f64; 3] =
            std::array::from_fn(|r| centre[r] + m[r][0] * d[0] + m[r][1] * d[1] + m[r][2] * d[2]);
        let nearest = p.map(f64::round);
        let inside = (0..3).all(|k| nearest[k] >= 0.0 && nearest[k] < shape[k] as f64);
        out.label.push(if inside {
            lab[(nearest[0] as usize * shape[1] + nearest[1] as usize) * shape[2]
                + nearest[2] as usize]
        } else {
            0
        });
        out.image.push(trilinear(img, shape, p));
    }
    out
}

fn trilinear(data: &[f32], shape: [usize; 3], p: [f64; 3]) -> f32 {
    let mut lo = [0usize; 3];
    let mut t = [0.0f64; 3];
    for k in 0..3 {
        let q = p[k].clamp(0.0, (shape[k] - 1) as f64);
        lo[k] = (q.floor() as usize).min(shape[k].saturating_sub(2));
        t[k] = if shape[k] > 1 { q - lo[k] as f64 } else { 0.0 };
    }
    let at = |z: usize, y: usize, x: usize| {
        let idx = |k: usize, o: usize| (lo[k] + o).min(shape[k] - 1);
        f64::from(data[(idx(0, z) * shape[1] + idx(1, y)) * shape[2] + idx(2, x)])
    };
    let mut v = 0.0;
    for (z, wz) in [(0, 1.0 - t[0]), (1, t[0])] {
        for (y, wy) in [(0, 1.0 - t[1]), (1, t[1])] {
            for (x, wx) in [(0, 1.0 - t[2]), (1, t[2])] {
                if wz * wy * wx != 0.0 {
                    v += wz * wy * wx * at(z, y, x);
                }
            }
        }
    }
    v as f32
}

/// Splits a volume along `axis` (0 = z, 1 = y, 2 = x) at `fraction` of its length, leaving a gap
/// of `gap` voxels out of both parts: `(low part, high part)` with their geometries kept.
pub fn split_halves<T: hounsfield_core::Element>(
    volume: &Volume<T>,
    axis: usize,
    fraction: f64,
    gap: usize,
) -> Result<(Volume<T>, Volume<T>)> {
    let shape = volume.shape();
    if axis > 2 || !(0.0..=1.0).contains(&fraction) {
        return Err(Error::Config(format!(
            "split axis {axis} must be 0..2 and fraction in [0, 1]"
        )));
    }
    let cut = (shape[axis] as f64 * fraction).round() as usize;
    let lo_end = cut.saturating_sub(gap / 2);
    let hi_start = (cut + gap - gap / 2).min(shape[axis]);
    if lo_end == 0 || hi_start >= shape[axis] {
        return Err(Error::Config(format!(
            "split of {} voxels at {cut} with gap {gap} leaves an empty part",
            shape[axis]
        )));
    }
    let part = |start: usize, end: usize| -> Result<Volume<T>> {
        let mut lo = [0; 3];
        let mut hi = shape;
        lo[axis] = start;
        hi[axis] = end;
        crop(volume, lo, hi)
    };
    Ok((part(0, lo_end)?, part(hi_start, shape[axis])?))
}

/// Crops `[lo, hi)` per axis, moving the origin so voxels keep their physical positions.
fn crop<T: hounsfield_core::Element>(
    volume: &Volume<T>,
    lo: [usize; 3],
    hi: [usize; 3],
) -> Result<Volume<T>> {
    let shape = volume.shape();
    let size = [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]];
    let mut values = Vec::with_capacity(size.iter().product());
    let data = volume.as_slice();
    for z in lo[0]..hi[0] {
        for y in lo[1]..hi[1] {
            let start = (z * shape[1] + y) * shape[2];
            values.extend_from_slice(&data[start + lo[2]..start + hi[2]]);
        }
    }
    let g = volume.geometry();
    let origin = volume.voxel_to_physical(lo);
    let geometry = Geometry::new(g.spacing(), origin, g.direction())?;
    Ok(Volume::from_vec(size, values, geometry)?)
}
