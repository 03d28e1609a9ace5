//! One layer's attention over the KV cache for a batch of queries, spread over threads.

use gemma_kernels::{axpy_f32, dot_f32};

use crate::ggml_attn;
use crate::ops::{softcap, softmax};
use crate::parallel::{cut, for_units, run_parts, split_by_cost};
use crate::precision::round_f16_slice;

/// What one layer's attention needs, shared by every query head.
pub(crate) struct AttnSpec<'a> {
    /// Keys and values of positions `base..`.
    pub keys: &'a [f32],
    pub vals: &'a [f32],
    pub base: usize,
    pub head_dim: usize,
    pub kv_dim: usize,
    /// Query heads per KV head.
    pub group: usize,
    pub window: Option<usize>,
    pub scale: f32,
    pub softcap: Option<f32>,
    /// llama.cpp's numerics: f16 dot products and its softmax (see `ggml_attn`).
    pub ggml: bool,
}

impl AttnSpec<'_> {
    /// The first position a query at `pos` sees: a local layer sees the last `window`
    /// positions, itself included.
    pub fn window_start(&self, pos: usize) -> usize {
        self.window.map_or(0, |w| (pos + 1).saturating_sub(w))
    }

    /// Attention of every query head of the tokens at positions `pos0..` (`q`: one row of
    /// `q_dim` per token) into `out` (the same shape). One token spreads its heads over the
    /// threads; a batch spreads its tokens, in ranges of equal work (later tokens see more
    /// positions).
    pub fn attend_batch(&self, q: &[f32], pos0: usize, threads: usize, out: &mut [f32]) {
        let hd = self.head_dim;
        let n_heads = self.group * self.kv_dim / hd;
        let qd = n_heads * hd;
        let n = q.len() / qd;
        if n == 1 {
            return for_units(out, hd, threads, |heads, out| {
                let mut scratch = Scratch::default();
                for (i, head) in heads.enumerate() {
                    let qh = &q[head * hd..(head + 1) * hd];
                    self.attend(qh, head, pos0, &mut scratch, &mut out[i * hd..(i + 1) * hd]);
                }
            });
        }
        let grouped = self.ggml && self.softcap.is_none();
        let cost = |t: usize| (pos0 + t + 1 - self.window_start(pos0 + t)) as u64;
        let ranges = split_by_cost(n, threads, if grouped { 2 } else { 1 }, cost);
        let parts = cut(out, qd, &ranges)
            .into_iter()
            .zip(ranges.iter().cloned())
            .collect();
        if !grouped {
            return run_parts(threads, parts, |(out, toks)| {
                let mut scratch = Scratch::default();
                for (i, t) in toks.enumerate() {
                    for head in 0..n_heads {
                        let qh = &q[t * qd + head * hd..][..hd];
                        let dst = &mut out[i * qd + head * hd..][..hd];
                        self.attend(qh, head, pos0 + t, &mut scratch, dst);
                    }
                }
            });
        }
        // llama.cpp's numerics: the heads of a KV head, for two tokens at a time, read its
        // keys and values together.
        let cache = ggml_attn::Cache {
            keys: self.keys,
            vals: self.vals,
            kv_dim: self.kv_dim,
            base: self.base,
        };
        let group = self.group;
        run_parts(threads, parts, |(out, toks)| {
            let mut scratch = ggml_attn::Scratch::default();
            for t0 in toks.clone().step_by(2) {
                let tn = (t0 + 2).min(toks.end);
                let rows = &mut out[(t0 - toks.start) * qd..(tn - toks.start) * qd];
                let mut heads: Vec<Option<&mut [f32]>> =
                    rows.chunks_exact_mut(hd).map(Some).collect();
                for g in 0..self.kv_dim / hd {
                    let mut queries = Vec::with_capacity(2 * group);
                    let mut outs = Vec::with_capacity(2 * group);
                    for t in t0..tn {
                        let pos = pos0 + t;
                        for head in g * group..(g + 1) * group {
                            queries.push(ggml_attn::Query {
                                q: &q[t * qd + head * hd..][..hd],
                                start: self.window_start(pos),
                                pos,
                            });
                            let slot = (t - t0) * n_heads + head;
                            outs.push(heads[slot].take().expect("each head once"));
                        }
                    }
                    ggml_attn::attend_group(&cache, g * hd, &queries, &mut scratch, &mut outs);
                }
            }
        });
    }

    /// Attention of query head `head` at absolute position `pos` over the cached positions it may see.
    fn attend(&self, q: &[f32], head: usize, pos: usize, scratch: &mut Scratch, out: &mut [f32]) {
        let hd = self.head_dim;
        let off = (head / self.group) * hd;
        let start = self.window_start(pos);
        if self.ggml && self.softcap.is_none() {
            return ggml_attn::attend(
                q,
                self.keys,
                self.vals,
                self.kv_dim,
                off,
                self.base,
                start,
                pos,
                &mut scratch.ggml,
                out,
            );
        }
        let scores = &mut scratch.scores;
        scores.clear();
        debug_assert!(start >= self.base, "a position the cache dropped is needed");
        for j in start..=pos {
            let kj = &self.keys[(j - self.base) * self.kv_dim + off..][..hd];
            scores.push(dot_f32(q, kj) * self.scale);
        }
        if let Some(cap) = self.softcap {
            softcap(scores, cap);
        }
        softmax(scores);
        if self.ggml {
            round_f16_slice(scores);
        }
        out.fill(0.0);
        for (j, &p) in (start..=pos).zip(scores.iter()) {
            axpy_f32(
                p,
                &self.vals[(j - self.base) * self.kv_dim + off..][..hd],
                out,
            );
        }
    }
}

/// Per-thread attention buffers.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    ggml: ggml_attn::Scratch,
}
