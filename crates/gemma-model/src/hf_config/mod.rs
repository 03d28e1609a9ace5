//! `ModelConfig` from a Hugging Face `config.json`, old and new field names alike.
//!
//! Every field is either used, known to be irrelevant to inference, or rejected with its name:
//! nothing is silently ignored. Gemma 3 multimodal checkpoints
//! (`Gemma3ForConditionalGeneration`) are read through their `text_config`.

use serde_json::{Map, Value};

use crate::config::{
    pattern_locals, ModelConfig, DEFAULT_GEMMA2_PATTERN, DEFAULT_GEMMA3_PATTERN,
    DEFAULT_ROPE_LOCAL_BASE, MAX_LAYERS,
};
use crate::ModelError;

/// Fields that do not change inference (training, generation defaults, bookkeeping).
const INERT: &[&str] = &[
    "architectures",
    "model_type",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "attention_dropout",
    "initializer_range",
    "use_cache",
    "torch_dtype",
    "dtype",
    "tie_word_embeddings",
    "cache_implementation",
    "_name_or_path",
    "text_config",
    "vision_config",
    "mm_tokens_per_image",
    "boi_token_index",
    "eoi_token_index",
    "image_token_index",
    "final_w",
    "_sliding_window_pattern",
];

fn key(name: &str) -> String {
    format!("config.json: {name}")
}

fn bad(name: &str, v: &Value, expected: &str) -> ModelError {
    ModelError::BadValue {
        key: key(name),
        value: v.to_string(),
        expected: expected.into(),
    }
}

struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn count(&self, name: &str) -> Result<Option<usize>, ModelError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 && n <= u32::MAX as u64 => Ok(Some(n as usize)),
                _ => Err(bad(name, v, "a positive integer below 2^32")),
            },
        }
    }

    fn req_count(&self, name: &str, why: &'static str) -> Result<usize, ModelError> {
        self.count(name)?.ok_or_else(|| ModelError::MissingKey {
            key: key(name),
            why,
        })
    }

    /// A number finite as f32 and positive (`zero_ok`: or zero); negative values are refused.
    fn float(&self, name: &str, zero_ok: bool) -> Result<Option<f32>, ModelError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_f64().map(|f| f as f32) {
                Some(f) if f.is_finite() && (f > 0.0 || (zero_ok && f == 0.0)) => Ok(Some(f)),
                _ => Err(bad(
                    name,
                    v,
                    match zero_ok {
                        true => "a finite number >= 0",
                        false => "a finite positive number",
                    },
                )),
            },
        }
    }
}

/// `rope_parameters` (transformers 5) or `rope_scaling` (earlier): a flat entry, or one entry
/// per attention kind (`full_attention`, `sliding_attention`) as Gemma 3 writes it.
struct RopeParams<'a> {
    name: &'static str,
    global: Option<&'a Value>,
    local: Option<&'a Value>,
}

impl<'a> RopeParams<'a> {
    fn read(f: &'a Fields) -> RopeParams<'a> {
        let (name, v) = match (f.get("rope_scaling"), f.get("rope_parameters")) {
            (Some(v), _) => ("rope_scaling", Some(v)),
            (None, v) => ("rope_parameters", v),
        };
        let per_kind = v.is_some_and(|v| {
            v.get("full_attention").is_some() || v.get("sliding_attention").is_some()
        });
        if per_kind {
            let v = v.unwrap_or(&Value::Null);
            RopeParams {
                name,
                global: v.get("full_attention"),
                local: v.get("sliding_attention"),
            }
        } else {
            RopeParams {
                name,
                global: v,
                local: None,
            }
        }
    }

    /// The `rope_theta` of an entry, if it gives one.
    fn theta(&self, entry: Option<&Value>) -> Result<Option<f32>, ModelError> {
        match entry.and_then(|e| e.get("rope_theta")) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x as f32)),
                _ => Err(bad(self.name, v, "a positive rope_theta")),
            },
        }
    }

    /// The linear scaling factor of an entry (1.0 when it has none).
    fn linear_factor(&self, entry: Option<&Value>) -> Result<f32, ModelError> {
        let Some(v) = entry else { return Ok(1.0) };
        if !v.is_object() {
            return Err(bad(self.name, v, "an object with a `rope_type`"));
        }
        let kind = match v.get("rope_type").or_else(|| v.get("type")) {
            None | Some(Value::Null) => "default",
            Some(t) => t
                .as_str()
                .ok_or_else(|| bad(self.name, v, "a string `rope_type`"))?,
        };
        match kind {
            "default" => Ok(1.0),
            "linear" => match v.get("factor").and_then(Value::as_f64) {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                _ => Err(bad(self.name, v, "a positive linear `factor`")),
            },
            _ => Err(bad(
                self.name,
                v,
                "linear RoPE scaling (the only kind Gemma uses)",
            )),
        }
    }
}

