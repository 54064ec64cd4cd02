//! OME-Zarr v3 volumes (NGFF 0.5), whole or region by region, through the `zarrs` crate: the
//! chunk source and sink of chunked processing (`hounsfield_filter::chunked`).
//!
//! Layout: a group `image.zarr/` whose `zarr.json` holds the NGFF `multiscales` (axes z, y, x
//! in millimetres, a `scale` and a `translation` per level) and, under `hounsfield`, the full
//! geometry of level 0 (LPS origin, spacing and direction cosines, which NGFF cannot hold); the
//! array `image.zarr/0/` in chunks (optionally shards of chunks), zstd or gzip compressed, and
//! on request a pyramid `1/`, `2/`, ... each half the level above ([`ZarrOptions::levels`]).
//!
//! Reading takes any level ([`ZarrRead::level`]) of Zarr v3 (OME-Zarr 0.5) and Zarr v2
//! (OME-Zarr 0.4; blosc, zlib, gzip or zstd) stores. NGFF records no patient orientation, so a
//! store without the `hounsfield` geometry is read only when the caller says which way its x, y
//! and z axes run ([`ZarrRead::orientation`]), never placed in a guessed frame; its axes must end
//! with z, y, x in a length unit, any axes before them (t, c) of extent 1.
//!
//! ```
//! use hounsfield_core::{ChunkSource, Geometry, Region, Volume};
//! use hounsfield_io::zarr::{ZarrOptions, ZarrVolume, read_zarr, write_zarr};
//!
//! let dir = std::env::temp_dir().join(format!("hounsfield-zarr-doc-{}", std::process::id()));
//! let _ = std::fs::remove_dir_all(&dir);
//! std::fs::create_dir_all(&dir)?;
//! let g = Geometry::axis_aligned([0.5, 0.5, 2.0], [-10.0, 4.0, 30.0])?;
//! let volume = Volume::from_vec([6, 10, 12], (0..720).map(|i| i as f32).collect(), g)?;
//! let path = dir.join("ct.zarr");
//! write_zarr(&path, &volume, &ZarrOptions::new([4, 8, 8]))?;
//! assert_eq!(read_zarr::<f32>(&path)?, volume);
//! // A region, read without the rest.
//! let part = ZarrVolume::<f32>::open(&path)?.read(&Region::new([1, 2, 3], [2, 2, 2])?)?;
//! assert_eq!(part.as_slice()[0], (12 * 10 + 2 * 12 + 3) as f32);
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hounsfield_core::chunk::{ChunkSink, ChunkSource, Region, region_geometry};
use hounsfield_core::{DType, DynVolume, Element, Geometry, Orientation, Volume};
use rayon::prelude::*;
use serde_json::Value;
use zarrs::array::builder::ArrayBuilderFillValue;
use zarrs::array::chunk_cache::{ChunkCache, ChunkCacheDecodedLruSizeLimit};
use zarrs::array::{
    Array, ArrayBuilder, ArraySubset, BytesToBytesCodecTraits, CodecOptions, codec, data_type,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::{Group, GroupBuilder};
use zarrs::storage::ReadableStorageTraits;

use crate::error::{Error, Result};

mod ngff;
mod pyramid;

use ngff::{attributes, geometry_of, level_geometry, multiscale};
pub use pyramid::{Downsample, write_pyramid, write_pyramid_dyn};

/// The full-resolution array inside the group (NGFF's first level).
const ARRAY: &str = "/0";

/// The most pyramid levels written below level 0.
pub const MAX_LEVELS: usize = 16;

/// How chunks are compressed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Compression {
    /// Stored as they are.
    None,
    /// Zstandard at this level (1-22; 3 is a good default).
    Zstd(i32),
    /// gzip at this level (0-9).
    Gzip(u32),
}

