//! OME-Zarr v3 volumes (NGFF 0.5), whole or region by region, through the `zarrs` crate: the
//! chunk source and sink of chunked processing (`hounsfield_filter::chunked`).
//!
//! Layout: a group `image.zarr/` whose `zarr.json` holds the NGFF `multiscales` (axes z, y, x
//! in millimetres, a `scale` and a `translation` for the array `0`) and, under `hounsfield`,
//! the full geometry (LPS origin, spacing and direction cosines, which NGFF 0.5 cannot hold);
//! the array `image.zarr/0/` in chunks (optionally shards of chunks), zstd or gzip compressed.
//!
//! Reading needs the `hounsfield` geometry: NGFF 0.5 records no patient orientation, so a
//! volume written by another tool is refused rather than placed in a guessed frame.
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
use hounsfield_core::{DType, DynVolume, Element, Geometry, Volume};
use rayon::prelude::*;
use serde_json::{Value, json};
use zarrs::array::builder::ArrayBuilderFillValue;
use zarrs::array::{Array, ArrayBuilder, ArraySubset, BytesToBytesCodecTraits, codec, data_type};
use zarrs::filesystem::FilesystemStore;
use zarrs::group::{Group, GroupBuilder};

use crate::error::{Error, Result};

/// The array inside the group (NGFF's first and only resolution level).
const ARRAY: &str = "/0";

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
}

impl ZarrOptions {
    /// Chunks of `chunk` voxels, zstd level 3, no shards.
    pub fn new(chunk: [usize; 3]) -> Self {
        ZarrOptions { chunk, shard: None, compression: Compression::Zstd(3) }
    }
}

/// A volume stored as OME-Zarr: its shape, chunks and geometry; voxels read and written by
/// region.
pub struct ZarrVolume<T> {
    path: PathBuf,
    array: Array<FilesystemStore>,
    shape: [usize; 3],
    /// The unit of writing: the shard, or the chunk without shards.
    block: [usize; 3],
    geometry: Geometry,
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

/// The group attributes: NGFF 0.5 multiscales and our geometry.
fn attributes(geometry: &Geometry) -> Value {
    let [sx, sy, sz] = geometry.spacing();
    let [ox, oy, oz] = geometry.origin();
    let axis = |name: &str| json!({"name": name, "type": "space", "unit": "millimeter"});
    json!({
        "ome": {
            "version": "0.5",
            "multiscales": [{
                "axes": [axis("z"), axis("y"), axis("x")],
                "datasets": [{
                    "path": "0",
                    "coordinateTransformations": [
                        {"type": "scale", "scale": [sz, sy, sx]},
                        {"type": "translation", "translation": [oz, oy, ox]}
                    ]
                }]
            }]
        },
        "hounsfield": {
            "frame": "LPS",
            "spacing_xyz": geometry.spacing(),
            "origin_xyz": geometry.origin(),
            "direction": geometry.direction(),
        }
    })
}

/// The geometry a group's attributes record; an error naming what is missing.
fn geometry_of(path: &Path, attributes: &serde_json::Map<String, Value>) -> Result<Geometry> {
    let Some(ours) = attributes.get("hounsfield") else {
        return Err(Error::Unsupported {
            path: path.to_owned(),
            what: "OME-Zarr without a `hounsfield` geometry: NGFF 0.5 records no patient \
                   orientation, so its voxels cannot be placed without a guess"
                .into(),
        });
    };
    let get = |key: &str| -> Result<Value> {
        ours.get(key).cloned().ok_or_else(|| invalid(path, format!("hounsfield.{key} missing")))
    };
    if get("frame")? != json!("LPS") {
        return Err(invalid(path, "hounsfield.frame is not \"LPS\""));
    }
    let parse = |key: &str| -> Result<[f64; 3]> {
        serde_json::from_value(get(key)?)
            .map_err(|e| invalid(path, format!("hounsfield.{key}: {e}")))
    };
    let direction: [[f64; 3]; 3] = serde_json::from_value(get("direction")?)
        .map_err(|e| invalid(path, format!("hounsfield.direction: {e}")))?;
    Geometry::new(parse("spacing_xyz")?, parse("origin_xyz")?, direction)
        .map_err(|source| Error::Core { path: path.to_owned(), source })
}

impl<T: ZarrElement> ZarrVolume<T> {
    /// Creates an empty OME-Zarr volume at `path` (which must not exist) of `shape` `(z, y, x)`
    /// with `geometry`; chunks are written with [`ChunkSink::write`].
    pub fn create(
        path: &Path,
        shape: [usize; 3],
        geometry: &Geometry,
        options: &ZarrOptions,
    ) -> Result<Self> {
        if path.exists() {
            return Err(cannot_write(path, "already exists (remove it first)"));
        }
        let chunk = options.chunk;
        if shape.contains(&0) || chunk.contains(&0) {
            return Err(cannot_write(
                path,
                format!("shape {shape:?} chunks {chunk:?}: zero extent"),
            ));
        }
        let block = options.shard.unwrap_or(chunk);
        if (0..3).any(|k| !block[k].is_multiple_of(chunk[k])) {
            return Err(cannot_write(
                path,
                format!("shards {block:?} are not made of chunks {chunk:?}"),
            ));
        }
        // The store's own directory only: a missing parent is a mistyped path, as for any file.
        std::fs::create_dir(path).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
        let storage = store(path)?;
        let mut group =
            GroupBuilder::new().build(storage.clone(), "/").map_err(|e| cannot_write(path, e))?;
        if let Value::Object(map) = attributes(geometry) {
            *group.attributes_mut() = map;
        }
        group.store_metadata().map_err(|e| cannot_write(path, e))?;
        let to_u64 = |v: [usize; 3]| v.map(|x| x as u64).to_vec();
        let mut builder =
            ArrayBuilder::new(to_u64(shape), to_u64(block), zarr_type(T::DTYPE), zero(T::DTYPE));
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
        let array = builder.build(storage, ARRAY).map_err(|e| cannot_write(path, e))?;
        array.store_metadata().map_err(|e| cannot_write(path, e))?;
        Ok(ZarrVolume {
            path: path.to_owned(),
            array,
            shape,
            block,
            geometry: geometry.clone(),
            element: PhantomData,
        })
    }

