//! Chunked access to volumes: regions of voxels, and the source and sink traits through which
//! chunked processing reads and writes them, so that a filter can run over data larger than
//! memory (an OME-Zarr array in hounsfield-io, or a [`Volume`] in memory) without knowing which.
//!
//! Index order is the volume's: `(z, y, x)`.

use std::sync::Mutex;

use crate::{Element, Error, Geometry, Result, Volume};

/// A box of voxels: where it starts and how many voxels it spans along `(z, y, x)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Region {
    /// First voxel, `(z, y, x)`.
    pub start: [usize; 3],
    /// Voxels along each axis, `(z, y, x)`, all positive.
    pub shape: [usize; 3],
}

impl Region {
    /// A region; an error when an extent is zero or the end overflows.
    pub fn new(start: [usize; 3], shape: [usize; 3]) -> Result<Self> {
        if shape.contains(&0) || (0..3).any(|k| start[k].checked_add(shape[k]).is_none()) {
            return Err(Error::param(
                "region",
                format!("start {start:?} shape {shape:?}: every extent must be positive"),
            ));
        }
        Ok(Region { start, shape })
    }

    /// The whole of a volume of `shape`.
    pub fn whole(shape: [usize; 3]) -> Result<Self> {
        Region::new([0; 3], shape)
    }

    /// One past the last voxel along each axis.
    pub fn end(&self) -> [usize; 3] {
        std::array::from_fn(|k| self.start[k] + self.shape[k])
    }

    /// Number of voxels.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the region holds no voxel (never, for a region made by [`Region::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the region lies inside a volume of `shape`.
    pub fn fits(&self, shape: [usize; 3]) -> bool {
        (0..3).all(|k| self.end()[k] <= shape[k])
    }

    /// The region grown by `halo` voxels on every side, clipped to a volume of `shape`.
    pub fn grown(&self, halo: [usize; 3], shape: [usize; 3]) -> Region {
        let start: [usize; 3] = std::array::from_fn(|k| self.start[k].saturating_sub(halo[k]));
        let end: [usize; 3] =
            std::array::from_fn(|k| (self.end()[k].saturating_add(halo[k])).min(shape[k]));
        Region { start, shape: std::array::from_fn(|k| end[k] - start[k]) }
    }

    /// The chunks of `chunk` voxels (smaller at the far edges) that tile a volume of `shape`,
    /// in C order.
    pub fn tiles(shape: [usize; 3], chunk: [usize; 3]) -> Result<Vec<Region>> {
        if shape.contains(&0) || chunk.contains(&0) {
            return Err(Error::param(
                "chunk",
                format!("chunks of {chunk:?} over {shape:?} voxels: extents must be positive"),
            ));
        }
        let counts: [usize; 3] = std::array::from_fn(|k| shape[k].div_ceil(chunk[k]));
        let mut out = Vec::with_capacity(counts.iter().product());
        for cz in 0..counts[0] {
            for cy in 0..counts[1] {
                for cx in 0..counts[2] {
                    let start = [cz * chunk[0], cy * chunk[1], cx * chunk[2]];
                    let shape = std::array::from_fn(|k| chunk[k].min(shape[k] - start[k]));
                    out.push(Region { start, shape });
                }
            }
        }
        Ok(out)
    }
}

/// Where chunked processing reads voxels from.
pub trait ChunkSource<T: Element>: Sync {
    /// The whole volume's shape, `(z, y, x)`.
    fn shape(&self) -> [usize; 3];
    /// The whole volume's geometry.
    fn geometry(&self) -> &Geometry;
    /// The voxels of `region` (inside [`ChunkSource::shape`]) as a volume placed where the
    /// region lies (its origin at the region's first voxel).
    fn read(&self, region: &Region) -> Result<Volume<T>>;
}

/// Where chunked processing writes voxels to. Writes of different regions may come from
/// different threads at once.
pub trait ChunkSink<T: Element>: Sync {
    /// Stores `values`, shaped like `region`, at `region`.
    fn write(&self, region: &Region, values: &Volume<T>) -> Result<()>;
}

/// The geometry of `region` of a volume with `geometry`: the same axes and spacing, the
/// origin moved to the region's first voxel.
pub fn region_geometry(geometry: &Geometry, region: &Region) -> Result<Geometry> {
    let [z, y, x] = region.start;
    geometry.with_origin(geometry.index_to_physical([x as f64, y as f64, z as f64]))
}

fn outside(region: &Region, shape: [usize; 3]) -> Error {
    Error::param("region", format!("{region:?} does not fit in a volume of {shape:?} voxels"))
}

/// Copies `region` of `values` (a C-order array of `shape`) out.
fn copy_out<T: Element>(values: &[T], shape: [usize; 3], region: &Region) -> Vec<T> {
    let mut out = Vec::with_capacity(region.len());
    let [z0, y0, x0] = region.start;
    let [nz, ny, nx] = region.shape;
    for z in z0..z0 + nz {
        for y in y0..y0 + ny {
            let row = (z * shape[1] + y) * shape[2];
            out.extend_from_slice(&values[row + x0..row + x0 + nx]);
        }
    }
    out
}

