//! The 3 x 3 x 3 median, the rank filter used most, with its sorting shared between
//! neighbouring windows: every input row is sorted in triples along x once (3 comparators per
//! voxel), those triples are sorted down y (9 per voxel), and each plane's result (a 3 x 3
//! block sorted along both axes, per voxel) serves three output planes. The median of three
//! such blocks then needs 93 comparators instead of the 126 of the general network: the
//! comparators of Batcher's network that can never exchange anything on sorted blocks are
//! dropped (found over all 20^3 zero-one inputs of that shape, which by the zero-one principle
//! covers every input), as the test below re-derives. Whole rows at a time, as `rank` does.

use hounsfield_core::{Element, Volume};
use rayon::prelude::*;

use crate::boundary::Boundary;

/// Lanes `(dz * 3 + dy) * 3 + dx`, each 3 x 3 block sorted along dx and dy: these comparators
/// leave the 14th smallest of the 27 in lane 13.
pub(crate) const NETWORK: [(usize, usize); 93] = [
    (2, 3),
    (1, 2),
    (4, 6),
    (5, 7),
    (5, 6),
    (2, 4),
    (3, 5),
    (3, 4),
    (5, 6),
    (8, 9),
    (9, 11),
    (9, 10),
    (14, 15),
    (13, 14),
    (10, 14),
    (10, 12),
    (9, 13),
    (11, 15),
    (11, 13),
    (9, 10),
    (11, 12),
    (13, 14),
    (0, 8),
    (4, 12),
    (4, 8),
    (2, 10),
    (6, 14),
    (6, 10),
    (2, 4),
    (6, 8),
    (10, 12),
    (1, 9),
    (5, 13),
    (5, 9),
    (3, 11),
    (7, 11),
    (3, 5),
    (7, 9),
    (11, 13),
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (16, 18),
    (17, 19),
    (17, 18),
    (20, 21),
    (21, 22),
    (18, 22),
    (18, 20),
    (19, 23),
    (19, 21),
    (17, 18),
    (19, 20),
    (21, 22),
    (20, 24),
    (22, 26),
    (18, 20),
    (22, 24),
    (21, 25),
    (23, 25),
    (19, 20),
    (21, 22),
    (23, 24),
    (25, 26),
    (0, 16),
    (8, 24),
    (8, 16),
    (4, 20),
    (12, 20),
    (12, 16),
    (2, 18),
    (10, 26),
    (10, 18),
    (6, 22),
    (14, 22),
    (14, 18),
    (14, 16),
    (1, 17),
    (9, 25),
    (9, 17),
    (5, 21),
    (13, 21),
    (13, 17),
    (3, 19),
    (11, 19),
    (7, 23),
    (7, 11),
    (11, 13),
    (13, 14),
];

/// Output planes per parallel task (each task sorts two extra planes to start).
const PLANES_PER_TASK: usize = 16;

/// Element-wise compare-exchange of two rows: `a` gets the smaller, `b` the larger (a NaN
/// never moves).
#[inline]
fn order<T: Element>(a: &mut [T], b: &mut [T]) {
    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
        let (lo, hi) = if *y < *x { (*y, *x) } else { (*x, *y) };
        *x = lo;
        *y = hi;
    }
}

/// Compare-exchanges lanes `i < j` of `lanes` (each `len` long).
#[inline]
fn exchange<T: Element>(lanes: &mut [T], len: usize, i: usize, j: usize) {
    let (low, high) = lanes.split_at_mut(j * len);
    order(&mut low[i * len..(i + 1) * len], &mut high[..len]);
}

/// A plane's sorted blocks: 9 lanes of `ny * nx`, lane `dy * 3 + dx` holding, for each voxel,
/// element (dy, dx) of its 3 x 3 neighbourhood in the plane sorted along x then y.
struct Scratch<T> {
    /// Row triples: for padded row y' (-1..=ny), three lanes of nx.
    rows: Vec<T>,
    padded: Vec<T>,
    /// The three planes' blocks around the output plane: plane p in slot (p + 1) % 3.
    ring: [Vec<T>; 3],
    lanes: Vec<T>,
}

impl<T: Element> Scratch<T> {
    fn new([_, ny, nx]: [usize; 3], fill: T) -> Self {
        Scratch {
            rows: vec![fill; (ny + 2) * 3 * nx],
            padded: vec![fill; nx + 2],
            ring: std::array::from_fn(|_| vec![fill; 9 * ny * nx]),
            lanes: vec![fill; 27 * nx],
        }
    }
}

