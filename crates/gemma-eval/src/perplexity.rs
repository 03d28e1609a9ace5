//! Perplexity of a text with llama.cpp's protocol, as `llama-perplexity` computes it
//! (`tools/perplexity/perplexity.cpp`, function `perplexity`, of the llama.cpp that PyPI's
//! `llama-cpp-python==0.3.36` vendors under `vendor/llama.cpp`).
//!
//! The protocol:
//! 1. the whole text is tokenized once, with BOS when the vocabulary adds one, and without
//!    parsing special tokens written in it (`common_tokenize(ctx, text, true)`);
//! 2. it is cut into `n_tokens / ctx` non-overlapping chunks of `ctx` tokens (the tail that does
//!    not fill a chunk is dropped); at least two chunks are needed (`2 * ctx` tokens);
//! 3. each chunk is evaluated from an empty cache, its first token replaced by BOS (when the
//!    vocabulary adds BOS);
//! 4. only the second half is scored: the logits at positions `ctx/2 ..= ctx-2` predict the
//!    tokens at `ctx/2 + 1 ..= ctx-1`, so `ctx - ctx/2 - 1` tokens per chunk;
//! 5. PPL = exp(mean NLL) over all scored tokens, NLL = -log-softmax of the logits at the
//!    token; its uncertainty is `ppl * sqrt((mean(NLL²) - mean(NLL)²) / (count - 1))`, the
//!    standard error of the mean NLL carried through the exponential.

use std::path::Path;

use gemma_engine::{token_logprob, EngineError, KvCache, LoadedModel, Logits, UBATCH};
use gemma_tokenizer::ModelTokenizer;
use serde::Serialize;

use crate::EvalError;

/// The smallest context: one scored token per chunk (`ctx - ctx/2 - 1 >= 1`).
pub const MIN_PERPLEXITY_CTX: usize = 3;

/// How to measure perplexity.
#[derive(Clone, Debug)]
pub struct PerplexityOptions {
    /// Tokens per chunk (llama.cpp's `--ctx-size`, default 512).
    pub ctx: usize,
    /// Threads of the forward pass.
    pub threads: usize,
}

impl Default for PerplexityOptions {
    fn default() -> Self {
        PerplexityOptions {
            ctx: 512,
            threads: gemma_engine::default_threads(),
        }
    }
}

/// Where a run stands, given to the progress callback after each chunk.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PerplexityProgress {
    /// Chunks evaluated so far.
    pub chunks_done: usize,
    /// Chunks in all.
    pub chunks_total: usize,
    /// Perplexity over the chunks evaluated so far.
    pub ppl: f64,
}

/// A perplexity measurement.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerplexityResult {
    /// exp(mean NLL).
    pub ppl: f64,
    /// Its uncertainty (llama.cpp's `+/-`): `ppl` times the standard error of the mean NLL;
    /// 0 when the NLL values do not vary.
    pub ppl_uncertainty: f64,
    /// Mean negative log-likelihood per scored token (nats).
    pub nll_mean: f64,
    /// Tokens of the whole text, BOS included.
    pub n_tokens: usize,
    /// Tokens scored.
    pub scored: usize,
    /// Chunks evaluated.
    pub chunks: usize,
    /// Tokens per chunk.
    pub ctx: usize,
    /// Perplexity over chunks `1..=i` after each chunk `i` (llama.cpp's `[1]x,[2]y,...`).
    pub chunk_ppl: Vec<f64>,
}

/// Running sums of negative log-likelihoods, as llama.cpp keeps them (`nll`, `nll2`,
/// `count`).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NllStats {
    /// Sum of NLL.
    pub sum: f64,
    /// Sum of NLL².
    pub sum2: f64,
    /// Values added.
    pub count: usize,
}

impl NllStats {
    /// Add one token's NLL.
    pub fn add(&mut self, nll: f64) {
        self.sum += nll;
        self.sum2 += nll * nll;
        self.count += 1;
    }

    /// Mean NLL.
    pub fn mean(&self) -> f64 {
        self.sum / self.count as f64
    }

