//! Marching cubes with vertices shared by construction.
//!
//! Cubes are visited slab by slab in z; every crossing of a grid edge becomes exactly one vertex,
//! found again through per-slab index buffers by the (up to four) cubes sharing that edge, so
//! the mesh needs no welding and has no duplicate vertices. Output is deterministic (one pass in
//! a fixed order). The case table (`cases`) cuts ambiguous faces by a rule that depends on the
//! face alone, so surfaces that do not touch the volume's border are closed and manifold.
//!
//! **Samples equal to the level** count as inside (`value >= level`). A vertex is never placed
//! exactly on a sample: its position along the edge is kept within `[1e-5, 1 - 1e-5]`, so no two
//! vertices coincide even where samples equal the level (where exact placement would stack
//! several vertices on one point and leave zero-area triangles).

use hounsfield_core::{Element, Error, Result, Volume, mat3};
use serde::{Deserialize, Serialize};

use crate::cases::{EDGES, table};
use crate::mesh::TriMesh;

/// How far (in edge lengths) vertices keep from the samples. A sample exactly at the level
/// (integer CT values and an integer level) would otherwise put the vertices of all its edges
/// on one point: 1e-3 of an edge stays apart after rounding to f32 at coordinates of hundreds
/// of millimetres (1e-5 did not: coincident vertices and zero-area triangles, which STL readers
/// weld into non-manifold edges), and moves a vertex by at most a micrometre at 1 mm voxels.
const EDGE_MARGIN: f64 = 1e-3;

/// Options of [`isosurface`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IsoOptions {
    /// Compute vertex normals from the volume's gradient (physical space, pointing towards lower
    /// values: outward for a bright object).
    pub gradient_normals: bool,
    /// Drop zero-area triangles (false). Extraction never makes any (vertices keep off the
    /// samples), so this only guards against collinear crossings in exotic fields; dropping a
    /// triangle may open the surface.
    pub drop_degenerate: bool,
}

impl Default for IsoOptions {
    fn default() -> Self {
        IsoOptions { gradient_normals: true, drop_degenerate: false }
    }
}

/// [`isosurface`] within a region of interest: only cubes whose eight samples are all inside
/// `mask` (non-zero, same shape as the volume) are polygonised, so the surface stops (open) at
/// the region's border, as scikit-image's `mask` does.
pub fn isosurface_in<T: Element>(
    volume: &Volume<T>,
    level: f64,
    mask: &Volume<u8>,
    options: &IsoOptions,
) -> Result<TriMesh> {
    volume.check_same_shape(mask, "mask")?;
    extract(volume, level, Some(mask.as_slice()), options, Window::whole(volume)?)
}

/// The isosurface `value = level` of `volume` in physical coordinates.
///
/// Normals point from inside (`>= level`) to outside; where the volume's direction matrix has a
/// negative determinant (a mirrored grid) the winding is flipped so that they still do. A surface
/// that reaches the volume's border is open there: pad the volume (with a value below the level)
/// to close it.
pub fn isosurface<T: Element>(
    volume: &Volume<T>,
    level: f64,
    options: &IsoOptions,
) -> Result<TriMesh> {
    extract(volume, level, None, options, Window::whole(volume)?)
}

/// Where the samples given to [`extract`] lie in a larger grid, and which of their cubes to
/// polygonise: chunked extraction gives each chunk's cubes with a sample of halo around them,
/// so that positions and gradients are those of the whole grid, bit for bit.
pub(crate) struct Window<'a> {
    /// Global index `(z, y, x)` of the first sample.
    pub offset: [usize; 3],
    /// Physical position of the global grid's sample (0, 0, 0).
    pub origin: [f64; 3],
    /// Local cube ranges `(z, y, x)`: cube `c` spans samples `c` and `c + 1`.
    pub cubes: [std::ops::Range<usize>; 3],
    /// The global grid's shape `(z, y, x)`, for the edge keys.
    pub full: [usize; 3],
    /// Receives each vertex's global edge key (see [`edge_key`]).
    pub keys: Option<&'a mut Vec<u64>>,
}

