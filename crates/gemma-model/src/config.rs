//! `ModelConfig`: every difference between Gemma generations, resolved once into plain numbers.
//!
//! Field names follow Hugging Face's `config.json`. The forward pass reads only the resolved
//! per-layer values ([`LayerConfig`]) and never asks which generation it runs.

use gemma_formats::names::{arch, arch_key, general, tensor};
use gemma_formats::GgufFile;
use serde::Serialize;

use crate::forward::UBATCH;
use crate::ModelError;

/// Local (sliding-window) RoPE base used when the file does not say (Gemma 3's `rope_local_base_freq`).
pub const DEFAULT_ROPE_LOCAL_BASE: f32 = 10_000.0;
/// Gemma 3's sliding-window pattern when the file does not say: layer `i` is global when `(i+1) % 6 == 0`.
pub const DEFAULT_GEMMA3_PATTERN: usize = 6;
/// Gemma 2's pattern: even layers local, odd layers global.
pub const DEFAULT_GEMMA2_PATTERN: usize = 2;
/// The most layers a model may declare (llama.cpp's `LLAMA_MAX_LAYERS`; Gemma has at most 62):
/// a bound on what is allocated per layer before the weights are read.
pub const MAX_LAYERS: usize = 512;
/// Gemma 2's sliding window when a GGUF file does not say (llama.cpp's default).
pub const DEFAULT_GEMMA2_WINDOW: usize = 4096;
/// Gemma 2's attention soft-cap when a GGUF file does not say (llama.cpp's default; every
/// Gemma 2 `config.json` has 50.0).
pub const GEMMA2_ATTN_SOFTCAP: f32 = 50.0;
/// Gemma 2's final logit soft-cap when a GGUF file does not say (llama.cpp's default; every
/// Gemma 2 `config.json` has 30.0).
pub const GEMMA2_FINAL_SOFTCAP: f32 = 30.0;
/// Default context cap: the model's own context is used up to this many tokens unless `--ctx` says more.
pub const DEFAULT_CTX_CAP: usize = 8192;

/// Resolved per-layer attention settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerConfig {
    /// Sliding window in tokens for local layers (`None` for global layers).
    pub sliding_window: Option<usize>,
    /// RoPE base frequency for this layer.
    pub rope_theta: f32,
    /// Linear RoPE scaling factor (positions are divided by it); 1.0 means none.
    pub rope_scaling_factor: f32,
}

/// A Gemma model's configuration, with Hugging Face field names.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    /// GGUF architecture name (`gemma`, `gemma2` or `gemma3`).
    pub architecture: String,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Model width, `d_model`.
    pub hidden_size: usize,
    /// GeGLU inner width.
    pub intermediate_size: usize,
    /// Number of transformer blocks.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (1 = multi-query; < heads = grouped-query).
    pub num_key_value_heads: usize,
    /// Width of one attention head.
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// RoPE base of global layers.
    pub rope_theta: f32,
    /// RoPE base of local (sliding-window) layers.
    pub rope_local_base_freq: f32,
    /// Linear RoPE scaling factor applied on global layers only (1.0 = none).
    pub rope_scaling_factor: f32,
    /// Sliding window of local layers, if the model has any.
    pub sliding_window: Option<usize>,
    /// Every `sliding_window_pattern`-th layer is global (`(i+1) % pattern == 0`).
    pub sliding_window_pattern: usize,
    /// Queries are scaled by `query_pre_attn_scalar^-0.5`.
    pub query_pre_attn_scalar: f32,
    /// `cap * tanh(score / cap)` on attention scores, when set.
    pub attn_logit_softcapping: Option<f32>,
    /// `cap * tanh(logit / cap)` on final logits, when set.
    pub final_logit_softcapping: Option<f32>,
    /// The context the model was trained for.
    pub max_position_embeddings: usize,
    /// Per-layer resolved attention settings.
    pub layers: Vec<LayerConfig>,
}

