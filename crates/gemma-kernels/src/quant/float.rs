//! Plain float storage: F32, F16 (IEEE half) and BF16 (bfloat16), all little-endian.

use super::f16_at;
use crate::f32ops::dot_acc;

/// Weights converted per step by the float dot products.
const CHUNK: usize = 64;

/// Copies little-endian f32 values.
pub(crate) fn dequant_f32(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(4)) {
        *o = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
}

/// Widens IEEE halves to f32 (exact).
pub(crate) fn dequant_f16(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *o = f16_at(b);
    }
}

/// A bfloat16 is the top half of an f32.
#[inline(always)]
fn bf16_at(b: &[u8]) -> f32 {
    f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16)
}

/// Widens bfloat16 values to f32 (exact).
pub(crate) fn dequant_bf16(src: &[u8], dst: &mut [f32]) {
    for (o, b) in dst.iter_mut().zip(src.chunks_exact(2)) {
        *o = bf16_at(b);
    }
}

/// Dot product of `x` with a row of 2-byte floats decoded by `conv`, `CHUNK` at a time.
#[inline(always)]
fn dot_u16_floats(row: &[u8], x: &[f32], conv: impl Fn(&[u8]) -> f32) -> f32 {
    let mut sum = 0.0f32;
    let mut buf = [0.0f32; CHUNK];
    for (rb, xb) in row.chunks(2 * CHUNK).zip(x.chunks(CHUNK)) {
        let n = xb.len();
        for (o, b) in buf[..n].iter_mut().zip(rb.chunks_exact(2)) {
            *o = conv(b);
        }
        sum += dot_acc(&buf[..n], xb);
    }
    sum
}

/// Scalar dot of an F32 row with `x`.
pub(crate) fn dot_f32_row(row: &[u8], x: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    let mut buf = [0.0f32; CHUNK];
    for (rb, xb) in row.chunks(4 * CHUNK).zip(x.chunks(CHUNK)) {
        let n = xb.len();
        dequant_f32(rb, &mut buf[..n]);
        sum += dot_acc(&buf[..n], xb);
    }
    sum
}

/// Scalar dot of an F16 row with `x`.
pub(crate) fn dot_f16(row: &[u8], x: &[f32]) -> f32 {
    dot_u16_floats(row, x, f16_at)
}

/// Scalar dot of a BF16 row with `x`.
pub(crate) fn dot_bf16(row: &[u8], x: &[f32]) -> f32 {
    dot_u16_floats(row, x, bf16_at)
}
