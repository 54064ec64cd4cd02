//! Image and segmentation metrics, defined as scikit-image, scipy and MONAI define them so that
//! numbers can be compared across tools (the tests compare with values those libraries computed).
//!
//! - Intensity: [`mse`], [`rmse`], [`mae`], [`psnr`].
//! - Structure: [`ssim`] (2D for `nz = 1`, else 3D), Gaussian-weighted as in Wang et al. 2004.
//! - Overlap of masks (non-zero = inside): [`dice`], [`jaccard`].
//! - Surface distance in mm: [`hausdorff95`], [`hausdorff_percentile`].

mod intensity;
mod overlap;
mod ssim;
mod surface;

pub use intensity::{mae, mse, psnr, rmse};
pub use overlap::{dice, jaccard};
pub use ssim::{SsimOptions, ssim};
pub use surface::{hausdorff_percentile, hausdorff95};

use crate::element::Element;
use crate::error::{Error, Result};
use crate::volume::Volume;

/// Checks equal shapes and finite values; `what` names the pair in errors.
fn check_pair<A: Element, B: Element>(reference: &Volume<A>, test: &Volume<B>) -> Result<()> {
    reference.check_same_shape(test, "test volume")?;
    check_finite(reference, "reference volume")?;
    check_finite(test, "test volume")
}

fn check_finite<T: Element>(v: &Volume<T>, what: &'static str) -> Result<()> {
    if T::DTYPE.is_float()
        && let Some((index, value)) =
            v.as_slice().iter().map(|x| x.to_f64()).enumerate().find(|(_, x)| !x.is_finite())
    {
        return Err(Error::NotFinite { what, value, index });
    }
    Ok(())
}
