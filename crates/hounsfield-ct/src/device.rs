//! Where work runs: the CPU, or a CUDA GPU through hounsfield-cuda when the crate is built with
//! the `cuda` feature (without it, asking for a GPU is an error value).

use hounsfield_core::{Error, Result};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageGrid, ScanGeometry, uniform_angles};

    #[test]
    fn the_cpu_projector_and_grid_conversions_round_trip() {
        let grid = ImageGrid::new_2d(8, 6, 1.0).unwrap();
        let scan = ScanGeometry::parallel_2d(uniform_angles(4, 0.0, std::f64::consts::PI), 9, 1.0)
            .unwrap();
        let op = projector_on(grid.clone(), scan.clone(), Device::Cpu).unwrap();
        assert_eq!(op.domain_shape(), scan.image_shape(&grid).unwrap());
        let image =
            ndarray::ArrayD::from_shape_fn(ndarray::IxDyn(&[8, 6]), |i| (i[0] * 6 + i[1]) as f32);
        let volume = grid.volume_of(image.clone()).unwrap();
        assert_eq!(volume.shape(), [1, 8, 6]);
        assert_eq!(grid.image_of(&volume, &scan).unwrap(), image);
        let wrong = ImageGrid::new_2d(8, 5, 1.0)
            .unwrap()
            .volume_of(image.slice_move(ndarray::s![.., ..5]).into_dyn());
        assert!(wrong.is_ok(), "a 8x5 image fills an 8x5 grid");
        assert!(grid.volume_of(ndarray::ArrayD::zeros(ndarray::IxDyn(&[3, 3]))).is_err());
        #[cfg(not(feature = "cuda"))]
        assert!(projector_on(grid, scan, Device::Cuda(0)).is_err());
    }
}
use serde::{Deserialize, Serialize};

/// A compute device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Device {
    /// The CPU (all cores through rayon).
    #[default]
    Cpu,
    /// CUDA device with this ordinal.
    Cuda(usize),
}

impl Device {
    /// Parses `cpu`, `cuda` (device 0) or `cuda:N`.
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| {
                    Error::param("device", format!("{name}: expected cpu, cuda or cuda:N"))
                }),
        }
    }
}

/// The Joseph projector pair of `scan` on `grid`, on `device`: the CPU [`Projector`], or with the
/// `cuda` feature its GPU twin (an error value naming the missing feature otherwise).
///
/// [`Projector`]: crate::Projector
pub fn projector_on(
    grid: crate::geometry::ImageGrid,
    scan: crate::geometry::ScanGeometry,
    device: Device,
) -> Result<Box<dyn hounsfield_core::LinearOperator + Send + Sync>> {
    match device {
        Device::Cpu => Ok(Box::new(crate::Projector::new(grid, scan)?)),
        #[cfg(feature = "cuda")]
        Device::Cuda(ordinal) => Ok(Box::new(crate::gpu::GpuProjector::new(grid, scan, ordinal)?)),
        #[cfg(not(feature = "cuda"))]
        Device::Cuda(ordinal) => Err(Error::param(
            "device",
            format!(
                "cuda:{ordinal} asked for, but hounsfield-ct was built without the `cuda` feature"
            ),
        )),
    }
}

#[cfg(not(feature = "cuda"))]
pub(crate) fn backproject_on(
    ordinal: usize,
    _grid: &crate::geometry::ImageGrid,
    _maps: &[crate::backproject::ViewMap],
    _weights: &[f64],
    _q: ndarray::ArrayView3<'_, f32>,
) -> Result<Vec<f32>> {
    Err(Error::param(
        "device",
        format!("cuda:{ordinal} asked for, but hounsfield-ct was built without the `cuda` feature"),
    ))
}

#[cfg(feature = "cuda")]
pub(crate) use crate::gpu::backproject_on;