impl ModelConfig {
    /// Resolve the configuration from GGUF metadata, filling documented defaults where absent.
    pub fn from_gguf(file: &GgufFile) -> Result<ModelConfig, ModelError> {
        let arch_name = file
            .get_str(general::ARCHITECTURE)?
            .ok_or_else(|| ModelError::MissingKey {
                key: general::ARCHITECTURE.into(),
                why: "know which model this is",
            })?
            .to_string();
        if !matches!(arch_name.as_str(), "gemma" | "gemma2" | "gemma3") {
            return Err(ModelError::UnsupportedArchitecture(arch_name));
        }
        let req = |suffix: &str, why: &'static str| -> Result<usize, ModelError> {
            let key = arch_key(&arch_name, suffix);
            match file.get_u64(&key)? {
                Some(v) if v > 0 && v <= u32::MAX as u64 => Ok(v as usize),
                Some(v) => Err(ModelError::BadValue {
                    key,
                    value: v.to_string(),
                    expected: "a positive count".into(),
                }),
                None => Err(ModelError::MissingKey { key, why }),
            }
        };
        let opt_f32 = |suffix: &str| -> Result<Option<f32>, ModelError> {
            Ok(file.get_f32(&arch_key(&arch_name, suffix))?)
        };

        let hidden_size = req(arch::EMBEDDING_LENGTH, "size the hidden state")?;
        let num_hidden_layers = req(arch::BLOCK_COUNT, "know the number of layers")?;
        if num_hidden_layers > MAX_LAYERS {
            return Err(ModelError::BadValue {
                key: arch_key(&arch_name, arch::BLOCK_COUNT),
                value: num_hidden_layers.to_string(),
                expected: format!("at most {MAX_LAYERS} layers"),
            });
        }
        let intermediate_size = req(arch::FEED_FORWARD_LENGTH, "size the feed-forward layer")?;
        let num_attention_heads = req(arch::HEAD_COUNT, "split attention heads")?;
        let max_position_embeddings = req(arch::CONTEXT_LENGTH, "bound the context")?;
        let num_key_value_heads = match file.get_u64(&arch_key(&arch_name, arch::HEAD_COUNT_KV))? {
            Some(v) => v as usize,
            None => num_attention_heads,
        };
        let head_dim = match file.get_u64(&arch_key(&arch_name, arch::KEY_LENGTH))? {
            Some(v) => v as usize,
            None => hidden_size / num_attention_heads,
        };
        if let Some(vl) = file.get_u64(&arch_key(&arch_name, arch::VALUE_LENGTH))? {
            if vl as usize != head_dim {
                return Err(ModelError::BadValue {
                    key: arch_key(&arch_name, arch::VALUE_LENGTH),
                    value: vl.to_string(),
                    expected: format!("the key length {head_dim}"),
                });
            }
        }
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(ModelError::BadValue {
                key: arch_key(&arch_name, arch::HEAD_COUNT_KV),
                value: num_key_value_heads.to_string(),
                expected: format!("a divisor of the head count {num_attention_heads}"),
            });
        }
        let rms_norm_eps = opt_f32(arch::LAYER_NORM_RMS_EPSILON)?.unwrap_or(1e-6);
        let rope_theta = opt_f32(arch::ROPE_FREQ_BASE)?.unwrap_or(10_000.0);
        let rope_local_base_freq =
            opt_f32(arch::ROPE_FREQ_BASE_SWA)?.unwrap_or(match arch_name.as_str() {
                "gemma3" => DEFAULT_ROPE_LOCAL_BASE,
                _ => rope_theta,
            });
        let rope_scaling_factor =
            match file.get_str(&arch_key(&arch_name, arch::ROPE_SCALING_TYPE))? {
                None | Some("none") => 1.0,
                Some("linear") => {
                    let f = opt_f32(arch::ROPE_SCALING_FACTOR)?.unwrap_or(1.0);
                    if !(f.is_finite() && f > 0.0) {
                        return Err(ModelError::BadValue {
                            key: arch_key(&arch_name, arch::ROPE_SCALING_FACTOR),
                            value: f.to_string(),
                            expected: "a positive factor".into(),
                        });
                    }
                    f
                }
                Some(other) => {
                    return Err(ModelError::BadValue {
                        key: arch_key(&arch_name, arch::ROPE_SCALING_TYPE),
                        value: other.into(),
                        expected: "`linear` or `none` (Gemma uses linear RoPE scaling)".into(),
                    })
                }
            };
        let window_key = file
            .get_u64(&arch_key(&arch_name, arch::SLIDING_WINDOW))?
            .map(|w| w as usize);
        let sliding_window = match arch_name.as_str() {
            "gemma" => None,
            // llama.cpp's Gemma 2 default when the key is absent.
            "gemma2" => Some(window_key.unwrap_or(DEFAULT_GEMMA2_WINDOW)).filter(|w| *w > 0),
            _ => window_key.filter(|w| *w > 0),
        };
        let pattern_key = arch_key(&arch_name, arch::SLIDING_WINDOW_PATTERN);
        // The pattern is a period, or (newer files) one bool per layer: true = sliding window.
        let mut local_layers: Option<Vec<bool>> = None;
        let sliding_window_pattern = match file.get(&pattern_key) {
            Some(gemma_formats::Value::Array(items)) => {
                let flags: Option<Vec<bool>> = items
                    .iter()
                    .map(|v| match v {
                        gemma_formats::Value::Bool(b) => Some(*b),
                        _ => None,
                    })
                    .collect();
                match flags {
                    Some(f) if f.len() == num_hidden_layers => local_layers = Some(f),
                    _ => {
                        return Err(ModelError::BadValue {
                            key: pattern_key,
                            value: format!("an array of {} items", items.len()),
                            expected: format!("{num_hidden_layers} booleans, one per layer"),
                        })
                    }
                }
                0
            }
            _ => match file.get_u64(&pattern_key)? {
                Some(p) if p > 0 => p as usize,
                Some(p) => {
                    return Err(ModelError::BadValue {
                        key: pattern_key,
                        value: p.to_string(),
                        expected: "a positive layer period".into(),
                    })
                }
                None if arch_name == "gemma2" => DEFAULT_GEMMA2_PATTERN,
                None => DEFAULT_GEMMA3_PATTERN,
            },
        };
        // llama.cpp has no key for it: ours when `gemma quantize` wrote it, else head_dim,
        // except for the known shapes of the table.
        let query_pre_attn_scalar = match opt_f32(arch::QUERY_PRE_ATTN_SCALAR)? {
            Some(v) if v.is_finite() && v > 0.0 => v,
            Some(v) => {
                return Err(ModelError::BadValue {
                    key: arch_key(&arch_name, arch::QUERY_PRE_ATTN_SCALAR),
                    value: v.to_string(),
                    expected: "a positive number".into(),
                })
            }
            None => {
                gguf_query_pre_attn_scalar(
                    &arch_name,
                    num_hidden_layers,
                    hidden_size,
                    num_attention_heads,
                    head_dim,
                )
                .0
            }
        };
        let positive = |v: Option<f32>| v.filter(|c| *c > 0.0);
        // Gemma 2 files may omit the caps: llama.cpp then uses its defaults, the values every
        // Gemma 2 model has (50 and 30).
        let gemma2 = arch_name == "gemma2";
        let attn_logit_softcapping = positive(opt_f32(arch::ATTN_LOGIT_SOFTCAPPING)?)
            .or(gemma2.then_some(GEMMA2_ATTN_SOFTCAP));
        let final_logit_softcapping = positive(opt_f32(arch::FINAL_LOGIT_SOFTCAPPING)?)
            .or(gemma2.then_some(GEMMA2_FINAL_SOFTCAP));

        let embd = file
            .tensor(tensor::TOKEN_EMBD)
            .ok_or_else(|| ModelError::MissingTensor(tensor::TOKEN_EMBD.into()))?;
        let vocab_size = embd.n_rows() as usize;

        let pattern = sliding_window_pattern;
        let cfg = ModelConfig {
            architecture: arch_name,
            vocab_size,
            hidden_size,
            intermediate_size,
            num_hidden_layers,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            rope_local_base_freq,
            rope_scaling_factor,
            sliding_window,
            sliding_window_pattern,
            query_pre_attn_scalar,
            attn_logit_softcapping,
            final_logit_softcapping,
            max_position_embeddings,
            layers: Vec::new(),
        };
        // Every `sliding_window_pattern`-th layer is global, unless the file lists each layer.
        let locals = local_layers.unwrap_or_else(|| pattern_locals(num_hidden_layers, pattern));
        Ok(cfg.with_locals(&locals))
    }

    /// This configuration with its per-layer settings resolved from one flag per layer
    /// (`true`: a sliding-window layer).
    pub(crate) fn with_locals(mut self, locals: &[bool]) -> ModelConfig {
        self.layers = locals.iter().map(|&l| self.layer_config(l)).collect();
        self
    }

    /// The attention settings of a local (sliding-window) or global layer of this model; without
    /// a window every layer is global. Linear RoPE scaling applies to global layers only.
    pub fn layer_config(&self, local: bool) -> LayerConfig {
        match (local, self.sliding_window) {
            (true, Some(w)) => LayerConfig {
                sliding_window: Some(w),
                rope_theta: self.rope_local_base_freq,
                rope_scaling_factor: 1.0,
            },
            _ => LayerConfig {
                sliding_window: None,
                rope_theta: self.rope_theta,
                rope_scaling_factor: self.rope_scaling_factor,
            },
        }
    }

    /// The factor queries are multiplied by before the dot product with keys.
    pub fn query_scale(&self) -> f32 {
        1.0 / self.query_pre_attn_scalar.sqrt()
    }

    /// Width of all query heads together.
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }

    /// Width of all key (or value) heads together.
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// The context used when the user does not give one: the model's, capped at [`DEFAULT_CTX_CAP`].
    pub fn default_ctx(&self) -> usize {
        self.max_position_embeddings.min(DEFAULT_CTX_CAP)
    }

    /// Most bytes of KV cache a sequence of `ctx` positions holds, evaluated in batches of at
    /// most `batch` tokens (the forward pass splits batches into micro-batches of [`UBATCH`]) (f32 keys and values): global layers keep every position; a
    /// sliding-window layer keeps its window, the batch being processed, and fewer than
    /// [`crate::kv::DROP_STEP`] positions waiting to be dropped.
    pub fn kv_bytes(&self, ctx: usize, batch: usize) -> u64 {
        let per_position = 2 * self.kv_dim() as u64 * 4;
        self.layers
            .iter()
            .map(|l| {
                let held = match l.sliding_window {
                    Some(w) => ctx.min(w + crate::kv::DROP_STEP - 1 + batch.clamp(1, UBATCH)),
                    None => ctx,
                };
                held as u64 * per_position
            })
            .sum()
    }

    /// Bytes of the forward pass's working buffers for a batch of `batch` tokens, logits of
    /// `logit_rows` positions included, with the batch's RoPE tables (one per distinct base and
    /// scaling; the 8-bit copies of one product's activations, attention scores and per-thread
    /// row tiles are small next to these and not counted).
    pub fn forward_bytes(&self, batch: usize, logit_rows: usize) -> u64 {
        let n = batch.clamp(1, UBATCH) as u64;
        let (d, q, kv, ff) = (
            self.hidden_size as u64,
            self.q_dim() as u64,
            self.kv_dim() as u64,
            self.intermediate_size as u64,
        );
        let mut ropes: Vec<(u32, u32)> = self
            .layers
            .iter()
            .map(|l| (l.rope_theta.to_bits(), l.rope_scaling_factor.to_bits()))
            .collect();
        ropes.sort_unstable();
        ropes.dedup();
        // (cos, sin) pairs of f32 for half a head, per token and table.
        let rope = ropes.len() as u64 * n * self.head_dim as u64 / 2 * 8;
        // x, h, o (d each), q and attn (q_dim each), k and v, gate and up; then the logits.
        4 * (n * (3 * d + 2 * q + 2 * kv + 2 * ff) + logit_rows as u64 * self.vocab_size as u64)
            + rope
    }
}

