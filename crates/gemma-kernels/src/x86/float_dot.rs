//! ggml's float row dots (`ggml_vec_dot_f32`, `ggml_vec_dot_f16`, `ggml_vec_dot_bf16`) bit for
//! bit, in the three shapes llama.cpp's x86 builds give them: AVX2+FMA+F16C, AVX-512F, and
//! AVX-512F with AVX512-BF16 (`-march=native` on a CPU that has it).
//!
//! The arithmetic follows `ggml-cpu/vec.cpp` and `ggml-cpu/simd-mappings.h` of the llama.cpp
//! vendored by llama-cpp-python 0.3.36, as GCC 12 (`-O3`, `-std=gnu++17`, so
//! `-ffp-contract=fast`) compiles them (read from the disassembly of llama-cpp-python's
//! `libggml-cpu.so` and of `vec.cpp` built for each target); line numbers below are that
//! `vec.cpp`'s.
//!
//! - F32 (lines 104-126) and F16 (lines 345-367): `L` lanes (8 with AVX2, 16 with AVX-512), 4
//!   accumulators, steps of `4L` values; accumulator `j` takes values `[i + jL, i + jL + L)` by
//!   FMA (`GGML_F32_VEC_FMA`; F16 widens exactly with `vcvtph2ps` first). `GGML_F32x8_REDUCE` /
//!   `GGML_F32x16_REDUCE`: `a0 += a2`, `a1 += a3`, `a0 += a1`, then the lanes of `a0` (see
//!   [`hsum8_hadd`], [`hsum16`]). Leftovers: F16 adds each `f32` product to an f64 sum
//!   (`ggml_float`); F32 keeps its sum in `f32` (line 19) and GCC vectorises line 125, so of
//!   `r` leftovers the first `r / 4 * 4` are added as rounded products one by one and the
//!   last `r % 4` are fused multiply-adds (see [`tail_f32`]).
//! - BF16 with AVX2 (lines 172-195): 4 accumulators of 8 lanes, steps of 32, then
//!   `(c1 + c3) + (c2 + c4)` and [`hsum8_halves`]. With AVX-512F (lines 160-170): 2
//!   accumulators of 16 lanes, steps of 32 (`c1` the first 16 values, `c2` the next). The
//!   products of two bf16 are exact in f32, so GCC's fusing of `mul` + `add` into FMA changes
//!   nothing except when a product overflows or underflows; we fuse, as the binary does.
//! - BF16 with AVX512-BF16 (lines 148-158): 2 accumulators of 16 lanes, steps of 64, each
//!   `vdpbf16ps` over 32 values: lane `k` adds the product of pair element `2k + 1`, then that
//!   of `2k`, each a fused multiply-add rounded to nearest even, with denormal inputs read as
//!   zero and denormal results flushed to zero (Intel SDM; checked on hardware by the tests).
//! - BF16 reductions: `sumf` (f64) `+= reduce(c1)`, `+= reduce(c2)` (or the one AVX2 sum),
//!   then the leftovers' exact products in f64 (line 258). Every path ends with a cast to f32.
//!
//! Every kernel is an `unsafe fn` with `#[target_feature]`: callers must have confirmed the CPU
//! has the features, and pass a weight row and an activation row of the same format and
//! length, which the public wrappers in `super` check. Rows come from memory maps and byte
//! vectors, so every load is unaligned.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use crate::level::{active_level, avx2_fma_detected, avx512_detected, has_avx512_bf16};
use crate::quant::f16_at;
use crate::KernelLevel;

/// Which x86 build of ggml's float row dots to reproduce.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FloatDotBuild {
    /// `__AVX2__` with FMA and F16C: 8-lane registers (the [`KernelLevel::Avx2Fma`] level).
    Avx2,
    /// `__AVX512F__` without `__AVX512BF16__`: 16-lane registers.
    Avx512,
    /// `__AVX512F__` with `__AVX512BF16__`: as [`FloatDotBuild::Avx512`] for F32 and F16; BF16
    /// rows use `vdpbf16ps`.
    Avx512Bf16,
}

