//! Filters over chunks, for volumes larger than memory: each output chunk is computed from its
//! input region grown by the operation's reach (its halo), then cropped back, so the result
//! equals the in-memory filter's voxel for voxel, as ITK's streaming and dask-image's
//! `map_overlap` do it. The source and sink are `hounsfield_core::chunk` traits: a volume in
//! memory, or an OME-Zarr array in hounsfield-io.
//!
//! A memory budget bounds how many chunks are in flight at once; progress is reported per
//! chunk. Connected components across chunks are in [`label_chunked`].
//!
//! ```
//! use hounsfield_core::{Geometry, Volume, VolumeSink};
//! use hounsfield_filter::chunked::{ChunkOptions, gaussian_chunked};
//! use hounsfield_filter::{GaussianOptions, gaussian::gaussian};
//!
//! let g = Geometry::axis_aligned([1.0, 1.0, 2.0], [0.0; 3])?;
//! let values: Vec<f32> = (0..40 * 30 * 20).map(|i| ((i * 7919) % 101) as f32).collect();
//! let volume = Volume::from_vec([20, 30, 40], values, g.clone())?;
//! let options = GaussianOptions::new(1.5);
//! let sink = VolumeSink::new([20, 30, 40], g)?;
//! gaussian_chunked(&volume, &sink, &options, &ChunkOptions::new([8, 8, 8]), &|_, _| {})?;
//! assert_eq!(sink.into_volume()?, gaussian(&volume, &options)?);
//! # Ok::<(), hounsfield_core::Error>(())
//! ```

use hounsfield_core::chunk::{ChunkSink, ChunkSource, Region};
use hounsfield_core::{Element, Error, Result, Volume};
use rayon::prelude::*;

use crate::boundary::Boundary;
use crate::gaussian::{GaussianOptions, gaussian, gaussian_kernel};
use crate::label::find;
use crate::morphology::{Element3, dilate, erode};
use crate::rank::median;
use crate::threshold::binary_threshold;

/// How to cut the work.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkOptions {
    /// Output chunk shape, `(z, y, x)`.
    pub chunk: [usize; 3],
    /// Bytes the chunks in flight may hold together (inputs with halo, outputs and the
    /// filter's working copies); at least one chunk runs whatever the budget.
    pub memory_bytes: u64,
}

impl ChunkOptions {
    /// Chunks of `chunk` voxels under a budget of 1 GiB.
    pub fn new(chunk: [usize; 3]) -> Self {
        ChunkOptions { chunk, memory_bytes: 1 << 30 }
    }

    /// The memory budget in bytes.
    pub fn with_memory(mut self, bytes: u64) -> Self {
        self.memory_bytes = bytes;
        self
    }
}

/// Copies `region` (inside `padded`) out of `volume`, which holds `padded`; the copy keeps its
/// place in space.
fn crop_to<T: Element>(volume: &Volume<T>, padded: &Region, region: &Region) -> Result<Volume<T>> {
    let start = std::array::from_fn(|k| region.start[k] - padded.start[k]);
    ChunkSource::read(volume, &Region::new(start, region.shape)?)
}

