//! Joseph's projector `A` and its matched adjoint `A^T` on the GPU, for any geometry the caller
//! describes per view (hounsfield-ct fills [`RayGeometry`] from its scan geometries).
//!
//! The adjoint scatters in 64-bit fixed point with integer atomics, which add associatively:
//! the result is the same on every run, whatever order the threads run in. The scale is chosen
//! from the data so that no sum can overflow (`2^62` over the sum of `|y|` times the longest
//! step), far finer than `f32`.

use crate::device::int;
use crate::emulate::Arg;
use crate::grid::{GridSpec, slab_depth};
use crate::kernels::PROJECTOR;
use crate::launcher::Launcher;
use crate::{Error, Result};

/// Parameters per view (16 doubles: see `kernels/projector.cu`).
pub type ViewParams = [f64; 16];

/// View kind: flat detector, parallel rays (`ray` is the direction).
pub const FLAT_PARALLEL: f64 = 0.0;
/// View kind: flat detector, rays from a point source.
pub const FLAT_DIVERGING: f64 = 1.0;
/// View kind: equiangular arc detector (2D fan beam).
pub const ARC: f64 = 2.0;

/// The rays of a scan: per-view parameters and the detector's size.
#[derive(Clone, Debug, PartialEq)]
pub struct RayGeometry {
    /// One entry per view: kind, then source[3], ray[3], centre[3], u[3], v[3] for flat
    /// detectors, or source[3], central[3], across[3], gamma0, dgamma for arcs.
    pub views: Vec<ViewParams>,
    /// Detector rows (1 in 2D).
    pub rows: usize,
    /// Detector columns.
    pub cols: usize,
}

impl RayGeometry {
    /// Values in the projections `[views, rows, cols]`.
    pub fn len(&self) -> usize {
        self.views.len() * self.rows * self.cols
    }

    /// Whether there is no ray.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn validate(&self) -> Result<()> {
        if self.is_empty() || self.views.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::Invalid("empty or non-finite ray geometry".into()));
        }
        int(self.len(), "projection values")?;
        Ok(())
    }
}

/// Checks the geometry, the grid and the lengths of an image and projections for them.
fn check(rays: &RayGeometry, grid: &GridSpec, image: usize, projections: usize) -> Result<()> {
    rays.validate()?;
    grid.validate()?;
    if image != grid.len() || projections != rays.len() {
        return Err(Error::Invalid(format!(
            "{image} image and {projections} projection values for a grid of {} and a scan of {}",
            grid.len(),
            rays.len()
        )));
    }
    Ok(())
}

/// The arguments both projector kernels start with: views, their count, the detector's rows
/// and columns, the grid's ints and doubles.
fn ray_args(rays: &RayGeometry, grid: &GridSpec) -> Result<[Arg; 6]> {
    let (gi, gd) = grid.kernel_args()?;
    Ok([
        Arg::F64s(rays.views.as_flattened().to_vec()),
        Arg::I32(int(rays.views.len(), "views")?),
        Arg::I32(int(rays.rows, "rows")?),
        Arg::I32(int(rays.cols, "cols")?),
        Arg::I32s(gi.to_vec()),
        Arg::F64s(gd.to_vec()),
    ])
}

/// `A x`: projections `[views, rows, cols]` of `image` (C order `[nz, ny, nx]`), volumes larger
/// than device memory taken in z slabs.
pub fn forward(
    gpu: &dyn Launcher,
    rays: &RayGeometry,
    grid: &GridSpec,
    image: &[f32],
) -> Result<Vec<f32>> {
    gpu.start_timing();
    check(rays, grid, image.len(), rays.len())?;
    let plane = grid.n[0] * grid.n[1];
    let depth = slab_depth(grid.n[2], plane * 4, rays.len() * 4, gpu.free_memory()?)?;
    let mut out = vec![0.0f32; rays.len()];
    for z0 in (0..grid.n[2]).step_by(depth) {
        let d = depth.min(grid.n[2] - z0);
        let [a0, a1, a2, a3, a4, a5] = ray_args(rays, &grid.slab(z0, d))?;
        let mut args = [
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            Arg::F32s(image[z0 * plane..(z0 + d) * plane].to_vec()),
            Arg::I32(i32::from(z0 > 0)),
            Arg::F32s(out),
        ];
        gpu.launch(&PROJECTOR, "project_forward", rays.len(), &mut args, &[8])?;
        out = take_f32(&mut args[8]);
    }
    Ok(out)
}

/// The `f32` buffer of an argument, left empty.
pub(crate) fn take_f32(arg: &mut Arg) -> Vec<f32> {
    match arg {
        Arg::F32s(v) => std::mem::take(v),
        _ => Vec::new(),
    }
}

/// `A^T y`: the matched back-projection of `y` (`[views, rows, cols]`) onto the grid.
pub fn adjoint(
    gpu: &dyn Launcher,
    rays: &RayGeometry,
    grid: &GridSpec,
    y: &[f32],
) -> Result<Vec<f32>> {
    gpu.start_timing();
    check(rays, grid, grid.len(), y.len())?;
    let mut image = vec![0.0f32; grid.len()];
    // No sum can exceed sum|y| times the longest step through a voxel (sqrt(3) voxels).
    let total: f64 = y.iter().map(|v| f64::from(v.abs())).sum::<f64>()
        * 3f64.sqrt()
        * grid.spacing.iter().cloned().fold(0.0, f64::max);
    if !total.is_finite() {
        return Err(Error::Invalid("projections hold a non-finite value".into()));
    }
    if total == 0.0 {
        return Ok(image);
    }
    let scale = (2f64.powi(62) / total).log2().floor().exp2();
    let plane = grid.n[0] * grid.n[1];
    let depth = slab_depth(grid.n[2], plane * 12, rays.len() * 4, gpu.free_memory()?)?;
    for z0 in (0..grid.n[2]).step_by(depth) {
        let d = depth.min(grid.n[2] - z0);
        let [a0, a1, a2, a3, a4, a5] = ray_args(rays, &grid.slab(z0, d))?;
        let mut scatter = [
            a0,
            a1,
            a2,
            a3,
            a4,
            a5,
            Arg::F32s(y.to_vec()),
            Arg::F64(scale),
            Arg::U64s(vec![0; d * plane]),
        ];
        gpu.launch(&PROJECTOR, "project_adjoint", rays.len(), &mut scatter, &[8])?;
        let acc = std::mem::replace(&mut scatter[8], Arg::I32(0));
        let n = i64::try_from(d * plane).map_err(|_| Error::Invalid("slab too large".into()))?;
        let mut finish = [acc, Arg::I64(n), Arg::F64(scale), Arg::F32s(vec![0.0; d * plane])];
        gpu.launch(&PROJECTOR, "fixed_to_float", d * plane, &mut finish, &[3])?;
        image[z0 * plane..(z0 + d) * plane].copy_from_slice(&take_f32(&mut finish[3]));
    }
    Ok(image)
}
