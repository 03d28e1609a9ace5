//! Errors raised while resolving a model's configuration and binding its weights.

use std::path::PathBuf;

use gemma_formats::{GgufError, SafetensorsError};

/// Why a model could not be configured or bound.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The underlying file could not be read.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A safetensors checkpoint could not be read.
    #[error(transparent)]
    Safetensors(#[from] SafetensorsError),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// An error in a named file.
    #[error("{path}: {source}")]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        source: Box<ModelError>,
    },
    /// A required metadata key is absent.
    #[error("metadata key `{key}` is missing; it is required to {why}")]
    MissingKey {
        /// The key.
        key: String,
        /// What it is needed for.
        why: &'static str,
    },
    /// A metadata value is present but unusable.
    #[error("metadata key `{key}` has an invalid value {value}: expected {expected}")]
    BadValue {
        /// The key.
        key: String,
        /// The value found, rendered.
        value: String,
        /// What was expected.
        expected: String,
    },
    /// The architecture is not one we run.
    #[error("unsupported model architecture `{0}`: expected one of gemma, gemma2, gemma3")]
    UnsupportedArchitecture(String),
    /// A required tensor is absent.
    #[error("tensor `{0}` is missing from the model file")]
    MissingTensor(String),
    /// A tensor has the wrong shape.
    #[error(
        "tensor `{name}` has shape {got:?}, expected {expected:?} (GGML order: row length first)"
    )]
    BadShape {
        /// Tensor name.
        name: String,
        /// Expected dims.
        expected: Vec<u64>,
        /// Dims found.
        got: Vec<u64>,
    },
    /// A tensor is stored in a type the operation cannot use.
    #[error("tensor `{name}` is stored as {dtype}, expected {expected}")]
    BadType {
        /// Tensor name.
        name: String,
        /// Type found.
        dtype: gemma_kernels::DType,
        /// What was expected.
        expected: &'static str,
    },
    /// The context is full.
    #[error("context is full: {used} of {ctx} positions used, {needed} more needed (raise --ctx)")]
    ContextFull {
        /// Context size.
        ctx: usize,
        /// Positions used.
        used: usize,
        /// Positions asked for.
        needed: usize,
    },
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary (size {vocab_size})")]
    BadToken {
        /// The id.
        id: u32,
        /// Vocabulary size.
        vocab_size: usize,
    },
}
