//! `hounsfield filter OP in.zarr out.zarr`: the operations that have a chunked form run chunk
//! by chunk from store to store, within a memory budget, never holding the whole volume.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::chunk::{ChunkSource, Region};
use hounsfield_core::{DType, Geometry, Volume};
use hounsfield_filter::chunked::{self, ChunkOptions};
use hounsfield_filter::resample::ResampleOptions;
use hounsfield_filter::{Boundary, GaussianOptions, Interpolation, derivative, intensity};
use hounsfield_io::zarr::{ZarrElement, ZarrRead, ZarrVolume, write_pyramid_dyn, zarr_info};

use crate::zarr_io::ZarrIo;

use crate::filter::{Filtered, MorphologyOp, Operation};

/// Whether `op` has a chunked form (equal to the in-memory result bit for bit).
pub fn is_chunked(op: &Operation) -> bool {
    match op {
        Operation::Gaussian { recursive, .. } => !recursive,
        Operation::Morphology { op, .. } => *op != MorphologyOp::FillHoles,
        Operation::Median { .. }
        | Operation::Threshold { .. }
        | Operation::Window(_)
        | Operation::BoxMean { .. }
        | Operation::GradientMagnitude { .. }
        | Operation::Unsharp { .. } => true,
        Operation::Label { largest, .. } => !largest,
        Operation::Resample { interpolation, turn, .. } => {
            *interpolation != Interpolation::BSpline3 && turn.is_none()
        }
        _ => false,
    }
}

/// Parses a memory budget: bytes, or a number with K/M/G/T (powers of 1024, "GiB" and "GB"
/// alike).
pub fn parse_memory(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits);
    let value: f64 = number.parse().map_err(|_| format!("{text:?} is not a size like 2GiB"))?;
    let scale = match unit.trim().to_ascii_lowercase().trim_end_matches('b').trim_end_matches('i') {
        "" => 1u64,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => return Err(format!("{text:?}: unknown unit (use K, M, G or T, e.g. 2GiB)")),
    };
    let bytes = value * scale as f64;
    if !(bytes.is_finite() && bytes >= 1.0 && bytes < 2f64.powi(63)) {
        return Err(format!("{text:?} is not a usable memory budget"));
    }
    Ok(bytes as u64)
}

/// A chunk source of f32 and its block shape.
pub(crate) type Opened = (Box<dyn ChunkSource<f32>>, [usize; 3]);

/// A store of any element type read as f32, as the in-memory `filter` reads every input.
struct AsF32<T: ZarrElement>(ZarrVolume<T>);

impl<T: ZarrElement> ChunkSource<f32> for AsF32<T> {
    fn shape(&self) -> [usize; 3] {
        self.0.shape()
    }

    fn geometry(&self) -> &Geometry {
        ChunkSource::geometry(&self.0)
    }

    fn read(&self, region: &Region) -> hounsfield_core::Result<Volume<f32>> {
        Ok(ChunkSource::read(&self.0, region)?.to_f32())
    }
}

/// The store at `path` as f32 chunks, and its block shape (which the output store takes, so
/// that every chunk written covers whole blocks). Reads with halos keep decoded chunks for
/// their neighbours: up to three slabs of chunks (one chunk layer above and below the one
/// being read), at most `cache_cap` bytes (0: no cache).
pub(crate) fn open_as_f32(path: &Path, read: &ZarrRead, cache_cap: u64) -> Result<Opened> {
    fn cached<T: ZarrElement>(path: &Path, read: &ZarrRead, cap: u64) -> Result<ZarrVolume<T>> {
        let volume = ZarrVolume::<T>::open_with(path, read)?;
        if cap == 0 {
            return Ok(volume);
        }
        let ([_, ny, nx], block) = (volume.shape(), volume.block());
        let slab = (ny.div_ceil(block[1]) * nx.div_ceil(block[2])) as u64;
        let bytes = (3 * slab * volume.chunk_bytes()).min(cap);
        Ok(volume.with_cache(bytes)?)
    }
    fn boxed<T: ZarrElement>(path: &Path, read: &ZarrRead, cap: u64) -> Result<Opened> {
        let volume = cached::<T>(path, read, cap)?;
        let block = volume.block();
        Ok((Box::new(AsF32(volume)), block))
    }
    match zarr_info(path, read)?.dtype {
        DType::U8 => boxed::<u8>(path, read, cache_cap),
        DType::I8 => boxed::<i8>(path, read, cache_cap),
        DType::U16 => boxed::<u16>(path, read, cache_cap),
        DType::I16 => boxed::<i16>(path, read, cache_cap),
        DType::U32 => boxed::<u32>(path, read, cache_cap),
        DType::I32 => boxed::<i32>(path, read, cache_cap),
        DType::F32 => {
            let volume = cached::<f32>(path, read, cache_cap)?;
            let block = volume.block();
            Ok((Box::new(volume), block))
        }
        DType::F64 => boxed::<f64>(path, read, cache_cap),
    }
}