/// How a volume is written.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ZarrOptions {
    /// Chunk shape `(z, y, x)`: the unit of reading and, without shards, of writing.
    pub chunk: [usize; 3],
    /// Shard shape `(z, y, x)`, a multiple of the chunk: one file per shard instead of per
    /// chunk (fewer files for large volumes); the unit of writing.
    pub shard: Option<[usize; 3]>,
    /// Chunk compression.
    pub compression: Compression,
    /// Pyramid levels below full resolution (NGFF multiscales), each half the one above;
    /// fewer when every axis is down to one voxel first. At most [`MAX_LEVELS`].
    pub levels: usize,
    /// How levels are made; `None`: [`Downsample::default_for`] the element type.
    pub downsample: Option<Downsample>,
}

impl ZarrOptions {
    /// Chunks of `chunk` voxels, zstd level 3, no shards, no pyramid.
    pub fn new(chunk: [usize; 3]) -> Self {
        ZarrOptions {
            chunk,
            shard: None,
            compression: Compression::Zstd(3),
            levels: 0,
            downsample: None,
        }
    }

    /// With `levels` pyramid levels made by `downsample` (`None`: the element type's default).
    pub fn with_pyramid(mut self, levels: usize, downsample: Option<Downsample>) -> Self {
        self.levels = levels;
        self.downsample = downsample;
        self
    }
}

/// How an OME-Zarr store is read.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ZarrRead {
    /// The resolution level: 0 is full resolution, then the NGFF `datasets` in order.
    pub level: usize,
    /// Which way the store's x, y and z axes run (e.g. "RAS": x towards the patient's right),
    /// for a store written by another tool: NGFF does not record it, and without it such a
    /// store is refused. A store with Hounsfield's geometry must agree with it when given.
    pub orientation: Option<Orientation>,
}

/// A volume stored as OME-Zarr: its shape, chunks and geometry; voxels read and written by
/// region.
pub struct ZarrVolume<T> {
    path: PathBuf,
    array: Array<FilesystemStore>,
    /// Axes before z, y, x (t, c) in a store written elsewhere, each of extent 1.
    lead: usize,
    shape: [usize; 3],
    /// The unit of writing: the shard, or the chunk without shards.
    block: [usize; 3],
    geometry: Geometry,
    /// Decoded chunks kept for later reads ([`ZarrVolume::with_cache`]).
    cache: Option<Arc<ChunkCacheDecodedLruSizeLimit>>,
    element: PhantomData<T>,
}

impl<T> std::fmt::Debug for ZarrVolume<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrVolume")
            .field("path", &self.path)
            .field("shape", &self.shape)
            .field("block", &self.block)
            .finish_non_exhaustive()
    }
}

/// Element types stored in Zarr.
pub trait ZarrElement: Element + zarrs::array::ElementOwned {}
impl<T: Element + zarrs::array::ElementOwned> ZarrElement for T {}

fn zarr_type(dtype: DType) -> zarrs::array::DataType {
    match dtype {
        DType::U8 => data_type::uint8(),
        DType::I8 => data_type::int8(),
        DType::U16 => data_type::uint16(),
        DType::I16 => data_type::int16(),
        DType::U32 => data_type::uint32(),
        DType::I32 => data_type::int32(),
        DType::F32 => data_type::float32(),
        DType::F64 => data_type::float64(),
    }
}

/// Zero of `dtype` as the array's fill value (what unwritten chunks read as).
fn zero(dtype: DType) -> ArrayBuilderFillValue {
    match dtype {
        DType::U8 => 0u8.into(),
        DType::I8 => 0i8.into(),
        DType::U16 => 0u16.into(),
        DType::I16 => 0i16.into(),
        DType::U32 => 0u32.into(),
        DType::I32 => 0i32.into(),
        DType::F32 => 0f32.into(),
        DType::F64 => 0f64.into(),
    }
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::InvalidHeader { path: path.to_owned(), reason: reason.to_string() }
}

