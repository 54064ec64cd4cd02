//! Multiscale pyramids: each level half the one above, by 2x2x2 means or subsampling.

use std::marker::PhantomData;
use std::path::Path;

use hounsfield_core::chunk::{ChunkSink, ChunkSource, Region, region_geometry};
use hounsfield_core::{CastOptions, DType, Element, Geometry, Rounding, Volume};
use rayon::prelude::*;
use serde_json::{Value, json};
use zarrs::group::Group;

use super::ngff::{dataset, multiscale, xyz};
use super::{
    MAX_LEVELS, ZarrElement, ZarrOptions, ZarrVolume, build_array, cannot_write, invalid, store,
    zarr_dtype,
};
use crate::error::{Error, Result};

/// How each pyramid level is made from the level above, over blocks of 2 voxels along every
/// axis that is longer than one voxel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Downsample {
    /// The block's mean (rounded to the nearest for integer types): images. A block cut short
    /// by an odd extent averages the voxels it has.
    Mean,
    /// The block's first voxel: label maps keep their labels, and the level samples the
    /// full-resolution grid exactly.
    Nearest,
}

impl Downsample {
    /// Mean for floating-point volumes, nearest for integer ones (which may be labels, where a
    /// mean would invent labels that were never drawn).
    pub fn default_for(dtype: DType) -> Self {
        if matches!(dtype, DType::F32 | DType::F64) {
            Downsample::Mean
        } else {
            Downsample::Nearest
        }
    }

    /// "mean" or "nearest".
    pub fn name(self) -> &'static str {
        match self {
            Downsample::Mean => "mean",
            Downsample::Nearest => "nearest",
        }
    }
}

impl std::str::FromStr for Downsample {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "mean" => Ok(Downsample::Mean),
            "nearest" => Ok(Downsample::Nearest),
            _ => Err(format!("{s:?}: expected mean or nearest")),
        }
    }
}

