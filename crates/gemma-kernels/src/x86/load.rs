//! Byte loads and bit expansion shared by the x86 kernels.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

/// Loads 16 bytes from the start of `p`.
///
/// # Safety
///
/// AVX2 present; `p.len() >= 16`.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn load16(p: &[u8]) -> __m128i {
    debug_assert!(p.len() >= 16);
    // SAFETY: the caller guarantees 16 readable bytes; loadu has no alignment need.
    _mm_loadu_si128(p.as_ptr().cast())
}

/// Loads 32 bytes from the start of `p`.
///
/// # Safety
///
/// AVX2 present; `p.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn load32(p: &[u8]) -> __m256i {
    debug_assert!(p.len() >= 32);
    // SAFETY: the caller guarantees 32 readable bytes; loadu has no alignment need.
    _mm256_loadu_si256(p.as_ptr().cast())
}

/// Expands the 32 bits of `bits` to 32 bytes, 0xFF where the bit is set (bit `i` → byte `i`).
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) unsafe fn bits_to_bytes(bits: u32) -> __m256i {
    let v = _mm256_set1_epi32(bits as i32);
    // Byte i takes byte i / 8 of `bits` (shuffles index within each 128-bit lane).
    let pick = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, //
        2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let spread = _mm256_shuffle_epi8(v, pick);
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201_u64 as i64);
    _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask)
}
