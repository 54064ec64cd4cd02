//! NeuS volume rendering of an SDF grid along one ray (Wang et al. 2021), with its backward pass.
//!
//! Along the ray, the SDF `f` at points `t_0 < ... < t_K` gives the unbiased opacities
//! `alpha_i = max(0, (Phi(f_i) - Phi(f_{i+1})) / Phi(f_i))`, `Phi(x) = sigmoid(s x)`, so the
//! weights `w_i = T_i alpha_i` (`T_i` the transmittance) peak where the ray first crosses the
//! zero level. The ray's opacity is `O = 1 - T_K` and its normal `N = sum w_i n_i`, `n_i` the
//! SDF's unit gradient over section `i`. The sections are placed in a window around the first
//! crossing (or, with none, around the ray's smallest SDF value), found by marching at half a
//! voxel: the weights elsewhere are zero to working precision once `s h >> 1`.
//!
//! With a target depth `t*` (when depth maps are fitted), the ray's depth error is
//! `E = sum w_i (tau_i - t*)`, `tau_i` the middle of section `i`: zero when the weight sits at
//! `t*`, and pulling the crossing towards `t*` from anywhere in the window.

use crate::grid::{SdfGrid, Stencil};

/// A ray: origin and unit direction, mm.
#[derive(Clone, Copy, Debug)]
pub struct Ray {
    /// Origin.
    pub origin: [f64; 3],
    /// Unit direction.
    pub dir: [f64; 3],
}

impl Ray {
    fn at(&self, t: f64) -> [f64; 3] {
        std::array::from_fn(|k| self.origin[k] + t * self.dir[k])
    }

    /// The ray's parameter interval inside the box `[lo, hi]`, if it meets it.
    pub fn clip(&self, lo: [f64; 3], hi: [f64; 3]) -> Option<(f64, f64)> {
        let (mut t0, mut t1) = (f64::NEG_INFINITY, f64::INFINITY);
        for k in 0..3 {
            if self.dir[k].abs() < 1e-12 {
                if self.origin[k] < lo[k] || self.origin[k] > hi[k] {
                    return None;
                }
                continue;
            }
            let (a, b) =
                ((lo[k] - self.origin[k]) / self.dir[k], (hi[k] - self.origin[k]) / self.dir[k]);
            t0 = t0.max(a.min(b));
            t1 = t1.min(a.max(b));
        }
        (t1 > t0).then_some((t0, t1))
    }
}

/// Where the rendering window of a ray lies.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// First sample's parameter.
    pub start: f64,
    /// Spacing of the samples.
    pub step: f64,
    /// Whether the march found a zero crossing.
    pub hit: bool,
}

/// Sections per window.
pub const SECTIONS: usize = 24;

/// Finds the rendering window: `SECTIONS` sections over 6 voxels around the first crossing
/// from outside to inside, or around the smallest value when the ray stays outside.
pub fn find_window(grid: &SdfGrid, ray: &Ray, t0: f64, t1: f64) -> Window {
    let dt = grid.h / 2.0;
    let mut t = t0;
    let mut prev = grid.value(ray.at(t));
    let (mut t_min, mut f_min) = (t, prev);
    let mut hit = None;
    if prev <= 0.0 {
        hit = Some(t0); // starts inside (the ray enters through the grid's face)
    }
    while hit.is_none() && t < t1 {
        let next_t = (t + dt).min(t1);
        let f = grid.value(ray.at(next_t));
        if f < f_min {
            (t_min, f_min) = (next_t, f);
        }
        if prev > 0.0 && f <= 0.0 {
            hit = Some(t + (next_t - t) * prev / (prev - f).max(1e-30));
        }
        (t, prev) = (next_t, f);
    }
    let centre = hit.unwrap_or(t_min);
    let half = 3.0 * grid.h;
    let start = (centre - half).max(t0);
    let end = (centre + half).min(t1);
    Window { start, step: (end - start).max(1e-9) / SECTIONS as f64, hit: hit.is_some() }
}

