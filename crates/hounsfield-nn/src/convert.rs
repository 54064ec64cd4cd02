//! `Volume` <-> `Tensor`: a volume becomes a `(1, 1, D, H, W)` tensor and comes back with the
//! geometry it left with, so predictions land in the input's physical space.

use candle_core::{DType, Device, Tensor};
use hounsfield_core::{Geometry, Volume};

use crate::Result;

/// The volume as a `(1, 1, nz, ny, nx)` tensor of `dtype`, and its geometry.
pub fn volume_to_tensor(volume: &Volume<f32>, dtype: DType) -> Result<(Tensor, Geometry)> {
    let [nz, ny, nx] = volume.shape();
    let data = volume.as_slice().to_vec();
    let tensor = Tensor::from_vec(data, (1, 1, nz, ny, nx), &Device::Cpu)?.to_dtype(dtype)?;
    Ok((tensor, volume.geometry().clone()))
}

/// A tensor of `nz * ny * nx` elements (any leading unit axes, e.g. `(1, 1, nz, ny, nx)`) as a
/// volume with `geometry`.
pub fn tensor_to_volume(
    tensor: &Tensor,
    shape: [usize; 3],
    geometry: Geometry,
) -> Result<Volume<f32>> {
    let data: Vec<f32> = tensor.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Ok(Volume::from_vec(shape, data, geometry)?)
}
