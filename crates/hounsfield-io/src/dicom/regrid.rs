//! Resampling stacks that are not regular grids onto regular ones, when asked: slices with gaps
//! (uneven spacing) interpolated along the normal, and gantry-tilted (sheared) stacks
//! de-sheared slice by slice. Both interpolate linearly and return f32.

use hounsfield_core::{Geometry, Volume};

/// Resamples slices lying at `along[k]` mm along the slice normal (increasing) onto uniform
/// spacing: the smallest gap, adjusted so the first and last slices are kept as they are.
/// Each new slice is the linear blend of the two acquired slices around it. `geometry` is that
/// of the acquired stack (its third spacing is replaced).
pub fn fill_gaps(
    stack: &Volume<f32>,
    along: &[f64],
    geometry: &Geometry,
) -> hounsfield_core::Result<Volume<f32>> {
    let [nz, ny, nx] = stack.shape();
    debug_assert_eq!(along.len(), nz);
    let smallest = along.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
    let extent = along[nz - 1] - along[0];
    let count = ((extent / smallest).round() as usize).saturating_add(1);
    let dz = extent / (count - 1) as f64;
    let plane = ny * nx;
    // Positions a hair apart and far apart would ask for millions of slices: bound it first.
    hounsfield_core::volume::checked_len(&[count, plane], 4, 16 << 30)?;
    let src = stack.as_slice();
    let mut out = Vec::with_capacity(count * plane);
    let mut k = 0;
    for m in 0..count {
        let s = along[0] + m as f64 * dz;
        while k + 2 < nz && along[k + 1] <= s {
            k += 1;
        }
        let w = ((s - along[k]) / (along[k + 1] - along[k])).clamp(0.0, 1.0) as f32;
        let (a, b) = (&src[k * plane..(k + 1) * plane], &src[(k + 1) * plane..(k + 2) * plane]);
        out.extend(a.iter().zip(b).map(|(&a, &b)| a + w * (b - a)));
    }
    let spacing = geometry.spacing();
    let g = geometry.clone().with_spacing([spacing[0], spacing[1], dz])?;
    Volume::from_vec([count, ny, nx], out, g)
}

/// De-shears a gantry-tilted stack whose slice `k` lies at `positions[k]` (mm, LPS), with
/// in-plane axes `row` (column index) and `col` (row index) at `spacing` [x, y] mm. The result
/// is an orthogonal grid (row, col, normal) whose slice k is the plane of acquired slice k; the
/// plane is widened by whole voxels to hold every slice's shifted field of view, and samples
/// outside the acquired field of view get `fill`. Acquired slice 0 lands on the grid unchanged.
/// The slice spacing is that between the first two slices; [`fill_gaps`] evens out the rest.
pub fn deshear(
    stack: &Volume<f32>,
    positions: &[[f64; 3]],
    axes: [[f64; 3]; 3],
    spacing: [f64; 2],
    fill: f32,
) -> hounsfield_core::Result<Volume<f32>> {
    let [nz, ny, nx] = stack.shape();
    let [row, col, normal] = axes;
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let p0 = positions[0];
    let offset = |k: usize| [0, 1, 2].map(|r| positions[k][r] - p0[r]);
    // In-plane shift of each slice, in voxels.
    let shifts: Vec<(f64, f64)> = (0..nz)
        .map(|k| (dot(offset(k), row) / spacing[0], dot(offset(k), col) / spacing[1]))
        .collect();
    let lo = |f: fn(&(f64, f64)) -> f64| shifts.iter().map(f).fold(0.0, f64::min).floor();
    let hi = |f: fn(&(f64, f64)) -> f64| shifts.iter().map(f).fold(0.0, f64::max).ceil();
    let (x0, x1, y0, y1) = (lo(|s| s.0), hi(|s| s.0), lo(|s| s.1), hi(|s| s.1));
    let (mx, my) = (nx.saturating_add((x1 - x0) as usize), ny.saturating_add((y1 - y0) as usize));
    // A lateral shift of absurd size would widen the plane without bound: check first.
    hounsfield_core::volume::checked_len(&[nz, my, mx], 4, 16 << 30)?;
    let src = stack.as_slice();
    let mut out = Vec::with_capacity(nz * my * mx);
    for (k, (sx, sy)) in shifts.iter().enumerate() {
        let slice = &src[k * ny * nx..(k + 1) * ny * nx];
        let (dx, dy) = (x0 - sx, y0 - sy);
        for j in 0..my {
            let v = j as f64 + dy;
            for i in 0..mx {
                out.push(bilinear(slice, nx, ny, i as f64 + dx, v, fill));
            }
        }
    }
    let dz = if nz > 1 { dot(offset(1), normal) } else { 1.0 };
    let o = [0, 1, 2].map(|r| p0[r] + x0 * spacing[0] * row[r] + y0 * spacing[1] * col[r]);
    let direction = [0, 1, 2].map(|r| [row[r], col[r], normal[r]]);
    let geometry = Geometry::new([spacing[0], spacing[1], dz], o, direction)?;
    Volume::from_vec([nz, my, mx], out, geometry)
}