    /// exp(mean NLL).
    pub fn ppl(&self) -> f64 {
        self.mean().exp()
    }

    /// llama.cpp's uncertainty of the perplexity: `ppl * sqrt(var / (count - 1))` with
    /// `var = mean(NLL²) - mean(NLL)²`; 0 when `var` is not positive (where llama.cpp prints
    /// "Unexpected negative standard deviation") or fewer than two values were added.
    pub fn ppl_uncertainty(&self) -> f64 {
        let n = self.count as f64;
        let mean = self.mean();
        let var = self.sum2 / n - mean * mean;
        if var > 0.0 && self.count > 1 {
            (var / (n - 1.0)).sqrt() * self.ppl()
        } else {
            0.0
        }
    }
}

/// The first scored logit position of a chunk of `ctx` tokens (llama.cpp's `first`): logits at
/// positions `first..ctx-1` predict the tokens at `first+1..ctx`.
pub fn first_scored(ctx: usize) -> usize {
    ctx / 2
}

/// The chunks llama.cpp evaluates: `tokens.len() / ctx` consecutive slices of `ctx` tokens,
/// each with its first token replaced by `bos` when given.
///
/// # Errors
///
/// [`EvalError::Invalid`] when `ctx` is below [`MIN_PERPLEXITY_CTX`] or the text has fewer than
/// `2 * ctx` tokens.
pub fn perplexity_chunks(
    tokens: &[u32],
    ctx: usize,
    bos: Option<u32>,
) -> Result<Vec<Vec<u32>>, EvalError> {
    if ctx < MIN_PERPLEXITY_CTX {
        return Err(EvalError::Invalid(format!(
            "a context of {ctx} tokens is too small: it must be at least \
             {MIN_PERPLEXITY_CTX} (the second half of each chunk is scored)"
        )));
    }
    if tokens.len() < 2 * ctx {
        return Err(EvalError::Invalid(format!(
            "the text tokenizes to {} tokens; perplexity with a context of {ctx} needs at least \
             {} (two chunks): give a longer text or a smaller context",
            tokens.len(),
            2 * ctx
        )));
    }
    Ok(tokens
        .chunks_exact(ctx)
        .map(|c| {
            let mut c = c.to_vec();
            if let Some(b) = bos {
                c[0] = b;
            }
            c
        })
        .collect())
}

/// Perplexity of `tokens` with llama.cpp's protocol, the model given as `score`: called with
/// each chunk (first token already replaced by `bos`), it returns the NLL of the chunk's tokens
/// `first_scored(ctx)+1..ctx`, each given the tokens before it. `progress` is called after each
/// chunk.
///
/// # Errors
///
/// Those of [`perplexity_chunks`], [`EvalError::Invalid`] when `score` returns the wrong number of
/// values, and those of `score`.
pub fn perplexity_with(
    tokens: &[u32],
    ctx: usize,
    bos: Option<u32>,
    mut score: impl FnMut(&[u32]) -> Result<Vec<f64>, EvalError>,
    mut progress: impl FnMut(&PerplexityProgress),
) -> Result<PerplexityResult, EvalError> {
    let chunks = perplexity_chunks(tokens, ctx, bos)?;
    let per_chunk = ctx - first_scored(ctx) - 1;
    let mut stats = NllStats::default();
    let mut chunk_ppl = Vec::with_capacity(chunks.len());
    for (i, chunk) in chunks.iter().enumerate() {
        let nll = score(chunk)?;
        if nll.len() != per_chunk {
            return Err(EvalError::Invalid(format!(
                "chunk {}: {} values scored, expected {per_chunk}",
                i + 1,
                nll.len()
            )));
        }
        nll.iter().for_each(|&x| stats.add(x));
        chunk_ppl.push(stats.ppl());
        progress(&PerplexityProgress {
            chunks_done: i + 1,
            chunks_total: chunks.len(),
            ppl: stats.ppl(),
        });
    }
    Ok(PerplexityResult {
        ppl: stats.ppl(),
        ppl_uncertainty: stats.ppl_uncertainty(),
        nll_mean: stats.mean(),
        n_tokens: tokens.len(),
        scored: stats.count,
        chunks: chunks.len(),
        ctx,
        chunk_ppl,
    })
}