/// Which of `n` layers slide under a period `pattern`: layer `i` is global when
/// `(i + 1) % pattern == 0` (Gemma 2: 2, Gemma 3: 6).
pub fn pattern_locals(n: usize, pattern: usize) -> Vec<bool> {
    (0..n).map(|i| (i + 1) % pattern != 0).collect()
}

/// A released Gemma shape whose `query_pre_attn_scalar` is not its `head_dim`. GGUF files have
/// no key for the value, so it is recognised by shape.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnownShape {
    /// The model, in words.
    pub model: &'static str,
    /// GGUF architecture.
    pub architecture: &'static str,
    /// Layers.
    pub num_hidden_layers: usize,
    /// Width.
    pub hidden_size: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Head width.
    pub head_dim: usize,
    /// The value the model was trained with.
    pub query_pre_attn_scalar: f32,
    /// Where the value comes from.
    pub source: &'static str,
}

/// Every released Gemma model whose `query_pre_attn_scalar` differs from its `head_dim` (all
/// others, Gemma 1 included, scale queries by `head_dim^-0.5`).
pub const KNOWN_SHAPES: [KnownShape; 2] = [
    KnownShape {
        model: "Gemma 2 27B",
        architecture: "gemma2",
        num_hidden_layers: 46,
        hidden_size: 4608,
        num_attention_heads: 32,
        head_dim: 128,
        query_pre_attn_scalar: 144.0,
        source: "google/gemma-2-27b config.json (query_pre_attn_scalar: 144 = 4608/32); \
                 gemma_pytorch gemma/config.py get_config_for_27b; llama.cpp \
                 src/models/gemma2.cpp (n_embd / n_head for the 46-layer model)",
    },
    KnownShape {
        model: "Gemma 3 27B",
        architecture: "gemma3",
        num_hidden_layers: 62,
        hidden_size: 5376,
        num_attention_heads: 32,
        head_dim: 128,
        query_pre_attn_scalar: 168.0,
        source: "google/gemma-3-27b-pt config.json (query_pre_attn_scalar: 168 = 5376/32); \
                 gemma_pytorch gemma/config.py get_config_for_27b_v3; llama.cpp \
                 src/models/gemma3.cpp (n_embd / n_head for the 62-layer model)",
    },
];

/// `query_pre_attn_scalar` for a GGUF model of this shape, and where the value comes from.
pub fn gguf_query_pre_attn_scalar(
    architecture: &str,
    num_hidden_layers: usize,
    hidden_size: usize,
    num_attention_heads: usize,
    head_dim: usize,
) -> (f32, String) {
    KNOWN_SHAPES
        .iter()
        .find(|k| {
            k.architecture == architecture
                && k.num_hidden_layers == num_hidden_layers
                && k.hidden_size == hidden_size
                && k.num_attention_heads == num_attention_heads
                && k.head_dim == head_dim
        })
        .map_or_else(
            || {
                (
                    head_dim as f32,
                    "head_dim (GGUF has no key for it; every Gemma but the 27B models)".into(),
                )
            },
            |k| {
                (
                    k.query_pre_attn_scalar,
                    format!("known shape of {}: {}", k.model, k.source),
                )
            },
        )
}