fn cannot_write(path: &Path, reason: impl std::fmt::Display) -> Error {
    Error::CannotWrite { path: path.to_owned(), reason: reason.to_string() }
}

/// A zarr or filesystem error as a core error naming the file (the chunk traits' error type).
fn core_error(path: &Path, e: impl std::fmt::Display) -> hounsfield_core::Error {
    hounsfield_core::Error::param("zarr", format!("{}: {e}", path.display()))
}

fn store(path: &Path) -> Result<Arc<FilesystemStore>> {
    FilesystemStore::new(path).map(Arc::new).map_err(|e| invalid(path, e))
}

/// How many times a grid of `shape` halves (rounding up) before every axis is one voxel: the
/// deepest pyramid it has.
pub fn possible_levels(shape: [usize; 3]) -> usize {
    shape.iter().map(|&n| n.max(1).next_power_of_two().trailing_zeros() as usize).max().unwrap_or(0)
}

/// Refuses a layout that cannot be written: zero extents, shards not made of chunks, more
/// pyramid levels than the grid halves into. Checked before anything is written.
pub fn check_layout(path: &Path, shape: [usize; 3], options: &ZarrOptions) -> Result<()> {
    let chunk = options.chunk;
    if shape.contains(&0) || chunk.contains(&0) {
        return Err(cannot_write(path, format!("shape {shape:?} chunks {chunk:?}: zero extent")));
    }
    let block = options.shard.unwrap_or(chunk);
    if (0..3).any(|k| !block[k].is_multiple_of(chunk[k])) {
        return Err(cannot_write(
            path,
            format!("shards {block:?} are not made of chunks {chunk:?}"),
        ));
    }
    let possible = possible_levels(shape);
    if options.levels > possible.min(MAX_LEVELS) {
        return Err(cannot_write(
            path,
            format!(
                "{} pyramid levels asked for: a {}x{}x{} (x, y, z) grid halves to one voxel after \
                 {possible} (at most {MAX_LEVELS})",
                options.levels, shape[2], shape[1], shape[0]
            ),
        ));
    }
    Ok(())
}

/// Builds (and stores the metadata of) an empty array of our layout at `array_path`.
fn build_array(
    path: &Path,
    storage: Arc<FilesystemStore>,
    array_path: &str,
    shape: [usize; 3],
    dtype: DType,
    options: &ZarrOptions,
) -> Result<Array<FilesystemStore>> {
    let chunk = options.chunk;
    let to_u64 = |v: [usize; 3]| v.map(|x| x as u64).to_vec();
    let block = options.shard.unwrap_or(chunk);
    let mut builder =
        ArrayBuilder::new(to_u64(shape), to_u64(block), zarr_type(dtype), zero(dtype));
    builder.dimension_names(Some(["z", "y", "x"]));
    if options.shard.is_some() {
        builder.subchunk_shape(to_u64(chunk));
    }
    let codecs: Vec<Arc<dyn BytesToBytesCodecTraits>> = match options.compression {
        Compression::None => Vec::new(),
        Compression::Zstd(level) => vec![Arc::new(codec::ZstdCodec::new(level, false))],
        Compression::Gzip(level) => {
            vec![Arc::new(codec::GzipCodec::new(level).map_err(|e| cannot_write(path, e))?)]
        }
    };
    builder.bytes_to_bytes_codecs(codecs);
    let array = builder.build(storage, array_path).map_err(|e| cannot_write(path, e))?;
    array.store_metadata().map_err(|e| cannot_write(path, e))?;
    Ok(array)
}

/// Whether the store at `path` records Hounsfield's geometry (else its orientation was given).
pub fn has_geometry(path: &Path) -> bool {
    ["zarr.json", ".zattrs"].iter().any(|f| {
        std::fs::read(path.join(f))
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|v| {
                v.get("hounsfield").is_some() || v["attributes"].get("hounsfield").is_some()
            })
    })
}

