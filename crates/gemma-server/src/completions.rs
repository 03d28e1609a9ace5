//! `POST /v1/completions`: OpenAI's text completions over one or several prompts (text or
//! token ids), with `echo`, `logprobs`, streaming and `usage`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gemma_engine::{LoadedModel, TokenLogprob};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::ApiJson;
use crate::error::ApiError;
use crate::gen::{Event, Generation};
use crate::params::{check_length, SamplingFields};
use crate::pieces::CompletionLogprobs;
use crate::respond::{collect, stream, Chunks, Usage};
use crate::state::AppState;
use crate::{new_id, now, StreamOptions};

/// `prompt`: a text, several texts, token ids, or several lists of token ids.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    /// One text.
    Text(String),
    /// One prompt as token ids.
    Ids(Vec<u32>),
    /// Several texts.
    Texts(Vec<String>),
    /// Several prompts as token ids.
    IdLists(Vec<Vec<u32>>),
}

/// The request body.
#[derive(Debug, Clone, Deserialize)]
pub struct CompletionRequest {
    /// Any name: the loaded model answers.
    pub model: Option<String>,
    /// The prompt(s).
    pub prompt: Option<PromptField>,
    /// Tokens to generate per prompt (default 16).
    pub max_tokens: Option<i64>,
    /// Put the prompt in front of the text.
    pub echo: Option<bool>,
    /// Log-probabilities with this many alternatives.
    pub logprobs: Option<i64>,
    /// Stream server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Text after the completion (not supported).
    pub suffix: Option<String>,
    /// Candidates to pick from (only 1).
    pub best_of: Option<i64>,
    /// Sampling and stopping.
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

/// The default `max_tokens` of a text completion (OpenAI's).
const DEFAULT_MAX_TOKENS: usize = 16;

/// The route.
pub async fn completions(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let model = &state.model;
    if req.suffix.as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(ApiError::bad_field("suffix", "suffix is not supported"));
    }
    if req.best_of.is_some_and(|b| b != 1) {
        return Err(ApiError::bad_field("best_of", "best_of must be 1"));
    }
    let prompts: Vec<Vec<u32>> = match req.prompt.clone() {
        None => return Err(ApiError::bad_field("prompt", "prompt is required")),
        Some(PromptField::Text(t)) => vec![model.tokenize(&t, true)?],
        Some(PromptField::Texts(ts)) => ts
            .iter()
            .map(|t| model.tokenize(t, true))
            .collect::<Result<_, _>>()?,
        Some(PromptField::Ids(ids)) => vec![ids],
        Some(PromptField::IdLists(l)) => l,
    };
    if prompts.is_empty() || prompts.iter().any(Vec::is_empty) {
        return Err(ApiError::bad_field("prompt", "a prompt is empty"));
    }
    let vocab = model.config().vocab_size;
    if let Some(&bad) = prompts.iter().flatten().find(|&&t| t as usize >= vocab) {
        return Err(ApiError::bad_field(
            "prompt",
            format!("token {bad} is outside the {vocab}-token vocabulary"),
        ));
    }
    let top = match req.logprobs {
        None => None,
        Some(n) if n < 0 => {
            return Err(ApiError::bad_field(
                "logprobs",
                format!("logprobs = {n}: expected >= 0"),
            ))
        }
        Some(n) => Some(n as usize),
    };
    let echo = req.echo.unwrap_or(false);
    let ctx = state.batcher.ctx();
    let mut jobs = Vec::with_capacity(prompts.len());
    for p in &prompts {
        let max = match req.max_tokens {
            Some(n) => check_length(p.len(), "prompt", Some(n), "max_tokens", ctx)?,
            None => {
                check_length(p.len(), "prompt", None, "max_tokens", ctx)?.min(DEFAULT_MAX_TOKENS)
            }
        };
        let mut opts = req.sampling.options(max, top, ctx)?;
        crate::check_bias(&opts, vocab)?;
        opts.prompt_logprobs = echo && top.is_some();
        jobs.push((p.clone(), opts));
    }
    let name = req.model.clone().unwrap_or_else(|| state.model_id.clone());
    let gen = Generation::start(&state, jobs)?;
    let shape = Shape {
        id: new_id("cmpl"),
        created: now(),
        model: name,
        echo,
        logprobs: top.is_some(),
        include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
        prompts,
        lm: state.model.clone(),
    };
    if req.stream.unwrap_or(false) {
        let offsets = vec![0; shape.prompts.len()];
        let started = vec![false; shape.prompts.len()];
        return Ok(stream(
            gen,
            CompletionChunks {
                shape,
                offsets,
                started,
            },
        ));
    }
    let (choices, usage) = collect(gen, shape.prompts.len()).await?;
    let choices: Vec<Value> = choices
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut text = String::new();
            let mut lps = CompletionLogprobs::default();
            if shape.echo {
                text = shape.prompt_part(i, c.prompt_logprobs.as_deref(), &mut lps);
            }
            let base = text.chars().count();
            if shape.logprobs {
                let mut s = shape.lm.tokenizer.stream(false);
                let mut off = base;
                for lp in &c.logprobs {
                    lps.push(&shape.lm, lp.id, Some(lp), off);
                    off += s.push(&shape.lm.tokenizer, lp.id).chars().count();
                }
            }
            text.push_str(&c.text);
            json!({
                "index": i,
                "text": text,
                "logprobs": if shape.logprobs { lps.take() } else { Value::Null },
                "finish_reason": c.finish,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": shape.id,
        "object": "text_completion",
        "created": shape.created,
        "model": shape.model,
        "choices": choices,
        "usage": usage.json(),
    }))
    .into_response())
}