    /// Opens an OME-Zarr volume written by [`ZarrVolume::create`] (or [`write_zarr`]); its
    /// element type must be `T`.
    pub fn open(path: &Path) -> Result<Self> {
        if !path.join("zarr.json").is_file() {
            return Err(Error::WrongFormat {
                path: path.to_owned(),
                format: "OME-Zarr v3",
                reason: "no zarr.json (Zarr v2 stores are not read)".into(),
            });
        }
        let storage = store(path)?;
        let group = Group::open(storage.clone(), "/").map_err(|e| invalid(path, e))?;
        let geometry = geometry_of(path, group.attributes())?;
        let array = Array::open(storage, ARRAY).map_err(|e| invalid(path, e))?;
        if array.data_type() != &zarr_type(T::DTYPE) {
            return Err(invalid(path, format!("holds {}, not {}", array.data_type(), T::DTYPE)));
        }
        let shape: [usize; 3] = match array.shape() {
            [z, y, x] => [*z, *y, *x].map(|v| v as usize),
            other => return Err(invalid(path, format!("{} dimensions, not 3", other.len()))),
        };
        let block = array.chunk_shape_usize(&[0, 0, 0]).map_err(|e| invalid(path, e))?;
        let block = [block[0], block[1], block[2]];
        Ok(ZarrVolume {
            path: path.to_owned(),
            array,
            shape,
            block,
            geometry,
            element: PhantomData,
        })
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

    fn subset(region: &Region) -> ArraySubset {
        let ranges: Vec<std::ops::Range<u64>> =
            (0..3).map(|k| region.start[k] as u64..region.end()[k] as u64).collect();
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
        let values: Vec<T> = self
            .array
            .retrieve_array_subset(&Self::subset(region))
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
            .store_array_subset(&Self::subset(region), values.as_slice())
            .map_err(|e| core_error(&self.path, e))
    }
}

/// Writes `volume` as OME-Zarr at `path` (which must not exist), blocks in parallel. The store
/// is written beside `path` and renamed into place when complete, so a failure leaves nothing.
pub fn write_zarr<T: ZarrElement>(
    path: &Path,
    volume: &Volume<T>,
    options: &ZarrOptions,
) -> Result<()> {
    if path.exists() {
        return Err(cannot_write(path, "already exists (remove it first)"));
    }
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
        std::fs::rename(&temporary, path)
            .map_err(|e| Error::Io { path: path.to_owned(), source: e })
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    written
}

/// The element type of the OME-Zarr volume at `path`.
pub fn zarr_dtype(path: &Path) -> Result<DType> {
    let array = Array::open(store(path)?, ARRAY).map_err(|e| invalid(path, e))?;
    let t = array.data_type();
    [DType::U8, DType::I8, DType::U16, DType::I16, DType::U32, DType::I32, DType::F32, DType::F64]
        .into_iter()
        .find(|&d| &zarr_type(d) == t)
        .ok_or_else(|| Error::Unsupported { path: path.to_owned(), what: format!("data type {t}") })
}

/// Reads a whole OME-Zarr volume of whatever element type it holds.
pub fn read_zarr_dyn(path: &Path) -> Result<DynVolume> {
    Ok(match zarr_dtype(path)? {
        DType::U8 => read_zarr::<u8>(path)?.into(),
        DType::I8 => read_zarr::<i8>(path)?.into(),
        DType::U16 => read_zarr::<u16>(path)?.into(),
        DType::I16 => read_zarr::<i16>(path)?.into(),
        DType::U32 => read_zarr::<u32>(path)?.into(),
        DType::I32 => read_zarr::<i32>(path)?.into(),
        DType::F32 => read_zarr::<f32>(path)?.into(),
        DType::F64 => read_zarr::<f64>(path)?.into(),
    })
}

/// Writes a volume of any element type as OME-Zarr (see [`write_zarr`]).
pub fn write_zarr_dyn(path: &Path, volume: &DynVolume, options: &ZarrOptions) -> Result<()> {
    hounsfield_core::with_dyn_volume!(volume, v => write_zarr(path, v, options))
}

/// Reads a whole OME-Zarr volume written by [`write_zarr`].
pub fn read_zarr<T: ZarrElement>(path: &Path) -> Result<Volume<T>> {
    let zarr = ZarrVolume::<T>::open(path)?;
    let whole = Region::whole(zarr.shape)
        .map_err(|source| Error::Core { path: path.to_owned(), source })?;
    zarr.read(&whole).map_err(|source| Error::Core { path: path.to_owned(), source })
}
