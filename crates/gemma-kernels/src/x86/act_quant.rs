//! AVX2 activation quantizers (Q8_0, Q8_1, Q8_K) producing the same bytes as the portable
//! ones in `crate::act::quantize` (whose comments give the rules).
//!
//! Q8_0/Q8_1 follow ggml's AVX path instruction for instruction where the result depends
//! on it (max reduction order, `roundps` to nearest even, `cvtps2dq`, saturating packs);
//! Q8_K vectorizes ggml's reference loop (first value of largest magnitude, the
//! add-1.5·2^23 rounding trick, truncation to i8).
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma")]`:
//! callers must have confirmed the CPU supports AVX2 and FMA, and pass whole blocks with a
//! matching output length, which the public wrappers check.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::f32s::load8;
use crate::act::quantize::f32_to_f16_bits;

/// Stores 32 bytes at the start of `p`.
///
/// # Safety
///
/// AVX2/FMA present; `p.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn store32(p: &mut [u8], v: __m256i) {
    debug_assert!(p.len() >= 32);
    // SAFETY: the caller guarantees 32 writable bytes of a unique borrow; no alignment need.
    _mm256_storeu_si256(p.as_mut_ptr().cast(), v)
}

/// Sums the 8 i32 lanes of `v` (wrapping).
///
/// # Safety
///
/// AVX2/FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum_i32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Packs four vectors of i32 (elements 0..32 in order) into 32 i8 with saturation, in order.
///
/// # Safety
///
/// AVX2/FMA present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_i8_saturating(i: [__m256i; 4]) -> __m256i {
    // The packs work within 128-bit halves; the permutation restores element order.
    let a = _mm256_packs_epi32(i[0], i[1]);
    let b = _mm256_packs_epi32(i[2], i[3]);
    let p = _mm256_packs_epi16(a, b);
    _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// Quantizes one 32-value block to i32 quants as ggml's AVX code; returns them and `d`.
///
/// # Safety
///
/// AVX2/FMA present; `xb.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn q8_block(xb: &[f32]) -> ([__m256i; 4], f32) {
    // SAFETY: the caller guarantees 32 floats.
    let v = [
        load8(xb),
        load8(&xb[8..]),
        load8(&xb[16..]),
        load8(&xb[24..]),
    ];
    let sign = _mm256_set1_ps(-0.0);
    let mut m = _mm256_andnot_ps(sign, v[0]);
    for vk in &v[1..] {
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, *vk));
    }
    let mut m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    let amax = _mm_cvtss_f32(m4);
    let d = amax / 127.0;
    let id = _mm256_set1_ps(if amax != 0.0 { 127.0 / amax } else { 0.0 });
    const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    let q = v.map(|vk| _mm256_cvtps_epi32(_mm256_round_ps::<NEAREST>(_mm256_mul_ps(vk, id))));
    (q, d)
}

/// Q8_0 (34-byte blocks).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn q8_0(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(34)) {
        // SAFETY: `xb` has 32 floats and `ob[2..]` 32 bytes.
        let (q, d) = q8_block(xb);
        ob[0..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        store32(&mut ob[2..], pack_i8_saturating(q));
    }
}

/// Q8_1 (36-byte blocks).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn q8_1(x: &[f32], out: &mut [u8]) {
    for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(36)) {
        // SAFETY: `xb` has 32 floats and `ob[4..]` 32 bytes.
        let (q, d) = q8_block(xb);
        let sum = hsum_i32(_mm256_add_epi32(
            _mm256_add_epi32(q[0], q[1]),
            _mm256_add_epi32(q[2], q[3]),
        ));
        ob[0..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
        ob[2..4].copy_from_slice(&f32_to_f16_bits(d * sum as f32).to_le_bytes());
        store32(&mut ob[4..], pack_i8_saturating(q));
    }
}

/// Q8_K (292-byte blocks).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn q8_k(x: &[f32], out: &mut [u8]) {
    let sign = _mm256_set1_ps(-0.0);
    for (xb, ob) in x.chunks_exact(256).zip(out.chunks_exact_mut(292)) {
        // max |x|, skipping NaNs like the reference's `ax > amax` (maxps returns its
        // second operand, the running maximum, when the new value is NaN).
        let mut m = _mm256_setzero_ps();
        for c in xb.chunks_exact(8) {
            // SAFETY: each chunk has 8 floats.
            m = _mm256_max_ps(_mm256_andnot_ps(sign, load8(c)), m);
        }
        let mut m4 = _mm_max_ps(_mm256_extractf128_ps::<1>(m), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        let amax = _mm_cvtss_f32(m4);
        if amax == 0.0 {
            ob.fill(0);
            continue;
        }
        // The first value whose magnitude is the maximum gives the sign.
        let target = _mm256_set1_ps(amax);
        let mut max = amax;
        for (k, c) in xb.chunks_exact(8).enumerate() {
            // SAFETY: each chunk has 8 floats.
            let eq = _mm256_cmp_ps::<_CMP_EQ_OQ>(_mm256_andnot_ps(sign, load8(c)), target);
            let mask = _mm256_movemask_ps(eq);
            if mask != 0 {
                max = xb[8 * k + mask.trailing_zeros() as usize];
                break;
            }
        }
        let iscale = -127.0 / max;
        let vs = _mm256_set1_ps(iscale);
        let magic = _mm256_set1_ps(12_582_912.0);
        let (mant, bias) = (
            _mm256_set1_epi32(0x007F_FFFF),
            _mm256_set1_epi32(0x0040_0000),
        );
        let (cap, low) = (_mm256_set1_epi32(127), _mm256_set1_epi32(0xFF));
        for g in 0..8 {
            let mut t = [_mm256_setzero_si256(); 4];
            let mut s = [_mm256_setzero_si256(); 4];
            for (k, (tk, sk)) in t.iter_mut().zip(&mut s).enumerate() {
                // SAFETY: 32g + 8k + 8 <= 256 floats.
                let v = _mm256_add_ps(_mm256_mul_ps(vs, load8(&xb[32 * g + 8 * k..])), magic);
                let i = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(v), mant), bias);
                let i = _mm256_min_epi32(i, cap);
                // The stored byte is the low byte (C's conversion to int8_t); the sums
                // read it back sign-extended.
                *tk = _mm256_and_si256(i, low);
                *sk = _mm256_srai_epi32::<24>(_mm256_slli_epi32::<24>(i));
            }
            let p01 = _mm256_packus_epi32(t[0], t[1]);
            let p23 = _mm256_packus_epi32(t[2], t[3]);
            let bytes = _mm256_permutevar8x32_epi32(
                _mm256_packus_epi16(p01, p23),
                _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7),
            );
            // SAFETY: `ob` has 292 bytes; [4 + 32g, 36 + 32g) is in bounds for g < 8.
            store32(&mut ob[4 + 32 * g..], bytes);
            let lo = hsum_i32(_mm256_add_epi32(s[0], s[1])) as i16;
            let hi = hsum_i32(_mm256_add_epi32(s[2], s[3])) as i16;
            ob[260 + 4 * g..262 + 4 * g].copy_from_slice(&lo.to_le_bytes());
            ob[262 + 4 * g..264 + 4 * g].copy_from_slice(&hi.to_le_bytes());
        }
        ob[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
    }
}