/// A sibling of `output` to build the store in; renamed into place when complete.
fn temporary(output: &Path) -> Result<PathBuf> {
    let name = output.file_name().context("output has no file name")?.to_string_lossy();
    let parent = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !parent.is_dir() {
        bail!("{}: the output's folder does not exist", output.display());
    }
    Ok(parent.join(format!(".{name}.{}.partial", std::process::id())))
}

/// Runs `op` from the store `input` into a new store `output` chunk by chunk, at most
/// `memory_bytes` of chunks in flight, then writes the pyramid `zarr` asks for (level by
/// level, block by block); `progress(done, total)` after each chunk.
pub fn run(
    input: &Path,
    output: &Path,
    op: &Operation,
    memory_bytes: u64,
    zarr: &ZarrIo,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Filtered> {
    if output.exists() {
        bail!("{}: already exists (remove it first)", output.display());
    }
    // Operations that read halos share the budget with a cache of decoded chunks (half of
    // it at most); pointwise ones and labels read each chunk once and keep none.
    let halo =
        !matches!(op, Operation::Threshold { .. } | Operation::Window(_) | Operation::Label { .. });
    let cache_cap = if halo { memory_bytes / 2 } else { 0 };
    let (source, block) = open_as_f32(input, &zarr.read, cache_cap)?;
    let chunks = ChunkOptions::new(block).with_memory(memory_bytes - cache_cap);
    let options = zarr.options(block);
    let (shape, geometry) = (source.shape(), source.geometry().clone());
    // The output's layout (its pyramid's depth) is refused under its own name before any
    // chunk is computed.
    let out_shape = match op {
        Operation::Resample { spacing_mm, .. } => {
            chunked::resample_grid(source.as_ref(), *spacing_mm)?.1
        }
        _ => shape,
    };
    hounsfield_io::zarr::check_layout(output, out_shape, &options)?;
    let partial = temporary(output)?;
    let mut report = Filtered::new(input, output);
    let result = (|| -> Result<()> {
        match op {
            Operation::Gaussian { sigma_mm, .. } => {
                report.operation = format!("gaussian sigma {sigma_mm} mm (chunked)");
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                let g = GaussianOptions::new(*sigma_mm);
                chunked::gaussian_chunked(source.as_ref(), &sink, &g, &chunks, progress)?;
            }
            Operation::Median { radius_mm } => {
                report.operation = format!("median radius {radius_mm} mm (chunked)");
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                let r = [*radius_mm; 3];
                chunked::median_chunked(
                    source.as_ref(),
                    &sink,
                    r,
                    Boundary::Reflect,
                    &chunks,
                    progress,
                )?;
            }
            Operation::Threshold { lo, hi } => {
                report.operation = format!("threshold {lo}..{hi} (chunked)");
                let sink = ZarrVolume::<u8>::create(&partial, shape, &geometry, &options)?;
                chunked::threshold_chunked(source.as_ref(), &sink, *lo, *hi, &chunks, progress)?;
            }
            Operation::Morphology { op, radius_mm, element } => {
                report.operation =
                    format!("{op:?} ({element:?} of {radius_mm} mm, chunked)").to_lowercase();
                let sink = ZarrVolume::<u8>::create(&partial, shape, &geometry, &options)?;
                let (e, r) = (*element, *radius_mm);
                match op {
                    MorphologyOp::Dilate | MorphologyOp::Erode => chunked::morphology_chunked(
                        source.as_ref(),
                        &sink,
                        e,
                        r,
                        *op == MorphologyOp::Erode,
                        &chunks,
                        progress,
                    )?,
                    _ => {
                        // Opening and closing: two passes through an intermediate store.
                        let middle = partial.with_extension("middle");
                        let first = ZarrVolume::<u8>::create(&middle, shape, &geometry, &options)?;
                        let erode_first = *op == MorphologyOp::Open;
                        let run = || -> Result<()> {
                            chunked::morphology_chunked(
                                source.as_ref(),
                                &first,
                                e,
                                r,
                                erode_first,
                                &chunks,
                                progress,
                            )?;
                            chunked::morphology_chunked(
                                &first,
                                &sink,
                                e,
                                r,
                                !erode_first,
                                &chunks,
                                progress,
                            )?;
                            Ok(())
                        };
                        let done = run();
                        let _ = std::fs::remove_dir_all(&middle);
                        done?;
                    }
                }
            }
            Operation::Label { connectivity, .. } => {
                report.operation =
                    format!("label ({connectivity:?} connectivity, chunked, in voxel order)");
                let store = ZarrVolume::<u32>::create(&partial, shape, &geometry, &options)?;
                let count = chunked::label_chunked(
                    source.as_ref(),
                    &store,
                    *connectivity,
                    &chunks,
                    progress,
                )?;
                report.components = Some(count);
            }
            Operation::Window(w) => {
                report.operation = format!("window level {} width {} (chunked)", w.centre, w.width);
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                let w = *w;
                chunked::map_chunks(
                    source.as_ref(),
                    &sink,
                    [0; 3],
                    &chunks,
                    |v| Ok(intensity::window(v, w)),
                    progress,
                )?;
            }
            Operation::BoxMean { radius } => {
                report.operation = format!("box mean radius {radius:?} voxels (chunked)");
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                let (r, halo) = (*radius, [radius[2], radius[1], radius[0]]);
                chunked::map_chunks(
                    source.as_ref(),
                    &sink,
                    halo,
                    &chunks,
                    |v| derivative::box_mean(v, r, Boundary::Reflect),
                    progress,
                )?;
            }
            Operation::GradientMagnitude { sigma_mm } => {
                report.operation = format!("gradient magnitude (sigma {sigma_mm:?} mm, chunked)");
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                // Central differences reach one voxel, after the smoothing's own reach.
                let smoothing = match sigma_mm {
                    Some(s) => {
                        chunked::gaussian_reach(&GaussianOptions::new(*s), geometry.spacing())?
                    }
                    None => [0; 3],
                };
                let sigma = *sigma_mm;
                chunked::map_chunks(
                    source.as_ref(),
                    &sink,
                    smoothing.map(|r| r + 1),
                    &chunks,
                    |v| derivative::gradient_magnitude(v, sigma),
                    progress,
                )?;
            }
            Operation::Unsharp { sigma_mm, amount } => {
                report.operation =
                    format!("unsharp mask (sigma {sigma_mm} mm, amount {amount}, chunked)");
                let sink = ZarrVolume::<f32>::create(&partial, shape, &geometry, &options)?;
                let halo =
                    chunked::gaussian_reach(&GaussianOptions::new(*sigma_mm), geometry.spacing())?;
                let (sigma, amount) = (*sigma_mm, *amount);
                chunked::map_chunks(
                    source.as_ref(),
                    &sink,
                    halo,
                    &chunks,
                    |v| derivative::unsharp_mask(v, sigma, amount),
                    progress,
                )?;
            }
            Operation::Resample { spacing_mm, interpolation, antialias, .. } => {
                report.operation =
                    format!("resample to {spacing_mm:?} mm ({interpolation:?}, chunked)");
                let (grid, out_shape) = chunked::resample_grid(source.as_ref(), *spacing_mm)?;
                let sink = ZarrVolume::<f32>::create(&partial, out_shape, &grid, &options)?;
                let resample = ResampleOptions::default()
                    .with_interpolation(*interpolation)
                    .with_antialias(*antialias);
                chunked::resample_chunked(
                    source.as_ref(),
                    &sink,
                    *spacing_mm,
                    &resample,
                    &chunks,
                    progress,
                )?;
            }
            _ => bail!("this operation has no chunked form"),
        }
        if options.levels > 0 {
            // A block of each new level reads 8 blocks of the level above: as many at once as
            // the budget holds (at least one).
            let block_bytes = block.iter().product::<usize>() as u64 * 4;
            let threads = (memory_bytes / (9 * block_bytes)).clamp(1, 64) as usize;
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
            pool.install(|| write_pyramid_dyn(&partial, &options))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            std::fs::rename(&partial, output)
                .with_context(|| format!("moving {} to {}", partial.display(), output.display()))?;
            Ok(report)
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&partial);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sizes_parse_in_powers_of_1024() {
        assert_eq!(parse_memory("1GiB"), Ok(1 << 30));
        assert_eq!(parse_memory("512M"), Ok(512 << 20));
        assert_eq!(parse_memory("2 GB"), Ok(2 << 30));
        assert_eq!(parse_memory("1.5k"), Ok(1536));
        assert_eq!(parse_memory("4096"), Ok(4096));
        assert!(parse_memory("lots").is_err());
        assert!(parse_memory("1 parsec").is_err());
        assert!(parse_memory("0").is_err());
    }
}
