//! [`SafetensorsFile`]: an opened, validated safetensors file (Hugging Face's tensor
//! format) with its tensor infos, `__metadata__` and memory-mapped tensor bytes.
//!
//! Layout: an 8-byte little-endian header length `N`, then `N` bytes of UTF-8 JSON
//! `{"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, ...,
//! "__metadata__": {"key": "value"}}`, then the data; offsets are relative to the end
//! of the header. Everything is checked at open, so the accessors never panic.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use gemma_kernels::DType;
use serde_json::Value as Json;

use crate::st_error::SafetensorsError;
use crate::storage::Storage;

/// The largest header accepted, in bytes (100 MB; real headers are at most a few MB).
pub const MAX_SAFETENSORS_HEADER: u64 = 100 * 1000 * 1000;

/// The header key holding free-form string metadata.
const METADATA_KEY: &str = "__metadata__";

/// One tensor's description from a safetensors header, validated at open.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StTensorInfo {
    /// The tensor's name, e.g. `model.layers.0.self_attn.q_proj.weight`.
    pub name: String,
    /// The element type: F32, F16 or BF16.
    pub dtype: DType,
    /// The shape in safetensors (row-major) order: outermost first, the contiguous
    /// dimension last. May be empty (a scalar) or contain zeros.
    pub shape: Vec<u64>,
    /// Start of the data, relative to the end of the header.
    pub begin: u64,
    /// End of the data (exclusive), relative to the end of the header.
    pub end: u64,
}

impl StTensorInfo {
    /// The shape in GGML order: the contiguous dimension first (`shape` reversed).
    pub fn ggml_dims(&self) -> Vec<u64> {
        self.shape.iter().rev().copied().collect()
    }

    /// The number of elements (the product of `shape`, 1 for a scalar).
    pub fn n_elements(&self) -> u64 {
        self.shape.iter().product()
    }

    /// Bytes of data: `end - begin` (0 if `begin > end`, which open never accepts).
    pub fn n_bytes(&self) -> u64 {
        self.end.saturating_sub(self.begin)
    }
}

/// `name TYPE [s0, s1, ...]` with the shape in safetensors order.
impl fmt::Display for StTensorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {:?}", self.name, self.dtype, self.shape)
    }
}

/// The safetensors dtype string of a supported [`DType`], `None` for the others.
pub fn safetensors_dtype_name(dtype: DType) -> Option<&'static str> {
    match dtype {
        DType::F32 => Some("F32"),
        DType::F16 => Some("F16"),
        DType::BF16 => Some("BF16"),
        _ => None,
    }
}

/// The [`DType`] of a safetensors dtype string, `None` when not supported here.
pub fn dtype_from_safetensors(name: &str) -> Option<DType> {
    match name {
        "F32" => Some(DType::F32),
        "F16" => Some(DType::F16),
        "BF16" => Some(DType::BF16),
        _ => None,
    }
}

/// A safetensors file, fully validated when opened.
///
/// Tensor data stays in the file (memory-mapped) and is borrowed by
/// [`SafetensorsFile::tensor_data`]. The type is `Send + Sync`.
pub struct SafetensorsFile {
    path: Option<PathBuf>,
    storage: Storage,
    data_start: u64,
    tensors: Vec<StTensorInfo>,
    index: HashMap<String, usize>,
    metadata: BTreeMap<String, String>,
}

impl SafetensorsFile {
    /// Opens and validates a safetensors file, memory-mapping it.
    ///
    /// The file must not be modified while the returned value lives (the tensor bytes
    /// are read from the map, not copied).
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsFile, SafetensorsError> {
        let path = path.as_ref();
        let storage = Storage::map_io(path).map_err(|source| SafetensorsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SafetensorsFile::build(storage, Some(path.to_path_buf()))
    }

    /// Validates safetensors bytes held in memory (no file path in error messages).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<SafetensorsFile, SafetensorsError> {
        SafetensorsFile::build(Storage::Owned(bytes), None)
    }