impl FloatDotBuild {
    /// Every build, narrowest first.
    pub const ALL: [FloatDotBuild; 3] = [
        FloatDotBuild::Avx2,
        FloatDotBuild::Avx512,
        FloatDotBuild::Avx512Bf16,
    ];

    /// Short name for logs and test messages.
    pub fn name(self) -> &'static str {
        match self {
            FloatDotBuild::Avx2 => "avx2",
            FloatDotBuild::Avx512 => "avx512f",
            FloatDotBuild::Avx512Bf16 => "avx512bf16",
        }
    }

    /// Whether this CPU can run the build's kernels.
    pub fn is_supported(self) -> bool {
        match self {
            FloatDotBuild::Avx2 => avx2_fma_detected(),
            FloatDotBuild::Avx512 => avx512_detected(),
            FloatDotBuild::Avx512Bf16 => has_avx512_bf16(),
        }
    }

    /// The builds this CPU can run, narrowest first (for tests that check each).
    pub fn supported() -> Vec<FloatDotBuild> {
        Self::ALL.into_iter().filter(|b| b.is_supported()).collect()
    }

    /// The build that a kernel level runs: none at the scalar level, the AVX2 one at
    /// [`KernelLevel::Avx2Fma`], and at [`KernelLevel::Avx512`] the AVX512-BF16 one where the
    /// CPU has AVX512-BF16, else the AVX-512F one.
    pub fn for_level(level: KernelLevel) -> Option<FloatDotBuild> {
        match level {
            KernelLevel::Scalar => None,
            KernelLevel::Avx2Fma => Some(FloatDotBuild::Avx2),
            KernelLevel::Avx512 if has_avx512_bf16() => Some(FloatDotBuild::Avx512Bf16),
            KernelLevel::Avx512 => Some(FloatDotBuild::Avx512),
        }
    }

    /// The build the active level runs, or the AVX2 one below the AVX2 level (for callers that
    /// already know the CPU has AVX2 and FMA).
    pub(crate) fn active_or_avx2() -> FloatDotBuild {
        FloatDotBuild::for_level(active_level()).unwrap_or(FloatDotBuild::Avx2)
    }
}

// ---------------------------------------------------------------------------------------------
// Loads (unaligned) and horizontal sums

/// 8 little-endian f32 from the first 32 bytes of `p`.
///
/// # Safety
///
/// AVX2 present; `p.len() >= 32`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn f32x8(p: &[u8]) -> __m256 {
    debug_assert!(p.len() >= 32);
    // SAFETY: the caller guarantees 32 readable bytes; loadu has no alignment need.
    _mm256_loadu_ps(p.as_ptr().cast())
}

/// 16 little-endian f32 from the first 64 bytes of `p`.
///
/// # Safety
///
/// AVX-512F present; `p.len() >= 64`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn f32x16(p: &[u8]) -> __m512 {
    debug_assert!(p.len() >= 64);
    // SAFETY: the caller guarantees 64 readable bytes; loadu has no alignment need.
    _mm512_loadu_ps(p.as_ptr().cast())
}

/// 8 halves from the first 16 bytes of `p`, widened exactly (`GGML_F32Cx8_LOAD`).
///
/// # Safety
///
/// AVX2 and F16C present; `p.len() >= 16`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn f16x8(p: &[u8]) -> __m256 {
    debug_assert!(p.len() >= 16);
    // SAFETY: the caller guarantees 16 readable bytes; loadu has no alignment need.
    _mm256_cvtph_ps(_mm_loadu_si128(p.as_ptr().cast()))
}

/// 16 halves from the first 32 bytes of `p`, widened exactly (`GGML_F32Cx16_LOAD`).
///
/// # Safety
///
/// AVX-512F present; `p.len() >= 32`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn f16x16(p: &[u8]) -> __m512 {
    debug_assert!(p.len() >= 32);
    // SAFETY: the caller guarantees 32 readable bytes; loadu has no alignment need.
    _mm512_cvtph_ps(_mm256_loadu_si256(p.as_ptr().cast()))
}

