//! Isosurfaces of volumes read chunk by chunk ([`ChunkSource`]: an OME-Zarr store, say), never
//! the whole volume in memory: each chunk's cubes are polygonised from its samples plus one of
//! halo (so gradient normals are those of the whole grid), and the chunk meshes are stitched on
//! their shared faces through each vertex's global grid-edge key. The result is the in-memory
//! [`isosurface`](crate::isosurface()) exactly, up to the order of vertices and triangles:
//! the same positions and normals bit for bit (but where the gradient vanishes, on a plateau at
//! the level, whose normals come from the faces of the vertex's chunk), watertight where it is.
//!
//! ```
//! use hounsfield_core::{Geometry, Volume};
//! use hounsfield_mesh::{IsoOptions, chunked::isosurface_chunked, isosurface};
//!
//! let n = 24;
//! let ball: Vec<f32> = (0..n * n * n)
//!     .map(|i| {
//!         let (z, y, x) = (i / (n * n), i / n % n, i % n);
//!         let d = |c: usize| c as f32 - 11.5;
//!         8.0 - (d(x) * d(x) + d(y) * d(y) + d(z) * d(z)).sqrt()
//!     })
//!     .collect();
//! let volume = Volume::from_vec([n; 3], ball, Geometry::axis_aligned([1.0; 3], [0.0; 3])?)?;
//! let options = IsoOptions::default();
//! let whole = isosurface(&volume, 0.0, &options)?;
//! let pieces = isosurface_chunked(&volume, 0.0, &options, [7, 7, 7], &|_, _| {})?;
//! assert_eq!(pieces.vertices.len(), whole.vertices.len());
//! assert!(pieces.stats().is_watertight());
//! # Ok::<(), hounsfield_core::Error>(())
//! ```

use std::collections::HashMap;

use hounsfield_core::chunk::{ChunkSource, Region};
use hounsfield_core::{Element, Error, Result};
use rayon::prelude::*;

use crate::isosurface::{IsoOptions, Window, extract};
use crate::mesh::TriMesh;

/// One chunk's mesh and the global edge key of each of its vertices.
struct Piece {
    mesh: TriMesh,
    keys: Vec<u64>,
}

/// The isosurface `value = level` of `source`, extracted over chunks of `chunk` cubes `(z, y,
/// x)` in parallel (each holding its samples and a one-sample halo) and stitched; equal to
/// [`isosurface`](crate::isosurface()) of the whole volume up to vertex and triangle order.
/// `progress(done, total)` after each chunk.
pub fn isosurface_chunked<T: Element>(
    source: &(impl ChunkSource<T> + ?Sized),
    level: f64,
    options: &IsoOptions,
    chunk: [usize; 3],
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<TriMesh> {
    if chunk.contains(&0) {
        return Err(Error::param("chunk", format!("{chunk:?} has a zero extent")));
    }
    let full = source.shape();
    if full.iter().any(|&n| n < 2) {
        return Ok(TriMesh::default());
    }
    let origin = source.geometry().index_to_physical([0.0; 3]);
    // Degenerate triangles are dropped once, after stitching (dropping renumbers vertices).
    let per_chunk = IsoOptions { drop_degenerate: false, ..*options };
    let cubes = full.map(|n| n - 1);
    let tiles = Region::tiles(cubes, chunk)?;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let polygonise = |tile: &Region| -> Result<Piece> {
        // Samples of the tile's cubes (start ..= end) and one of halo each side where the
        // grid has it.
        let start: [usize; 3] = std::array::from_fn(|k| tile.start[k].saturating_sub(1));
        let end: [usize; 3] = std::array::from_fn(|k| (tile.end()[k] + 2).min(full[k]));
        let samples = Region::new(start, std::array::from_fn(|k| end[k] - start[k]))?;
        let values = source.read(&samples)?;
        let local: [std::ops::Range<usize>; 3] =
            std::array::from_fn(|k| tile.start[k] - start[k]..tile.end()[k] - start[k]);
        let mut keys = Vec::new();
        let window = Window { offset: start, origin, cubes: local, full, keys: Some(&mut keys) };
        let mesh = extract(&values, level, None, &per_chunk, window)?;
        progress(done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1, tiles.len());
        Ok(Piece { mesh, keys })
    };
    // Waves of a few chunks per thread, in order: reads sweep the volume once, so a source
    // that caches decoded chunks finds each chunk's neighbours still there.
    let wave = 4 * rayon::current_num_threads().max(1);
    let mut pieces = Vec::with_capacity(tiles.len());
    for group in tiles.chunks(wave) {
        let made: Vec<Piece> = group.par_iter().map(polygonise).collect::<Result<_>>()?;
        pieces.extend(made);
    }
    stitch(pieces, full, chunk, options.drop_degenerate)
}

/// Whether the grid edge `key` lies in a sample plane that two chunks share (its vertex then
/// appears in both).
fn shared(key: u64, full: [usize; 3], chunk: [usize; 3]) -> bool {
    let axis = (key % 3) as usize;
    let sample = key / 3;
    let x = (sample % full[2] as u64) as usize;
    let y = (sample / full[2] as u64 % full[1] as u64) as usize;
    let z = (sample / (full[2] as u64 * full[1] as u64)) as usize;
    // (z, y, x) order against the x = 0, y = 1, z = 2 axis numbering.
    [(z, 2), (y, 1), (x, 0)]
        .iter()
        .zip([0, 1, 2])
        .any(|(&(s, a), k)| a != axis && s > 0 && s < full[k] - 1 && s.is_multiple_of(chunk[k]))
}

/// Joins the chunk meshes in chunk order, one vertex per shared grid edge.
fn stitch(
    pieces: Vec<Piece>,
    full: [usize; 3],
    chunk: [usize; 3],
    drop_degenerate: bool,
) -> Result<TriMesh> {
    let mut out = TriMesh::default();
    let with_normals = pieces.iter().any(|p| p.mesh.normals.is_some());
    let mut normals = Vec::new();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    for piece in pieces {
        let mut index = Vec::with_capacity(piece.keys.len());
        for (v, &key) in piece.keys.iter().enumerate() {
            let is_shared = shared(key, full, chunk);
            if is_shared && let Some(&id) = seen.get(&key) {
                index.push(id);
                continue;
            }
            let id = u32::try_from(out.vertices.len())
                .ok()
                .filter(|&id| id < u32::MAX)
                .ok_or_else(|| Error::TooLarge("isosurface with over 2^32 vertices".into()))?;
            out.vertices.push(piece.mesh.vertices[v]);
            if let Some(n) = &piece.mesh.normals {
                normals.push(n[v]);
            }
            if is_shared {
                seen.insert(key, id);
            }
            index.push(id);
        }
        out.triangles.extend(piece.mesh.triangles.iter().map(|t| t.map(|v| index[v as usize])));
    }
    if with_normals {
        out.normals = Some(normals);
    }
    if drop_degenerate {
        out = crate::process::drop_degenerate(&out);
    }
    Ok(out)
}
