//! The one table of GGUF metadata keys and tensor names this project uses.
//!
//! Names were checked against the real Gemma 3 270M file (as listed by the `gguf`
//! Python package) and against llama.cpp's `llama-arch.cpp` tables and its gemma3
//! loader (`src/models/gemma3.cpp`); the test `names_match_gguf_py` compares them with
//! the `gguf` package's constants.
//!
//! Per-architecture keys are suffixes: build the key with [`arch_key`], e.g.
//! `arch_key("gemma3", arch::CONTEXT_LENGTH)` is `gemma3.context_length`. Per-block
//! tensor names are suffixes too: [`blk`]`(3, tensor::ATTN_Q)` is `blk.3.attn_q.weight`.
//!
//! One key is ours: [`arch::QUERY_PRE_ATTN_SCALAR`]. llama.cpp has no such key (it derives
//! Gemma's attention scale as `1/sqrt(key_length)`, except for the 27B models, which use
//! `1/sqrt(embedding_length / head_count)`), so `gemma quantize` writes it to keep a
//! `config.json` value that neither rule gives; llama.cpp ignores it. Not in the table because
//! llama.cpp has no such key: `tokenizer.ggml.eog_token_ids` (llama.cpp derives
//! end-of-generation tokens from the eos/eot/eom ids and the vocabulary).

/// The `gemma3` architecture name (value of `general.architecture`).
pub const ARCH_GEMMA3: &str = "gemma3";

/// `{arch}.{suffix}`: a per-architecture metadata key.
pub fn arch_key(arch: &str, suffix: &str) -> String {
    format!("{arch}.{suffix}")
}

/// `blk.{i}.{suffix}`: the name of a per-block tensor.
pub fn blk(i: usize, suffix: &str) -> String {
    format!("blk.{i}.{suffix}")
}

/// Keys under `general.`.
pub mod general {
    /// The architecture name, e.g. `gemma3`; prefix of the per-architecture keys.
    pub const ARCHITECTURE: &str = "general.architecture";
    /// The model type (`model`, `adapter`, ...).
    pub const TYPE: &str = "general.type";
    /// Human-readable model name.
    pub const NAME: &str = "general.name";
    /// Model base name, e.g. `gemma-3`.
    pub const BASENAME: &str = "general.basename";
    /// Size label, e.g. `270M`.
    pub const SIZE_LABEL: &str = "general.size_label";
    /// License identifier.
    pub const LICENSE: &str = "general.license";
    /// Data alignment in bytes (default 32).
    pub const ALIGNMENT: &str = "general.alignment";
    /// llama.cpp's file type enum (15 = `MOSTLY_Q4_K_M`).
    pub const FILE_TYPE: &str = "general.file_type";
    /// Version of the quantization formats.
    pub const QUANTIZATION_VERSION: &str = "general.quantization_version";
}

/// Per-architecture key suffixes, used with [`arch_key`].
pub mod arch {
    /// Training context length.
    pub const CONTEXT_LENGTH: &str = "context_length";
    /// Model (embedding) width.
    pub const EMBEDDING_LENGTH: &str = "embedding_length";
    /// Number of transformer blocks.
    pub const BLOCK_COUNT: &str = "block_count";
    /// Hidden width of the feed-forward network.
    pub const FEED_FORWARD_LENGTH: &str = "feed_forward_length";
    /// Number of query heads.
    pub const HEAD_COUNT: &str = "attention.head_count";
    /// Number of key/value heads.
    pub const HEAD_COUNT_KV: &str = "attention.head_count_kv";
    /// Per-head key width.
    pub const KEY_LENGTH: &str = "attention.key_length";
    /// Per-head value width.
    pub const VALUE_LENGTH: &str = "attention.value_length";
    /// RMSNorm epsilon.
    pub const LAYER_NORM_RMS_EPSILON: &str = "attention.layer_norm_rms_epsilon";
    /// Sliding-window size of the local attention layers.
    pub const SLIDING_WINDOW: &str = "attention.sliding_window";
    /// Which layers use the sliding window: a period (llama.cpp default 6 for gemma3,
    /// every 6th layer global) or a per-layer bool array.
    pub const SLIDING_WINDOW_PATTERN: &str = "attention.sliding_window_pattern";
    /// RoPE base frequency of the global layers.
    pub const ROPE_FREQ_BASE: &str = "rope.freq_base";
    /// RoPE base frequency of the local (sliding-window) layers. This is the key
    /// llama.cpp's gemma3 loader reads; when absent it uses
    /// [`LLAMA_CPP_DEFAULT_ROPE_FREQ_BASE_SWA`] (the 270M file has no such key).
    pub const ROPE_FREQ_BASE_SWA: &str = "rope.freq_base_swa";
    /// RoPE scaling kind (`none`, `linear`, `yarn`, ...).
    pub const ROPE_SCALING_TYPE: &str = "rope.scaling.type";
    /// RoPE scaling factor.
    pub const ROPE_SCALING_FACTOR: &str = "rope.scaling.factor";
    /// Attention logit soft-capping (Gemma 2).
    pub const ATTN_LOGIT_SOFTCAPPING: &str = "attn_logit_softcapping";
    /// Final logit soft-capping (Gemma 2; llama.cpp reads it for gemma3 too, default 0 = off).
    pub const FINAL_LOGIT_SOFTCAPPING: &str = "final_logit_softcapping";
    /// gemma-rs's own key (llama.cpp ignores it): `config.json`'s `query_pre_attn_scalar`.
    pub const QUERY_PRE_ATTN_SCALAR: &str = "attention.query_pre_attn_scalar";