impl Window<'_> {
    /// All cubes of `volume`, which is the whole grid.
    fn whole<T: Element>(volume: &Volume<T>) -> Result<Self> {
        let n = volume.shape();
        Ok(Window {
            offset: [0; 3],
            origin: volume.geometry().index_to_physical([0.0; 3]),
            cubes: n.map(|k| 0..k.saturating_sub(1)),
            full: n,
            keys: None,
        })
    }
}

/// The global key of the grid edge from sample `(x, y, z)` along `axis` (0 = x, 1 = y, 2 = z)
/// in a grid of `full` `(z, y, x)` samples: the same edge has the same key in every chunk.
pub(crate) fn edge_key(full: [usize; 3], [x, y, z]: [usize; 3], axis: usize) -> u64 {
    ((z as u64 * full[1] as u64 + y as u64) * full[2] as u64 + x as u64) * 3 + axis as u64
}

pub(crate) fn extract<T: Element>(
    volume: &Volume<T>,
    level: f64,
    mask: Option<&[u8]>,
    options: &IsoOptions,
    mut window: Window<'_>,
) -> Result<TriMesh> {
    if !level.is_finite() {
        return Err(Error::param("level", format!("must be finite, found {level}")));
    }
    let data = volume.as_slice();
    let level32 = level as f32;
    // Samples are read in their own type (no copy of the volume) and compared in f32.
    let value = |i: usize| data[i].to_f64() as f32;
    let [nz, ny, nx] = volume.shape();
    let g = volume.geometry();
    let sp = g.spacing();
    let d = g.direction();
    let m: mat3::Mat3 = std::array::from_fn(|r| std::array::from_fn(|c| d[r][c] * sp[c]));
    let origin = window.origin;
    let [oz, oy, ox] = window.offset;
    let [cz, cy, cx] = window.cubes.clone();
    if cz.end > nz.saturating_sub(1)
        || cy.end > ny.saturating_sub(1)
        || cx.end > nx.saturating_sub(1)
    {
        return Err(Error::param("cubes", format!("{:?} beyond {:?}", window.cubes, [nz, ny, nx])));
    }
    let flip = mat3::det(&d) < 0.0;
    // Gradients map to physical space through the inverse transpose of index -> physical.
    let m_inv_t = mat3::inverse(&m)
        .map(|inv| std::array::from_fn::<[f64; 3], 3, _>(|r| std::array::from_fn(|c| inv[c][r])))
        .ok_or_else(|| Error::InvalidGeometry("singular index-to-physical matrix".into()))?;
    let mut mesh = TriMesh::default();
    if nx < 2 || ny < 2 || nz < 2 {
        return Ok(mesh);
    }
    let at = |x: usize, y: usize, z: usize| value((z * ny + y) * nx + x);
    let plane = nx * ny;
    let none = u32::MAX;
    // Vertex index of each grid edge's crossing: x- and y-edges of the slab's lower and upper
    // slice (swapped as the slab moves up), z-edges of the slab.
    let mut x_edges = [vec![none; plane], vec![none; plane]];
    let mut y_edges = [vec![none; plane], vec![none; plane]];
    let mut z_edges = vec![none; plane];
    let mut gradients = Vec::new();
    let cases = table();
    // First pass, as in Flying Edges: which samples are inside, and per row of samples the
    // first and last x-edge that changes state, so that runs of empty cubes are skipped whole.
    let mut rows = Vec::with_capacity(ny * nz);
    for (k, row) in data.chunks(nx).enumerate() {
        rows.push(RowSpan::new(row, level32).map_err(|(x, v)| {
            // The index in the whole grid (a chunk's samples are part of it).
            let (z, y) = (k / ny + window.offset[0], k % ny + window.offset[1]);
            let [_, fy, fx] = window.full;
            Error::NotFinite {
                what: "volume",
                value: f64::from(v),
                index: (z * fy + y) * fx + x + window.offset[2],
            }
        })?);
    }
    for z in cz {
        let (lower, upper) = (z & 1, (z & 1) ^ 1);
        x_edges[upper].fill(none);
        y_edges[upper].fill(none);
        z_edges.fill(none);
        for y in cy.clone() {
            // The four sample rows around this row of cubes, in corner-bit order (dy, dz).
            let r = [z * ny + y, z * ny + y + 1, (z + 1) * ny + y, (z + 1) * ny + y + 1];
            let Some((x0, x1)) = cube_run(r.map(|k| rows[k]), nx) else { continue };
            let (x0, x1) = (x0.max(cx.start), x1.min(cx.end.wrapping_sub(1)));
            if cx.is_empty() || x0 > x1 {
                continue;
            }
            let bits = r.map(|k| &data[k * nx..(k + 1) * nx]);
            let inside = |row: &[T], x: usize| usize::from(row[x].to_f64() as f32 >= level32);
            let high = |x: usize| -> usize {
                inside(bits[0], x) << 1
                    | inside(bits[1], x) << 3
                    | inside(bits[2], x) << 5
                    | inside(bits[3], x) << 7
            };
            // Start as if the cube before x0 had x0's samples as its x + 1 corners.
            let mut case = high(x0);
            for x in x0..=x1 {
                // Slide the cube: its x + 1 corners become the next cube's x corners.
                case = (case >> 1 & 0x55) | high(x + 1);
                if case == 0 || case == 255 {
                    continue;
                }
                if let Some(m) = mask {
                    let inside = |c: u8| {
                        let (dx, dy, dz) =
                            (usize::from(c & 1), usize::from(c >> 1 & 1), usize::from(c >> 2 & 1));
                        m[((z + dz) * ny + y + dy) * nx + x + dx] != 0
                    };
                    if !(0..8u8).all(inside) {
                        continue;
                    }
                }
                let corner = |c: u8| {
                    at(
                        x + usize::from(c & 1),
                        y + usize::from(c >> 1 & 1),
                        z + usize::from(c >> 2 & 1),
                    )
                };
                // Each crossed edge serves about two of the cube's triangles: look it up once.
                let mut cube_ids = [none; 12];
                for tri in &cases.triangles[case] {
                    let mut ids = [0u32; 3];
                    for (slot, &e) in ids.iter_mut().zip(tri) {
                        if cube_ids[e as usize] != none {
                            *slot = cube_ids[e as usize];
                            continue;
                        }
                        let (a, b) = EDGES[e as usize];
                        let (dx, dy, dz) =
                            (usize::from(a & 1), usize::from(a >> 1 & 1), usize::from(a >> 2 & 1));
                        let side = if dz == 0 { lower } else { upper };
                        let entry = match a ^ b {
                            1 => &mut x_edges[side][(y + dy) * nx + x],
                            2 => &mut y_edges[side][y * nx + x + dx],
                            _ => &mut z_edges[(y + dy) * nx + x + dx],
                        };
                        if *entry == none {
                            let (va, vb) = (f64::from(corner(a)), f64::from(corner(b)));
                            let t =
                                ((level - va) / (vb - va)).clamp(EDGE_MARGIN, 1.0 - EDGE_MARGIN);
                            let axis = [
                                f64::from(a ^ b == 1),
                                f64::from(a ^ b == 2),
                                f64::from(a ^ b == 4),
                            ];
                            let ijk = [
                                (ox + x + dx) as f64 + t * axis[0],
                                (oy + y + dy) as f64 + t * axis[1],
                                (oz + z + dz) as f64 + t * axis[2],
                            ];
                            if let Some(keys) = window.keys.as_deref_mut() {
                                let start = [ox + x + dx, oy + y + dy, oz + z + dz];
                                let axis = usize::from(a ^ b).trailing_zeros() as usize;
                                keys.push(edge_key(window.full, start, axis));
                            }
                            let p = mat3::mul_vec(&m, ijk);
                            mesh.vertices.push(std::array::from_fn(|k| (origin[k] + p[k]) as f32));
                            if options.gradient_normals {
                                let ga = gradient(&at, [nx, ny, nz], [x + dx, y + dy, z + dz]);
                                let cb = [
                                    x + usize::from(b & 1),
                                    y + usize::from(b >> 1 & 1),
                                    z + usize::from(b >> 2 & 1),
                                ];
                                let gb = gradient(&at, [nx, ny, nz], cb);
                                let gi: [f64; 3] =
                                    std::array::from_fn(|k| ga[k] + t * (gb[k] - ga[k]));
                                gradients.push(mat3::mul_vec(&m_inv_t, gi));
                            }
                            *entry = (mesh.vertices.len() - 1) as u32;
                        }
                        *slot = *entry;
                        cube_ids[e as usize] = *entry;
                    }
                    if flip {
                        ids.swap(1, 2);
                    }
                    mesh.triangles.push(ids);
                }
            }
        }
        if mesh.vertices.len() >= u32::MAX as usize - 12 * plane {
            return Err(Error::TooLarge(format!(
                "isosurface with over {} vertices",
                mesh.vertices.len()
            )));
        }
    }
    if options.gradient_normals {
        let length = |g: &[f64; 3]| (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt();
        // A flat gradient (a plateau at the level) falls back to the faces' normal, computed
        // only when some vertex needs it.
        let faces =
            gradients.iter().any(|g| length(g) == 0.0).then(|| mesh.vertex_normals_from_faces());
        let normals = gradients
            .iter()
            .enumerate()
            .map(|(k, g)| {
                let len = length(g);
                if len > 0.0 {
                    g.map(|c| (-c / len) as f32)
                } else {
                    faces.as_ref().map_or([0.0; 3], |f| f[k])
                }
            })
            .collect();
        mesh.normals = Some(normals);
    }
    if options.drop_degenerate {
        mesh = crate::process::drop_degenerate(&mesh);
    }
    Ok(mesh)
}

/// Where a row of samples changes state: the first and last x-edge that does (`first > last`
/// when none does) and its states at both ends.
#[derive(Clone, Copy, Debug)]
struct RowSpan {
    first: usize,
    last: usize,
    start: u8,
    end: u8,
}

impl RowSpan {
    /// The span of a row at `level`, or the position and value of a non-finite sample.
    fn new<T: Element>(row: &[T], level: f32) -> std::result::Result<Self, (usize, f32)> {
        let mut span = RowSpan { first: row.len(), last: 0, start: 0, end: 0 };
        let mut previous = 0u8;
        for (x, v) in row.iter().enumerate() {
            let v = v.to_f64() as f32;
            if !v.is_finite() {
                return Err((x, v));
            }
            let state = u8::from(v >= level);
            if x == 0 {
                span.start = state;
            } else if state != previous {
                span.first = span.first.min(x - 1);
                span.last = x - 1;
            }
            previous = state;
        }
        span.end = previous;
        Ok(span)
    }
}

/// The cubes `x0..=x1` of a row of cubes that can hold surface, from its four sample rows: left
/// of every row's first change the rows are constant at their start states, right of the last
/// change at their end states; there the cubes are empty when the four states agree.
fn cube_run(spans: [RowSpan; 4], nx: usize) -> Option<(usize, usize)> {
    let first = spans.iter().map(|s| s.first).min().unwrap_or(nx);
    let last = spans.iter().map(|s| s.last).max().unwrap_or(0);
    let changes = spans.iter().any(|s| s.first <= s.last);
    let same_start = spans.iter().all(|s| s.start == spans[0].start);
    let same_end = spans.iter().all(|s| s.end == spans[0].end);
    let x0 = if same_start { first } else { 0 };
    let x1 = if same_end { if changes { last } else { 0 } } else { nx - 2 };
    if !changes && same_start && same_end {
        return None;
    }
    (x0 <= x1).then_some((x0, x1.min(nx - 2)))
}

/// Central-difference gradient in index space at a sample (one-sided at the borders).
fn gradient(at: &impl Fn(usize, usize, usize) -> f32, n: [usize; 3], p: [usize; 3]) -> [f64; 3] {
    std::array::from_fn(|k| {
        let mut lo = p;
        let mut hi = p;
        lo[k] = p[k].saturating_sub(1);
        hi[k] = (p[k] + 1).min(n[k] - 1);
        let span = (hi[k] - lo[k]) as f64;
        if span == 0.0 {
            0.0
        } else {
            (f64::from(at(hi[0], hi[1], hi[2])) - f64::from(at(lo[0], lo[1], lo[2]))) / span
        }
    })
}
