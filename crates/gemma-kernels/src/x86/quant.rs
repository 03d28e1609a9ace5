//! AVX2+FMA row dot products for the default model's types: F32, Q8_0, Q5_0, Q4_K, Q6_K.
//!
//! Each block's quants are widened to f32 lanes in registers and multiplied with `x`
//! by FMA; block and sub-block scales are applied once per partial sum, as in the
//! scalar reference (`crate::quant`), whose comments give the block layouts.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma")]`:
//! callers must have confirmed the CPU supports AVX2 and FMA, and pass whole blocks
//! (`row.len() == dtype.bytes_for(x.len())`), which the public wrappers check.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::f32s::{hsum, load8};
use super::load::{bits_to_bytes, load16, load32};
use crate::quant::f16_at;
use crate::quant::k::k4_scales_mins;

/// `sum(q * x)` lanes for 16 signed bytes `q` and the first 16 floats of `x`.
///
/// # Safety
///
/// AVX2/FMA present; `x.len() >= 16`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot16_i8(q: __m128i, x: &[f32]) -> __m256 {
    let f0 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q));
    let f1 = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128::<8>(q)));
    // SAFETY: the caller guarantees 16 floats: [0, 8) and [8, 16).
    let (x0, x1) = (load8(x), load8(&x[8..]));
    _mm256_fmadd_ps(f1, x1, _mm256_mul_ps(f0, x0))
}

/// `sum(q * x)` lanes for 32 signed bytes `q` and the first 32 floats of `x`.
///
/// # Safety
///
/// AVX2/FMA present; `x.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot32_i8(q: __m256i, x: &[f32]) -> __m256 {
    // SAFETY: the caller guarantees 32 floats: [0, 16) and [16, 32).
    let a = dot16_i8(_mm256_castsi256_si128(q), x);
    let b = dot16_i8(_mm256_extracti128_si256::<1>(q), &x[16..]);
    _mm256_add_ps(a, b)
}

/// (`sum(q * x)`, `sum(x)`) lanes for 32 unsigned bytes `q` and the first 32 floats of `x`.
///
/// # Safety
///
/// AVX2/FMA present; `x.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_sum32_u8(q: __m256i, x: &[f32]) -> (__m256, __m256) {
    let lo = _mm256_castsi256_si128(q);
    let hi = _mm256_extracti128_si256::<1>(q);
    let f0 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo));
    let f1 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(lo)));
    let f2 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi));
    let f3 = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128::<8>(hi)));
    // SAFETY: the caller guarantees 32 floats.
    let (x0, x1, x2, x3) = (load8(x), load8(&x[8..]), load8(&x[16..]), load8(&x[24..]));
    let d01 = _mm256_fmadd_ps(f1, x1, _mm256_mul_ps(f0, x0));
    let d23 = _mm256_fmadd_ps(f3, x3, _mm256_mul_ps(f2, x2));
    let s = _mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3));
    (_mm256_add_ps(d01, d23), s)
}

/// F32 row stored as little-endian bytes (x86 is little-endian, so lanes load directly).
///
/// # Safety
///
/// AVX2/FMA present (chunks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_f32_bytes(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 2];
    let rows = row.chunks_exact(64);
    let xs = x.chunks_exact(16);
    let (rrem, xrem) = (rows.remainder(), xs.remainder());
    for (rb, xb) in rows.zip(xs) {
        // SAFETY: `rb` has 64 bytes (16 floats) and `xb` 16 floats; loadu needs no alignment.
        let r0 = _mm256_loadu_ps(rb.as_ptr().cast());
        let r1 = _mm256_loadu_ps(rb[32..].as_ptr().cast());
        acc[0] = _mm256_fmadd_ps(r0, load8(xb), acc[0]);
        acc[1] = _mm256_fmadd_ps(r1, load8(&xb[8..]), acc[1]);
    }
    let mut tail = 0.0f32;
    for (b, xi) in rrem.chunks_exact(4).zip(xrem) {
        tail += f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * xi;
    }
    hsum(_mm256_add_ps(acc[0], acc[1])) + tail
}

/// Q8_0 row (34-byte blocks: `d`, 32 × i8).
///
/// # Safety
///
/// AVX2/FMA present (blocks and `x` chunks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (b, xb) in row.chunks_exact(34).zip(x.chunks_exact(32)) {
        let d = _mm256_set1_ps(f16_at(b));
        // SAFETY: the block has 34 bytes, so [2, 34) holds the 32 quants; `xb` has 32 floats.
        let s = dot32_i8(load32(&b[2..]), xb);
        acc = _mm256_fmadd_ps(d, s, acc);
    }
    hsum(acc)
}