    /// llama.cpp's value for the local-layer RoPE base when
    /// [`ROPE_FREQ_BASE_SWA`] is absent (`rope_freq_base_train_swa` in `llama-hparams.h`).
    pub const LLAMA_CPP_DEFAULT_ROPE_FREQ_BASE_SWA: f32 = 10_000.0;
}

/// Tokenizer keys.
pub mod tokenizer {
    /// Tokenizer kind (`llama` = SentencePiece-style for Gemma).
    pub const MODEL: &str = "tokenizer.ggml.model";
    /// Pre-tokenizer kind.
    pub const PRE: &str = "tokenizer.ggml.pre";
    /// Token strings, indexed by id.
    pub const TOKENS: &str = "tokenizer.ggml.tokens";
    /// Token scores, indexed by id.
    pub const SCORES: &str = "tokenizer.ggml.scores";
    /// Token types (normal, control, byte, ...), indexed by id.
    pub const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
    /// BPE merges.
    pub const MERGES: &str = "tokenizer.ggml.merges";
    /// Beginning-of-sequence token id.
    pub const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
    /// End-of-sequence token id.
    pub const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
    /// End-of-turn token id.
    pub const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
    /// End-of-message token id.
    pub const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
    /// Unknown token id.
    pub const UNKNOWN_ID: &str = "tokenizer.ggml.unknown_token_id";
    /// Padding token id.
    pub const PADDING_ID: &str = "tokenizer.ggml.padding_token_id";
    /// Whether to prepend BOS.
    pub const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
    /// Whether to append EOS.
    pub const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
    /// Whether to append a separator token.
    pub const ADD_SEP: &str = "tokenizer.ggml.add_sep_token";
    /// Whether to prepend a space before the first word.
    pub const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
    /// The Jinja chat template.
    pub const CHAT_TEMPLATE: &str = "tokenizer.chat_template";
}

/// Tensor names: whole names for the global tensors, suffixes for [`blk`].
pub mod tensor {
    /// Token embedding table, dims `[embedding_length, vocab]`.
    pub const TOKEN_EMBD: &str = "token_embd.weight";
    /// Final RMSNorm weight.
    pub const OUTPUT_NORM: &str = "output_norm.weight";
    /// Output projection; absent when tied to [`TOKEN_EMBD`] (as in Gemma 3).
    pub const OUTPUT: &str = "output.weight";

    /// Block suffix: RMSNorm before attention.
    pub const ATTN_NORM: &str = "attn_norm.weight";
    /// Block suffix: query projection.
    pub const ATTN_Q: &str = "attn_q.weight";
    /// Block suffix: key projection.
    pub const ATTN_K: &str = "attn_k.weight";
    /// Block suffix: value projection.
    pub const ATTN_V: &str = "attn_v.weight";
    /// Block suffix: attention output projection.
    pub const ATTN_OUTPUT: &str = "attn_output.weight";
    /// Block suffix: per-head query RMSNorm.
    pub const ATTN_Q_NORM: &str = "attn_q_norm.weight";
    /// Block suffix: per-head key RMSNorm.
    pub const ATTN_K_NORM: &str = "attn_k_norm.weight";
    /// Block suffix: RMSNorm after attention.
    pub const POST_ATTENTION_NORM: &str = "post_attention_norm.weight";
    /// Block suffix: RMSNorm before the feed-forward network.
    pub const FFN_NORM: &str = "ffn_norm.weight";
    /// Block suffix: feed-forward gate projection.
    pub const FFN_GATE: &str = "ffn_gate.weight";
    /// Block suffix: feed-forward up projection.
    pub const FFN_UP: &str = "ffn_up.weight";
    /// Block suffix: feed-forward down projection.
    pub const FFN_DOWN: &str = "ffn_down.weight";
    /// Block suffix: RMSNorm after the feed-forward network.
    pub const POST_FFW_NORM: &str = "post_ffw_norm.weight";

