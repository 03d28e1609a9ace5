//! The error type of GGUF reading: one variant per way a file or a lookup can be wrong.
//!
//! Every variant that comes from a file carries `path` (the file, `None` for
//! bytes given by [`crate::GgufFile::from_bytes`]) and, where it makes sense,
//! the byte offset of the offending field, the key or tensor name, and what
//! was expected against what was found.

use std::path::PathBuf;

use gemma_kernels::DType;

/// Why a GGUF file could not be opened, or a typed metadata lookup failed.
#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    /// The file could not be opened, measured or mapped.
    #[error("cannot read GGUF file {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The first four bytes are not `GGUF`.
    #[error("{}: not a GGUF file: expected magic \"GGUF\" at offset 0, found \"{}\" (bytes {found:02x?})", show(.path), .found.escape_ascii())]
    BadMagic {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The four bytes found.
        found: [u8; 4],
    },

    /// A GGUF version other than 2 or 3.
    #[error("{}: unsupported GGUF version {version} at offset 4 (supported: 2 and 3){}", show(.path), version_hint(*.version))]
    UnsupportedVersion {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The version field as read (little-endian).
        version: u32,
    },

    /// The file ends inside a fixed-size field.
    #[error("{}: truncated file: reading {what} at offset {offset} needs {needed} bytes, but only {available} remain", show(.path))]
    Truncated {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the field starts.
        offset: u64,
        /// The field being read.
        what: String,
        /// Bytes the field needs.
        needed: u64,
        /// Bytes left in the file from `offset`.
        available: u64,
    },

    /// A length or count read from the file cannot possibly fit in the rest of the file.
    ///
    /// Checked before anything of that length is allocated.
    #[error("{}: {what} at offset {offset} is {count}, but items take at least {min_item_bytes} byte(s) each and only {remaining} bytes remain (truncated or corrupt file)", show(.path))]
    CountTooLarge {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the count field starts.
        offset: u64,
        /// What is being counted (a string length, an array length, ...).
        what: String,
        /// The count as read.
        count: u64,
        /// The fewest bytes one item can take.
        min_item_bytes: u64,
        /// Bytes left in the file after the count field.
        remaining: u64,
    },

    /// A metadata value type id outside 0..=12.
    #[error("{}: key {key:?}: unknown value type id {type_id} at offset {offset} (expected 0..=12)", show(.path))]
    UnknownValueType {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the type id is.
        offset: u64,
        /// The key whose value (or array element type) it is.
        key: String,
        /// The type id found.
        type_id: u32,
    },

    /// Arrays nested deeper than the reader allows.
    #[error("{}: key {key:?}: arrays nested deeper than {max_depth} levels at offset {offset}", show(.path))]
    NestingTooDeep {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the too-deep array starts.
        offset: u64,
        /// The key.
        key: String,
        /// The deepest nesting accepted.
        max_depth: usize,
    },

    /// A string that is not UTF-8.
    #[error("{}: {what} at offset {offset} is not valid UTF-8", show(.path))]
    InvalidUtf8 {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the string bytes start.
        offset: u64,
        /// Which string.
        what: String,
    },

    /// A metadata key that occurs twice.
    #[error("{}: duplicate metadata key {key:?} at offset {offset}", show(.path))]
    DuplicateKey {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the second occurrence starts.
        offset: u64,
        /// The key.
        key: String,
    },

    /// `general.alignment` is not a nonzero power of two that fits in 32 bits.
    #[error("{}: general.alignment is {found}, expected a nonzero power of two (unsigned, at most 2^31)", show(.path))]
    BadAlignment {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The value found, rendered with its type.
        found: String,
    },

    /// A tensor with 0 or more than 4 dimensions.
    #[error("{}: tensor {tensor:?}: {n_dims} dimensions at offset {offset}, expected 1 to 4", show(.path))]
    BadDimCount {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the n_dims field is.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// The dimension count found.
        n_dims: u32,
    },

    /// A tensor with a zero-length dimension.
    #[error("{}: tensor {tensor:?}: dimension {index} is 0 (at offset {offset})", show(.path))]
    ZeroDim {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where that dimension is.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// Which dimension (0 = row length).
        index: usize,
    },

    /// A tensor whose element or byte count does not fit in 64 bits.
    #[error("{}: tensor {tensor:?}: shape {dims:?} (at offset {offset}) overflows a 64-bit element or byte count", show(.path))]
    ShapeOverflow {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the dims start.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// The dims (GGML order).
        dims: Vec<u64>,
    },

    /// A tensor element type this project does not implement.
    #[error("{}: tensor {tensor:?}: unsupported GGML type id {type_id}{} at offset {offset}", show(.path), type_hint(.type_name))]
    UnsupportedTensorType {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the type id is.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// The GGML type id found.
        type_id: u32,
        /// GGML's name for the id when it is a known (but unsupported) type.
        type_name: Option<&'static str>,
    },

    /// A row length that is not a whole number of quantization blocks.
    #[error("{}: tensor {tensor:?}: row length {row_len} is not a multiple of the {dtype} block length {block_len} (at offset {offset})", show(.path))]
    BadRowLength {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the dims start.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// Its element type.
        dtype: DType,
        /// `dims[0]`.
        row_len: u64,
        /// The type's block length.
        block_len: u64,
    },

    /// A tensor data offset that is not a multiple of the alignment.
    #[error("{}: tensor {tensor:?}: data offset {data_offset} (field at offset {offset}) is not a multiple of the alignment {alignment}", show(.path))]
    MisalignedTensor {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the offset field is.
        offset: u64,
        /// The tensor.
        tensor: String,
        /// The tensor's offset, relative to the data section.
        data_offset: u64,
        /// The file's alignment.
        alignment: u64,
    },

    /// A tensor whose data would extend past the end of the file.
    #[error("{}: tensor {tensor:?}: {n_bytes} bytes at data offset {data_offset} (data section starts at {data_start}) extend past the end of the file ({file_size} bytes)", show(.path))]
    TensorOutOfBounds {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor.
        tensor: String,
        /// The tensor's offset, relative to the data section.
        data_offset: u64,
        /// The tensor's size in bytes.
        n_bytes: u64,
        /// Absolute offset of the data section.
        data_start: u64,
        /// Size of the file.
        file_size: u64,
    },

    /// Two tensors whose data ranges overlap.
    #[error("{}: tensors {first:?} (data bytes {first_start}..{first_end}) and {second:?} (starting at {second_start}) overlap", show(.path))]
    OverlappingTensors {
        /// The file, when known.
        path: Option<PathBuf>,
        /// The tensor that starts first.
        first: String,
        /// Its start, relative to the data section.
        first_start: u64,
        /// Its end, relative to the data section.
        first_end: u64,
        /// The tensor that starts inside it.
        second: String,
        /// Its start, relative to the data section.
        second_start: u64,
    },

    /// A tensor name that occurs twice.
    #[error("{}: duplicate tensor name {tensor:?} at offset {offset}", show(.path))]
    DuplicateTensor {
        /// The file, when known.
        path: Option<PathBuf>,
        /// Where the second occurrence starts.
        offset: u64,
        /// The name.
        tensor: String,
    },

    /// A typed metadata getter found a value of an incompatible type.
    #[error("metadata key {key:?}: expected {expected}, found {found}")]
    WrongType {
        /// The key.
        key: String,
        /// What the getter accepts.
        expected: &'static str,
        /// What the file holds (type name, for arrays with the element type).
        found: String,
    },

    /// A typed metadata getter found an integer of the right kind but out of range.
    #[error("metadata key {key:?}: value {value} does not fit in {expected}")]
    OutOfRange {
        /// The key.
        key: String,
        /// The target type.
        expected: &'static str,
        /// The value found, rendered with its type.
        value: String,
    },
}

/// How a file is named in messages.
fn show(path: &Option<PathBuf>) -> String {
    match path {
        Some(p) => p.display().to_string(),
        None => "<GGUF bytes in memory>".to_string(),
    }
}

fn version_hint(version: u32) -> &'static str {
    match version {
        1 => "; GGUF v1 is obsolete, convert the model again with a current llama.cpp",
        v if v > 0xffff => "; is it a big-endian file?",
        _ => "",
    }
}

fn type_hint(name: &Option<&'static str>) -> String {
    match name {
        Some(n) => format!(" ({n})"),
        None => String::new(),
    }
}
