//! Fitting an SDF grid to multi-view silhouettes and normal maps by NeuS volume rendering.
//!
//! Started from the visual hull (whose field, negated, is a conservative SDF), the grid is
//! optimised coarse to fine (a quarter, a half, then the full resolution) with Adam on:
//! - mask: binary cross-entropy of each ray's rendered opacity against its silhouette pixel;
//! - normal: `1 - cos` between the rendered normal and the normal map, with Wonder3D's ranking
//!   loss: the worst `ranking` fraction of each batch's normal errors is ignored, so wrong
//!   normals (a generator's mistakes, or corrupted pixels) do not pull the surface (from
//!   the finest level on without depth maps, from the start with them);
//! - depth (when the views carry depth maps, as renders do and generated views do not): a
//!   Huber loss (1 voxel) on each ray's opacity-normalised depth error (see [`neus`]);
//! - eikonal: `(|grad f| - 1)^2` at every voxel (the grid stays a distance field);
//! - smoothness: the squared Laplacian (times the voxel side) at every voxel.
//!
//! After each step the field is clamped to the hull's (the object lies inside its visual
//! hull), unless [`FitOptions::within_hull`] is off.

use hounsfield_core::rng::SplitMix64;
use hounsfield_core::{Camera, Error, Result};
use rayon::prelude::*;

use crate::grid::SdfGrid;
use crate::hull::{HullGrid, MaskedView, visual_hull};
use crate::neus::{self, Ray, Upstream, Window};
use crate::silhouette::Silhouette;

/// A view to fit: its camera, silhouette and (optionally) world-frame normal map.
#[derive(Clone, Debug)]
pub struct TargetView {
    /// The camera.
    pub camera: Camera,
    /// Which pixels see the object.
    pub silhouette: Silhouette,
    /// Unit normal per pixel (world frame, rows from the top); used inside the silhouette.
    pub normals: Option<Vec<[f32; 3]>>,
    /// Depth per pixel (mm along the camera's viewing direction); used inside the silhouette
    /// where finite.
    pub depths: Option<Vec<f32>>,
}

/// Settings of [`fit_sdf`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitOptions {
    /// Voxels per side at the finest level.
    pub resolution: usize,
    /// Optimisation steps over all levels.
    pub steps: usize,
    /// Rays per step.
    pub batch: usize,
    /// Adam step size in voxels of the current level.
    pub learning_rate: f64,
    /// Weight of the mask loss.
    pub mask_weight: f64,
    /// Weight of the normal loss.
    pub normal_weight: f64,
    /// Weight of the depth loss (views with depth maps only).
    pub depth_weight: f64,
    /// Weight of the eikonal loss.
    pub eikonal_weight: f64,
    /// Weight of the smoothness loss.
    pub smooth_weight: f64,
    /// Fraction of each batch's normal errors ignored (the largest); 0 turns the ranking off.
    pub ranking: f64,
    /// NeuS sharpness times the voxel side (the logistic's inverse scale in voxels).
    pub sharpness: f64,
    /// Keep the surface within the visual hull (the object's SDF is never below the hull's).
    pub within_hull: bool,
    /// Seed of the ray sampling.
    pub seed: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            resolution: 128,
            steps: 2000,
            batch: 4096,
            learning_rate: 0.15,
            mask_weight: 1.0,
            normal_weight: 5.0,
            depth_weight: 1.0,
            eikonal_weight: 0.1,
            smooth_weight: 0.05,
            ranking: 0.2,
            sharpness: 4.0,
            within_hull: true,
            seed: 1,
        }
    }
}

/// Where the fit is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FitProgress {
    /// Steps done.
    pub step: usize,
    /// Steps in all.
    pub total: usize,
    /// Voxels per side of the current level.
    pub resolution: usize,
    /// Mean mask loss of the last step.
    pub mask_loss: f64,
    /// Mean normal loss (`1 - cos`) of the last step's kept rays.
    pub normal_loss: f64,
    /// Mean absolute depth error (mm) of the last step's rays with a target depth.
    pub depth_error: f64,
}

