//! A Hugging Face Gemma folder as GGUF: the metadata llama.cpp's `convert_hf_to_gguf.py`
//! writes for `gemma`, `gemma2` and `gemma3`, and the tensor list renamed with
//! [`gemma_formats::names::hf`], shapes checked against config.json.
//!
//! Metadata differences from convert_hf_to_gguf.py, on purpose: `rope.freq_base` is written
//! for every generation (convert omits it for Gemma 1 and 2, whose value is llama.cpp's
//! default anyway), `rope.freq_base_swa` is always written for Gemma 3, and the tokenizer is
//! llama.cpp's SentencePiece (`llama`) vocabulary built from tokenizer.json (convert uses
//! tokenizer.model, or a `gpt2` BPE vocabulary for Gemma 3 folders without it).
//! Gemma's query scale (`query_pre_attn_scalar`) has no GGUF key: llama.cpp derives it.

use std::path::Path;

use gemma_formats::names::{arch, arch_key, general, hf, tensor, tokenizer};
use gemma_formats::{DType, SafetensorsSet, Value};
use gemma_model::ModelConfig;

use crate::vocab::Vocab;
use crate::QuantizeError;

/// One GGUF tensor taken from the checkpoint.
#[derive(Clone, Debug)]
pub struct HfTensor {
    /// The GGUF name.
    pub gguf_name: String,
    /// The checkpoint name.
    pub hf_name: String,
    /// Dims in GGML order.
    pub dims: Vec<u64>,
    /// Whether it is an RMSNorm weight (written as `1 + w`, in F32).
    pub norm: bool,
}

/// Reads and resolves config.json.
pub fn read_config(dir: &Path) -> Result<ModelConfig, QuantizeError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| QuantizeError::io(&path, e))?;
    ModelConfig::from_hf_json(&text).map_err(|source| QuantizeError::Config {
        path,
        source: Box::new(source),
    })
}

/// The metadata convert_hf_to_gguf.py writes for this configuration (before the tokenizer),
/// without `general.file_type` / `general.quantization_version`.
pub fn model_metadata(cfg: &ModelConfig, name: &str) -> Vec<(String, Value)> {
    let a = cfg.architecture.as_str();
    let k = |s: &str| arch_key(a, s);
    let mut m: Vec<(String, Value)> = vec![
        (general::ARCHITECTURE.into(), a.into()),
        (general::TYPE.into(), "model".into()),
        (general::NAME.into(), name.into()),
        (
            k(arch::CONTEXT_LENGTH),
            (cfg.max_position_embeddings as u32).into(),
        ),
        (k(arch::EMBEDDING_LENGTH), (cfg.hidden_size as u32).into()),
        (k(arch::BLOCK_COUNT), (cfg.num_hidden_layers as u32).into()),
        (
            k(arch::FEED_FORWARD_LENGTH),
            (cfg.intermediate_size as u32).into(),
        ),
        (k(arch::HEAD_COUNT), (cfg.num_attention_heads as u32).into()),
        (
            k(arch::HEAD_COUNT_KV),
            (cfg.num_key_value_heads as u32).into(),
        ),
        (k(arch::LAYER_NORM_RMS_EPSILON), cfg.rms_norm_eps.into()),
        (k(arch::KEY_LENGTH), (cfg.head_dim as u32).into()),
        (k(arch::VALUE_LENGTH), (cfg.head_dim as u32).into()),
        (k(arch::ROPE_FREQ_BASE), cfg.rope_theta.into()),
        // Ours (llama.cpp ignores it): keeps config.json's value through GGUF.
        (
            k(arch::QUERY_PRE_ATTN_SCALAR),
            cfg.query_pre_attn_scalar.into(),
        ),
    ];
    if a == "gemma3" {
        m.push((k(arch::ROPE_FREQ_BASE_SWA), cfg.rope_local_base_freq.into()));
    }
    if cfg.rope_scaling_factor != 1.0 {
        m.push((k(arch::ROPE_SCALING_TYPE), "linear".into()));
        m.push((k(arch::ROPE_SCALING_FACTOR), cfg.rope_scaling_factor.into()));
    }
    if let Some(c) = cfg.attn_logit_softcapping {
        m.push((k(arch::ATTN_LOGIT_SOFTCAPPING), c.into()));
    }
    if let Some(c) = cfg.final_logit_softcapping {
        m.push((k(arch::FINAL_LOGIT_SOFTCAPPING), c.into()));
    }
    if let Some(w) = cfg.sliding_window {
        m.push((k(arch::SLIDING_WINDOW), (w as u32).into()));
        // llama.cpp assumes every 6th layer global for gemma3 (every 2nd for gemma2); say
        // which layers slide when the configuration differs.
        let period = if a == "gemma2" { 2 } else { 6 };
        let default_local = |i: usize| !(i + 1).is_multiple_of(period);
        let differs = cfg
            .layers
            .iter()
            .enumerate()
            .any(|(i, l)| l.sliding_window.is_some() != default_local(i));
        if differs && a == "gemma3" {
            let flags: Vec<bool> = cfg
                .layers
                .iter()
                .map(|l| l.sliding_window.is_some())
                .collect();
            m.push((k(arch::SLIDING_WINDOW_PATTERN), flags.into()));
        }
    }
    m
}

