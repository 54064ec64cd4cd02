//! The GPU paths (feature `cuda`): the Joseph projector pair as a `LinearOperator` whose products
//! run on a CUDA device, and the FBP/FDK back-projection. Geometry is converted here into the
//! plain per-view parameters hounsfield-cuda's kernels take; the kernels mirror `projector.rs`
//! and `backproject.rs` line by line.

use std::sync::Arc;

use hounsfield_core::error::check_shape;
use hounsfield_core::{Error, LinearOperator, Result};
use hounsfield_cuda::backproject::{MapParams, VoxelMaps};
use hounsfield_cuda::projector::{RayGeometry, ViewParams};
use hounsfield_cuda::{Gpu, GridSpec, Launcher};
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
    backproject_with(open(ordinal)?.as_ref(), grid, maps, weights, q)
}

/// The back-projection on any launcher (the emulator in tests).
fn backproject_with(
    gpu: &dyn Launcher,
    grid: &ImageGrid,
    maps: &[ViewMap],
    weights: &[f64],
    q: ArrayView3<'_, f32>,
) -> Result<Vec<f32>> {
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
    hounsfield_cuda::backproject::backproject(gpu, &maps, &grid_spec(grid, dims), q)
        .map_err(gpu_error)
}

/// The Joseph projector whose products run on a GPU: the same rays and weights as
/// [`Projector`] (to ~1e-6 relative, f32 output), its adjoint accumulated in fixed point so it is
/// the same on every run. Iterative methods (SIRT, CGLS, FISTA) take it as any operator.
#[derive(Clone, Debug)]
pub struct GpuProjector {
    cpu: Projector,
    gpu: Arc<dyn Launcher + Send + Sync>,
    rays: RayGeometry,
    grid: GridSpec,
}

impl GpuProjector {
    /// The projector for `geometry` on `grid`, on CUDA device `ordinal`.
    pub fn new(grid: ImageGrid, geometry: ScanGeometry, ordinal: usize) -> Result<Self> {
        Self::with_launcher(grid, geometry, open(ordinal)?)
    }

    /// The projector on any launcher (a [`Gpu`], or hounsfield-cuda's CPU emulation of the
    /// kernels, which tests use).
    pub fn with_launcher(
        grid: ImageGrid,
        geometry: ScanGeometry,
        gpu: Arc<dyn Launcher + Send + Sync>,
    ) -> Result<Self> {
        let cpu = Projector::new(grid.clone(), geometry.clone())?;
        let (rows, cols) = geometry.detector_shape();
        let rays =
            RayGeometry { views: geometry.frames().iter().map(view_params).collect(), rows, cols };
        let dims = cpu.domain_shape().len();
        Ok(GpuProjector { grid: grid_spec(&grid, dims), cpu, gpu, rays })
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
            self.gpu.as_ref(),
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
            self.gpu.as_ref(),
            &self.rays,
            &self.grid,
            contiguous(&y.view(), "projections")?,
        )
        .map_err(gpu_error)?;
        x.iter_mut().zip(out).for_each(|(o, v)| *o = v);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! The kernels run on the CPU through hounsfield-cuda's emulator (the CUDA C compiled as
    //! C++), behind the same host code as on a GPU: against the CPU projector pair and
    //! back-projection, relative error < 1e-4 (the GPU bar), with and without slabs.
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use hounsfield_core::operator::check_adjoint;
    use hounsfield_core::rng::SplitMix64;
    use hounsfield_cuda::Emulated;
    use ndarray::{ArrayD, IxDyn};

    use super::*;
    use crate::geometry::Detector;
    use crate::uniform_angles;

