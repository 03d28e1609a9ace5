//! AVX2+FMA f32 slice kernels: dot product, axpy and the horizontal sum.
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma")]`:
//! callers must have confirmed the CPU supports AVX2 and FMA. (Written so that it also
//! builds on toolchains before target-feature 1.1, where intrinsics are all `unsafe`.)
#![allow(unsafe_code)]

use std::arch::x86_64::*;

/// Sums the 8 lanes of `v`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps::<1>(s, s));
    _mm_cvtss_f32(s)
}

/// Loads 8 floats from the start of `p`.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA, and `p.len() >= 8`.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn load8(p: &[f32]) -> __m256 {
    debug_assert!(p.len() >= 8);
    // SAFETY: the caller guarantees 8 readable floats; loadu has no alignment need.
    _mm256_loadu_ps(p.as_ptr())
}

/// `sum(a[i] * b[i])` over the common length (callers check the lengths are equal).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [_mm256_setzero_ps(); 4];
    let big = n / 32 * 32;
    for (ca, cb) in a[..big].chunks_exact(32).zip(b[..big].chunks_exact(32)) {
        for k in 0..4 {
            // SAFETY: each chunk has 32 floats, so [8k, 8k + 8) is in bounds.
            let (va, vb) = (load8(&ca[8 * k..]), load8(&cb[8 * k..]));
            acc[k] = _mm256_fmadd_ps(va, vb, acc[k]);
        }
    }
    let mid = n / 8 * 8;
    for (ca, cb) in a[big..mid].chunks_exact(8).zip(b[big..mid].chunks_exact(8)) {
        // SAFETY: each chunk has 8 floats.
        acc[0] = _mm256_fmadd_ps(load8(ca), load8(cb), acc[0]);
    }
    let mut tail = 0.0f32;
    for (p, q) in a[mid..].iter().zip(&b[mid..]) {
        tail += p * q;
    }
    let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    hsum(v) + tail
}

/// `y += a * x` over the common length (callers check the lengths are equal).
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
    let n = x.len().min(y.len());
    let va = _mm256_set1_ps(a);
    let mid = n / 8 * 8;
    for (cy, cx) in y[..mid].chunks_exact_mut(8).zip(x[..mid].chunks_exact(8)) {
        // SAFETY: both chunks hold exactly 8 floats; `cy` is a unique borrow, so the
        // unaligned store writes only memory we own.
        let r = _mm256_fmadd_ps(va, load8(cx), load8(cy));
        _mm256_storeu_ps(cy.as_mut_ptr(), r);
    }
    for (yi, xi) in y[mid..n].iter_mut().zip(&x[mid..n]) {
        *yi += a * xi;
    }
}
