//! Quantizers for the 32-weight block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0), ports of
//! ggml's `quantize_row_*_ref` (layouts in [`super::legacy`]).
//!
//! Lengths are checked by [`super::quantize::quantize_row`].

use super::legacy::QK;
use super::quantize::{cvtt, put_f16};

/// Value with the largest magnitude (the first one on ties) and that magnitude.
#[inline(always)]
fn signed_max(xb: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in xb {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// Smallest and largest value, starting from `FLT_MAX` / `-FLT_MAX` as ggml does.
#[inline(always)]
fn min_max(xb: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in xb {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

/// `d ? 1.0f/d : 0.0f`.
#[inline(always)]
fn inverse(d: f32) -> f32 {
    if d != 0.0 {
        1.0 / d
    } else {
        0.0
    }
}

/// `MIN(cap, (int8_t)v)` stored into a `uint8_t`.
#[inline(always)]
fn capped_i8(v: f32, cap: i32) -> u8 {
    cap.min(cvtt(v) as i8 as i32) as u8
}

/// Q4_0: `d = max / -8`, quants `MIN(15, (int8_t)(x / d + 8.5))`.
pub(crate) fn quantize_q4_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(18)) {
        let (_, max) = signed_max(xb);
        let d = max / -8.0;
        let id = inverse(d);
        put_f16(yb, d);
        for j in 0..QK / 2 {
            let xi0 = capped_i8(xb[j] * id + 8.5, 15);
            let xi1 = capped_i8(xb[j + QK / 2] * id + 8.5, 15);
            yb[2 + j] = xi0 | (xi1 << 4);
        }
    }
}

/// Q4_1: `d = (max - min) / 15`, `m = min`, quants `MIN(15, (int8_t)((x - min) / d + 0.5))`.
pub(crate) fn quantize_q4_1(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(20)) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 15.0;
        let id = inverse(d);
        put_f16(yb, d);
        put_f16(&mut yb[2..], min);
        for j in 0..QK / 2 {
            let xi0 = capped_i8((xb[j] - min) * id + 0.5, 15);
            let xi1 = capped_i8((xb[j + QK / 2] - min) * id + 0.5, 15);
            yb[4 + j] = xi0 | (xi1 << 4);
        }
    }
}

/// Packs 32 five-bit quants into `qh` (bit `i` = bit 4 of quant `i`) and nibbles.
#[inline(always)]
fn pack5(q: &[u8; QK], qh: &mut [u8], qs: &mut [u8]) {
    let mut h = 0u32;
    for j in 0..QK / 2 {
        let (a, b) = (q[j], q[j + QK / 2]);
        qs[j] = (a & 0x0F) | ((b & 0x0F) << 4);
        h |= (((a & 0x10) >> 4) as u32) << j;
        h |= (((b & 0x10) >> 4) as u32) << (j + QK / 2);
    }
    qh[..4].copy_from_slice(&h.to_le_bytes());
}

/// Q5_0: `d = max / -16`, quants `MIN(31, (int8_t)(x / d + 16.5))`.
pub(crate) fn quantize_q5_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(22)) {
        let (_, max) = signed_max(xb);
        let d = max / -16.0;
        let id = inverse(d);
        put_f16(yb, d);
        let mut q = [0u8; QK];
        for (o, &v) in q.iter_mut().zip(xb) {
            *o = capped_i8(v * id + 16.5, 31);
        }
        let (qh, qs) = yb[2..].split_at_mut(4);
        pack5(&q, qh, qs);
    }
}

/// Q5_1: `d = (max - min) / 31`, `m = min`, quants `(uint8_t)((x - min) / d + 0.5)`.
pub(crate) fn quantize_q5_1(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(24)) {
        let (min, max) = min_max(xb);
        let d = (max - min) / 31.0;
        let id = inverse(d);
        put_f16(yb, d);
        put_f16(&mut yb[2..], min);
        let mut q = [0u8; QK];
        for (o, &v) in q.iter_mut().zip(xb) {
            *o = cvtt((v - min) * id + 0.5) as u8;
        }
        let (qh, qs) = yb[4..].split_at_mut(4);
        pack5(&q, qh, qs);
    }
}

/// Q8_0: `d = max|x| / 127`, quants `roundf(x / d)`.
pub(crate) fn quantize_q8_0(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK).zip(y.chunks_exact_mut(34)) {
        let mut amax = 0.0f32;
        for &v in xb {
            let a = v.abs();
            amax = if amax > a { amax } else { a };
        }
        let d = amax / 127.0;
        let id = inverse(d);
        put_f16(yb, d);
        for (o, &v) in yb[2..].iter_mut().zip(xb) {
            *o = cvtt((v * id).round()) as u8;
        }
    }
}
