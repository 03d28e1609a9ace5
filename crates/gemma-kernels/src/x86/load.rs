//! Unaligned byte loads shared by the x86 kernels.
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