/// Tokenize `text` as `llama-perplexity` does: BOS first when the vocabulary adds one, special
/// tokens written in the text (`<unk>`, `<start_of_turn>`) read as plain text. Returns the ids
/// and the BOS id that replaces each chunk's first token (`None` when no BOS is added).
///
/// # Errors
///
/// [`EvalError::Invalid`] for a model without a tokenizer; a tokenizer failure.
pub fn tokenize_for_perplexity(
    model: &LoadedModel,
    text: &str,
) -> Result<(Vec<u32>, Option<u32>), EvalError> {
    match &model.tokenizer {
        ModelTokenizer::Gguf(t) => {
            let bos = if t.add_bos() { t.bos() } else { None };
            Ok((t.encode(text, true, false), bos))
        }
        // Hugging Face tokenizers always read added tokens in the text.
        ModelTokenizer::Hf(t) => {
            let bos = if t.add_bos() { t.bos() } else { None };
            Ok((model.tokenize(text, true)?, bos))
        }
        ModelTokenizer::IdsOnly { .. } => Err(EvalError::Invalid(format!(
            "{} has no tokenizer (no tokenizer.json): perplexity needs one to tokenize the text",
            model.path.display()
        ))),
    }
}

/// Perplexity of `text` under `model` with llama.cpp's protocol (see the module's notes).
/// `progress` is called after each chunk.
///
/// # Errors
///
/// [`EvalError::Invalid`] when the text is too short for two chunks, or `ctx` is below
/// [`MIN_PERPLEXITY_CTX`] or above the model's context length; engine failures.
pub fn perplexity(
    model: &LoadedModel,
    text: &str,
    opts: &PerplexityOptions,
    progress: impl FnMut(&PerplexityProgress),
) -> Result<PerplexityResult, EvalError> {
    let ctx = opts.ctx;
    let max = model.config().max_position_embeddings;
    if ctx > max {
        return Err(EvalError::Invalid(format!(
            "a context of {ctx} tokens is larger than the model's context length ({max})"
        )));
    }
    let (tokens, bos) = tokenize_for_perplexity(model, text)?;
    let vocab = model.config().vocab_size;
    let first = first_scored(ctx);
    let threads = opts.threads.max(1);
    let mut cache = model.model.new_cache(ctx);
    let score = |chunk: &[u32]| -> Result<Vec<f64>, EvalError> {
        cache.clear();
        // The first half only fills the cache.
        let fwd = |toks: &[u32], cache: &mut KvCache, want: Logits| {
            model
                .model
                .forward(toks, cache, want, threads)
                .map_err(|e| EvalError::Engine(EngineError::from(e)))
        };
        fwd(&chunk[..first], &mut cache, Logits::None)?;
        // Positions first..ctx-1 give the logits of the scored tokens; the last token of the
        // chunk is only a target.
        let mut nll = Vec::with_capacity(ctx - first - 1);
        for start in (first..ctx - 1).step_by(UBATCH) {
            let end = (start + UBATCH).min(ctx - 1);
            let logits = fwd(&chunk[start..end], &mut cache, Logits::All)?;
            for (row, pos) in logits.chunks_exact(vocab).zip(start..end) {
                nll.push(-f64::from(token_logprob(row, chunk[pos + 1], 0).logprob));
            }
        }
        Ok(nll)
    };
    perplexity_with(&tokens, ctx, bos, score, progress)
}

