//! A session: one sequence's KV cache, evaluation, and generation with a streaming callback.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gemma_model::{KvCache, Logits};
use gemma_sample::{Sampler, SamplerConfig};

use crate::stop::StopMatcher;
use crate::{default_threads, EngineError, LoadedModel};

/// Options of one generation.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Stop after this many generated tokens.
    pub max_tokens: usize,
    /// Sampling options.
    pub sampler: SamplerConfig,
    /// Stop at the model's end-of-generation tokens (EOS, `<end_of_turn>`).
    pub stop_at_eog: bool,
    /// Stop strings: generation ends at the first one, and neither it nor anything after it
    /// is given to the callback (even when it is split across tokens).
    pub stop: Vec<String>,
    /// Report each generated token's log-probability with this many most likely alternatives
    /// (`Some(0)`: the token's own only). Used by the [`Batcher`](crate::Batcher).
    pub logprobs: Option<usize>,
    /// Report the log-probability of every prompt token after the first, with `logprobs`
    /// alternatives each (the OpenAI API's `echo` with `logprobs`). Used by the
    /// [`Batcher`](crate::Batcher).
    pub prompt_logprobs: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_tokens: 256,
            sampler: SamplerConfig::default(),
            stop_at_eog: true,
            stop: Vec::new(),
            logprobs: None,
            prompt_logprobs: false,
        }
    }
}

/// One generated token, as given to the streaming callback.
#[derive(Clone, Debug)]
pub struct TokenEvent<'a> {
    /// The token id.
    pub id: u32,
    /// New complete text this token makes printable (may be empty mid-character, or while
    /// the text might be the start of a stop string).
    pub text: &'a str,
    /// Index of this token among the generated ones.
    pub index: usize,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// `max_tokens` were generated.
    MaxTokens,
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// The context is full.
    ContextFull,
    /// The callback asked to stop.
    Stopped,
    /// A stop string appeared in the text.
    StopString,
}

/// What a generation did, with timings.
#[derive(Clone, Debug)]
pub struct GenerateSummary {
    /// Generated token ids (the end-of-generation token excluded).
    pub tokens: Vec<u32>,
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Time spent on the prompt.
    pub prompt_time: Duration,
    /// Time spent generating.
    pub gen_time: Duration,
    /// Why it ended.
    pub stop: StopReason,
}

impl GenerateSummary {
    /// Prompt tokens per second.
    pub fn prompt_tps(&self) -> f64 {
        self.prompt_tokens as f64 / self.prompt_time.as_secs_f64().max(1e-9)
    }

    /// Generated tokens per second.
    pub fn gen_tps(&self) -> f64 {
        self.tokens.len() as f64 / self.gen_time.as_secs_f64().max(1e-9)
    }
}

/// One sequence over a shared model.
#[derive(Debug)]
pub struct Session {
    model: Arc<LoadedModel>,
    cache: KvCache,
    threads: usize,
}

impl Session {
    pub(crate) fn new(
        model: Arc<LoadedModel>,
        ctx: Option<usize>,
        threads: Option<usize>,
    ) -> Result<Session, EngineError> {
        let cfg = model.config();
        let ctx = ctx.unwrap_or_else(|| cfg.default_ctx());
        if ctx == 0 || ctx > cfg.max_position_embeddings {
            return Err(EngineError::Invalid(format!(
                "context size {ctx} is out of range: the model supports 1 to {} positions",
                cfg.max_position_embeddings
            )));
        }
        let threads = threads.unwrap_or_else(default_threads);
        if threads == 0 {
            return Err(EngineError::Invalid(
                "thread count must be at least 1".into(),
            ));
        }
        let cache = model.model.new_cache(ctx);
        Ok(Session {
            model,
            cache,
            threads,
        })
    }