/// Whether `path` holds a Zarr group (v3 `zarr.json` or v2 `.zgroup`/`.zattrs`).
pub fn is_zarr_store(path: &Path) -> bool {
    path.is_dir() && ["zarr.json", ".zgroup", ".zattrs"].iter().any(|f| path.join(f).is_file())
}

/// An opened level of a store: its array, geometry and layout.
struct Opened {
    array: Array<FilesystemStore>,
    geometry: Geometry,
    lead: usize,
    shape: [usize; 3],
    block: [usize; 3],
    levels: usize,
}

fn open_level(path: &Path, read: &ZarrRead) -> Result<Opened> {
    if !is_zarr_store(path) {
        return Err(Error::WrongFormat {
            path: path.to_owned(),
            format: "Zarr (OME-Zarr)",
            reason: "not a Zarr group (no zarr.json, .zgroup or .zattrs)".into(),
        });
    }
    let storage = store(path)?;
    let group = Group::open(storage.clone(), "/").map_err(|e| invalid(path, e))?;
    let image = multiscale(path, group.attributes())?;
    let ours = geometry_of(path, group.attributes())?;
    let levels = image.levels.len();
    if read.level >= levels {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            what: format!("level {}: the store has {levels} (0 to {})", read.level, levels - 1),
        });
    }
    let geometry = level_geometry(path, ours, &image, read.level, read.orientation)?;
    let level = &image.levels[read.level];
    let array = Array::open(storage, &format!("/{}", level.path))
        .map_err(|e| invalid(path, format!("level {} ({}): {e}", read.level, level.path)))?;
    let lead = image.lead;
    let dims = array.shape().to_vec();
    if dims.len() != lead + 3 {
        return Err(invalid(
            path,
            format!("array {} has {} dimensions for {} axes", level.path, dims.len(), lead + 3),
        ));
    }
    if let Some(k) = dims[..lead].iter().position(|&d| d != 1) {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            what: format!(
                "axis {k} (before z, y, x) has {} entries: one 3D volume is read, so every \
                 axis before z, y, x must have one",
                dims[k]
            ),
        });
    }
    let shape = [dims[lead], dims[lead + 1], dims[lead + 2]].map(|v| v as usize);
    // Our stores record level 0's shape; each level's array must be that grid halved (a
    // dataset path pointed at another level's array would otherwise be read at this level's
    // spacing).
    let recorded = group.attributes().get("hounsfield").and_then(|h| h.get("shape_zyx"));
    if let Some(recorded) = recorded {
        let base: [usize; 3] = serde_json::from_value(recorded.clone())
            .map_err(|e| invalid(path, format!("hounsfield.shape_zyx: {e}")))?;
        let expected = (0..read.level).fold(base, |s, _| s.map(|n| n.div_ceil(2)));
        if shape != expected {
            return Err(invalid(
                path,
                format!(
                    "level {} (array {}) holds {shape:?} voxels (z, y, x) where the recorded \
                     level 0 of {base:?} gives {expected:?}: edited by another tool?",
                    read.level, level.path
                ),
            ));
        }
    }
    let block = array.chunk_shape_usize(&vec![0; lead + 3]).map_err(|e| invalid(path, e))?;
    let block = [block[lead], block[lead + 1], block[lead + 2]];
    Ok(Opened { array, geometry, lead, shape, block, levels })
}

