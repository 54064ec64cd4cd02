//! Iterative reconstruction on any [`LinearOperator`]: SIRT, OS-SART, CGLS, MLEM and FISTA with
//! total variation.
//!
//! Every method takes the projections `y`, an optional start image, [`IterOptions`] and a
//! monitor called after each iteration with the data residual `||A x - y||`; the monitor can stop
//! the run (a progress bar, a time limit, early stopping on a validation metric). The methods
//! only see `A` and `A^T`, so they run unchanged on GPU projectors or learned operators.

use hounsfield_core::error::check_shape;
use hounsfield_core::{Error, LinearOperator, Result, estimate_norm};
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use serde::{Deserialize, Serialize};

use crate::projector::Projector;

/// Options shared by the iterative methods.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IterOptions {
    /// Most iterations (100).
    pub iterations: usize,
    /// Clamp the image at zero after each update (true; CGLS ignores it).
    pub nonnegative: bool,
    /// Stop when `||x_k - x_{k-1}|| / ||x_k||` falls below this (0 = run all iterations).
    pub tolerance: f64,
}

impl Default for IterOptions {
    fn default() -> Self {
        IterOptions { iterations: 100, nonnegative: true, tolerance: 0.0 }
    }
}

impl IterOptions {
    /// `iterations` iterations, non-negative, no early stop.
    pub fn iterations(iterations: usize) -> Self {
        IterOptions { iterations, ..Default::default() }
    }
}

/// What a monitor sees after each iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// 1-based iteration number.
    pub iteration: usize,
    /// Of how many at most.
    pub iterations: usize,
    /// `||A x - y||` (for FISTA and the ordered-subset methods: of the iterate before the update).
    pub residual: f64,
    /// `||x_k - x_{k-1}|| / ||x_k||`.
    pub change: f64,
}

/// A monitor's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Go on.
    Continue,
    /// Stop now and return the current image.
    Stop,
}

/// A monitor that never stops a run.
pub fn no_monitor(_: &Progress) -> Control {
    Control::Continue
}

fn norm(a: &ArrayD<f32>) -> f64 {
    a.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>().sqrt()
}

fn check_inputs(
    op: &dyn LinearOperator,
    y: &ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
) -> Result<ArrayD<f32>> {
    check_shape("projections", &op.range_shape(), y.shape())?;
    if let Some((index, &value)) = y.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NotFinite { what: "projections", value: f64::from(value), index });
    }
    match x0 {
        Some(x) => {
            check_shape("start image", &op.domain_shape(), x.shape())?;
            Ok(x.clone())
        }
        None => Ok(ArrayD::zeros(IxDyn(&op.domain_shape()))),
    }
}

/// Runs the bookkeeping after an update: relative change, monitor, tolerance.
struct Tracker<'m> {
    options: IterOptions,
    monitor: &'m mut dyn FnMut(&Progress) -> Control,
}

impl Tracker<'_> {
    /// Whether to stop after iteration `k` (0-based).
    fn done(&mut self, k: usize, residual: f64, x: &ArrayD<f32>, previous: &ArrayD<f32>) -> bool {
        let mut diff = 0.0;
        Zip::from(x).and(previous).for_each(|&a, &b| diff += (f64::from(a) - f64::from(b)).powi(2));
        let size = norm(x);
        let change = if size > 0.0 { diff.sqrt() / size } else { 0.0 };
        let progress =
            Progress { iteration: k + 1, iterations: self.options.iterations, residual, change };
        (self.monitor)(&progress) == Control::Stop
            || (self.options.tolerance > 0.0 && change < self.options.tolerance)
    }
}

/// `1 / v` where `v > eps`, else 0: the SIRT/SART normalisations, safe where rays miss the image
/// or voxels are seen by no ray.
fn safe_reciprocal(a: &mut ArrayD<f32>) {
    let peak = a.iter().fold(0.0f32, |m, &v| m.max(v.abs()));
    let eps = peak * 1e-6;
    a.mapv_inplace(|v| if v > eps { 1.0 / v } else { 0.0 });
}