/// The tokenizer metadata for `vocab`.
pub fn tokenizer_metadata(v: &Vocab) -> Vec<(String, Value)> {
    let mut m: Vec<(String, Value)> = vec![
        (tokenizer::MODEL.into(), "llama".into()),
        (tokenizer::PRE.into(), "default".into()),
        (tokenizer::TOKENS.into(), v.tokens.clone().into()),
        (tokenizer::SCORES.into(), v.scores.clone().into()),
        (tokenizer::TOKEN_TYPE.into(), v.types.clone().into()),
    ];
    let ids = [
        (tokenizer::BOS_ID, v.bos),
        (tokenizer::EOS_ID, v.eos),
        (tokenizer::UNKNOWN_ID, v.unk),
        (tokenizer::PADDING_ID, v.pad),
    ];
    for (key, id) in ids {
        if let Some(id) = id {
            m.push((key.into(), id.into()));
        }
    }
    if let Some(b) = v.add_bos {
        m.push((tokenizer::ADD_BOS.into(), b.into()));
    }
    if let Some(b) = v.add_eos {
        m.push((tokenizer::ADD_EOS.into(), b.into()));
    }
    m.push((tokenizer::ADD_SPACE_PREFIX.into(), false.into()));
    if let Some(t) = &v.chat_template {
        m.push((tokenizer::CHAT_TEMPLATE.into(), t.as_str().into()));
    }
    m
}

/// Tensors of checkpoints that are not the text model (Gemma 3 multimodal folders).
const NON_TEXT_PREFIXES: [&str; 4] = [
    "vision_tower.",
    "multi_modal_projector.",
    "model.vision_tower.",
    "model.multi_modal_projector.",
];