    fn random(shape: &[usize], seed: u64) -> ArrayD<f32> {
        let mut rng = SplitMix64::new(seed);
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|_| rng.uniform(0.0, 1.0) as f32).collect())
            .unwrap()
    }

    fn relative(a: &[f32], b: &[f32]) -> f64 {
        let scale = b.iter().map(|v| f64::from(v.abs())).fold(0.0, f64::max).max(1e-30);
        a.iter().zip(b).map(|(x, y)| f64::from(x - y).abs()).fold(0.0, f64::max) / scale
    }

    fn cases() -> Vec<(&'static str, ImageGrid, ScanGeometry)> {
        let full = std::f64::consts::TAU;
        let g2 = ImageGrid::new_2d(28, 32, 1.0).unwrap();
        let g3 = ImageGrid::new_3d([12, 14, 16], [1.0, 1.1, 0.9]).unwrap();
        let angles = |n| uniform_angles(n, 0.1, full);
        vec![
            (
                "parallel 2D",
                g2.clone(),
                ScanGeometry::parallel_2d(uniform_angles(20, 0.0, std::f64::consts::PI), 45, 1.0)
                    .unwrap(),
            ),
            (
                "fan 2D flat",
                g2.clone(),
                ScanGeometry::fan_2d(angles(24), Detector::line(50, 1.5), 60.0, 110.0, false)
                    .unwrap(),
            ),
            (
                "fan 2D arc",
                g2,
                ScanGeometry::fan_2d(angles(24), Detector::line(50, 0.012), 60.0, 110.0, true)
                    .unwrap(),
            ),
            (
                "cone",
                g3,
                ScanGeometry::cone(angles(10), Detector::panel(18, 20, 1.6, 1.6), 50.0, 100.0)
                    .unwrap(),
            ),
        ]
    }

    #[test]
    fn emulated_projector_pair_matches_the_cpu_in_one_pass_and_in_slabs() {
        for (name, grid, geometry) in cases() {
            let cpu = Projector::new(grid.clone(), geometry.clone()).unwrap();
            let x = random(&cpu.domain_shape(), 1);
            let y = random(&cpu.range_shape(), 2);
            let (ax, aty) = (cpu.apply(x.view()).unwrap(), cpu.adjoint(y.view()).unwrap());
            let ax = ax.as_slice().unwrap();
            let aty = aty.as_slice().unwrap();
            // Plenty of memory, then so little that a 3D volume goes in slabs (forward: 4 planes,
            // adjoint: 1 plane).
            let plane = grid.shape[1] * grid.shape[2];
            let tight = 2 * (y.len() * 4 + 4 * plane * 4);
            for memory in [1usize << 30, tight] {
                let emu = Arc::new(Emulated::new(memory));
                let gpu = GpuProjector::with_launcher(grid.clone(), geometry.clone(), emu).unwrap();
                let (gx, gy) = (gpu.apply(x.view()).unwrap(), gpu.adjoint(y.view()).unwrap());
                let e = relative(gx.as_slice().unwrap(), ax);
                assert!(e < 1e-5, "{name}, {memory} bytes: forward relative error {e:e}");
                let e = relative(gy.as_slice().unwrap(), aty);
                assert!(e < 1e-5, "{name}, {memory} bytes: adjoint relative error {e:e}");
                let report = check_adjoint(&gpu, 3).unwrap();
                assert!(report.relative_mismatch < 1e-5, "{name}: {report:?}");
                assert_eq!(gpu.adjoint(y.view()).unwrap(), gy, "{name}: adjoint repeats exactly");
            }
        }
    }

    #[test]
    fn emulated_back_projection_matches_the_cpu() {
        for (name, grid, geometry) in cases() {
            let (rows, cols) = geometry.detector_shape();
            let maps: Vec<ViewMap> = geometry
                .frames()
                .iter()
                .map(|f| ViewMap::new(f, rows, cols).with_margin(3.0))
                .collect();
            let weights: Vec<f64> = (0..maps.len()).map(|v| 0.5 + v as f64 / 7.0).collect();
            let q = random(&[maps.len(), rows, cols + 6], 5)
                .into_dimensionality::<ndarray::Ix3>()
                .unwrap();
            let cpu = crate::backproject::backproject(&grid, &maps, &weights, q.view());
            let plane = grid.shape[1] * grid.shape[2];
            for memory in [1usize << 30, 2 * (q.len() * 4 + 5 * plane * 4)] {
                let emu = Emulated::new(memory);
                let gpu = backproject_with(&emu, &grid, &maps, &weights, q.view()).unwrap();
                let e = relative(&gpu, &cpu);
                assert!(e < 1e-5, "{name}, {memory} bytes: relative error {e:e}");
            }
        }
    }
}
