//! [`SafetensorsWriter`]: builds safetensors files in memory (for tests and small tools).
//!
//! Tensors are laid out in the order added, back to back; the header is padded with
//! spaces to a multiple of 8 bytes, as the reference implementation does.

use std::collections::BTreeMap;
use std::path::Path;

use gemma_kernels::DType;
use serde_json::{json, Map, Value as Json};

use crate::safetensors::safetensors_dtype_name;
use crate::st_error::SafetensorsError;

/// A safetensors file under construction.
///
/// ```
/// use gemma_formats::{DType, SafetensorsFile, SafetensorsWriter};
///
/// let mut w = SafetensorsWriter::new();
/// w.metadata("format", "pt")
///     .add_f32("norm.weight", &[2], &[1.0, 2.0])
///     .add("embed", DType::BF16, &[1, 2], &[0x80, 0x3f, 0x00, 0x40]);
/// let file = SafetensorsFile::from_bytes(w.to_bytes()?)?;
/// let t = file.tensor("norm.weight").unwrap();
/// assert_eq!(file.tensor_data(t), &[0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
/// assert_eq!(file.tensor("embed").unwrap().ggml_dims(), vec![2, 1]);
/// assert_eq!(file.metadata()["format"], "pt");
/// # Ok::<(), gemma_formats::SafetensorsError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SafetensorsWriter {
    tensors: Vec<(String, DType, Vec<u64>, Vec<u8>)>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsWriter {
    /// An empty file.
    pub fn new() -> SafetensorsWriter {
        SafetensorsWriter::default()
    }

    /// Sets a `__metadata__` entry.
    pub fn metadata(&mut self, key: &str, value: &str) -> &mut Self {
        self.metadata.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds a tensor: `shape` in safetensors order (outermost first), `data` its
    /// little-endian bytes. Checked by [`SafetensorsWriter::to_bytes`].
    pub fn add(&mut self, name: &str, dtype: DType, shape: &[u64], data: &[u8]) -> &mut Self {
        self.tensors
            .push((name.to_string(), dtype, shape.to_vec(), data.to_vec()));
        self
    }

    /// Adds an F32 tensor from values.
    pub fn add_f32(&mut self, name: &str, shape: &[u64], values: &[f32]) -> &mut Self {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add(name, DType::F32, shape, &data)
    }

    /// The file's bytes; fails on a dtype other than F32/F16/BF16, a data length that
    /// does not match its shape, or a repeated name.
    pub fn to_bytes(&self) -> Result<Vec<u8>, SafetensorsError> {
        let mut header = Map::new();
        if !self.metadata.is_empty() {
            let meta: Map<String, Json> = self
                .metadata
                .iter()
                .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                .collect();
            header.insert("__metadata__".to_string(), Json::Object(meta));
        }
        let mut offset = 0u64;
        for (name, dtype, shape, data) in &self.tensors {
            let dtype_name =
                safetensors_dtype_name(*dtype).ok_or_else(|| SafetensorsError::WriterDtype {
                    tensor: name.clone(),
                    dtype: *dtype,
                })?;
            let expected = shape
                .iter()
                .try_fold(1u64, |a, &d| a.checked_mul(d))
                .and_then(|n| dtype.bytes_for(n))
                .unwrap_or(u64::MAX);
            if expected != data.len() as u64 {
                return Err(SafetensorsError::WriterSizeMismatch {
                    tensor: name.clone(),
                    expected,
                    got: data.len() as u64,
                });
            }
            let end = offset + data.len() as u64;
            let entry = json!({"dtype": dtype_name, "shape": shape, "data_offsets": [offset, end]});
            if header.insert(name.clone(), entry).is_some() || name == "__metadata__" {
                return Err(SafetensorsError::BadEntry {
                    path: None,
                    tensor: name.clone(),
                    reason: "writer: tensor name used twice (or reserved)".to_string(),
                });
            }
            offset = end;
        }
        let mut text = Json::Object(header).to_string().into_bytes();
        text.resize(text.len().next_multiple_of(8), b' ');
        let mut out = Vec::with_capacity(8 + text.len() + offset as usize);
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(&text);
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
        }
        Ok(out)
    }

    /// Writes the file to `path`.
    pub fn write_to(&self, path: &Path) -> Result<(), SafetensorsError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| SafetensorsError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
