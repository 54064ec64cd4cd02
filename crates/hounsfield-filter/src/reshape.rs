//! Geometry-preserving reshaping: crop, pad, flip, permute, and reorientation to a canonical
//! orientation. Every voxel keeps its physical position and value; only the indexing changes.

use hounsfield_core::{Element, Error, Geometry, Orientation, Result, Volume};
use ndarray::{Axis, s};

/// The sub-volume starting at index `min_xyz` (x, y, z) of `size_xyz` voxels.
pub fn crop<T: Element>(
    volume: &Volume<T>,
    min_xyz: [usize; 3],
    size_xyz: [usize; 3],
) -> Result<Volume<T>> {
    let full = volume.size_xyz();
    for k in 0..3 {
        if size_xyz[k] == 0 || min_xyz[k].saturating_add(size_xyz[k]) > full[k] {
            return Err(Error::param(
                "crop",
                format!("start {min_xyz:?} size {size_xyz:?} does not fit in {full:?} voxels"),
            ));
        }
    }
    let [x, y, z] = min_xyz;
    let [sx, sy, sz] = size_xyz;
    let data = volume.data().slice(s![z..z + sz, y..y + sy, x..x + sx]).to_owned();
    let origin = volume.geometry().index_to_physical(min_xyz.map(|v| v as f64));
    Volume::new(data, volume.geometry().with_origin(origin)?)
}

/// The smallest crop holding every voxel centre inside the physical box from `lo_mm` to
/// `hi_mm` (LPS, any corner order); an error when no centre is inside.
pub fn crop_physical<T: Element>(
    volume: &Volume<T>,
    lo_mm: [f64; 3],
    hi_mm: [f64; 3],
) -> Result<Volume<T>> {
    let g = volume.geometry();
    let (lo, hi) =
        ([0, 1, 2].map(|k| lo_mm[k].min(hi_mm[k])), [0, 1, 2].map(|k| lo_mm[k].max(hi_mm[k])));
    let size = volume.size_xyz();
    let (mut first, mut last) = ([usize::MAX; 3], [0usize; 3]);
    // The box's index extent: every corner of the box, mapped to index space.
    let mut idx_lo = [f64::INFINITY; 3];
    let mut idx_hi = [f64::NEG_INFINITY; 3];
    for corner in 0..8 {
        let p = [0, 1, 2].map(|k| if corner >> k & 1 == 1 { hi[k] } else { lo[k] });
        let i = g.physical_to_index(p);
        for k in 0..3 {
            idx_lo[k] = idx_lo[k].min(i[k]);
            idx_hi[k] = idx_hi[k].max(i[k]);
        }
    }
    for k in 0..3 {
        let a = idx_lo[k].ceil().max(0.0);
        let b = idx_hi[k].floor().min((size[k] - 1) as f64);
        if a > b {
            return Err(Error::Empty(format!(
                "the box {lo:?}..{hi:?} mm holds no voxel centre of the volume"
            )));
        }
        (first[k], last[k]) = (a as usize, b as usize);
    }
    crop(volume, first, [0, 1, 2].map(|k| last[k] - first[k] + 1))
}

/// Pads with `value`: `before_xyz` voxels before index 0 and `after_xyz` after the last, per
/// axis; the origin moves so that the original voxels stay where they were.
pub fn pad<T: Element>(
    volume: &Volume<T>,
    before_xyz: [usize; 3],
    after_xyz: [usize; 3],
    value: T,
) -> Result<Volume<T>> {
    let [nx, ny, nz] = volume.size_xyz();
    let size = [0, 1, 2]
        .map(|k| [nx, ny, nz][k].saturating_add(before_xyz[k]).saturating_add(after_xyz[k]));
    hounsfield_core::volume::checked_len(&size, size_of::<T>(), 64 << 30)?;
    let origin = volume.geometry().index_to_physical(before_xyz.map(|v| -(v as f64)));
    let mut out =
        Volume::filled([size[2], size[1], size[0]], value, volume.geometry().with_origin(origin)?)?;
    let [bx, by, bz] = before_xyz;
    out.view_mut().slice_mut(s![bz..bz + nz, by..by + ny, bx..bx + nx]).assign(volume.data());
    Ok(out)
}

/// Reverses the index order along the axes flagged (x, y, z).
pub fn flip<T: Element>(volume: &Volume<T>, axes_xyz: [bool; 3]) -> Result<Volume<T>> {
    let g = volume.geometry();
    let size = volume.size_xyz();
    let mut data = volume.data().clone();
    let mut direction = g.direction();
    let mut first = [0.0; 3];
    for k in 0..3 {
        if axes_xyz[k] {
            // Array axes are (z, y, x): index axis k is array axis 2 - k.
            data.invert_axis(Axis(2 - k));
            for row in direction.iter_mut() {
                row[k] = -row[k];
            }
            first[k] = (size[k] - 1) as f64;
        }
    }
    let origin = g.index_to_physical(first);
    let data = data.as_standard_layout().to_owned();
    Volume::new(data, Geometry::new(g.spacing(), origin, direction)?)
}

/// Reorders the index axes: new axis k (x, y, z) is old axis `order[k]`.
pub fn permute<T: Element>(volume: &Volume<T>, order: [usize; 3]) -> Result<Volume<T>> {
    volume.permuted(order)
}

