//! Errors of `gemma quantize`, each naming the file, key or tensor concerned.

use std::path::PathBuf;

use gemma_formats::{writer::WriteError, DType, GgufError, SafetensorsError};
use gemma_kernels::QuantizeError as RowError;
use gemma_model::ModelError;

/// Why a model could not be quantized.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The input is neither a GGUF file nor a model folder.
    #[error("{}: not a GGUF file or a Hugging Face model folder (config.json + safetensors)", .0.display())]
    NotAModel(PathBuf),
    /// The output would overwrite the input.
    #[error("output {} is the input file", .0.display())]
    SameFile(PathBuf),
    /// The output exists and `--force` was not given.
    #[error("output {} exists (use --force to overwrite it)", .0.display())]
    OutputExists(PathBuf),
    /// An unknown `--type`.
    #[error("unknown type {name:?}; expected one of {known}")]
    UnknownType {
        /// The name given.
        name: String,
        /// The names accepted.
        known: String,
    },
    /// The input GGUF is malformed.
    #[error(transparent)]
    Gguf(Box<GgufError>),
    /// A safetensors file is malformed.
    #[error(transparent)]
    Safetensors(Box<SafetensorsError>),
    /// config.json is missing fields or has values we cannot honour.
    #[error("{}: {source}", .path.display())]
    Config {
        /// The config.json.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: Box<ModelError>,
    },
    /// A JSON file is missing or malformed, or lacks a field.
    #[error("{}: {what}", .path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// The checkpoint lacks a tensor the configuration requires.
    #[error("missing tensor {hf_name} (for {gguf_name})")]
    MissingTensor {
        /// The name looked for in the checkpoint.
        hf_name: String,
        /// The GGUF tensor it becomes.
        gguf_name: String,
    },
    /// A tensor's shape disagrees with config.json.
    #[error("tensor {tensor}: shape {got:?} but config.json implies {expected:?}")]
    Shape {
        /// The checkpoint tensor.
        tensor: String,
        /// The shape config.json implies (safetensors order).
        expected: Vec<u64>,
        /// The shape in the file.
        got: Vec<u64>,
    },
    /// A tensor of a type that cannot be converted.
    #[error("tensor {tensor}: type {dtype} is not supported here")]
    UnsupportedDtype {
        /// The tensor.
        tensor: String,
        /// Its type.
        dtype: DType,
    },
    /// A checkpoint tensor that belongs to no known part of the model.
    #[error("unexpected tensor {0} in the checkpoint (not part of a Gemma text model)")]
    UnexpectedTensor(String),
    /// The tokenizer files cannot be turned into llama.cpp's vocabulary.
    #[error("{}: {what}", .path.display())]
    Tokenizer {
        /// tokenizer.json or tokenizer_config.json.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// A row could not be quantized (a tensor shape the type cannot hold).
    #[error("tensor {tensor}: {source}")]
    Row {
        /// The tensor.
        tensor: String,
        /// The quantizer's error.
        #[source]
        source: RowError,
    },
    /// The output header could not be built.
    #[error("writing {}: {source}", .path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The writer's error.
        #[source]
        source: Box<WriteError>,
    },
}

impl From<GgufError> for QuantizeError {
    fn from(e: GgufError) -> Self {
        QuantizeError::Gguf(Box::new(e))
    }
}

impl From<SafetensorsError> for QuantizeError {
    fn from(e: SafetensorsError) -> Self {
        QuantizeError::Safetensors(Box::new(e))
    }
}

impl QuantizeError {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> QuantizeError {
        QuantizeError::Io {
            path: path.into(),
            source,
        }
    }
}
