//! Binary morphology with structuring elements sized in millimetres, and hole filling.
//!
//! A ball of radius r holds the voxel offsets whose physical length is at most r (so it follows
//! anisotropic spacing); a box holds the offsets within r along each axis. Dilation by a ball
//! is a threshold of the exact Euclidean distance to the mask, erosion the same on the
//! background: no structuring element is ever iterated voxel by voxel. As scipy.ndimage's
//! `binary_erosion` (border_value 0), the outside of the volume counts as background.

use hounsfield_core::distance::squared_edt;
use hounsfield_core::{Element, Error, Result, Volume};

use crate::label::{Connectivity, label};

/// The shape of a structuring element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Element3 {
    /// Offsets of physical length <= radius.
    Ball,
    /// Offsets within radius along every axis.
    Box,
    /// Offsets along one axis only, within radius (the 6-neighbour cross for 1 voxel).
    Cross,
}

/// Dilates the non-zero voxels of `mask` by `element` of `radius_mm`: 1 where any voxel of the
/// mask lies within the element centred there.
pub fn dilate<T: Element>(
    mask: &Volume<T>,
    element: Element3,
    radius_mm: f64,
) -> Result<Volume<u8>> {
    check_radius(radius_mm)?;
    let on = to_bool(mask);
    let out = match element {
        Element3::Ball => within_ball(&on, mask, radius_mm)?,
        Element3::Box => box_max(&on, mask, radius_mm, false),
        Element3::Cross => box_max(&on, mask, radius_mm, true),
    };
    Volume::from_vec(mask.shape(), out.into_iter().map(u8::from).collect(), mask.geometry().clone())
}

/// Erodes `mask` by `element` of `radius_mm`: 1 where the element centred there lies entirely
/// inside the mask (and inside the volume).
pub fn erode<T: Element>(
    mask: &Volume<T>,
    element: Element3,
    radius_mm: f64,
) -> Result<Volume<u8>> {
    check_radius(radius_mm)?;
    let off: Vec<bool> = to_bool(mask).into_iter().map(|b| !b).collect();
    // Erosion is the complement of the background's dilation, with the outside as background.
    let grown = match element {
        Element3::Ball => within_ball(&off, mask, radius_mm)?,
        Element3::Box => box_max(&off, mask, radius_mm, false),
        Element3::Cross => box_max(&off, mask, radius_mm, true),
    };
    let reach = near_border(mask, element, radius_mm);
    let out: Vec<u8> = grown.iter().zip(&reach).map(|(&g, &b)| u8::from(!g && !b)).collect();
    Volume::from_vec(mask.shape(), out, mask.geometry().clone())
}

/// Opening: erosion then dilation (removes specks smaller than the element).
pub fn open<T: Element>(mask: &Volume<T>, element: Element3, radius_mm: f64) -> Result<Volume<u8>> {
    dilate(&erode(mask, element, radius_mm)?, element, radius_mm)
}

/// Closing: dilation then erosion (bridges gaps smaller than the element).
pub fn close<T: Element>(
    mask: &Volume<T>,
    element: Element3,
    radius_mm: f64,
) -> Result<Volume<u8>> {
    erode(&dilate(mask, element, radius_mm)?, element, radius_mm)
}

/// Grayscale erosion: the minimum over the box of `radius_mm` (whole voxels per axis), edges
/// reflected (scipy's `grey_erosion(size = 2r + 1)` with mode "reflect").
pub fn grey_erode<T: Element>(volume: &Volume<T>, radius_mm: [f64; 3]) -> Result<Volume<T>> {
    let radius = crate::rank::voxel_radius(volume, radius_mm)?;
    crate::rank::rank_filter(volume, radius, 0, crate::Boundary::Reflect)
}

/// Grayscale dilation: the maximum over the box of `radius_mm`.
pub fn grey_dilate<T: Element>(volume: &Volume<T>, radius_mm: [f64; 3]) -> Result<Volume<T>> {
    let radius = crate::rank::voxel_radius(volume, radius_mm)?;
    let window = radius.iter().map(|r| 2 * r + 1).product::<usize>();
    crate::rank::rank_filter(volume, radius, window - 1, crate::Boundary::Reflect)
}

