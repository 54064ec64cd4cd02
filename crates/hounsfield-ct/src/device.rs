//! Where work runs: the CPU, or a CUDA GPU through hounsfield-cuda when the crate is built with
//! the `cuda` feature (without it, asking for a GPU is an error value).

use hounsfield_core::{Error, Result};
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
