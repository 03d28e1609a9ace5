//! [`GgufFile`]: an opened, validated GGUF file with its metadata, tensor infos and tensor bytes.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::GgufError;
use crate::parse::{parse, Parsed};
use crate::storage::Storage;
use crate::tensor::TensorInfo;
use crate::value::Value;

/// A GGUF file, fully validated when opened.
///
/// Tensor data stays in the file (memory-mapped) and is borrowed by
/// [`GgufFile::tensor_data`]. The type is `Send + Sync`.
pub struct GgufFile {
    path: Option<PathBuf>,
    storage: Storage,
    version: u32,
    alignment: u64,
    data_offset: u64,
    metadata: Vec<(String, Value)>,
    key_index: HashMap<String, usize>,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    /// Keys whose array values were released, with their element counts.
    released: HashMap<String, usize>,
}

impl GgufFile {
    /// Opens and validates a GGUF file, memory-mapping it.
    ///
    /// The file must not be modified while the returned value lives (the tensor bytes
    /// are read from the map, not copied).
    pub fn open(path: &Path) -> Result<GgufFile, GgufError> {
        let storage = Storage::map(path)?;
        GgufFile::build(storage, Some(path.to_path_buf()))
    }

    /// Validates GGUF bytes held in memory (no file path in error messages).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
        GgufFile::build(Storage::Owned(bytes), None)
    }

    fn build(storage: Storage, path: Option<PathBuf>) -> Result<GgufFile, GgufError> {
        let Parsed {
            version,
            alignment,
            data_offset,
            metadata,
            key_index,
            tensors,
            tensor_index,
        } = parse(storage.bytes(), path.as_deref())?;
        Ok(GgufFile {
            path,
            storage,
            version,
            alignment,
            data_offset,
            metadata,
            key_index,
            tensors,
            tensor_index,
            released: HashMap::new(),
        })
    }

    /// Frees the parsed values of the array entries under `keys` (e.g. the tokenizer's
    /// vocabulary, once a tokenizer has been built from it): their values become empty arrays
    /// and [`GgufFile::released_len`] tells how many items they had. Returns the number of
    /// items released. The file's bytes are untouched.
    pub fn release_arrays(&mut self, keys: &[&str]) -> usize {
        let mut n = 0;
        for key in keys {
            if let Some(&i) = self.key_index.get(*key) {
                if let Value::Array(items) = &mut self.metadata[i].1 {
                    n += items.len();
                    self.released.insert(key.to_string(), items.len());
                    *items = Vec::new();
                }
            }
        }
        n
    }

    /// The item count of an array released by [`GgufFile::release_arrays`].
    pub fn released_len(&self, key: &str) -> Option<usize> {
        self.released.get(key).copied()
    }

    /// The file's path, `None` when made with [`GgufFile::from_bytes`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The data alignment: `general.alignment`, or 32 when absent.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset of the data section (tensor offsets are relative to it).
    ///
    /// For a file without tensors this may be at or past the end of the file.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// All metadata entries, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The value of a metadata key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor info with this name.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The data of a tensor: exactly `t.n_bytes` bytes.
    ///
    /// Never panics. For a [`TensorInfo`] of this file the range was checked at open;
    /// for any other `TensorInfo` whose range does not lie inside this file, the
    /// result is an empty slice.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let range = self
            .data_offset
            .checked_add(t.offset)
            .and_then(|start| Some((start, start.checked_add(t.n_bytes)?)))
            .and_then(|(s, e)| Some(usize::try_from(s).ok()?..usize::try_from(e).ok()?));
        range
            .and_then(|r| self.storage.bytes().get(r))
            .unwrap_or(&[])
    }

    /// The data of the named tensor, if there is one.
    pub fn tensor_bytes(&self, name: &str) -> Option<&[u8]> {
        self.tensor(name).map(|t| self.tensor_data(t))
    }
}

impl fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GgufFile")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("file_size", &self.file_size())
            .field("alignment", &self.alignment)
            .field("data_offset", &self.data_offset)
            .field("n_metadata", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}
