//! `POST /v1/chat/completions`: OpenAI's chat completions, the messages rendered with the
//! model's chat template, with `logprobs`/`top_logprobs`, streaming and `usage`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use gemma_engine::{LoadedModel, Message};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::body::ApiJson;
use crate::error::ApiError;
use crate::gen::{Event, Generation};
use crate::params::{check_length, SamplingFields};
use crate::pieces::chat_entry;
use crate::respond::{collect, stream, Chunks, Usage};
use crate::state::AppState;
use crate::{new_id, now, StreamOptions};

/// A message's content: a text, or parts of which only text is supported.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Typed parts.
    Parts(Vec<Part>),
}

/// One part of a message's content.
#[derive(Debug, Clone, Deserialize)]
pub struct Part {
    /// The part's type (`text` is supported).
    #[serde(rename = "type")]
    pub kind: String,
    /// Its text.
    pub text: Option<String>,
}

/// One message of the conversation.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatMessage {
    /// `system`, `developer`, `user` or `assistant`.
    pub role: String,
    /// What it says.
    pub content: Option<Content>,
}

/// `response_format`.
#[derive(Debug, Clone, Deserialize)]
pub struct ResponseFormat {
    /// `text` is supported.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The request body.
#[derive(Debug, Clone, Deserialize)]
pub struct ChatRequest {
    /// Any name: the loaded model answers.
    pub model: Option<String>,
    /// The conversation.
    pub messages: Option<Vec<ChatMessage>>,
    /// Tokens to generate at most (default: as many as the context holds).
    pub max_tokens: Option<i64>,
    /// The newer name of `max_tokens`.
    pub max_completion_tokens: Option<i64>,
    /// Stream server-sent events.
    pub stream: Option<bool>,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Report each token's log-probability.
    pub logprobs: Option<bool>,
    /// With `logprobs`, this many alternatives per token (0 to 20).
    pub top_logprobs: Option<i64>,
    /// Tools (not supported).
    pub tools: Option<Vec<Value>>,
    /// The output format (`text` only).
    pub response_format: Option<ResponseFormat>,
    /// Sampling and stopping.
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

/// The conversation as the chat template takes it.
fn messages(req: &ChatRequest) -> Result<Vec<Message>, ApiError> {
    let list = req
        .messages
        .as_ref()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| {
            ApiError::bad_field("messages", "messages must hold at least one message")
        })?;
    list.iter()
        .enumerate()
        .map(|(i, m)| {
            let role = match m.role.as_str() {
                "system" | "developer" => "system",
                "user" => "user",
                "assistant" => "assistant",
                other => {
                    return Err(ApiError::bad_field(
                        "messages",
                        format!(
                            "messages[{i}].role is {other:?}: expected system, developer, user \
                             or assistant"
                        ),
                    ))
                }
            };
            let text = match &m.content {
                None => String::new(),
                Some(Content::Text(t)) => t.clone(),
                Some(Content::Parts(parts)) => {
                    let mut t = String::new();
                    for (k, p) in parts.iter().enumerate() {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(s)) => {
                                if !t.is_empty() {
                                    t.push('\n');
                                }
                                t.push_str(s);
                            }
                            (kind, _) => {
                                return Err(ApiError::bad_field(
                                    "messages",
                                    format!(
                                        "messages[{i}].content[{k}] has type {kind:?}: only \
                                         text parts are supported"
                                    ),
                                ))
                            }
                        }
                    }
                    t
                }
            };
            Ok(Message::new(role, text))
        })
        .collect()
}

