//! Box (mean) smoothing, gradients in physical units, and unsharp masking.

use hounsfield_core::{Error, Result, Volume};
use rayon::prelude::*;

use crate::boundary::Boundary;
use crate::gaussian::{GaussianOptions, gaussian};

/// Largest box radius (voxels per axis) [`box_mean`] takes.
pub const MAX_BOX_RADIUS: usize = 1 << 16;

/// The mean over the box of `radius` voxels (x, y, z) around each voxel, edges per `boundary`
/// (scipy's `uniform_filter(size = 2r + 1)`). Each axis is a running sum kept in f64, so the
/// cost hardly grows with the radius (up to [`MAX_BOX_RADIUS`]).
pub fn box_mean(
    volume: &Volume<f32>,
    radius: [usize; 3],
    boundary: Boundary,
) -> Result<Volume<f32>> {
    // Each line's first window sums 2r + 1 samples: bounded so that a mistaken radius is an
    // error, not minutes of work (a radius far beyond the volume only repeats its edges).
    if radius.iter().any(|&r| r > MAX_BOX_RADIUS) {
        return Err(Error::param(
            "radius",
            format!("{radius:?} voxels is beyond {MAX_BOX_RADIUS} per axis"),
        ));
    }
    let [nz, ny, nx] = volume.shape();
    let mut data = volume.as_slice().to_vec();
    let c = match boundary {
        Boundary::Constant(c) => c,
        _ => 0.0,
    };
    let plane = ny * nx;
    // x and y: within each plane; z: along columns of each plane position.
    data.par_chunks_mut(plane).for_each(|p| {
        let mut line = vec![0f32; nx.max(ny)];
        for row in p.chunks_mut(nx) {
            line[..nx].copy_from_slice(row);
            running_mean(&line[..nx], row, radius[0], boundary, c);
        }
        for x in 0..nx {
            for y in 0..ny {
                line[y] = p[y * nx + x];
            }
            let mut out = vec![0f32; ny];
            running_mean(&line[..ny], &mut out, radius[1], boundary, c);
            for y in 0..ny {
                p[y * nx + x] = out[y];
            }
        }
    });
    if radius[2] > 0 && nz > 1 {
        let columns: Vec<Vec<f32>> = (0..plane)
            .into_par_iter()
            .map(|i| {
                let line: Vec<f32> = (0..nz).map(|z| data[z * plane + i]).collect();
                let mut out = vec![0f32; nz];
                running_mean(&line, &mut out, radius[2], boundary, c);
                out
            })
            .collect();
        for (i, column) in columns.into_iter().enumerate() {
            for (z, v) in column.into_iter().enumerate() {
                data[z * plane + i] = v;
            }
        }
    }
    Volume::from_vec([nz, ny, nx], data, volume.geometry().clone())
}

/// The mean of each window of `2 r + 1` samples of `line` into `out`.
fn running_mean(line: &[f32], out: &mut [f32], r: usize, b: Boundary, c: f64) {
    if r == 0 {
        out.copy_from_slice(line);
        return;
    }
    let n = line.len();
    let at = |i: isize| b.index(i, n).map_or(c, |i| f64::from(line[i]));
    let width = (2 * r + 1) as f64;
    let mut sum: f64 = (-(r as isize)..=r as isize).map(at).sum();
    for (i, o) in out.iter_mut().enumerate() {
        *o = (sum / width) as f32;
        let i = i as isize;
        sum += at(i + r as isize + 1) - at(i - r as isize);
    }
}

