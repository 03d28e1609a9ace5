//! The bridge from the batching thread to async handlers: submit a request's prompts, then
//! await their events; dropping a [`Generation`] cancels it, and so does shutdown.

use std::sync::Arc;

use axum::http::StatusCode;
use gemma_engine::{BatchEvent, EventSink, GenerateOptions, StopReason, TokenLogprob};
use tokio::sync::{mpsc, watch};

use crate::error::ApiError;
use crate::state::{AppState, FlightGuard};

/// Sends one prompt's events, tagged with its index, into the request's channel.
struct Sink {
    index: usize,
    tx: mpsc::UnboundedSender<(usize, BatchEvent)>,
}

impl EventSink for Sink {
    fn send(&mut self, event: BatchEvent) -> bool {
        self.tx.send((self.index, event)).is_ok()
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// What a generation reports, per choice.
#[derive(Debug)]
pub enum Event {
    /// The prompt's log-probabilities (tokens after the first).
    Prompt {
        /// The choice.
        index: usize,
        /// One per prompt token after the first.
        logprobs: Vec<TokenLogprob>,
    },
    /// A generated token's text (possibly empty) and its log-probability if asked for.
    Token {
        /// The choice.
        index: usize,
        /// The token id.
        id: u32,
        /// Text it releases.
        text: String,
        /// Its log-probability.
        logprob: Option<TokenLogprob>,
    },
    /// The choice ended.
    Done {
        /// The choice.
        index: usize,
        /// Prompt tokens.
        prompt_tokens: usize,
        /// Generated tokens.
        completion_tokens: usize,
        /// OpenAI's finish reason.
        finish: &'static str,
    },
}

/// OpenAI's `finish_reason` for why a generation ended.
pub fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens | StopReason::ContextFull => "length",
        StopReason::EndOfGeneration | StopReason::StopString | StopReason::Stopped => "stop",
    }
}

/// A request's generations under way.
pub struct Generation {
    rx: mpsc::UnboundedReceiver<(usize, BatchEvent)>,
    cancel: watch::Receiver<bool>,
    state: Arc<AppState>,
    guard: FlightGuard,
    open: usize,
    first_token: Option<f64>,
    prompt_tokens: usize,
    completion_tokens: usize,
    failed: bool,
}

impl Generation {
    /// Submits one generation per prompt.
    ///
    /// # Errors
    ///
    /// 503 while shutting down; 429 when the queue is full (nothing of the request runs).
    pub fn start(
        state: &Arc<AppState>,
        prompts: Vec<(Vec<u32>, GenerateOptions)>,
    ) -> Result<Generation, ApiError> {
        if state.draining() {
            return Err(shutting_down());
        }
        let guard = state.enter();
        let (tx, rx) = mpsc::unbounded_channel();
        let open = prompts.len();
        for (index, (prompt, opts)) in prompts.into_iter().enumerate() {
            let sink = Sink {
                index,
                tx: tx.clone(),
            };
            // On failure the receiver drops with `rx` below, cancelling what was queued.
            state.batcher.submit_to(prompt, opts, Box::new(sink))?;
        }
        Ok(Generation {
            rx,
            cancel: state.cancelled(),
            state: state.clone(),
            guard,
            open,
            first_token: None,
            prompt_tokens: 0,
            completion_tokens: 0,
            failed: false,
        })
    }

    /// The next event; `None` once every choice is done.
    ///
    /// # Errors
    ///
    /// 503 when shutdown cancels the generation; 500 when the engine fails.
    pub async fn next(&mut self) -> Option<Result<Event, ApiError>> {
        if self.open == 0 || self.failed {
            return None;
        }
        let (index, ev) = tokio::select! {
            biased;
            _ = self.cancel.wait_for(|&c| c) => {
                self.failed = true;
                return Some(Err(shutting_down()));
            }
            ev = self.rx.recv() => match ev {
                Some(ev) => ev,
                None => {
                    self.failed = true;
                    return Some(Err(ApiError::new(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the generation ended without a result",
                    )));
                }
            },
        };
        Some(Ok(match ev {
            BatchEvent::Prompt { logprobs } => Event::Prompt { index, logprobs },
            BatchEvent::Token {
                id, text, logprob, ..
            } => {
                if self.first_token.is_none() {
                    self.first_token = Some(self.guard.start.elapsed().as_secs_f64());
                }
                Event::Token {
                    index,
                    id,
                    text,
                    logprob,
                }
            }
            BatchEvent::Done {
                tokens,
                prompt_tokens,
                stop,
            } => {
                self.open -= 1;
                self.prompt_tokens += prompt_tokens;
                self.completion_tokens += tokens.len();
                Event::Done {
                    index,
                    prompt_tokens,
                    completion_tokens: tokens.len(),
                    finish: finish_reason(stop),
                }
            }
            BatchEvent::Error(msg) => {
                self.failed = true;
                return Some(Err(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("generation failed: {msg}"),
                )));
            }
        }))
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        let m = &self.state.metrics;
        if self.open > 0 {
            m.cancelled();
        }
        m.generation(
            self.prompt_tokens,
            self.completion_tokens,
            self.first_token,
            self.guard.start.elapsed().as_secs_f64(),
        );
    }
}

/// The 503 of a server shutting down.
pub fn shutting_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}