/// Runs `op` over `source` chunk by chunk into `sink`: each chunk's input is its region grown
/// by `halo` voxels `(z, y, x)` (clipped at the volume's edges), and the output is cropped back
/// to the region. When every output voxel of `op` depends only on inputs within `halo` (and
/// `op` treats the volume's own edges as it treats any edge), the result equals `op` on the
/// whole volume. `progress(done, total)` is called after each chunk.
pub fn map_chunks<T, U, F>(
    source: &dyn ChunkSource<T>,
    sink: &dyn ChunkSink<U>,
    halo: [usize; 3],
    options: &ChunkOptions,
    op: F,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()>
where
    T: Element,
    U: Element,
    F: Fn(&Volume<T>) -> Result<Volume<U>> + Sync,
{
    let shape = source.shape();
    let tiles = Region::tiles(shape, options.chunk)?;
    // One chunk in flight holds its grown input, the output and about two working copies.
    let grown: usize = (0..3).map(|k| options.chunk[k].min(shape[k]) + 2 * halo[k]).product();
    let per_chunk = grown as u64 * (size_of::<T>() + 3 * size_of::<U>()) as u64;
    let in_flight = (options.memory_bytes / per_chunk.max(1)).clamp(1, tiles.len() as u64) as usize;
    let done = std::sync::atomic::AtomicUsize::new(0);
    for wave in tiles.chunks(in_flight) {
        wave.par_iter().try_for_each(|region| -> Result<()> {
            let padded = region.grown(halo, shape);
            let input = source.read(&padded)?;
            let output = op(&input)?;
            if output.shape() != padded.shape {
                return Err(Error::ShapeMismatch {
                    what: "chunk operation output",
                    expected: padded.shape.to_vec(),
                    found: output.shape().to_vec(),
                });
            }
            sink.write(region, &crop_to(&output, &padded, region)?)?;
            let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            progress(n, tiles.len());
            Ok(())
        })?;
    }
    Ok(())
}

/// The reach in voxels `(z, y, x)` of [`gaussian`] with `options` on `spacing` (x, y, z) mm:
/// its kernel's radius per axis.
pub fn gaussian_reach(options: &GaussianOptions, spacing: [f64; 3]) -> Result<[usize; 3]> {
    let radius = |k: usize| -> Result<usize> {
        Ok(gaussian_kernel(options.sigma_mm[k] / spacing[k], options.truncate)?.len() / 2)
    };
    Ok([radius(2)?, radius(1)?, radius(0)?])
}

/// The reach in voxels `(z, y, x)` of a box or ball of `radius_mm` (x, y, z) on `spacing`.
fn radius_reach(radius_mm: [f64; 3], spacing: [f64; 3]) -> [usize; 3] {
    let r = |k: usize| (radius_mm[k] / spacing[k]).ceil().max(0.0) as usize;
    [r(2), r(1), r(0)]
}

/// [`gaussian`] chunk by chunk.
pub fn gaussian_chunked(
    source: &dyn ChunkSource<f32>,
    sink: &dyn ChunkSink<f32>,
    options: &GaussianOptions,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()> {
    let halo = gaussian_reach(options, source.geometry().spacing())?;
    map_chunks(source, sink, halo, chunks, |v| gaussian(v, options), progress)
}

/// [`median`] chunk by chunk.
pub fn median_chunked<T: Element>(
    source: &dyn ChunkSource<T>,
    sink: &dyn ChunkSink<T>,
    radius_mm: [f64; 3],
    boundary: Boundary,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()> {
    let halo = radius_reach(radius_mm, source.geometry().spacing());
    map_chunks(source, sink, halo, chunks, |v| median(v, radius_mm, boundary), progress)
}

/// Binary morphology chunk by chunk: [`dilate`] or, with `erosion`, [`erode`].
pub fn morphology_chunked<T: Element>(
    source: &dyn ChunkSource<T>,
    sink: &dyn ChunkSink<u8>,
    element: Element3,
    radius_mm: f64,
    erosion: bool,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()> {
    let halo = radius_reach([radius_mm; 3], source.geometry().spacing());
    let op = |v: &Volume<T>| {
        if erosion { erode(v, element, radius_mm) } else { dilate(v, element, radius_mm) }
    };
    map_chunks(source, sink, halo, chunks, op, progress)
}

/// [`binary_threshold`] chunk by chunk.
pub fn threshold_chunked<T: Element>(
    source: &dyn ChunkSource<T>,
    sink: &dyn ChunkSink<u8>,
    lo: f64,
    hi: f64,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()> {
    map_chunks(source, sink, [0; 3], chunks, |v| Ok(binary_threshold(v, lo, hi)), progress)
}

/// Storage that chunks are written to and read back from (a volume in memory, a Zarr array):
/// what [`label_chunked`] needs for its provisional labels.
pub trait ChunkStore<T: Element>: ChunkSource<T> + ChunkSink<T> {}

impl<T: Element, S: ChunkSource<T> + ChunkSink<T>> ChunkStore<T> for S {}

/// Runs `f` over `tiles` in parallel, at most `in_flight` at a time, collecting the results in
/// tile order.
fn waves<R: Send>(
    tiles: &[Region],
    in_flight: usize,
    f: impl Fn(usize, &Region) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let mut out = Vec::with_capacity(tiles.len());
    for (w, wave) in tiles.chunks(in_flight.max(1)).enumerate() {
        let base = w * in_flight.max(1);
        let part: Vec<R> = wave
            .par_iter()
            .enumerate()
            .map(|(i, region)| f(base + i, region))
            .collect::<Result<_>>()?;
        out.extend(part);
    }
    Ok(out)
}

/// Connected components of the non-zero voxels of `source`, chunk by chunk, written to `store`
/// with the numbering [`label`](crate::label::label) gives the whole volume (1, 2, ... in the
/// order of each component's first voxel in C order); returns the number of components.
///
/// Each chunk is labelled on its own and its labels stored; a union-find over the chunks'
/// labels then joins those that touch across chunk faces, edges and corners (as
/// `connectivity` allows); the components are numbered by their first voxel, and each chunk
/// is relabelled in place. Memory holds one chunk per thread, the first voxel of every chunk's
/// labels and the union-find, never the whole volume.
pub fn label_chunked<T: Element>(
    source: &dyn ChunkSource<T>,
    store: &dyn ChunkStore<u32>,
    connectivity: crate::label::Connectivity,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<u32> {
    let shape = source.shape();
    if store.shape() != shape {
        return Err(Error::ShapeMismatch {
            what: "label store",
            expected: shape.to_vec(),
            found: store.shape().to_vec(),
        });
    }
    let tiles = Region::tiles(shape, chunks.chunk)?;
    let grown: usize = (0..3).map(|k| chunks.chunk[k].min(shape[k]) + 2).product();
    let per_chunk = grown as u64 * (size_of::<T>() + 3 * 4) as u64;
    let in_flight = (chunks.memory_bytes / per_chunk.max(1)).clamp(1, tiles.len() as u64) as usize;
    let total_steps = 3 * tiles.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let tick = || {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        progress(n, total_steps);
    };
    let global = |p: [usize; 3]| ((p[0] * shape[1] + p[1]) * shape[2] + p[2]) as u64;

    // 1. Each chunk labelled alone; the first voxel (global C-order index) of each label kept.
    let firsts: Vec<Vec<u64>> = waves(&tiles, in_flight, |_, region| {
        let local = crate::label::label(&source.read(region)?, connectivity)?;
        let mut first = vec![u64::MAX; local.count as usize + 1];
        let [_, ny, nx] = region.shape;
        for (i, &l) in local.volume.as_slice().iter().enumerate() {
            if l != 0 && first[l as usize] == u64::MAX {
                let p = [i / (ny * nx), (i / nx) % ny, i % nx];
                first[l as usize] = global(std::array::from_fn(|k| region.start[k] + p[k]));
            }
        }
        store.write(region, &local.volume)?;
        tick();
        Ok(first)
    })?;
    // Provisional ids: chunk t's label k is base[t] + k.
    let mut base = Vec::with_capacity(tiles.len());
    let mut total: u64 = 0;
    for f in &firsts {
        base.push(total);
        total += (f.len() - 1) as u64;
    }
    if total >= u64::from(u32::MAX) {
        return Err(Error::param("mask", format!("{total} chunk labels exceed the u32 labels")));
    }
    let counts: [usize; 3] = std::array::from_fn(|k| shape[k].div_ceil(chunks.chunk[k]));
    let tile_of = |p: [usize; 3]| {
        let c: [usize; 3] = std::array::from_fn(|k| p[k] / chunks.chunk[k]);
        (c[0] * counts[1] + c[1]) * counts[2] + c[2]
    };

    // 2. Pairs of provisional labels that touch across a chunk boundary: each voxel looks at
    // its neighbours before it in C order (every touching pair once) that lie in another chunk.
    let offsets = connectivity.backward();
    let pairs: Vec<Vec<(u32, u32)>> = waves(&tiles, in_flight, |t, region| {
        let around = region.grown([1; 3], shape);
        let labels = store.read(&around)?;
        let values = labels.as_slice();
        let [_, ay, ax] = around.shape;
        let at = |p: [usize; 3]| {
            values[((p[0] - around.start[0]) * ay + p[1] - around.start[1]) * ax + p[2]
                - around.start[2]]
        };
        let mut found = std::collections::HashSet::new();
        let end = region.end();
        for z in region.start[0]..end[0] {
            for y in region.start[1]..end[1] {
                for x in region.start[2]..end[2] {
                    let on_face = [(z, 0), (y, 1), (x, 2)]
                        .iter()
                        .any(|&(c, k)| c == region.start[k] || c + 1 == end[k]);
                    if !on_face {
                        continue;
                    }
                    let lp = at([z, y, x]);
                    if lp == 0 {
                        continue;
                    }
                    for d in &offsets {
                        let q = [z as isize + d[0], y as isize + d[1], x as isize + d[2]];
                        if (0..3).any(|k| q[k] < 0 || q[k] >= shape[k] as isize) {
                            continue;
                        }
                        let q = q.map(|c| c as usize);
                        if (0..3).all(|k| q[k] >= region.start[k] && q[k] < end[k]) {
                            continue;
                        }
                        let lq = at(q);
                        if lq != 0 {
                            let a = base[t] + u64::from(lp);
                            let b = base[tile_of(q)] + u64::from(lq);
                            found.insert((a as u32, b as u32));
                        }
                    }
                }
            }
        }
        tick();
        Ok(found.into_iter().collect())
    })?;
    let mut parent: Vec<u32> = (0..=total as u32).collect();
    for (a, b) in pairs.into_iter().flatten() {
        let (ra, rb) = (find(&mut parent, a), find(&mut parent, b));
        parent[ra.max(rb) as usize] = ra.min(rb);
    }

    // 3. Components numbered by their first voxel, as the in-memory labelling numbers them.
    let mut first_of_root = vec![u64::MAX; total as usize + 1];
    for (t, f) in firsts.iter().enumerate() {
        for (k, &voxel) in f.iter().enumerate().skip(1) {
            let root = find(&mut parent, (base[t] + k as u64) as u32) as usize;
            first_of_root[root] = first_of_root[root].min(voxel);
        }
    }
    let mut roots: Vec<usize> = (1..=total as usize).filter(|&r| parent[r] == r as u32).collect();
    roots.sort_by_key(|&r| first_of_root[r]);
    let mut number = vec![0u32; total as usize + 1];
    for (n, &r) in roots.iter().enumerate() {
        number[r] = n as u32 + 1;
    }
    let final_label: Vec<u32> = (0..=total as u32)
        .map(|i| if i == 0 { 0 } else { number[find(&mut parent, i) as usize] })
        .collect();
    // `find` above needs `parent` mutably; the map is built, so the chunks only read it.
    waves(&tiles, in_flight, |t, region| {
        let local = store.read(region)?;
        let relabelled =
            local.map(|l| if l == 0 { 0 } else { final_label[(base[t] + u64::from(l)) as usize] });
        store.write(region, &relabelled)?;
        tick();
        Ok(())
    })?;
    Ok(roots.len() as u32)
}

/// The grid [`resample_chunked`] writes for `source` at `spacing` (mm, x y z): its geometry
/// and shape `(z, y, x)` ([`grid_for_spacing`](crate::resample::grid_for_spacing)).
pub fn resample_grid(
    source: &dyn ChunkSource<f32>,
    spacing: [f64; 3],
) -> Result<(hounsfield_core::Geometry, [usize; 3])> {
    let [nz, ny, nx] = source.shape();
    let (geometry, [sx, sy, sz]) =
        crate::resample::grid_for_spacing(source.geometry(), [nx, ny, nz], spacing)?;
    Ok((geometry, [sz, sy, sx]))
}

/// [`resample_to_spacing`](crate::resample::resample_to_spacing) chunk by chunk into `sink`
/// (of [`resample_grid`]'s shape): each output chunk reads only the input samples its
/// interpolation reaches (grown by the antialiasing Gaussian's reach when it smooths), so the
/// values equal the whole volume's resampling bit for bit. Nearest, linear and Lanczos; the
/// cubic B-spline (a prefilter over the whole input) is refused.
pub fn resample_chunked(
    source: &dyn ChunkSource<f32>,
    sink: &dyn ChunkSink<f32>,
    spacing: [f64; 3],
    options: &crate::resample::ResampleOptions,
    chunks: &ChunkOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<()> {
    let (geometry, out_shape) = resample_grid(source, spacing)?;
    let shape = source.shape();
    let input = source.geometry().clone();
    let smoothing = crate::resample::antialias_sigma(input.spacing(), spacing, options)
        .map(|sigma| GaussianOptions::new(0.0).with_sigma_xyz(sigma));
    let reach = match &smoothing {
        Some(g) => gaussian_reach(g, input.spacing())?,
        None => [0; 3],
    };
    // The input samples of an output chunk, smoothed with a halo where the global volume is.
    let read = |ranges: crate::resample::InputRanges| -> Result<Vec<f32>> {
        let region = Region::new(
            [ranges[2].start, ranges[1].start, ranges[0].start],
            [ranges[2].len(), ranges[1].len(), ranges[0].len()],
        )?;
        let Some(g) = &smoothing else { return Ok(source.read(&region)?.as_slice().to_vec()) };
        let padded = region.grown(reach, shape);
        let smooth = gaussian(&source.read(&padded)?, g)?;
        Ok(crop_to(&smooth, &padded, &region)?.as_slice().to_vec())
    };
    let tiles = Region::tiles(out_shape, chunks.chunk)?;
    let [nz, ny, nx] = shape;
    let size_xyz = [out_shape[2], out_shape[1], out_shape[0]];
    let done = std::sync::atomic::AtomicUsize::new(0);
    // Chunks in flight within the budget: each holds its output, its input block grown by the
    // interpolation's taps (at most 6) and the smoothing's reach, and two working copies.
    let old = input.spacing();
    let input_block: f64 = (0..3)
        .map(|k| {
            let c = chunks.chunk[2 - k].min(out_shape[2 - k]) as f64;
            c * spacing[k] / old[k] + 6.0 + 2.0 * reach[2 - k] as f64
        })
        .product();
    let out_block: usize = (0..3).map(|k| chunks.chunk[k].min(out_shape[k])).product();
    let per_chunk = (out_block as f64 + 3.0 * input_block) * 4.0;
    let in_flight = ((chunks.memory_bytes as f64 / per_chunk) as usize).clamp(1, tiles.len());
    for wave in tiles.chunks(in_flight) {
        wave.par_iter().try_for_each(|tile| -> Result<()> {
            let values = crate::resample::resample_block(
                &input,
                [nx, ny, nz],
                &read,
                &geometry,
                size_xyz,
                [tile.start[2], tile.start[1], tile.start[0]],
                [tile.shape[2], tile.shape[1], tile.shape[0]],
                options,
            )?;
            let placed = hounsfield_core::chunk::region_geometry(&geometry, tile)?;
            sink.write(tile, &Volume::from_vec(tile.shape, values, placed)?)?;
            progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, tiles.len());
            Ok(())
        })?;
    }
    Ok(())
}
