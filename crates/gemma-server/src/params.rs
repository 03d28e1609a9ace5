//! Request fields shared by the chat and text completion routes, and their translation into
//! the engine's generation options (OpenAI's names, plus llama.cpp's `top_k`, `min_p`,
//! `repeat_penalty`, `repeat_last_n` and `ignore_eos`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use gemma_engine::{GenerateOptions, Penalties, SamplerConfig};
use serde::Deserialize;

use crate::error::ApiError;

/// `stop`: one string or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// The most stop strings a request may give.
pub const MAX_STOP_STRINGS: usize = 16;
/// The most alternatives `top_logprobs` / `logprobs` may ask for.
pub const MAX_TOP_LOGPROBS: usize = 20;

/// Sampling and stopping fields common to both completion routes. Absent fields take
/// llama.cpp's defaults (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05); an absent seed
/// is drawn at random.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SamplingFields {
    /// Softmax temperature; 0 is greedy.
    pub temperature: Option<f32>,
    /// Nucleus sampling mass.
    pub top_p: Option<f32>,
    /// Keep the k most likely tokens (llama.cpp); 0 or less keeps all.
    pub top_k: Option<i64>,
    /// Minimum probability relative to the most likely token (llama.cpp).
    pub min_p: Option<f32>,
    /// OpenAI's presence penalty.
    pub presence_penalty: Option<f32>,
    /// OpenAI's frequency penalty.
    pub frequency_penalty: Option<f32>,
    /// llama.cpp's repetition penalty.
    pub repeat_penalty: Option<f32>,
    /// How many recent tokens the penalties look at (llama.cpp; -1 means the whole context).
    pub repeat_last_n: Option<i64>,
    /// Seed of the random draw.
    pub seed: Option<i64>,
    /// Token id (as a string) to bias added to its logit.
    pub logit_bias: Option<HashMap<String, f32>>,
    /// Stop strings.
    pub stop: Option<StopField>,
    /// Number of choices; only 1 is supported.
    pub n: Option<i64>,
    /// Keep generating past end-of-generation tokens (llama.cpp).
    pub ignore_eos: Option<bool>,
}

/// A seed nobody asked for: different for every request.
fn random_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // splitmix64 of the two, so close requests get unrelated seeds.
    let mut z = nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl SamplingFields {
    /// The generation options these fields ask for, with `max_tokens` and the log-probability
    /// requests decided by the route; `ctx` bounds `repeat_last_n = -1`.
    pub fn options(
        &self,
        max_tokens: usize,
        logprobs: Option<usize>,
        ctx: usize,
    ) -> Result<GenerateOptions, ApiError> {
        if let Some(n) = self.n {
            if n != 1 {
                return Err(ApiError::bad_field(
                    "n",
                    format!("n = {n}: this server returns one choice per prompt (n must be 1)"),
                ));
            }
        }
        let d = SamplerConfig::default();
        let last_n = match self.repeat_last_n {
            None => Penalties::default().last_n,
            Some(-1) => ctx,
            Some(n) if n >= 0 => n as usize,
            Some(n) => {
                return Err(ApiError::bad_field(
                    "repeat_last_n",
                    format!("repeat_last_n = {n}: expected -1 (the whole context) or >= 0"),
                ))
            }
        };
        let mut logit_bias = Vec::new();
        for (k, &v) in self.logit_bias.iter().flatten() {
            let id: u32 = k.trim().parse().map_err(|_| {
                ApiError::bad_field(
                    "logit_bias",
                    format!("logit_bias key {k:?} is not a token id"),
                )
            })?;
            logit_bias.push((id, v));
        }
        logit_bias.sort_by_key(|p| p.0);
        let stop = match &self.stop {
            None => Vec::new(),
            Some(StopField::One(s)) => vec![s.clone()],
            Some(StopField::Many(v)) => v.clone(),
        };
        if stop.len() > MAX_STOP_STRINGS {
            return Err(ApiError::bad_field(
                "stop",
                format!(
                    "{} stop strings: at most {MAX_STOP_STRINGS} are allowed",
                    stop.len()
                ),
            ));
        }
        let stop: Vec<String> = stop.into_iter().filter(|s| !s.is_empty()).collect();
        if let Some(top) = logprobs.filter(|&t| t > MAX_TOP_LOGPROBS) {
            return Err(ApiError::bad_field(
                "top_logprobs",
                format!("{top} alternatives asked for: at most {MAX_TOP_LOGPROBS}"),
            ));
        }
        let sampler = SamplerConfig {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_k: self.top_k.map_or(d.top_k, |k| k.max(0) as usize),
            top_p: self.top_p.unwrap_or(d.top_p),
            min_p: self.min_p.unwrap_or(d.min_p),
            seed: self.seed.map_or_else(random_seed, |s| s as u64),
            penalties: Penalties {
                repeat: self.repeat_penalty.unwrap_or(1.0),
                frequency: self.frequency_penalty.unwrap_or(0.0),
                presence: self.presence_penalty.unwrap_or(0.0),
                last_n,
            },
            logit_bias,
        };
        sampler.validate().map_err(|e| {
            let msg = e.to_string();
            let field = [
                "temperature",
                "top_p",
                "min_p",
                "repeat_penalty",
                "frequency_penalty",
                "presence_penalty",
                "logit_bias",
            ]
            .into_iter()
            .find(|f| msg.contains(&format!(" {f} ")));
            match field {
                Some(f) => ApiError::bad_field(f, msg),
                None => ApiError::bad_request(msg),
            }
        })?;
        Ok(GenerateOptions {
            max_tokens,
            sampler,
            stop_at_eog: !self.ignore_eos.unwrap_or(false),
            stop,
            logprobs,
            prompt_logprobs: false,
        })
    }
}

/// `max_tokens` as asked (`None`: as much as the context holds), checked against the context:
/// the prompt and the tokens asked for must fit in `ctx`.
pub fn check_length(
    prompt_tokens: usize,
    prompt_field: &str,
    max_tokens: Option<i64>,
    field: &str,
    ctx: usize,
) -> Result<usize, ApiError> {
    if prompt_tokens >= ctx {
        return Err(ApiError::bad_field(
            prompt_field,
            format!("this model's context holds {ctx} tokens, but the prompt has {prompt_tokens}"),
        )
        .with_code("context_length_exceeded"));
    }
    let room = ctx - prompt_tokens;
    match max_tokens {
        None => Ok(room),
        Some(n) if n < 0 => Err(ApiError::bad_field(
            field,
            format!("{field} = {n}: expected a value >= 0"),
        )),
        Some(n) if n as u64 > room as u64 => Err(ApiError::bad_field(
            field,
            format!(
                "this model's context holds {ctx} tokens: {prompt_tokens} in the prompt and \
                 {n} asked for in {field} do not fit"
            ),
        )
        .with_code("context_length_exceeded")),
        Some(n) => Ok(n as usize),
    }
}
