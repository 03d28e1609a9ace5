//! Gemma model configuration, weights binding, KV cache and the forward pass.
//!
//! Data flow: [`GgufFile`] → [`ModelConfig`] (every generation difference resolved) →
//! [`Weights`] (tensors bound, left memory-mapped) → [`Model::forward`] with a [`KvCache`].

use std::sync::Arc;

use gemma_formats::GgufFile;

pub mod config;
mod error;
mod forward;
pub mod ggml_attn;
mod hf_config;
pub mod kv;
pub mod matmul;
pub mod ops;
pub mod parallel;
pub mod precision;
pub mod weights;

pub use config::{LayerConfig, ModelConfig};
pub use error::ModelError;
pub use forward::Logits;
pub use kv::KvCache;
pub use precision::Precision;
pub use weights::Weights;

/// A loaded model: configuration and weights over a memory-mapped file.
#[derive(Debug)]
pub struct Model {
    /// The resolved configuration.
    pub config: ModelConfig,
    /// The bound weights.
    pub weights: Weights,
    /// The numerics of the forward pass.
    pub precision: Precision,
    file: Arc<GgufFile>,
}

impl Model {
    /// Resolve the configuration and bind the weights of an opened GGUF file.
    pub fn from_gguf(file: Arc<GgufFile>) -> Result<Model, ModelError> {
        let config = ModelConfig::from_gguf(&file)?;
        let weights = Weights::from_gguf(&file, &config)?;
        Ok(Model {
            config,
            weights,
            precision: Precision::default(),
            file,
        })
    }

    /// The file the weights live in.
    pub fn file(&self) -> &Arc<GgufFile> {
        &self.file
    }

    /// A fresh KV cache for `ctx` positions.
    pub fn new_cache(&self, ctx: usize) -> KvCache {
        KvCache::new(&self.config, ctx)
    }
}
