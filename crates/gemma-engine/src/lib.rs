//! The library API: load a model, tokenize, evaluate tokens, generate with a streaming callback
//! that can stop, and chat over a session that keeps earlier turns in its KV cache.
//!
//! ```
//! use std::ops::ControlFlow;
//! use gemma_engine::{Chat, GenerateOptions, LoadedModel, Penalties, SamplerConfig, StopReason};
//!
//! // A GGUF file or a Hugging Face model folder (here the default model, fetched once).
//! let path = gemma_hub::ensure_default_model(false).unwrap();
//! let model = LoadedModel::load(&path).unwrap();
//!
//! // Plain generation: sampling, penalties and stop strings, streamed to a callback.
//! let prompt = model.tokenize("The three primary colours are", true).unwrap();
//! let mut session = model.new_session(Some(512), Some(2)).unwrap();
//! let opts = GenerateOptions {
//!     max_tokens: 32,
//!     sampler: SamplerConfig {
//!         temperature: 0.0,
//!         penalties: Penalties { repeat: 1.1, ..Penalties::default() },
//!         ..SamplerConfig::default()
//!     },
//!     stop: vec!["\n".into()],
//!     ..GenerateOptions::default()
//! };
//! let mut text = String::new();
//! let summary = session
//!     .generate(&prompt, &opts, |ev| {
//!         text.push_str(ev.text);
//!         // Returning Break stops generation here (a client gone, Ctrl-C, ...).
//!         ControlFlow::Continue(())
//!     })
//!     .unwrap();
//! assert!(!text.contains('\n'));
//! assert!(matches!(summary.stop, StopReason::StopString | StopReason::MaxTokens));
//!
//! // A chat: each turn evaluates only its own tokens.
//! let mut chat = Chat::new(model.new_session(Some(1024), Some(2)).unwrap()).unwrap();
//! chat.set_system(Some("Answer briefly.".into()));
//! let short = GenerateOptions { max_tokens: 8, ..opts.clone() };
//! chat.send("Name a colour.", &short, |_| ControlFlow::Continue(())).unwrap();
//! chat.send("And another?", &short, |_| ControlFlow::Continue(())).unwrap();
//! assert_eq!(chat.messages().len(), 5); // system, then two user/model pairs
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gemma_formats::names::tokenizer as tok_keys;
use gemma_formats::GgufFile;
use gemma_model::Model;
use gemma_tokenizer::{
    folder_eos_ids, HfFolderTokenizer, ModelTokenizer, Tokenizer, TOKENIZER_JSON,
};

mod batcher;
mod chat;
mod error;
mod logprob;
mod session;
mod stop;

pub use batcher::{BatchEvent, Batcher, BatcherStats, EventSink};
pub use chat::Chat;
pub use error::EngineError;
pub use gemma_chat::{ChatTemplate, Message};
pub use gemma_model::{KvCache, Logits, ModelConfig, Precision, SeqInput, Storage, UBATCH};
pub use gemma_sample::{Penalties, SamplerConfig};
pub use gemma_tokenizer::TextStream;
pub use logprob::{token_logprob, TokenLogprob};
pub use session::{GenerateOptions, GenerateSummary, Session, StopReason, TokenEvent};
pub use stop::StopMatcher;

/// A model ready to run: weights, configuration and tokenizer.
#[derive(Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: Model,
    /// Its tokenizer.
    pub tokenizer: ModelTokenizer,
    /// Where it was loaded from (a GGUF file or a model folder).
    pub path: PathBuf,
    /// The model's own chat template (GGUF `tokenizer.chat_template` or the folder's
    /// `tokenizer_config.json`), if it has one.
    pub chat_template: Option<String>,
    /// Where the configuration's `query_pre_attn_scalar` came from, in words.
    pub query_pre_attn_scalar_origin: String,
}

/// Options of loading a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Numerics of the forward pass; default: llama.cpp's mixed precision for GGUF files,
    /// f32 (as transformers runs them) for Hugging Face folders.
    pub precision: Option<Precision>,
    /// Override of `query_pre_attn_scalar` (queries are scaled by its inverse square root).
    pub query_pre_attn_scalar: Option<f32>,
}

impl LoadedModel {
    /// Open a GGUF file or a Hugging Face model folder with default options.
    pub fn load(path: &Path) -> Result<Arc<LoadedModel>, EngineError> {
        LoadedModel::load_with(path, &LoadOptions::default())
    }