impl<T: ZarrElement> ZarrVolume<T> {
    /// Creates an empty OME-Zarr volume at `path` (which must not exist) of `shape` `(z, y, x)`
    /// with `geometry`; chunks are written with [`ChunkSink::write`], and the pyramid of
    /// `options.levels` afterwards by [`write_pyramid`].
    pub fn create(
        path: &Path,
        shape: [usize; 3],
        geometry: &Geometry,
        options: &ZarrOptions,
    ) -> Result<Self> {
        if path.exists() {
            return Err(cannot_write(path, "already exists (remove it first)"));
        }
        check_layout(path, shape, options)?;
        let block = options.shard.unwrap_or(options.chunk);
        // The store's own directory only: a missing parent is a mistyped path, as for any file.
        std::fs::create_dir(path).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
        let storage = store(path)?;
        let mut group =
            GroupBuilder::new().build(storage.clone(), "/").map_err(|e| cannot_write(path, e))?;
        if let Value::Object(mut map) = attributes(geometry) {
            // The grid's shape too: a level whose array is not the one written is then caught.
            if let Some(Value::Object(ours)) = map.get_mut("hounsfield") {
                ours.insert("shape_zyx".into(), serde_json::json!(shape));
            }
            *group.attributes_mut() = map;
        }
        group.store_metadata().map_err(|e| cannot_write(path, e))?;
        let array = build_array(path, storage, ARRAY, shape, T::DTYPE, options)?;
        Ok(ZarrVolume {
            path: path.to_owned(),
            array,
            lead: 0,
            shape,
            block,
            geometry: geometry.clone(),
            cache: None,
            element: PhantomData,
        })
    }

    /// Opens the full-resolution level of an OME-Zarr volume written by
    /// [`ZarrVolume::create`] (or [`write_zarr`]); its element type must be `T`.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, &ZarrRead::default())
    }

    /// Opens a level of an OME-Zarr volume (Zarr v3 or v2; see [`ZarrRead`]); its element
    /// type must be `T`.
    pub fn open_with(path: &Path, read: &ZarrRead) -> Result<Self> {
        let Opened { array, geometry, lead, shape, block, .. } = open_level(path, read)?;
        if array.data_type() != &zarr_type(T::DTYPE) {
            return Err(invalid(path, format!("holds {}, not {}", array.data_type(), T::DTYPE)));
        }
        Ok(ZarrVolume {
            path: path.to_owned(),
            array,
            lead,
            shape,
            block,
            geometry,
            cache: None,
            element: PhantomData,
        })
    }

    /// Keeps up to `bytes` of decoded chunks (least recently used dropped first) for the reads
    /// that follow: regions read with halos decode each chunk several times otherwise (a
    /// chunk's 26 neighbours each read a sliver of it). Reads return the same values.
    pub fn with_cache(mut self, bytes: u64) -> Result<Self> {
        let storage: Arc<dyn ReadableStorageTraits> = store(&self.path)?;
        let array =
            Array::open(storage, self.array.path().as_str()).map_err(|e| invalid(&self.path, e))?;
        self.cache = Some(Arc::new(ChunkCacheDecodedLruSizeLimit::new(Arc::new(array), bytes)));
        Ok(self)
    }

    /// Bytes of one decoded chunk (the unit a cache holds).
    pub fn chunk_bytes(&self) -> u64 {
        let chunk = self.array.chunk_shape_usize(&vec![0; self.lead + 3]).unwrap_or_default();
        chunk.iter().product::<usize>() as u64 * size_of::<T>() as u64
    }

    /// The shape `(z, y, x)`.
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    /// The unit of writing `(z, y, x)`: the shard, or the chunk without shards. Chunked
    /// processing into this volume uses it (or a multiple) as its chunk shape.
    pub fn block(&self) -> [usize; 3] {
        self.block
    }

    /// The data type stored.
    pub fn dtype(&self) -> DType {
        T::DTYPE
    }

    fn subset(&self, region: &Region) -> ArraySubset {
        let ranges: Vec<std::ops::Range<u64>> = (0..self.lead)
            .map(|_| 0..1)
            .chain((0..3).map(|k| region.start[k] as u64..region.end()[k] as u64))
            .collect();
        ArraySubset::new_with_ranges(&ranges)
    }
}

impl<T: ZarrElement> ChunkSource<T> for ZarrVolume<T> {
    fn shape(&self) -> [usize; 3] {
        self.shape
    }

    fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    fn read(&self, region: &Region) -> hounsfield_core::Result<Volume<T>> {
        if !region.fits(self.shape) {
            return Err(core_error(&self.path, format!("{region:?} is outside {:?}", self.shape)));
        }
        let subset = self.subset(region);
        let values: Vec<T> = match &self.cache {
            Some(cache) => cache.retrieve_array_subset(&subset, &CodecOptions::default()),
            None => self.array.retrieve_array_subset(&subset),
        }
        .map_err(|e| core_error(&self.path, e))?;
        Volume::from_vec(region.shape, values, region_geometry(&self.geometry, region)?)
    }
}

impl<T: ZarrElement> ChunkSink<T> for ZarrVolume<T> {
    /// Writes `values` at `region`, which must cover whole blocks (shards, or chunks without
    /// shards): two writers of parts of one block would each rewrite it from what they read.
    fn write(&self, region: &Region, values: &Volume<T>) -> hounsfield_core::Result<()> {
        let aligned = (0..3).all(|k| {
            region.start[k].is_multiple_of(self.block[k])
                && (region.end()[k].is_multiple_of(self.block[k])
                    || region.end()[k] == self.shape[k])
        });
        if !region.fits(self.shape) || !aligned {
            return Err(core_error(
                &self.path,
                format!(
                    "{region:?} does not cover whole blocks of {:?} within {:?}",
                    self.block, self.shape
                ),
            ));
        }
        if values.shape() != region.shape {
            return Err(hounsfield_core::Error::ShapeMismatch {
                what: "zarr region",
                expected: region.shape.to_vec(),
                found: values.shape().to_vec(),
            });
        }
        self.array
            .store_array_subset(&self.subset(region), values.as_slice())
            .map_err(|e| core_error(&self.path, e))
    }
}

