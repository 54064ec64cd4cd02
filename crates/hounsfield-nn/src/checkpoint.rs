//! Checkpoints as safetensors files: the network's parameters under their PyTorch-style names,
//! optionally the optimiser's moments, and JSON metadata (the network's configuration, the
//! training step) in the safetensors header, so Python's `safetensors` reads them as they are.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Var;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;

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

/// Sets every parameter of `varmap` from `tensors` (taking them out, so what is left are extras),
/// checking names and shapes; errors name the checkpoint at `path`.
pub fn restore_parameters(
    path: &Path,
    varmap: &VarMap,
    tensors: &mut HashMap<String, Tensor>,
) -> Result<()> {
    let fail = |reason: String| Error::Checkpoint { path: path.to_path_buf(), reason };
    let data = varmap.data().lock().map_err(|_| fail("parameter map poisoned".into()))?;
    for (name, var) in data.iter() {
        let t = tensors.remove(name).ok_or_else(|| fail(format!("missing parameter {name}")))?;
        if t.dims() != var.dims() {
            return Err(fail(format!(
                "parameter {name} has shape {:?}, expected {:?}",
                t.dims(),
                var.dims()
            )));
        }
        let t = t.to_dtype(DType::F32)?;
        // A NaN or infinite weight turns every output into NaN: refused, not run.
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(fail(format!("parameter {name} holds {} at element {i}", values[i])));
        }
        var.set(&t)?;
    }
    Ok(())
}

/// The parameters of `varmap` in name order (the order optimiser state and files use).
pub fn named_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let data = varmap.data().lock().map_err(|_| Error::Config("parameter map poisoned".into()))?;
    let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}