/// Read a text file as `llama-perplexity -f` does: the whole file, less one trailing newline.
///
/// # Errors
///
/// [`EvalError::Io`] when it cannot be read, [`EvalError::Data`] when it is not UTF-8.
pub fn read_text_file(path: &Path) -> Result<String, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let mut text = String::from_utf8(bytes).map_err(|e| EvalError::Data {
        path: path.to_path_buf(),
        msg: format!("not UTF-8 text ({e})"),
    })?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_drop_the_tail_and_start_with_bos() {
        let tokens: Vec<u32> = (10..21).collect(); // 11 tokens
        let c = perplexity_chunks(&tokens, 4, Some(2)).unwrap();
        assert_eq!(c, vec![vec![2, 11, 12, 13], vec![2, 15, 16, 17]]);
        let c = perplexity_chunks(&tokens, 5, None).unwrap();
        assert_eq!(c, vec![vec![10, 11, 12, 13, 14], vec![15, 16, 17, 18, 19]]);
    }

    #[test]
    fn too_short_text_and_small_ctx_are_refused_with_the_numbers() {
        let tokens: Vec<u32> = (0..9).collect();
        let e = perplexity_chunks(&tokens, 5, Some(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("9 tokens") && e.contains("at least 10"), "{e}");
        let e = perplexity_chunks(&tokens, 2, Some(2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 3"), "{e}");
        assert!(perplexity_chunks(&tokens, 3, Some(2)).is_ok());
    }

    #[test]
    fn first_scored_is_half_the_context() {
        assert_eq!(first_scored(512), 256);
        assert_eq!(first_scored(7), 3);
    }

    #[test]
    fn uncertainty_is_llama_cpps_formula() {
        // NLL 1, 2, 3, 4: mean 2.5, mean of squares 7.5, var 1.25, / (n-1) = 5/12.
        let mut s = NllStats::default();
        for x in [1.0, 2.0, 3.0, 4.0] {
            s.add(x);
        }
        let ppl = 2.5f64.exp();
        assert!((s.ppl() - ppl).abs() < 1e-12);
        let want = (1.25f64 / 3.0).sqrt() * ppl;
        assert!(
            (s.ppl_uncertainty() - want).abs() < 1e-12,
            "{}",
            s.ppl_uncertainty()
        );
        // Constant NLL: no spread, no uncertainty.
        let mut c = NllStats::default();
        (0..5).for_each(|_| c.add(0.7));
        assert_eq!(c.ppl_uncertainty(), 0.0);
    }

    #[test]
    fn perplexity_scores_the_second_half_of_each_chunk() {
        // ctx 6: first = 3, tokens 4 and 5 of each chunk scored; a fake model whose NLL of
        // a target is its id / 10, and that checks the chunk it gets.
        let tokens: Vec<u32> = (100..114).collect(); // 14 tokens: 2 chunks, 2 left over
        let mut seen = Vec::new();
        let mut steps = Vec::new();
        let r = perplexity_with(
            &tokens,
            6,
            Some(2),
            |c| {
                seen.push(c.to_vec());
                Ok(c[4..].iter().map(|&t| f64::from(t) / 10.0).collect())
            },
            |p| steps.push(*p),
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                vec![2, 101, 102, 103, 104, 105],
                vec![2, 107, 108, 109, 110, 111]
            ]
        );
        let nll = [10.4, 10.5, 11.0, 11.1];
        let mean = nll.iter().sum::<f64>() / 4.0;
        assert!((r.nll_mean - mean).abs() < 1e-12);
        assert!((r.ppl - mean.exp()).abs() < 1e-9 * r.ppl);
        assert_eq!((r.scored, r.chunks, r.ctx, r.n_tokens), (4, 2, 6, 14));
        assert!((r.chunk_ppl[0] - 10.45f64.exp()).abs() < 1e-9 * r.ppl);
        assert_eq!(r.chunk_ppl[1], r.ppl);
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[1].chunks_done, steps[1].chunks_total), (2, 2));
    }

    #[test]
    fn a_scorer_returning_the_wrong_count_is_an_error() {
        let tokens: Vec<u32> = (0..8).collect();
        let e = perplexity_with(&tokens, 4, None, |_| Ok(vec![1.0; 2]), |_| {}).unwrap_err();
        assert!(e.to_string().contains("expected 1"), "{e}");
    }

    #[test]
    fn read_text_file_drops_one_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "a\nb\n\n").unwrap();
        assert_eq!(read_text_file(&p).unwrap(), "a\nb\n");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        assert!(matches!(read_text_file(&p), Err(EvalError::Data { .. })));
    }
}
