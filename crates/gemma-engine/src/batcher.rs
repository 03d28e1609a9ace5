//! Continuous batching: several generations share the model. Each step runs one batch that
//! holds every active sequence's next tokens (one decode token, or a chunk of a prompt), and
//! new requests join between steps rather than after the others finish.

use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use gemma_model::{KvCache, Logits, SeqInput, UBATCH};
use gemma_sample::Sampler;
use gemma_tokenizer::{ModelTokenizer, TextStream};

use crate::stop::StopMatcher;
use crate::{EngineError, GenerateOptions, LoadedModel, StopReason};

/// What a request's stream carries.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchEvent {
    /// A generated token and the text it releases, with the number of the batch step that
    /// produced it (steps count from 1 over the batcher's life).
    Token {
        /// The token id.
        id: u32,
        /// Text released by this token (held back while it may start a stop string).
        text: String,
        /// The step that produced it.
        step: u64,
    },
    /// The generation ended.
    Done {
        /// Every generated token (an end-of-generation token excluded).
        tokens: Vec<u32>,
        /// Prompt tokens evaluated.
        prompt_tokens: usize,
        /// Why it ended.
        stop: StopReason,
    },
    /// The request could not run (the message says why).
    Error(String),
}

/// A generation request.
struct Request {
    prompt: Vec<u32>,
    opts: GenerateOptions,
    events: Sender<BatchEvent>,
}

/// A handle on the batching thread; dropping it lets the thread finish what it runs and end.
pub struct Batcher {
    requests: Option<SyncSender<Request>>,
    worker: Option<JoinHandle<()>>,
}

impl Batcher {
    /// Starts the batching thread over `model`: at most `max_seqs` sequences at once, each with
    /// a `ctx`-token cache, evaluated on `threads` threads; at most `queue` requests wait.
    pub fn start(
        model: Arc<LoadedModel>,
        ctx: usize,
        threads: usize,
        max_seqs: usize,
        queue: usize,
    ) -> Batcher {
        let (tx, rx) = mpsc::sync_channel(queue);
        let worker = thread::Builder::new()
            .name("gemma-batcher".into())
            .spawn(move || run(&model, ctx, threads.max(1), max_seqs.max(1), rx))
            .expect("cannot start the batching thread");
        Batcher {
            requests: Some(tx),
            worker: Some(worker),
        }
    }

