//! AVX2+FMA activation-quantized row dots for the remaining 32-value block types: Q4_0 × Q8_0,
//! Q4_1 × Q8_1, Q5_1 × Q8_1 and IQ4_NL × Q8_0, with the bits of ggml's x86 AVX2 kernels
//! (`ggml_vec_dot_q4_0_q8_0`, `_q4_1_q8_1`, `_q5_1_q8_1`, `_iq4_nl_q8_0` in
//! `ggml-cpu/arch/x86/quants.c`, llama.cpp as vendored by llama-cpp-python 0.3.36).
//!
//! As in [`super::act_dot`]: each block's 32 products are summed exactly into 8 i32 lanes
//! (lane `k` holds bytes `4k..4k + 4`; low nibbles are bytes 0..16, high nibbles 16..32),
//! converted to f32, and accumulated per lane with one FMA by the block's `d_w * d_a`
//! (a single f32 product of the two widened halves); the lanes are reduced as ggml's
//! `hsum_float_8`. Per type, as ggml:
//! - Q4_0: one accumulator (the nibbles minus 8 times the activations).
//! - Q4_1, Q5_1: one accumulator of the unsigned quants times the activations; the min term
//!   `m * s` (s: the activation block's stored `d * sum(q)`) goes to a scalar chained with
//!   one FMA per block (GCC contracts ggml's `summs += m * s`; the product of two halves is
//!   exact in f32, so fused or not gives the same bits), added after the reduction.
//! - IQ4_NL: blocks in pairs, even blocks in one accumulator and odd ones in another; the
//!   two are added lane by lane before the reduction; an odd last block is added by ggml's
//!   scalar loop, `fma(d, f32(sum), total)` (again contracted by GCC).
//!
//! The integer lanes are the same whether ggml's build uses `vpmaddubsw` + `vpmaddwd` or
//! VNNI `vpdpbusd` (no pair sum can saturate with activations in -127..=127). The portable
//! twins in `crate::act::lanes_legacy` take the same steps and give the same bits.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]`:
//! callers must have confirmed the CPU supports AVX2, FMA and F16C, and pass whole blocks
//! with matching activation rows, which the public wrappers check.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::act_dot::{f16_product, mul_sum_i8, prefetch_ahead};
use super::f32s::hsum;
use super::load::{bits_to_bytes, load16, load32};
use crate::quant::f16_at;
use crate::quant::legacy::IQ4_NL_VALUES;

/// The 32 nibbles of 16 bytes as bytes 0..15: low nibbles first, then high nibbles
/// (ggml's `bytes_from_nibbles_32`).
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn nibbles32(qs: __m128i) -> __m256i {
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(qs), qs);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0F))
}

/// Lane `k` = `sum_{b in 4k..4k+4} x[b] * y[b]` for unsigned `x` (at most 31 here) and
/// signed `y`, as f32 (ggml's `mul_sum_us8_pairs_float`; no pair can saturate).
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn mul_sum_us8(x: __m256i, y: __m256i) -> __m256 {
    let pairs = _mm256_maddubs_epi16(x, y);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// Q4_0 × Q8_0 (18-byte weight blocks: `d`, 16 nibble bytes; values `q - 8`).
///
/// # Safety
///
/// AVX2/FMA/F16C present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q4_0(row: &[u8], xq: &[u8]) -> f32 {
    let eight = _mm256_set1_epi8(8);
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(18).zip(xq.chunks_exact(34)) {
        prefetch_ahead(b, row.len());
        let d = _mm256_set1_ps(f16_product(b, y));
        // SAFETY: the weight block has 18 bytes, so [2, 18) holds the 16 nibble bytes; the
        // activation block has 34, so [2, 34) holds its 32 quants.
        let qx = _mm256_sub_epi8(nibbles32(load16(&b[2..])), eight);
        let q = mul_sum_i8(qx, load32(&y[2..]));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum(acc)
}

/// Q4_1 × Q8_1 (20-byte weight blocks: `d`, `m`, 16 nibble bytes; 36-byte activation
/// blocks: `d`, `s`, 32 quants).
///
/// # Safety
///
/// AVX2/FMA/F16C present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q4_1(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (b, y) in row.chunks_exact(20).zip(xq.chunks_exact(36)) {
        prefetch_ahead(b, row.len());
        summs = f16_at(&b[2..]).mul_add(f16_at(&y[2..]), summs);
        let d = _mm256_set1_ps(f16_product(b, y));
        // SAFETY: [4, 20) holds the weight block's 16 nibble bytes, [4, 36) the activation
        // block's 32 quants.
        let q = mul_sum_us8(nibbles32(load16(&b[4..])), load32(&y[4..]));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum(acc) + summs
}

