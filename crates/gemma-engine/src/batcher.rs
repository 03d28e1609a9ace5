//! Continuous batching: several generations share the model. Each step runs one batch that
//! holds every active sequence's next tokens (one decode token, or a chunk of a prompt), and
//! new requests join between steps rather than after the others finish.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use gemma_model::{KvCache, Logits, SeqInput, UBATCH};
use gemma_sample::Sampler;
use gemma_tokenizer::{ModelTokenizer, TextStream};

use crate::logprob::{token_logprob, TokenLogprob};
use crate::stop::StopMatcher;
use crate::{EngineError, GenerateOptions, LoadedModel, StopReason};

/// Prompt tokens per step of a sequence that wants every prompt position's log-probabilities
/// (each position's logits are a vocabulary-sized row).
const PROMPT_LOGPROB_CHUNK: usize = 16;

/// What a request's stream carries.
#[derive(Clone, Debug, PartialEq)]
pub enum BatchEvent {
    /// The log-probabilities of the prompt's tokens after the first, sent once the prompt is
    /// evaluated, when [`GenerateOptions::prompt_logprobs`] asks for them.
    Prompt {
        /// One entry per prompt token after the first.
        logprobs: Vec<TokenLogprob>,
    },
    /// A generated token and the text it releases, with the number of the batch step that
    /// produced it (steps count from 1 over the batcher's life).
    Token {
        /// The token id.
        id: u32,
        /// Text released by this token (held back while it may start a stop string).
        text: String,
        /// The step that produced it.
        step: u64,
        /// Its log-probability, when [`GenerateOptions::logprobs`] asks for it (absent on
        /// the text released at the end).
        logprob: Option<TokenLogprob>,
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

/// Where a request's events go. The batcher cancels a request whose sink is closed.
pub trait EventSink: Send {
    /// Delivers an event; `false` when nobody listens any more.
    fn send(&mut self, event: BatchEvent) -> bool;
    /// Whether nobody listens any more (checked before every step).
    fn is_closed(&self) -> bool {
        false
    }
}

impl EventSink for Sender<BatchEvent> {
    fn send(&mut self, event: BatchEvent) -> bool {
        Sender::send(self, event).is_ok()
    }
}

/// A generation request.
struct Request {
    prompt: Vec<u32>,
    opts: GenerateOptions,
    events: Box<dyn EventSink>,
}

/// Counts shared with the batching thread.
#[derive(Debug, Default)]
struct Counters {
    /// Requests accepted and not finished (waiting or running).
    load: AtomicUsize,
    active: AtomicUsize,
    steps: AtomicU64,
}

/// A snapshot of the batcher's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatcherStats {
    /// Requests queued and not yet running.
    pub waiting: usize,
    /// Sequences running.
    pub active: usize,
    /// Batch steps run so far.
    pub steps: u64,
}

/// A handle on the batching thread; dropping it lets the thread finish what it runs and end.
///
/// ```
/// use gemma_engine::{BatchEvent, Batcher, GenerateOptions, LoadedModel, SamplerConfig};
///
/// let model = LoadedModel::load(&gemma_hub::ensure_default_model(false).unwrap()).unwrap();
/// // 256-token sequences on 2 threads, 4 at once, 16 more may wait.
/// let batcher = Batcher::start(model.clone(), 256, 2, 4, 16);
/// let opts = GenerateOptions { max_tokens: 8, sampler: SamplerConfig::greedy(), ..GenerateOptions::default() };
/// // Two requests share every step; each stream gets its own tokens.
/// let a = batcher.submit(model.tokenize("The sky is", true).unwrap(), opts.clone()).unwrap();
/// let b = batcher.submit(model.tokenize("Grass is", true).unwrap(), opts).unwrap();
/// for stream in [a, b] {
///     let mut text = String::new();
///     for event in stream {
///         match event {
///             BatchEvent::Token { text: t, .. } => text.push_str(&t),
///             BatchEvent::Done { tokens, .. } => assert!(tokens.len() <= 8),
///             BatchEvent::Prompt { .. } => {}
///             BatchEvent::Error(e) => panic!("{e}"),
///         }
///     }
///     println!("{text}");
/// }
/// ```
pub struct Batcher {
    requests: Option<Sender<Request>>,
    worker: Option<JoinHandle<()>>,
    counters: Arc<Counters>,
    ctx: usize,
    max_seqs: usize,
    queue: usize,
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
        let (tx, rx) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let max_seqs = max_seqs.max(1);
        let worker = thread::Builder::new()
            .name("gemma-batcher".into())
            .spawn(move || run(&model, ctx, threads.max(1), max_seqs, &rx, &shared))
            .expect("cannot start the batching thread");
        Batcher {
            requests: Some(tx),
            worker: Some(worker),
            counters,
            ctx,
            max_seqs,
            queue,
        }
    }

