//! A second image of a command (labels to overlay, a reference to score against) must lie on
//! the first image's grid: voxel (i, j, k) of one is compared with voxel (i, j, k) of the other.
//! The same grid stored in another axis order (a NIfTI written by another tool, slices reversed)
//! is reoriented to match, exactly; any other grid is refused, never compared index by index.

use std::path::Path;

use anyhow::{Result, bail};
use hounsfield_core::{Element, Geometry, Volume};

/// Voxel centres closer than this (mm) are the same.
const SAME_MM: f64 = 1e-3;

/// `second` (read from `second_path`) on `grid`, the grid of the image read from `first_path`.
pub fn on_grid_of<T: Element>(
    second: Volume<T>,
    grid: (&Geometry, [usize; 3]),
    second_path: &Path,
    first_path: &Path,
) -> Result<Volume<T>> {
    let (geometry, shape) = grid;
    if second.shape() == shape && second.geometry().approx_eq(geometry, SAME_MM) {
        return Ok(second);
    }
    let reoriented = hounsfield_filter::reshape::reorient(&second, &geometry.orientation_code())?;
    if reoriented.shape() == shape && reoriented.geometry().approx_eq(geometry, SAME_MM) {
        return Ok(reoriented);
    }
    bail!(
        "{} lies on another grid than {} ({:?} voxels of {:?} mm at {:?}, {} against {:?} voxels of {:?} mm at {:?}, {}): resample it onto that grid first",
        second_path.display(),
        first_path.display(),
        second.shape(),
        second.geometry().spacing(),
        second.geometry().origin(),
        second.geometry().orientation_code(),
        shape,
        geometry.spacing(),
        geometry.origin(),
        geometry.orientation_code()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_grid_in_another_order_is_reoriented_and_another_grid_refused() {
        let g = Geometry::axis_aligned([1.0, 2.0, 3.0], [-5.0, 4.0, 10.0]).unwrap();
        let v =
            Volume::from_vec([2, 3, 4], (0..24).map(|i| i as f32).collect(), g.clone()).unwrap();
        let flipped = hounsfield_filter::reshape::flip(&v, [true, false, true]).unwrap();
        let (a, b) = (Path::new("a.nii"), Path::new("b.nii"));
        let back = on_grid_of(flipped, (&g, v.shape()), b, a).unwrap();
        assert_eq!(back.data(), v.data());
        let moved = Geometry::axis_aligned([1.0, 2.0, 3.0], [-4.0, 4.0, 10.0]).unwrap();
        let other = Volume::from_vec([2, 3, 4], vec![0.0f32; 24], moved).unwrap();
        let err = on_grid_of(other, (&g, v.shape()), b, a).unwrap_err().to_string();
        assert!(err.contains("b.nii") && err.contains("another grid"), "{err}");
    }
}
