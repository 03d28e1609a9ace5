//! A small GGUF writer, for tests and synthetic models.
//!
//! It builds a complete little-endian GGUF (v3 by default, or v2) in memory:
//! header, metadata in insertion order, tensor infos, then the tensor data, each
//! tensor starting at a multiple of the alignment and padded with zeros to the
//! next multiple — the same layout as the `gguf` Python package's `GGUFWriter`
//! (a test checks the bytes are identical for the same content).
//!
//! ```
//! use gemma_formats::writer::GgufWriter;
//! use gemma_formats::{DType, GgufFile};
//!
//! let mut w = GgufWriter::new();
//! w.add("general.architecture", "gemma3")
//!     .add("gemma3.block_count", 1u32)
//!     .add("tokenizer.ggml.tokens", vec!["<pad>", "<eos>"])
//!     .add_f32_tensor("output_norm.weight", &[4], &[1.0, 2.0, 3.0, 4.0]);
//! let file = GgufFile::from_bytes(w.to_bytes()?)?;
//! assert_eq!(file.get_u32("gemma3.block_count")?, Some(1));
//! assert_eq!(file.tensor("output_norm.weight").unwrap().dtype, DType::F32);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gemma_kernels::DType;

use crate::names::general;
use crate::parse::{DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH};
use crate::tensor::MAX_DIMS;
use crate::value::{Value, ValueType};

/// Why [`GgufWriter`] could not produce a file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A version other than 2 or 3.
    #[error("cannot write GGUF version {0}: only 2 and 3 are supported")]
    BadVersion(u32),
    /// A key added twice.
    #[error("duplicate metadata key {0:?}")]
    DuplicateKey(String),
    /// An array whose elements do not all have the first element's type.
    #[error("metadata key {key:?}: array element {index} is {found}, but the array holds {expected} (GGUF arrays are homogeneous)")]
    MixedArray {
        /// The key.
        key: String,
        /// The index of the first element of another type.
        index: usize,
        /// The type of the first element.
        expected: &'static str,
        /// The type of the offending element.
        found: &'static str,
    },
    /// Arrays nested deeper than readers accept.
    #[error("metadata key {key:?}: arrays nested deeper than {max_depth} levels")]
    NestingTooDeep {
        /// The key.
        key: String,
        /// The deepest nesting accepted.
        max_depth: usize,
    },
    /// `general.alignment` is not an integer nonzero power of two that fits in 32 bits.
    #[error("general.alignment is {0}, expected a nonzero power of two (at most 2^31)")]
    BadAlignment(String),
    /// A tensor name added twice.
    #[error("duplicate tensor name {0:?}")]
    DuplicateTensor(String),
    /// A shape readers would reject.
    #[error("tensor {tensor:?}: shape {dims:?} is invalid: {reason}")]
    BadShape {
        /// The tensor.
        tensor: String,
        /// The dims given (GGML order).
        dims: Vec<u64>,
        /// What is wrong with them.
        reason: String,
    },
    /// Data of the wrong length for the shape and type.
    #[error(
        "tensor {tensor:?}: {dtype} data for shape {dims:?} must be {expected} bytes, got {found}"
    )]
    DataSize {
        /// The tensor.
        tensor: String,
        /// The element type.
        dtype: DType,
        /// The dims (GGML order).
        dims: Vec<u64>,
        /// Bytes the shape needs.
        expected: u64,
        /// Bytes given.
        found: u64,
    },
    /// The file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// A tensor announced in a streamed file's header (see [`GgufWriter::header_for`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor name.
    pub name: String,
    /// Dims in GGML order (`dims[0]` is the row length).
    pub dims: Vec<u64>,
    /// The element type.
    pub dtype: DType,
}

impl TensorSpec {
    /// Bytes of this tensor's data, or `None` when the shape is not whole blocks or overflows.
    pub fn n_bytes(&self) -> Option<u64> {
        self.dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|n| self.dtype.bytes_for(n))
    }
}

struct PendingTensor {
    name: String,
    dims: Vec<u64>,
    dtype: DType,
    data: Vec<u8>,
}