    /// Every per-block suffix of a Gemma 3 block.
    pub const GEMMA3_BLOCK: [&str; 13] = [
        ATTN_NORM,
        ATTN_Q,
        ATTN_K,
        ATTN_V,
        ATTN_OUTPUT,
        ATTN_Q_NORM,
        ATTN_K_NORM,
        POST_ATTENTION_NORM,
        FFN_NORM,
        FFN_GATE,
        FFN_UP,
        FFN_DOWN,
        POST_FFW_NORM,
    ];
}

/// Hugging Face (transformers) tensor names and their GGUF equivalents.
///
/// Sources: transformers' `modeling_gemma.py`, `modeling_gemma2.py` and `modeling_gemma3.py`
/// (module names), and llama.cpp's `gguf-py/gguf/tensor_mapping.py` (the GGUF side). One
/// name is ambiguous: Gemma 1's `post_attention_layernorm` is the norm *before* the
/// feed-forward network (GGUF `ffn_norm`), while in Gemma 2 and 3, which also have
/// `pre_feedforward_layernorm`, it is the norm after attention. [`hf::LayerNorms`] says which.
pub mod hf {
    use super::tensor;

    /// Prefixes under which a checkpoint may keep the text model, tried in order: causal-LM
    /// checkpoints (`model.`), and Gemma 3 multimodal ones (`language_model.model.` written by
    /// transformers before 4.52, `model.language_model.` after).
    pub const MODEL_PREFIXES: [&str; 3] =
        ["model.", "language_model.model.", "model.language_model."];
    /// Prefixes of the untied output projection, tried in order.
    pub const LM_HEAD_NAMES: [&str; 2] = ["lm_head.weight", "language_model.lm_head.weight"];

    /// Token embedding (after the model prefix).
    pub const EMBED_TOKENS: &str = "embed_tokens.weight";
    /// Final norm (after the model prefix).
    pub const NORM: &str = "norm.weight";

    /// Which norms a block's checkpoint has, deciding what `post_attention_layernorm` means.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum LayerNorms {
        /// Gemma 1: `input_layernorm` and `post_attention_layernorm` (= pre-FFN) only.
        PreOnly,
        /// Gemma 2 and 3: pre and post norms around both attention and the FFN.
        PrePost,
    }

    /// Per-block suffix `(transformers, GGUF)` pairs common to every generation.
    pub const BLOCK_COMMON: [(&str, &str); 10] = [
        ("input_layernorm.weight", tensor::ATTN_NORM),
        ("self_attn.q_proj.weight", tensor::ATTN_Q),
        ("self_attn.k_proj.weight", tensor::ATTN_K),
        ("self_attn.v_proj.weight", tensor::ATTN_V),
        ("self_attn.o_proj.weight", tensor::ATTN_OUTPUT),
        ("self_attn.q_norm.weight", tensor::ATTN_Q_NORM),
        ("self_attn.k_norm.weight", tensor::ATTN_K_NORM),
        ("mlp.gate_proj.weight", tensor::FFN_GATE),
        ("mlp.up_proj.weight", tensor::FFN_UP),
        ("mlp.down_proj.weight", tensor::FFN_DOWN),
    ];
    /// Gemma 1's norm names.
    pub const BLOCK_PRE_ONLY: [(&str, &str); 1] =
        [("post_attention_layernorm.weight", tensor::FFN_NORM)];
    /// Gemma 2 and 3's norm names.
    pub const BLOCK_PRE_POST: [(&str, &str); 3] = [
        (
            "post_attention_layernorm.weight",
            tensor::POST_ATTENTION_NORM,
        ),
        ("pre_feedforward_layernorm.weight", tensor::FFN_NORM),
        ("post_feedforward_layernorm.weight", tensor::POST_FFW_NORM),
    ];
    /// The marker of [`LayerNorms::PrePost`] checkpoints (after `layers.{i}.`).
    pub const PRE_FEEDFORWARD: &str = "pre_feedforward_layernorm.weight";

    /// `layers.{i}.{suffix}` (to be put after a model prefix).
    pub fn layer(i: usize, suffix: &str) -> String {
        format!("layers.{i}.{suffix}")
    }

    /// The transformers suffix (after `layers.{i}.`) of a GGUF per-block suffix, or `None`
    /// when this kind of checkpoint has no such tensor.
    pub fn block_suffix(gguf_suffix: &str, norms: LayerNorms) -> Option<&'static str> {
        let extra: &[(&str, &str)] = match norms {
            LayerNorms::PreOnly => &BLOCK_PRE_ONLY,
            LayerNorms::PrePost => &BLOCK_PRE_POST,
        };
        BLOCK_COMMON
            .iter()
            .chain(extra)
            .find(|(_, g)| *g == gguf_suffix)
            .map(|(h, _)| *h)
    }

    /// Whether a GGUF tensor (full name) is an RMSNorm weight: transformers stores `w` where
    /// GGUF stores `1 + w`.
    pub fn is_norm(gguf_name: &str) -> bool {
        gguf_name.ends_with("norm.weight")
    }
}