/// A rendered ray.
#[derive(Clone, Copy, Debug)]
pub struct Rendered {
    /// Opacity in [0, 1].
    pub opacity: f64,
    /// Weighted normal (not unit).
    pub normal: [f64; 3],
}

struct Samples {
    stencil: [Stencil; SECTIONS + 1],
    f: [f64; SECTIONS + 1],
    g: [[f64; 3]; SECTIONS + 1],
}

fn samples(grid: &SdfGrid, ray: &Ray, w: &Window) -> Samples {
    let mut out = Samples {
        stencil: [grid.stencil(ray.origin); SECTIONS + 1],
        f: [0.0; SECTIONS + 1],
        g: [[0.0; 3]; SECTIONS + 1],
    };
    for i in 0..=SECTIONS {
        let s = grid.stencil(ray.at(w.start + w.step * i as f64));
        for c in 0..8 {
            let v = f64::from(grid.values[s.index[c] as usize]);
            out.f[i] += s.value[c] * v;
            for k in 0..3 {
                out.g[i][k] += s.gradient[k][c] * v;
            }
        }
        out.stencil[i] = s;
    }
    out
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Largest opacity of one section (keeps `1 - alpha` away from 0 in the backward pass).
const ALPHA_MAX: f64 = 1.0 - 1e-6;

struct Forward {
    c: [f64; SECTIONS + 1],
    alpha: [f64; SECTIONS],
    active: [bool; SECTIONS],
    trans: [f64; SECTIONS + 1],
    m: [[f64; 3]; SECTIONS],
    n: [[f64; 3]; SECTIONS],
    rendered: Rendered,
}

fn forward(sm: &Samples, sharpness: f64) -> Forward {
    let mut fw = Forward {
        c: [0.0; SECTIONS + 1],
        alpha: [0.0; SECTIONS],
        active: [false; SECTIONS],
        trans: [1.0; SECTIONS + 1],
        m: [[0.0; 3]; SECTIONS],
        n: [[0.0; 3]; SECTIONS],
        rendered: Rendered { opacity: 0.0, normal: [0.0; 3] },
    };
    for i in 0..=SECTIONS {
        // Bounded below so the ratios stay finite far outside.
        fw.c[i] = sigmoid(sharpness * sm.f[i]).max(1e-12);
    }
    for i in 0..SECTIONS {
        let raw = 1.0 - fw.c[i + 1] / fw.c[i];
        fw.active[i] = raw > 0.0 && raw < ALPHA_MAX;
        fw.alpha[i] = raw.clamp(0.0, ALPHA_MAX);
        fw.trans[i + 1] = fw.trans[i] * (1.0 - fw.alpha[i]);
        let m: [f64; 3] = std::array::from_fn(|k| sm.g[i][k] + sm.g[i + 1][k]);
        let len = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt().max(1e-12);
        fw.m[i] = m;
        fw.n[i] = m.map(|x| x / len);
        let w = fw.trans[i] * fw.alpha[i];
        for k in 0..3 {
            fw.rendered.normal[k] += w * fw.n[i][k];
        }
    }
    fw.rendered.opacity = 1.0 - fw.trans[SECTIONS];
    fw
}

/// Renders one ray through its window.
pub fn render(grid: &SdfGrid, ray: &Ray, window: &Window, sharpness: f64) -> Rendered {
    forward(&samples(grid, ray, window), sharpness).rendered
}

/// The middle of section `i` of `window`.
fn section_middle(window: &Window, i: usize) -> f64 {
    window.start + window.step * (i as f64 + 0.5)
}

/// The ray's depth error `E = sum w_i (tau_i - target)` (mm, weighted by opacity).
pub fn depth_error(grid: &SdfGrid, ray: &Ray, window: &Window, sharpness: f64, target: f64) -> f64 {
    let fw = forward(&samples(grid, ray, window), sharpness);
    (0..SECTIONS).map(|i| fw.trans[i] * fw.alpha[i] * (section_middle(window, i) - target)).sum()
}

/// What a ray's loss says about its rendering: `dL/dO`, `dL/dN` and, for a fitted depth,
/// `(dL/dE, target depth)`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Upstream {
    /// dL/d(opacity).
    pub opacity: f64,
    /// dL/d(normal).
    pub normal: [f64; 3],
    /// dL/d(depth error) and the target depth.
    pub depth: Option<(f64, f64)>,
}

