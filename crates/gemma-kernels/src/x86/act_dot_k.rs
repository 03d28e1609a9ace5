//! AVX2+FMA activation-quantized row dots for Q2_K, Q3_K and Q5_K × Q8_K, with the bits of
//! ggml's x86 AVX2 kernels (`ggml_vec_dot_q{2,3,5}_K_q8_K` in `ggml-cpu/arch/x86/quants.c`
//! of the llama.cpp vendored by llama-cpp-python 0.3.36; those functions have no AVX-512 or
//! VNNI branch, so a `-march=native` build on an AVX-512 CPU runs the same code).
//!
//! Each super-block's scaled integer sums are formed in ggml's 8 i32 lanes (lane `k` of a
//! 32-byte step holds bytes `4k..4k+4`, `vpmaddubsw` then `vpmaddwd` with the group
//! scales; exact, so the order of the integer additions is free), converted to f32 and
//! accumulated with the same FMAs; the mins go where ggml puts them (see
//! `crate::act::lanes_k`, the portable twins that give the same bits).
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]`:
//! callers must have confirmed the CPU supports AVX2 and FMA, and pass whole blocks with
//! matching activation rows, which the public wrappers check.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::act_dot::{k_mins_prod, prefetch_ahead};
use super::f32s::hsum;
use super::load::{load16, load32};
use crate::quant::f16_at;
use crate::quant::k::k4_scales_mins;

/// Q8_K `d`.
#[inline(always)]
fn q8k_d(y: &[u8]) -> f32 {
    f32::from_le_bytes([y[0], y[1], y[2], y[3]])
}

/// Broadcasts the i16 scales of two consecutive groups of 16 weights over one 32-byte
/// step: scale `2s` of the eight in `half` (both 128-bit halves hold the same eight) to
/// bytes 0..16, scale `2s + 1` to bytes 16..32.
///
/// # Safety
///
/// AVX2 present; `s < 4`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale_pair(half: __m256i, s: i8) -> __m256i {
    // Word 2s is bytes 4s, 4s + 1; word 2s + 1 is bytes 4s + 2, 4s + 3.
    let base = _mm256_setr_epi8(
        0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, //
        2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
    );
    _mm256_shuffle_epi8(half, _mm256_add_epi8(base, _mm256_set1_epi8(4 * s)))
}

/// The 16 i16 group scales `sc` of a super-block as two registers: groups 0..8 repeated in
/// both halves, then groups 8..16.
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn scale_halves(sc: __m256i) -> [__m256i; 2] {
    [
        _mm256_broadcastsi128_si256(_mm256_castsi256_si128(sc)),
        _mm256_broadcastsi128_si256(_mm256_extracti128_si256::<1>(sc)),
    ]
}

/// The 16 signed Q3_K scales (6 bits minus 32) from their 12 bytes, as i16 lanes: the same
/// values as `crate::quant::k::k3_scales`, unpacked four at a time in 32-bit words (bytes
/// 0..8 hold the low nibbles of scales 0..8 and, shifted, 8..16; bytes 8..12 the high
/// pairs, two bits per scale and word).
///
/// # Safety
///
/// AVX2 present; `s.len() >= 12`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q3_scales(s: &[u8]) -> __m256i {
    let word = |i: usize| u32::from_le_bytes([s[4 * i], s[4 * i + 1], s[4 * i + 2], s[4 * i + 3]]);
    let (lo_a, lo_b, hi) = (word(0), word(1), word(2));
    let (nib, pair) = (0x0F0F_0F0Fu32, 0x0303_0303u32);
    let w = [
        (lo_a & nib) | ((hi & pair) << 4),
        (lo_b & nib) | (((hi >> 2) & pair) << 4),
        ((lo_a >> 4) & nib) | (((hi >> 4) & pair) << 4),
        ((lo_b >> 4) & nib) | (((hi >> 6) & pair) << 4),
    ];
    let v = _mm_setr_epi32(w[0] as i32, w[1] as i32, w[2] as i32, w[3] as i32);
    _mm256_cvtepi8_epi16(_mm_sub_epi8(v, _mm_set1_epi8(32)))
}

/// Q2_K × Q8_K (84-byte weight blocks: 16 scale/min nibble bytes, 64 bytes of 2-bit quants,
/// `d`, `dmin`). Per block: the mins into the 8 lanes (`dmin` FMA), then the quants
/// (`d` FMA).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q2_k(row: &[u8], xq: &[u8]) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(84).zip(xq.chunks_exact(292)) {
        prefetch_ahead(b, row.len());
        let yd = q8k_d(y);
        let d = yd * f16_at(&b[80..]);
        let dmin = -yd * f16_at(&b[82..]);

        // SAFETY: the block has 84 bytes; its scale/min nibbles are [0, 16).
        let packed = load16(b);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(packed), m4));
        // SAFETY: the activation block has 292 bytes; its sums are [260, 292).
        let prod = _mm256_madd_epi16(mins, load32(&y[260..]));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);

        let scales = scale_halves(_mm256_cvtepu8_epi16(_mm_and_si128(packed, m4)));
        let mut sumi = _mm256_setzero_si256();
        for (h, &sc) in scales.iter().enumerate() {
            // SAFETY: quant bytes [16 + 32h, 48 + 32h) are in bounds for h < 2.
            let mut bits = load32(&b[16 + 32 * h..]);
            for s in 0..4 {
                let q2 = _mm256_and_si256(bits, m3);
                // SAFETY: activation quants [4 + 128h + 32s, +32) are within 292 bytes.
                let q8 = load32(&y[4 + 128 * h + 32 * s..]);
                let p = _mm256_madd_epi16(scale_pair(sc, s as i8), _mm256_maddubs_epi16(q2, q8));
                sumi = _mm256_add_epi32(sumi, p);
                // The next two bits of each byte; bits shifted in from the byte above are
                // masked off by `m3`.
                bits = _mm256_srli_epi16::<2>(bits);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// Q3_K × Q8_K (110-byte weight blocks: `hmask[32]`, `qs[64]`, 12 scale bytes, `d`).
///
/// The quants are `low - 4 * (high bit clear)`; as ggml, the two parts are multiplied
/// separately (`vpmaddubsw` takes unsigned weights) and subtracted in i16, which is exact for
/// every activation byte.
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q3_k(row: &[u8], xq: &[u8]) -> f32 {
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let zero = _mm256_setzero_si256();
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(110).zip(xq.chunks_exact(292)) {
        prefetch_ahead(b, row.len());
        let d = q8k_d(y) * f16_at(&b[108..]);
        let scales = scale_halves(q3_scales(&b[96..108]));
        // SAFETY: the block has 110 bytes; `hmask` is [0, 32).
        let hbits = load32(b);
        let mut sumi = _mm256_setzero_si256();
        for (h, &sc) in scales.iter().enumerate() {
            // SAFETY: quant bytes [32 + 32h, 64 + 32h) are in bounds for h < 2.
            let mut bits = load32(&b[32 + 32 * h..]);
            for s in 0..4 {
                let low = _mm256_and_si256(bits, m3);
                let bit = _mm256_set1_epi8((1u8 << (4 * h + s)) as i8);
                let clear = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit), zero);
                let high = _mm256_and_si256(clear, four);
                // SAFETY: activation quants [4 + 128h + 32s, +32) are within 292 bytes.
                let q8 = load32(&y[4 + 128 * h + 32 * s..]);
                let p16 = _mm256_sub_epi16(
                    _mm256_maddubs_epi16(low, q8),
                    _mm256_maddubs_epi16(high, q8),
                );
                let p = _mm256_madd_epi16(scale_pair(sc, s as i8), p16);
                sumi = _mm256_add_epi32(sumi, p);
                bits = _mm256_srli_epi16::<2>(bits);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// Q5_K × Q8_K (176-byte weight blocks: `d`, `dmin`, 12 scale/min bytes, `qh[32]`,
/// `qs[128]`). The mins are summed as integers per block and enter one scalar accumulator
/// with a fused multiply-add (ggml's `summs += dmin * m`, which GCC contracts), added after
/// the horizontal sum.
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q5_k(row: &[u8], xq: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let sixteen = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (b, y) in row.chunks_exact(176).zip(xq.chunks_exact(292)) {
        prefetch_ahead(b, row.len());
        let yd = q8k_d(y);
        let d = yd * f16_at(b);
        let dmin = -yd * f16_at(&b[2..]);
        let (sc, mn) = k4_scales_mins(&b[4..16]);

        // Mins: the 16 sums paired (wrapping i16), times the 8 mins, summed as integers.
        // SAFETY: `y` is a whole 292-byte activation block.
        let prod = k_mins_prod(y, &mn);
        let prod = _mm_add_epi32(prod, _mm_unpackhi_epi64(prod, prod));
        let m = _mm_cvtsi128_si32(_mm_add_epi32(prod, _mm_srli_epi64::<32>(prod)));
        summs = dmin.mul_add(m as f32, summs);

        // SAFETY: the block has 176 bytes; `qh` is [16, 48).
        let hbits = load32(&b[16..]);
        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            // SAFETY: quant bytes [48 + 32j, 80 + 32j) are in bounds for j < 4.
            let q5bits = load32(&b[48 + 32 * j..]);
            let nibbles = [
                _mm256_and_si256(q5bits, m4),
                _mm256_and_si256(_mm256_srli_epi16::<4>(q5bits), m4),
            ];
            for (half, lo) in nibbles.into_iter().enumerate() {
                let bit = _mm256_set1_epi8((1u8 << (2 * j + half)) as i8);
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(hbits, bit), bit);
                let q5 = _mm256_or_si256(lo, _mm256_and_si256(set, sixteen));
                // SAFETY: activation quants [4 + 64j + 32half, +32) are within 292 bytes.
                let q8 = load32(&y[4 + 64 * j + 32 * half..]);
                let scale = _mm256_set1_epi16(sc[2 * j + half] as i16);
                let p = _mm256_madd_epi16(scale, _mm256_maddubs_epi16(q5, q8));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc) + summs
}