    /// The context of each sequence, in tokens.
    pub fn ctx(&self) -> usize {
        self.ctx
    }

    /// The most sequences run at once.
    pub fn max_seqs(&self) -> usize {
        self.max_seqs
    }

    /// How many requests wait and run now.
    pub fn stats(&self) -> BatcherStats {
        let active = self.counters.active.load(Ordering::Relaxed);
        BatcherStats {
            waiting: self
                .counters
                .load
                .load(Ordering::Relaxed)
                .saturating_sub(active),
            active,
            steps: self.counters.steps.load(Ordering::Relaxed),
        }
    }

    /// Queues a generation of `prompt`; its tokens arrive on the returned stream. Dropping the
    /// stream cancels the generation at its next token.
    ///
    /// # Errors
    ///
    /// When the queue is full ([`EngineError::Busy`]), the prompt is empty, or the sampling
    /// options are invalid.
    pub fn submit(
        &self,
        prompt: Vec<u32>,
        opts: GenerateOptions,
    ) -> Result<Receiver<BatchEvent>, EngineError> {
        let (events, rx) = mpsc::channel();
        self.submit_to(prompt, opts, Box::new(events))?;
        Ok(rx)
    }

    /// Queues a generation of `prompt` whose events go to `events`; a closed sink cancels it
    /// before its next step.
    ///
    /// # Errors
    ///
    /// As [`Batcher::submit`].
    pub fn submit_to(
        &self,
        prompt: Vec<u32>,
        opts: GenerateOptions,
        events: Box<dyn EventSink>,
    ) -> Result<(), EngineError> {
        if prompt.is_empty() {
            return Err(EngineError::Invalid("the prompt is empty".into()));
        }
        opts.sampler.validate()?;
        let req = Request {
            prompt,
            opts,
            events,
        };
        let requests = self.requests.as_ref().expect("running");
        // Room for `max_seqs` running and `queue` waiting, counted before the thread sees it.
        let load = &self.counters.load;
        if load.fetch_add(1, Ordering::SeqCst) >= self.max_seqs + self.queue {
            load.fetch_sub(1, Ordering::SeqCst);
            return Err(EngineError::Busy);
        }
        requests.send(req).map_err(|_| {
            load.fetch_sub(1, Ordering::SeqCst);
            EngineError::Stopped
        })
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
    /// The prompt (kept while its log-probabilities are wanted).
    prompt: Vec<u32>,
    /// Tokens to evaluate next: the rest of the prompt, or the last sampled token.
    feed: Vec<u32>,
    /// Log-probabilities of the prompt tokens evaluated so far, when wanted.
    prompt_lp: Option<Vec<TokenLogprob>>,
    sampler: Sampler,
    text: TextStream,
    stops: StopMatcher,
    generated: Vec<u32>,
    prompt_tokens: usize,
    opts: GenerateOptions,
    events: Box<dyn EventSink>,
}

impl Seq {
    /// Whether this sequence evaluates a generated token next.
    fn decoding(&self) -> bool {
        !self.generated.is_empty() || self.feed.len() == 1 && self.prompt_lp.is_none()
    }

    /// Sends what the text stream still holds (unless a stop string cut it), then the end.
    fn end(&mut self, stop: StopReason, tok: &ModelTokenizer, step: u64) {
        if stop != StopReason::StopString {
            let (mut rest, hit) = self.stops.push(&self.text.flush(tok));
            if !hit {
                rest.push_str(&self.stops.finish());
            }
            if !rest.is_empty() {
                let id = self.generated.last().copied().unwrap_or(0);
                self.events.send(BatchEvent::Token {
                    id,
                    text: rest,
                    step,
                    logprob: None,
                });
            }
        }
        self.events.send(BatchEvent::Done {
            tokens: std::mem::take(&mut self.generated),
            prompt_tokens: self.prompt_tokens,
            stop,
        });
    }

    /// Takes in the logits of an evaluated prompt chunk of `n` tokens (every row when the
    /// prompt's log-probabilities are wanted) and returns the row to sample from, if the
    /// prompt is done.
    fn prompt_rows<'l>(&mut self, logits: &'l [f32], n: usize, vocab: usize) -> &'l [f32] {
        let Some(lp) = self.prompt_lp.as_mut() else {
            return logits;
        };
        let top = self.opts.logprobs.unwrap_or(0);
        let first = self.prompt_tokens - self.feed.len() - n;
        for (j, row) in logits.chunks_exact(vocab).enumerate() {
            if let Some(&next) = self.prompt.get(first + j + 1) {
                lp.push(token_logprob(row, next, top));
            }
        }
        &logits[logits.len().saturating_sub(vocab)..]
    }
}

