//! `hounsfield filter OP in.zarr out.zarr`: the operations that have a chunked form run chunk
//! by chunk from store to store, within a memory budget, never holding the whole volume.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use hounsfield_core::chunk::{ChunkSource, Region};
use hounsfield_core::{DType, Geometry, Volume};
use hounsfield_filter::chunked::{self, ChunkOptions};
use hounsfield_filter::{Boundary, GaussianOptions};
use hounsfield_io::zarr::{ZarrElement, ZarrOptions, ZarrVolume, zarr_dtype};

use crate::filter::{Filtered, MorphologyOp, Operation};

/// Whether `op` has a chunked form (equal to the in-memory result bit for bit).
pub fn is_chunked(op: &Operation) -> bool {
    match op {
        Operation::Gaussian { recursive, .. } => !recursive,
        Operation::Morphology { op, .. } => *op != MorphologyOp::FillHoles,
        Operation::Median { .. } | Operation::Threshold { .. } => true,
        Operation::Label { largest, .. } => !largest,
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
/// that every chunk written covers whole blocks).
fn open_as_f32(path: &Path) -> Result<(Box<dyn ChunkSource<f32>>, [usize; 3])> {
    fn boxed<T: ZarrElement>(path: &Path) -> Result<(Box<dyn ChunkSource<f32>>, [usize; 3])> {
        let volume = ZarrVolume::<T>::open(path)?;
        let block = volume.block();
        Ok((Box::new(AsF32(volume)), block))
    }
    match zarr_dtype(path)? {
        DType::U8 => boxed::<u8>(path),
        DType::I8 => boxed::<i8>(path),
        DType::U16 => boxed::<u16>(path),
        DType::I16 => boxed::<i16>(path),
        DType::U32 => boxed::<u32>(path),
        DType::I32 => boxed::<i32>(path),
        DType::F32 => {
            let volume = ZarrVolume::<f32>::open(path)?;
            let block = volume.block();
            Ok((Box::new(volume), block))
        }
        DType::F64 => boxed::<f64>(path),
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
/// `memory_bytes` of chunks in flight; `progress(done, total)` after each chunk.
pub fn run(
    input: &Path,
    output: &Path,
    op: &Operation,
    memory_bytes: u64,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Filtered> {
    if output.exists() {
        bail!("{}: already exists (remove it first)", output.display());
    }
    let (source, block) = open_as_f32(input)?;
    let chunks = ChunkOptions::new(block).with_memory(memory_bytes);
    let options = ZarrOptions::new(block);
    let (shape, geometry) = (source.shape(), source.geometry().clone());
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
            _ => bail!("this operation has no chunked form"),
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