    /// Queues a generation of `prompt`; its tokens arrive on the returned stream. Dropping the
    /// stream cancels the generation at its next step.
    ///
    /// # Errors
    ///
    /// When the queue is full ([`EngineError::Busy`]) or the prompt is empty.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        opts: GenerateOptions,
    ) -> Result<Receiver<BatchEvent>, EngineError> {
        if prompt.is_empty() {
            return Err(EngineError::Invalid("the prompt is empty".into()));
        }
        opts.sampler.validate()?;
        let (events, rx) = mpsc::channel();
        let req = Request {
            prompt,
            opts,
            events,
        };
        let requests = self.requests.as_ref().expect("running");
        requests.try_send(req).map_err(|e| match e {
            mpsc::TrySendError::Full(_) => EngineError::Busy,
            mpsc::TrySendError::Disconnected(_) => {
                EngineError::Invalid("the batching thread has stopped".into())
            }
        })?;
        Ok(rx)
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

/// One active sequence.
struct Seq {
    cache: KvCache,
    /// Tokens to evaluate next: the rest of the prompt, or the last sampled token.
    feed: Vec<u32>,
    sampler: Sampler,
    text: TextStream,
    stops: StopMatcher,
    generated: Vec<u32>,
    prompt_tokens: usize,
    opts: GenerateOptions,
    events: Sender<BatchEvent>,
}

impl Seq {
    /// Sends what the text stream still holds (unless a stop string cut it), then the end.
    fn end(&mut self, stop: StopReason, tok: &ModelTokenizer, step: u64) {
        if stop != StopReason::StopString {
            let (mut rest, hit) = self.stops.push(&self.text.flush(tok));
            if !hit {
                rest.push_str(&self.stops.finish());
            }
            if !rest.is_empty() {
                let id = self.generated.last().copied().unwrap_or(0);
                let _ = self.events.send(BatchEvent::Token {
                    id,
                    text: rest,
                    step,
                });
            }
        }
        let _ = self.events.send(BatchEvent::Done {
            tokens: std::mem::take(&mut self.generated),
            prompt_tokens: self.prompt_tokens,
            stop,
        });
    }
}

/// The batching loop: admit, run one step, sample, stream; until no request can come.
fn run(model: &LoadedModel, ctx: usize, threads: usize, max_seqs: usize, rx: Receiver<Request>) {
    let tok = &model.tokenizer;
    let vocab = model.config().vocab_size;
    let mut active: Vec<Seq> = Vec::new();
    let mut step = 0u64;
    loop {
        // New requests join between steps; with nothing to do, wait for one.
        while active.len() < max_seqs {
            let req = if active.is_empty() {
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                }
            } else {
                match rx.try_recv() {
                    Ok(r) => r,
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break,
                }
            };
            if let Some(seq) = admit(model, ctx, vocab, req) {
                active.push(seq);
            }
        }
        if active.is_empty() {
            continue;
        }
        // One step: every decoding sequence's token, then prompt chunks in the room left.
        let mut budget = UBATCH;
        let mut takes = vec![0usize; active.len()];
        for pass in 0..2 {
            for (s, take) in active.iter().zip(takes.iter_mut()) {
                let decoding = !s.generated.is_empty() || s.feed.len() == 1;
                if (pass == 0) == decoding && *take == 0 && budget > 0 {
                    *take = s.feed.len().min(budget);
                    budget -= *take;
                }
            }
        }
        let chunks: Vec<Vec<u32>> = active
            .iter_mut()
            .zip(&takes)
            .map(|(s, &t)| s.feed.drain(..t).collect())
            .collect();
        let mut inputs: Vec<SeqInput> = active
            .iter_mut()
            .zip(&chunks)
            .map(|(s, c)| SeqInput {
                tokens: c,
                want: if !c.is_empty() && s.feed.is_empty() {
                    Logits::Last
                } else {
                    Logits::None
                },
                cache: &mut s.cache,
            })
            .collect();
        let logits = match model.model.forward_seqs(&mut inputs, threads) {
            Ok(l) => l,
            Err(e) => {
                for s in &active {
                    let _ = s.events.send(BatchEvent::Error(e.to_string()));
                }
                active.clear();
                continue;
            }
        };
        drop(inputs);
        step += 1;
        // Sample, stream, and retire finished or abandoned sequences.
        let mut keep = Vec::with_capacity(active.len());
        for (mut s, l) in active.drain(..).zip(logits) {
            if l.is_empty() {
                keep.push(s);
                continue;
            }
            let id = s.sampler.sample(&l);
            if s.opts.stop_at_eog && tok.is_eog(id) {
                s.end(StopReason::EndOfGeneration, tok, step);
                continue;
            }
            s.sampler.accept(id);
            s.generated.push(id);
            let (text, hit) = s.stops.push(&s.text.push(tok, id));
            let sent = s.events.send(BatchEvent::Token { id, text, step });
            if sent.is_err() {
                continue; // The client went away: cancel.
            }
            if hit {
                s.end(StopReason::StopString, tok, step);
            } else if s.generated.len() >= s.opts.max_tokens {
                s.end(StopReason::MaxTokens, tok, step);
            } else if s.cache.remaining() == 0 {
                s.end(StopReason::ContextFull, tok, step);
            } else {
                s.feed.push(id);
                keep.push(s);
            }
        }
        active = keep;
    }
}

/// A sequence for `req`, or `None` after telling it why it cannot run.
fn admit(model: &LoadedModel, ctx: usize, vocab: usize, req: Request) -> Option<Seq> {
    let fail = |msg: String| {
        let _ = req.events.send(BatchEvent::Error(msg));
        None
    };
    if req.prompt.len() >= ctx {
        return fail(format!(
            "the prompt has {} tokens but the context holds {ctx}",
            req.prompt.len()
        ));
    }
    if let Some(&bad) = req.prompt.iter().find(|&&t| t as usize >= vocab) {
        return fail(format!(
            "token {bad} is outside the {vocab}-token vocabulary"
        ));
    }
    if let Some(&(id, _)) = req
        .opts
        .sampler
        .logit_bias
        .iter()
        .find(|(id, _)| *id as usize >= vocab)
    {
        return fail(format!(
            "logit_bias names token {id}, but the vocabulary has {vocab} tokens"
        ));
    }
    let mut sampler = match Sampler::new(req.opts.sampler.clone()) {
        Ok(s) => s,
        Err(e) => return fail(e.to_string()),
    };
    for &id in &req.prompt {
        sampler.accept(id);
    }
    if req.opts.max_tokens == 0 {
        let _ = req.events.send(BatchEvent::Done {
            tokens: Vec::new(),
            prompt_tokens: 0,
            stop: StopReason::MaxTokens,
        });
        return None;
    }
    Some(Seq {
        cache: model.model.new_cache(ctx),
        prompt_tokens: req.prompt.len(),
        feed: req.prompt,
        sampler,
        text: model.tokenizer.stream(false),
        stops: StopMatcher::new(&req.opts.stop),
        generated: Vec::new(),
        opts: req.opts,
        events: req.events,
    })
}