/// The GGUF tensors of the checkpoint, checked against `cfg`, in GGUF order (embedding,
/// blocks, final norm). The untied output projection (`lm_head`) is skipped as llama.cpp's
/// convert skips it: Gemma ties it to the embedding.
pub fn plan_tensors(
    set: &SafetensorsSet,
    cfg: &ModelConfig,
) -> Result<Vec<HfTensor>, QuantizeError> {
    let prefix = hf::MODEL_PREFIXES
        .iter()
        .find(|p| set.tensor(&format!("{p}{}", hf::EMBED_TOKENS)).is_some())
        .ok_or_else(|| QuantizeError::MissingTensor {
            hf_name: format!("model.{}", hf::EMBED_TOKENS),
            gguf_name: tensor::TOKEN_EMBD.into(),
        })?;
    let norms = if cfg.architecture == "gemma" {
        hf::LayerNorms::PreOnly
    } else {
        hf::LayerNorms::PrePost
    };
    let (h, ff, hd) = (
        cfg.hidden_size as u64,
        cfg.intermediate_size as u64,
        cfg.head_dim as u64,
    );
    let (q, kv) = (
        cfg.num_attention_heads as u64 * hd,
        cfg.num_key_value_heads as u64 * hd,
    );
    // (GGUF suffix, safetensors shape); norms listed by whether this generation has them.
    let mut block: Vec<(&str, Vec<u64>)> = vec![
        (tensor::ATTN_NORM, vec![h]),
        (tensor::ATTN_Q, vec![q, h]),
        (tensor::ATTN_K, vec![kv, h]),
        (tensor::ATTN_V, vec![kv, h]),
        (tensor::ATTN_OUTPUT, vec![h, q]),
        (tensor::FFN_NORM, vec![h]),
        (tensor::FFN_GATE, vec![ff, h]),
        (tensor::FFN_UP, vec![ff, h]),
        (tensor::FFN_DOWN, vec![h, ff]),
    ];
    if norms == hf::LayerNorms::PrePost {
        block.push((tensor::POST_ATTENTION_NORM, vec![h]));
        block.push((tensor::POST_FFW_NORM, vec![h]));
    }
    if cfg.architecture == "gemma3" {
        block.push((tensor::ATTN_Q_NORM, vec![hd]));
        block.push((tensor::ATTN_K_NORM, vec![hd]));
    }
    let mut wanted: Vec<(String, String, Vec<u64>)> = vec![(
        format!("{prefix}{}", hf::EMBED_TOKENS),
        tensor::TOKEN_EMBD.to_string(),
        vec![cfg.vocab_size as u64, h],
    )];
    for i in 0..cfg.num_hidden_layers {
        for (suffix, shape) in &block {
            let hf_suffix = hf::block_suffix(suffix, norms).ok_or_else(|| {
                QuantizeError::UnexpectedTensor(format!("(no checkpoint name for {suffix})"))
            })?;
            wanted.push((
                format!("{prefix}{}", hf::layer(i, hf_suffix)),
                gemma_formats::names::blk(i, suffix),
                shape.clone(),
            ));
        }
    }
    wanted.push((
        format!("{prefix}{}", hf::NORM),
        tensor::OUTPUT_NORM.to_string(),
        vec![h],
    ));

    let mut out = Vec::with_capacity(wanted.len());
    for (hf_name, gguf_name, shape) in &wanted {
        let t = set
            .tensor(hf_name)
            .ok_or_else(|| QuantizeError::MissingTensor {
                hf_name: hf_name.clone(),
                gguf_name: gguf_name.clone(),
            })?;
        if &t.shape != shape {
            return Err(QuantizeError::Shape {
                tensor: hf_name.clone(),
                expected: shape.clone(),
                got: t.shape.clone(),
            });
        }
        if !matches!(t.dtype, DType::F32 | DType::F16 | DType::BF16) {
            return Err(QuantizeError::UnsupportedDtype {
                tensor: hf_name.clone(),
                dtype: t.dtype,
            });
        }
        out.push(HfTensor {
            gguf_name: gguf_name.clone(),
            hf_name: hf_name.clone(),
            dims: t.ggml_dims(),
            norm: hf::is_norm(gguf_name),
        });
    }
    let known: std::collections::HashSet<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
    for t in set.tensors() {
        let skip = known.contains(t.name.as_str())
            || hf::LM_HEAD_NAMES.contains(&t.name.as_str())
            || NON_TEXT_PREFIXES.iter().any(|p| t.name.starts_with(p));
        if !skip {
            return Err(QuantizeError::UnexpectedTensor(t.name.clone()));
        }
    }
    Ok(out)
}
