//! Surface distances between masks, in millimetres.
//!
//! Definition (MONAI's `compute_hausdorff_distance`, `directed=False`): the border of a mask is
//! its voxels with at least one of the 6 face neighbours outside the mask (outside the array
//! counts as outside). For each border voxel of A, its distance to the nearest border voxel of B
//! gives the directed distances A->B, and likewise B->A. The percentile Hausdorff distance is the
//! larger of the two directed percentiles (numpy's linear interpolation). The grid is treated as
//! orthogonal with the reference volume's spacing.

use ndarray::{Array3, s};

use crate::distance::squared_edt;
use crate::element::Element;
use crate::error::{Error, Result};
use crate::volume::Volume;

/// 95th-percentile Hausdorff distance (HD95) in mm between two masks (non-zero = inside).
pub fn hausdorff95<A: Element, B: Element>(reference: &Volume<A>, test: &Volume<B>) -> Result<f64> {
    hausdorff_percentile(reference, test, 95.0)
}

/// Percentile Hausdorff distance in mm; `percentile = 100` is the classic Hausdorff distance.
/// An empty mask has no surface and is an error.
pub fn hausdorff_percentile<A: Element, B: Element>(
    reference: &Volume<A>,
    test: &Volume<B>,
    percentile: f64,
) -> Result<f64> {
    reference.check_same_shape(test, "test mask")?;
    if !(0.0..=100.0).contains(&percentile) {
        return Err(Error::param("percentile", format!("must be in [0, 100], found {percentile}")));
    }
    let spacing = reference.geometry().spacing();
    let other = test.geometry().spacing();
    if (0..3).any(|i| (spacing[i] - other[i]).abs() > 1e-6 * spacing[i]) {
        return Err(Error::InvalidGeometry(format!(
            "masks must share their spacing, found {spacing:?} and {other:?}"
        )));
    }
    let border_a = border(reference);
    let border_b = border(test);
    for (b, name) in [(&border_a, "reference mask"), (&border_b, "test mask")] {
        if !b.iter().any(|&v| v) {
            return Err(Error::Empty(format!("{name} has no voxels, so no surface to measure")));
        }
    }
    // Distances only ever run between border voxels, so the union's bounding box suffices.
    let (lo, hi) = bounding_box(&border_a, &border_b);
    let crop = s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]];
    let (ca, cb) = (border_a.slice(crop), border_b.slice(crop));
    let to_b = squared_edt(cb, spacing)?;
    let to_a = squared_edt(ca, spacing)?;
    let directed = |from: &ndarray::ArrayView3<'_, bool>, dist: &Array3<f64>| {
        let d: Vec<f64> =
            from.iter().zip(dist.iter()).filter(|(f, _)| **f).map(|(_, d)| d.sqrt()).collect();
        linear_percentile(d, percentile)
    };
    Ok(directed(&ca, &to_b).max(directed(&cb, &to_a)))
}

/// Voxels of the mask with a face neighbour outside it.
fn border<T: Element>(mask: &Volume<T>) -> Array3<bool> {
    let m = mask.data().mapv(|v| v.to_f64() != 0.0);
    let (nz, ny, nx) = m.dim();
    Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        if !m[[z, y, x]] {
            return false;
        }
        let inside = |dz: isize, dy: isize, dx: isize| {
            let (zz, yy, xx) = (z as isize + dz, y as isize + dy, x as isize + dx);
            zz >= 0
                && yy >= 0
                && xx >= 0
                && (zz as usize) < nz
                && (yy as usize) < ny
                && (xx as usize) < nx
                && m[[zz as usize, yy as usize, xx as usize]]
        };
        ![(-1, 0, 0), (1, 0, 0), (0, -1, 0), (0, 1, 0), (0, 0, -1), (0, 0, 1)]
            .iter()
            .all(|&(dz, dy, dx)| inside(dz, dy, dx))
    })
}

/// Half-open bounding box `[lo, hi)` of the `true` voxels of either array.
fn bounding_box(a: &Array3<bool>, b: &Array3<bool>) -> ([usize; 3], [usize; 3]) {
    let mut lo = [usize::MAX; 3];
    let mut hi = [0; 3];
    for (((z, y, x), &p), &q) in a.indexed_iter().zip(b.iter()) {
        if !(p || q) {
            continue;
        }
        for (k, v) in [z, y, x].into_iter().enumerate() {
            lo[k] = lo[k].min(v);
            hi[k] = hi[k].max(v + 1);
        }
    }
    (lo, hi)
}

/// numpy's default (`method="linear"`) percentile of a non-empty sample.
fn linear_percentile(mut values: Vec<f64>, percentile: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let h = (values.len() - 1) as f64 * percentile / 100.0;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(values.len() - 1);
    values[lo] + (h - lo as f64) * (values[hi] - values[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_percentile_interpolates_linearly() {
        let v = vec![4.0, 1.0, 3.0, 2.0];
        assert_eq!(linear_percentile(v.clone(), 0.0), 1.0);
        assert_eq!(linear_percentile(v.clone(), 100.0), 4.0);
        assert!((linear_percentile(v.clone(), 50.0) - 2.5).abs() < 1e-15);
        assert!((linear_percentile(v, 95.0) - 3.85).abs() < 1e-12);
    }
}
