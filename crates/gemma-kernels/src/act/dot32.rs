//! Portable activation-quantized dot products for the 32-weight block formats (against
//! Q8_0 / Q8_1 activations) and the float formats (against activations of the same format).
//!
//! Per block the integer sum `sum(qw * qa)` is exact, as in ggml; it is scaled by
//! `dw * da` (Q8_1: plus `m * s`) and accumulated in f32, as ggml's portable code does.
//! (Q8_1's `s` is `d * sum(q)` rounded to f16, so the min term differs slightly from
//! `m` times the sum of the dequantized activations; ggml uses `s` too.)
//! Weight layouts are described in [`crate::quant::legacy`]. Q5_0 and Q8_0 are not here:
//! they follow ggml's AVX2 lane order bit for bit in [`super::lanes`].

use crate::f32ops::dot_acc;
use crate::quant::f16_at;
use crate::quant::legacy::IQ4_NL_VALUES;

/// Weights per block.
const QK: usize = 32;

/// Values converted per step by the float dot products.
const CHUNK: usize = 64;

/// Signed 4-bit quants of a 16-byte nibble array: low nibbles first, then high nibbles,
/// each minus `off`.
#[inline(always)]
fn nibbles(qs: &[u8], off: i8, q: &mut [i8; QK]) {
    for j in 0..QK / 2 {
        q[j] = (qs[j] & 0x0F) as i8 - off;
        q[j + QK / 2] = (qs[j] >> 4) as i8 - off;
    }
}

/// Five-bit quants: nibbles plus bit `i` of the little-endian u32 `qh` as bit 4, minus `off`.
#[inline(always)]
fn five_bits(qh: &[u8], qs: &[u8], off: i8, q: &mut [i8; QK]) {
    let h = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    for j in 0..QK / 2 {
        let lo = (qs[j] & 0x0F) | ((((h >> j) & 1) as u8) << 4);
        let hi = (qs[j] >> 4) | ((((h >> (j + 16)) & 1) as u8) << 4);
        q[j] = lo as i8 - off;
        q[j + QK / 2] = hi as i8 - off;
    }
}

/// Exact `sum(q[i] * a[i])` over 32 weight quants and 32 activation bytes (as i8).
#[inline(always)]
fn isum32(q: &[i8; QK], a: &[u8]) -> i32 {
    let mut s = 0i32;
    for (&w, &x) in q.iter().zip(&a[..QK]) {
        s += w as i32 * x as i8 as i32;
    }
    s
}

/// Dot of a scale-only block format with Q8_0 activations:
/// `sum_blocks isum * (dw * da)`.
#[inline(always)]
fn dot_scaled(bb: usize, row: &[u8], xq: &[u8], decode: impl Fn(&[u8], &mut [i8; QK])) -> f32 {
    let mut q = [0i8; QK];
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(bb).zip(xq.chunks_exact(34)) {
        decode(b, &mut q);
        let isum = isum32(&q, &y[2..34]);
        sum += isum as f32 * (f16_at(b) * f16_at(y));
    }
    sum
}

/// Dot of a scale-and-min block format (`d` at 0, `m` at 2) with Q8_1 activations:
/// `sum_blocks isum * (dw * da) + m * s`.
#[inline(always)]
fn dot_affine(bb: usize, row: &[u8], xq: &[u8], decode: impl Fn(&[u8], &mut [i8; QK])) -> f32 {
    let mut q = [0i8; QK];
    let mut sum = 0.0f32;
    for (b, y) in row.chunks_exact(bb).zip(xq.chunks_exact(36)) {
        decode(b, &mut q);
        let isum = isum32(&q, &y[4..36]);
        sum += isum as f32 * (f16_at(b) * f16_at(y)) + f16_at(&b[2..]) * f16_at(&y[2..]);
    }
    sum
}

/// Q4_0 × Q8_0.
pub(crate) fn dot_q4_0(row: &[u8], xq: &[u8]) -> f32 {
    dot_scaled(18, row, xq, |b, q| nibbles(&b[2..18], 8, q))
}

/// Q4_1 × Q8_1.
pub(crate) fn dot_q4_1(row: &[u8], xq: &[u8]) -> f32 {
    dot_affine(20, row, xq, |b, q| nibbles(&b[4..20], 0, q))
}

/// Q5_1 × Q8_1.
pub(crate) fn dot_q5_1(row: &[u8], xq: &[u8]) -> f32 {
    dot_affine(24, row, xq, |b, q| five_bits(&b[4..8], &b[8..24], 0, q))
}

/// IQ4_NL × Q8_0.
pub(crate) fn dot_iq4_nl(row: &[u8], xq: &[u8]) -> f32 {
    dot_scaled(18, row, xq, |b, q| {
        for j in 0..QK / 2 {
            q[j] = IQ4_NL_VALUES[(b[2 + j] & 0x0F) as usize];
            q[j + QK / 2] = IQ4_NL_VALUES[(b[2 + j] >> 4) as usize];
        }
    })
}

/// Dot of two rows of `width`-byte floats decoded by `conv`, `CHUNK` values at a time.
#[inline(always)]
fn dot_floats(width: usize, row: &[u8], xq: &[u8], conv: impl Fn(&[u8]) -> f32) -> f32 {
    let (mut a, mut b) = ([0.0f32; CHUNK], [0.0f32; CHUNK]);
    let mut sum = 0.0f32;
    for (rc, xc) in row.chunks(width * CHUNK).zip(xq.chunks(width * CHUNK)) {
        let n = rc.len() / width;
        for ((o, p), (r, x)) in a[..n]
            .iter_mut()
            .zip(&mut b[..n])
            .zip(rc.chunks_exact(width).zip(xc.chunks_exact(width)))
        {
            *o = conv(r);
            *p = conv(x);
        }
        sum += dot_acc(&a[..n], &b[..n]);
    }
    sum
}

/// F32 × F32.
pub(crate) fn dot_f32(row: &[u8], xq: &[u8]) -> f32 {
    dot_floats(4, row, xq, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// F16 × F16.
pub(crate) fn dot_f16(row: &[u8], xq: &[u8]) -> f32 {
    dot_floats(2, row, xq, f16_at)
}

/// BF16 × BF16.
pub(crate) fn dot_bf16(row: &[u8], xq: &[u8]) -> f32 {
    dot_floats(2, row, xq, |b| {
        f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
    })
}
