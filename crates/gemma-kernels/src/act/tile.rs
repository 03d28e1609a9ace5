//! Prompt processing as a tiled matrix product: a tile of weight rows against a batch of tokens
//! whose quantized activations are prepared once per product for the kernel level.
//!
//! Every level gives the bits of one [`crate::dot_row_act`] per (row, token) at the AVX2 level (the
//! AVX-512 kernels keep ggml's lanes and f32 steps, two tokens per register), so a prompt's
//! results do not depend on the level above scalar, on the batch, or on the tiling.

use std::ops::Range;

use crate::act::batch::{dot_q8_0_tokens, dot_tokens};
use crate::act::{act_bytes, act_type, check_dot, dot_row_act_scalar, ActType};
use crate::level::{active_level, KernelLevel};
use crate::DType;

/// Tokens per AVX-512 kernel call (four pairs).
const GROUP: usize = 8;
/// Rows per AVX-512 kernel call.
const ROWS: usize = 4;

/// The quantized activations of `n` tokens, ready for [`dot_rows_tokens`].
pub struct TokenBatch {
    act: ActType,
    level: KernelLevel,
    n: usize,
    /// Bytes of one token's activations.
    qb: usize,
    /// The quantized rows, back to back.
    xq: Vec<u8>,
    /// Q8_0: the f32 block scales, back to back.
    yd: Vec<f32>,
    /// AVX-512 Q8_0: pairs of tokens interleaved by block, padded to whole groups.
    pairs: Vec<Line>,
}

/// 64 bytes on a 64-byte boundary: one 512-bit register's worth of prepared activations.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u8; 64]);

impl TokenBatch {
    /// Quantizes `n` rows of `x` for weights of type `w` and prepares them for the active
    /// kernel level.
    ///
    /// # Panics
    ///
    /// If `x` is not `n` whole rows of blocks of `w`.
    pub fn new(w: DType, x: &[f32], n: usize) -> Self {
        assert!(
            n > 0 && x.len().is_multiple_of(n),
            "TokenBatch: {} values for {n} tokens",
            x.len()
        );
        let mut batch = Self::empty(active_level(), w, n, x.len() / n);
        let all = [Range { start: 0, end: n }];
        batch.parts(&all).remove(0).fill(w, x);
        batch
    }

    /// Prepares `n` rows already quantized for weights of type `w` (by [`crate::quantize_act`])
    /// for kernel level `level` (tests use it to check every level).
    ///
    /// # Panics
    ///
    /// If `xq` is not `n` rows of whole activation blocks, or the CPU cannot run `level`.
    pub fn from_quantized(level: KernelLevel, w: DType, xq: Vec<u8>, n: usize) -> Self {
        let act = act_type(w);
        assert!(
            n > 0 && xq.len().is_multiple_of(n) && (xq.len() / n).is_multiple_of(act.block_bytes()),
            "TokenBatch: {} bytes are not {n} rows of {act} blocks",
            xq.len()
        );
        let cols = xq.len() / n / act.block_bytes() * act.block_len();
        let mut batch = Self::empty(level, w, n, cols);
        batch.xq = xq;
        let all = [Range { start: 0, end: n }];
        batch.parts(&all).remove(0).prepare();
        batch
    }

    /// A batch of `n` tokens of `cols` activations each for weights of type `w`, at kernel
    /// level `level`, to be filled through [`TokenBatch::parts`] (one part per thread).
    ///
    /// # Panics
    ///
    /// If `n` is 0, `cols` is not a whole number of activation blocks, or the CPU cannot run
    /// `level`.
    pub fn empty(level: KernelLevel, w: DType, n: usize, cols: usize) -> Self {
        assert!(
            level.is_supported(),
            "TokenBatch: this CPU cannot run {}",
            level.name()
        );
        let act = act_type(w);
        assert!(
            n > 0 && cols.is_multiple_of(act.block_len()),
            "TokenBatch: {n} tokens of {cols} values are not whole {act} blocks"
        );
        let qb = act_bytes(w, cols);
        let nb = qb / act.block_bytes();
        let yd = if act == ActType::Q8_0 {
            vec![0f32; n * nb]
        } else {
            Vec::new()
        };
        let lines = match (level, act) {
            (KernelLevel::Avx512, ActType::Q8_0) => 3,
            (KernelLevel::Avx512, ActType::Q8_K) => K_LINES,
            _ => 0,
        };
        let padded = n.div_ceil(GROUP) * GROUP;
        TokenBatch {
            act,
            level,
            n,
            qb,
            xq: vec![0u8; n * qb],
            yd,
            pairs: vec![Line([0; 64]); padded / 2 * nb * lines],
        }
    }