    fn build(storage: Storage, path: Option<PathBuf>) -> Result<SafetensorsFile, SafetensorsError> {
        let parsed = parse(storage.bytes(), &path)?;
        let index = parsed
            .tensors
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i))
            .collect();
        Ok(SafetensorsFile {
            path,
            storage,
            data_start: parsed.data_start,
            tensors: parsed.tensors,
            index,
            metadata: parsed.metadata,
        })
    }

    /// The file's path, `None` when made with [`SafetensorsFile::from_bytes`].
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Size of the file in bytes.
    pub fn file_size(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// Absolute file offset of the data (8 + the header length).
    pub fn data_start(&self) -> u64 {
        self.data_start
    }

    /// All tensor infos, in data order (by `begin`, then name).
    pub fn tensors(&self) -> impl Iterator<Item = &StTensorInfo> + '_ {
        self.tensors.iter()
    }

    /// The number of tensors.
    pub fn n_tensors(&self) -> usize {
        self.tensors.len()
    }

    /// The tensor info with this name.
    pub fn tensor(&self, name: &str) -> Option<&StTensorInfo> {
        self.index.get(name).map(|&i| &self.tensors[i])
    }

    /// The data of a tensor: exactly `t.n_bytes()` bytes, little-endian elements.
    ///
    /// Never panics. For an [`StTensorInfo`] of this file the range was checked at open;
    /// for any other whose range does not lie inside this file, the result is empty.
    pub fn tensor_data(&self, t: &StTensorInfo) -> &[u8] {
        let range = self
            .data_start
            .checked_add(t.begin)
            .zip(self.data_start.checked_add(t.end))
            .and_then(|(s, e)| Some(usize::try_from(s).ok()?..usize::try_from(e).ok()?));
        range
            .and_then(|r| self.storage.bytes().get(r))
            .unwrap_or(&[])
    }

    /// The data of the named tensor, if there is one.
    pub fn tensor_bytes(&self, name: &str) -> Option<&[u8]> {
        self.tensor(name).map(|t| self.tensor_data(t))
    }

    /// The header's `__metadata__` (empty when absent).
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

impl fmt::Debug for SafetensorsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafetensorsFile")
            .field("path", &self.path)
            .field("file_size", &self.file_size())
            .field("data_start", &self.data_start)
            .field("n_tensors", &self.tensors.len())
            .field("n_metadata", &self.metadata.len())
            .finish()
    }
}

/// What [`parse`] found.
struct Parsed {
    data_start: u64,
    tensors: Vec<StTensorInfo>,
    metadata: BTreeMap<String, String>,
}