/// Pixels a step draws rays through, per view.
struct RayPool {
    inside: Vec<u32>,
    near_inside: Vec<u32>,
    near_outside: Vec<u32>,
    outside: Vec<u32>,
}

struct RayTask {
    ray: Ray,
    inside: bool,
    normal: Option<[f64; 3]>,
    /// Target depth along the ray (its parameter t).
    depth: Option<f64>,
}

struct RayOutcome {
    window: Window,
    upstream: Upstream,
    mask_loss: f64,
    normal_error: Option<f64>,
    depth_error: Option<f64>,
}

/// Fits an SDF (mm, positive outside) on the cube `grid` to `views`, starting from their
/// visual hull. `progress` is called every few steps.
pub fn fit_sdf(
    views: &[TargetView],
    grid: &HullGrid,
    options: &FitOptions,
    mut progress: impl FnMut(&FitProgress),
) -> Result<SdfGrid> {
    check(options)?;
    let masked: Vec<MaskedView> = views
        .iter()
        .map(|v| MaskedView { camera: v.camera, silhouette: v.silhouette.clone() })
        .collect();
    for (i, v) in views.iter().enumerate() {
        let pixels = v.silhouette.width() * v.silhouette.height();
        if let Some(n) = &v.normals
            && n.len() != pixels
        {
            return Err(Error::param(
                "normals",
                format!("view {i}: {} normals for {pixels} pixels", n.len()),
            ));
        }
        if let Some(d) = &v.depths
            && d.len() != pixels
        {
            return Err(Error::param(
                "depths",
                format!("view {i}: {} depths for {pixels} pixels", d.len()),
            ));
        }
    }
    let levels: Vec<usize> = {
        let r = options.resolution;
        let mut l = vec![(r / 4).max(16), (r / 2).max(16), r];
        l.dedup();
        l
    };
    let first = HullGrid { resolution: levels[0], ..*grid };
    let hull = visual_hull(&masked, &first)?;
    let mut sdf = SdfGrid::from_fn(grid.centre, grid.half_extent, levels[0], |_| 0.0)?;
    for (dst, src) in sdf.values.iter_mut().zip(hull.as_slice()) {
        *dst = -*src;
    }
    let pools: Vec<RayPool> = views
        .iter()
        .map(|v| {
            let d = v.silhouette.signed_distance()?;
            let inside = (0..d.len() as u32).filter(|&k| d[k as usize] > 0.0).collect();
            let near_inside = (0..d.len() as u32)
                .filter(|&k| d[k as usize] > 0.0 && d[k as usize] < 8.0)
                .collect();
            let near_outside = (0..d.len() as u32)
                .filter(|&k| d[k as usize] < 0.0 && d[k as usize] > -8.0)
                .collect();
            let outside = (0..d.len() as u32).filter(|&k| d[k as usize] < 0.0).collect();
            Ok(RayPool { inside, near_inside, near_outside, outside })
        })
        .collect::<Result<_>>()?;

    let with_depth = views.iter().any(|v| v.depths.is_some());
    let mut rng = SplitMix64::new(options.seed);
    let mut done = 0usize;
    for (li, &n) in levels.iter().enumerate() {
        if li > 0 {
            sdf = sdf.resampled(n)?;
        }
        let level_steps = match (levels.len(), li) {
            (1, _) => options.steps,
            (_, l) if l + 1 == levels.len() => options.steps - done,
            _ => options.steps / 4,
        };
        // The visual hull contains the object, so the object's SDF is at least the hull's at
        // every point: the fit may carve the hull, never grow beyond it (a quarter voxel of
        // slack for the silhouettes' pixel rounding).
        let bound: Option<Vec<f32>> = if options.within_hull {
            let level = HullGrid { resolution: n, ..*grid };
            let hull = visual_hull(&masked, &level)?;
            let slack = (0.25 * sdf.h) as f32;
            Some(hull.as_slice().iter().map(|v| -v - slack).collect())
        } else {
            None
        };
        let mut adam = Adam::new(sdf.values.len());
        for s in 0..level_steps {
            // Cosine decay to a tenth over the level.
            let phase = s as f64 / level_steps.max(1) as f64;
            let lr = options.learning_rate
                * sdf.h
                * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * phase).cos()));
            // Early on, the largest normal errors are the concavities still to carve, not
            // wrong normals. Without depth maps those normals are the only thing that carves
            // them, so the ranking loss waits for the finest level; with depth maps, depth
            // carves them and their normals (of a surface not yet there) only leave debris,
            // so the ranking applies from the start.
            let ranking = if li + 1 == levels.len() || with_depth { options.ranking } else { 0.0 };
            let step_options = FitOptions { ranking, ..*options };
            let (losses, grad) = step_gradient(&sdf, views, &pools, &step_options, &mut rng);
            adam.step(&mut sdf.values, &grad, lr);
            if let Some(bound) = &bound {
                sdf.values.par_iter_mut().zip(bound.par_iter()).for_each(|(v, b)| *v = v.max(*b));
            }
            done += 1;
            if done.is_multiple_of(10) || done == options.steps {
                progress(&FitProgress {
                    step: done,
                    total: options.steps,
                    resolution: n,
                    mask_loss: losses[0],
                    normal_loss: losses[1],
                    depth_error: losses[2],
                });
            }
        }
    }
    Ok(sdf)
}