fn sorted_blocks<T: Element>(
    src: &[T],
    [nz, ny, nx]: [usize; 3],
    z: isize,
    boundary: Boundary,
    fill: T,
    scratch: &mut Scratch<T>,
    slot: usize,
) {
    let plane = ny * nx;
    let zz = boundary.index(z, nz);
    let Scratch { rows, padded, ring, .. } = scratch;
    let blocks = &mut ring[slot];
    for (r, triple) in rows.chunks_exact_mut(3 * nx).enumerate() {
        let yy = boundary.index(r as isize - 1, ny);
        let row = zz.zip(yy).map(|(zz, yy)| &src[zz * plane + yy * nx..][..nx]);
        for (p, slot) in padded.iter_mut().enumerate() {
            *slot = row.zip(boundary.index(p as isize - 1, nx)).map_or(fill, |(row, xx)| row[xx]);
        }
        let (lo, rest) = triple.split_at_mut(nx);
        let (mid, hi) = rest.split_at_mut(nx);
        sort3_into([&padded[..nx], &padded[1..=nx], &padded[2..]], [lo, mid, hi]);
    }
    // Each output row: the triples of rows y-1, y, y+1 sorted down y, component by component.
    let (first, rest) = blocks.split_at_mut(3 * plane);
    let (second, third) = rest.split_at_mut(3 * plane);
    for y in 0..ny {
        for dx in 0..3 {
            let row = |dy: usize| &rows[(y + dy) * 3 * nx + dx * nx..][..nx];
            let at = y * nx + dx * plane;
            sort3_into(
                [row(0), row(1), row(2)],
                [&mut first[at..at + nx], &mut second[at..at + nx], &mut third[at..at + nx]],
            );
        }
    }
}

/// Element-wise sort of three rows into three others (the NaN rule of [`order`]).
#[inline]
fn sort3_into<T: Element>([a, b, c]: [&[T]; 3], [lo, mid, hi]: [&mut [T]; 3]) {
    for x in 0..lo.len() {
        let (mut p, mut q, mut r) = (a[x], b[x], c[x]);
        if q < p {
            std::mem::swap(&mut p, &mut q);
        }
        if r < q {
            std::mem::swap(&mut q, &mut r);
        }
        if q < p {
            std::mem::swap(&mut p, &mut q);
        }
        (lo[x], mid[x], hi[x]) = (p, q, r);
    }
}

/// The median of every 3 x 3 x 3 neighbourhood (edges per `boundary`, `fill` outside for a
/// constant boundary). Inputs must hold no NaN (`rank` keeps its own NaN rule).
pub(crate) fn median_27<T: Element>(
    volume: &Volume<T>,
    boundary: Boundary,
    fill: T,
) -> hounsfield_core::Result<Volume<T>> {
    let shape = volume.shape();
    let [_, ny, nx] = shape;
    let plane = ny * nx;
    let src = volume.as_slice();
    let mut out = vec![T::default(); src.len()];
    let tasks = out.par_chunks_mut(PLANES_PER_TASK * plane).enumerate();
    tasks.for_each_init(
        || Scratch::new(shape, fill),
        |scratch, (task, chunk)| {
            let z0 = task * PLANES_PER_TASK;
            for k in 0..2 {
                let p = z0 as isize - 1 + k as isize;
                sorted_blocks(src, shape, p, boundary, fill, scratch, (z0 + k) % 3);
            }
            for (dz_out, out_plane) in chunk.chunks_mut(plane).enumerate() {
                let z = z0 + dz_out;
                sorted_blocks(src, shape, z as isize + 1, boundary, fill, scratch, (z + 2) % 3);
                let Scratch { ring, lanes, .. } = &mut *scratch;
                for (y, out_row) in out_plane.chunks_mut(nx).enumerate() {
                    for dz in 0..3 {
                        // Plane z - 1 + dz.
                        let blocks = &ring[(z + dz) % 3];
                        for b in 0..9 {
                            lanes[(dz * 9 + b) * nx..][..nx]
                                .copy_from_slice(&blocks[b * plane + y * nx..][..nx]);
                        }
                    }
                    for &(i, j) in &NETWORK {
                        exchange(lanes, nx, i, j);
                    }
                    out_row.copy_from_slice(&lanes[13 * nx..14 * nx]);
                }
            }
        },
    );
    Volume::from_vec(shape, out, volume.geometry().clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The network selects the 14th smallest of every zero-one input made of three 3 x 3 blocks
    /// sorted along both axes: by the zero-one principle, of every such input.
    #[test]
    fn the_network_selects_the_median_of_sorted_blocks() {
        let blocks: Vec<u16> = (0u16..512)
            .filter(|&bits| {
                let at = |dy: usize, dx: usize| (bits >> (dy * 3 + dx)) & 1;
                (0..3).all(|d| (0..2).all(|e| at(d, e) <= at(d, e + 1) && at(e, d) <= at(e + 1, d)))
            })
            .collect();
        assert_eq!(blocks.len(), 20);
        for &a in &blocks {
            for &b in &blocks {
                for &c in &blocks {
                    let mut v: Vec<u8> =
                        (0..27).map(|q| ([a, b, c][q / 9] >> (q % 9) & 1) as u8).collect();
                    let ones = v.iter().filter(|&&x| x == 1).count();
                    for &(i, j) in &NETWORK {
                        if v[j] < v[i] {
                            v.swap(i, j);
                        }
                    }
                    assert_eq!(v[13], u8::from(ones >= 14), "blocks {a} {b} {c}");
                }
            }
        }
    }
}
