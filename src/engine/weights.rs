//! A GGUF file's tensors as the engine reads them: the file mapped read-only, each tensor
//! a typed view (its quantization, rows and columns, its bytes in the map), and the
//! metadata the model's shape comes from. Nothing is copied or converted here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;

use super::kernels::{Mapped, QuantType};

/// A tensor of the file: `rows` rows of `cols` weights, quantized as `ty`, row-major.
#[derive(Clone)]
pub struct Tensor {
    pub name: String,
    pub ty: QuantType,
    pub rows: usize,
    pub cols: usize,
    file: Arc<Mapped>,
    offset: usize,
    len: usize,
}

impl Tensor {
    /// The tensor's bytes (rows of `ty.row_bytes(cols)` bytes each).
    pub fn bytes(&self) -> &[u8] {
        &self.file.bytes()[self.offset..self.offset + self.len]
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let n = self.ty.row_bytes(self.cols);
        &self.bytes()[r * n..(r + 1) * n]
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?} {}x{}", self.name, self.ty, self.rows, self.cols)
    }
}

/// The file: metadata and tensors by name.
pub struct GgufFile {
    pub metadata: HashMap<String, Value>,
    pub tensors: HashMap<String, Tensor>,
}

/// Why a file cannot be run by the engine (the caller falls back to another engine).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {message}")]
    Unsupported { file: String, message: String },
}

impl GgufFile {
    /// Maps the file at `path` and indexes its tensors. The header must have been checked
    /// (`runtime::providers::gguf::inspect` refuses lengths past the end of the file
    /// before candle's reader allocates from them); tensors past the end are refused here.
    pub fn open(path: &Path) -> Result<GgufFile, LoadError> {
        let file = path.display().to_string();
        let read = |message: String| LoadError::Read {
            file: file.clone(),
            message,
        };
        let mut reader =
            std::io::BufReader::new(std::fs::File::open(path).map_err(|e| read(e.to_string()))?);
        let content = Content::read(&mut reader).map_err(|e| read(e.to_string()))?;
        let mapped = Arc::new(Mapped::open(path).map_err(|e| read(e.to_string()))?);
        let total = mapped.bytes().len();
        let mut tensors = HashMap::new();
        for (name, info) in &content.tensor_infos {
            let ty = match info.ggml_dtype {
                GgmlDType::F32 => QuantType::F32,
                GgmlDType::F16 => QuantType::F16,
                GgmlDType::Q4_0 => QuantType::Q4_0,
                GgmlDType::Q4_1 => QuantType::Q4_1,
                GgmlDType::Q8_0 => QuantType::Q8_0,
                GgmlDType::Q4K => QuantType::Q4K,
                GgmlDType::Q6K => QuantType::Q6K,
                other => {
                    return Err(LoadError::Unsupported {
                        file,
                        message: format!(
                            "tensor {name} is {other:?}, which the engine does not run"
                        ),
                    })
                }
            };
            // candle gives the dimensions outermost first: [rows, cols].
            let dims = info.shape.dims();
            let (cols, rows) = match dims {
                [c] => (*c, 1),
                [r, c] => (*c, *r),
                _ => {
                    return Err(LoadError::Unsupported {
                        file,
                        message: format!("tensor {name} has {} dimensions", dims.len()),
                    })
                }
            };
            if cols % ty.block_elems() != 0 {
                return Err(LoadError::Unsupported {
                    file,
                    message: format!("tensor {name}: {cols} columns is not whole {ty:?} blocks"),
                });
            }
            let len = ty.row_bytes(cols).checked_mul(rows);
            let offset = (content.tensor_data_offset as usize).checked_add(info.offset as usize);
            let (Some(len), Some(offset)) = (len, offset) else {
                return Err(LoadError::Read {
                    file,
                    message: format!("tensor {name} has an impossible size or offset"),
                });
            };
            if offset.checked_add(len).is_none_or(|end| end > total) {
                return Err(LoadError::Read {
                    file,
                    message: format!("tensor {name} lies past the end of the file"),
                });
            }
            tensors.insert(
                name.clone(),
                Tensor {
                    name: name.clone(),
                    ty,
                    rows,
                    cols,
                    file: mapped.clone(),
                    offset,
                    len,
                },
            );
        }
        Ok(GgufFile {
            metadata: content.metadata,
            tensors,
        })
    }

    pub fn tensor(&self, name: &str) -> Option<&Tensor> {
        self.tensors.get(name)
    }

    pub fn u32(&self, key: &str) -> Option<u32> {
        self.metadata.get(key).and_then(|v| v.to_u32().ok())
    }

    pub fn f32(&self, key: &str) -> Option<f32> {
        self.metadata.get(key).and_then(|v| v.to_f32().ok())
    }

    pub fn string(&self, key: &str) -> Option<String> {
        match self.metadata.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    pub fn strings(&self, key: &str) -> Option<Vec<String>> {
        let Some(Value::Array(items)) = self.metadata.get(key) else {
            return None;
        };
        items
            .iter()
            .map(|v| match v {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn i32s(&self, key: &str) -> Option<Vec<i32>> {
        let Some(Value::Array(items)) = self.metadata.get(key) else {
            return None;
        };
        items.iter().map(|v| v.to_i32().ok()).collect()
    }
}