    /// The model this session runs.
    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.model
    }

    /// Positions used so far.
    pub fn position(&self) -> usize {
        self.cache.len()
    }

    /// The context size.
    pub fn ctx(&self) -> usize {
        self.cache.capacity()
    }

    /// Threads used by evaluation.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Forget the whole sequence.
    pub fn reset(&mut self) {
        self.cache.clear();
    }

    /// Evaluate `tokens` after what the session holds; returns logits as `want` asks.
    pub fn eval(&mut self, tokens: &[u32], want: Logits) -> Result<Vec<f32>, EngineError> {
        Ok(self
            .model
            .model
            .forward(tokens, &mut self.cache, want, self.threads)?)
    }

    /// Evaluate `prompt`, then sample up to `opts.max_tokens` tokens, calling `on_token` with each
    /// and the text it completes. The callback returns `ControlFlow::Break(())` to stop.
    pub fn generate<F>(
        &mut self,
        prompt: &[u32],
        opts: &GenerateOptions,
        mut on_token: F,
    ) -> Result<GenerateSummary, EngineError>
    where
        F: FnMut(&TokenEvent<'_>) -> ControlFlow<()>,
    {
        if prompt.is_empty() {
            return Err(EngineError::Invalid(
                "the prompt is empty: give at least one token (or keep BOS on)".into(),
            ));
        }
        if prompt.len() >= self.cache.remaining() {
            return Err(EngineError::Invalid(format!(
                "the prompt has {} tokens but only {} of the {}-token context are free; raise --ctx",
                prompt.len(),
                self.cache.remaining(),
                self.cache.capacity()
            )));
        }
        let mut sampler = Sampler::new(opts.sampler.clone())?;
        let vocab = self.model.config().vocab_size;
        if let Some(&(id, _)) = opts
            .sampler
            .logit_bias
            .iter()
            .find(|(id, _)| *id as usize >= vocab)
        {
            return Err(EngineError::Invalid(format!(
                "logit_bias names token {id}, but the vocabulary has {vocab} tokens"
            )));
        }
        // The penalties look at the prompt too, as llama.cpp's do.
        for &id in prompt {
            sampler.accept(id);
        }
        let mut stops = StopMatcher::new(&opts.stop);
        let model = self.model.clone();
        let tok = &model.tokenizer;
        let mut decoder = tok.stream(false);
        let t0 = Instant::now();
        let mut logits = self.eval(prompt, Logits::Last)?;
        let prompt_time = t0.elapsed();
        let t1 = Instant::now();
        let mut tokens = Vec::new();
        let stop = loop {
            if tokens.len() >= opts.max_tokens {
                break StopReason::MaxTokens;
            }
            let id = sampler.sample(&logits);
            if opts.stop_at_eog && tok.is_eog(id) {
                break StopReason::EndOfGeneration;
            }
            sampler.accept(id);
            tokens.push(id);
            let (text, hit) = stops.push(&decoder.push(tok, id));
            let ev = TokenEvent {
                id,
                text: &text,
                index: tokens.len() - 1,
            };
            if on_token(&ev).is_break() {
                break StopReason::Stopped;
            }
            if hit {
                break StopReason::StopString;
            }
            if tokens.len() >= opts.max_tokens {
                break StopReason::MaxTokens;
            }
            if self.cache.remaining() == 0 {
                break StopReason::ContextFull;
            }
            logits = self.eval(&[id], Logits::Last)?;
        };
        let rest = if stop == StopReason::StopString {
            String::new()
        } else {
            let (mut text, hit) = stops.push(&decoder.flush(tok));
            if !hit {
                text.push_str(&stops.finish());
            }
            text
        };
        if !rest.is_empty() {
            let ev = TokenEvent {
                id: *tokens.last().unwrap_or(&0),
                text: &rest,
                index: tokens.len().saturating_sub(1),
            };
            let _ = on_token(&ev);
        }
        Ok(GenerateSummary {
            tokens,
            prompt_tokens: prompt.len(),
            prompt_time,
            gen_time: t1.elapsed(),
            stop,
        })
    }
}
