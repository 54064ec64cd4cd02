//! Checkpoints as safetensors files: the network's parameters under their PyTorch-style names,
//! optionally the optimiser's moments, and JSON metadata (the network's configuration, the
//! training step) in the safetensors header, so Python's `safetensors` reads them as they are.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::{Error, Result};

/// Writes `tensors` and `metadata` atomically (a temporary file renamed into place).
pub fn save(
    path: &Path,
    tensors: &[(String, Tensor)],
    metadata: &HashMap<String, String>,
) -> Result<()> {
    let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let contiguous: Vec<(String, Tensor)> =
        tensors.iter().map(|(n, t)| Ok((n.clone(), t.contiguous()?))).collect::<Result<_>>()?;
    let views: Vec<(&str, &Tensor)> = contiguous.iter().map(|(n, t)| (n.as_str(), t)).collect();
    let bytes =
        safetensors::serialize(views, Some(metadata.clone())).map_err(|e| fail(e.to_string()))?;
    hounsfield_core::fs::write_bytes_atomic(path, &bytes)?;
    Ok(())
}

/// Reads every tensor and the metadata of a safetensors file.
pub fn load(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let bytes = std::fs::read(path).map_err(|e| hounsfield_core::Error::io(path, e))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| fail(format!("not a safetensors file: {e}")))?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| fail(e.to_string()))?;
    Ok((tensors, metadata))
}
