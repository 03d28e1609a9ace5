//! The forward pass: one transformer block for every Gemma generation, driven by `ModelConfig`.

use crate::attention::AttnSpec;
use crate::matmul::{matmul, matmul_fused, row, Product};
use crate::ops::{geglu, rms_norm_rows, softcap};
use crate::parallel::{cut, for_units, run_parts, split};
use crate::precision::{geglu_table, round_f16_slice};
use crate::steps::{residual, RopeTables};
use crate::{KvCache, Model, ModelError, Precision};

/// Tokens per micro-batch of [`Model::forward`] (measured on the default model: 128 beats 64,
/// 256 and 512 for prompt speed, and keeps the working buffers small).
pub const UBATCH: usize = 128;

/// One sequence's part of a multi-sequence batch ([`Model::forward_seqs`]).
#[derive(Debug)]
pub struct SeqInput<'a> {
    /// Tokens to append at positions `cache.len()..`.
    pub tokens: &'a [u32],
    /// The sequence's cache.
    pub cache: &'a mut KvCache,
    /// Which of its positions need logits.
    pub want: Logits,
}

/// Which positions of a batch need logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Logits {
    /// None (the batch only fills the cache).
    None,
    /// The last position only.
    Last,
    /// Every position of the batch.
    All,
    /// The last `n` positions (all of them when the batch is shorter).
    Tail(usize),
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
            // Positions of this chunk among the last `n` of the whole input.
            let end = (i * UBATCH + chunk.len()) as isize;
            let w = match want {
                Logits::All => Logits::All,
                Logits::Last if last => Logits::Last,
                Logits::Tail(n) => {
                    let first = tokens.len() as isize - n as isize;
                    Logits::Tail((end - first).clamp(0, chunk.len() as isize) as usize)
                }
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
        let mut seqs = [SeqInput {
            tokens,
            cache,
            want,
        }];
        Ok(self
            .forward_seqs(&mut seqs, threads)?
            .pop()
            .unwrap_or_default())
    }

    /// Several sequences' tokens through the model in one batch, at most [`UBATCH`] tokens in
    /// all: their matrix products are shared, and each attends over its own cache. Returns each
    /// sequence's logits as its `want` asks. With the mixed numerics every sequence gets the
    /// bits it would get alone. On error nothing is appended to any cache.
    ///
    /// # Panics
    ///
    /// If the sequences hold more than [`UBATCH`] tokens together.
    pub fn forward_seqs(
        &self,
        seqs: &mut [SeqInput],
        threads: usize,
    ) -> Result<Vec<Vec<f32>>, ModelError> {
        let cfg = &self.config;
        let n: usize = seqs.iter().map(|s| s.tokens.len()).sum();
        assert!(
            n <= UBATCH,
            "forward_seqs: {n} tokens, at most {UBATCH} per batch"
        );
        for s in seqs.iter() {
            self.check_batch(s.tokens, s.cache)?;
        }
        if n == 0 {
            return Ok(seqs.iter().map(|_| Vec::new()).collect());
        }
        // Each sequence's rows of the batch, and every token's position.
        let mut ranges = Vec::with_capacity(seqs.len());
        let mut positions = Vec::with_capacity(n);
        for s in seqs.iter() {
            let start = positions.len();
            positions.extend(s.cache.len()..s.cache.len() + s.tokens.len());
            ranges.push(start..positions.len());
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
        let eps = cfg.rms_norm_eps;

        // x: (n, d) residual stream; embeddings scaled by sqrt(d_model).
        let mut x = vec![0f32; n * d];
        let embed_scale = w.embed_scale;
        let tokens = seqs.iter().flat_map(|s| s.tokens.iter());
        for (t, &tok) in tokens.enumerate() {
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
        let mixed = self.precision == Precision::Mixed;
        let scale = cfg.query_scale();
        let by_token = split(n, threads);
        let mut rope_tables = RopeTables::new(&positions, hd, self.precision);

        // h = attn_norm(x) for the first layer; later layers get theirs with a residual add.
        if let Some(first) = w.layers.first() {
            let parts = cut(&mut x, d, &by_token)
                .into_iter()
                .zip(cut(&mut h, d, &by_token))
                .collect();
            run_parts(threads, parts, |(x, h)| {
                h.copy_from_slice(x);
                rms_norm_rows(h, &first.attn_norm, eps);
            });
        }
        for (l, (lw, lc)) in w.layers.iter().zip(&cfg.layers).enumerate() {
            // Attention.
            let qkv = [(&lw.wq, &mut q), (&lw.wk, &mut k), (&lw.wv, &mut v)];
            let mut products = qkv.map(|(m, out)| Product {
                data: st.data(&m.loc),
                w: m,
                out,
            });
            matmul_fused(&mut products, &h, n, threads, self.precision);
            // Per token: QK-norm and RoPE; with the mixed numerics, f16 keys and values
            // (llama.cpp's f16 KV cache) and queries pre-scaled, then rounded to f16 for K·Q.
            let (table, rope) = rope_tables.get(lc.rope_theta, lc.rope_scaling_factor);
            let parts = cut(&mut q, qd, &by_token)
                .into_iter()
                .zip(cut(&mut k, kvd, &by_token))
                .zip(cut(&mut v, kvd, &by_token))
                .zip(by_token.iter().cloned())
                .collect();
            run_parts(threads, parts, |(((q, k), v), toks)| {
                if let Some(qn) = &lw.q_norm {
                    rms_norm_rows(q, qn, eps);
                }
                if let Some(kn) = &lw.k_norm {
                    rms_norm_rows(k, kn, eps);
                }
                for (i, t) in toks.enumerate() {
                    let cs = &table[t * hd / 2..(t + 1) * hd / 2];
                    for head in q[i * qd..(i + 1) * qd].chunks_exact_mut(hd) {
                        rope(head, cs);
                    }
                    for head in k[i * kvd..(i + 1) * kvd].chunks_exact_mut(hd) {
                        rope(head, cs);
                    }
                }
                if mixed {
                    round_f16_slice(k);
                    round_f16_slice(v);
                    q.iter_mut().for_each(|x| *x *= scale);
                    round_f16_slice(q);
                }
            });
            // Each sequence keeps its keys and values and attends over its own cache.
            for (sq, r) in seqs.iter_mut().zip(&ranges) {
                if r.is_empty() {
                    continue; // A sequence with no tokens in this batch.
                }
                let cache = &mut *sq.cache;
                cache.k[l].extend_from_slice(&k[r.start * kvd..r.end * kvd]);
                cache.v[l].extend_from_slice(&v[r.start * kvd..r.end * kvd]);
                let spec = AttnSpec {
                    keys: &cache.k[l],
                    vals: &cache.v[l],
                    base: cache.base[l],
                    head_dim: hd,
                    kv_dim: kvd,
                    group: cfg.num_attention_heads / cfg.num_key_value_heads,
                    window: lc.sliding_window,
                    scale: if mixed { 1.0 } else { scale },
                    softcap: cfg.attn_logit_softcapping,
                    ggml: mixed,
                };
                let (qs, out) = (
                    &q[r.start * qd..r.end * qd],
                    &mut attn[r.start * qd..r.end * qd],
                );
                spec.attend_batch(qs, positions[r.start], threads, out);
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
            // x += post_attn_norm(o); h = ffn_norm(x).
            residual(
                (&mut x, &mut o, &mut h),
                d,
                &by_token,
                threads,
                lw.post_attn_norm.as_deref(),
                Some(&lw.ffn_norm),
                eps,
            );

            // Feed-forward (GeGLU).
            let gate_up = [(&lw.w_gate, &mut gate), (&lw.w_up, &mut up)];
            let mut products = gate_up.map(|(m, out)| Product {
                data: st.data(&m.loc),
                w: m,
                out,
            });
            matmul_fused(&mut products, &h, n, threads, self.precision);
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
            // x += post_ffn_norm(o); h = the next layer's attn_norm(x).
            residual(
                (&mut x, &mut o, &mut h),
                d,
                &by_token,
                threads,
                lw.post_ffn_norm.as_deref(),
                w.layers.get(l + 1).map(|nl| &nl.attn_norm[..]),
                eps,
            );
        }
        for sq in seqs.iter_mut() {
            sq.cache.commit(sq.tokens.len());
        }

        // The rows whose logits are wanted, normed and projected together.
        let wanted: Vec<usize> = seqs
            .iter()
            .zip(&ranges)
            .flat_map(|(sq, r)| match sq.want {
                _ if r.is_empty() => 0..0,
                Logits::None => 0..0,
                Logits::Last => r.end - 1..r.end,
                Logits::All => r.clone(),
                Logits::Tail(k) => r.end - k.min(r.len())..r.end,
            })
            .collect();
        let mut rows = Vec::with_capacity(wanted.len() * d);
        for &t in &wanted {
            rows.extend_from_slice(&x[t * d..(t + 1) * d]);
        }
        let vocab = cfg.vocab_size;
        let mut logits = vec![0f32; wanted.len() * vocab];
        if !wanted.is_empty() {
            rms_norm_rows(&mut rows, &w.output_norm, eps);
            matmul(
                st.data(&w.output.loc),
                &w.output,
                &rows,
                wanted.len(),
                &mut logits,
                threads,
                self.precision,
            );
            if let Some(cap) = cfg.final_logit_softcapping {
                softcap(&mut logits, cap);
            }
        }
        let mut out = Vec::with_capacity(seqs.len());
        let mut at = 0;
        for sq in seqs.iter() {
            let rows = match sq.want {
                _ if sq.tokens.is_empty() => 0,
                Logits::None => 0,
                Logits::Last => 1,
                Logits::All => sq.tokens.len(),
                Logits::Tail(k) => k.min(sq.tokens.len()),
            };
            out.push(logits[at * vocab..(at + rows) * vocab].to_vec());
            at += rows;
        }
        Ok(out)
    }
}
