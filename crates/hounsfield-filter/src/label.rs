//! Connected components: labelling, relabelling by size, keeping the largest, and per-region
//! measures in physical units.
//!
//! Labels are numbered 1, 2, ... in the order their first voxel appears in C order (z, then y,
//! then x), as scipy.ndimage.label numbers them; 0 is background. One raster pass with a
//! union-find over the already-visited neighbours, then one pass to number the roots.

use hounsfield_core::{Element, Error, Result, Volume};

/// Which neighbours touch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connectivity {
    /// Faces only (scipy's default structure).
    #[default]
    Six,
    /// Faces and edges.
    Eighteen,
    /// Faces, edges and corners.
    TwentySix,
}

impl Connectivity {
    /// The neighbours visited before a voxel in C order, as (dz, dy, dx).
    pub(crate) fn backward(self) -> Vec<[isize; 3]> {
        let mut out = Vec::new();
        for dz in -1..=0isize {
            for dy in -1..=1isize {
                for dx in -1..=1isize {
                    let before = (dz, dy, dx) < (0, 0, 0);
                    let order = dz.abs() + dy.abs() + dx.abs();
                    let allowed = match self {
                        Connectivity::Six => order == 1,
                        Connectivity::Eighteen => order <= 2,
                        Connectivity::TwentySix => true,
                    };
                    if before && allowed && order > 0 {
                        out.push([dz, dy, dx]);
                    }
                }
            }
        }
        out
    }
}

/// A labelled volume: 0 background, 1..=count the components.
#[derive(Clone, Debug, PartialEq)]
pub struct Labels {
    /// The label of every voxel, with the input's geometry.
    pub volume: Volume<u32>,
    /// How many components there are.
    pub count: u32,
}

/// Labels the connected components of the voxels of `mask` that are not zero.
///
/// Works on runs: each row's foreground is cut into runs of consecutive voxels, a run is joined
/// (union-find) with the runs it touches in the rows before it, then the roots are numbered in
/// run order, which is voxel order.
pub fn label<T: Element>(mask: &Volume<T>, connectivity: Connectivity) -> Result<Labels> {
    let [nz, ny, nx] = mask.shape();
    let src = mask.as_slice();
    let zero = T::default();
    // Runs of every row, in raster order; row r's runs are runs[row_start[r]..row_start[r + 1]].
    let mut runs: Vec<(u32, u32)> = Vec::new();
    let mut row_start = Vec::with_capacity(nz * ny + 1);
    for row in src.chunks(nx) {
        row_start.push(runs.len());
        let mut x = 0;
        while x < nx {
            if row[x] == zero {
                x += 1;
                continue;
            }
            let start = x;
            while x < nx && row[x] != zero {
                x += 1;
            }
            runs.push((start as u32, x as u32));
        }
    }
    row_start.push(runs.len());
    if runs.len() >= u32::MAX as usize {
        return Err(Error::param("mask", format!("{} runs exceed the u32 labels", runs.len())));
    }
    // The rows before (dz, dy) that touch, and how far along x a run reaches into them.
    let earlier: Vec<(usize, isize, u32)> = connectivity
        .backward()
        .into_iter()
        // The voxel before in the same row is the run itself.
        .filter(|d| d[0] != 0 || d[1] != 0)
        .fold(Vec::new(), |mut rows: Vec<(usize, isize, u32)>, d| {
            let reach = u32::from(d[2] != 0);
            let dz = usize::from(d[0] != 0);
            match rows.iter_mut().find(|r| r.0 == dz && r.1 == d[1]) {
                Some(r) => r.2 = r.2.max(reach),
                None => rows.push((dz, d[1], reach)),
            }
            rows
        });
    let mut parent: Vec<u32> = (0..runs.len() as u32).collect();
    for z in 0..nz {
        for y in 0..ny {
            let row = z * ny + y;
            for &(dz, dy, reach) in &earlier {
                let yy = y as isize + dy;
                if dz > z || yy < 0 || yy >= ny as isize {
                    continue;
                }
                let other = (z - dz) * ny + yy as usize;
                let (mut i, mut j) = (row_start[row], row_start[other]);
                let (end_i, end_j) = (row_start[row + 1], row_start[other + 1]);
                // Two sorted lists of runs: join every pair that overlaps within `reach`.
                while i < end_i && j < end_j {
                    let (a, b) = (runs[i], runs[j]);
                    if a.0 < b.1 + reach && b.0 < a.1 + reach {
                        union(&mut parent, i as u32, j as u32);
                    }
                    if a.1 < b.1 { i += 1 } else { j += 1 }
                }
            }
        }
    }
    let mut number = vec![0u32; runs.len()];
    let mut count = 0u32;
    let mut out = vec![0u32; src.len()];
    for (row, bounds) in row_start.windows(2).enumerate() {
        for (offset, &(s, e)) in runs[bounds[0]..bounds[1]].iter().enumerate() {
            let root = find(&mut parent, (bounds[0] + offset) as u32) as usize;
            if number[root] == 0 {
                count += 1;
                number[root] = count;
            }
            out[row * nx + s as usize..row * nx + e as usize].fill(number[root]);
        }
    }
    let volume = Volume::from_vec([nz, ny, nx], out, mask.geometry().clone())?;
    Ok(Labels { volume, count })
}

pub(crate) fn find(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let grand = parent[parent[i as usize] as usize];
        parent[i as usize] = grand;
        i = grand;
    }
    i
}

