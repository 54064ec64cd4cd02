//! Rank filters (median, and any rank) over a box neighbourhood, for every element type.
//!
//! For windows of up to 64 voxels (radius 1 is 27) the rank is found by a selection network:
//! Batcher's odd-even merge sort for the next power of two, with the comparators that touch the
//! padding or cannot affect the chosen rank removed. The network runs on whole rows at once
//! (each comparator is an element-wise min/max of two rows of window samples), which the
//! compiler vectorises; there is no per-voxel branch or sort. Larger windows select per voxel.
//! NaN samples do not propagate (a comparison with NaN keeps the order it had).

use hounsfield_core::{Element, Error, Result, Volume};
use rayon::prelude::*;

use crate::boundary::Boundary;

/// Windows up to this many voxels use the selection network.
const NETWORK_MAX: usize = 64;

/// Median filter over the box of `radius_mm` (x, y, z; each rounded down to whole voxels with
/// the volume's spacing), edges per `boundary` (scipy's default is [`Boundary::Reflect`]).
pub fn median<T: Element>(
    volume: &Volume<T>,
    radius_mm: [f64; 3],
    boundary: Boundary,
) -> Result<Volume<T>> {
    let radius = voxel_radius(volume, radius_mm)?;
    if radius.iter().any(|&r| r > 50) {
        return Err(Error::param("radius", format!("{radius:?} voxels is beyond 50 per axis")));
    }
    let window: usize = radius.iter().map(|r| 2 * r + 1).product();
    // The 3 x 3 x 3 median shares its sorting between neighbours (see median27.rs); NaN takes
    // the general path, whose rule for it is documented.
    if radius == [1, 1, 1] && !volume.as_slice().iter().any(|v| v.to_f64().is_nan()) {
        let fill = match boundary {
            Boundary::Constant(c) => T::from_f64(c, hounsfield_core::CastOptions::default(), 0)?,
            _ => T::default(),
        };
        return crate::median27::median_27(volume, boundary, fill);
    }
    rank_filter(volume, radius, window / 2, boundary)
}

/// A radius in mm (x, y, z) as whole voxels of `volume`, rounded down.
pub fn voxel_radius<T: Element>(volume: &Volume<T>, radius_mm: [f64; 3]) -> Result<[usize; 3]> {
    let spacing = volume.geometry().spacing();
    if radius_mm.iter().any(|r| !(r.is_finite() && *r >= 0.0)) {
        return Err(Error::param(
            "radius",
            format!("must be finite and >= 0 mm, got {radius_mm:?}"),
        ));
    }
    Ok([0, 1, 2].map(|k| (radius_mm[k] / spacing[k] * (1.0 + 1e-12)).floor() as usize))
}

/// The `rank`-th smallest value (0-based) of the box of `radius` voxels (x, y, z) around each
/// voxel: 0 is the minimum, `window - 1` the maximum, `window / 2` the median.
pub fn rank_filter<T: Element>(
    volume: &Volume<T>,
    radius: [usize; 3],
    rank: usize,
    boundary: Boundary,
) -> Result<Volume<T>> {
    if radius.iter().any(|&r| r > 50) {
        return Err(Error::param("radius", format!("{radius:?} voxels is beyond 50 per axis")));
    }
    let [rx, ry, rz] = radius;
    let window = (2 * rx + 1) * (2 * ry + 1) * (2 * rz + 1);
    if rank >= window {
        return Err(Error::param("rank", format!("{rank} is not below the window of {window}")));
    }
    let [nz, ny, nx] = volume.shape();
    let src = volume.as_slice();
    let fill = match boundary {
        Boundary::Constant(c) => T::from_f64(c, hounsfield_core::CastOptions::default(), 0)?,
        _ => T::default(),
    };
    let network = (window <= NETWORK_MAX).then(|| selection_network(window, rank));
    let plane = ny * nx;
    let mut out = vec![T::default(); src.len()];
    out.par_chunks_mut(plane).enumerate().for_each(|(z, out_plane)| {
        let mut lanes = vec![T::default(); window * nx];
        let mut padded = vec![T::default(); nx + 2 * rx];
        let mut scratch = Vec::with_capacity(window);
        for (y, out_row) in out_plane.chunks_mut(nx).enumerate() {
            // Lane q holds, for every x, the q-th sample of its window.
            let mut q = 0;
            for dz in 0..=2 * rz {
                let zz = boundary.index(z as isize + dz as isize - rz as isize, nz);
                for dy in 0..=2 * ry {
                    let yy = boundary.index(y as isize + dy as isize - ry as isize, ny);
                    let row = zz.zip(yy).map(|(zz, yy)| &src[zz * plane + yy * nx..][..nx]);
                    for (p, slot) in padded.iter_mut().enumerate() {
                        let xx = boundary.index(p as isize - rx as isize, nx);
                        *slot = row.zip(xx).map_or(fill, |(row, xx)| row[xx]);
                    }
                    for dx in 0..=2 * rx {
                        lanes[q * nx..(q + 1) * nx].copy_from_slice(&padded[dx..dx + nx]);
                        q += 1;
                    }
                }
            }
            match &network {
                Some(comparators) => {
                    for &(i, j) in comparators {
                        let (low, high) = lanes.split_at_mut(j * nx);
                        order(&mut low[i * nx..(i + 1) * nx], &mut high[..nx]);
                    }
                    out_row.copy_from_slice(&lanes[rank * nx..(rank + 1) * nx]);
                }
                None => {
                    for (x, o) in out_row.iter_mut().enumerate() {
                        scratch.clear();
                        scratch.extend((0..window).map(|q| lanes[q * nx + x]));
                        let (_, v, _) = scratch.select_nth_unstable_by(rank, |a, b| {
                            a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal)
                        });
                        *o = *v;
                    }
                }
            }
        }
    });
    Volume::from_vec([nz, ny, nx], out, volume.geometry().clone())
}