/// Q5_0 row (22-byte blocks: `d`, `qh` u32, 16 nibble bytes).
///
/// # Safety
///
/// AVX2/FMA present (blocks and `x` chunks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q5_0(row: &[u8], x: &[f32]) -> f32 {
    let m4 = _mm_set1_epi8(0x0F);
    let bit4 = _mm256_set1_epi8(0x10);
    let off = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    for (b, xb) in row.chunks_exact(22).zip(x.chunks_exact(32)) {
        let d = _mm256_set1_ps(f16_at(b));
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        // SAFETY: the block has 22 bytes, so [6, 22) holds the 16 nibble bytes.
        let qs = load16(&b[6..]);
        let lo = _mm_and_si128(qs, m4);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(qs), m4);
        let nib = _mm256_set_m128i(hi, lo);
        let high = _mm256_and_si256(bits_to_bytes(qh), bit4);
        let q = _mm256_sub_epi8(_mm256_or_si256(nib, high), off);
        // SAFETY: `xb` has 32 floats.
        let s = dot32_i8(q, xb);
        acc = _mm256_fmadd_ps(d, s, acc);
    }
    hsum(acc)
}

/// Q4_K row (144-byte blocks: `d`, `dmin`, 12 scale bytes, 128 nibble bytes).
///
/// # Safety
///
/// AVX2/FMA present (blocks and `x` chunks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q4_k(row: &[u8], x: &[f32]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut acc_min = _mm256_setzero_ps();
    for (b, xb) in row.chunks_exact(144).zip(x.chunks_exact(256)) {
        let (d, dmin) = (f16_at(b), f16_at(&b[2..]));
        let (sc, mn) = k4_scales_mins(&b[4..16]);
        let qs = &b[16..144];
        for j in 0..4 {
            // SAFETY: `qs` has 128 bytes, so [32j, 32j + 32) is in bounds for j < 4.
            let v = load32(&qs[32 * j..]);
            let lo = _mm256_and_si256(v, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(v), m4);
            // SAFETY: `xb` has 256 floats, so [64j, 64j + 64) is in bounds for j < 4.
            let (dl, sl) = dot_sum32_u8(lo, &xb[64 * j..]);
            let (dh, sh) = dot_sum32_u8(hi, &xb[64 * j + 32..]);
            let (i, k) = (2 * j, 2 * j + 1);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[i] as f32), dl, acc);
            acc = _mm256_fmadd_ps(_mm256_set1_ps(d * sc[k] as f32), dh, acc);
            acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin * mn[i] as f32), sl, acc_min);
            acc_min = _mm256_fmadd_ps(_mm256_set1_ps(dmin * mn[k] as f32), sh, acc_min);
        }
    }
    hsum(acc) - hsum(acc_min)
}

/// Six-bit Q6_K quants minus 32, as bytes: low nibbles `ql` (already shifted into the low
/// four bits, other bits arbitrary) and high pairs `qh` (already shifted into bits 0..2).
///
/// # Safety
///
/// AVX2/FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn q6_bytes(ql: __m256i, qh: __m256i) -> __m256i {
    let low = _mm256_and_si256(ql, _mm256_set1_epi8(0x0F));
    // The pair is masked before the 16-bit shift, so no bits cross into the next byte.
    let high = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)));
    _mm256_sub_epi8(_mm256_or_si256(low, high), _mm256_set1_epi8(32))
}

/// Q6_K row (210-byte blocks: 128 low-nibble bytes, 64 high-bit bytes, 16 i8 scales, `d`).
///
/// # Safety
///
/// AVX2/FMA present (blocks and `x` chunks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot_q6_k(row: &[u8], x: &[f32]) -> f32 {
    let mut acc = [_mm256_setzero_ps(); 2];
    for (b, xb) in row.chunks_exact(210).zip(x.chunks_exact(256)) {
        let d = f16_at(&b[208..]);
        let scales = &b[192..208];
        for h in 0..2 {
            // SAFETY: the block has 210 bytes: ql [64h, 64h + 64) and qh [128 + 32h,
            // 160 + 32h) are in bounds for h < 2.
            let (ql0, ql1, qh) = (
                load32(&b[64 * h..]),
                load32(&b[64 * h + 32..]),
                load32(&b[128 + 32 * h..]),
            );
            let q = [
                q6_bytes(ql0, qh),
                q6_bytes(ql1, _mm256_srli_epi16::<2>(qh)),
                q6_bytes(_mm256_srli_epi16::<4>(ql0), _mm256_srli_epi16::<4>(qh)),
                q6_bytes(_mm256_srli_epi16::<4>(ql1), _mm256_srli_epi16::<6>(qh)),
            ];
            for (s, qv) in q.into_iter().enumerate() {
                let g = 8 * h + 2 * s;
                let xs = &xb[128 * h + 32 * s..];
                // SAFETY: `xs` starts at most 224 into the 256 floats of `xb`, leaving 32.
                let lo = dot16_i8(_mm256_castsi256_si128(qv), xs);
                let hi = dot16_i8(_mm256_extracti128_si256::<1>(qv), &xs[16..]);
                let (sa, sb) = (scales[g] as i8 as f32, scales[g + 1] as i8 as f32);
                acc[0] = _mm256_fmadd_ps(_mm256_set1_ps(d * sa), lo, acc[0]);
                acc[1] = _mm256_fmadd_ps(_mm256_set1_ps(d * sb), hi, acc[1]);
            }
        }
    }
    hsum(_mm256_add_ps(acc[0], acc[1]))
}