/// 8 bfloat16 from the first 16 bytes of `p` as f32 (zero-extend, shift left by 16).
///
/// # Safety
///
/// AVX2 present; `p.len() >= 16`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn bf16x8(p: &[u8]) -> __m256 {
    debug_assert!(p.len() >= 16);
    // SAFETY: the caller guarantees 16 readable bytes; loadu has no alignment need.
    let h = _mm_loadu_si128(p.as_ptr().cast());
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

/// 16 bfloat16 from the first 32 bytes of `p` as f32 (zero-extend, shift left by 16).
///
/// # Safety
///
/// AVX-512F present; `p.len() >= 32`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bf16x16(p: &[u8]) -> __m512 {
    debug_assert!(p.len() >= 32);
    // SAFETY: the caller guarantees 32 readable bytes; loadu has no alignment need.
    let h = _mm256_loadu_si256(p.as_ptr().cast());
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
}

/// 32 bfloat16 from the first 64 bytes of `p`, as `vdpbf16ps` reads them.
///
/// # Safety
///
/// AVX-512F and AVX512-BF16 present; `p.len() >= 64`.
#[inline]
#[target_feature(enable = "avx512bf16,avx512f,avx2,fma")]
unsafe fn bf16x32(p: &[u8]) -> __m512bh {
    debug_assert!(p.len() >= 64);
    // SAFETY: the caller guarantees 64 readable bytes; `read_unaligned` has no alignment
    // need, and every bit pattern is a valid `__m512bh`.
    std::ptr::read_unaligned(p.as_ptr().cast::<__m512bh>())
}

/// `GGML_F32x8_REDUCE`'s last steps: `t = low half + high half`, then two `hadd`s:
/// `(t0 + t1) + (t2 + t3)`.
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum8_hadd(v: __m256) -> f32 {
    let t = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let t = _mm_hadd_ps(t, t);
    _mm_cvtss_f32(_mm_hadd_ps(t, t))
}

/// The AVX2 BF16 dot's sum of 8 lanes: `g = low half + high half`, then
/// `(g0 + g2) + (g1 + g3)` (`movehl`, then `movehdup`).
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn hsum8_halves(v: __m256) -> f32 {
    let g = _mm_add_ps(_mm256_extractf128_ps::<1>(v), _mm256_castps256_ps128(v));
    let g = _mm_add_ps(g, _mm_movehl_ps(g, g));
    _mm_cvtss_f32(_mm_add_ss(g, _mm_movehdup_ps(g)))
}

/// `_mm512_reduce_add_ps` as GCC expands it: the two 256-bit halves added, then their
/// 128-bit halves, then `(t0 + t2) + (t1 + t3)`. (Rust's own `_mm512_reduce_add_ps` leaves
/// the order to LLVM, so it is spelled out.)
///
/// # Safety
///
/// AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn hsum16(v: __m512) -> f32 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    let h = _mm256_add_ps(hi, _mm512_castps512_ps256(v));
    let t = _mm_add_ps(_mm256_extractf128_ps::<1>(h), _mm256_castps256_ps128(h));
    let t = _mm_add_ps(t, _mm_movehl_ps(t, t));
    _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)))
}

/// The little-endian f32 at element `i` of `p`.
#[inline(always)]
fn f32_at(p: &[u8], i: usize) -> f32 {
    f32::from_le_bytes([p[4 * i], p[4 * i + 1], p[4 * i + 2], p[4 * i + 3]])
}

/// The bfloat16 at element `i` of `p`, as f32 (exact).
#[inline(always)]
fn bf16_at(p: &[u8], i: usize) -> f32 {
    f32::from_bits((u16::from_le_bytes([p[2 * i], p[2 * i + 1]]) as u32) << 16)
}

// ---------------------------------------------------------------------------------------------
// Leftovers