/// Reorients to the orientation `code` (for example "RAS" or "LPS", nibabel's "points to"
/// convention): the index axes are permuted and flipped so that each points as close as
/// possible to the code's direction. Oblique volumes keep their obliquity.
pub fn reorient<T: Element>(volume: &Volume<T>, code: &str) -> Result<Volume<T>> {
    let target = Orientation::from_code(code)?.direction();
    let d = volume.geometry().direction();
    // For each target axis, the current index axis most aligned with it (greedy by alignment).
    let mut order = [usize::MAX; 3];
    let mut used = [false; 3];
    let mut pairs: Vec<(f64, usize, usize)> = (0..9)
        .map(|n| {
            let (t, c) = (n / 3, n % 3);
            let dot: f64 = (0..3).map(|r| d[r][c] * target[r][t]).sum();
            (dot.abs(), t, c)
        })
        .collect();
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (_, t, c) in pairs {
        if order[t] == usize::MAX && !used[c] {
            order[t] = c;
            used[c] = true;
        }
    }
    let permuted = permute(volume, order)?;
    let pd = permuted.geometry().direction();
    let flips = [0, 1, 2].map(|k| (0..3).map(|r| pd[r][k] * target[r][k]).sum::<f64>() < 0.0);
    flip(&permuted, flips)
}

#[cfg(test)]
mod tests {
    use hounsfield_core::mat3;

    use super::*;

    fn sample() -> Volume<i16> {
        let rot = mat3::rotation_from_quaternion([0.9, 0.2, -0.1, 0.3]);
        let g = Geometry::new([0.7, 1.1, 2.5], [10.0, -20.0, 30.0], rot).unwrap();
        Volume::from_vec([3, 4, 5], (0..60).collect(), g).unwrap()
    }

    /// Every voxel value sits at the same physical position in both volumes.
    fn same_voxels(a: &Volume<i16>, b: &Volume<i16>) {
        let mut at: Vec<([i64; 3], i16)> = Vec::new();
        for v in [a, b] {
            let mut list: Vec<([i64; 3], i16)> = v
                .data()
                .indexed_iter()
                .map(|((z, y, x), &val)| {
                    let p = v.geometry().index_to_physical([x as f64, y as f64, z as f64]);
                    (p.map(|c| (c * 1e6).round() as i64), val)
                })
                .collect();
            list.sort();
            if at.is_empty() {
                at = list;
            } else {
                assert_eq!(at, list);
            }
        }
    }

    #[test]
    fn every_reshape_keeps_voxels_in_place() {
        let v = sample();
        same_voxels(&v, &flip(&v, [true, false, true]).unwrap());
        same_voxels(&v, &permute(&v, [2, 0, 1]).unwrap());
        for code in ["RAS", "LPS", "SAR", "ILP"] {
            let r = reorient(&v, code).unwrap();
            same_voxels(&v, &r);
        }
        let c = crop(&v, [1, 1, 1], [3, 2, 2]).unwrap();
        assert_eq!(c.view()[[0, 0, 0]], v.view()[[1, 1, 1]]);
        assert_eq!(c.geometry().origin(), v.geometry().index_to_physical([1.0, 1.0, 1.0]));
        let p = pad(&v, [1, 2, 0], [0, 1, 3], -1).unwrap();
        assert_eq!(p.size_xyz(), [6, 7, 6]);
        assert_eq!(p.view()[[0, 2, 1]], v.view()[[0, 0, 0]]);
        assert_eq!(p.geometry().index_to_physical([1.0, 2.0, 0.0]), v.geometry().origin());
        assert!(crop(&v, [4, 0, 0], [2, 1, 1]).is_err());
        assert!(pad(&v, [usize::MAX, 0, 0], [1, 0, 0], 0).is_err(), "an absurd pad is an error");
        assert!(permute(&v, [0, 0, 1]).is_err());
    }

    #[test]
    fn reorienting_reaches_the_code_and_back_exactly() {
        let g = Geometry::from_ras_affine(&[
            [-0.9, 0.0, 0.0, 90.0],
            [0.0, 0.0, 1.2, -120.0],
            [0.0, 1.0, 0.0, -70.0],
            [0.0, 0.0, 0.0, 1.0],
        ])
        .unwrap();
        let v = Volume::from_vec([3, 4, 5], (0..60).collect::<Vec<i16>>(), g).unwrap();
        let ras = reorient(&v, "RAS").unwrap();
        assert_eq!(ras.geometry().orientation_code(), "RAS");
        let back = reorient(&ras, &v.geometry().orientation_code()).unwrap();
        assert_eq!(back.as_slice(), v.as_slice());
        assert!(back.geometry().approx_eq(v.geometry(), 1e-12));
    }

    #[test]
    fn a_physical_box_crops_to_the_centres_inside_it() {
        let g = Geometry::axis_aligned([1.0, 1.0, 2.0], [0.0; 3]).unwrap();
        let v = Volume::from_vec([4, 5, 6], (0..120).collect::<Vec<i16>>(), g).unwrap();
        let c = crop_physical(&v, [4.5, 0.9, 2.0], [1.5, 3.2, 5.9]).unwrap();
        // x centres 2..4, y centres 1..3, z centres at 2 and 4 mm (indices 1, 2).
        assert_eq!(c.size_xyz(), [3, 3, 2]);
        assert_eq!(c.geometry().origin(), [2.0, 1.0, 2.0]);
        assert!(crop_physical(&v, [100.0; 3], [101.0; 3]).is_err());
    }
}
