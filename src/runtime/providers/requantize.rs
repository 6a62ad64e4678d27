//! Rewrites a GGUF model's weights as Q8_0 (once, cached beside the original): candle's
//! Q8_0 mat-vec kernels run markedly faster on CPUs than its Q4_1/K-quant ones.

use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::Device;

/// The cached Q8_0 copy of `gguf` (`name.q8_0.gguf`).
pub fn q8_path(gguf: &Path) -> PathBuf {
    gguf.with_extension("q8_0.gguf")
}

/// Quantization types worth converting (already-Q8_0 or float files are left alone).
fn worth_converting(dtype: GgmlDType) -> bool {
    matches!(
        dtype,
        GgmlDType::Q4_0
            | GgmlDType::Q4_1
            | GgmlDType::Q5_0
            | GgmlDType::Q5_1
            | GgmlDType::Q4K
            | GgmlDType::Q5K
            | GgmlDType::Q6K
    )
}

/// Returns the Q8_0 copy of `gguf`, writing it first if needed; `None` when the file has
/// nothing to convert.
pub fn ensure_q8(gguf: &Path) -> Result<Option<PathBuf>, String> {
    let target = q8_path(gguf);
    // Reuse the copy only if it is newer than its source (a re-pulled model gets a new one).
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(copy), Some(source)) = (modified(&target), modified(gguf)) {
        if copy >= source {
            return Ok(Some(target));
        }
    }
    let err = |e: candle_core::Error| {
        format!(
            "requantizing {}: {}",
            gguf.display(),
            super::gguf::candle_message(&e)
        )
    };
    // The header is checked before candle reads it (hostile lengths, tensors past the end).
    let (mut file, content) = super::gguf::read_header(gguf)?;
    if !content
        .tensor_infos
        .values()
        .any(|t| worth_converting(t.ggml_dtype))
    {
        return Ok(None);
    }
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    let mut tensors: Vec<(String, QTensor)> = Vec::with_capacity(names.len());
    for name in names {
        let tensor = content.tensor(&mut file, name, &Device::Cpu).map_err(err)?;
        // Q8_0 needs rows in blocks of 32; leave anything else as it is.
        let row = tensor.shape().dims().last().copied().unwrap_or(0);
        let tensor = if worth_converting(tensor.dtype()) && row % 32 == 0 {
            let dense = tensor.dequantize(&Device::Cpu).map_err(err)?;
            QTensor::quantize(&dense, GgmlDType::Q8_0).map_err(err)?
        } else {
            tensor
        };
        tensors.push((name.clone(), tensor));
    }
    let mut metadata: Vec<(&str, &gguf_file::Value)> = content
        .metadata
        .iter()
        .map(|(k, v)| (k.as_str(), v))
        .collect();
    metadata.sort_by_key(|(k, _)| *k);
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    // A private temporary file renamed into place: concurrent loads never see a partial copy.
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut out =
        tempfile::NamedTempFile::new_in(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    gguf_file::write(out.as_file_mut(), &metadata, &refs).map_err(err)?;
    out.as_file().sync_all().map_err(|e| e.to_string())?;
    out.persist(&target).map_err(|e| e.to_string())?;
    Ok(Some(target))
}