/// Collects metadata and tensors, then serializes them as a GGUF file.
///
/// Nothing is checked until [`GgufWriter::to_bytes`], so calls chain freely.
/// The alignment is the value of the `general.alignment` entry if one was added
/// (see [`GgufWriter::set_alignment`]), else 32.
pub struct GgufWriter {
    version: u32,
    metadata: Vec<(String, Value)>,
    tensors: Vec<PendingTensor>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl GgufWriter {
    /// An empty GGUF v3 file.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            metadata: Vec::new(),
            tensors: Vec::new(),
        }
    }

    /// Writes this GGUF version instead (2 or 3; the layouts are identical).
    pub fn set_version(&mut self, version: u32) -> &mut Self {
        self.version = version;
        self
    }

    /// Sets `general.alignment` (as `uint32`), replacing an earlier value, or adding
    /// the entry at the end of the metadata.
    pub fn set_alignment(&mut self, alignment: u32) -> &mut Self {
        match self
            .metadata
            .iter_mut()
            .find(|(k, _)| k == general::ALIGNMENT)
        {
            Some(entry) => entry.1 = Value::U32(alignment),
            None => self
                .metadata
                .push((general::ALIGNMENT.to_string(), Value::U32(alignment))),
        }
        self
    }

    /// Adds a metadata entry (written in insertion order).
    pub fn add(&mut self, key: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.metadata.push((key.into(), value.into()));
        self
    }

    /// Adds a tensor: `dims` in GGML order (`dims[0]` is the row length), `data` the
    /// raw bytes in `dtype`'s layout.
    pub fn add_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        dtype: DType,
        data: impl Into<Vec<u8>>,
    ) -> &mut Self {
        self.tensors.push(PendingTensor {
            name: name.into(),
            dims: dims.to_vec(),
            dtype,
            data: data.into(),
        });
        self
    }

    /// Adds an `F32` tensor from values.
    pub fn add_f32_tensor(
        &mut self,
        name: impl Into<String>,
        dims: &[u64],
        values: &[f32],
    ) -> &mut Self {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor(name, dims, DType::F32, data)
    }

    /// The alignment the file will use.
    fn alignment(&self) -> Result<u64, WriteError> {
        let Some((_, v)) = self.metadata.iter().find(|(k, _)| k == general::ALIGNMENT) else {
            return Ok(DEFAULT_ALIGNMENT);
        };
        match v.as_integer() {
            Some(a) if a > 0 && a <= i128::from(u32::MAX) && (a as u64).is_power_of_two() => {
                Ok(a as u64)
            }
            _ => Err(WriteError::BadAlignment(format!(
                "{v} ({})",
                v.describe_type()
            ))),
        }
    }

    /// Checks everything and serializes the file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        for t in &self.tensors {
            check_data(t)?;
        }
        let specs: Vec<TensorSpec> = self
            .tensors
            .iter()
            .map(|t| TensorSpec {
                name: t.name.clone(),
                dims: t.dims.clone(),
                dtype: t.dtype,
            })
            .collect();
        let (mut out, alignment) = self.header_for(&specs)?;
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            pad_to(&mut out, alignment);
        }
        Ok(out)
    }

    /// Serializes the header of a file whose tensors are `specs` (this writer's own
    /// tensors are ignored): metadata, tensor infos laid out as [`GgufWriter::to_bytes`]
    /// lays them out, and the padding before the data. Returns the header and the
    /// alignment.
    ///
    /// This is for streaming large files: write the header, then each tensor's
    /// [`TensorSpec::n_bytes`] bytes in order, each followed by zeros up to the next
    /// multiple of the alignment (see [`padding_after`]).
    pub fn header_for(&self, specs: &[TensorSpec]) -> Result<(Vec<u8>, u64), WriteError> {
        if self.version != 2 && self.version != 3 {
            return Err(WriteError::BadVersion(self.version));
        }
        let alignment = self.alignment()?;
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        put_u32(&mut out, self.version);
        put_u64(&mut out, specs.len() as u64);
        put_u64(&mut out, self.metadata.len() as u64);

        let mut keys = HashSet::new();
        for (key, value) in &self.metadata {
            if !keys.insert(key.as_str()) {
                return Err(WriteError::DuplicateKey(key.clone()));
            }
            put_str(&mut out, key);
            put_u32(&mut out, value.value_type().id());
            put_value(&mut out, value, key, 0)?;
        }

        let mut names = HashSet::new();
        let mut offset = 0u64;
        for t in specs {
            if !names.insert(t.name.as_str()) {
                return Err(WriteError::DuplicateTensor(t.name.clone()));
            }
            let n_bytes = check_shape(&t.name, &t.dims, t.dtype)?;
            put_str(&mut out, &t.name);
            put_u32(&mut out, t.dims.len() as u32);
            for &d in &t.dims {
                put_u64(&mut out, d);
            }
            put_u32(&mut out, t.dtype.ggml_id());
            put_u64(&mut out, offset);
            offset += n_bytes.next_multiple_of(alignment);
        }

        pad_to(&mut out, alignment);
        Ok((out, alignment))
    }

    /// Serializes the file and writes it to `path`.
    pub fn write_file(&self, path: &Path) -> Result<(), WriteError> {
        let bytes = self.to_bytes()?;
        std::fs::write(path, bytes).map_err(|source| WriteError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Checks a tensor's shape and type; returns the bytes its data takes.
fn check_shape(name: &str, dims: &[u64], dtype: DType) -> Result<u64, WriteError> {
    let bad = |reason: &str| WriteError::BadShape {
        tensor: name.to_string(),
        dims: dims.to_vec(),
        reason: reason.to_string(),
    };
    if dims.is_empty() || dims.len() > MAX_DIMS {
        return Err(bad("expected 1 to 4 dimensions"));
    }
    if dims.contains(&0) {
        return Err(bad("a dimension is 0"));
    }
    let partial_block = dims[0] % dtype.block_len() as u64;
    if partial_block != 0 {
        return Err(bad(&format!(
            "row length is not a multiple of the {} block length {}",
            dtype,
            dtype.block_len()
        )));
    }
    dims.iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| dtype.bytes_for(n))
        .ok_or_else(|| bad("element count overflows"))
}

/// Checks a tensor's shape and that its data has the right length.
fn check_data(t: &PendingTensor) -> Result<(), WriteError> {
    let expected = check_shape(&t.name, &t.dims, t.dtype)?;
    if expected != t.data.len() as u64 {
        return Err(WriteError::DataSize {
            tensor: t.name.clone(),
            dtype: t.dtype,
            dims: t.dims.clone(),
            expected,
            found: t.data.len() as u64,
        });
    }
    Ok(())
}

/// Zero bytes that follow `n_bytes` of tensor data in a streamed file (see
/// [`GgufWriter::header_for`]).
pub fn padding_after(n_bytes: u64, alignment: u64) -> u64 {
    n_bytes.next_multiple_of(alignment) - n_bytes
}

fn pad_to(out: &mut Vec<u8>, alignment: u64) {
    let target = (out.len() as u64).next_multiple_of(alignment) as usize;
    out.resize(target, 0);
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes a value without its type id.
fn put_value(out: &mut Vec<u8>, value: &Value, key: &str, depth: usize) -> Result<(), WriteError> {
    match value {
        Value::U8(v) => out.push(*v),
        Value::I8(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I16(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::U32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F32(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(*v)),
        Value::String(s) => put_str(out, s),
        Value::U64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Array(items) => {
            if depth >= MAX_ARRAY_DEPTH {
                return Err(WriteError::NestingTooDeep {
                    key: key.to_string(),
                    max_depth: MAX_ARRAY_DEPTH,
                });
            }
            // An empty array has no element to take the type from; any type reads back
            // as an empty array.
            let elem = items.first().map_or(ValueType::U8, Value::value_type);
            if let Some(index) = items.iter().position(|v| v.value_type() != elem) {
                return Err(WriteError::MixedArray {
                    key: key.to_string(),
                    index,
                    expected: elem.name(),
                    found: items[index].type_name(),
                });
            }
            put_u32(out, elem.id());
            put_u64(out, items.len() as u64);
            for item in items {
                put_value(out, item, key, depth + 1)?;
            }
        }
    }
    Ok(())
}
