//! Portable activation dot products for the float formats (against activations of the same
//! format), in a simple chunked order that agrees with ggml up to f32 summation order
//! (ggml's own orders are reproduced by `crate::x86::float_dot` per build).
//!
//! The quantized 32-value block types are not here: they follow ggml's AVX2 lane order bit
//! for bit in [`super::lanes`] (Q8_0, Q5_0) and [`super::lanes_legacy`] (Q4_0, Q4_1, Q5_1,
//! IQ4_NL).

use crate::f32ops::dot_acc;
use crate::quant::f16_at;

/// Values converted per step by the float dot products.
const CHUNK: usize = 64;

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