/// Joins the sets of a and b; returns the root kept (the smaller, so roots stay stable).
fn union(parent: &mut [u32], a: u32, b: u32) -> u32 {
    let (ra, rb) = (find(parent, a), find(parent, b));
    let (keep, drop) = if ra <= rb { (ra, rb) } else { (rb, ra) };
    parent[drop as usize] = keep;
    keep
}

/// What one component measures.
#[derive(Clone, Debug, PartialEq)]
pub struct Region {
    /// Its label.
    pub label: u32,
    /// Number of voxels.
    pub voxels: usize,
    /// Volume in mm^3 (voxels times the voxel volume).
    pub volume_mm3: f64,
    /// Smallest index (x, y, z) it touches.
    pub bbox_min: [usize; 3],
    /// Largest index (x, y, z) it touches.
    pub bbox_max: [usize; 3],
    /// Mean physical position of its voxel centres (mm, LPS).
    pub centroid_mm: [f64; 3],
}

/// Measures every component of `labels`, in label order.
pub fn regions(labels: &Labels) -> Vec<Region> {
    let n = labels.count as usize;
    let mut voxels = vec![0usize; n + 1];
    let mut sums = vec![[0f64; 3]; n + 1];
    let mut lo = vec![[usize::MAX; 3]; n + 1];
    let mut hi = vec![[0usize; 3]; n + 1];
    for ((z, y, x), &l) in labels.volume.data().indexed_iter() {
        if l == 0 {
            continue;
        }
        let l = l as usize;
        voxels[l] += 1;
        for (k, v) in [x, y, z].into_iter().enumerate() {
            sums[l][k] += v as f64;
            lo[l][k] = lo[l][k].min(v);
            hi[l][k] = hi[l][k].max(v);
        }
    }
    let g = labels.volume.geometry();
    (1..=n)
        .map(|l| {
            let mean_index = sums[l].map(|s| s / voxels[l] as f64);
            Region {
                label: l as u32,
                voxels: voxels[l],
                volume_mm3: voxels[l] as f64 * g.voxel_volume(),
                bbox_min: lo[l],
                bbox_max: hi[l],
                // The geometry is affine, so the mean of the centres is the centre of the mean.
                centroid_mm: g.index_to_physical(mean_index),
            }
        })
        .collect()
}

/// Renumbers the components by decreasing size (ties: the lower old label first), so label 1
/// is the largest.
pub fn relabel_by_size(labels: &Labels) -> Result<Labels> {
    let mut order: Vec<Region> = regions(labels);
    order.sort_by(|a, b| b.voxels.cmp(&a.voxels).then(a.label.cmp(&b.label)));
    let mut new = vec![0u32; labels.count as usize + 1];
    for (i, r) in order.iter().enumerate() {
        new[r.label as usize] = i as u32 + 1;
    }
    Ok(Labels { volume: labels.volume.map(|l| new[l as usize]), count: labels.count })
}

/// The largest connected component of `mask` (1 inside, 0 elsewhere); all zero when the mask
/// is empty.
pub fn keep_largest<T: Element>(
    mask: &Volume<T>,
    connectivity: Connectivity,
) -> Result<Volume<u8>> {
    let labels = relabel_by_size(&label(mask, connectivity)?)?;
    Ok(labels.volume.map(|l| u8::from(l == 1)))
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;

    use super::*;

    fn mask(shape: [usize; 3], on: &[[usize; 3]]) -> Volume<u8> {
        let mut v = Volume::zeros(shape, Geometry::default()).unwrap();
        for &[z, y, x] in on {
            v.view_mut()[[z, y, x]] = 1;
        }
        v
    }

    #[test]
    fn connectivity_decides_what_touches() {
        // Two voxels sharing an edge, a third sharing only a corner with the second.
        let m = mask([2, 3, 3], &[[0, 0, 0], [0, 1, 1], [1, 2, 2]]);
        assert_eq!(label(&m, Connectivity::Six).unwrap().count, 3);
        assert_eq!(label(&m, Connectivity::Eighteen).unwrap().count, 2);
        assert_eq!(label(&m, Connectivity::TwentySix).unwrap().count, 1);
        assert_eq!(Connectivity::Six.backward().len(), 3);
        assert_eq!(Connectivity::Eighteen.backward().len(), 9);
        assert_eq!(Connectivity::TwentySix.backward().len(), 13);
    }

    #[test]
    fn a_u_shape_merges_into_one_label_numbered_in_raster_order() {
        // Two arms joined at the bottom row: provisional labels 1 and 2 must merge.
        let m = mask(
            [1, 3, 3],
            &[[0, 0, 0], [0, 0, 2], [0, 1, 0], [0, 1, 2], [0, 2, 0], [0, 2, 1], [0, 2, 2]],
        );
        let l = label(&m, Connectivity::Six).unwrap();
        assert_eq!(l.count, 1);
        let r = regions(&l);
        assert_eq!((r[0].voxels, r[0].bbox_min, r[0].bbox_max), (7, [0, 0, 0], [2, 2, 0]));
    }

    #[test]
    fn relabelling_and_keeping_the_largest() {
        let m = mask([1, 1, 7], &[[0, 0, 0], [0, 0, 2], [0, 0, 3], [0, 0, 5], [0, 0, 6]]);
        let l = label(&m, Connectivity::Six).unwrap();
        assert_eq!(l.volume.as_slice(), [1, 0, 2, 2, 0, 3, 3]);
        let by_size = relabel_by_size(&l).unwrap();
        assert_eq!(by_size.volume.as_slice(), [3, 0, 1, 1, 0, 2, 2]);
        assert_eq!(keep_largest(&m, Connectivity::Six).unwrap().as_slice(), [0, 0, 1, 1, 0, 0, 0]);
    }
}
