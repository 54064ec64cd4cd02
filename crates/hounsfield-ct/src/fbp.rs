//! Analytic reconstruction: filtered back-projection for parallel and fan beams, FDK for cone
//! beams (Kak & Slaney ch. 3; Feldkamp, Davis & Kress 1984).
//!
//! Per view: pre-weight (cosine weights for diverging beams), weight redundant rays (½ for full
//! scans, Parker weights for short scans, Wang weights for offset detectors), ramp-filter each
//! detector row, then back-project voxel by voxel with the view's angular step and the distance
//! weight. Arbitrary angle lists are weighted by the angle each view covers.

use hounsfield_core::error::check_shape;
use hounsfield_core::{Error, Result};
use ndarray::{Array3, ArrayD, ArrayViewD, Axis, IxDyn};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::f64::consts::{FRAC_PI_4, PI};

use crate::backproject::{ViewMap, backproject};
use crate::device::Device;
use crate::geometry::{ImageGrid, ScanGeometry};
use crate::ramp::{FilterScratch, RampFilter, RampWindow, Sampling};

/// Options of [`fbp`] and [`fdk`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FbpOptions {
    /// Ramp filter window (Ram-Lak).
    pub window: RampWindow,
    /// Highest frequency kept, as a fraction of Nyquist (1).
    pub cutoff: f64,
    /// Zero-pad rows to at least twice their length before filtering (true).
    pub padding: bool,
    /// Weight offset-detector (half-fan) full scans with Wang's weights so the overlap is not
    /// counted twice (true; only acts when the detector is offset).
    pub offset_weighting: bool,
    /// Where the back-projection runs (the CPU; a CUDA GPU with the `cuda` feature).
    pub device: Device,
}

impl Default for FbpOptions {
    fn default() -> Self {
        FbpOptions {
            window: RampWindow::RamLak,
            cutoff: 1.0,
            padding: true,
            offset_weighting: true,
            device: Device::Cpu,
        }
    }
}

/// The angle each view stands for: half the distance to each neighbour (the end views take
/// their one neighbour's spacing), so non-uniform angle lists are integrated correctly.
fn angular_weights(angles: &[f64]) -> Vec<f64> {
    let n = angles.len();
    if n == 1 {
        return vec![PI];
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| angles[i].total_cmp(&angles[j]));
    let mut w = vec![0.0; n];
    for (k, &i) in order.iter().enumerate() {
        let prev =
            if k > 0 { angles[i] - angles[order[k - 1]] } else { angles[order[1]] - angles[i] };
        let next = if k + 1 < n {
            angles[order[k + 1]] - angles[i]
        } else {
            angles[i] - angles[order[k - 1]]
        };
        w[i] = (prev + next) / 2.0;
    }
    w
}

/// The widest gap between parallel-beam view directions taken modulo 180° (wrapping around), and
/// the mean gap, radians.
fn largest_direction_gap(angles: &[f64]) -> (f64, f64) {
    let mut d: Vec<f64> = angles.iter().map(|a| a.rem_euclid(PI)).collect();
    d.sort_by(f64::total_cmp);
    let wrap = d[0] + PI - d[d.len() - 1];
    let widest = d.windows(2).map(|w| w[1] - w[0]).fold(wrap, f64::max);
    (widest, PI / d.len() as f64)
}

/// The widest wedge of unmeasured directions parallel-beam FBP accepts when it is also well
/// beyond the views' mean spacing (10°: random or golden-angle view sets leave smaller gaps).
const MAX_DIRECTION_GAP: f64 = 10.0 * PI / 180.0;