/// The route.
pub async fn chat_completions(
    State(state): State<Arc<AppState>>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    if req.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(ApiError::bad_field("tools", "tools are not supported"));
    }
    if let Some(f) = req.response_format.as_ref().filter(|f| f.kind != "text") {
        return Err(ApiError::bad_field(
            "response_format",
            format!(
                "response_format {:?} is not supported (only \"text\")",
                f.kind
            ),
        ));
    }
    let msgs = messages(&req)?;
    let prompt = state.model.chat_tokens(&msgs, true).map_err(|e| {
        let mut err = ApiError::from(e);
        err.param = Some("messages".into());
        err
    })?;
    let top = match (req.logprobs.unwrap_or(false), req.top_logprobs) {
        (_, Some(n)) if n < 0 => {
            return Err(ApiError::bad_field(
                "top_logprobs",
                format!("top_logprobs = {n}: expected 0 to 20"),
            ))
        }
        (true, n) => Some(n.unwrap_or(0) as usize),
        (false, Some(n)) if n > 0 => {
            return Err(ApiError::bad_field(
                "top_logprobs",
                "top_logprobs needs logprobs to be true",
            ))
        }
        (false, _) => None,
    };
    let ctx = state.batcher.ctx();
    let (max, field) = match (req.max_completion_tokens, req.max_tokens) {
        (Some(n), _) => (Some(n), "max_completion_tokens"),
        (None, n) => (n, "max_tokens"),
    };
    let max = check_length(prompt.len(), "messages", max, field, ctx)?;
    let opts = req.sampling.options(max, top, ctx)?;
    crate::check_bias(&opts, state.model.config().vocab_size)?;
    let gen = Generation::start(&state, vec![(prompt, opts)])?;
    let shape = Shape {
        id: new_id("chatcmpl"),
        created: now(),
        model: req.model.clone().unwrap_or_else(|| state.model_id.clone()),
        logprobs: top.is_some(),
        include_usage: req.stream_options.as_ref().is_some_and(|o| o.include_usage),
        lm: state.model.clone(),
    };
    if req.stream.unwrap_or(false) {
        return Ok(stream(
            gen,
            ChatChunks {
                shape,
                started: false,
            },
        ));
    }
    let (mut choices, usage) = collect(gen, 1).await?;
    let c = choices.remove(0);
    let logprobs = if shape.logprobs {
        let content: Vec<Value> = c
            .logprobs
            .iter()
            .map(|lp| chat_entry(&shape.lm, lp))
            .collect();
        json!({ "content": content })
    } else {
        Value::Null
    };
    Ok(Json(json!({
        "id": shape.id,
        "object": "chat.completion",
        "created": shape.created,
        "model": shape.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": c.text },
            "logprobs": logprobs,
            "finish_reason": c.finish,
        }],
        "usage": usage.json(),
    }))
    .into_response())
}

/// What every chunk of one request shares.
struct Shape {
    id: String,
    created: u64,
    model: String,
    logprobs: bool,
    include_usage: bool,
    lm: Arc<LoadedModel>,
}

impl Shape {
    fn chunk(&self, choices: Value) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        })
    }
}

/// Streaming chunks of a chat completion.
struct ChatChunks {
    shape: Shape,
    started: bool,
}

impl Chunks for ChatChunks {
    fn event(&mut self, ev: Event) -> Vec<Value> {
        let mut out = Vec::new();
        if !std::mem::replace(&mut self.started, true) {
            out.push(self.shape.chunk(json!([{
                "index": 0,
                "delta": { "role": "assistant", "content": "" },
                "logprobs": null,
                "finish_reason": null,
            }])));
        }
        match ev {
            Event::Prompt { .. } => {}
            Event::Token { text, logprob, .. } => {
                let lp = match (&logprob, self.shape.logprobs) {
                    (Some(lp), true) => json!({ "content": [chat_entry(&self.shape.lm, lp)] }),
                    _ => Value::Null,
                };
                if !text.is_empty() || !lp.is_null() {
                    out.push(self.shape.chunk(json!([{
                        "index": 0,
                        "delta": { "content": text },
                        "logprobs": lp,
                        "finish_reason": null,
                    }])));
                }
            }
            Event::Done { finish, .. } => out.push(self.shape.chunk(json!([{
                "index": 0,
                "delta": {},
                "logprobs": null,
                "finish_reason": finish,
            }]))),
        }
        out
    }

    fn end(&mut self, usage: Usage) -> Vec<Value> {
        if !self.shape.include_usage {
            return Vec::new();
        }
        let mut c = self.shape.chunk(json!([]));
        c["usage"] = usage.json();
        vec![c]
    }
}
