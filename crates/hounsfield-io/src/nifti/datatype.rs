//! NIfTI datatype codes and how their voxels are laid out.

/// How a datatype's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stored {
    /// One scalar of a core element type per voxel.
    Scalar(hounsfield_core::DType),
    /// 64-bit integers: read as f64 when every value is exactly representable.
    I64,
    /// Unsigned 64-bit integers: as `I64`.
    U64,
    /// `components` interleaved values of a core element type per voxel (RGB24, RGBA32,
    /// complex64, complex128).
    Interleaved(hounsfield_core::DType, usize),
}

/// The layout of datatype `code`, or its name when it is valid NIfTI but not handled here.
pub fn layout(code: i16) -> Result<Stored, String> {
    use hounsfield_core::DType::*;
    Ok(match code {
        2 => Stored::Scalar(U8),
        4 => Stored::Scalar(I16),
        8 => Stored::Scalar(I32),
        16 => Stored::Scalar(F32),
        64 => Stored::Scalar(F64),
        256 => Stored::Scalar(I8),
        512 => Stored::Scalar(U16),
        768 => Stored::Scalar(U32),
        1024 => Stored::I64,
        1280 => Stored::U64,
        128 => Stored::Interleaved(U8, 3),
        2304 => Stored::Interleaved(U8, 4),
        32 => Stored::Interleaved(F32, 2),
        1792 => Stored::Interleaved(F64, 2),
        1 => return Err("datatype 1 (1-bit binary)".into()),
        1536 => return Err("datatype 1536 (128-bit float)".into()),
        2048 => return Err("datatype 2048 (256-bit complex)".into()),
        other => return Err(format!("datatype code {other}, which NIfTI does not define")),
    })
}

impl Stored {
    /// Bytes per voxel.
    pub fn voxel_bytes(self) -> usize {
        match self {
            Stored::Scalar(t) => t.size_bytes(),
            Stored::I64 | Stored::U64 => 8,
            Stored::Interleaved(t, n) => t.size_bytes() * n,
        }
    }

    /// Values per voxel.
    pub fn components(self) -> usize {
        match self {
            Stored::Interleaved(_, n) => n,
            _ => 1,
        }
    }
}

/// The datatype code for `components` values of `dtype` per voxel, if NIfTI has one.
pub fn code_for(dtype: hounsfield_core::DType, components: usize) -> Option<(i16, i16)> {
    use hounsfield_core::DType::*;
    let code = match (dtype, components) {
        (U8, 1) => 2,
        (I16, 1) => 4,
        (I32, 1) => 8,
        (F32, 1) => 16,
        (F64, 1) => 64,
        (I8, 1) => 256,
        (U16, 1) => 512,
        (U32, 1) => 768,
        (U8, 3) => 128,
        (U8, 4) => 2304,
        (F32, 2) => 32,
        (F64, 2) => 1792,
        _ => return None,
    };
    Some((code, (dtype.size_bytes() * components * 8) as i16))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_writable_code_reads_back_with_the_same_layout() {
        use hounsfield_core::DType::*;
        for (t, n) in [
            (U8, 1),
            (I8, 1),
            (U16, 1),
            (I16, 1),
            (U32, 1),
            (I32, 1),
            (F32, 1),
            (F64, 1),
            (U8, 3),
            (U8, 4),
            (F32, 2),
            (F64, 2),
        ] {
            let (code, bitpix) = code_for(t, n).unwrap();
            let stored = layout(code).unwrap();
            assert_eq!(stored.components(), n);
            assert_eq!(stored.voxel_bytes() * 8, bitpix as usize);
        }
        assert!(layout(1536).unwrap_err().contains("128-bit"));
        assert!(layout(3).is_err());
        assert_eq!(code_for(U16, 3), None);
    }
}