/// `out` (of `shape`) from `src` by `method` over blocks of `factor` voxels; `src` holds
/// exactly the voxels the blocks cover (cut short at the far edges).
fn downsample<T: Element>(
    src: &Volume<T>,
    factor: [usize; 3],
    shape: [usize; 3],
    method: Downsample,
) -> hounsfield_core::Result<Vec<T>> {
    let [sz, sy, sx] = src.shape();
    let values = src.as_slice();
    let at = |z: usize, y: usize, x: usize| values[(z * sy + y) * sx + x];
    let round = CastOptions::default().with_rounding(Rounding::NearestEven);
    let mut out = Vec::with_capacity(shape.iter().product());
    for z in 0..shape[0] {
        for y in 0..shape[1] {
            for x in 0..shape[2] {
                let (z0, y0, x0) = (z * factor[0], y * factor[1], x * factor[2]);
                match method {
                    Downsample::Nearest => out.push(at(z0, y0, x0)),
                    Downsample::Mean => {
                        let (z1, y1, x1) = (
                            (z0 + factor[0]).min(sz),
                            (y0 + factor[1]).min(sy),
                            (x0 + factor[2]).min(sx),
                        );
                        let mut sum = 0.0;
                        for zz in z0..z1 {
                            for yy in y0..y1 {
                                for xx in x0..x1 {
                                    sum += at(zz, yy, xx).to_f64();
                                }
                            }
                        }
                        let n = ((z1 - z0) * (y1 - y0) * (x1 - x0)) as f64;
                        out.push(T::from_f64(sum / n, round, out.len())?);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Writes `options.levels` pyramid levels below level 0 of the store at `path` (made by
/// [`ZarrVolume::create`] and filled, with no levels yet), each from the one above, block by
/// block in parallel (a block of the new level reads 8 of the level above), and records them
/// in the NGFF multiscales. Levels stop early once every axis is one voxel long.
pub fn write_pyramid<T: ZarrElement>(path: &Path, options: &ZarrOptions) -> Result<()> {
    if options.levels == 0 {
        return Ok(());
    }
    let core = |source| Error::Core { path: path.to_owned(), source };
    let method = options.downsample.unwrap_or(Downsample::default_for(T::DTYPE));
    let storage = store(path)?;
    let mut group = Group::open(storage.clone(), "/").map_err(|e| invalid(path, e))?;
    let image = multiscale(path, group.attributes())?;
    if image.levels.len() != 1 || image.lead != 0 {
        return Err(cannot_write(path, "the store already has a pyramid"));
    }
    let mut above = ZarrVolume::<T>::open(path)?;
    let base = above.geometry.clone();
    let (mut scale, mut translation) = (image.levels[0].scale, image.levels[0].translation);
    let mut datasets = vec![dataset("0", scale, translation)];
    for level in 1..=options.levels.min(MAX_LEVELS) {
        let factor = above.shape.map(|n| if n >= 2 { 2 } else { 1 });
        if factor == [1; 3] {
            break;
        }
        let shape: [usize; 3] = std::array::from_fn(|k| above.shape[k].div_ceil(factor[k]));
        let name = level.to_string();
        let array =
            build_array(path, storage.clone(), &format!("/{name}"), shape, T::DTYPE, options)?;
        for k in 0..3 {
            if method == Downsample::Mean {
                translation[k] += (factor[k] - 1) as f64 / 2.0 * scale[k];
            }
            scale[k] *= factor[k] as f64;
        }
        datasets.push(dataset(&name, scale, translation));
        let shift = xyz(std::array::from_fn(|k| translation[k] - image.levels[0].translation[k]));
        let moved = hounsfield_core::mat3::mul_vec(&base.direction(), shift);
        let origin: [f64; 3] = std::array::from_fn(|k| base.origin()[k] + moved[k]);
        let geometry = Geometry::new(xyz(scale), origin, base.direction()).map_err(core)?;
        let below = ZarrVolume::<T> {
            path: path.to_owned(),
            array,
            lead: 0,
            shape,
            block: options.shard.unwrap_or(options.chunk),
            geometry,
            cache: None,
            element: PhantomData,
        };
        let tiles = Region::tiles(shape, below.block).map_err(core)?;
        tiles
            .par_iter()
            .try_for_each(|t| {
                let start: [usize; 3] = std::array::from_fn(|k| t.start[k] * factor[k]);
                let end: [usize; 3] =
                    std::array::from_fn(|k| (t.end()[k] * factor[k]).min(above.shape[k]));
                let from = Region::new(start, std::array::from_fn(|k| end[k] - start[k]))?;
                let values = downsample(&above.read(&from)?, factor, t.shape, method)?;
                let tile = Volume::from_vec(t.shape, values, region_geometry(&below.geometry, t)?)?;
                below.write(t, &tile)
            })
            .map_err(core)?;
        above = below;
    }
    let mut attributes = group.attributes().clone();
    if let Some(Value::Object(ome)) = attributes.get_mut("ome")
        && let Some(first) = ome.get_mut("multiscales").and_then(|m| m.get_mut(0))
    {
        first["datasets"] = Value::Array(datasets);
        first["type"] = json!(method.name());
    }
    *group.attributes_mut() = attributes;
    group.store_metadata().map_err(|e| cannot_write(path, e))
}

/// [`write_pyramid`] for whatever element type the store holds.
pub fn write_pyramid_dyn(path: &Path, options: &ZarrOptions) -> Result<()> {
    match zarr_dtype(path)? {
        DType::U8 => write_pyramid::<u8>(path, options),
        DType::I8 => write_pyramid::<i8>(path, options),
        DType::U16 => write_pyramid::<u16>(path, options),
        DType::I16 => write_pyramid::<i16>(path, options),
        DType::U32 => write_pyramid::<u32>(path, options),
        DType::I32 => write_pyramid::<i32>(path, options),
        DType::F32 => write_pyramid::<f32>(path, options),
        DType::F64 => write_pyramid::<f64>(path, options),
    }
}
