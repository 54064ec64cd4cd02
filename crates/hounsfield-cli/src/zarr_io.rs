//! How commands read and write OME-Zarr stores beyond the defaults: the resolution level and
//! orientation of an input store, the pyramid of an output store. A flag that cannot apply to
//! the paths given is refused rather than ignored.

use std::path::Path;

use anyhow::{Result, bail};
use hounsfield_io::OpenOptions;
use hounsfield_io::zarr::{Downsample, ZarrOptions, ZarrRead, is_zarr_store};

/// OME-Zarr reading and writing options of one command.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ZarrIo {
    /// Level and orientation of an input store.
    pub read: ZarrRead,
    /// Pyramid levels of an output store.
    pub pyramid: usize,
    /// How they are made (`None`: mean for float volumes, nearest for integer ones).
    pub downsample: Option<Downsample>,
}

/// Whether `path` names an OME-Zarr store: a `.zarr` name, or a directory holding a Zarr group.
pub fn is_zarr(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("zarr")) || is_zarr_store(path)
}

impl ZarrIo {
    /// Refuses options that `input` and `output` give no use to.
    pub fn check(&self, input: &Path, output: &Path) -> Result<()> {
        let reads = self.read != ZarrRead::default();
        if reads && !is_zarr(input) {
            bail!(
                "{}: --zarr-level and --orientation apply to an OME-Zarr input only",
                input.display()
            );
        }
        if (self.pyramid > 0 || self.downsample.is_some()) && !is_zarr(output) {
            bail!(
                "{}: --pyramid and --downsample apply to an OME-Zarr output (.zarr) only",
                output.display()
            );
        }
        if self.downsample.is_some() && self.pyramid == 0 {
            bail!("--downsample says how pyramid levels are made: give --pyramid N too");
        }
        Ok(())
    }

    /// `base` with the input store's level and orientation.
    pub fn open_options(&self, base: OpenOptions) -> OpenOptions {
        base.with_zarr(self.read)
    }

    /// Output store options: `chunk` shape, zstd, and the pyramid asked for.
    pub fn options(&self, chunk: [usize; 3]) -> ZarrOptions {
        ZarrOptions::new(chunk).with_pyramid(self.pyramid, self.downsample)
    }
}
