//! The engine's error type: what went wrong loading, tokenizing or generating.

use std::path::PathBuf;

/// Why an engine operation failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The model file could not be read.
    #[error("cannot read model {path}: {source}")]
    Format {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: gemma_formats::GgufError,
    },
    /// The model could not be configured or bound.
    #[error("cannot load model {path}: {source}")]
    Model {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: Box<gemma_model::ModelError>,
    },
    /// The tokenizer could not be built, or could not encode a text.
    #[error("tokenizer of {path}: {source}")]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: gemma_tokenizer::TokenizerError,
    },
    /// Evaluation failed (context full, bad token).
    #[error(transparent)]
    Eval(#[from] gemma_model::ModelError),
    /// Bad sampling options.
    #[error(transparent)]
    Sampling(#[from] gemma_sample::SampleError),
    /// A request that cannot be served as asked.
    #[error("{0}")]
    Invalid(String),
    /// Too many requests are waiting; try again later.
    #[error("busy: the request queue is full")]
    Busy,
    /// The batching thread has stopped.
    #[error("the batching thread has stopped")]
    Stopped,
    /// The chat template could not be compiled or rendered.
    #[error("chat template: {0}")]
    Chat(#[from] gemma_chat::ChatError),
}
