//! Writing NIfTI files: single `.nii` or `.nii.gz`, little-endian, atomically. `.nii.gz` files are
//! blocked gzip (BGZF, as htslib writes): ordinary gzip to every reader, compressed in parallel,
//! and read back by us in parallel.

use std::io::Write;
use std::path::Path;

use hounsfield_core::fs::write_atomic;
use hounsfield_core::{Geometry, with_dyn_volume};

use super::NiftiImage;
use super::datatype::code_for;
use super::header::{self, NiftiHeader, NiftiVersion};
use super::xform::rotation_to_quatern;
use crate::error::{Error, Result};
use crate::gzip::BgzfWriter;

/// NIFTI_XFORM_SCANNER_ANAT: coordinates in the scanner's frame, as a DICOM conversion gives.
const XFORM_SCANNER: i32 = 1;

/// How to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// gzip level 0-9 for `.gz` paths (libdeflate's levels, which compress a little better than
    /// zlib's at the same speed; default 1: gzip is the bottleneck of every NIfTI tool, and level
    /// 1 is nibabel's default too).
    pub compression_level: u32,
    /// Force a header version; by default NIfTI-1 unless a dimension needs NIfTI-2 or the image
    /// was read from a NIfTI-2 file.
    pub version: Option<NiftiVersion>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions { compression_level: 1, version: None }
    }
}

impl WriteOptions {
    /// Sets the gzip level (0-9).
    pub fn with_compression_level(mut self, level: u32) -> Self {
        self.compression_level = level;
        self
    }

    /// Forces a header version.
    pub fn with_version(mut self, version: NiftiVersion) -> Self {
        self.version = Some(version);
        self
    }
}

/// Writes `image` to `path` (`.nii` or `.nii.gz`) with default options.
pub fn write_nifti(path: impl AsRef<Path>, image: &NiftiImage) -> Result<()> {
    write_nifti_with(path, image, &WriteOptions::default())
}