/// `ggml_vec_dot_f32`'s leftover loop (`sumf += x[i]*y[i]` in f32, line 125) as GCC 12
/// vectorises it: elements `from..n` in order, the first `(n - from) / 4 * 4` as rounded
/// products added one by one (vector `mulps`, scalar `addss`), the rest as fused
/// multiply-adds (the scalar epilogue, contracted).
#[inline(always)]
fn tail_f32(mut sum: f32, x: &[u8], y: &[u8], from: usize, n: usize) -> f32 {
    let fused = from + (n - from) / 4 * 4;
    for i in from..fused {
        sum += f32_at(x, i) * f32_at(y, i);
    }
    for i in fused..n {
        sum = f32_at(x, i).mul_add(f32_at(y, i), sum);
    }
    sum
}

/// `sum + Σ (f32 product) as f64` over elements `from..n` decoded by `at` (the F16 and BF16
/// leftovers, `ggml_float`), cast to f32.
#[inline(always)]
fn tail_f64(
    mut sum: f64,
    x: &[u8],
    y: &[u8],
    from: usize,
    n: usize,
    at: fn(&[u8], usize) -> f32,
) -> f32 {
    for i in from..n {
        sum += (at(x, i) * at(y, i)) as f64;
    }
    sum as f32
}

/// The f16 at element `i` of `p`, as f32 (exact).
#[inline(always)]
fn f16_elem(p: &[u8], i: usize) -> f32 {
    f16_at(&p[2 * i..])
}

// ---------------------------------------------------------------------------------------------
// F32 × F32

/// F32 × F32, AVX2 build: 4 × 8 lanes, steps of 32.
///
/// # Safety
///
/// AVX2 and FMA present; `x.len() == y.len()`, a multiple of 4.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn f32_avx2(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 4;
    let np = n / 32 * 32;
    let mut acc = [_mm256_setzero_ps(); 4];
    for (xs, ys) in x[..4 * np].chunks_exact(128).zip(y.chunks_exact(128)) {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk has 128 bytes, so [32j, 32j + 32) is in bounds.
            *a = _mm256_fmadd_ps(f32x8(&xs[32 * j..]), f32x8(&ys[32 * j..]), *a);
        }
    }
    let [a0, a1, a2, a3] = acc;
    let sum = hsum8_hadd(_mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)));
    tail_f32(sum, x, y, np, n)
}

/// F32 × F32, AVX-512 builds: 4 × 16 lanes, steps of 64.
///
/// # Safety
///
/// AVX-512F, AVX2 and FMA present; `x.len() == y.len()`, a multiple of 4.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn f32_avx512(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 4;
    let np = n / 64 * 64;
    let mut acc = [_mm512_setzero_ps(); 4];
    for (xs, ys) in x[..4 * np].chunks_exact(256).zip(y.chunks_exact(256)) {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk has 256 bytes, so [64j, 64j + 64) is in bounds.
            *a = _mm512_fmadd_ps(f32x16(&xs[64 * j..]), f32x16(&ys[64 * j..]), *a);
        }
    }
    let [a0, a1, a2, a3] = acc;
    let sum = hsum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    tail_f32(sum, x, y, np, n)
}

// ---------------------------------------------------------------------------------------------
// F16 × F16

/// F16 × F16, AVX2 build: 4 × 8 lanes, steps of 32.
///
/// # Safety
///
/// AVX2, FMA and F16C present; `x.len() == y.len()`, even.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn f16_avx2(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 2;
    let np = n / 32 * 32;
    let mut acc = [_mm256_setzero_ps(); 4];
    for (xs, ys) in x[..2 * np].chunks_exact(64).zip(y.chunks_exact(64)) {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk has 64 bytes, so [16j, 16j + 16) is in bounds.
            *a = _mm256_fmadd_ps(f16x8(&xs[16 * j..]), f16x8(&ys[16 * j..]), *a);
        }
    }
    let [a0, a1, a2, a3] = acc;
    let sum = hsum8_hadd(_mm256_add_ps(_mm256_add_ps(a0, a2), _mm256_add_ps(a1, a3)));
    tail_f64(sum as f64, x, y, np, n, f16_elem)
}

