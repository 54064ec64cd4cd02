//! What the network sees: rendered view maps (mask, depth, normals in the camera's frame)
//! turned into input channels, with lighting and noise augmentation; and examples that pair a
//! ring of views with the occupancy they show.

use candle_core::{Device, Tensor};
use hounsfield_core::rng::SplitMix64;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// One rendered view of a shape, in the camera's frame.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewMap {
    /// Side of the square picture, pixels (row 0 at the top).
    pub size: usize,
    /// Whether the pixel sees the shape.
    pub mask: Vec<bool>,
    /// Depth towards the camera, 0 at the centre of the framed sphere and 1 at its near side
    /// (0 where the mask is off).
    pub depth: Vec<f32>,
    /// Unit surface normal in the camera frame (x right, y up, z towards the camera); zero
    /// where the mask is off.
    pub normal: Vec<[f32; 3]>,
}

impl ViewMap {
    /// Checks that the maps hold `size^2` pixels each and finite values.
    pub fn validate(&self) -> Result<()> {
        let n = self.size * self.size;
        if self.size == 0 || self.mask.len() != n || self.depth.len() != n || self.normal.len() != n
        {
            return Err(Error::Config(format!(
                "a view of side {} needs {n} pixels in each map (mask {}, depth {}, normal {})",
                self.size,
                self.mask.len(),
                self.depth.len(),
                self.normal.len()
            )));
        }
        if self.depth.iter().chain(self.normal.iter().flatten()).any(|v| !v.is_finite()) {
            return Err(Error::Config("a view holds a non-finite depth or normal".into()));
        }
        Ok(())
    }
}

/// What a view becomes as the network's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// The mask alone (1 channel).
    Silhouette,
    /// The mask and the depth (2 channels): a depth camera's view, a "2.5D sketch".
    Depth,
    /// A grey shaded picture on black (1 channel): Lambert shading of the normals.
    Shaded,
}

impl InputKind {
    /// Input channels per view.
    pub fn channels(self) -> usize {
        match self {
            Self::Silhouette | Self::Shaded => 1,
            Self::Depth => 2,
        }
    }
}

/// The share of ambient light in shading; the rest is Lambert's `max(n . l, 0)`.
pub const AMBIENT: f32 = 0.25;

/// Albedo of the shaded pictures without augmentation.
pub const ALBEDO: f32 = 0.9;

/// Augmentation of views while training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ViewAugment {
    /// Standard deviation of Gaussian noise added to the depth and shading inside the mask.
    pub noise: f64,
    /// Shading under a random light from the camera's side (otherwise a headlight).
    pub lighting: bool,
    /// Albedo drawn from `[0.6, 1]` per view (otherwise [`ALBEDO`]).
    pub albedo: bool,
    /// Probability of dropping each mask pixel on the outline (a rough segmentation).
    pub outline_dropout: f64,
}

impl Default for ViewAugment {
    fn default() -> Self {
        Self { noise: 0.02, lighting: true, albedo: true, outline_dropout: 0.0 }
    }
}

impl ViewAugment {
    /// No augmentation (evaluation).
    pub fn none() -> Self {
        Self { noise: 0.0, lighting: false, albedo: false, outline_dropout: 0.0 }
    }

    /// Checks the numbers.
    pub fn validate(&self) -> Result<()> {
        let in_unit = |v: f64| (0.0..=1.0).contains(&v);
        if !(in_unit(self.noise) && in_unit(self.outline_dropout)) {
            return Err(Error::Config(format!(
                "augmentation noise must be in [0, 1] and outline_dropout in [0, 1], found {self:?}"
            )));
        }
        Ok(())
    }
}

/// A view as input channels `(C, size, size)`, flattened. `rng` draws the augmentation.
pub fn encode_view(
    view: &ViewMap,
    kind: InputKind,
    augment: &ViewAugment,
    rng: &mut SplitMix64,
) -> Vec<f32> {
    let n = view.size * view.size;
    let mut mask = view.mask.clone();
    if augment.outline_dropout > 0.0 {
        let s = view.size;
        let on_outline = |i: usize| {
            let (r, c) = (i / s, i % s);
            [(0, 1), (2, 1), (1, 0), (1, 2)].iter().any(|&(dr, dc)| {
                let (rr, cc) = ((r + dr).wrapping_sub(1), (c + dc).wrapping_sub(1));
                rr >= s || cc >= s || !view.mask[rr * s + cc]
            })
        };
        for (i, m) in mask.iter_mut().enumerate() {
            if *m && on_outline(i) && rng.next_f64() < augment.outline_dropout {
                *m = false;
            }
        }
    }
    let noise = |rng: &mut SplitMix64| {
        if augment.noise > 0.0 { (augment.noise * rng.normal()) as f32 } else { 0.0 }
    };
    let mask_channel = || mask.iter().map(|&m| f32::from(u8::from(m))).collect::<Vec<f32>>();
    match kind {
        InputKind::Silhouette => mask_channel(),
        InputKind::Depth => {
            let mut out = mask_channel();
            out.extend((0..n).map(|i| if mask[i] { view.depth[i] + noise(rng) } else { 0.0 }));
            out
        }
        InputKind::Shaded => {
            let light = if augment.lighting {
                // A direction from the camera's hemisphere, at least 30 degrees above its plane.
                let (a, z) = (rng.uniform(0.0, std::f64::consts::TAU), rng.uniform(0.5, 1.0));
                let r = (1.0 - z * z).sqrt();
                [(r * a.cos()) as f32, (r * a.sin()) as f32, z as f32]
            } else {
                [0.0, 0.0, 1.0]
            };
            let albedo = if augment.albedo { rng.uniform(0.6, 1.0) as f32 } else { ALBEDO };
            (0..n)
                .map(|i| {
                    if !mask[i] {
                        return 0.0;
                    }
                    let nl = view.normal[i].iter().zip(light).map(|(a, b)| a * b).sum::<f32>();
                    // Never black inside the mask: black is the background.
                    (albedo * (AMBIENT + (1.0 - AMBIENT) * nl.max(0.0)) + noise(rng)).max(0.02)
                })
                .collect()
        }
    }
}