/// Q5_1 × Q8_1 (24-byte weight blocks: `d`, `m`, `qh` u32, 16 nibble bytes; values
/// `q` in 0..32 with bit `i` of `qh` as bit 4 of value `i`).
///
/// # Safety
///
/// AVX2/FMA/F16C present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q5_1(row: &[u8], xq: &[u8]) -> f32 {
    let bit4 = _mm256_set1_epi8(0x10);
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (b, y) in row.chunks_exact(24).zip(xq.chunks_exact(36)) {
        prefetch_ahead(b, row.len());
        summs = f16_at(&b[2..]).mul_add(f16_at(&y[2..]), summs);
        let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        // SAFETY: [8, 24) holds the weight block's 16 nibble bytes.
        let qx = _mm256_or_si256(
            nibbles32(load16(&b[8..])),
            _mm256_and_si256(bits_to_bytes(qh), bit4),
        );
        // SAFETY: [4, 36) holds the activation block's 32 quants.
        let q = mul_sum_us8(qx, load32(&y[4..]));
        // ggml: fmadd(q, dx * dy, acc); the product inside an FMA is exact, so the order of
        // its factors does not matter.
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16_product(b, y)), q, acc);
    }
    hsum(acc) + summs
}

/// The 16 IQ4_NL values times an IQ4_NL block's nibbles, as 32 signed bytes.
///
/// # Safety
///
/// AVX2 present; `b` holds at least 18 bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn iq4_nl_values(table: __m128i, b: &[u8]) -> __m256i {
    let m4 = _mm_set1_epi8(0x0F);
    // SAFETY: [2, 18) holds the block's 16 nibble bytes (the caller's length).
    let qs = load16(&b[2..]);
    let lo = _mm_shuffle_epi8(table, _mm_and_si128(qs, m4));
    let hi = _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16::<4>(qs), m4));
    _mm256_set_m128i(hi, lo)
}

/// IQ4_NL × Q8_0 (18-byte weight blocks: `d`, 16 nibble bytes indexing [`IQ4_NL_VALUES`]).
///
/// # Safety
///
/// AVX2/FMA/F16C present; `xq` holds 34 bytes per 18-byte block of `row`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_iq4_nl(row: &[u8], xq: &[u8]) -> f32 {
    // SAFETY: the table has 16 bytes.
    let table = _mm_loadu_si128(IQ4_NL_VALUES.as_ptr().cast());
    let mut acc = [_mm256_setzero_ps(); 2];
    // Whole pairs of blocks (36 weight bytes, 68 activation bytes).
    for (b2, y2) in row.chunks_exact(36).zip(xq.chunks_exact(68)) {
        prefetch_ahead(b2, row.len());
        for (h, a) in acc.iter_mut().enumerate() {
            let (b, y) = (&b2[18 * h..18 * h + 18], &y2[34 * h..34 * h + 34]);
            let d = _mm256_set1_ps(f16_product(y, b));
            // SAFETY: `b` is a whole weight block; [2, 34) holds the activation quants.
            let q = mul_sum_i8(iq4_nl_values(table, b), load32(&y[2..]));
            *a = _mm256_fmadd_ps(d, q, *a);
        }
    }
    let mut sum = hsum(_mm256_add_ps(acc[0], acc[1]));
    // An odd last block: ggml's scalar loop, exact integers and one FMA.
    let nb = row.len() / 18;
    if nb % 2 == 1 {
        let (b, y) = (&row[18 * (nb - 1)..], &xq[34 * (nb - 1)..]);
        let mut s = 0i32;
        for j in 0..16 {
            let v = b[2 + j];
            s += IQ4_NL_VALUES[(v & 0x0F) as usize] as i32 * y[2 + j] as i8 as i32;
            s += IQ4_NL_VALUES[(v >> 4) as usize] as i32 * y[18 + j] as i8 as i32;
        }
        sum = (f16_at(y) * f16_at(b)).mul_add(s as f32, sum);
    }
    sum
}
