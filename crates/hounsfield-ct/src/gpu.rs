//! The GPU paths (feature `cuda`): the Joseph projector pair as a `LinearOperator` whose products
//! run on a CUDA device, and the FBP/FDK back-projection. Geometry is converted here into the
//! plain per-view parameters hounsfield-cuda's kernels take; the kernels mirror `projector.rs`
//! and `backproject.rs` line by line.

use std::sync::Arc;

use hounsfield_core::error::check_shape;
use hounsfield_core::{Error, LinearOperator, Result};
use hounsfield_cuda::backproject::{MapParams, VoxelMaps};
use hounsfield_cuda::projector::{RayGeometry, ViewParams};
use hounsfield_cuda::{Gpu, GridSpec};
use ndarray::{ArrayView3, ArrayViewD, ArrayViewMutD};

use crate::backproject::ViewMap;
use crate::geometry::{Frame, ImageGrid, ScanGeometry};
use crate::projector::Projector;

fn gpu_error(e: hounsfield_cuda::Error) -> Error {
    Error::param("device", e.to_string())
}

/// Opens CUDA device `ordinal`, or says why not.
pub fn open(ordinal: usize) -> Result<Arc<Gpu>> {
    Gpu::open(ordinal).map_err(gpu_error)
}

fn grid_spec(grid: &ImageGrid, dims: usize) -> GridSpec {
    let [nz, ny, nx] = grid.shape;
    GridSpec { n: [nx, ny, nz], dims, first: grid.first_voxel(), spacing: grid.spacing }
}

fn view_params(frame: &Frame) -> ViewParams {
    let mut p = [0.0; 16];
    match *frame {
        Frame::Flat { source, ray, centre, u, v } => {
            p[0] = match source {
                Some(_) => hounsfield_cuda::projector::FLAT_DIVERGING,
                None => hounsfield_cuda::projector::FLAT_PARALLEL,
            };
            let s = source.unwrap_or([0.0; 3]);
            for (k, vec) in [s, ray, centre, u, v].iter().enumerate() {
                p[1 + 3 * k..4 + 3 * k].copy_from_slice(vec);
            }
        }
        Frame::Arc { source, central, across, gamma0, dgamma } => {
            p[0] = hounsfield_cuda::projector::ARC;
            for (k, vec) in [source, central, across].iter().enumerate() {
                p[1 + 3 * k..4 + 3 * k].copy_from_slice(vec);
            }
            p[10] = gamma0;
            p[11] = dgamma;
        }
    }
    p
}

fn map_params(map: &ViewMap) -> MapParams {
    let mut p = [0.0; 13];
    let fill = |p: &mut MapParams, parts: &[&[f64]]| {
        let mut k = 1;
        for part in parts {
            p[k..k + part.len()].copy_from_slice(part);
            k += part.len();
        }
    };
    match *map {
        ViewMap::Projective { a, a0, b, b0, d, d0 } => {
            p[0] = hounsfield_cuda::backproject::PROJECTIVE;
            fill(&mut p, &[&a, &[a0], &b, &[b0], &d, &[d0]]);
        }
        ViewMap::Arc { source, central, across, gamma0, dgamma, centre_col } => {
            p[0] = hounsfield_cuda::backproject::ARC;
            fill(&mut p, &[&source, &central, &across, &[gamma0, dgamma, centre_col]]);
        }
    }
    p
}

/// The FBP/FDK back-projection on CUDA device `ordinal`.
pub(crate) fn backproject_on(
    ordinal: usize,
    grid: &ImageGrid,
    maps: &[ViewMap],
    weights: &[f64],
    q: ArrayView3<'_, f32>,
) -> Result<Vec<f32>> {
    let gpu = open(ordinal)?;
    let (_, rows, cols) = q.dim();
    let q = q.as_standard_layout();
    let q = q.as_slice().ok_or_else(|| Error::param("projections", "not contiguous"))?;
    let maps = VoxelMaps {
        maps: maps.iter().map(map_params).collect(),
        weights: weights.to_vec(),
        rows,
        cols,
    };
    let dims = if grid.shape[0] == 1 && rows == 1 { 2 } else { 3 };
    hounsfield_cuda::backproject::backproject(&gpu, &maps, &grid_spec(grid, dims), q)
        .map_err(gpu_error)
}

/// The Joseph projector whose products run on a GPU: the same rays and weights as
/// [`Projector`] (to ~1e-6 relative, f32 output), its adjoint accumulated in fixed point so it is
/// the same on every run. Iterative methods (SIRT, CGLS, FISTA) take it as any operator.
#[derive(Clone, Debug)]
pub struct GpuProjector {
    cpu: Projector,
    gpu: Arc<Gpu>,
    rays: RayGeometry,
    grid: GridSpec,
}

impl GpuProjector {
    /// The projector for `geometry` on `grid`, on CUDA device `ordinal`.
    pub fn new(grid: ImageGrid, geometry: ScanGeometry, ordinal: usize) -> Result<Self> {
        let cpu = Projector::new(grid.clone(), geometry.clone())?;
        let gpu = open(ordinal)?;
        let (rows, cols) = geometry.detector_shape();
        let rays =
            RayGeometry { views: geometry.frames().iter().map(view_params).collect(), rows, cols };
        let dims = cpu.domain_shape().len();
        Ok(GpuProjector { grid: grid_spec(&grid, dims), cpu, gpu, rays })
    }

    /// The device it runs on.
    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }
}

fn contiguous<'a>(x: &'a ArrayViewD<'_, f32>, what: &'static str) -> Result<&'a [f32]> {
    x.as_slice().ok_or_else(|| Error::param(what, "not contiguous (C order)"))
}

impl LinearOperator for GpuProjector {
    fn domain_shape(&self) -> Vec<usize> {
        self.cpu.domain_shape()
    }

    fn range_shape(&self) -> Vec<usize> {
        self.cpu.range_shape()
    }

    fn apply_into(&self, x: ArrayViewD<'_, f32>, mut y: ArrayViewMutD<'_, f32>) -> Result<()> {
        check_shape("projector image", &self.domain_shape(), x.shape())?;
        check_shape("projector projections", &self.range_shape(), y.shape())?;
        let x = x.as_standard_layout();
        let out = hounsfield_cuda::projector::forward(
            &self.gpu,
            &self.rays,
            &self.grid,
            contiguous(&x.view(), "image")?,
        )
        .map_err(gpu_error)?;
        y.iter_mut().zip(out).for_each(|(o, v)| *o = v);
        Ok(())
    }

    fn adjoint_into(&self, y: ArrayViewD<'_, f32>, mut x: ArrayViewMutD<'_, f32>) -> Result<()> {
        check_shape("projector projections", &self.range_shape(), y.shape())?;
        check_shape("projector image", &self.domain_shape(), x.shape())?;
        let y = y.as_standard_layout();
        let out = hounsfield_cuda::projector::adjoint(
            &self.gpu,
            &self.rays,
            &self.grid,
            contiguous(&y.view(), "projections")?,
        )
        .map_err(gpu_error)?;
        x.iter_mut().zip(out).for_each(|(o, v)| *o = v);
        Ok(())
    }
}
