//! The forward pass: one transformer block for every Gemma generation, driven by `ModelConfig`.

use gemma_kernels::{axpy_f32, dot_f32};

use crate::ggml_attn;
use crate::matmul::{matmul, row};
use crate::ops::{
    geglu, rms_norm, rms_norm_rows, rope_apply, rope_apply_fused, rope_cos_sin, softcap, softmax,
    RopeAngles,
};
use crate::parallel::for_units;
use crate::precision::{geglu_table, round_f16_slice};
use crate::{KvCache, Model, ModelError, Precision};

/// Applies RoPE to one head from its `(cos, sin)` table.
type RopeFn = fn(&mut [f32], &[(f32, f32)]);

/// Tokens per micro-batch of [`Model::forward`] (measured on the default model: 128 beats 64,
/// 256 and 512 for prompt speed, and keeps the working buffers small).
pub const UBATCH: usize = 128;

/// Which positions of a batch need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// None (the batch only fills the cache).
    None,
    /// The last position only.
    Last,
    /// Every position of the batch.
    All,
}

impl Model {
    /// Run `tokens` at positions `cache.len()..` through the model, appending to `cache`.
    ///
    /// Returns the logits of the positions `want` asks for, `vocab_size` values each, after
    /// any final soft-cap. On error nothing is appended to the cache. Long inputs are processed
    /// in micro-batches of [`UBATCH`] tokens (working buffers stay small and in cache); with the
    /// mixed precision the results do not depend on the split.
    pub fn forward(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        want: Logits,
        threads: usize,
    ) -> Result<Vec<f32>, ModelError> {
        if tokens.len() <= UBATCH {
            return self.forward_batch(tokens, cache, want, threads);
        }
        self.check_batch(tokens, cache)?;
        let mut out = Vec::new();
        let chunks: Vec<&[u32]> = tokens.chunks(UBATCH).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let last = i + 1 == chunks.len();
            let w = match want {
                Logits::All => Logits::All,
                Logits::Last if last => Logits::Last,
                _ => Logits::None,
            };
            out.extend(self.forward_batch(chunk, cache, w, threads)?);
        }
        Ok(out)
    }

    /// The checks of [`Model::forward`] on the whole input, before anything is appended.
    fn check_batch(&self, tokens: &[u32], cache: &KvCache) -> Result<(), ModelError> {
        let cfg = &self.config;
        if tokens.len() > cache.remaining() {
            return Err(ModelError::ContextFull {
                ctx: cache.capacity(),
                used: cache.len(),
                needed: tokens.len(),
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(ModelError::BadToken {
                id: bad,
                vocab_size: cfg.vocab_size,
            });
        }
        Ok(())
    }

    /// One batch through the model (see [`Model::forward`]).
    fn forward_batch(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        want: Logits,
        threads: usize,
    ) -> Result<Vec<f32>, ModelError> {
        let cfg = &self.config;
        let n = tokens.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        if n > cache.remaining() {
            return Err(ModelError::ContextFull {
                ctx: cache.capacity(),
                used: cache.len(),
                needed: n,
            });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= cfg.vocab_size) {
            return Err(ModelError::BadToken {
                id: bad,
                vocab_size: cfg.vocab_size,
            });
        }
        let st = &self.storage;
        let w = &self.weights;
        let (d, hd, qd, kvd, ff) = (
            cfg.hidden_size,
            cfg.head_dim,
            cfg.q_dim(),
            cfg.kv_dim(),
            cfg.intermediate_size,
        );
        let pos0 = cache.len();
        let eps = cfg.rms_norm_eps;

        // x: (n, d) residual stream; embeddings scaled by sqrt(d_model).
        let mut x = vec![0f32; n * d];
        let embed_scale = w.embed_scale;
        for (t, &tok) in tokens.iter().enumerate() {
            let xt = &mut x[t * d..(t + 1) * d];
            row(st.data(&w.token_embd.loc), &w.token_embd, tok as usize, xt);
            xt.iter_mut().for_each(|v| *v *= embed_scale);
        }

        let mut h = vec![0f32; n * d];
        let mut q = vec![0f32; n * qd];
        let mut k = vec![0f32; n * kvd];
        let mut v = vec![0f32; n * kvd];
        let mut attn = vec![0f32; n * qd];
        let mut o = vec![0f32; n * d];
        let mut gate = vec![0f32; n * ff];
        let mut up = vec![0f32; n * ff];
        let mut cs = Vec::with_capacity(hd / 2);

        for (l, (lw, lc)) in w.layers.iter().zip(&cfg.layers).enumerate() {
            // Attention.
            h.copy_from_slice(&x);
            rms_norm_rows(&mut h, &lw.attn_norm, eps);
            matmul(
                st.data(&lw.wq.loc),
                &lw.wq,
                &h,
                n,
                &mut q,
                threads,
                self.precision,
            );
            matmul(
                st.data(&lw.wk.loc),
                &lw.wk,
                &h,
                n,
                &mut k,
                threads,
                self.precision,
            );
            matmul(
                st.data(&lw.wv.loc),
                &lw.wv,
                &h,
                n,
                &mut v,
                threads,
                self.precision,
            );
            let (how, rope): (_, RopeFn) = match self.precision {
                Precision::Mixed => (RopeAngles::Ggml, rope_apply_fused),
                Precision::F32 => (RopeAngles::Reference, rope_apply),
            };
            for t in 0..n {
                rope_cos_sin(
                    pos0 + t,
                    lc.rope_theta,
                    lc.rope_scaling_factor,
                    hd,
                    how,
                    &mut cs,
                );
                for head in q[t * qd..(t + 1) * qd].chunks_exact_mut(hd) {
                    if let Some(qn) = &lw.q_norm {
                        rms_norm(head, qn, eps);
                    }
                    rope(head, &cs);
                }
                for head in k[t * kvd..(t + 1) * kvd].chunks_exact_mut(hd) {
                    if let Some(kn) = &lw.k_norm {
                        rms_norm(head, kn, eps);
                    }
                    rope(head, &cs);
                }
            }
            let mixed = self.precision == Precision::Mixed;
            if mixed {
                // llama.cpp: f16 KV cache; queries pre-scaled, then rounded to f16 for K·Q.
                round_f16_slice(&mut k);
                round_f16_slice(&mut v);
                let scale = cfg.query_scale();
                q.iter_mut().for_each(|x| *x *= scale);
                round_f16_slice(&mut q);
            }
            cache.k[l].extend_from_slice(&k);
            cache.v[l].extend_from_slice(&v);
            let spec = AttnSpec {
                keys: &cache.k[l],
                vals: &cache.v[l],
                base: cache.base[l],
                head_dim: hd,
                kv_dim: kvd,
                group: cfg.num_attention_heads / cfg.num_key_value_heads,
                window: lc.sliding_window,
                scale: if mixed { 1.0 } else { cfg.query_scale() },
                softcap: cfg.attn_logit_softcapping,
                ggml: mixed,
            };
            if n == 1 {
                // One token: spread the heads over threads.
                for_units(&mut attn, hd, threads, |heads, out| {
                    let mut scratch = Scratch::default();
                    for (i, head) in heads.enumerate() {
                        let qh = &q[head * hd..(head + 1) * hd];
                        spec.attend(qh, head, pos0, &mut scratch, &mut out[i * hd..(i + 1) * hd]);
                    }
                });
            } else if spec.ggml && spec.softcap.is_none() {
                // A batch with llama.cpp's numerics: tokens spread over threads; the heads of a
                // KV head, for two tokens at a time, read its keys and values together.
                let group = spec.group;
                let n_heads = cfg.num_attention_heads;
                let cache_view = ggml_attn::Cache {
                    keys: spec.keys,
                    vals: spec.vals,
                    kv_dim: kvd,
                    base: spec.base,
                };
                for_units(&mut attn, qd, threads, |toks, out| {
                    let mut scratch = ggml_attn::Scratch::default();
                    for t0 in toks.clone().step_by(2) {
                        let tn = (t0 + 2).min(toks.end);
                        let rows = &mut out[(t0 - toks.start) * qd..(tn - toks.start) * qd];
                        let mut heads: Vec<Option<&mut [f32]>> =
                            rows.chunks_exact_mut(hd).map(Some).collect();
                        for g in 0..cfg.num_key_value_heads {
                            let mut queries = Vec::with_capacity(2 * group);
                            let mut outs = Vec::with_capacity(2 * group);
                            for t in t0..tn {
                                let pos = pos0 + t;
                                for head in g * group..(g + 1) * group {
                                    queries.push(ggml_attn::Query {
                                        q: &q[t * qd + head * hd..][..hd],
                                        start: spec.window_start(pos),
                                        pos,
                                    });
                                    let slot = (t - t0) * n_heads + head;
                                    outs.push(heads[slot].take().expect("each head once"));
                                }
                            }
                            ggml_attn::attend_group(
                                &cache_view,
                                g * hd,
                                &queries,
                                &mut scratch,
                                &mut outs,
                            );
                        }
                    }
                });
            } else {
                // A batch: spread the tokens over threads.
                for_units(&mut attn, qd, threads, |toks, out| {
                    let mut scratch = Scratch::default();
                    for (i, t) in toks.enumerate() {
                        for head in 0..cfg.num_attention_heads {
                            let qh = &q[t * qd + head * hd..][..hd];
                            let dst = &mut out[i * qd + head * hd..][..hd];
                            spec.attend(qh, head, pos0 + t, &mut scratch, dst);
                        }
                    }
                });
            }
            matmul(
                st.data(&lw.wo.loc),
                &lw.wo,
                &attn,
                n,
                &mut o,
                threads,
                self.precision,
            );
            if let Some(pn) = &lw.post_attn_norm {
                rms_norm_rows(&mut o, pn, eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);

            // Feed-forward (GeGLU).
            h.copy_from_slice(&x);
            rms_norm_rows(&mut h, &lw.ffn_norm, eps);
            matmul(
                st.data(&lw.w_gate.loc),
                &lw.w_gate,
                &h,
                n,
                &mut gate,
                threads,
                self.precision,
            );
            matmul(
                st.data(&lw.w_up.loc),
                &lw.w_up,
                &h,
                n,
                &mut up,
                threads,
                self.precision,
            );
            // Element-wise, so spread over threads by tokens.
            let precision = self.precision;
            for_units(&mut gate, ff, threads.min(n), |toks, g| {
                let u = &up[toks.start * ff..toks.end * ff];
                match precision {
                    Precision::Mixed => geglu_table(g, u),
                    Precision::F32 => geglu(g, u),
                }
            });
            matmul(
                st.data(&lw.w_down.loc),
                &lw.w_down,
                &gate,
                n,
                &mut o,
                threads,
                self.precision,
            );
            if let Some(pn) = &lw.post_ffn_norm {
                rms_norm_rows(&mut o, pn, eps);
            }
            x.iter_mut().zip(&o).for_each(|(a, b)| *a += b);
        }
        cache.commit(n);

        let rows = match want {
            Logits::None => return Ok(Vec::new()),
            Logits::Last => &mut x[(n - 1) * d..],
            Logits::All => &mut x[..],
        };
        let n_out = rows.len() / d;
        rms_norm_rows(rows, &w.output_norm, eps);
        let mut logits = vec![0f32; n_out * cfg.vocab_size];
        matmul(
            st.data(&w.output.loc),
            &w.output,
            rows,
            n_out,
            &mut logits,
            threads,
            self.precision,
        );
        if let Some(cap) = cfg.final_logit_softcapping {
            softcap(&mut logits, cap);
        }
        Ok(logits)
    }
}

/// What one layer's attention needs, shared by every query head.
struct AttnSpec<'a> {
    /// Keys and values of positions `base..`.
    keys: &'a [f32],
    vals: &'a [f32],
    base: usize,
    head_dim: usize,
    kv_dim: usize,
    group: usize,
    window: Option<usize>,
    scale: f32,
    softcap: Option<f32>,
    /// llama.cpp's numerics: f16 dot products and its softmax (see `ggml_attn`).
    ggml: bool,
}

impl AttnSpec<'_> {
    /// The first position a query at `pos` sees: a local layer sees the last `window`
    /// positions, itself included.
    fn window_start(&self, pos: usize) -> usize {
        self.window.map_or(0, |w| (pos + 1).saturating_sub(w))
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