/// One shape: views from a ring of cameras and its occupancy in the common frame.
#[derive(Clone, Debug)]
pub struct ShapeExample {
    /// One view per ring camera; camera `k` is `turns[k]` quarter turns about z from the
    /// common frame's (see [`ShapeSet::turns`]).
    pub views: Vec<ViewMap>,
    /// Per ring camera, what its view says of each voxel of the common frame's `R^3` grid:
    /// 0 = empty (outside the silhouette or in front of the depth), 1 = unknown. Empty when
    /// the caller gives none (networks that are not lifted).
    pub lifted: Vec<Vec<u8>>,
    /// Occupancy `R^3` in the common frame, `(z, y, x)` order, 0 or 1.
    pub occupancy: Vec<u8>,
}

/// Examples that share cameras and sizes.
#[derive(Clone, Debug)]
pub struct ShapeSet {
    /// The shapes.
    pub examples: Vec<ShapeExample>,
    /// Quarter turns about z from the common frame to each ring camera's frame.
    pub turns: Vec<usize>,
    /// Occupancy side.
    pub resolution: usize,
}

impl ShapeSet {
    /// Checks every example against the set's sizes.
    pub fn validate(&self, image_size: usize) -> Result<()> {
        let r3 = self.resolution.pow(3);
        for (i, e) in self.examples.iter().enumerate() {
            let lifted_ok = e.lifted.is_empty()
                || (e.lifted.len() == self.turns.len() && e.lifted.iter().all(|l| l.len() == r3));
            if e.views.len() != self.turns.len() || e.occupancy.len() != r3 || !lifted_ok {
                return Err(Error::Config(format!(
                    "shape {i}: {} views, {} voxels and {} lifted volumes, expected {} views of {r3} voxels",
                    e.views.len(),
                    e.occupancy.len(),
                    e.lifted.len(),
                    self.turns.len()
                )));
            }
            for v in &e.views {
                v.validate()?;
                if v.size != image_size {
                    return Err(Error::Config(format!(
                        "shape {i}: a view of {} px, the network takes {image_size}",
                        v.size
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A batch: views `(B, V, C, H, W)` from ring cameras `ring[v]`, and occupancy `(B, 1, R, R, R)`.
#[derive(Clone, Debug)]
pub struct ShapeBatch {
    /// Input views.
    pub views: Tensor,
    /// Quarter turns of each view's camera.
    pub turns: Vec<usize>,
    /// What the views leave unknown `(B, 1, R, R, R)` (1) and show empty (0), when every
    /// example has lifted volumes.
    pub carved: Option<Tensor>,
    /// True occupancy (0/1 as f32).
    pub target: Tensor,
}

/// Stacks `examples` seen from ring cameras `ring` into a batch.
pub fn make_batch(
    set: &ShapeSet,
    examples: &[usize],
    ring: &[usize],
    kind: InputKind,
    augment: &ViewAugment,
    rng: &mut SplitMix64,
) -> Result<ShapeBatch> {
    let Some(first) = examples.first().and_then(|&i| set.examples.get(i)) else {
        return Err(Error::Config("an empty batch".into()));
    };
    let size = first.views.first().map_or(0, |v| v.size);
    let (b, v, c, r) = (examples.len(), ring.len(), kind.channels(), set.resolution);
    let mut views = Vec::with_capacity(b * v * c * size * size);
    let mut target = Vec::with_capacity(b * r * r * r);
    let mut carved = Vec::with_capacity(b * r * r * r);
    let mut lifted = true;
    for &i in examples {
        let e = set.examples.get(i).ok_or_else(|| Error::Config(format!("no shape {i}")))?;
        for &k in ring {
            let view = e.views.get(k).ok_or_else(|| Error::Config(format!("no view {k}")))?;
            views.extend(encode_view(view, kind, augment, rng));
        }
        target.extend(e.occupancy.iter().map(|&o| f32::from(o)));
        lifted &= !e.lifted.is_empty();
        if lifted {
            // Unknown only where every view leaves the voxel unknown.
            carved.extend((0..r * r * r).map(|v| {
                f32::from(u8::from(
                    ring.iter().all(|&k| e.lifted.get(k).is_some_and(|l| l[v] != 0)),
                ))
            }));
        }
    }
    let turns = ring.iter().map(|&k| set.turns[k]).collect();
    Ok(ShapeBatch {
        views: Tensor::from_vec(views, (b, v, c, size, size), &Device::Cpu)?,
        turns,
        carved: if lifted {
            Some(Tensor::from_vec(carved, (b, 1, r, r, r), &Device::Cpu)?)
        } else {
            None
        },
        target: Tensor::from_vec(target, (b, 1, r, r, r), &Device::Cpu)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test
    use super::*;

    fn disc(size: usize) -> ViewMap {
        let c = (size as f32 - 1.0) / 2.0;
        let r = size as f32 / 3.0;
        let mut v = ViewMap {
            size,
            mask: vec![false; size * size],
            depth: vec![0.0; size * size],
            normal: vec![[0.0; 3]; size * size],
        };
        for i in 0..size * size {
            let (y, x) = ((i / size) as f32 - c, (i % size) as f32 - c);
            if x * x + y * y < r * r {
                let z = (r * r - x * x - y * y).sqrt();
                v.mask[i] = true;
                v.depth[i] = z / r;
                v.normal[i] = [x / r, -y / r, z / r];
            }
        }
        v
    }

    #[test]
    fn headlight_shading_is_lambert_and_background_black() {
        let v = disc(16);
        let mut rng = SplitMix64::new(1);
        let img = encode_view(&v, InputKind::Shaded, &ViewAugment::none(), &mut rng);
        for ((&pixel, &inside), normal) in img.iter().zip(&v.mask).zip(&v.normal) {
            if inside {
                let want = ALBEDO * (AMBIENT + (1.0 - AMBIENT) * normal[2]);
                assert!((pixel - want.max(0.02)).abs() < 1e-6);
            } else {
                assert_eq!(pixel, 0.0);
            }
        }
        let depth = encode_view(&v, InputKind::Depth, &ViewAugment::none(), &mut rng);
        assert_eq!(depth.len(), 512);
        assert_eq!(&depth[256..], &v.depth[..]);
        // Augmented: still black outside, bright inside, and different from the headlight.
        let aug = ViewAugment { outline_dropout: 0.5, ..ViewAugment::default() };
        let img2 = encode_view(&v, InputKind::Shaded, &aug, &mut rng);
        assert!((0..256).all(|i| v.mask[i] || img2[i] == 0.0));
        assert!(img2.iter().zip(&img).any(|(a, b)| (a - b).abs() > 0.05));
        let dropped = (0..256).filter(|&i| v.mask[i] && img2[i] == 0.0).count();
        assert!(dropped > 0);
    }

    #[test]
    fn a_batch_has_the_network_shapes_and_bad_sets_are_refused() {
        let mut lifted = vec![vec![1u8; 64], vec![1u8; 64]];
        lifted[1][5] = 0;
        let example =
            ShapeExample { views: vec![disc(8), disc(8)], lifted, occupancy: vec![1; 64] };
        let set = ShapeSet { examples: vec![example.clone(); 3], turns: vec![0, 1], resolution: 4 };
        set.validate(8).unwrap();
        assert!(set.validate(16).is_err());
        let mut rng = SplitMix64::new(2);
        let b =
            make_batch(&set, &[0, 2], &[1, 0], InputKind::Depth, &ViewAugment::none(), &mut rng)
                .unwrap();
        assert_eq!(b.views.dims(), &[2, 2, 2, 8, 8]);
        assert_eq!(b.turns, vec![1, 0]);
        assert_eq!(b.target.dims(), &[2, 1, 4, 4, 4]);
        // A voxel carved by view 1 is carved when view 1 is among the views, else not.
        let carved: Vec<f32> = b.carved.unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!((carved[5], carved[64 + 5], carved[6]), (0.0, 0.0, 1.0));
        let only0 =
            make_batch(&set, &[0], &[0], InputKind::Depth, &ViewAugment::none(), &mut rng).unwrap();
        let carved0: Vec<f32> = only0.carved.unwrap().flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(carved0[5], 1.0);
        assert!(
            make_batch(&set, &[5], &[0], InputKind::Depth, &ViewAugment::none(), &mut rng).is_err()
        );
        let short = ShapeSet { examples: vec![example], turns: vec![0], resolution: 4 };
        let mut no_lift = set.clone();
        no_lift.examples[1].lifted.clear();
        no_lift.validate(8).unwrap();
        let mixed =
            make_batch(&no_lift, &[0, 1], &[0], InputKind::Depth, &ViewAugment::none(), &mut rng)
                .unwrap();
        assert!(mixed.carved.is_none());
        assert!(short.validate(8).is_err());
    }
}