/// Parker's short-scan weight for a ray at scan angle `beta` (from the first view) and fan
/// angle `gamma` (signed so that the conjugate ray is at `beta + π + 2 gamma`), for a scan over
/// `π + 2 delta`.
fn parker(beta: f64, gamma: f64, delta: f64) -> f64 {
    let s2 = |x: f64| x.sin().powi(2);
    if beta < 0.0 || beta > PI + 2.0 * delta {
        0.0
    } else if beta < 2.0 * (delta - gamma) {
        s2(FRAC_PI_4 * beta / (delta - gamma))
    } else if beta <= PI - 2.0 * gamma {
        1.0
    } else {
        s2(FRAC_PI_4 * (PI + 2.0 * delta - beta) / (delta + gamma))
    }
}

/// Wang's offset-detector weight at fan angle `gamma` when the detector covers fan angles
/// `[-overlap, ...]` on one side (`side = 1`) or `[..., overlap]` (`side = -1`): it rises from 0
/// to 1 across the overlap, and `w(γ) + w(-γ) = 1`.
fn wang(gamma: f64, overlap: f64, side: f64) -> f64 {
    let g = gamma * side;
    if g >= overlap {
        1.0
    } else if g <= -overlap {
        0.0
    } else {
        (FRAC_PI_4 * (g + overlap) / overlap).sin().powi(2)
    }
}

/// How a circular scan's views and columns are weighted and filtered.
struct Plan {
    /// Per view: angular step times the redundancy factor applied to every ray.
    view_weight: Vec<f64>,
    /// `weight(view, col, row)`: pre-weight and ray redundancy weight.
    ray_weight: Box<dyn Fn(usize, f64, f64) -> f64 + Sync>,
    sampling: Sampling,
}