/// The gradient (x, y, z components, per mm) by central differences, one-sided at the edges
/// (numpy.gradient with the spacing, edge_order 1).
pub fn gradient(volume: &Volume<f32>) -> Result<[Volume<f32>; 3]> {
    let [nz, ny, nx] = volume.shape();
    let s = volume.geometry().spacing();
    let v = volume.data();
    let d = |axis: usize| -> Result<Volume<f32>> {
        let n = [nx, ny, nz][axis];
        let mut out = vec![0f32; v.len()];
        if n > 1 {
            out.par_chunks_mut(nx).enumerate().for_each(|(row, values)| {
                let (z, y) = (row / ny, row % ny);
                for (x, o) in values.iter_mut().enumerate() {
                    let pos = [x, y, z][axis];
                    let (lo, hi) = (pos.saturating_sub(1), (pos + 1).min(n - 1));
                    let at = |p: usize| {
                        let mut i = [x, y, z];
                        i[axis] = p;
                        f64::from(v[[i[2], i[1], i[0]]])
                    };
                    *o = ((at(hi) - at(lo)) / ((hi - lo) as f64 * s[axis])) as f32;
                }
            });
        }
        Volume::from_vec([nz, ny, nx], out, volume.geometry().clone())
    };
    Ok([d(0)?, d(1)?, d(2)?])
}

/// The length of the gradient (per mm); with `sigma_mm`, of the Gaussian-smoothed volume.
pub fn gradient_magnitude(volume: &Volume<f32>, sigma_mm: Option<f64>) -> Result<Volume<f32>> {
    let smoothed;
    let source = match sigma_mm {
        Some(s) => {
            smoothed = gaussian(volume, &GaussianOptions::new(s))?;
            &smoothed
        }
        None => volume,
    };
    let [gx, gy, gz] = gradient(source)?;
    let out: Vec<f32> = gx
        .as_slice()
        .iter()
        .zip(gy.as_slice())
        .zip(gz.as_slice())
        .map(|((x, y), z)| (x * x + y * y + z * z).sqrt())
        .collect();
    Volume::from_vec(volume.shape(), out, volume.geometry().clone())
}

/// Unsharp masking: `v + amount * (v - gaussian(v, sigma_mm))`, sharpening edges finer than
/// sigma.
pub fn unsharp_mask(volume: &Volume<f32>, sigma_mm: f64, amount: f64) -> Result<Volume<f32>> {
    if !amount.is_finite() {
        return Err(Error::param("amount", format!("must be finite, got {amount}")));
    }
    let blurred = gaussian(volume, &GaussianOptions::new(sigma_mm))?;
    let a = amount as f32;
    let out: Vec<f32> =
        volume.as_slice().iter().zip(blurred.as_slice()).map(|(&v, &b)| v + a * (v - b)).collect();
    Volume::from_vec(volume.shape(), out, volume.geometry().clone())
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    #[test]
    fn the_gradient_of_a_linear_ramp_is_its_slope_in_mm() {
        let g = Geometry::axis_aligned([0.5, 2.0, 4.0], [0.0; 3]).unwrap();
        let v: Vec<f32> = (0..4 * 5 * 6)
            .map(|i| {
                let (z, y, x) = ((i / 30) as f32, ((i / 6) % 5) as f32, (i % 6) as f32);
                3.0 * 0.5 * x - 2.0 * 2.0 * y + 0.25 * 4.0 * z
            })
            .collect();
        let vol = Volume::from_vec([4, 5, 6], v, g).unwrap();
        let [gx, gy, gz] = gradient(&vol).unwrap();
        assert!(gx.as_slice().iter().all(|&d| (d - 3.0).abs() < 1e-5));
        assert!(gy.as_slice().iter().all(|&d| (d + 2.0).abs() < 1e-5));
        assert!(gz.as_slice().iter().all(|&d| (d - 0.25).abs() < 1e-5));
        let m = gradient_magnitude(&vol, None).unwrap();
        let want = (9.0f32 + 4.0 + 0.0625).sqrt();
        assert!(m.as_slice().iter().all(|&d| (d - want).abs() < 1e-4));
    }

    #[test]
    fn box_mean_of_a_constant_and_unsharp_of_a_constant_change_nothing() {
        let flat = Volume::filled([5, 6, 7], 2.5f32, Geometry::default()).unwrap();
        let m = box_mean(&flat, [2, 1, 3], Boundary::Reflect).unwrap();
        assert!(m.as_slice().iter().all(|&v| (v - 2.5).abs() < 1e-6));
        let u = unsharp_mask(&flat, 1.0, 1.5).unwrap();
        assert!(u.as_slice().iter().all(|&v| (v - 2.5).abs() < 1e-5));
    }
}
