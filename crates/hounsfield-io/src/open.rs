//! One way in: any NIfTI file, DICOM file or DICOM directory as an image, told apart by their
//! contents (a directory, the DICM magic at byte 128, else NIfTI), never by their names.

use std::io::Read;
use std::path::{Path, PathBuf};

use hounsfield_core::Volume;

#[cfg(feature = "dicom")]
use crate::dicom::{self, DicomInfo, SeriesOptions};
use crate::error::{Error, Result};
use crate::nifti::{self, NiftiImage, NiftiVersion};

/// What an input was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A NIfTI-1 file (or .hdr/.img pair).
    Nifti1,
    /// A NIfTI-2 file.
    Nifti2,
    /// One DICOM file.
    DicomFile,
    /// A series chosen from a directory of DICOM files.
    DicomSeries,
    /// An OME-Zarr volume (a Zarr v3 or v2 group).
    Zarr,
}

impl Format {
    /// "NIfTI-1", "NIfTI-2" or "DICOM".
    pub fn name(self) -> &'static str {
        match self {
            Format::Nifti1 => "NIfTI-1",
            Format::Nifti2 => "NIfTI-2",
            Format::DicomFile | Format::DicomSeries => "DICOM",
            Format::Zarr => "OME-Zarr",
        }
    }
}

/// How [`open`] reads DICOM directories.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpenOptions {
    /// The series of a directory: its label (as [`dicom::DicomScan::select`] takes it), number or
    /// UID; `None` when the directory holds one.
    pub series: Option<String>,
    /// How irregular series are handled.
    #[cfg(feature = "dicom")]
    pub series_options: SeriesOptions,
    /// The level of an OME-Zarr store, and the orientation of one written elsewhere.
    #[cfg(feature = "zarr")]
    pub zarr: crate::zarr::ZarrRead,
}

impl OpenOptions {
    /// Chooses the series of a directory.
    pub fn with_series(mut self, series: Option<String>) -> Self {
        self.series = series;
        self
    }

    /// Sets the level of an OME-Zarr store and the orientation of one written elsewhere.
    #[cfg(feature = "zarr")]
    pub fn with_zarr(mut self, zarr: crate::zarr::ZarrRead) -> Self {
        self.zarr = zarr;
        self
    }

    /// Sets how irregular series are handled.
    #[cfg(feature = "dicom")]
    pub fn with_series_options(mut self, options: SeriesOptions) -> Self {
        self.series_options = options;
        self
    }
}

/// An opened input.
#[derive(Clone, Debug)]
pub struct Opened {
    /// The input.
    pub path: PathBuf,
    /// What it was.
    pub format: Format,
    /// Its volumes and geometry; DICOM becomes what a NIfTI file of it would hold (description
    /// "`<modality>` from DICOM by hounsfield").
    pub image: NiftiImage,
    /// From DICOM: what the series says beyond its voxels (diffusion, slice times, source).
    #[cfg(feature = "dicom")]
    pub dicom: Option<DicomInfo>,
}

impl Opened {
    /// The one 3D volume, scaled (NIfTI scl_slope/inter) to f32; an error naming the input for
    /// 4D series and colour images. An unscaled f32 volume is moved out, not copied.
    pub fn into_volume_f32(self) -> Result<Volume<f32>> {
        let image = &self.image;
        if image.frames() != 1 || image.components() != 1 {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                what: format!(
                    "{} frames of {} components where one 3D grey volume is needed",
                    image.frames(),
                    image.components()
                ),
            });
        }
        let path = self.path;
        self.image
            .into_scaled_f32(0)
            .ok_or_else(|| Error::InvalidHeader { path, reason: "no voxels".into() })
    }
}