fn plan(geometry: &ScanGeometry, options: &FbpOptions) -> Result<Plan> {
    let angles = geometry.angles().ok_or_else(|| {
        Error::param("geometry", "FBP/FDK need a circular geometry; use an iterative method")
    })?;
    let steps = angular_weights(angles);
    let coverage: f64 = steps.iter().sum();
    let full_scan = coverage >= 2.0 * PI * (1.0 - 1e-6);
    let (detector, sod, sdd, arc) = match geometry {
        ScanGeometry::Parallel2d { detector, .. } | ScanGeometry::Parallel3d { detector, .. } => {
            // Every line is measured once per π of rotation; less leaves lines unmeasured, and
            // FBP would return their streaks as an image.
            if angles.len() > 1 && coverage < PI * (1.0 - 1e-6) {
                return Err(Error::param(
                    "angles",
                    format!(
                        "parallel-beam FBP needs views over 180°, found {:.2}° (limited-angle \
                         data: use an iterative method)",
                        coverage.to_degrees()
                    ),
                ));
            }
            // Views 180° apart measure the same lines, so what counts is the directions covered
            // modulo 180°: a wedge of them left out (views over 0-90° and 180-270°, or a gap in
            // the middle) is limited-angle data however wide the span.
            let (gap, mean) = largest_direction_gap(angles);
            if angles.len() > 1 && gap > MAX_DIRECTION_GAP && gap > 2.5 * mean {
                return Err(Error::param(
                    "angles",
                    format!(
                        "parallel-beam FBP needs every direction over 180°, but the views leave \
                         a {:.2}° wedge of directions unmeasured (views 180° apart measure the \
                         same lines; limited-angle data: use an iterative method)",
                        gap.to_degrees()
                    ),
                ));
            }
            let scale = if coverage > PI * (1.0 + 1e-6) { PI / coverage } else { 1.0 };
            return Ok(Plan {
                view_weight: steps.iter().map(|s| s * scale).collect(),
                ray_weight: Box::new(|_, _, _| 1.0),
                sampling: Sampling::Linear(detector.col_spacing),
            });
        }
        ScanGeometry::Fan2d { detector, source_origin, source_detector, arc, .. } => {
            (*detector, *source_origin, *source_detector, *arc)
        }
        ScanGeometry::Cone { detector, source_origin, source_detector, .. } => {
            (*detector, *source_origin, *source_detector, false)
        }
        ScanGeometry::Vector { .. } => unreachable_vector()?,
    };
    let magnification = sdd / sod;
    // Fan angle of a column (signed like e_u) and the cosine pre-weight.
    let gamma_of = move |col: f64| {
        let u = detector.u(col);
        if arc { u / sdd } else { (u / sdd).atan() }
    };
    let preweight = move |col: f64, row: f64| {
        if arc {
            sod * gamma_of(col).cos()
        } else {
            let (u, v) = (detector.u(col) / magnification, detector.v(row) / magnification);
            sod / (sod * sod + u * u + v * v).sqrt()
        }
    };
    let sampling = if arc {
        Sampling::Angular(detector.col_spacing / sdd)
    } else {
        Sampling::Linear(detector.col_spacing / magnification)
    };
    let last = detector.cols as f64 - 1.0;
    let (gamma_lo, gamma_hi) = (gamma_of(-0.5), gamma_of(last + 0.5));
    let offset = detector.col_offset != 0.0 && options.offset_weighting;
    if full_scan {
        let scale = 2.0 * PI / coverage;
        if offset {
            // The narrow side is covered twice across the centre, the wide side once.
            let (overlap, side) =
                if gamma_hi > -gamma_lo { (-gamma_lo, 1.0) } else { (gamma_hi, -1.0) };
            if overlap <= 0.0 {
                return Err(Error::param(
                    "detector",
                    "an offset detector must still cover the rotation axis",
                ));
            }
            return Ok(Plan {
                view_weight: steps.iter().map(|s| s * scale).collect(),
                ray_weight: Box::new(move |_, c, r| {
                    preweight(c, r) * wang(gamma_of(c), overlap, side)
                }),
                sampling,
            });
        }
        return Ok(Plan {
            view_weight: steps.iter().map(|s| s * scale / 2.0).collect(),
            ray_weight: Box::new(move |_, c, r| preweight(c, r)),
            sampling,
        });
    }
    // Short scan: Parker weights over the angular range actually scanned.
    let first = angles[0];
    let direction = if angles[angles.len() - 1] >= first { 1.0 } else { -1.0 };
    let span = angles.iter().map(|a| (a - first) * direction).fold(0.0, f64::max);
    let half_fan = gamma_lo.abs().max(gamma_hi.abs());
    let delta = (span - PI) / 2.0;
    if delta < half_fan * (1.0 - 1e-6) {
        return Err(Error::param(
            "angles",
            format!(
                "a short scan needs at least 180° plus the fan angle ({:.2}°), found {:.2}°",
                (PI + 2.0 * half_fan).to_degrees(),
                span.to_degrees()
            ),
        ));
    }
    let betas: Vec<f64> = angles.iter().map(|a| (a - first) * direction).collect();
    Ok(Plan {
        view_weight: steps,
        // With angles increasing, a ray at fan angle γ (along e_u) meets its conjugate at
        // β + π - 2γ, so Parker's γ is -γ; a clockwise scan mirrors it.
        ray_weight: Box::new(move |v, c, r| {
            preweight(c, r) * parker(betas[v], -direction * gamma_of(c), delta)
        }),
        sampling,
    })
}

fn unreachable_vector<T>() -> Result<T> {
    Err(Error::param("geometry", "FBP/FDK need a circular geometry; use an iterative method"))
}

