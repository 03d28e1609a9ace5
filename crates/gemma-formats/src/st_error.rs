//! The error type of safetensors reading: one variant per way a file, a sharded folder
//! or a writer call can be wrong.
//!
//! Variants that come from a file carry `path` (the file, `None` for bytes given to
//! [`crate::SafetensorsFile::from_bytes`]) and, where it makes sense, the tensor name
//! and what was expected against what was found.

use std::path::PathBuf;

/// Why a safetensors file or a Hugging Face checkpoint folder could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SafetensorsError {
    /// A file could not be opened, measured, mapped or read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The file is shorter than the 8-byte header length.
    #[error("{}: not a safetensors file: {len} bytes, shorter than the 8-byte header length", show(.path))]
    TooShort {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Size of the file.
        len: u64,
    },

    /// The header length is larger than this reader accepts.
    #[error("{}: header length {header_len} exceeds the limit of {max} bytes (corrupt file, or not safetensors)", show(.path))]
    HeaderTooLarge {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The header length as read.
        header_len: u64,
        /// The largest header accepted ([`crate::MAX_SAFETENSORS_HEADER`]).
        max: u64,
    },

    /// The header extends past the end of the file.
    #[error("{}: header of {header_len} bytes does not fit in the file ({file_len} bytes, 8 taken by the length)", show(.path))]
    HeaderOutOfBounds {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The header length as read.
        header_len: u64,
        /// Size of the file.
        file_len: u64,
    },

    /// The header is not valid UTF-8 JSON.
    #[error("{}: header is not valid JSON: {source}", show(.path))]
    InvalidJson {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },

    /// The header is JSON but not of the safetensors shape.
    #[error("{}: bad header: {reason}", show(.path))]
    BadHeader {
        /// The file, when known.
        path: Option<PathBuf>,
        /// What is wrong.
        reason: String,
    },

    /// One tensor entry of the header is malformed (missing or mistyped field).
    #[error("{}: tensor {tensor:?}: {reason}", show(.path))]
    BadEntry {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// What is wrong.
        reason: String,
    },

    /// A dtype other than BF16, F16 and F32.
    #[error("{}: tensor {tensor:?}: unsupported dtype {dtype:?} (supported: BF16, F16, F32)", show(.path))]
    UnsupportedDtype {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// The dtype string found.
        dtype: String,
    },

    /// A shape whose element or byte count overflows 64 bits.
    #[error("{}: tensor {tensor:?}: shape {shape:?} overflows a 64-bit byte count", show(.path))]
    ShapeOverflow {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// The shape (safetensors order).
        shape: Vec<u64>,
    },

    /// `data_offsets` with begin after end.
    #[error("{}: tensor {tensor:?}: data_offsets [{begin}, {end}] has begin after end", show(.path))]
    BadOffsets {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// First offset.
        begin: u64,
        /// Second offset.
        end: u64,
    },

    /// The byte range does not match shape × dtype size.
    #[error("{}: tensor {tensor:?}: {dtype} shape {shape:?} needs {expected} bytes, but data_offsets span {got}", show(.path))]
    SizeMismatch {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// Its dtype name.
        dtype: &'static str,
        /// The shape (safetensors order).
        shape: Vec<u64>,
        /// Bytes the shape needs.
        expected: u64,
        /// `end - begin`.
        got: u64,
    },

    /// A tensor's byte range extends past the end of the data section.
    #[error("{}: tensor {tensor:?}: data_offsets [{begin}, {end}] extend past the end of the data ({data_len} bytes after the header)", show(.path))]
    TensorOutOfBounds {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// First offset.
        begin: u64,
        /// Second offset.
        end: u64,
        /// Bytes after the header.
        data_len: u64,
    },

    /// Two tensors whose byte ranges overlap.
    #[error("{}: tensors {first:?} (data bytes {first_begin}..{first_end}) and {second:?} (starting at {second_begin}) overlap", show(.path))]
    OverlappingTensors {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor that starts first.
        first: String,
        /// Its begin offset.
        first_begin: u64,
        /// Its end offset.
        first_end: u64,
        /// The tensor that starts inside it.
        second: String,
        /// Its begin offset.
        second_begin: u64,
    },

    /// A folder with neither `model.safetensors.index.json` nor `model.safetensors`.
    #[error("{}: no safetensors checkpoint: neither model.safetensors.index.json nor model.safetensors exists", .dir.display())]
    NoCheckpoint {
        /// The folder.
        dir: PathBuf,
    },

    /// A shard index that is not of the expected shape.
    #[error("{}: bad shard index: {reason}", .index.display())]
    BadIndex {
        /// The index file.
        index: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// A shard named by the index does not exist.
    #[error("{}: tensor {tensor:?} is mapped to shard {shard:?}, which does not exist", .index.display())]
    MissingShard {
        /// The index file.
        index: PathBuf,
        /// The (first) tensor mapped to it.
        tensor: String,
        /// The shard's file name as written in the index.
        shard: String,
    },

    /// A tensor named by the index is not in its shard.
    #[error("{}: tensor {tensor:?} is mapped to shard {shard:?}, which does not contain it", .index.display())]
    TensorNotInShard {
        /// The index file.
        index: PathBuf,
        /// The tensor.
        tensor: String,
        /// The shard's file name as written in the index.
        shard: String,
    },

    /// A writer was given bytes that do not match a tensor's shape and dtype.
    #[error("writer: tensor {tensor:?}: shape and dtype need {expected} bytes, got {got}")]
    WriterSizeMismatch {
        /// The tensor.
        tensor: String,
        /// Bytes the shape needs (`None`-like `u64::MAX` when it overflows).
        expected: u64,
        /// Bytes given.
        got: u64,
    },

    /// A writer was given a dtype safetensors support here does not cover.
    #[error("writer: tensor {tensor:?}: dtype {dtype} is not BF16, F16 or F32")]
    WriterDtype {
        /// The tensor.
        tensor: String,
        /// The dtype given.
        dtype: gemma_kernels::DType,
    },
}

/// How a file is named in messages.
fn show(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<safetensors bytes in memory>".to_string(),
    }
}
