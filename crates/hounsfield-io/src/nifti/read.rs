//! Reading NIfTI files.

use std::path::{Path, PathBuf};

use bytemuck::Pod;
use hounsfield_core::volume::checked_len;
use hounsfield_core::{DType, DynVolume, Element, Geometry, Volume};

use super::NiftiImage;
use super::datatype::{Stored, layout};
use super::header::{self, Extension, NiftiHeader};
use super::xform::best_affine;
use crate::error::{Error, Result};
use crate::source::Source;

/// Limits applied before anything a header declares is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Largest voxel data accepted, in bytes (default 16 GiB).
    pub max_bytes: u64,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions { max_bytes: 16 << 30 }
    }
}

impl ReadOptions {
    /// Sets the largest voxel data accepted.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }
}

/// Reads a NIfTI file with default limits.
pub fn read_nifti(path: impl AsRef<Path>) -> Result<NiftiImage> {
    read_nifti_with(path, &ReadOptions::default())
}

/// Reads only the header (and extensions) of a NIfTI file. A gzipped file's CRC is not checked
/// (that needs the whole stream): [`read_nifti`] checks it.
pub fn read_nifti_header(path: impl AsRef<Path>) -> Result<NiftiHeader> {
    let (hdr_path, _) = pair_paths(path.as_ref());
    let mut src = Source::open(&hdr_path)?;
    read_header(&mut src, &hdr_path)
}

/// Reads a NIfTI file.
pub fn read_nifti_with(path: impl AsRef<Path>, options: &ReadOptions) -> Result<NiftiImage> {
    let (hdr_path, img_path) = pair_paths(path.as_ref());
    let mut src = Source::open(&hdr_path)?;
    let header = read_header(&mut src, &hdr_path)?;
    let stored = layout(header.datatype)
        .map_err(|what| Error::Unsupported { path: hdr_path.clone(), what })?;
    let shape = spatial_shape(&header, &hdr_path)?;
    let frames = frame_count(&header, &hdr_path)?;
    let geometry = geometry(&header, &hdr_path)?;

    let (mut data_src, data_path, offset) = if header.pair {
        let img = img_path.ok_or_else(|| Error::InvalidHeader {
            path: hdr_path.clone(),
            reason:
                "the header says its data is in a separate .img file, but this is not a .hdr file"
                    .into(),
        })?;
        let offset = vox_offset(&header, &hdr_path)?;
        src.finish(&hdr_path)?;
        (Source::open(&img)?, img, offset)
    } else {
        let offset = vox_offset(&header, &hdr_path)?.max((header.version.header_size() + 4) as u64);
        (src, hdr_path.clone(), offset)
    };
    let voxels = shape.iter().product::<usize>();
    let total = checked_len(&[voxels, frames, stored.voxel_bytes()], 1, options.max_bytes)
        .map_err(|source| Error::Core { path: hdr_path.clone(), source })?;
    let needed = offset.saturating_add(total as u64);
    if needed > data_src.max_content_len() {
        let what = if data_src.gzipped {
            "a gzip file of that size can hold at most"
        } else {
            "the file has"
        };
        return Err(Error::Truncated {
            path: data_path,
            reason: format!(
                "the header declares {needed} bytes (data ending at offset {needed}), but {what} {} bytes",
                data_src.max_content_len()
            ),
        });
    }
    data_src.skip_to(offset, &data_path, "voxel data")?;

    let swap = header.big_endian != cfg!(target_endian = "big");
    let mut volumes = Vec::with_capacity(frames * stored.components());
    for _ in 0..frames {
        read_frame(&mut data_src, &data_path, stored, shape, swap, &geometry, &mut volumes)?;
    }
    // Only now, at the end of the stream, can gzip say whether what was inflated is intact.
    data_src.finish(&data_path)?;
    let xform = best_affine(&header).1;
    Ok(NiftiImage { header, volumes, components: stored.components(), xform })
}

/// For `x.hdr[.gz]` or `x.img[.gz]`: the header file and the image file (whichever of `.img` and
/// `.img.gz` exists); for anything else the path itself and no image file.
fn pair_paths(path: &Path) -> (PathBuf, Option<PathBuf>) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let lower = name.to_ascii_lowercase();
    let stem_of = |suffixes: &[&str]| {
        suffixes
            .iter()
            .find(|s| lower.ends_with(*s))
            .map(|s| name[..name.len() - s.len()].to_owned())
    };
    let sibling = |stem: &str, exts: &[&str]| {
        let candidates: Vec<PathBuf> =
            exts.iter().map(|e| path.with_file_name(format!("{stem}{e}"))).collect();
        candidates.iter().find(|p| p.exists()).cloned().unwrap_or_else(|| candidates[0].clone())
    };
    if let Some(stem) = stem_of(&[".hdr.gz", ".hdr"]) {
        (path.to_path_buf(), Some(sibling(&stem, &[".img", ".img.gz", ".IMG"])))
    } else if let Some(stem) = stem_of(&[".img.gz", ".img"]) {
        (sibling(&stem, &[".hdr", ".hdr.gz", ".HDR"]), Some(path.to_path_buf()))
    } else {
        (path.to_path_buf(), None)
    }
}