/// Validates the whole file: header bounds, JSON shape, every tensor entry, overlaps.
fn parse(bytes: &[u8], path: &Option<PathBuf>) -> Result<Parsed, SafetensorsError> {
    let file_len = bytes.len() as u64;
    let Some((len_bytes, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(SafetensorsError::TooShort {
            path: path.clone(),
            len: file_len,
        });
    };
    let header_len = u64::from_le_bytes(*len_bytes);
    if header_len > MAX_SAFETENSORS_HEADER {
        return Err(SafetensorsError::HeaderTooLarge {
            path: path.clone(),
            header_len,
            max: MAX_SAFETENSORS_HEADER,
        });
    }
    // header_len <= 100 MB, so it fits in usize on every supported target.
    let header_len_usize = header_len as usize;
    if header_len_usize > rest.len() {
        return Err(SafetensorsError::HeaderOutOfBounds {
            path: path.clone(),
            header_len,
            file_len,
        });
    }
    let (header, data) = rest.split_at(header_len_usize);
    let json: Json =
        serde_json::from_slice(header).map_err(|source| SafetensorsError::InvalidJson {
            path: path.clone(),
            source,
        })?;
    let Json::Object(entries) = json else {
        return Err(SafetensorsError::BadHeader {
            path: path.clone(),
            reason: format!("expected a JSON object, found {}", json_kind(&json)),
        });
    };

    let data_len = data.len() as u64;
    let mut metadata = BTreeMap::new();
    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in &entries {
        if name == METADATA_KEY {
            metadata = parse_metadata(value, path)?;
        } else {
            tensors.push(parse_entry(name, value, data_len, path)?);
        }
    }

    tensors.sort_by(|a, b| (a.begin, a.end, &a.name).cmp(&(b.begin, b.end, &b.name)));
    check_overlaps(&tensors, path)?;
    Ok(Parsed {
        data_start: 8 + header_len,
        tensors,
        metadata,
    })
}

/// `__metadata__`: an object of strings.
fn parse_metadata(
    value: &Json,
    path: &Option<PathBuf>,
) -> Result<BTreeMap<String, String>, SafetensorsError> {
    let bad = |reason: String| SafetensorsError::BadHeader {
        path: path.clone(),
        reason,
    };
    let Json::Object(map) = value else {
        return Err(bad(format!(
            "{METADATA_KEY} must be an object of strings, found {}",
            json_kind(value)
        )));
    };
    map.iter()
        .map(|(k, v)| match v {
            Json::String(s) => Ok((k.clone(), s.clone())),
            other => Err(bad(format!(
                "{METADATA_KEY} key {k:?}: expected a string, found {}",
                json_kind(other)
            ))),
        })
        .collect()
}

/// One tensor entry, with all of its own checks (not overlaps).
fn parse_entry(
    name: &str,
    value: &Json,
    data_len: u64,
    path: &Option<PathBuf>,
) -> Result<StTensorInfo, SafetensorsError> {
    let bad = |reason: String| SafetensorsError::BadEntry {
        path: path.clone(),
        tensor: name.to_string(),
        reason,
    };
    let Json::Object(fields) = value else {
        return Err(bad(format!(
            "expected an object with dtype, shape and data_offsets, found {}",
            json_kind(value)
        )));
    };
    let field = |key: &str| {
        fields
            .get(key)
            .ok_or_else(|| bad(format!("missing {key:?}")))
    };

    let dtype_str = match field("dtype")? {
        Json::String(s) => s,
        other => {
            return Err(bad(format!(
                "dtype: expected a string, found {}",
                json_kind(other)
            )))
        }
    };
    let shape = u64_array(field("shape")?, "shape", &bad)?;
    let offsets = u64_array(field("data_offsets")?, "data_offsets", &bad)?;
    let [begin, end] = offsets[..] else {
        return Err(bad(format!(
            "data_offsets: expected 2 integers, found {}",
            offsets.len()
        )));
    };

    let dtype =
        dtype_from_safetensors(dtype_str).ok_or_else(|| SafetensorsError::UnsupportedDtype {
            path: path.clone(),
            tensor: name.to_string(),
            dtype: dtype_str.clone(),
        })?;
    let expected = shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|n| dtype.bytes_for(n))
        .ok_or_else(|| SafetensorsError::ShapeOverflow {
            path: path.clone(),
            tensor: name.to_string(),
            shape: shape.clone(),
        })?;
    if begin > end {
        return Err(SafetensorsError::BadOffsets {
            path: path.clone(),
            tensor: name.to_string(),
            begin,
            end,
        });
    }
    if end > data_len {
        return Err(SafetensorsError::TensorOutOfBounds {
            path: path.clone(),
            tensor: name.to_string(),
            begin,
            end,
            data_len,
        });
    }
    if end - begin != expected {
        return Err(SafetensorsError::SizeMismatch {
            path: path.clone(),
            tensor: name.to_string(),
            dtype: dtype.name(),
            shape,
            expected,
            got: end - begin,
        });
    }
    Ok(StTensorInfo {
        name: name.to_string(),
        dtype,
        shape,
        begin,
        end,
    })
}

/// A JSON array of non-negative integers that fit in `u64`.
fn u64_array(
    value: &Json,
    what: &str,
    bad: &dyn Fn(String) -> SafetensorsError,
) -> Result<Vec<u64>, SafetensorsError> {
    let Json::Array(items) = value else {
        return Err(bad(format!(
            "{what}: expected an array of integers, found {}",
            json_kind(value)
        )));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_u64().ok_or_else(|| {
                bad(format!(
                    "{what}[{i}]: expected a non-negative integer below 2^64, found {v}"
                ))
            })
        })
        .collect()
}

/// Tensors sorted by `begin`: no nonempty range may start inside another.
fn check_overlaps(
    tensors: &[StTensorInfo],
    path: &Option<PathBuf>,
) -> Result<(), SafetensorsError> {
    let mut prev: Option<&StTensorInfo> = None;
    for t in tensors.iter().filter(|t| t.begin < t.end) {
        if let Some(p) = prev {
            if t.begin < p.end {
                return Err(SafetensorsError::OverlappingTensors {
                    path: path.clone(),
                    first: p.name.clone(),
                    first_begin: p.begin,
                    first_end: p.end,
                    second: t.name.clone(),
                    second_begin: t.begin,
                });
            }
        }
        match prev {
            Some(p) if p.end >= t.end => {}
            _ => prev = Some(t),
        }
    }
    Ok(())
}

/// A JSON value's kind, for messages.
pub(crate) fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