/// F16 × F16, AVX-512 builds: 4 × 16 lanes, steps of 64.
///
/// # Safety
///
/// AVX-512F, AVX2 and FMA present; `x.len() == y.len()`, even.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn f16_avx512(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 2;
    let np = n / 64 * 64;
    let mut acc = [_mm512_setzero_ps(); 4];
    for (xs, ys) in x[..2 * np].chunks_exact(128).zip(y.chunks_exact(128)) {
        for (j, a) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk has 128 bytes, so [32j, 32j + 32) is in bounds.
            *a = _mm512_fmadd_ps(f16x16(&xs[32 * j..]), f16x16(&ys[32 * j..]), *a);
        }
    }
    let [a0, a1, a2, a3] = acc;
    let sum = hsum16(_mm512_add_ps(_mm512_add_ps(a0, a2), _mm512_add_ps(a1, a3)));
    tail_f64(sum as f64, x, y, np, n, f16_elem)
}

// ---------------------------------------------------------------------------------------------
// BF16 × BF16

/// BF16 × BF16, AVX2 build: 4 × 8 lanes, steps of 32.
///
/// # Safety
///
/// AVX2 and FMA present; `x.len() == y.len()`, even.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn bf16_avx2(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 2;
    let np = n / 32 * 32;
    let mut acc = [_mm256_setzero_ps(); 4];
    for (xs, ys) in x[..2 * np].chunks_exact(64).zip(y.chunks_exact(64)) {
        for (j, c) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk has 64 bytes, so [16j, 16j + 16) is in bounds.
            *c = _mm256_fmadd_ps(bf16x8(&xs[16 * j..]), bf16x8(&ys[16 * j..]), *c);
        }
    }
    let [c1, c2, c3, c4] = acc;
    let v = _mm256_add_ps(_mm256_add_ps(c1, c3), _mm256_add_ps(c2, c4));
    tail_f64(0.0 + hsum8_halves(v) as f64, x, y, np, n, bf16_at)
}

/// BF16 × BF16, AVX-512F build: 2 × 16 lanes, steps of 32.
///
/// # Safety
///
/// AVX-512F, AVX2 and FMA present; `x.len() == y.len()`, even.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(super) unsafe fn bf16_avx512(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 2;
    let np = n / 32 * 32;
    let (mut c1, mut c2) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    for (xs, ys) in x[..2 * np].chunks_exact(64).zip(y.chunks_exact(64)) {
        // SAFETY: each chunk has 64 bytes: [0, 32) and [32, 64) are in bounds.
        c1 = _mm512_fmadd_ps(bf16x16(xs), bf16x16(ys), c1);
        c2 = _mm512_fmadd_ps(bf16x16(&xs[32..]), bf16x16(&ys[32..]), c2);
    }
    let sum = 0.0 + hsum16(c1) as f64 + hsum16(c2) as f64;
    tail_f64(sum, x, y, np, n, bf16_at)
}

/// BF16 × BF16, AVX512-BF16 build: 2 × 16 lanes of `vdpbf16ps`, steps of 64.
///
/// # Safety
///
/// AVX-512F, AVX512-BF16, AVX2 and FMA present; `x.len() == y.len()`, even.
#[target_feature(enable = "avx512bf16,avx512f,avx2,fma")]
pub(super) unsafe fn bf16_dpbf16(x: &[u8], y: &[u8]) -> f32 {
    let n = x.len() / 2;
    let np = n / 64 * 64;
    let (mut c1, mut c2) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    for (xs, ys) in x[..2 * np].chunks_exact(128).zip(y.chunks_exact(128)) {
        // SAFETY: each chunk has 128 bytes: [0, 64) and [64, 128) are in bounds.
        c1 = _mm512_dpbf16_ps(c1, bf16x32(xs), bf16x32(ys));
        c2 = _mm512_dpbf16_ps(c2, bf16x32(&xs[64..]), bf16x32(&ys[64..]));
    }
    let sum = 0.0 + hsum16(c1) as f64 + hsum16(c2) as f64;
    tail_f64(sum, x, y, np, n, bf16_at)
}