fn read_header(src: &mut Source, path: &Path) -> Result<NiftiHeader> {
    let wrong =
        |reason: String| Error::WrongFormat { path: path.to_path_buf(), format: "NIfTI", reason };
    let mut first = [0u8; 4];
    if src.read_up_to(&mut first, path)? < 4 {
        return Err(wrong(format!("the file has {} bytes, too few for a header", src.file_len)));
    }
    let (version, big_endian) = header::detect(first).ok_or_else(|| {
        wrong(format!(
            "sizeof_hdr is {} (little-endian) or {} (big-endian), expected 348 (NIfTI-1) or 540 (NIfTI-2)",
            i32::from_le_bytes(first),
            i32::from_be_bytes(first)
        ))
    })?;
    let mut bytes = vec![0u8; version.header_size()];
    bytes[..4].copy_from_slice(&first);
    src.read_exact(&mut bytes[4..], path, "header")?;
    let mut h = header::decode(&bytes, version, big_endian).map_err(wrong)?;
    // Extensions follow a 4-byte flag; a pair's .hdr may end right after the header.
    let mut flag = [0u8; 4];
    let n = src.read_up_to(&mut flag, path)?;
    if n == 4 && flag[0] != 0 {
        h.extensions = read_extensions(src, path, &h)?;
    } else if n < 4 && !h.pair {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            reason: "the file ends before the extension flag that follows the header".into(),
        });
    }
    Ok(h)
}

fn read_extensions(src: &mut Source, path: &Path, h: &NiftiHeader) -> Result<Vec<Extension>> {
    let end = if h.pair { u64::MAX } else { vox_offset(h, path)? };
    let mut out = Vec::new();
    while src.position + 8 <= end {
        let mut head = [0u8; 8];
        if src.read_up_to(&mut head, path)? < 8 {
            break; // end of a .hdr file
        }
        let (esize, code) = if h.big_endian {
            (
                i32::from_be_bytes([head[0], head[1], head[2], head[3]]),
                i32::from_be_bytes([head[4], head[5], head[6], head[7]]),
            )
        } else {
            (
                i32::from_le_bytes([head[0], head[1], head[2], head[3]]),
                i32::from_le_bytes([head[4], head[5], head[6], head[7]]),
            )
        };
        let start = src.position - 8;
        if esize < 8 || start + esize as u64 > end {
            return Err(Error::InvalidHeader {
                path: path.to_path_buf(),
                reason: format!(
                    "extension at offset {start} has size {esize}, outside 8..={}",
                    end.saturating_sub(start)
                ),
            });
        }
        if (esize as u64) > src.max_content_len() {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                reason: format!("extension of {esize} bytes in a file of {} bytes", src.file_len),
            });
        }
        let mut data = vec![0u8; esize as usize - 8];
        src.read_exact(&mut data, path, "header extension")?;
        out.push(Extension { code, data });
    }
    Ok(out)
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::InvalidHeader { path: path.to_path_buf(), reason }
}

/// `[nz, ny, nx]` from dim[1..=3], each at least 1.
fn spatial_shape(h: &NiftiHeader, path: &Path) -> Result<[usize; 3]> {
    let ndim = h.dim[0];
    if !(1..=7).contains(&ndim) {
        return Err(invalid(path, format!("dim[0] is {ndim}, expected 1 to 7")));
    }
    let mut s = [1usize; 3];
    for (k, slot) in (1..=3).zip([2, 1, 0]) {
        let n = h.size(k);
        if n < 1 {
            return Err(invalid(path, format!("dim[{k}] is {n}, expected at least 1")));
        }
        s[slot] = usize::try_from(n)
            .map_err(|_| invalid(path, format!("dim[{k}] = {n} is too large")))?;
    }
    Ok(s)
}

/// Product of dim[4..=dim[0]].
fn frame_count(h: &NiftiHeader, path: &Path) -> Result<usize> {
    let mut frames = 1usize;
    for k in 4..=7 {
        let n = h.size(k);
        if n < 1 {
            return Err(invalid(path, format!("dim[{k}] is {n}, expected at least 1")));
        }
        frames = usize::try_from(n)
            .ok()
            .and_then(|n| frames.checked_mul(n))
            .ok_or_else(|| invalid(path, "frame count overflows".into()))?;
    }
    Ok(frames)
}