impl ModelConfig {
    /// Resolve the configuration from the text of a Hugging Face `config.json`.
    ///
    /// `vocab_size` comes from the file. A field we cannot honour is an error naming it.
    pub fn from_hf_json(text: &str) -> Result<ModelConfig, ModelError> {
        let root: Value = serde_json::from_str(text).map_err(|e| ModelError::BadValue {
            key: "config.json".into(),
            value: e.to_string(),
            expected: "valid JSON".into(),
        })?;
        let top = root
            .as_object()
            .ok_or_else(|| bad("(root)", &root, "a JSON object"))?;
        let arch = match top.get("architectures") {
            None => {
                return Err(ModelError::MissingKey {
                    key: key("architectures"),
                    why: "know which model this is",
                })
            }
            Some(v) => v
                .get(0)
                .and_then(Value::as_str)
                .ok_or_else(|| bad("architectures", v, "a list naming the model class"))?,
        };
        let (generation, map) = match arch {
            "GemmaForCausalLM" => ("gemma", top),
            "Gemma2ForCausalLM" => ("gemma2", top),
            "Gemma3ForCausalLM" => ("gemma3", top),
            "Gemma3ForConditionalGeneration" => (
                "gemma3",
                match top.get("text_config") {
                    None => {
                        return Err(ModelError::MissingKey {
                            key: key("text_config"),
                            why: "read the text model",
                        })
                    }
                    Some(v) => v
                        .as_object()
                        .ok_or_else(|| bad("text_config", v, "a JSON object"))?,
                },
            ),
            _ => {
                return Err(bad(
                    "architectures",
                    top.get("architectures").unwrap_or(&Value::Null),
                    "GemmaForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM or \
                     Gemma3ForConditionalGeneration",
                ))
            }
        };
        let f = Fields { map };
        for (name, v) in map {
            let known = INERT.contains(&name.as_str()) || HONOURED.contains(&name.as_str());
            if !known {
                return Err(bad(
                    name,
                    v,
                    "a field gemma-rs knows (this one is not supported)",
                ));
            }
        }
        if let Some(v) = f.get("attention_bias") {
            if v.as_bool() != Some(false) {
                return Err(bad(
                    "attention_bias",
                    v,
                    "false (Gemma has no attention bias)",
                ));
            }
        }
        if let Some(v) = f.get("use_bidirectional_attention") {
            if v.as_bool() != Some(false) {
                return Err(bad(
                    "use_bidirectional_attention",
                    v,
                    "false (causal attention)",
                ));
            }
        }
        for name in ["hidden_activation", "hidden_act"] {
            if let Some(v) = f.get(name) {
                // transformers runs Gemma's MLP with tanh GELU whichever gelu variant is named.
                if !matches!(
                    v.as_str(),
                    Some("gelu" | "gelu_pytorch_tanh" | "gelu_new" | "gelu_fast")
                ) {
                    return Err(bad(name, v, "a GELU variant (Gemma uses tanh GELU)"));
                }
            }
        }

        let hidden_size = f.req_count("hidden_size", "size the hidden state")?;
        let num_hidden_layers = f.req_count("num_hidden_layers", "know the number of layers")?;
        if num_hidden_layers > MAX_LAYERS {
            return Err(bad(
                "num_hidden_layers",
                &Value::from(num_hidden_layers),
                &format!("at most {MAX_LAYERS} layers"),
            ));
        }
        let intermediate_size = f.req_count("intermediate_size", "size the feed-forward layer")?;
        let num_attention_heads = f.req_count("num_attention_heads", "split attention heads")?;
        let num_key_value_heads = f
            .count("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(bad(
                "num_key_value_heads",
                &Value::from(num_key_value_heads),
                &format!("a divisor of num_attention_heads = {num_attention_heads}"),
            ));
        }
        let head_dim = match f.count("head_dim")? {
            Some(d) => d,
            None => match hidden_size / num_attention_heads {
                0 => {
                    return Err(ModelError::MissingKey {
                        key: key("head_dim"),
                        why: "size attention heads (hidden_size / num_attention_heads is 0)",
                    })
                }
                d => d,
            },
        };
        let vocab_size = f.req_count("vocab_size", "size the embedding")?;
        let max_position_embeddings = f.count("max_position_embeddings")?.unwrap_or(8192);
        let rms_norm_eps = f.float("rms_norm_eps", true)?.unwrap_or(1e-6);
        let rope = RopeParams::read(&f);
        let rope_theta = match f.float("rope_theta", false)? {
            Some(t) => t,
            None => rope.theta(rope.global)?.unwrap_or(10_000.0),
        };
        let rope_local_base_freq = match f.float("rope_local_base_freq", false)? {
            Some(t) => t,
            None => rope.theta(rope.local)?.unwrap_or(match generation {
                "gemma3" => DEFAULT_ROPE_LOCAL_BASE,
                _ => rope_theta,
            }),
        };
        // Gemma scales positions on global layers only; a scaled local entry is not honoured.
        if rope.linear_factor(rope.local)? != 1.0 {
            return Err(bad(
                rope.name,
                rope.local.unwrap_or(&Value::Null),
                "no scaling on sliding_attention layers (Gemma scales global layers only)",
            ));
        }
        let rope_scaling_factor = rope.linear_factor(rope.global)?;
        let query_pre_attn_scalar = f
            .float("query_pre_attn_scalar", false)?
            .unwrap_or(head_dim as f32);
        let positive = |v: Option<f32>| v.filter(|c| *c > 0.0);
        let attn_logit_softcapping = positive(f.float("attn_logit_softcapping", true)?);
        let final_logit_softcapping = positive(f.float("final_logit_softcapping", true)?);
        let sliding_window = match generation {
            "gemma" => None,
            _ => f.count("sliding_window")?,
        };
        let sliding_window_pattern =
            f.count("sliding_window_pattern")?
                .unwrap_or(match generation {
                    "gemma2" => DEFAULT_GEMMA2_PATTERN,
                    _ => DEFAULT_GEMMA3_PATTERN,
                });
        // Newer configs list each layer's kind; older ones give the pattern.
        let sliding: Vec<bool> = match f.get("layer_types") {
            Some(v) => {
                let kinds = v
                    .as_array()
                    .filter(|a| a.len() == num_hidden_layers)
                    .ok_or_else(|| {
                        bad(
                            "layer_types",
                            v,
                            &format!(
                                "a list of {num_hidden_layers} layer kinds \
                                 (one per layer: num_hidden_layers = {num_hidden_layers})"
                            ),
                        )
                    })?;
                kinds
                    .iter()
                    .map(|k| match k.as_str() {
                        Some("sliding_attention") => Ok(true),
                        Some("full_attention") => Ok(false),
                        _ => Err(bad(
                            "layer_types",
                            k,
                            "\"sliding_attention\" or \"full_attention\"",
                        )),
                    })
                    .collect::<Result<_, _>>()?
            }
            None => pattern_locals(num_hidden_layers, sliding_window_pattern),
        };
        let cfg = ModelConfig {
            architecture: generation.to_string(),
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
        Ok(cfg.with_locals(&sliding))
    }
}

/// Fields read above.
const HONOURED: &[&str] = &[
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "rope_local_base_freq",
    "rope_scaling",
    "rope_parameters",
    "sliding_window",
    "sliding_window_pattern",
    "layer_types",
    "query_pre_attn_scalar",
    "attn_logit_softcapping",
    "final_logit_softcapping",
    "max_position_embeddings",
    "hidden_act",
    "hidden_activation",
    "attention_bias",
    "use_bidirectional_attention",
];

#[cfg(test)]
mod tests;