    /// Writable parts of the batch for consecutive token ranges covering `0..n` in order,
    /// each starting at an even token (so that no token pair is split).
    ///
    /// # Panics
    ///
    /// If the ranges do not cover `0..n` in order or one starts at an odd token.
    pub fn parts(&mut self, ranges: &[Range<usize>]) -> Vec<BatchPart<'_>> {
        assert_eq!(
            ranges.first().map(|r| r.start),
            Some(0),
            "TokenBatch::parts: start"
        );
        assert_eq!(
            ranges.last().map(|r| r.end),
            Some(self.n),
            "TokenBatch::parts: end"
        );
        assert!(
            ranges.windows(2).all(|w| w[0].end == w[1].start)
                && ranges
                    .iter()
                    .all(|r| r.start.is_multiple_of(2) || r.is_empty()),
            "TokenBatch::parts: ranges must be consecutive and start at even tokens"
        );
        let nb = self.qb / self.act.block_bytes();
        // Prepared lines per token pair (0 where the level needs none).
        let per_pair = self.pairs.len() / (self.n.div_ceil(GROUP) * GROUP / 2);
        let (mut xq, mut yd, mut pairs) = (&mut self.xq[..], &mut self.yd[..], &mut self.pairs[..]);
        let mut out = Vec::with_capacity(ranges.len());
        for r in ranges {
            let (x, xt) = std::mem::take(&mut xq).split_at_mut(r.len() * self.qb);
            xq = xt;
            let ny = if yd.is_empty() { 0 } else { r.len() * nb };
            let (y, yt) = std::mem::take(&mut yd).split_at_mut(ny);
            yd = yt;
            let np = (r.len().div_ceil(2) * per_pair).min(pairs.len());
            let (p, pt) = std::mem::take(&mut pairs).split_at_mut(np);
            pairs = pt;
            out.push(BatchPart {
                act: self.act,
                n: r.len(),
                nb,
                xq: x,
                yd: y,
                pairs: p,
            });
        }
        out
    }

    /// The number of tokens.
    pub fn tokens(&self) -> usize {
        self.n
    }

    /// Token `t`'s quantized activations.
    pub fn token(&self, t: usize) -> &[u8] {
        &self.xq[t * self.qb..(t + 1) * self.qb]
    }
}

/// The tokens of one range of a [`TokenBatch`], to be filled by one thread.
pub struct BatchPart<'a> {
    act: ActType,
    n: usize,
    nb: usize,
    xq: &'a mut [u8],
    yd: &'a mut [f32],
    pairs: &'a mut [Line],
}

impl BatchPart<'_> {
    /// Quantizes this part's tokens (`x`: their rows of f32 activations, back to back) for
    /// weights of type `w` (the type the batch was made for, or one with the same activation
    /// format) and prepares them.
    ///
    /// # Panics
    ///
    /// If `w` needs another activation format or `x` does not hold this part's tokens.
    pub fn fill(mut self, w: DType, x: &[f32]) {
        assert_eq!(
            act_type(w),
            self.act,
            "BatchPart::fill: {w} needs other activations"
        );
        if let Some(cols) = x.len().checked_div(self.n) {
            assert_eq!(
                x.len(),
                cols * self.n,
                "BatchPart::fill: {} values",
                x.len()
            );
            let qb = self.xq.len() / self.n;
            for (xt, qt) in x.chunks_exact(cols).zip(self.xq.chunks_exact_mut(qb)) {
                crate::quantize_act(w, xt, qt);
            }
        }
        self.prepare();
    }

    /// Block scales and (at the AVX-512 level) pair layout from the quantized rows.
    fn prepare(&mut self) {
        if self.act == ActType::Q8_0 {
            for (d, b) in self.yd.iter_mut().zip(self.xq.chunks_exact(34)) {
                *d = half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
            }
        }
        if self.pairs.is_empty() {
            return;
        }
        match self.act {
            ActType::Q8_0 => q8_0_pairs(self.xq, self.yd, self.n, self.nb, self.pairs),
            ActType::Q8_K => q8_k_pairs(self.xq, self.n, self.nb, self.pairs),
            _ => {}
        }
    }
}

