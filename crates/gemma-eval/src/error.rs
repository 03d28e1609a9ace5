//! The evaluation error type: what went wrong reading data or scoring.

use std::path::PathBuf;

/// Why an evaluation failed.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A data file is not what was expected.
    #[error("{path}: {msg}")]
    Data {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        msg: String,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] gemma_engine::EngineError),
    /// Fetching data into `$GEMMA_HOME` failed (pip, the lock).
    #[error(transparent)]
    Hub(#[from] gemma_hub::HubError),
    /// A request that cannot be evaluated as asked.
    #[error("{0}")]
    Invalid(String),
}