    /// Open a GGUF file or a Hugging Face model folder (`config.json`, safetensors,
    /// `tokenizer.json`), resolve its configuration, bind its weights and build its tokenizer.
    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Arc<LoadedModel>, EngineError> {
        let model_err = |source| EngineError::Model {
            path: path.into(),
            source: Box::new(source),
        };
        let tok_err = |source| EngineError::Tokenizer {
            path: path.into(),
            source,
        };
        let (mut model, tokenizer, chat_template, default_precision, mut origin) = if path.is_dir()
        {
            let model = Model::from_hf_folder(path).map_err(model_err)?;
            let (tok, template) = if path.join(TOKENIZER_JSON).exists() {
                let tok = HfFolderTokenizer::from_folder(path).map_err(tok_err)?;
                let template = tok.chat_template().map(str::to_string);
                (ModelTokenizer::Hf(Box::new(tok)), template)
            } else {
                let vocab_size = model.config.vocab_size;
                let eog = folder_eos_ids(path, vocab_size).map_err(tok_err)?;
                (ModelTokenizer::IdsOnly { vocab_size, eog }, None)
            };
            let origin = "config.json (head_dim when it has no query_pre_attn_scalar)".into();
            (model, tok, template, Precision::F32, origin)
        } else {
            let mut file = GgufFile::open(path).map_err(|source| EngineError::Format {
                path: path.into(),
                source,
            })?;
            let tok = match file.get(tok_keys::MODEL) {
                Some(_) => {
                    ModelTokenizer::Gguf(Box::new(Tokenizer::from_gguf(&file).map_err(tok_err)?))
                }
                // No vocabulary at all (a model written from a folder without tokenizer.json):
                // token ids only.
                None => ModelTokenizer::IdsOnly {
                    vocab_size: file
                        .tensor(gemma_formats::names::tensor::TOKEN_EMBD)
                        .map_or(0, |t| t.n_rows() as usize),
                    eog: file
                        .get_u64(tok_keys::EOS_ID)
                        .ok()
                        .flatten()
                        .map(|id| id as u32)
                        .into_iter()
                        .collect(),
                },
            };
            // The tokenizer holds its own copy of the vocabulary: free the parsed one.
            file.release_arrays(&[
                tok_keys::TOKENS,
                tok_keys::SCORES,
                tok_keys::TOKEN_TYPE,
                tok_keys::MERGES,
            ]);
            let template = file
                .get_str(tok_keys::CHAT_TEMPLATE)
                .ok()
                .flatten()
                .map(str::to_string);
            let file_has_key = file
                .metadata()
                .iter()
                .any(|(k, _)| k.ends_with(gemma_formats::names::arch::QUERY_PRE_ATTN_SCALAR));
            let model = Model::from_gguf(Arc::new(file)).map_err(model_err)?;
            let c = &model.config;
            let key = gemma_formats::names::arch_key(
                &c.architecture,
                gemma_formats::names::arch::QUERY_PRE_ATTN_SCALAR,
            );
            let origin = match file_has_key {
                true => format!("GGUF key {key}, written by gemma quantize"),
                false => {
                    gemma_model::config::gguf_query_pre_attn_scalar(
                        &c.architecture,
                        c.num_hidden_layers,
                        c.hidden_size,
                        c.num_attention_heads,
                        c.head_dim,
                    )
                    .1
                }
            };
            (model, tok, template, Precision::Mixed, origin)
        };
        model.precision = opts.precision.unwrap_or(default_precision);
        if let Some(s) = opts.query_pre_attn_scalar {
            if !(s.is_finite() && s > 0.0) {
                return Err(EngineError::Invalid(format!(
                    "query_pre_attn_scalar override {s}: expected a positive number"
                )));
            }
            model.config.query_pre_attn_scalar = s;
            origin = "--query-pre-attn-scalar override".into();
        }
        Ok(Arc::new(LoadedModel {
            model,
            tokenizer,
            path: path.into(),
            chat_template,
            query_pre_attn_scalar_origin: origin,
        }))
    }

    /// The chat template: the model's own (from `tokenizer_config.json` or the GGUF key
    /// `tokenizer.chat_template`), else the built-in Gemma template.
    pub fn chat_template(&self) -> Result<ChatTemplate, EngineError> {
        let text = |id: Option<u32>, default: &str| {
            id.and_then(|i| self.tokenizer.token_str(i))
                .map_or_else(|| default.to_string(), |s| s.into_owned())
        };
        let bos = text(self.tokenizer.bos(), "<bos>");
        let eos = text(self.tokenizer.eos(), "<eos>");
        match &self.chat_template {
            Some(src) => {
                let origin = match self.model.storage() {
                    gemma_model::Storage::Gguf(_) => format!(
                        "{}: {}",
                        self.path.display(),
                        gemma_formats::names::tokenizer::CHAT_TEMPLATE
                    ),
                    gemma_model::Storage::Safetensors(_) => format!(
                        "{}: chat_template",
                        self.path.join(gemma_tokenizer::TOKENIZER_CONFIG).display()
                    ),
                };
                Ok(ChatTemplate::with_origin(origin, src, &bos, &eos)?)
            }
            None => Ok(ChatTemplate::builtin_gemma(&bos)),
        }
    }

    /// The token ids of a conversation in the model's chat format, ending with the opening of
    /// the model's turn when `add_generation_prompt`. A system message is folded into the first
    /// user turn where the template has no place for it.
    pub fn chat_tokens(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<Vec<u32>, EngineError> {
        let text = self
            .chat_template()?
            .render(messages, add_generation_prompt)?;
        // The template writes BOS itself.
        self.tokenize(&text, false)
    }

    /// The model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// Tokenize text as the model says: special tokens written in the text are parsed as such,
    /// and BOS is added when `add_bos` is true and the vocabulary asks for it.
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, EngineError> {
        self.tokenizer
            .encode(text, add_bos)
            .map_err(|source| EngineError::Tokenizer {
                path: self.path.clone(),
                source,
            })
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