/// Reads `path`: a directory as a DICOM series, a file with the DICM magic as DICOM, anything
/// else as NIfTI. A file that is neither is `Error::WrongFormat` saying so.
pub fn open(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Opened> {
    let path = path.as_ref();
    // A Zarr store (v3 or v2) is a directory too: never read its chunk files as DICOM.
    let zarr_store = path.is_dir()
        && ["zarr.json", ".zgroup", ".zarray", ".zattrs"].iter().any(|f| path.join(f).is_file());
    #[cfg(feature = "zarr")]
    if zarr_store {
        let image = NiftiImage::from_volume(crate::zarr::read_zarr_dyn_with(path, &options.zarr)?);
        return Ok(Opened { path: path.to_path_buf(), format: Format::Zarr, image, dicom: None });
    }
    #[cfg(not(feature = "zarr"))]
    if zarr_store {
        return Err(Error::Unsupported {
            path: path.to_path_buf(),
            what: "OME-Zarr input (hounsfield-io was built without its `zarr` feature)".into(),
        });
    }
    #[cfg(feature = "dicom")]
    {
        let dicom = if path.is_dir() {
            let v =
                dicom::read_dicom_dir(path, options.series.as_deref(), &options.series_options)?;
            Some((v, Format::DicomSeries))
        } else if is_dicom_file(path) {
            Some((dicom::read_dicom_file(path)?, Format::DicomFile))
        } else {
            None
        };
        if let Some((v, format)) = dicom {
            let mut image = NiftiImage::from_volumes(v.volumes, v.samples).ok_or_else(|| {
                Error::InvalidHeader { path: path.to_path_buf(), reason: "no samples".into() }
            })?;
            image.header.descrip = format!("{} from DICOM by hounsfield", v.info.modality);
            return Ok(Opened { path: path.to_path_buf(), format, image, dicom: Some(v.info) });
        }
    }
    #[cfg(not(feature = "dicom"))]
    {
        let _ = options;
        if path.is_dir() || is_dicom_file(path) {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                what: "DICOM input (hounsfield-io was built without its `dicom` feature)".into(),
            });
        }
    }
    let image = match nifti::read_nifti(path) {
        Err(Error::WrongFormat { reason, .. }) => {
            return Err(Error::WrongFormat {
                path: path.to_path_buf(),
                format: "NIfTI or DICOM",
                reason: format!(
                    "no DICM magic at byte 128 (DICOM files without the preamble and meta header are not read), and as NIfTI: {reason}"
                ),
            });
        }
        other => other?,
    };
    let format = match image.header.version {
        NiftiVersion::V1 => Format::Nifti1,
        NiftiVersion::V2 => Format::Nifti2,
    };
    Ok(Opened {
        path: path.to_path_buf(),
        format,
        image,
        #[cfg(feature = "dicom")]
        dicom: None,
    })
}

/// The one 3D volume of `path` (see [`open`] and [`Opened::into_volume_f32`]).
pub fn open_volume(path: impl AsRef<Path>) -> Result<Volume<f32>> {
    open(path, &OpenOptions::default())?.into_volume_f32()
}

fn first_bytes<const N: usize>(path: &Path) -> Option<[u8; N]> {
    let mut head = [0u8; N];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).ok().map(|()| head)
}

/// Whether `path` is a file with the DICM magic at byte 128.
pub fn is_dicom_file(path: &Path) -> bool {
    path.is_file() && first_bytes::<132>(path).is_some_and(|h| &h[128..] == b"DICM")
}

/// Whether `path` starts with the gzip magic.
pub fn is_gzip(path: &Path) -> bool {
    first_bytes::<2>(path) == Some([0x1f, 0x8b])
}

#[cfg(test)]
mod tests {
    use super::*;
    use hounsfield_core::Geometry;

    #[test]
    fn nifti_opens_and_foreign_files_are_named_as_neither() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.nii.gz");
        let g = Geometry::axis_aligned([1.0, 2.0, 3.0], [0.0; 3]).unwrap();
        let v = Volume::from_vec([2, 3, 4], (0..24).map(|i| i as f32).collect(), g).unwrap();
        nifti::write_nifti(&path, &NiftiImage::from_volume(v.clone())).unwrap();
        let opened = open(&path, &OpenOptions::default()).unwrap();
        assert_eq!(opened.format, Format::Nifti1);
        assert!(is_gzip(&path) && !is_dicom_file(&path));
        assert_eq!(open_volume(&path).unwrap().data(), v.data());

        let text = dir.path().join("notes.dcm");
        std::fs::write(&text, "not an image at all, but long enough to have 132 bytes........................................................................").unwrap();
        let err = open(&text, &OpenOptions::default()).unwrap_err();
        assert!(matches!(err, Error::WrongFormat { .. }), "{err}");
        assert!(err.to_string().contains("DICM") && err.to_string().contains("notes.dcm"), "{err}");
    }
}