/// Scatters `upstream` (the loss's derivatives with respect to the ray's opacity, normal and
/// depth error) back to the grid values, as `(flat index, dL/dvalue)` pairs appended to `out`.
pub fn backward(
    grid: &SdfGrid,
    ray: &Ray,
    window: &Window,
    sharpness: f64,
    upstream: &Upstream,
    out: &mut Vec<(u32, f32)>,
) {
    let (d_opacity, d_normal) = (upstream.opacity, upstream.normal);
    let sm = samples(grid, ray, window);
    let fw = forward(&sm, sharpness);
    let t_end = fw.trans[SECTIONS];
    // Suffix sums of w_i n_i and of w_i (tau_i - t*).
    let (d_depth, target) = upstream.depth.unwrap_or((0.0, 0.0));
    let mut suffix = [[0.0; 3]; SECTIONS + 1];
    let mut suffix_depth = [0.0; SECTIONS + 1];
    for i in (0..SECTIONS).rev() {
        let w = fw.trans[i] * fw.alpha[i];
        suffix[i] = std::array::from_fn(|k| suffix[i + 1][k] + w * fw.n[i][k]);
        suffix_depth[i] = suffix_depth[i + 1] + w * (section_middle(window, i) - target);
    }
    let mut gc = [0.0; SECTIONS + 1];
    let mut gg = [[0.0; 3]; SECTIONS + 1];
    for j in 0..SECTIONS {
        let one_minus = 1.0 - fw.alpha[j];
        // dO/dalpha_j and dN/dalpha_j.
        let d_o = t_end / one_minus;
        let d_n: [f64; 3] =
            std::array::from_fn(|k| fw.trans[j] * fw.n[j][k] - suffix[j + 1][k] / one_minus);
        let d_e =
            fw.trans[j] * (section_middle(window, j) - target) - suffix_depth[j + 1] / one_minus;
        let g_alpha =
            d_opacity * d_o + (0..3).map(|k| d_normal[k] * d_n[k]).sum::<f64>() + d_depth * d_e;
        if fw.active[j] {
            gc[j] += g_alpha * fw.c[j + 1] / (fw.c[j] * fw.c[j]);
            gc[j + 1] -= g_alpha / fw.c[j];
        }
        // n_j = m_j / |m_j|, m_j = g_j + g_{j+1}.
        let w = fw.trans[j] * fw.alpha[j];
        let len = (0..3).map(|k| fw.m[j][k] * fw.m[j][k]).sum::<f64>().sqrt().max(1e-12);
        let dn: [f64; 3] = d_normal.map(|x| x * w);
        let along = (0..3).map(|k| dn[k] * fw.n[j][k]).sum::<f64>();
        for k in 0..3 {
            let dm = (dn[k] - along * fw.n[j][k]) / len;
            gg[j][k] += dm;
            gg[j + 1][k] += dm;
        }
    }
    for i in 0..=SECTIONS {
        let c = fw.c[i];
        let gf = if c > 1e-12 { gc[i] * sharpness * c * (1.0 - c) } else { 0.0 };
        let s = &sm.stencil[i];
        for corner in 0..8 {
            let v = gf * s.value[corner]
                + (0..3).map(|k| gg[i][k] * s.gradient[k][corner]).sum::<f64>();
            if v != 0.0 {
                out.push((s.index[corner], v as f32));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sphere_grid(n: usize) -> SdfGrid {
        SdfGrid::from_fn([0.0; 3], 6.0, n, |p| {
            (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() - 4.0 + 0.3 * p[0].sin() * p[1].cos()
        })
        .expect("grid")
    }

    #[test]
    fn a_ray_through_a_sphere_is_opaque_with_the_surface_normal() {
        let grid = SdfGrid::from_fn([0.0; 3], 6.0, 48, |p| {
            (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() - 4.0
        })
        .expect("grid");
        let ray = Ray { origin: [1.0, -10.0, 0.5], dir: [0.0, 1.0, 0.0] };
        let (lo, hi) = grid.bounds();
        let (t0, t1) = ray.clip(lo, hi).expect("meets the grid");
        let w = find_window(&grid, &ray, t0, t1);
        assert!(w.hit);
        let r = render(&grid, &ray, &w, 4.0 / grid.h);
        assert!(r.opacity > 0.99, "{r:?}");
        // The surface point is (1, -sqrt(16 - 1.25), 0.5): normal p / 4.
        let y = -(16.0f64 - 1.25).sqrt();
        let expect = [0.25, y / 4.0, 0.125];
        let len = r.normal.iter().map(|x| x * x).sum::<f64>().sqrt();
        let cos = (0..3).map(|k| r.normal[k] * expect[k]).sum::<f64>() / len;
        assert!(cos > 0.995, "{r:?}");
        let miss = Ray { origin: [5.0, -10.0, 0.0], dir: [0.0, 1.0, 0.0] };
        let (t0, t1) = miss.clip(lo, hi).expect("meets the grid");
        let w = find_window(&grid, &miss, t0, t1);
        assert!(!w.hit && render(&grid, &miss, &w, 4.0 / grid.h).opacity < 1e-3);
    }

    #[test]
    fn the_backward_pass_matches_finite_differences() {
        // Loss L = a O + b . N + c E on one ray; dL/dv for the touched values against central
        // differences (f64 evaluation of f32 values: step 1e-3, tolerance 1e-3 relative to the
        // largest derivative).
        let mut grid = sphere_grid(20);
        let ray = Ray { origin: [0.7, -10.0, 0.9], dir: [0.05, 0.99, 0.1] };
        let len = ray.dir.iter().map(|x| x * x).sum::<f64>().sqrt();
        let ray = Ray { dir: ray.dir.map(|x| x / len), ..ray };
        let (lo, hi) = grid.bounds();
        let (t0, t1) = ray.clip(lo, hi).expect("meets");
        let w = find_window(&grid, &ray, t0, t1);
        let s = 1.5 / grid.h;
        let (a, b, c, target) = (0.7, [0.3, -0.5, 0.8], 0.4, 2.0);
        let loss = |g: &SdfGrid| {
            let r = render(g, &ray, &w, s);
            a * r.opacity
                + (0..3).map(|k| b[k] * r.normal[k]).sum::<f64>()
                + c * depth_error(g, &ray, &w, s, target)
        };
        let mut pairs = Vec::new();
        let upstream = Upstream { opacity: a, normal: b, depth: Some((c, target)) };
        backward(&grid, &ray, &w, s, &upstream, &mut pairs);
        let mut analytic = std::collections::BTreeMap::new();
        for (i, v) in pairs {
            *analytic.entry(i).or_insert(0.0) += f64::from(v);
        }
        let largest = analytic.values().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(largest > 1e-3, "the ray touches the surface");
        let eps = 1e-3f32;
        for (&i, &d) in &analytic {
            let keep = grid.values[i as usize];
            grid.values[i as usize] = keep + eps;
            let up = loss(&grid);
            grid.values[i as usize] = keep - eps;
            let down = loss(&grid);
            grid.values[i as usize] = keep;
            let numeric = (up - down) / (2.0 * f64::from(eps));
            assert!((numeric - d).abs() < 2e-3 * largest, "value {i}: {d} vs {numeric}");
        }
    }
}
