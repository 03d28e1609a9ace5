//! The library API: load a model, tokenize, evaluate tokens, generate with a streaming callback.
//!
//! ```no_run
//! use std::ops::ControlFlow;
//! use gemma_engine::{GenerateOptions, LoadedModel};
//!
//! let model = LoadedModel::load(std::path::Path::new("model.gguf")).unwrap();
//! let prompt = model.tokenize("The capital of France is", true);
//! let mut session = model.new_session(None, None).unwrap();
//! let opts = GenerateOptions { max_tokens: 16, ..GenerateOptions::default() };
//! session.generate(&prompt, &opts, |ev| {
//!     print!("{}", ev.text);
//!     ControlFlow::Continue(())
//! }).unwrap();
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gemma_formats::GgufFile;
use gemma_model::Model;
use gemma_tokenizer::Tokenizer;

mod error;
mod session;

pub use error::EngineError;
pub use gemma_model::{Logits, ModelConfig, Precision};
pub use gemma_sample::SamplerConfig;
pub use session::{GenerateOptions, GenerateSummary, Session, StopReason, TokenEvent};

/// A model ready to run: weights, configuration and tokenizer.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Where it was loaded from.
    pub path: PathBuf,
}

/// Options of loading a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Numerics of the forward pass (default: llama.cpp's mixed precision).
    pub precision: Precision,
}

impl LoadedModel {
    /// Open a GGUF file with default options.
    pub fn load(path: &Path) -> Result<Arc<LoadedModel>, EngineError> {
        LoadedModel::load_with(path, &LoadOptions::default())
    }

    /// Open a GGUF file, resolve its configuration, bind its weights and build its tokenizer.
    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Arc<LoadedModel>, EngineError> {
        let file = GgufFile::open(path).map_err(|source| EngineError::Format {
            path: path.into(),
            source,
        })?;
        let tokenizer = Tokenizer::from_gguf(&file).map_err(|source| EngineError::Tokenizer {
            path: path.into(),
            source,
        })?;
        let mut model = Model::from_gguf(Arc::new(file)).map_err(|source| EngineError::Model {
            path: path.into(),
            source,
        })?;
        model.precision = opts.precision;
        Ok(Arc::new(LoadedModel {
            model,
            tokenizer,
            path: path.into(),
        }))
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// Tokenize text as the model says: special tokens written in the text are parsed as such,
    /// and BOS is added when `add_bos` is true and the vocabulary asks for it.
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Vec<u32> {
        self.tokenizer.encode(text, add_bos, true)
    }

    /// Text of token ids, control tokens omitted.
    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids, false)
    }

    /// A new session with its own KV cache of `ctx` positions (default: the model's, capped)
    /// running on `threads` threads (default: all available cores).
    pub fn new_session(
        self: &Arc<Self>,
        ctx: Option<usize>,
        threads: Option<usize>,
    ) -> Result<Session, EngineError> {
        Session::new(self.clone(), ctx, threads)
    }
}

/// The number of threads used when none is asked for: the available cores.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