/// The batching loop: admit, run one step, sample, stream; until no request can come.
fn run(
    model: &LoadedModel,
    ctx: usize,
    threads: usize,
    max_seqs: usize,
    rx: &Receiver<Request>,
    counters: &Counters,
) {
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
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            };
            match admit(model, ctx, vocab, req) {
                Some(seq) => active.push(seq),
                None => retire(counters, 1),
            }
        }
        // Requests nobody listens to any more are dropped before they cost a step.
        let before = active.len();
        active.retain(|s| !s.events.is_closed());
        retire(counters, before - active.len());
        counters.active.store(active.len(), Ordering::Relaxed);
        if active.is_empty() {
            continue;
        }
        // One step: every decoding sequence's token, then prompt chunks in the room left.
        let mut budget = UBATCH;
        let mut takes = vec![0usize; active.len()];
        for pass in 0..2 {
            for (s, take) in active.iter().zip(takes.iter_mut()) {
                if (pass == 0) == s.decoding() && *take == 0 && budget > 0 {
                    let most = if s.prompt_lp.is_some() {
                        PROMPT_LOGPROB_CHUNK
                    } else {
                        budget
                    };
                    *take = s.feed.len().min(budget).min(most);
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
                want: if c.is_empty() {
                    Logits::None
                } else if s.prompt_lp.is_some() {
                    Logits::All
                } else if s.feed.is_empty() {
                    Logits::Last
                } else {
                    Logits::None
                },
                cache: &mut s.cache,
            })
            .collect();
        // A failure (or a bug that panics) ends this step's requests, not the server.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            model.model.forward_seqs(&mut inputs, threads)
        }));
        let logits = match result {
            Ok(Ok(l)) => l,
            failed => {
                let msg = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "internal error: the model evaluation panicked".to_string(),
                };
                drop(inputs);
                for s in &mut active {
                    s.events.send(BatchEvent::Error(msg.clone()));
                }
                retire(counters, active.len());
                active.clear();
                continue;
            }
        };
        drop(inputs);
        step += 1;
        counters.steps.store(step, Ordering::Relaxed);
        // Sample, stream, and retire finished or abandoned sequences.
        let before = active.len();
        let mut keep = Vec::with_capacity(active.len());
        for ((mut s, l), chunk) in active.drain(..).zip(logits).zip(&chunks) {
            if !s.feed.is_empty() || chunk.is_empty() {
                if !chunk.is_empty() {
                    s.prompt_rows(&l, chunk.len(), vocab);
                }
                keep.push(s);
                continue;
            }
            let row = s.prompt_rows(&l, chunk.len(), vocab);
            if let Some(lp) = s.prompt_lp.take() {
                s.prompt = Vec::new();
                if !s.events.send(BatchEvent::Prompt { logprobs: lp }) {
                    continue;
                }
                if s.opts.max_tokens == 0 {
                    s.end(StopReason::MaxTokens, tok, step);
                    continue;
                }
            }
            let id = s.sampler.sample(row);
            if s.opts.stop_at_eog && tok.is_eog(id) {
                s.end(StopReason::EndOfGeneration, tok, step);
                continue;
            }
            let logprob = s.opts.logprobs.map(|top| token_logprob(row, id, top));
            s.sampler.accept(id);
            s.generated.push(id);
            let (text, hit) = s.stops.push(&s.text.push(tok, id));
            let sent = s.events.send(BatchEvent::Token {
                id,
                text,
                step,
                logprob,
            });
            if !sent {
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
        counters.active.store(active.len(), Ordering::Relaxed);
        retire(counters, before - active.len());
    }
}

/// Counts `n` requests as finished.
fn retire(counters: &Counters, n: usize) {
    counters.load.fetch_sub(n, Ordering::SeqCst);
}

/// A sequence for `req`, or `None` after telling it why it cannot run.
fn admit(model: &LoadedModel, ctx: usize, vocab: usize, mut req: Request) -> Option<Seq> {
    let mut fail = |msg: String| {
        req.events.send(BatchEvent::Error(msg));
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
    if req.opts.max_tokens == 0 && !req.opts.prompt_logprobs {
        req.events.send(BatchEvent::Done {
            tokens: Vec::new(),
            prompt_tokens: req.prompt.len(),
            stop: StopReason::MaxTokens,
        });
        return None;
    }
    let prompt_lp = req
        .opts
        .prompt_logprobs
        .then(|| Vec::with_capacity(req.prompt.len()));
    Some(Seq {
        cache: model.model.new_cache(ctx),
        prompt_tokens: req.prompt.len(),
        prompt: if prompt_lp.is_some() {
            req.prompt.clone()
        } else {
            Vec::new()
        },
        feed: req.prompt,
        prompt_lp,
        sampler,
        text: model.tokenizer.stream(false),
        stops: StopMatcher::new(&req.opts.stop),
        generated: Vec::new(),
        opts: req.opts,
        events: req.events,
    })
}