fn check(o: &FitOptions) -> Result<()> {
    if !(16..=384).contains(&o.resolution) {
        return Err(Error::param("resolution", format!("{} (16 to 384)", o.resolution)));
    }
    if !(1..=200_000).contains(&o.steps) {
        return Err(Error::param("steps", format!("{} (1 to 200,000)", o.steps)));
    }
    if !(16..=1 << 20).contains(&o.batch) {
        return Err(Error::param("batch", format!("{} rays (16 to 1,048,576)", o.batch)));
    }
    for (name, v) in [
        ("depth_weight", o.depth_weight),
        ("mask_weight", o.mask_weight),
        ("normal_weight", o.normal_weight),
        ("eikonal_weight", o.eikonal_weight),
        ("smooth_weight", o.smooth_weight),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(Error::param(name, format!("{v} (a finite weight >= 0)")));
        }
    }
    for (name, v) in [("learning_rate", o.learning_rate), ("sharpness", o.sharpness)] {
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::param(name, format!("{v} (finite and above 0)")));
        }
    }
    if !(0.0..0.9).contains(&o.ranking) {
        return Err(Error::param("ranking", format!("{} (0 to below 0.9)", o.ranking)));
    }
    Ok(())
}

/// One step's losses (mask, normal, mean absolute depth error) and the gradient of the total
/// loss with respect to the grid values.
fn step_gradient(
    sdf: &SdfGrid,
    views: &[TargetView],
    pools: &[RayPool],
    o: &FitOptions,
    rng: &mut SplitMix64,
) -> ([f64; 3], Vec<f32>) {
    let (lo, hi) = sdf.bounds();
    let sharpness = o.sharpness / sdf.h;
    let mut tasks = Vec::with_capacity(o.batch);
    while tasks.len() < o.batch {
        let v = (rng.next_u64() % views.len() as u64) as usize;
        let pool = &pools[v];
        let u = rng.next_f64();
        // The bands on both sides of each silhouette edge get a tenth of the rays each: they
        // hold the faces that only silhouettes constrain (seen edge-on), and sampling one
        // side more than the other would push those faces in or out.
        let inside = u < 0.8;
        let list = match u {
            u if u < 0.7 => &pool.inside,
            u if u < 0.8 => &pool.near_inside,
            u if u < 0.9 => &pool.near_outside,
            _ => &pool.outside,
        };
        if list.is_empty() {
            continue;
        }
        let k = list[(rng.next_u64() % list.len() as u64) as usize] as usize;
        let view = &views[v];
        let w = view.silhouette.width();
        let (origin, dir) = view.camera.ray((k % w) as f64 + 0.5, (k / w) as f64 + 0.5);
        let normal = if inside { view.normals.as_ref().map(|n| n[k].map(f64::from)) } else { None };
        // Camera depth to the ray's parameter (pinhole rays leave at an angle to the axis).
        let along = (0..3).map(|c| dir[c] * view.camera.forward()[c]).sum::<f64>();
        let depth = view
            .depths
            .as_ref()
            .map(|d| f64::from(d[k]) / along)
            .filter(|t| inside && t.is_finite() && along > 1e-6);
        tasks.push(RayTask { ray: Ray { origin, dir }, inside, normal, depth });
    }
    let mut outcomes: Vec<Option<RayOutcome>> = tasks
        .par_iter()
        .map(|task| {
            let (t0, t1) = task.ray.clip(lo, hi)?;
            let window = neus::find_window(sdf, &task.ray, t0, t1);
            let r = neus::render(sdf, &task.ray, &window, sharpness);
            let y = if task.inside { 1.0 } else { 0.0 };
            let op = r.opacity.clamp(1e-4, 1.0 - 1e-4);
            let mask_loss = -(y * op.ln() + (1.0 - y) * (1.0 - op).ln());
            let d_opacity =
                if r.opacity == op { o.mask_weight * (op - y) / (op * (1.0 - op)) } else { 0.0 };
            let mut d_normal = [0.0; 3];
            let mut normal_error = None;
            let (mut depth, mut depth_error) = (None, None);
            let mut d_opacity = d_opacity;
            if let Some(target) = task.depth
                && r.opacity > 0.1
            {
                // The opacity-normalised depth error E / O (so a ray cannot lower it by
                // turning transparent), under a Huber loss at one voxel: quadratic near the
                // target, a constant pull beyond.
                let e = neus::depth_error(sdf, &task.ray, &window, sharpness, target);
                let err = e / r.opacity;
                let g = o.depth_weight * (err / sdf.h).clamp(-1.0, 1.0) / sdf.h;
                depth = Some((g / r.opacity, target));
                d_opacity -= g * err / r.opacity;
                depth_error = Some(err.abs());
            }
            if let Some(t) = task.normal {
                let len = r.normal.iter().map(|x| x * x).sum::<f64>().sqrt();
                if len > 1e-6 {
                    let cos = (0..3).map(|k| r.normal[k] * t[k]).sum::<f64>() / len;
                    normal_error = Some(1.0 - cos);
                    // d(1 - N.t/|N|)/dN
                    d_normal = std::array::from_fn(|k| {
                        -o.normal_weight * (t[k] - cos * r.normal[k] / len) / len
                    });
                }
            }
            let upstream = Upstream { opacity: d_opacity, normal: d_normal, depth };
            Some(RayOutcome { window, upstream, mask_loss, normal_error, depth_error })
        })
        .collect();
    // Ranking loss: ignore the worst normal errors of the batch.
    let mut errors: Vec<f64> = outcomes.iter().flatten().filter_map(|x| x.normal_error).collect();
    let mut normal_loss = 0.0;
    if !errors.is_empty() {
        errors.sort_by(f64::total_cmp);
        let keep = ((1.0 - o.ranking) * errors.len() as f64).ceil().max(1.0) as usize;
        let cut = errors[keep.min(errors.len()) - 1];
        normal_loss = errors[..keep].iter().sum::<f64>() / keep as f64;
        for x in outcomes.iter_mut().flatten() {
            if x.normal_error.is_some_and(|e| e > cut) {
                x.upstream.normal = [0.0; 3];
            }
        }
    }
    let rays = outcomes.iter().flatten().count().max(1) as f64;
    let mask_loss = outcomes.iter().flatten().map(|x| x.mask_loss).sum::<f64>() / rays;
    let depths: Vec<f64> = outcomes.iter().flatten().filter_map(|x| x.depth_error).collect();
    let depth_error = depths.iter().sum::<f64>() / depths.len().max(1) as f64;
    let pairs: Vec<Vec<(u32, f32)>> = tasks
        .par_iter()
        .zip(outcomes.par_iter())
        .map(|(task, outcome)| {
            let mut out = Vec::new();
            if let Some(x) = outcome {
                let upstream = Upstream {
                    opacity: x.upstream.opacity / rays,
                    normal: x.upstream.normal.map(|v| v / rays),
                    depth: x.upstream.depth.map(|(d, t)| (d / rays, t)),
                };
                neus::backward(sdf, &task.ray, &x.window, sharpness, &upstream, &mut out);
            }
            out
        })
        .collect();
    let mut grad = vec![0f32; sdf.values.len()];
    for (i, v) in pairs.into_iter().flatten() {
        grad[i as usize] += v;
    }
    regularise(sdf, o, &mut grad);
    ([mask_loss, normal_loss, depth_error], grad)
}