/// Prepared Q8_0 blocks of token pairs `(2p, 2p + 1)` into `out` (a missing last token is
/// zeros): per block, both tokens' 32 quants, then per lane of 4 quants `-128 ×` their sum
/// (i32), then each token's scale in its 8 lanes (f32).
fn q8_0_pairs(xq: &[u8], yd: &[f32], n: usize, nb: usize, out: &mut [Line]) {
    for t in 0..n {
        let (p, half) = (t / 2, t % 2);
        for j in 0..nb {
            let src = &xq[(t * nb + j) * 34 + 2..][..32];
            let at = (p * nb + j) * 3;
            out[at].0[32 * half..32 * half + 32].copy_from_slice(src);
            for k in 0..8 {
                let sum: i32 = src[4 * k..4 * k + 4].iter().map(|&b| b as i8 as i32).sum();
                let lane = 4 * (8 * half + k)..4 * (8 * half + k) + 4;
                out[at + 1].0[lane.clone()].copy_from_slice(&(-128 * sum).to_le_bytes());
                out[at + 2].0[lane].copy_from_slice(&yd[t * nb + j].to_le_bytes());
            }
        }
    }
}

/// Lines of one prepared Q8_K block of a token pair.
const K_LINES: usize = 11;

/// Prepared Q8_K blocks of token pairs (a missing last token is zeros), `K_LINES` lines per
/// block: 8 lines of quants (32-byte chunk `c` of each token side by side), `d` in 8 lanes
/// per token, the 16 sums of 16 of each token, then the 8 sums of 32 of each token (i16) and
/// `-d` in 4 lanes per token.
fn q8_k_pairs(xq: &[u8], n: usize, nb: usize, out: &mut [Line]) {
    for t in 0..n {
        let (p, half) = (t / 2, t % 2);
        for j in 0..nb {
            let src = &xq[(t * nb + j) * 292..][..292];
            let at = (p * nb + j) * K_LINES;
            for c in 0..8 {
                out[at + c].0[32 * half..32 * half + 32].copy_from_slice(&src[4 + 32 * c..][..32]);
            }
            let d = f32::from_le_bytes([src[0], src[1], src[2], src[3]]);
            for k in 0..8 {
                let lane = 4 * (8 * half + k);
                out[at + 8].0[lane..lane + 4].copy_from_slice(&d.to_le_bytes());
            }
            out[at + 9].0[32 * half..32 * half + 32].copy_from_slice(&src[260..292]);
            let sum16 = |i: usize| i16::from_le_bytes([src[260 + 2 * i], src[261 + 2 * i]]);
            for i in 0..8 {
                let s32 = sum16(2 * i).wrapping_add(sum16(2 * i + 1));
                let at16 = 16 * half + 2 * i;
                out[at + 10].0[at16..at16 + 2].copy_from_slice(&s32.to_le_bytes());
            }
            for k in 0..4 {
                let lane = 32 + 16 * half + 4 * k;
                out[at + 10].0[lane..lane + 4].copy_from_slice(&(-d).to_le_bytes());
            }
        }
    }
}