/// Fills the holes of `mask`: background regions (6-connected) that do not touch the border of
/// the volume become foreground, as scipy.ndimage.binary_fill_holes does.
pub fn fill_holes<T: Element>(mask: &Volume<T>) -> Result<Volume<u8>> {
    let background = mask.map(|v| u8::from(v == T::default()));
    let labels = label(&background, Connectivity::Six)?;
    let [nz, ny, nx] = mask.shape();
    let mut touches = vec![false; labels.count as usize + 1];
    for ((z, y, x), &l) in labels.volume.data().indexed_iter() {
        if z == 0 || y == 0 || x == 0 || z == nz - 1 || y == ny - 1 || x == nx - 1 {
            touches[l as usize] = true;
        }
    }
    Ok(labels.volume.map(|l| u8::from(l == 0 || !touches[l as usize])))
}

fn check_radius(radius_mm: f64) -> Result<()> {
    if radius_mm.is_finite() && radius_mm >= 0.0 {
        Ok(())
    } else {
        Err(Error::param("radius", format!("must be finite and >= 0 mm, got {radius_mm}")))
    }
}

fn to_bool<T: Element>(mask: &Volume<T>) -> Vec<bool> {
    mask.as_slice().iter().map(|&v| v != T::default()).collect()
}

/// Whether each voxel lies within the ball of `radius_mm` around some `on` voxel.
fn within_ball<T: Element>(on: &[bool], like: &Volume<T>, radius_mm: f64) -> Result<Vec<bool>> {
    if !on.iter().any(|&b| b) {
        return Ok(vec![false; on.len()]);
    }
    let features = ndarray::Array3::from_shape_vec(like.shape(), on.to_vec())
        .map_err(|e| Error::param("mask", e.to_string()))?;
    let d2 = squared_edt(features.view(), like.geometry().spacing())?;
    // A hair of slack so that offsets of exactly the radius count despite rounding.
    let r2 = radius_mm * radius_mm * (1.0 + 1e-12);
    Ok(d2.iter().map(|&d| d <= r2).collect())
}

/// Whether each voxel lies within the box of half-size `radius_mm` around some `on` voxel:
/// three passes of a running maximum (any) along x, y and z, one after the other; for the
/// `cross`, each pass starts from the mask and the three are joined.
fn box_max<T: Element>(on: &[bool], like: &Volume<T>, radius_mm: f64, cross: bool) -> Vec<bool> {
    let [nz, ny, nx] = like.shape();
    let spacing = like.geometry().spacing();
    let reach = [0, 1, 2].map(|k| (radius_mm / spacing[k] * (1.0 + 1e-12)).floor() as usize);
    let strides = [1, nx, nx * ny];
    let sizes = [nx, ny, nz];
    let mut cur = on.to_vec();
    let mut joined = on.to_vec();
    for k in 0..3 {
        if reach[k] == 0 {
            continue;
        }
        let from = if cross { on } else { &cur[..] };
        let mut next = vec![false; cur.len()];
        // Along each line, a prefix count tells whether any voxel in a window is on: O(n)
        // whatever the radius.
        let (n, stride) = (sizes[k], strides[k]);
        let mut prefix = vec![0u32; n + 1];
        let starts = (0..cur.len()).filter(|i| (i / stride) % n == 0);
        for base in starts {
            for p in 0..n {
                prefix[p + 1] = prefix[p] + u32::from(from[base + p * stride]);
            }
            for p in 0..n {
                let (lo, hi) = (p.saturating_sub(reach[k]), (p + reach[k]).min(n - 1));
                next[base + p * stride] = prefix[hi + 1] > prefix[lo];
            }
        }
        if cross {
            joined.iter_mut().zip(&next).for_each(|(j, &n)| *j |= n);
        }
        cur = next;
    }
    if cross { joined } else { cur }
}