/// Eikonal and smoothness terms at every interior voxel (each the mean over the voxels), added
/// to `grad`: computed per voxel, then gathered from the neighbours that use each value.
fn regularise(sdf: &SdfGrid, o: &FitOptions, grad: &mut [f32]) {
    let n = sdf.n;
    let h = sdf.h;
    let count = ((n - 2) * (n - 2) * (n - 2)) as f64;
    let values = &sdf.values;
    let strides = [1, n, n * n];
    let interior = |i: usize| {
        let (x, y, z) = (i % n, (i / n) % n, i / (n * n));
        x > 0 && y > 0 && z > 0 && x < n - 1 && y < n - 1 && z < n - 1
    };
    // Per voxel: the eikonal term's derivative with respect to each central difference, and
    // the smoothness term's with respect to the Laplacian.
    let terms: Vec<[f32; 4]> = (0..values.len())
        .into_par_iter()
        .map(|i| {
            if !interior(i) {
                return [0.0; 4];
            }
            let v = |j: usize| f64::from(values[j]);
            let g: [f64; 3] =
                std::array::from_fn(|k| (v(i + strides[k]) - v(i - strides[k])) / (2.0 * h));
            let len = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt().max(1e-9);
            let e = o.eikonal_weight * 2.0 * (len - 1.0) / count;
            let lap =
                (0..3).map(|k| v(i + strides[k]) + v(i - strides[k])).sum::<f64>() - 6.0 * v(i);
            let l = o.smooth_weight * 2.0 * (lap / h) / h / count;
            [
                (e * g[0] / len / (2.0 * h)) as f32,
                (e * g[1] / len / (2.0 * h)) as f32,
                (e * g[2] / len / (2.0 * h)) as f32,
                l as f32,
            ]
        })
        .collect();
    grad.par_iter_mut().enumerate().for_each(|(j, gj)| {
        let mut sum = -6.0 * terms[j][3];
        for (k, &s) in strides.iter().enumerate() {
            if j >= s {
                sum += terms[j - s][k] + terms[j - s][3];
            }
            if j + s < terms.len() {
                sum += -terms[j + s][k] + terms[j + s][3];
            }
        }
        *gj += sum;
    });
}

/// Adam (Kingma & Ba 2015) over the grid values.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    t: i32,
}

impl Adam {
    fn new(len: usize) -> Self {
        Adam { m: vec![0.0; len], v: vec![0.0; len], t: 0 }
    }

    fn step(&mut self, values: &mut [f32], grad: &[f32], lr: f64) {
        const B1: f32 = 0.9;
        const B2: f32 = 0.999;
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        let lr = lr as f32;
        values
            .par_iter_mut()
            .zip(self.m.par_iter_mut().zip(self.v.par_iter_mut()))
            .zip(grad.par_iter())
            .for_each(|((x, (m, v)), &g)| {
                *m = B1 * *m + (1.0 - B1) * g;
                *v = B2 * *v + (1.0 - B2) * g * g;
                let denom = (*v / c2).sqrt() + 1e-12;
                if *v > 0.0 {
                    *x -= lr * (*m / c1) / denom;
                }
            });
    }
}