/// `out[t * rows.len() + k]` = the dot of stored row `rows[k]` (type `w`) with token `t` of
/// `batch` (token by token, each token's results contiguous):
/// the bits of [`crate::dot_row_act`] (or, at the scalar level, of [`dot_row_act_scalar`]).
///
/// Q5_0 rows are taken repacked as Q8_0 (see [`crate::repack_q8_0`]), so pass `w` = Q8_0.
///
/// # Panics
///
/// If `batch` was not made for the activation type of `w`, a row does not match its token
/// width, or `out` is not `rows.len() * batch.tokens()` long.
pub fn dot_rows_tokens(w: DType, rows: &[&[u8]], batch: &TokenBatch, out: &mut [f32]) {
    let n = batch.n;
    assert_eq!(
        act_type(w),
        batch.act,
        "dot_rows_tokens: {w} rows need {} activations",
        act_type(w)
    );
    assert_eq!(out.len(), rows.len() * n, "dot_rows_tokens: output length");
    if rows.is_empty() {
        return;
    }
    for r in rows {
        check_dot(w, r.len(), batch.qb);
    }
    let nr = rows.len();
    match batch.level {
        KernelLevel::Scalar => {
            for (k, r) in rows.iter().enumerate() {
                for t in 0..n {
                    out[t * nr + k] = dot_row_act_scalar(w, r, batch.token(t));
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        KernelLevel::Avx512 if w == DType::Q8_0 => q8_0_avx512(rows, batch, out),
        #[cfg(target_arch = "x86_64")]
        KernelLevel::Avx512 if matches!(w, DType::Q4_K | DType::Q6_K) => {
            k_avx512(w, rows, batch, out)
        }
        _ => {
            let mut col = vec![0f32; n];
            for (k, r) in rows.iter().enumerate() {
                if w == DType::Q8_0 {
                    dot_q8_0_tokens(r, &batch.xq, &batch.yd, &mut col);
                } else {
                    dot_tokens(w, r, &batch.xq, &mut col);
                }
                for (t, v) in col.iter().enumerate() {
                    out[t * nr + k] = *v;
                }
            }
        }
    }
}

/// Writes a kernel's `res[t][k]` (`R` rows × 8 tokens) for the first `tn` tokens and `rows`
/// rows to `out[t * stride + k]`; a whole group of rows is one fixed-size copy per token.
#[cfg(target_arch = "x86_64")]
#[inline]
fn put_by_token<const R: usize>(
    res: &[[f32; R]; GROUP],
    tn: usize,
    rows: usize,
    out: &mut [f32],
    stride: usize,
) {
    for (t, rt) in res.iter().enumerate().take(tn) {
        let dst = &mut out[t * stride..];
        if rows >= R {
            dst[..R].copy_from_slice(rt);
        } else {
            dst[..rows].copy_from_slice(&rt[..rows]);
        }
    }
}

/// The AVX-512 Q8_0 tiles: token groups outermost (their prepared blocks stay in L1), rows in
/// fours (a short last group repeats its last row).
#[cfg(target_arch = "x86_64")]
fn q8_0_avx512(rows: &[&[u8]], batch: &TokenBatch, out: &mut [f32]) {
    let nb = batch.qb / 34;
    for (g, pairs) in batch.pairs.chunks_exact(GROUP / 2 * nb * 3).enumerate() {
        let t0 = g * GROUP;
        let tn = (batch.n - t0).min(GROUP);
        for r0 in (0..rows.len()).step_by(ROWS) {
            let last = rows.len() - 1;
            let four = [0, 1, 2, 3].map(|k| rows[(r0 + k).min(last)]);
            // SAFETY: the batch's level is only Avx512 where the CPU has it (checked when it
            // was made); rows were checked against the token width, `pairs` is one group.
            #[allow(unsafe_code)]
            let res = unsafe { crate::x86::tile512::q8_0_4x8(four, pairs, nb) };
            put_by_token(
                &res,
                tn,
                rows.len() - r0,
                &mut out[t0 * rows.len() + r0..],
                rows.len(),
            );
        }
    }
}

/// The AVX-512 Q4_K and Q6_K tiles: token groups outermost, rows in twos.
#[cfg(target_arch = "x86_64")]
fn k_avx512(w: DType, rows: &[&[u8]], batch: &TokenBatch, out: &mut [f32]) {
    let nb = batch.qb / 292;
    for (g, pairs) in batch
        .pairs
        .chunks_exact(GROUP / 2 * nb * K_LINES)
        .enumerate()
    {
        let t0 = g * GROUP;
        let tn = (batch.n - t0).min(GROUP);
        for r0 in (0..rows.len()).step_by(2) {
            let two = [rows[r0], rows[(r0 + 1).min(rows.len() - 1)]];
            // SAFETY: the batch's level is only Avx512 where the CPU has it (checked when it
            // was made); rows were checked against the token width, `pairs` is one group.
            #[allow(unsafe_code)]
            let res = unsafe {
                match w {
                    DType::Q4_K => crate::x86::tile512::q4_k_2x8(two, pairs, nb),
                    _ => crate::x86::tile512::q6_k_2x8(two, pairs, nb),
                }
            };
            put_by_token(
                &res,
                tn,
                rows.len() - r0,
                &mut out[t0 * rows.len() + r0..],
                rows.len(),
            );
        }
    }
}
