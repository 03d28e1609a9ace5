//! The two ways a generation is answered: collected into one JSON body, or streamed as
//! server-sent events ending with `data: [DONE]` (an error mid-stream is an `error` event).

use std::convert::Infallible;

use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Response};
use gemma_engine::TokenLogprob;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt as _;

use crate::error::ApiError;
use crate::gen::{Event, Generation};

/// One choice, collected.
#[derive(Debug, Default)]
pub struct Collected {
    /// The generated text.
    pub text: String,
    /// Their log-probabilities, when asked for.
    pub logprobs: Vec<TokenLogprob>,
    /// The prompt's log-probabilities, when asked for.
    pub prompt_logprobs: Option<Vec<TokenLogprob>>,
    /// Prompt tokens.
    pub prompt_tokens: usize,
    /// OpenAI's finish reason.
    pub finish: &'static str,
}

/// Token counts of a request, for `usage`.
#[derive(Debug, Default, Clone, Copy)]
pub struct Usage {
    /// Prompt tokens, over every choice.
    pub prompt: usize,
    /// Generated tokens, over every choice.
    pub completion: usize,
}

impl Usage {
    /// OpenAI's `usage` object.
    pub fn json(self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
        })
    }
}

/// Waits for every choice of `gen` to end.
pub async fn collect(
    mut gen: Generation,
    choices: usize,
) -> Result<(Vec<Collected>, Usage), ApiError> {
    let mut out: Vec<Collected> = (0..choices).map(|_| Collected::default()).collect();
    let mut usage = Usage::default();
    while let Some(ev) = gen.next().await {
        match ev? {
            Event::Prompt { index, logprobs } => out[index].prompt_logprobs = Some(logprobs),
            Event::Token {
                index,
                text,
                logprob,
                ..
            } => {
                let c = &mut out[index];
                c.text.push_str(&text);
                c.logprobs.extend(logprob);
            }
            Event::Done {
                index,
                prompt_tokens,
                completion_tokens,
                finish,
            } => {
                let c = &mut out[index];
                c.prompt_tokens = prompt_tokens;
                c.finish = finish;
                usage.prompt += prompt_tokens;
                usage.completion += completion_tokens;
            }
        }
    }
    Ok((out, usage))
}

/// Turns a generation's events into the chunks of a stream.
pub trait Chunks: Send + 'static {
    /// Chunks for one event (none, one or several).
    fn event(&mut self, ev: Event) -> Vec<Value>;
    /// Chunks after every choice ended (the usage chunk, when asked for).
    fn end(&mut self, usage: Usage) -> Vec<Value>;
}

/// Streams `gen` as server-sent events, `chunks` saying what each event becomes. The stream
/// ends with `data: [DONE]`; an error (shutdown, engine failure) is sent as an `{"error": ...}`
/// event first. A client that goes away cancels the generation.
pub fn stream(mut gen: Generation, mut chunks: impl Chunks) -> Response {
    let (tx, rx) = mpsc::channel::<String>(64);
    tokio::spawn(async move {
        let mut usage = Usage::default();
        loop {
            let ev = tokio::select! {
                _ = tx.closed() => return,
                ev = gen.next() => ev,
            };
            let out = match ev {
                None => break,
                Some(Err(e)) => {
                    let _ = tx.send(e.body().to_string()).await;
                    break;
                }
                Some(Ok(ev)) => {
                    if let Event::Done {
                        prompt_tokens,
                        completion_tokens,
                        ..
                    } = ev
                    {
                        usage.prompt += prompt_tokens;
                        usage.completion += completion_tokens;
                    }
                    chunks.event(ev)
                }
            };
            for c in out {
                if tx.send(c.to_string()).await.is_err() {
                    return;
                }
            }
        }
        drop(gen);
        for c in chunks.end(usage) {
            if tx.send(c.to_string()).await.is_err() {
                return;
            }
        }
        let _ = tx.send("[DONE]".to_string()).await;
    });
    let events = ReceiverStream::new(rx).map(|d| Ok::<_, Infallible>(SseEvent::default().data(d)));
    Sse::new(events).into_response()
}