/// Whether the element centred at each voxel reaches outside the volume.
fn near_border<T: Element>(like: &Volume<T>, element: Element3, radius_mm: f64) -> Vec<bool> {
    let [nz, ny, nx] = like.shape();
    let s = like.geometry().spacing();
    let slack = 1.0 + 1e-12;
    let mut out = Vec::with_capacity(nz * ny * nx);
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                // Distance to the nearest voxel centre just outside, along each axis.
                let gaps = [
                    (x.min(nx - 1 - x) + 1) as f64 * s[0],
                    (y.min(ny - 1 - y) + 1) as f64 * s[1],
                    (z.min(nz - 1 - z) + 1) as f64 * s[2],
                ];
                let nearest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
                out.push(match element {
                    // The ball reaches the outside voxel straight along the closest axis.
                    Element3::Ball | Element3::Box | Element3::Cross => {
                        nearest <= radius_mm * slack
                    }
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    fn dot(shape: [usize; 3], at: [usize; 3], spacing: [f64; 3]) -> Volume<u8> {
        let g = Geometry::axis_aligned(spacing, [0.0; 3]).unwrap();
        let mut v = Volume::zeros(shape, g).unwrap();
        v.view_mut()[at] = 1;
        v
    }

    #[test]
    fn a_dilated_point_is_a_ball_in_millimetres() {
        // 1 x 1 x 2 mm voxels, radius 2 mm: 1 + 2 in z, radius 2 in x and y.
        let m = dot([7, 9, 9], [3, 4, 4], [1.0, 1.0, 2.0]);
        let d = dilate(&m, Element3::Ball, 2.0).unwrap();
        for ((z, y, x), &v) in d.data().indexed_iter() {
            let (dz, dy, dx) = (2.0 * (z as f64 - 3.0), y as f64 - 4.0, x as f64 - 4.0);
            let want = dz * dz + dy * dy + dx * dx <= 4.0;
            assert_eq!(v == 1, want, "({z},{y},{x})");
        }
        let b = dilate(&m, Element3::Box, 2.0).unwrap();
        assert_eq!(b.as_slice().iter().filter(|&&v| v == 1).count(), 3 * 5 * 5);
        // The cross: 2 voxels either way along x and y, 1 along z, plus the centre.
        let c = dilate(&m, Element3::Cross, 2.0).unwrap();
        assert_eq!(c.as_slice().iter().filter(|&&v| v == 1).count(), 1 + 4 + 4 + 2);
    }

    #[test]
    fn erosion_undoes_dilation_away_from_the_border_and_closing_fills_a_gap() {
        let m = dot([9, 9, 9], [4, 4, 4], [1.0; 3]);
        let grown = dilate(&m, Element3::Ball, 2.0).unwrap();
        let back = erode(&grown, Element3::Ball, 2.0).unwrap();
        assert_eq!(back.as_slice(), m.as_slice());
        // The outside counts as background: a full volume erodes from its faces.
        let full = Volume::filled([5, 5, 5], 1u8, Geometry::default()).unwrap();
        let eroded = erode(&full, Element3::Box, 1.0).unwrap();
        assert_eq!(eroded.as_slice().iter().filter(|&&v| v == 1).count(), 27);
        // Two 3 x 3 blocks one voxel apart merge under closing with a 1 mm ball.
        let g = Geometry::default();
        let mut bars = Volume::<u8>::zeros([5, 5, 9], g).unwrap();
        for ((z, y, x), v) in bars.view_mut().indexed_iter_mut() {
            *v = u8::from(
                (1..4).contains(&z) && (1..4).contains(&y) && x != 4 && (1..8).contains(&x),
            );
        }
        let closed = close(&bars, Element3::Ball, 1.0).unwrap();
        assert_eq!(closed.view()[[2, 2, 4]], 1);
        assert!(dilate(&m, Element3::Ball, -1.0).is_err());
    }

    #[test]
    fn holes_are_filled_but_open_cavities_are_not() {
        let g = Geometry::default();
        let mut shell = Volume::<u8>::zeros([5, 5, 7], g).unwrap();
        for ((z, y, x), v) in shell.view_mut().indexed_iter_mut() {
            let border = z == 1 || z == 3 || y == 1 || y == 3 || x == 1 || x == 3;
            *v = u8::from(
                (1..=3).contains(&z) && (1..=3).contains(&y) && (1..=3).contains(&x) && border,
            );
        }
        let filled = fill_holes(&shell).unwrap();
        assert_eq!(filled.view()[[2, 2, 2]], 1, "the enclosed centre");
        assert_eq!(filled.view()[[0, 0, 0]], 0, "the outside");
        assert_eq!(filled.as_slice().iter().filter(|&&v| v == 1).count(), 27);
    }
}