/// SIRT: `x += λ C A^T R (y - A x)` with `R = 1 / A 1` and `C = 1 / A^T 1`; converges to a
/// weighted least-squares solution, slowly and without overshoot. `relaxation` λ in (0, 2).
pub fn sirt(
    op: &dyn LinearOperator,
    y: ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
    relaxation: f64,
    options: &IterOptions,
    monitor: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ArrayD<f32>> {
    check_relaxation(relaxation)?;
    let mut x = check_inputs(op, &y, x0)?;
    let (r, c) = normalisations(op)?;
    let mut tracker = Tracker { options: *options, monitor };
    for k in 0..options.iterations {
        let previous = x.clone();
        let mut residual = data_residual(op, &x, y.view())?;
        let misfit = norm(&residual);
        residual *= &r;
        let update = op.adjoint(residual.view())?;
        update_image(&mut x, &update, &c, relaxation as f32, options.nonnegative);
        if tracker.done(k, misfit, &x, &previous) {
            break;
        }
    }
    Ok(x)
}

fn check_relaxation(relaxation: f64) -> Result<()> {
    if !(relaxation > 0.0 && relaxation < 2.0) {
        return Err(Error::param("relaxation", format!("must be in (0, 2), found {relaxation}")));
    }
    Ok(())
}

/// `y - A x`.
fn data_residual(
    op: &dyn LinearOperator,
    x: &ArrayD<f32>,
    y: ArrayViewD<'_, f32>,
) -> Result<ArrayD<f32>> {
    let mut r = op.apply(x.view())?;
    Zip::from(&mut r).and(&y).for_each(|a, &b| *a = b - *a);
    Ok(r)
}

/// `(R, C) = (1 / A 1, 1 / A^T 1)`.
fn normalisations(op: &dyn LinearOperator) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
    let mut r = op.apply(ArrayD::<f32>::ones(IxDyn(&op.domain_shape())).view())?;
    let mut c = op.adjoint(ArrayD::<f32>::ones(IxDyn(&op.range_shape())).view())?;
    safe_reciprocal(&mut r);
    safe_reciprocal(&mut c);
    Ok((r, c))
}

fn update_image(
    x: &mut ArrayD<f32>,
    update: &ArrayD<f32>,
    c: &ArrayD<f32>,
    step: f32,
    nonneg: bool,
) {
    Zip::from(x).and(update).and(c).for_each(|x, &u, &c| {
        *x += step * c * u;
        if nonneg && *x < 0.0 {
            *x = 0.0;
        }
    });
}

