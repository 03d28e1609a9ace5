//! Gemma model configuration, weights binding, KV cache and the forward pass.
//!
//! Data flow: a GGUF file or a Hugging Face folder → [`ModelConfig`] (every generation
//! difference resolved) → [`Weights`] (tensors bound, left memory-mapped) →
//! [`Model::forward`] with a [`KvCache`].

use std::path::Path;
use std::sync::Arc;

use gemma_formats::{GgufFile, SafetensorsSet};

mod attention;
pub mod config;
mod error;
mod forward;
pub mod ggml_attn;
mod hf_config;
pub mod kv;
pub mod matmul;
pub mod ops;
pub mod parallel;
pub mod pool;
pub mod precision;
pub mod source;
mod steps;
pub mod storage;
pub mod weights;

pub use config::{LayerConfig, ModelConfig};
pub use error::ModelError;
pub use forward::{Logits, SeqInput, UBATCH};
pub use kv::KvCache;
pub use precision::Precision;
pub use source::{GgufSource, HfSource, TensorSource};
pub use storage::Storage;
pub use weights::Weights;

/// The configuration file of a Hugging Face model folder.
pub const HF_CONFIG: &str = "config.json";

/// A loaded model: configuration and weights over memory-mapped files.
#[derive(Debug)]
pub struct Model {
    /// The resolved configuration.
    pub config: ModelConfig,
    /// The bound weights.
    pub weights: Weights,
    /// The numerics of the forward pass.
    pub precision: Precision,
    storage: Storage,
}

impl Model {
    /// Resolve the configuration and bind the weights of an opened GGUF file.
    pub fn from_gguf(file: Arc<GgufFile>) -> Result<Model, ModelError> {
        let config = ModelConfig::from_gguf(&file)?;
        Model::bind(config, &GgufSource(&file))
    }

    /// Read `config.json` and bind the safetensors checkpoint of a Hugging Face model folder.
    pub fn from_hf_folder(dir: &Path) -> Result<Model, ModelError> {
        let path = dir.join(HF_CONFIG);
        let text = std::fs::read_to_string(&path).map_err(|source| ModelError::Io {
            path: path.clone(),
            source,
        })?;
        let config = ModelConfig::from_hf_json(&text).map_err(|e| ModelError::InFile {
            path: path.clone(),
            source: Box::new(e),
        })?;
        let set = Arc::new(SafetensorsSet::open_folder(dir)?);
        Model::bind(config, &HfSource::new(&set)).map_err(|e| {
            // Name the file: the shard holding a mistyped tensor, else the checkpoint's entry.
            let shard = match &e {
                ModelError::BadShape { name, .. } | ModelError::BadType { name, .. } => {
                    set.shard_of(name).and_then(|f| f.path())
                }
                _ => None,
            };
            let path = shard.map(Path::to_path_buf).unwrap_or_else(|| {
                let index = dir.join(gemma_formats::SAFETENSORS_INDEX);
                match index.is_file() {
                    true => index,
                    false => dir.join(gemma_formats::SAFETENSORS_SINGLE),
                }
            });
            ModelError::InFile {
                path,
                source: Box::new(e),
            }
        })
    }

    /// Bind the weights `config` needs from `src`.
    pub fn bind(config: ModelConfig, src: &dyn TensorSource) -> Result<Model, ModelError> {
        let weights = Weights::bind(src, &config)?;
        Ok(Model {
            config,
            weights,
            precision: Precision::default(),
            storage: src.storage(),
        })
    }

    /// The files the weights live in.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// A fresh KV cache for `ctx` positions.
    pub fn new_cache(&self, ctx: usize) -> KvCache {
        KvCache::new(&self.config, ctx)
    }
}