/// What every chunk or body of one request shares.
struct Shape {
    id: String,
    created: u64,
    model: String,
    echo: bool,
    logprobs: bool,
    include_usage: bool,
    prompts: Vec<Vec<u32>>,
    lm: Arc<LoadedModel>,
}

impl Shape {
    /// The echoed prompt's text, adding its tokens to `lps` when log-probabilities are asked
    /// for (the first token has none).
    fn prompt_part(
        &self,
        i: usize,
        prompt_lp: Option<&[TokenLogprob]>,
        lps: &mut CompletionLogprobs,
    ) -> String {
        let ids = &self.prompts[i];
        let tok = &self.lm.tokenizer;
        let mut text = String::new();
        let mut s = tok.stream(false);
        let mut chars = 0;
        for (k, &id) in ids.iter().enumerate() {
            if self.logprobs {
                let lp = k
                    .checked_sub(1)
                    .and_then(|j| prompt_lp.and_then(|p| p.get(j)));
                lps.push(&self.lm, id, lp, chars);
            }
            let t = s.push(tok, id);
            chars += t.chars().count();
            text.push_str(&t);
        }
        text.push_str(&s.flush(tok));
        text
    }

    fn chunk(&self, index: usize, text: String, logprobs: Value, finish: Option<&str>) -> Value {
        json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": index,
                "text": text,
                "logprobs": logprobs,
                "finish_reason": finish,
            }],
        })
    }
}

/// Streaming chunks of a completion.
struct CompletionChunks {
    shape: Shape,
    /// Characters sent so far, per choice.
    offsets: Vec<usize>,
    /// Whether a choice's first chunk (the echo) went out.
    started: Vec<bool>,
}

impl CompletionChunks {
    /// The echo chunk, before a choice's first other chunk.
    fn start(&mut self, index: usize, prompt_lp: Option<&[TokenLogprob]>, out: &mut Vec<Value>) {
        if std::mem::replace(&mut self.started[index], true) || !self.shape.echo {
            return;
        }
        let mut lps = CompletionLogprobs::default();
        let text = self.shape.prompt_part(index, prompt_lp, &mut lps);
        self.offsets[index] = text.chars().count();
        let lp = if self.shape.logprobs {
            lps.take()
        } else {
            Value::Null
        };
        out.push(self.shape.chunk(index, text, lp, None));
    }
}

impl Chunks for CompletionChunks {
    fn event(&mut self, ev: Event) -> Vec<Value> {
        let mut out = Vec::new();
        match ev {
            Event::Prompt { index, logprobs } => self.start(index, Some(&logprobs), &mut out),
            Event::Token {
                index,
                id,
                text,
                logprob,
            } => {
                self.start(index, None, &mut out);
                let lp = match (&logprob, self.shape.logprobs) {
                    (Some(lp), true) => {
                        let mut l = CompletionLogprobs::default();
                        l.push(&self.shape.lm, id, Some(lp), self.offsets[index]);
                        l.take()
                    }
                    _ => Value::Null,
                };
                if text.is_empty() && lp.is_null() {
                    return out;
                }
                self.offsets[index] += text.chars().count();
                out.push(self.shape.chunk(index, text, lp, None));
            }
            Event::Done { index, finish, .. } => {
                self.start(index, None, &mut out);
                out.push(
                    self.shape
                        .chunk(index, String::new(), Value::Null, Some(finish)),
                );
            }
        }
        out
    }

    fn end(&mut self, usage: Usage) -> Vec<Value> {
        if !self.shape.include_usage {
            return Vec::new();
        }
        vec![json!({
            "id": self.shape.id,
            "object": "text_completion",
            "created": self.shape.created,
            "model": self.shape.model,
            "choices": [],
            "usage": usage.json(),
        })]
    }
}
