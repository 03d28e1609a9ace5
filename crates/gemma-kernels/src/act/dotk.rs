//! Portable activation-quantized dot products for the 256-weight K formats against Q8_K
//! activations (f32 `d` at 0, 256 × i8 at 4, 16 × i16 sums at 260).
//!
//! Per super-block, as ggml: `isum = sum_g scale_g * sum_{i in g}(qw_i * qa_i)` exactly in
//! i32; for the formats with mins, `msum = sum_g min_g * (sum of the activation quants
//! of g)` from the Q8_K sums; the block adds `(da * dw) * isum - (da * dmin) * msum` in f32.
//! Weight layouts are described in [`crate::quant::k`]. Q4_K and Q6_K are not here: they
//! follow ggml's AVX2 lane order bit for bit in [`super::lanes`].

use crate::quant::f16_at;
use crate::quant::k::{k3_scales, k4_scales_mins};

/// Weights per super-block.
const QK_K: usize = 256;

/// Bytes per Q8_K block.
const Q8K_BYTES: usize = 292;

/// The parts of a Q8_K block: `d`, the 256 quants (as bytes), the 16 sums.
#[inline(always)]
fn q8k(y: &[u8]) -> (f32, &[u8], [i32; 16]) {
    let d = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
    let mut sums = [0i32; 16];
    for (g, s) in sums.iter_mut().enumerate() {
        *s = i16::from_le_bytes([y[260 + 2 * g], y[261 + 2 * g]]) as i32;
    }
    (d, &y[4..260], sums)
}

/// Exact `sum(q[i] * a[i])` over equal-length groups (`a` as i8).
#[inline(always)]
fn isum(q: &[i8], a: &[u8]) -> i32 {
    let mut s = 0i32;
    for (&w, &x) in q.iter().zip(a) {
        s += w as i32 * x as i8 as i32;
    }
    s
}

/// `sum_g scales[g] * isum(group g)` over `G` equal groups of the super-block.
#[inline(always)]
fn scaled_isum<const G: usize>(q: &[i8; QK_K], a: &[u8], scales: &[i32; G]) -> i32 {
    let len = QK_K / G;
    let mut total = 0i32;
    for (g, s) in scales.iter().enumerate() {
        total += s * isum(&q[len * g..len * (g + 1)], &a[len * g..len * (g + 1)]);
    }
    total
}

/// Q2_K × Q8_K (84-byte blocks: 16 scale/min nibble bytes, 64 bytes of 2-bit quants,
/// `d`, `dmin`).
pub(crate) fn dot_q2_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(84).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (dy, a, bsums) = q8k(y);
        let (scales, qs) = (&b[0..16], &b[16..80]);
        for h in 0..2 {
            for s in 0..4 {
                for l in 0..32 {
                    q[128 * h + 32 * s + l] = ((qs[32 * h + l] >> (2 * s)) & 3) as i8;
                }
            }
        }
        let mut sc = [0i32; 16];
        let mut msum = 0i32;
        for g in 0..16 {
            sc[g] = (scales[g] & 0x0F) as i32;
            msum += bsums[g] * (scales[g] >> 4) as i32;
        }
        let isum = scaled_isum(&q, a, &sc);
        let dall = dy * f16_at(&b[80..]);
        let dmin = dy * f16_at(&b[82..]);
        sum += dall * isum as f32 - dmin * msum as f32;
    }
    sum
}

/// Q3_K × Q8_K (110-byte blocks: `hmask[32]`, `qs[64]`, 12 scale bytes, `d`).
pub(crate) fn dot_q3_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(110).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (dy, a, _) = q8k(y);
        let (hmask, qs) = (&b[0..32], &b[32..96]);
        for h in 0..2 {
            for s in 0..4 {
                for l in 0..32 {
                    let low = ((qs[32 * h + l] >> (2 * s)) & 3) as i8;
                    let set = (hmask[l] >> (4 * h + s)) & 1;
                    q[128 * h + 32 * s + l] = low - if set == 0 { 4 } else { 0 };
                }
            }
        }
        let sc = k3_scales(&b[96..108]).map(|s| s as i32);
        let isum = scaled_isum(&q, a, &sc);
        sum += (f16_at(&b[108..]) * dy) * isum as f32;
    }
    sum
}

/// Shared body of Q4_K and Q5_K: `d`, `dmin`, 12 scale/min bytes, then quants decoded by
/// `decode` into `q` (values 0..31).
#[inline(always)]
fn dot_k4_like(bb: usize, row: &[u8], xq: &[u8], decode: impl Fn(&[u8], &mut [i8; QK_K])) -> f32 {
    let mut q = [0i8; QK_K];
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(bb).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (dy, a, bsums) = q8k(y);
        decode(b, &mut q);
        let (s6, m6) = k4_scales_mins(&b[4..16]);
        let sc = s6.map(|s| s as i32);
        let mut msum = 0i32;
        for (g, &bs) in bsums.iter().enumerate() {
            msum += bs * m6[g / 2] as i32;
        }
        let isum = scaled_isum(&q, a, &sc);
        let d = dy * f16_at(b);
        let dmin = dy * f16_at(&b[2..]);
        sum += d * isum as f32 - dmin * msum as f32;
    }
    sum
}

/// Q5_K × Q8_K (176-byte blocks: `d`, `dmin`, 12 scale bytes, `qh[32]`, `qs[128]`).
pub(crate) fn dot_q5_k(row: &[u8], xq: &[u8]) -> f32 {
    dot_k4_like(176, row, xq, |b, q| {
        let (qh, qs) = (&b[16..48], &b[48..176]);
        for j in 0..4 {
            for l in 0..32 {
                let v = qs[32 * j + l];
                let h = qh[l] >> (2 * j);
                q[64 * j + l] = ((v & 0x0F) | ((h & 1) << 4)) as i8;
                q[64 * j + 32 + l] = ((v >> 4) | ((h & 2) << 3)) as i8;
            }
        }
    })
}