/// Bilinear sample of a ny x nx plane at (u, v) (column, row), `fill` outside it.
fn bilinear(plane: &[f32], nx: usize, ny: usize, u: f64, v: f64, fill: f32) -> f32 {
    const EDGE: f64 = 1e-6;
    if u < -EDGE || v < -EDGE || u > (nx - 1) as f64 + EDGE || v > (ny - 1) as f64 + EDGE {
        return fill;
    }
    let (u, v) = (u.clamp(0.0, (nx - 1) as f64), v.clamp(0.0, (ny - 1) as f64));
    let (i, j) = (
        (u.floor() as usize).min(nx.saturating_sub(2)),
        (v.floor() as usize).min(ny.saturating_sub(2)),
    );
    let (fu, fv) = ((u - i as f64) as f32, (v - j as f64) as f32);
    let at = |i: usize, j: usize| plane[j.min(ny - 1) * nx + i.min(nx - 1)];
    let top = at(i, j) + fu * (at(i + 1, j) - at(i, j));
    let bottom = at(i, j + 1) + fu * (at(i + 1, j + 1) - at(i, j + 1));
    top + fv * (bottom - top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(nz: usize, ny: usize, nx: usize, g: Geometry) -> Volume<f32> {
        let v =
            (0..nz * ny * nx).map(|i| (i / (ny * nx)) as f32 * 10.0 + (i % nx) as f32).collect();
        Volume::from_vec([nz, ny, nx], v, g).unwrap()
    }

    #[test]
    fn a_missing_slice_is_the_mean_of_its_neighbours() {
        let g = Geometry::axis_aligned([1.0, 1.0, 5.0], [0.0; 3]).unwrap();
        let stack = ramp(4, 2, 3, g.clone());
        // Acquired at 0, 5, 10, 20 mm: the slice at 15 mm is missing.
        let out = fill_gaps(&stack, &[0.0, 5.0, 10.0, 20.0], &g).unwrap();
        assert_eq!(out.shape(), [5, 2, 3]);
        assert_eq!(out.geometry().spacing(), [1.0, 1.0, 5.0]);
        let at = |z: usize| out.data()[[z, 1, 2]];
        assert_eq!([at(0), at(1), at(2), at(3), at(4)], [2.0, 12.0, 22.0, 27.0, 32.0]);
    }

    /// Absurd positions are refused before anything is allocated.
    #[test]
    fn absurd_grids_are_errors_not_allocations() {
        let g = Geometry::default();
        let stack = ramp(3, 2, 4, g.clone());
        assert!(fill_gaps(&stack, &[0.0, 1e-3, 1e12], &g).is_err());
        let axes = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let far = [[0.0; 3], [1e15, 0.0, 1.0], [2e15, 0.0, 2.0]];
        assert!(deshear(&stack, &far, axes, [1.0, 1.0], 0.0).is_err());
    }

    #[test]
    fn deshearing_shifts_each_slice_by_its_lateral_offset() {
        // Slices step 2 mm along z and 1 mm along x (+row): 1 voxel per slice at 1 mm spacing.
        let g = Geometry::default();
        let stack = ramp(3, 2, 4, g);
        let axes = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
        let positions = [[0.0, 0.0, 0.0], [1.0, 0.0, 2.0], [2.0, 0.0, 4.0]];
        let out = deshear(&stack, &positions, axes, [1.0, 1.0], -1.0).unwrap();
        assert_eq!(out.shape(), [3, 2, 6], "two extra columns hold the shift");
        assert_eq!(out.geometry().spacing()[2], 2.0);
        // Slice 2 starts two voxels to the right: its first acquired column is at x = 2.
        assert_eq!(out.data()[[2, 0, 2]], 20.0);
        assert_eq!(out.data()[[2, 0, 1]], -1.0, "outside the field of view");
        assert_eq!(out.data()[[0, 0, 3]], 3.0);
        assert_eq!(out.data()[[0, 0, 4]], -1.0);
    }
}
