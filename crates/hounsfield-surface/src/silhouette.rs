//! A silhouette (which pixels see the object) and its signed distance to the outline.

use hounsfield_core::distance::squared_edt;
use hounsfield_core::{Error, Result};
use ndarray::Array3;

/// Which pixels of a picture see the object, row by row from the top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Silhouette {
    width: usize,
    height: usize,
    inside: Vec<bool>,
}

impl Silhouette {
    /// A `width x height` silhouette; `inside` holds `width * height` flags, rows from the top.
    pub fn new(width: usize, height: usize, inside: Vec<bool>) -> Result<Self> {
        if width == 0 || height == 0 || width.checked_mul(height) != Some(inside.len()) {
            return Err(Error::ShapeMismatch {
                what: "silhouette",
                expected: vec![height, width],
                found: vec![inside.len()],
            });
        }
        Ok(Silhouette { width, height, inside })
    }

    /// Picture width.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Picture height.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Whether pixel `(column, row)` sees the object.
    pub fn get(&self, x: usize, y: usize) -> bool {
        self.inside[y * self.width + x]
    }

    /// Pixels that see the object.
    pub fn count(&self) -> usize {
        self.inside.iter().filter(|&&i| i).count()
    }

    /// Whether any pixel on the picture's edge sees the object (it may extend beyond).
    pub fn touches_border(&self) -> bool {
        let (w, h) = (self.width, self.height);
        (0..w).any(|x| self.get(x, 0) || self.get(x, h - 1))
            || (0..h).any(|y| self.get(0, y) || self.get(w - 1, y))
    }

    /// Signed distance in pixels from each pixel centre to the outline, positive inside: the
    /// outline runs half way between an inside and an outside pixel centre.
    pub fn signed_distance(&self) -> Result<Vec<f32>> {
        let shape = (1, self.height, self.width);
        let inside = Array3::from_shape_vec(shape, self.inside.clone())
            .map_err(|e| Error::param("silhouette", e.to_string()))?;
        let outside = inside.mapv(|i| !i);
        let to_outside = squared_edt(outside.view(), [1.0; 3])?;
        let to_inside = squared_edt(inside.view(), [1.0; 3])?;
        Ok(self
            .inside
            .iter()
            .zip(to_outside.iter().zip(to_inside.iter()))
            .map(|(&i, (o, n))| if i { (o.sqrt() - 0.5) as f32 } else { (0.5 - n.sqrt()) as f32 })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outline_lies_half_way_between_pixel_centres() {
        // A 3-pixel bar in the middle row of a 9 x 3 picture.
        let inside: Vec<bool> = (0..27).map(|k| k / 9 == 1 && (3..6).contains(&(k % 9))).collect();
        let s = Silhouette::new(9, 3, inside).expect("silhouette");
        let d = s.signed_distance().expect("distance");
        assert_eq!(d[9..18], [-2.5, -1.5, -0.5, 0.5, 0.5, 0.5, -0.5, -1.5, -2.5]);
        assert_eq!(d[4], -0.5);
        assert!((d[0] - (0.5 - 10f32.sqrt())).abs() < 1e-6);
        assert!(!s.touches_border() && s.count() == 3);
        assert!(Silhouette::new(9, 2, vec![false; 9]).is_err());
        let full = Silhouette::new(2, 2, vec![true; 4]).expect("full");
        assert!(full.touches_border() && full.signed_distance().is_err());
    }
}