fn vox_offset(h: &NiftiHeader, path: &Path) -> Result<u64> {
    let v = h.vox_offset;
    if !v.is_finite() || v < 0.0 || v.fract() != 0.0 || v > 2f64.powi(62) {
        return Err(invalid(path, format!("vox_offset is {v}, expected a whole number of bytes")));
    }
    Ok(v as u64)
}

fn geometry(h: &NiftiHeader, path: &Path) -> Result<Geometry> {
    let (affine, source) = best_affine(h);
    Geometry::from_ras_affine(&affine).map_err(|e| {
        invalid(path, format!("the {source:?} transform does not describe a voxel grid: {e}"))
    })
}

/// Reads one frame (all components) and appends its volumes.
fn read_frame(
    src: &mut Source,
    path: &Path,
    stored: Stored,
    shape: [usize; 3],
    swap: bool,
    geometry: &Geometry,
    out: &mut Vec<DynVolume>,
) -> Result<()> {
    let n = shape.iter().product::<usize>();
    match stored {
        Stored::Scalar(t) => {
            out.extend(read_scalar_dyn(src, path, t, n, 1, swap, shape, geometry)?)
        }
        Stored::Interleaved(t, c) => {
            out.extend(read_scalar_dyn(src, path, t, n, c, swap, shape, geometry)?)
        }
        Stored::I64 | Stored::U64 => {
            let raw: Vec<i64> = read_values(src, path, n, swap)?;
            let limit = 2f64.powi(53);
            let unsigned = stored == Stored::U64;
            let mut values = Vec::with_capacity(n);
            for (i, r) in raw.into_iter().enumerate() {
                let v = if unsigned { (r as u64) as f64 } else { r as f64 };
                if v.abs() > limit {
                    return Err(Error::Unsupported {
                        path: path.to_path_buf(),
                        what: format!(
                            "64-bit integer {v} at voxel {i} has no exact f64 representation"
                        ),
                    });
                }
                values.push(v);
            }
            out.push(make(values, shape, geometry, path)?.into());
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn read_scalar_dyn(
    src: &mut Source,
    path: &Path,
    t: DType,
    n: usize,
    components: usize,
    swap: bool,
    shape: [usize; 3],
    g: &Geometry,
) -> Result<Vec<DynVolume>> {
    fn typed<T: Element + Pod>(
        src: &mut Source,
        path: &Path,
        n: usize,
        c: usize,
        swap: bool,
        shape: [usize; 3],
        g: &Geometry,
    ) -> Result<Vec<DynVolume>>
    where
        DynVolume: From<Volume<T>>,
    {
        let values: Vec<T> = read_values(src, path, n * c, swap)?;
        if c == 1 {
            return Ok(vec![make(values, shape, g, path)?.into()]);
        }
        (0..c)
            .map(|k| {
                Ok(make(values.iter().skip(k).step_by(c).copied().collect(), shape, g, path)?
                    .into())
            })
            .collect()
    }
    match t {
        DType::U8 => typed::<u8>(src, path, n, components, swap, shape, g),
        DType::I8 => typed::<i8>(src, path, n, components, swap, shape, g),
        DType::U16 => typed::<u16>(src, path, n, components, swap, shape, g),
        DType::I16 => typed::<i16>(src, path, n, components, swap, shape, g),
        DType::U32 => typed::<u32>(src, path, n, components, swap, shape, g),
        DType::I32 => typed::<i32>(src, path, n, components, swap, shape, g),
        DType::F32 => typed::<f32>(src, path, n, components, swap, shape, g),
        DType::F64 => typed::<f64>(src, path, n, components, swap, shape, g),
    }
}

/// Reads `n` values straight into their final buffer, swapping bytes if the file's order is not
/// the machine's.
fn read_values<T: Pod>(src: &mut Source, path: &Path, n: usize, swap: bool) -> Result<Vec<T>> {
    let mut values: Vec<T> = src.read_vec(n, path, "voxel data")?;
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut values);
    if swap && size_of::<T>() > 1 {
        bytes.chunks_exact_mut(size_of::<T>()).for_each(<[u8]>::reverse);
    }
    Ok(values)
}

fn make<T: Element>(
    values: Vec<T>,
    shape: [usize; 3],
    g: &Geometry,
    path: &Path,
) -> Result<Volume<T>> {
    Volume::from_vec(shape, values, g.clone())
        .map_err(|source| Error::Core { path: path.to_path_buf(), source })
}