/// OS-SART: SART updates on `subsets` interleaved subsets of views (views `k, k + S, ...`), one
/// subset after the other; each iteration visits every view once, so it converges about
/// `subsets` times faster per iteration than SIRT.
pub fn os_sart(
    projector: &Projector,
    y: ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
    subsets: usize,
    relaxation: f64,
    options: &IterOptions,
    monitor: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ArrayD<f32>> {
    check_relaxation(relaxation)?;
    let mut x = check_inputs(projector, &y, x0)?;
    let views = projector.geometry().views();
    if subsets == 0 || subsets > views {
        return Err(Error::param("subsets", format!("must be 1..={views}, found {subsets}")));
    }
    let mut parts = Vec::with_capacity(subsets);
    for s in 0..subsets {
        let indices: Vec<usize> = (s..views).step_by(subsets).collect();
        let op = projector.subset(&indices)?;
        let ys = y.select(Axis(0), &indices);
        let (r, c) = normalisations(&op)?;
        parts.push((op, ys, r, c));
    }
    let mut tracker = Tracker { options: *options, monitor };
    for k in 0..options.iterations {
        let previous = x.clone();
        let mut misfit2 = 0.0;
        for (op, ys, r, c) in &parts {
            let mut residual = data_residual(op, &x, ys.view().into_dyn())?;
            misfit2 += norm(&residual).powi(2);
            residual *= r;
            let update = op.adjoint(residual.view())?;
            update_image(&mut x, &update, c, relaxation as f32, options.nonnegative);
        }
        if tracker.done(k, misfit2.sqrt(), &x, &previous) {
            break;
        }
    }
    Ok(x)
}

/// CGLS: conjugate gradients on the normal equations `A^T A x = A^T y`; the fastest of these to
/// a least-squares fit, semi-convergent on noisy data (stop early). Ignores `nonnegative`.
pub fn cgls(
    op: &dyn LinearOperator,
    y: ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
    options: &IterOptions,
    monitor: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ArrayD<f32>> {
    let mut x = check_inputs(op, &y, x0)?;
    let mut r = data_residual(op, &x, y.view())?;
    let mut s = op.adjoint(r.view())?;
    let mut p = s.clone();
    let mut gamma = norm(&s).powi(2);
    let mut tracker = Tracker { options: *options, monitor };
    for k in 0..options.iterations {
        if gamma == 0.0 {
            break;
        }
        let previous = x.clone();
        let q = op.apply(p.view())?;
        let qq = norm(&q).powi(2);
        if qq == 0.0 {
            break;
        }
        let alpha = (gamma / qq) as f32;
        x.scaled_add(alpha, &p);
        r.scaled_add(-alpha, &q);
        s = op.adjoint(r.view())?;
        let next = norm(&s).powi(2);
        let beta = (next / gamma) as f32;
        gamma = next;
        Zip::from(&mut p).and(&s).for_each(|p, &s| *p = s + beta * *p);
        if tracker.done(k, norm(&r), &x, &previous) {
            break;
        }
    }
    Ok(x)
}

/// MLEM: `x <- x / A^T 1 * A^T (y / A x)`, the maximum-likelihood estimate for Poisson data
/// (emission tomography; for transmission CT a positivity-preserving alternative to SIRT).
/// Needs `y >= 0`; starts from a constant image unless `x0` is given.
pub fn mlem(
    op: &dyn LinearOperator,
    y: ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
    options: &IterOptions,
    monitor: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ArrayD<f32>> {
    if let Some((index, &value)) = y.iter().enumerate().find(|(_, v)| **v < 0.0) {
        return Err(Error::param(
            "projections",
            format!("MLEM needs y >= 0, found {value} at index {index}"),
        ));
    }
    let mut x = check_inputs(op, &y, x0)?;
    if x0.is_none() {
        x.fill(1.0);
    }
    let (_, c) = normalisations(op)?;
    let mut tracker = Tracker { options: *options, monitor };
    for k in 0..options.iterations {
        let previous = x.clone();
        let mut ratio = op.apply(x.view())?;
        let mut misfit = 0.0;
        Zip::from(&mut ratio).and(&y).for_each(|a, &b| {
            misfit += (f64::from(*a) - f64::from(b)).powi(2);
            *a = if *a > 0.0 { b / *a } else { 0.0 };
        });
        let back = op.adjoint(ratio.view())?;
        Zip::from(&mut x).and(&back).and(&c).for_each(|x, &b, &c| *x *= b * c);
        if tracker.done(k, misfit.sqrt(), &x, &previous) {
            break;
        }
    }
    Ok(x)
}

/// Options of [`fista_tv`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TvOptions {
    /// Weight λ of the isotropic total variation against `½ ||A x - y||²`.
    pub lambda: f64,
    /// Iterations of the TV proximal step (FGP) per outer iteration (20; warm-started).
    pub inner_iterations: usize,
}

impl Default for TvOptions {
    fn default() -> Self {
        TvOptions { lambda: 1e-3, inner_iterations: 20 }
    }
}

/// FISTA (Beck & Teboulle 2009) for `min ½ ||A x - y||² + λ TV(x)` (and `x >= 0` if asked),
/// with the TV proximal step solved by fast gradient projection on the dual. The step is
/// `1 / ||A||²`, the norm estimated by power iteration. The method for sparse-view and low-dose
/// data: edges stay sharp while streaks and noise go.
pub fn fista_tv(
    op: &dyn LinearOperator,
    y: ArrayViewD<'_, f32>,
    x0: Option<&ArrayD<f32>>,
    tv: &TvOptions,
    options: &IterOptions,
    monitor: &mut dyn FnMut(&Progress) -> Control,
) -> Result<ArrayD<f32>> {
    if !(tv.lambda.is_finite() && tv.lambda >= 0.0) {
        return Err(Error::param(
            "lambda",
            format!("must be finite and >= 0, found {}", tv.lambda),
        ));
    }
    let mut x = check_inputs(op, &y, x0)?;
    // 5% above the power-iteration estimate, which converges from below.
    let lipschitz = (estimate_norm(op, 20, 7)? * 1.05).powi(2);
    if lipschitz == 0.0 {
        return Err(Error::param("operator", "is zero (do the rays miss the image?)"));
    }
    let mut z = x.clone();
    let mut t = 1.0f64;
    let mut prox = TvProx::new(x.shape());
    let mut tracker = Tracker { options: *options, monitor };
    for k in 0..options.iterations {
        let mut residual = op.apply(z.view())?;
        Zip::from(&mut residual).and(&y).for_each(|a, &b| *a -= b);
        let misfit = norm(&residual);
        let gradient = op.adjoint(residual.view())?;
        let mut step = z.clone();
        step.scaled_add(-(1.0 / lipschitz) as f32, &gradient);
        let next =
            prox.solve(&step, tv.lambda / lipschitz, tv.inner_iterations, options.nonnegative);
        let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
        let momentum = ((t - 1.0) / t_next) as f32;
        Zip::from(&mut z).and(&next).and(&x).for_each(|z, &n, &o| *z = n + momentum * (n - o));
        let previous = std::mem::replace(&mut x, next);
        t = t_next;
        if tracker.done(k, misfit, &x, &previous) {
            break;
        }
    }
    Ok(x)
}

/// The proximal map of `μ TV` (isotropic, forward differences, Neumann boundary) with optional
/// non-negativity, by FGP on the dual (Beck & Teboulle 2009, algorithm GP/FGP). Keeps its dual
/// field between calls so FISTA's consecutive calls start warm.
pub struct TvProx {
    shape: Vec<usize>,
    strides: Vec<usize>,
    dual: Vec<Vec<f32>>,
}

impl TvProx {
    /// A solver for images of `shape` (any number of axes).
    pub fn new(shape: &[usize]) -> Self {
        let mut strides = vec![1; shape.len()];
        for a in (0..shape.len().saturating_sub(1)).rev() {
            strides[a] = strides[a + 1] * shape[a + 1];
        }
        let len = shape.iter().product();
        TvProx { shape: shape.to_vec(), strides, dual: vec![vec![0.0; len]; shape.len()] }
    }

    /// Forward difference along `axis` (0 at the last index).
    fn gradient(&self, x: &[f32], axis: usize, out: &mut [f32]) {
        let (n, s) = (self.shape[axis], self.strides[axis]);
        // Blocks of n planes of s contiguous values: plane k + 1 minus plane k.
        for (o, x) in out.chunks_mut(n * s).zip(x.chunks(n * s)) {
            let (body, last) = o.split_at_mut((n - 1) * s);
            for ((o, &next), &here) in body.iter_mut().zip(&x[s..]).zip(x) {
                *o = next - here;
            }
            last.fill(0.0);
        }
    }

    /// `D^T p`: the adjoint of the forward difference (minus the divergence).
    fn gradient_adjoint(&self, p: &[Vec<f32>], out: &mut [f32]) {
        out.fill(0.0);
        for (axis, q) in p.iter().enumerate() {
            let (n, s) = (self.shape[axis], self.strides[axis]);
            for (o, q) in out.chunks_mut(n * s).zip(q.chunks(n * s)) {
                // (D^T q)_k = q_{k-1} - q_k, with q_{-1} = 0 and q_{n-1} taken as 0.
                for (k, (o, q_k)) in o.chunks_mut(s).zip(q.chunks(s)).enumerate() {
                    if k + 1 < n {
                        for (o, &v) in o.iter_mut().zip(q_k) {
                            *o -= v;
                        }
                    }
                    if k > 0 {
                        let before = &q[(k - 1) * s..k * s];
                        for (o, &v) in o.iter_mut().zip(before) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }

    /// `argmin_x ½ ||x - b||² + mu TV(x)` over `x >= 0` if `nonnegative`.
    pub fn solve(
        &mut self,
        b: &ArrayD<f32>,
        mu: f64,
        iterations: usize,
        nonnegative: bool,
    ) -> ArrayD<f32> {
        let b_std = b.as_standard_layout();
        let b_flat = b_std.as_slice().unwrap_or(&[]);
        let len = b_flat.len();
        let clamp = |v: f32| if nonnegative { v.max(0.0) } else { v };
        let dims = self.shape.len();
        // The solution moves b by at most mu |D^T p| <= 2 dims mu (|p| <= 1 per voxel): below
        // f32's resolution of b that is b itself. Tiny weights would otherwise make the dual step
        // 1 / (4 dims mu) overflow (or mu round to 0 in f32) and the result NaN.
        let peak = b_flat.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        if mu <= 0.0 || len == 0 || 4.0 * dims as f64 * mu <= f64::from(f32::EPSILON * peak) {
            return b.mapv(clamp);
        }
        let mu = mu as f32;
        let step = 1.0 / (4.0 * dims as f32 * mu);
        let mut r = self.dual.clone();
        let mut p_old = self.dual.clone();
        let mut t = 1.0f32;
        let mut x = vec![0.0f32; len];
        let mut div = vec![0.0f32; len];
        let mut g = vec![0.0f32; len];
        let primal = |div: &[f32], x: &mut [f32]| {
            for ((x, &b), &d) in x.iter_mut().zip(b_flat).zip(div) {
                *x = clamp(b - mu * d);
            }
        };
        for _ in 0..iterations.max(1) {
            self.gradient_adjoint(&r, &mut div);
            primal(&div, &mut x);
            let mut p = r.clone();
            for (axis, q) in p.iter_mut().enumerate() {
                self.gradient(&x, axis, &mut g);
                for (q, &g) in q.iter_mut().zip(&g) {
                    *q += step * g;
                }
            }
            // Project every voxel's dual vector onto the unit ball (isotropic TV).
            for i in 0..len {
                let m = p.iter().map(|q| q[i] * q[i]).sum::<f32>().sqrt();
                if m > 1.0 {
                    for q in p.iter_mut() {
                        q[i] /= m;
                    }
                }
            }
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            let w = (t - 1.0) / t_next;
            for ((r, p), o) in r.iter_mut().zip(&p).zip(&p_old) {
                for ((r, &p), &o) in r.iter_mut().zip(p).zip(o) {
                    *r = p + w * (p - o);
                }
            }
            p_old = p;
            t = t_next;
        }
        self.gradient_adjoint(&p_old, &mut div);
        primal(&div, &mut x);
        self.dual = p_old;
        ArrayD::from_shape_vec(IxDyn(&self.shape), x).unwrap_or_else(|_| b.mapv(clamp))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use super::*;
    use ndarray::Array2;

    #[test]
    fn a_negligible_tv_weight_leaves_the_image_as_it_is() {
        // Weights far below f32's resolution of the image: the proximal map is the identity
        // (it returned NaN, written as zeros, for mu < 1e-38); a small normal weight moves
        // the image a little and stays finite.
        let b = ArrayD::from_shape_fn(IxDyn(&[4, 6, 5]), |i| (i[0] * 7 + i[1] * 3 + i[2]) as f32);
        for mu in [1e-300, 1e-40, 1e-12] {
            let x = TvProx::new(b.shape()).solve(&b, mu, 20, false);
            assert_eq!(x, b, "mu {mu}");
        }
        let x = TvProx::new(b.shape()).solve(&b, 1e-3, 20, false);
        let moved = x.iter().zip(&b).map(|(a, c)| (a - c).abs()).fold(0.0f32, f32::max);
        assert!(moved > 0.0 && moved < 0.01, "{moved}");
    }

    #[test]
    fn the_tv_gradient_pair_is_adjoint() {
        let prox = TvProx::new(&[5, 7]);
        let x: Vec<f32> = (0..35).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        let p: Vec<Vec<f32>> = (0..2)
            .map(|a| (0..35).map(|i| ((i * 13 + a * 5) % 7) as f32 - 3.0).collect())
            .collect();
        let mut lhs = 0.0;
        let mut g = vec![0.0; 35];
        for (axis, q) in p.iter().enumerate() {
            prox.gradient(&x, axis, &mut g);
            lhs += g.iter().zip(q).map(|(a, b)| f64::from(a * b)).sum::<f64>();
        }
        let mut dt = vec![0.0; 35];
        prox.gradient_adjoint(&p, &mut dt);
        let rhs: f64 = x.iter().zip(&dt).map(|(a, b)| f64::from(a * b)).sum();
        assert!((lhs - rhs).abs() < 1e-9, "{lhs} vs {rhs}");
    }

    #[test]
    fn the_tv_prox_flattens_noise_and_keeps_a_step() {
        // A step edge plus +-0.1 alternating noise: with mu = 0.3 the noise goes (TV of the
        // noise is far larger than its data cost) and the step of height 1 stays within 0.2.
        let b = Array2::from_shape_fn((16, 16), |(i, j)| {
            let step = if j < 8 { 0.0 } else { 1.0 };
            step + if (i + j) % 2 == 0 { 0.1 } else { -0.1 }
        })
        .into_dyn();
        let mut prox = TvProx::new(b.shape());
        let x = prox.solve(&b, 0.3, 200, false);
        let left: f32 = (0..16).map(|i| x[[i, 2]]).sum::<f32>() / 16.0;
        let right: f32 = (0..16).map(|i| x[[i, 13]]).sum::<f32>() / 16.0;
        let spread = (0..16).map(|i| (x[[i, 2]] - left).abs()).fold(0.0f32, f32::max);
        assert!(spread < 0.01, "noise left: {spread}");
        assert!((right - left) > 0.8 && (right - left) <= 1.0, "step {left} -> {right}");
    }
}