impl<T: Element> ChunkSource<T> for Volume<T> {
    fn shape(&self) -> [usize; 3] {
        Volume::shape(self)
    }

    fn geometry(&self) -> &Geometry {
        Volume::geometry(self)
    }

    fn read(&self, region: &Region) -> Result<Volume<T>> {
        let shape = Volume::shape(self);
        if !region.fits(shape) {
            return Err(outside(region, shape));
        }
        let values = copy_out(self.as_slice(), shape, region);
        Volume::from_vec(region.shape, values, region_geometry(Volume::geometry(self), region)?)
    }
}

/// A volume in memory that chunks are written into (and read back from): the sink of small
/// inputs and of the tests.
#[derive(Debug)]
pub struct VolumeSink<T: Element> {
    shape: [usize; 3],
    geometry: Geometry,
    values: Mutex<Vec<T>>,
}

impl<T: Element> VolumeSink<T> {
    /// A sink of `shape` filled with `T::default()`.
    pub fn new(shape: [usize; 3], geometry: Geometry) -> Result<Self> {
        let len = crate::volume::checked_len(&shape, size_of::<T>(), u64::MAX)?;
        Ok(VolumeSink { shape, geometry, values: Mutex::new(vec![T::default(); len]) })
    }

    /// The volume written.
    pub fn into_volume(self) -> Result<Volume<T>> {
        let values = self.values.into_inner().map_err(|_| poisoned())?;
        Volume::from_vec(self.shape, values, self.geometry)
    }
}

fn poisoned() -> Error {
    Error::param("volume sink", "a writer panicked while holding it")
}

impl<T: Element> ChunkSink<T> for VolumeSink<T> {
    fn write(&self, region: &Region, values: &Volume<T>) -> Result<()> {
        if !region.fits(self.shape) {
            return Err(outside(region, self.shape));
        }
        if values.shape() != region.shape {
            return Err(Error::ShapeMismatch {
                what: "chunk",
                expected: region.shape.to_vec(),
                found: values.shape().to_vec(),
            });
        }
        let mut all = self.values.lock().map_err(|_| poisoned())?;
        let [z0, y0, x0] = region.start;
        let [nz, ny, nx] = region.shape;
        let src = values.as_slice();
        for z in 0..nz {
            for y in 0..ny {
                let row = ((z0 + z) * self.shape[1] + y0 + y) * self.shape[2] + x0;
                let from = (z * ny + y) * nx;
                all[row..row + nx].copy_from_slice(&src[from..from + nx]);
            }
        }
        Ok(())
    }
}

impl<T: Element> ChunkSource<T> for VolumeSink<T> {
    fn shape(&self) -> [usize; 3] {
        self.shape
    }

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn read(&self, region: &Region) -> Result<Volume<T>> {
        if !region.fits(self.shape) {
            return Err(outside(region, self.shape));
        }
        let all = self.values.lock().map_err(|_| poisoned())?;
        let values = copy_out(&all, self.shape, region);
        Volume::from_vec(region.shape, values, region_geometry(&self.geometry, region)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_volume_once_and_regions_round_trip_through_a_sink() {
        let shape = [5, 7, 9];
        let tiles = Region::tiles(shape, [2, 3, 4]).unwrap();
        assert_eq!(tiles.len(), 3 * 3 * 3);
        assert_eq!(tiles.iter().map(Region::len).sum::<usize>(), 5 * 7 * 9);
        assert_eq!(tiles[26], Region { start: [4, 6, 8], shape: [1, 1, 1] });
        let g = Geometry::axis_aligned([0.5, 1.0, 2.0], [10.0, 20.0, 30.0]).unwrap();
        let volume =
            Volume::from_vec(shape, (0..315).map(|i| i as f32).collect(), g.clone()).unwrap();
        let sink = VolumeSink::new(shape, g).unwrap();
        for t in &tiles {
            let part = ChunkSource::read(&volume, t).unwrap();
            // The part sits where it was: its first voxel's position is the region's.
            let [z, y, x] = t.start;
            assert_eq!(part.voxel_to_physical([0, 0, 0]), volume.voxel_to_physical([z, y, x]));
            sink.write(t, &part).unwrap();
        }
        assert_eq!(sink.into_volume().unwrap(), volume);
        // Growing clips at the edges; bad regions are refused.
        let r = Region::new([1, 0, 8], [2, 3, 1]).unwrap().grown([2, 2, 2], shape);
        assert_eq!(r, Region { start: [0, 0, 6], shape: [5, 5, 3] });
        assert!(Region::new([0; 3], [0, 1, 1]).is_err());
        assert!(ChunkSource::read(&volume, &Region::new([4, 0, 0], [2, 1, 1]).unwrap()).is_err());
        assert!(Region::tiles(shape, [0, 1, 1]).is_err());
    }
}