/// Filtered back-projection (FDK for cone beams) of `projections` (shape
/// [`ScanGeometry::projection_shape`]) onto `grid`; returns the image in the projector's domain
/// shape. Values are in the projections' unit per mm (attenuation coefficients when the
/// projections are line integrals in mm).
pub fn fbp(
    geometry: &ScanGeometry,
    grid: &ImageGrid,
    projections: ArrayViewD<'_, f32>,
    options: &FbpOptions,
) -> Result<ArrayD<f32>> {
    geometry.validate()?;
    grid.validate()?;
    let image_shape = geometry.image_shape(grid)?;
    check_shape("projections", &geometry.projection_shape(), projections.shape())?;
    if let Some((index, &value)) = projections.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NotFinite { what: "projections", value: f64::from(value), index });
    }
    let plan = plan(geometry, options)?;
    let (rows, cols) = geometry.detector_shape();
    let filter =
        RampFilter::new(cols, plan.sampling, options.window, options.cutoff, options.padding)?;
    let margin = filter.margin();
    let projections = projections
        .to_shape((geometry.views(), rows, cols))
        .map_err(|e| Error::InvalidGeometry(e.to_string()))?;
    let mut q = Array3::<f32>::zeros((geometry.views(), rows, cols + 2 * margin));
    q.axis_iter_mut(Axis(0)).into_par_iter().enumerate().try_for_each(|(v, mut view)| {
        let mut scratch = FilterScratch::default();
        let mut weighted = vec![0.0f32; cols];
        for (r, mut row) in view.axis_iter_mut(Axis(0)).enumerate() {
            let row = row.as_slice_mut().ok_or_else(|| Error::param("row", "not contiguous"))?;
            for (c, w) in weighted.iter_mut().enumerate() {
                let p = f64::from(projections[[v, r, c]]);
                *w = (p * (plan.ray_weight)(v, c as f64, r as f64)) as f32;
            }
            filter.apply_into(&weighted, row, &mut scratch)?;
        }
        Ok::<_, Error>(())
    })?;
    let maps: Vec<ViewMap> = geometry
        .frames()
        .iter()
        .map(|f| ViewMap::new(f, rows, cols).with_margin(margin as f64))
        .collect();
    let image = match options.device {
        Device::Cpu => backproject(grid, &maps, &plan.view_weight, q.view()),
        Device::Cuda(ordinal) => {
            crate::device::backproject_on(ordinal, grid, &maps, &plan.view_weight, q.view())?
        }
    };
    ArrayD::from_shape_vec(IxDyn(&image_shape), image)
        .map_err(|e| Error::InvalidGeometry(e.to_string()))
}

/// FDK reconstruction of a circular cone-beam scan: [`fbp`] under the name users look for.
pub fn fdk(
    geometry: &ScanGeometry,
    grid: &ImageGrid,
    projections: ArrayViewD<'_, f32>,
    options: &FbpOptions,
) -> Result<ArrayD<f32>> {
    if !matches!(geometry, ScanGeometry::Cone { .. }) {
        return Err(Error::param("geometry", "FDK needs a circular cone-beam geometry"));
    }
    fbp(geometry, grid, projections, options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angular_weights_integrate_uniform_and_irregular_scans() {
        let uniform: Vec<f64> = (0..8).map(|k| f64::from(k) * PI / 8.0).collect();
        let w = angular_weights(&uniform);
        assert!(w.iter().all(|&x| (x - PI / 8.0).abs() < 1e-12));
        let w = angular_weights(&[0.0, 0.1, 0.4, 0.5]);
        assert!((w[1] - 0.2).abs() < 1e-12 && (w[0] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn parker_and_wang_weights_sum_to_one_over_conjugate_rays() {
        let delta = 0.3;
        for &gamma in &[-0.25, -0.1, 0.0, 0.2] {
            for k in 0..50 {
                let beta = f64::from(k) * (PI + 2.0 * delta) / 50.0;
                // The conjugate ray of (β, γ) is (β + π + 2γ, -γ) or (β - π + 2γ, -γ).
                let conj = if beta + PI + 2.0 * gamma <= PI + 2.0 * delta {
                    beta + PI + 2.0 * gamma
                } else {
                    beta - PI + 2.0 * gamma
                };
                let sum = parker(beta, gamma, delta) + parker(conj, -gamma, delta);
                assert!((sum - 1.0).abs() < 1e-9, "β {beta} γ {gamma}: {sum}");
            }
            let s = wang(gamma, 0.15, 1.0) + wang(-gamma, 0.15, 1.0);
            assert!((s - 1.0).abs() < 1e-12);
        }
    }
}
