//! Portable activation-quantized dots for Q4_0 × Q8_0, Q4_1 × Q8_1, Q5_1 × Q8_1 and
//! IQ4_NL × Q8_0 in the lane structure of ggml's x86 AVX2 kernels, so they give the same bits.
//!
//! The steps are those of [`super::lanes`] (exact 8-lane integer sums of 4 consecutive
//! bytes, one `f32::mul_add` per lane and block by `d_w * d_a`, ggml's `hsum_float_8`), with
//! each type's own extras, as ggml's `ggml_vec_dot_*` (`ggml-cpu/arch/x86/quants.c`, llama.cpp
//! as vendored by llama-cpp-python 0.3.36) computes them under AVX2:
//! - Q4_1, Q5_1: the min terms `m * s` are chained in one scalar, `summs = fma(m, s, summs)`
//!   block by block (GCC contracts ggml's `summs += m * s`; the product of two halves is
//!   exact in f32, so fused or not gives the same bits), added after the reduction.
//! - IQ4_NL: even and odd blocks of each whole pair go to two lane accumulators, added lane
//!   by lane before the reduction; an odd last block is added as `fma(d, f32(sum), total)`.
//!
//! The AVX2 intrinsics in `crate::x86::act_dot_legacy` follow the same steps. As for Q8_0
//! and Q5_0, ggml's Q4_0 and IQ4_NL kernels take `|w|` times `a` negated where `w < 0`, which
//! wraps for an activation byte of -128; the quantizers never write one, and the lane sums
//! here are always the exact integers.

use super::lanes::{fma_lanes, hsum8, lane_sums, LANES, STEP};
use crate::quant::f16_at;
use crate::quant::legacy::IQ4_NL_VALUES;

/// Bytes per Q8_0 activation block: f16 `d`, 32 quants.
const Q8_0_BYTES: usize = 34;

/// Bytes per Q8_1 activation block: f16 `d`, f16 `s`, 32 quants.
const Q8_1_BYTES: usize = 36;

/// The 32 values of 16 nibble bytes, low nibbles first (`bytes_from_nibbles_32`), each
/// mapped by `f`.
#[inline(always)]
fn nibbles(qs: &[u8], w: &mut [i8; STEP], f: impl Fn(u8) -> i8) {
    for (j, &v) in qs[..STEP / 2].iter().enumerate() {
        w[j] = f(v & 0x0F);
        w[j + STEP / 2] = f(v >> 4);
    }
}

/// Q4_0 × Q8_0 (18-byte weight blocks: `d`, 16 nibble bytes; values `q - 8`).
#[inline]
pub(crate) fn dot_q4_0(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(18).zip(xq.chunks_exact(Q8_0_BYTES)) {
        nibbles(&b[2..18], &mut w, |q| q as i8 - 8);
        fma_lanes(&mut acc, f16_at(b) * f16_at(y), &lane_sums(&w, &y[2..]));
    }
    hsum8(&acc)
}

/// Q4_1 × Q8_1 (20-byte weight blocks: `d`, `m`, 16 nibble bytes).
#[inline]
pub(crate) fn dot_q4_1(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut summs = 0f32;
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(20).zip(xq.chunks_exact(Q8_1_BYTES)) {
        summs = f16_at(&b[2..]).mul_add(f16_at(&y[2..]), summs);
        nibbles(&b[4..20], &mut w, |q| q as i8);
        fma_lanes(&mut acc, f16_at(b) * f16_at(y), &lane_sums(&w, &y[4..]));
    }
    hsum8(&acc) + summs
}

/// Q5_1 × Q8_1 (24-byte weight blocks: `d`, `m`, `qh` u32, 16 nibble bytes; bit `i` of `qh`
/// is bit 4 of value `i`).
#[inline]
pub(crate) fn dot_q5_1(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut summs = 0f32;
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(24).zip(xq.chunks_exact(Q8_1_BYTES)) {
        summs = f16_at(&b[2..]).mul_add(f16_at(&y[2..]), summs);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        nibbles(&b[8..24], &mut w, |q| q as i8);
        for (i, v) in w.iter_mut().enumerate() {
            *v |= (((qh >> i) & 1) << 4) as i8;
        }
        fma_lanes(&mut acc, f16_at(b) * f16_at(y), &lane_sums(&w, &y[4..]));
    }
    hsum8(&acc) + summs
}

/// IQ4_NL × Q8_0 (18-byte weight blocks: `d`, 16 nibble bytes indexing [`IQ4_NL_VALUES`]).
#[inline]
pub(crate) fn dot_iq4_nl(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [[0f32; LANES]; 2];
    let mut w = [0i8; STEP];
    let value = |q: u8| IQ4_NL_VALUES[q as usize];
    let nb = row.len() / 18;
    let blocks = row.chunks_exact(18).zip(xq.chunks_exact(Q8_0_BYTES));
    // Whole pairs: block `i` goes to accumulator `i % 2`.
    for (i, (b, y)) in blocks.take(nb & !1).enumerate() {
        nibbles(&b[2..18], &mut w, value);
        fma_lanes(
            &mut acc[i % 2],
            f16_at(b) * f16_at(y),
            &lane_sums(&w, &y[2..]),
        );
    }
    let both: [f32; LANES] = std::array::from_fn(|k| acc[0][k] + acc[1][k]);
    let mut sum = hsum8(&both);
    if nb % 2 == 1 {
        let (b, y) = (&row[18 * (nb - 1)..], &xq[Q8_0_BYTES * (nb - 1)..]);
        nibbles(&b[2..18], &mut w, value);
        let s: i32 = lane_sums(&w, &y[2..]).iter().sum();
        sum = (f16_at(b) * f16_at(y)).mul_add(s as f32, sum);
    }
    sum
}