/// Element-wise compare-exchange: `a` gets the smaller, `b` the larger of each pair.
#[inline]
fn order<T: Element>(a: &mut [T], b: &mut [T]) {
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        let (lo, hi) = if *y < *x { (*y, *x) } else { (*x, *y) };
        *x = lo;
        *y = hi;
    }
}

/// Comparators (i < j) that leave the `rank`-th smallest of `n` inputs at position `rank`.
fn selection_network(n: usize, rank: usize) -> Vec<(usize, usize)> {
    let size = n.next_power_of_two();
    let mut sorting = Vec::new();
    batcher(0, size, &mut sorting);
    // Inputs n.. are +infinity: a comparator touching them never swaps.
    let sorting: Vec<(usize, usize)> = sorting.into_iter().filter(|&(_, j)| j < n).collect();
    // Keep only what feeds the wire `rank`, walking backwards.
    let mut needed = vec![false; n];
    needed[rank] = true;
    let mut kept: Vec<(usize, usize)> = Vec::new();
    for &(i, j) in sorting.iter().rev() {
        if needed[i] || needed[j] {
            needed[i] = true;
            needed[j] = true;
            kept.push((i, j));
        }
    }
    kept.reverse();
    kept
}

/// Batcher's odd-even merge sort of `lo..lo + n` (n a power of two).
fn batcher(lo: usize, n: usize, out: &mut Vec<(usize, usize)>) {
    if n > 1 {
        let m = n / 2;
        batcher(lo, m, out);
        batcher(lo + m, m, out);
        merge(lo, n, 1, out);
    }
}

/// Batcher's odd-even merge of `lo..lo + n` at stride `r`.
fn merge(lo: usize, n: usize, r: usize, out: &mut Vec<(usize, usize)>) {
    let step = r * 2;
    if step < n {
        merge(lo, n, step, out);
        merge(lo + r, n, step, out);
        let mut i = lo + r;
        while i + r < lo + n {
            out.push((i, i + r));
            i += step;
        }
    } else {
        out.push((lo, lo + r));
    }
}

#[cfg(test)]
mod tests {
    use hounsfield_core::Geometry;
    use hounsfield_core::rng::SplitMix64;

    use super::*;

    /// Every network chooses the right rank on random inputs with ties.
    #[test]
    fn networks_select_the_rank() {
        let mut rng = SplitMix64::new(1);
        for n in [1, 3, 9, 15, 27, 45, 64] {
            for rank in [0, n / 2, n - 1] {
                let net = selection_network(n, rank);
                for _ in 0..200 {
                    let mut v: Vec<i32> = (0..n).map(|_| (rng.next_f64() * 20.0) as i32).collect();
                    let mut sorted = v.clone();
                    sorted.sort();
                    for &(i, j) in &net {
                        if v[j] < v[i] {
                            v.swap(i, j);
                        }
                    }
                    assert_eq!(v[rank], sorted[rank], "n {n} rank {rank}");
                }
            }
        }
        // The median of 27 needs far fewer comparators than sorting 32 (191).
        assert!(selection_network(27, 13).len() < 191);
    }

    /// The shared-sorting 3 x 3 x 3 median equals the general network's on random volumes with
    /// ties, for every boundary, integer and float.
    #[test]
    fn the_fast_median_equals_the_general_one() {
        let mut rng = SplitMix64::new(7);
        for (shape, boundary) in [
            ([5, 6, 7], Boundary::Reflect),
            ([1, 4, 9], Boundary::Mirror),
            ([20, 3, 2], Boundary::Nearest),
            ([4, 5, 6], Boundary::Wrap),
            ([3, 4, 5], Boundary::Constant(7.0)),
            ([1, 1, 1], Boundary::Reflect),
        ] {
            let n: usize = shape.iter().product();
            let ints: Vec<i16> = (0..n).map(|_| (rng.next_f64() * 12.0) as i16 - 3).collect();
            let v = Volume::from_vec(shape, ints, Geometry::default()).unwrap();
            let fast = median(&v, [1.0; 3], boundary).unwrap();
            let general = rank_filter(&v, [1, 1, 1], 13, boundary).unwrap();
            assert_eq!(fast, general, "{shape:?} {boundary:?}");
            let floats = v.map(|x| f32::from(x) * 0.37);
            let fast = median(&floats, [1.0; 3], boundary).unwrap();
            assert_eq!(fast, rank_filter(&floats, [1, 1, 1], 13, boundary).unwrap());
        }
    }

    #[test]
    fn median_removes_an_outlier_and_keeps_a_step() {
        let g = Geometry::default();
        let mut v: Vec<i16> = (0..5 * 6 * 7).map(|i| if i % 7 < 3 { 10 } else { 100 }).collect();
        v[(2 * 6 + 3) * 7 + 5] = -999;
        let vol = Volume::from_vec([5, 6, 7], v, g).unwrap();
        let m = median(&vol, [1.0; 3], Boundary::Reflect).unwrap();
        assert_eq!(m.view()[[2, 3, 5]], 100, "the outlier is gone");
        assert!(m.data().indexed_iter().all(|((_, _, x), &v)| v == if x < 3 { 10 } else { 100 }));
        // A big window selects per voxel and agrees with the network on a smaller rank.
        let big = rank_filter(&vol, [2, 2, 2], 62, Boundary::Nearest).unwrap();
        assert_eq!(big.shape(), vol.shape());
        assert!(rank_filter(&vol, [1, 1, 1], 27, Boundary::Reflect).is_err());
    }
}
