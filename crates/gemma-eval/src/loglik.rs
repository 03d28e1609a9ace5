//! Log-likelihood of continuations after contexts, as lm-evaluation-harness scores them: the
//! summed log-probability of the continuation's tokens, and whether greedy decoding would have
//! produced exactly them. A question's requests share their common context prefix, evaluated
//! once into a KV cache, and all their continuations go through the model in one batch; logits
//! are computed only at the positions a score reads.

use std::sync::Arc;

use gemma_engine::{token_logprob, EngineError, KvCache, LoadedModel, Logits, SeqInput, UBATCH};

use crate::EvalError;

/// A continuation to score after a context (token ids; the context starts with BOS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoglikRequest {
    /// The context.
    pub context: Vec<u32>,
    /// The continuation scored after it.
    pub continuation: Vec<u32>,
}

/// A continuation's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loglik {
    /// Summed natural-log probability of the continuation's tokens.
    pub logprob: f64,
    /// Whether each continuation token is the most likely one at its position.
    pub greedy: bool,
}

/// Scores requests on one model.
#[derive(Debug, Clone)]
pub struct Scorer {
    model: Arc<LoadedModel>,
    threads: usize,
    ctx: usize,
}

/// `tokens` cut from the left so that at most `max` remain (lm-evaluation-harness keeps the
/// end of an over-long input).
fn keep_last(tokens: &[u32], max: usize) -> &[u32] {
    &tokens[tokens.len().saturating_sub(max)..]
}

impl Scorer {
    /// A scorer over `model` with `ctx`-token sequences on `threads` threads.
    pub fn new(model: Arc<LoadedModel>, ctx: usize, threads: usize) -> Scorer {
        Scorer {
            model,
            threads: threads.max(1),
            ctx,
        }
    }

    /// The model.
    pub fn model(&self) -> &Arc<LoadedModel> {
        &self.model
    }

    /// The context of each sequence.
    pub fn ctx(&self) -> usize {
        self.ctx
    }

    /// Threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Scores the requests of one question together: their common context prefix is evaluated
    /// once, then every continuation in one batch (several when they do not fit in one).
    ///
    /// # Errors
    ///
    /// When a request has an empty context or continuation, or the model fails.
    pub fn score(&self, reqs: &[LoglikRequest]) -> Result<Vec<Loglik>, EvalError> {
        if let Some(r) = reqs.iter().find(|r| r.continuation.len() >= self.ctx) {
            return Err(EvalError::Invalid(format!(
                "a continuation of {} tokens does not fit in a {}-token context",
                r.continuation.len(),
                self.ctx
            )));
        }
        if let Some(r) = reqs
            .iter()
            .find(|r| r.context.is_empty() || r.continuation.is_empty())
        {
            return Err(EvalError::Invalid(format!(
                "a log-likelihood request needs a context and a continuation (got {} and {} tokens)",
                r.context.len(),
                r.continuation.len()
            )));
        }
        // Each request's input: context then continuation minus its last token, kept within
        // the context size; the last `continuation.len()` positions give its scores.
        let inputs: Vec<Vec<u32>> = reqs
            .iter()
            .map(|r| {
                let mut all = r.context.clone();
                all.extend_from_slice(&r.continuation[..r.continuation.len() - 1]);
                keep_last(&all, self.ctx).to_vec()
            })
            .collect();
        // The prefix every input shares, evaluated once; it stops before the first scored
        // position of every request (its context's last token), so each request feeds that on.
        let first_scored = reqs
            .iter()
            .zip(&inputs)
            .map(|(r, i)| i.len().saturating_sub(r.continuation.len()))
            .min()
            .unwrap_or(0);
        let shared = common_prefix(&inputs).min(first_scored);
        let m = &self.model.model;
        let mut base = m.new_cache(self.ctx);
        if shared > 0 {
            m.forward(&inputs[0][..shared], &mut base, Logits::None, self.threads)
                .map_err(EngineError::from)?;
        }
        let vocab = self.model.config().vocab_size;
        let mut out = vec![
            Loglik {
                logprob: 0.0,
                greedy: false
            };
            reqs.len()
        ];
        // Batches of requests whose remaining inputs fit in one forward pass together.
        let mut i = 0;
        while i < reqs.len() {
            let mut j = i;
            let mut total = 0;
            while j < reqs.len() && (j == i || total + inputs[j].len() - shared <= UBATCH) {
                total += inputs[j].len() - shared;
                j += 1;
            }
            let mut caches: Vec<KvCache> = (i..j).map(|_| base.clone()).collect();
            let rows: Vec<Vec<f32>> = if j == i + 1 {
                // One request (possibly longer than a batch): micro-batched by the model.
                let want = Logits::Tail(reqs[i].continuation.len());
                vec![m
                    .forward(&inputs[i][shared..], &mut caches[0], want, self.threads)
                    .map_err(EngineError::from)?]
            } else {
                let mut seqs: Vec<SeqInput> = caches
                    .iter_mut()
                    .zip(i..j)
                    .map(|(cache, k)| SeqInput {
                        tokens: &inputs[k][shared..],
                        cache,
                        want: Logits::Tail(reqs[k].continuation.len()),
                    })
                    .collect();
                m.forward_seqs(&mut seqs, self.threads)
                    .map_err(EngineError::from)?
            };
            for (k, l) in (i..j).zip(rows) {
                out[k] = score_rows(&l, &reqs[k].continuation, vocab);
            }
            i = j;
        }
        Ok(out)
    }
}

/// The length of the prefix all of `inputs` share.
fn common_prefix(inputs: &[Vec<u32>]) -> usize {
    let Some(first) = inputs.first() else {
        return 0;
    };
    inputs.iter().skip(1).fold(first.len(), |n, v| {
        n.min(first.iter().zip(v).take_while(|(a, b)| a == b).count())
    })
}

/// The score of `continuation` from the logits rows that predict its tokens.
fn score_rows(rows: &[f32], continuation: &[u32], vocab: usize) -> Loglik {
    let mut logprob = 0.0;
    let mut greedy = true;
    for (row, &id) in rows.chunks_exact(vocab).zip(continuation) {
        let t = token_logprob(row, id, 1);
        logprob += f64::from(t.logprob);
        greedy &= t.top.first().is_some_and(|&(top, _)| top == id);
    }
    Loglik { logprob, greedy }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefixes() {
        assert_eq!(
            common_prefix(&[vec![1, 2, 3], vec![1, 2, 4], vec![1, 2]]),
            2
        );
        assert_eq!(common_prefix(&[vec![1, 2, 3]]), 3);
        assert_eq!(common_prefix(&[vec![5], vec![1]]), 0);
        assert_eq!(keep_last(&[1, 2, 3, 4], 2), &[3, 4]);
        assert_eq!(keep_last(&[1, 2], 5), &[1, 2]);
    }

    #[test]
    fn rows_score_their_continuation() {
        // Two rows of a 3-token vocabulary.
        let rows = [0.0f32, 2.0, 0.0, 1.0, 0.0, 0.0];
        let s = score_rows(&rows, &[1, 0], 3);
        let z0 = (2.0f64 + 2.0f64.exp()).ln();
        let z1 = (1.0f64.exp() + 2.0).ln();
        assert!((s.logprob - ((2.0 - z0) + (1.0 - z1))).abs() < 1e-6);
        assert!(s.greedy);
        assert!(!score_rows(&rows, &[0, 0], 3).greedy);
    }
}
