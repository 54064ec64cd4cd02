//! Voxel-driven back-projection of filtered projections (the back-projection step of FBP and
//! FDK) on the GPU; hounsfield-ct fills [`VoxelMaps`] from its view maps. Each voxel gathers from
//! every view in one thread, so results repeat exactly.

use crate::device::int;
use crate::emulate::Arg;
use crate::grid::{GridSpec, slab_depth};
use crate::kernels::BACKPROJECT;
use crate::launcher::Launcher;
use crate::projector::take_f32;
use crate::{Error, Result};

/// Parameters per view (13 doubles: see `kernels/backproject.cu`).
pub type MapParams = [f64; 13];

/// Map kind: projective (flat detectors, parallel or diverging).
pub const PROJECTIVE: f64 = 0.0;
/// Map kind: equiangular arc.
pub const ARC: f64 = 1.0;

/// How each view maps voxels onto its detector, and its weight.
#[derive(Clone, Debug, PartialEq)]
pub struct VoxelMaps {
    /// One map per view.
    pub maps: Vec<MapParams>,
    /// One weight per view (angular integration, scaling).
    pub weights: Vec<f64>,
    /// Detector rows of the filtered projections (1 in 2D).
    pub rows: usize,
    /// Columns of the filtered projections (margins included).
    pub cols: usize,
}

/// `sum_v weight_v * distance_v(x) * q_v(col_v(x), row_v(x))` for every voxel centre, C order
/// `[nz, ny, nx]`; `q` is `[views, rows, cols]`.
pub fn backproject(
    gpu: &dyn Launcher,
    maps: &VoxelMaps,
    grid: &GridSpec,
    q: &[f32],
) -> Result<Vec<f32>> {
    gpu.start_timing();
    grid.validate()?;
    let views = maps.maps.len();
    if views == 0
        || maps.weights.len() != views
        || q.len() != views * maps.rows * maps.cols
        || maps.maps.iter().flatten().chain(&maps.weights).any(|v| !v.is_finite())
    {
        return Err(Error::Invalid(format!(
            "{views} maps, {} weights and {} values for {} x {} detectors do not agree (or are not finite)",
            maps.weights.len(),
            q.len(),
            maps.rows,
            maps.cols
        )));
    }
    let plane = grid.n[0] * grid.n[1];
    let depth = slab_depth(grid.n[2], plane * 4, q.len() * 4, gpu.free_memory()?)?;
    let (nv, rows, cols) = (int(views, "views")?, int(maps.rows, "rows")?, int(maps.cols, "cols")?);
    let mut image = vec![0.0f32; grid.len()];
    for z0 in (0..grid.n[2]).step_by(depth) {
        let d = depth.min(grid.n[2] - z0);
        let (gi, gd) = grid.slab(z0, d).kernel_args()?;
        let mut args = [
            Arg::F64s(maps.maps.as_flattened().to_vec()),
            Arg::F64s(maps.weights.clone()),
            Arg::I32(nv),
            Arg::I32(rows),
            Arg::I32(cols),
            Arg::F32s(q.to_vec()),
            Arg::I32s(gi[..3].to_vec()),
            Arg::F64s(gd.to_vec()),
            Arg::F32s(vec![0.0; d * plane]),
        ];
        gpu.launch(&BACKPROJECT, "backproject", d * plane, &mut args, &[8])?;
        image[z0 * plane..(z0 + d) * plane].copy_from_slice(&take_f32(&mut args[8]));
    }
    Ok(image)
}