/// Writes `image` to `path` (`.nii` or `.nii.gz`). Dimensions, datatype, spacing and both
/// transforms come from the volumes; the rest of the header (scaling, intent, description,
/// units, xform codes, extensions) is kept from `image.header`.
pub fn write_nifti_with(
    path: impl AsRef<Path>,
    image: &NiftiImage,
    options: &WriteOptions,
) -> Result<()> {
    let path = path.as_ref();
    let cannot = |reason: String| Error::CannotWrite { path: path.to_path_buf(), reason };
    let name =
        path.file_name().map(|n| n.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    let gzip = name.ends_with(".nii.gz");
    if !gzip && !name.ends_with(".nii") {
        return Err(cannot("the file name must end in .nii or .nii.gz".into()));
    }
    if options.compression_level > 9 {
        return Err(cannot(format!("gzip level {} is outside 0-9", options.compression_level)));
    }
    let header = build_header(image, options).map_err(cannot)?;
    let mut bytes = header::encode(&header);
    bytes.extend_from_slice(&[u8::from(!header.extensions.is_empty()), 0, 0, 0]);
    for e in &header.extensions {
        let esize = (8 + e.data.len()).div_ceil(16) * 16;
        bytes.extend_from_slice(&(esize as i32).to_le_bytes());
        bytes.extend_from_slice(&e.code.to_le_bytes());
        bytes.extend_from_slice(&e.data);
        bytes.resize(bytes.len() + esize - 8 - e.data.len(), 0);
    }
    let io = |source| Error::Io { path: path.to_path_buf(), source };
    write_atomic(path, |file| -> Result<()> {
        if gzip {
            let mut gz = BgzfWriter::new(file, options.compression_level);
            write_body(&mut gz, &bytes, image).map_err(io)?;
            gz.finish().map_err(io)?;
        } else {
            write_body(file, &bytes, image).map_err(io)?;
        }
        Ok(())
    })
}

fn write_body(w: &mut impl Write, header: &[u8], image: &NiftiImage) -> std::io::Result<()> {
    w.write_all(header)?;
    let c = image.components();
    for t in 0..image.frames() {
        let frame = image.frame(t).unwrap_or_default();
        if c == 1 {
            with_dyn_volume!(&frame[0], v => write_le(w, v.as_slice())?);
        } else {
            // Interleave components voxel by voxel, a slab at a time.
            with_dyn_volume!(&frame[0], first => {
                let slices: Vec<_> = frame.iter().map(|f| with_dyn_volume!(f, v => bytemuck::cast_slice::<_, u8>(v.as_slice()))).collect();
                let size = size_of_val(&first.as_slice()[0]);
                let mut buf = Vec::with_capacity(1 << 20);
                for i in 0..first.len() {
                    for s in &slices {
                        buf.extend_from_slice(&s[i * size..(i + 1) * size]);
                    }
                    if buf.len() >= 1 << 20 {
                        swap_to_le(&mut buf, size);
                        w.write_all(&buf)?;
                        buf.clear();
                    }
                }
                swap_to_le(&mut buf, size);
                w.write_all(&buf)?;
            });
        }
    }
    Ok(())
}

fn write_le<T: bytemuck::Pod>(w: &mut impl Write, values: &[T]) -> std::io::Result<()> {
    if cfg!(target_endian = "big") && size_of::<T>() > 1 {
        let mut bytes = bytemuck::cast_slice::<T, u8>(values).to_vec();
        swap_to_le(&mut bytes, size_of::<T>());
        w.write_all(&bytes)
    } else {
        w.write_all(bytemuck::cast_slice(values))
    }
}

fn swap_to_le(bytes: &mut [u8], size: usize) {
    if cfg!(target_endian = "big") && size > 1 {
        bytes.chunks_exact_mut(size).for_each(<[u8]>::reverse);
    }
}

/// The header to write: `image.header` with everything the volumes determine replaced.
fn build_header(image: &NiftiImage, options: &WriteOptions) -> Result<NiftiHeader, String> {
    let first = &image.volumes()[0];
    let (dtype, shape, g) = (first.dtype(), first.shape(), first.geometry());
    for (i, v) in image.volumes().iter().enumerate() {
        if v.dtype() != dtype || v.shape() != shape {
            return Err(format!(
                "volume {i} is {} {:?}, volume 0 is {dtype} {shape:?}",
                v.dtype(),
                v.shape()
            ));
        }
        if !v.geometry().approx_eq(g, 1e-6) {
            return Err(format!("volume {i} has another geometry than volume 0"));
        }
    }
    let (datatype, bitpix) = code_for(dtype, image.components()).ok_or_else(|| {
        format!("NIfTI has no datatype for {} components of {dtype}", image.components())
    })?;
    let mut h = image.header.clone();
    h.big_endian = false;
    h.pair = false;
    h.datatype = datatype;
    h.bitpix = bitpix;
    h.dim = dims(&h, shape, image.frames());
    let needs_v2 = h.dim.iter().any(|&d| d > i64::from(i16::MAX));
    h.version = match options.version {
        Some(NiftiVersion::V1) if needs_v2 => {
            return Err(format!("dimensions {:?} do not fit NIfTI-1", &h.dim[1..]));
        }
        Some(v) => v,
        None if needs_v2 || image.header.version == NiftiVersion::V2 => NiftiVersion::V2,
        None => NiftiVersion::V1,
    };
    set_transforms(&mut h, g);
    let ext_bytes: usize = h.extensions.iter().map(|e| (8 + e.data.len()).div_ceil(16) * 16).sum();
    h.vox_offset = (h.version.header_size() + 4 + ext_bytes) as f64;
    Ok(h)
}

/// dim[] for the volumes: dims 4-7 kept from the header when they still multiply to the frame
/// count, else one time axis.
fn dims(h: &NiftiHeader, [nz, ny, nx]: [usize; 3], frames: usize) -> [i64; 8] {
    let extra: i64 = (4..=7).map(|k| h.size(k)).product();
    let mut d = [1i64; 8];
    d[1] = nx as i64;
    d[2] = ny as i64;
    d[3] = nz as i64;
    if extra == frames as i64 && h.ndim() >= 4 {
        d[4..8].copy_from_slice(&h.dim[4..8]);
        d[0] = h.dim[0];
    } else if frames > 1 {
        d[4] = frames as i64;
        d[0] = 4;
    } else {
        // Keep a 2D file 2D; otherwise 3D.
        d[0] = if nz == 1 && h.dim[0] == 2 { 2 } else { 3 };
    }
    d
}

/// sform from the geometry, and qform too when the direction is a rotation (a sheared grid has
/// no quaternion, so its qform_code is 0).
fn set_transforms(h: &mut NiftiHeader, g: &Geometry) {
    let a = g.ras_affine();
    h.srow = [a[0], a[1], a[2]];
    if h.sform_code <= 0 {
        h.sform_code = XFORM_SCANNER;
    }
    let s = g.spacing();
    h.pixdim[1..4].copy_from_slice(&s);
    if g.is_orthonormal(1e-6) {
        let mut r = [[0.0; 3]; 3];
        for (row, out) in r.iter_mut().enumerate() {
            for (col, v) in out.iter_mut().enumerate() {
                *v = a[row][col] / s[col];
            }
        }
        let (q, qfac) = rotation_to_quatern(&r);
        h.quatern = q;
        h.pixdim[0] = qfac;
        h.qoffset = [a[0][3], a[1][3], a[2][3]];
        if h.qform_code <= 0 {
            h.qform_code = h.sform_code;
        }
    } else {
        h.quatern = [0.0; 3];
        h.qoffset = [a[0][3], a[1][3], a[2][3]];
        h.pixdim[0] = 1.0;
        h.qform_code = 0;
    }
}