/// Writes `volume` as OME-Zarr at `path` (which must not exist), blocks in parallel, with the
/// pyramid `options` ask for. The store is written beside `path` and renamed into place when
/// complete, so a failure leaves nothing.
pub fn write_zarr<T: ZarrElement>(
    path: &Path,
    volume: &Volume<T>,
    options: &ZarrOptions,
) -> Result<()> {
    if path.exists() {
        return Err(cannot_write(path, "already exists (remove it first)"));
    }
    // Refused under the name asked for, before the store is begun beside it.
    check_layout(path, volume.shape(), options)?;
    let name = path.file_name().ok_or_else(|| cannot_write(path, "no file name"))?;
    let mut partial = name.to_os_string();
    partial.push(format!(".partial-{}", std::process::id()));
    let temporary = path.with_file_name(partial);
    let written = (|| -> Result<()> {
        let out = ZarrVolume::<T>::create(&temporary, volume.shape(), volume.geometry(), options)?;
        let tiles = Region::tiles(volume.shape(), out.block())
            .map_err(|source| Error::Core { path: path.to_owned(), source })?;
        tiles
            .par_iter()
            .try_for_each(|t| out.write(t, &ChunkSource::read(volume, t)?))
            .map_err(|source| Error::Core { path: path.to_owned(), source })?;
        write_pyramid::<T>(&temporary, options)?;
        std::fs::rename(&temporary, path)
            .map_err(|e| Error::Io { path: path.to_owned(), source: e })
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    written
}

/// What a store holds at a level: element type, shape `(z, y, x)`, geometry and the number of
/// levels.
#[derive(Clone, Debug, PartialEq)]
pub struct ZarrInfo {
    /// The element type.
    pub dtype: DType,
    /// The level's shape `(z, y, x)`.
    pub shape: [usize; 3],
    /// The level's geometry.
    pub geometry: Geometry,
    /// The level's array path inside the group.
    pub array_path: String,
    /// How many levels the store has.
    pub levels: usize,
}

/// Describes a level of the store at `path` without reading voxels.
pub fn zarr_info(path: &Path, read: &ZarrRead) -> Result<ZarrInfo> {
    let opened = open_level(path, read)?;
    let dtype = dtype_of(path, opened.array.data_type())?;
    Ok(ZarrInfo {
        dtype,
        shape: opened.shape,
        geometry: opened.geometry,
        array_path: opened.array.path().as_str().trim_start_matches('/').to_owned(),
        levels: opened.levels,
    })
}

/// How many resolution levels the OME-Zarr image at `path` lists (its NGFF `datasets`).
pub fn zarr_levels(path: &Path) -> Result<usize> {
    let group = Group::open(store(path)?, "/").map_err(|e| invalid(path, e))?;
    Ok(multiscale(path, group.attributes())?.levels.len())
}

/// The element type of the OME-Zarr volume at `path` (level 0; Hounsfield's layout).
pub fn zarr_dtype(path: &Path) -> Result<DType> {
    let array = Array::open(store(path)?, ARRAY).map_err(|e| invalid(path, e))?;
    dtype_of(path, array.data_type())
}

/// Our element type for a Zarr data type; the unsupported ones (bool, int64, complex...)
/// named.
fn dtype_of(path: &Path, t: &zarrs::array::DataType) -> Result<DType> {
    [DType::U8, DType::I8, DType::U16, DType::I16, DType::U32, DType::I32, DType::F32, DType::F64]
        .into_iter()
        .find(|&d| &zarr_type(d) == t)
        .ok_or_else(|| Error::Unsupported { path: path.to_owned(), what: format!("data type {t}") })
}

/// Reads a whole OME-Zarr volume of whatever element type it holds (level 0 of a store with
/// Hounsfield's geometry; see [`read_zarr_dyn_with`] for others).
pub fn read_zarr_dyn(path: &Path) -> Result<DynVolume> {
    read_zarr_dyn_with(path, &ZarrRead::default())
}

/// Reads a whole level of an OME-Zarr volume (Zarr v3 or v2), of whatever element type it
/// holds.
pub fn read_zarr_dyn_with(path: &Path, read: &ZarrRead) -> Result<DynVolume> {
    Ok(match zarr_info(path, read)?.dtype {
        DType::U8 => read_zarr_with::<u8>(path, read)?.into(),
        DType::I8 => read_zarr_with::<i8>(path, read)?.into(),
        DType::U16 => read_zarr_with::<u16>(path, read)?.into(),
        DType::I16 => read_zarr_with::<i16>(path, read)?.into(),
        DType::U32 => read_zarr_with::<u32>(path, read)?.into(),
        DType::I32 => read_zarr_with::<i32>(path, read)?.into(),
        DType::F32 => read_zarr_with::<f32>(path, read)?.into(),
        DType::F64 => read_zarr_with::<f64>(path, read)?.into(),
    })
}

/// Writes a volume of any element type as OME-Zarr (see [`write_zarr`]).
pub fn write_zarr_dyn(path: &Path, volume: &DynVolume, options: &ZarrOptions) -> Result<()> {
    hounsfield_core::with_dyn_volume!(volume, v => write_zarr(path, v, options))
}

/// Reads a whole OME-Zarr volume written by [`write_zarr`] (level 0).
pub fn read_zarr<T: ZarrElement>(path: &Path) -> Result<Volume<T>> {
    read_zarr_with(path, &ZarrRead::default())
}

/// Reads a whole level of an OME-Zarr volume (see [`ZarrRead`]).
pub fn read_zarr_with<T: ZarrElement>(path: &Path, read: &ZarrRead) -> Result<Volume<T>> {
    let zarr = ZarrVolume::<T>::open_with(path, read)?;
    let whole = Region::whole(zarr.shape)
        .map_err(|source| Error::Core { path: path.to_owned(), source })?;
    zarr.read(&whole).map_err(|source| Error::Core { path: path.to_owned(), source })
}
