//! AVX-512 forms of `crate::ggml_multi`'s attention sums, with the same bits: ggml's 4 × 16
//! lane accumulators held in 512-bit registers for four queries at once (`K·q`), and the 64
//! lanes of `V·p` for eight queries.
//!
//! Every function is an `unsafe fn` with AVX-512F enabled: callers must have confirmed the CPU
//! has it and pass the lengths documented on each.
#![allow(unsafe_code)]
#![allow(clippy::needless_range_loop)] // register arrays read best indexed

use std::arch::x86_64::*;

/// `dot_f16_ggml(k, qs[i])` for four queries; `k.len()` is a multiple of 64 and every query
/// as long.
///
/// # Safety
///
/// AVX-512F present; lengths as stated.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn dot_f16_x4(k: &[f32], qs: [&[f32]; 4]) -> [f32; 4] {
    let n = k.len();
    debug_assert!(n.is_multiple_of(64) && qs.iter().all(|q| q.len() == n));
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let kp = k.as_ptr();
    let qp = qs.map(|q| q.as_ptr());
    for i in (0..n).step_by(64) {
        for a in 0..4 {
            // SAFETY: i + 16a + 16 <= n for every slice (lengths above).
            unsafe {
                let kv = _mm512_loadu_ps(kp.add(i + 16 * a));
                for q in 0..4 {
                    let y = _mm512_loadu_ps(qp[q].add(i + 16 * a));
                    acc[q][a] = _mm512_fmadd_ps(kv, y, acc[q][a]);
                }
            }
        }
    }
    let v = acc.map(|[a0, a1, a2, a3]| {
        let a0 = _mm512_add_ps(a0, a2);
        let a1 = _mm512_add_ps(a1, a3);
        _mm512_add_ps(a0, a1)
    });
    // SAFETY: same CPU features.
    unsafe { reduce16_x4(v) }.map(|s| s as f32)
}

/// `_mm512_reduce_add_ps` as GCC expands it (`crate::ggml::reduce16`), widened to f64, for
/// four registers at once with the same additions: the 256-bit halves, then
/// the 128-bit quarters, then `s[0] + s[2]`, `s[1] + s[3]`, then their sum.
///
/// # Safety
///
/// AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn reduce16_x4(v: [__m512; 4]) -> [f64; 4] {
    // [v0 halves summed | v1 halves summed], [v2 | v3].
    let w = [0, 1].map(|i| {
        let (a, b) = (v[2 * i], v[2 * i + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0xEE>(a, b),
            _mm512_shuffle_f32x4::<0x44>(a, b),
        )
    });
    // Quarter i: the two quarters of v[i]'s half sum added.
    let s4 = _mm512_add_ps(
        _mm512_shuffle_f32x4::<0xDD>(w[0], w[1]),
        _mm512_shuffle_f32x4::<0x88>(w[0], w[1]),
    );
    let s2 = _mm512_add_ps(s4, _mm512_shuffle_ps::<0xEE>(s4, s4));
    let s1 = _mm512_add_ps(s2, _mm512_shuffle_ps::<0x55>(s2, s2));
    let mut out = [0f32; 16];
    // SAFETY: 16 floats fit in `out`.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), s1) };
    [out[0], out[4], out[8], out[12]].map(f64::from)
}

/// Lane `a` of `V·p` for eight queries: the cells whose absolute index is `a` modulo 64.
///
/// # Safety
///
/// As [`vp_x8`].
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn vp_lane(
    v: *const f32,
    stride: usize,
    lo: usize,
    n: usize,
    pp: &[*const f32; 8],
    a: usize,
) -> [__m512; 8] {
    let mut acc = [_mm512_setzero_ps(); 8];
    let mut c = (a + 64 - lo % 64) % 64;
    while c < n {
        // SAFETY: c < n (see `vp_x8`'s contract).
        unsafe {
            let x = _mm512_loadu_ps(v.add(c * stride));
            for q in 0..8 {
                acc[q] = _mm512_fmadd_ps(x, _mm512_set1_ps(*pp[q].add(c)), acc[q]);
            }
        }
        c += 64;
    }
    acc
}

/// `x + y`, query by query.
///
/// # Safety
///
/// AVX-512F present.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn add8(x: [__m512; 8], y: [__m512; 8]) -> [__m512; 8] {
    let mut o = x;
    for q in 0..8 {
        o[q] = _mm512_add_ps(x[q], y[q]);
    }
    o
}

/// `V·p` over 16 output elements for eight queries (see `crate::ggml_multi::vp_multi`): cell
/// `c` of `n` has its 16 values at `v.add(c * stride)` and weight `ps[q][c]`; `lo` is the
/// absolute index of cell 0.
///
/// # Safety
///
/// AVX-512F present; every weight row holds `n` values; the 16 values of every cell are
/// readable.
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn vp_x8(
    v: *const f32,
    stride: usize,
    lo: usize,
    n: usize,
    ps: [&[f32]; 8],
) -> [[f32; 16]; 8] {
    debug_assert!(ps.iter().all(|p| p.len() == n));
    let pp = ps.map(|p| p.as_ptr());
    // r[i] = (lane i + lane 32+i) + (lane 16+i + lane 48+i), then reduce16 across the rows.
    let mut r = [[_mm512_setzero_ps(); 8]; 16];
    for (i, ri) in r.iter_mut().enumerate() {
        // SAFETY: the contract is passed on.
        let l = |a| unsafe { vp_lane(v, stride, lo, n, &pp, a) };
        *ri = add8(add8(l(i), l(32 + i)), add8(l(16 + i), l(48 + i)));
    }
    for i in 0..8 {
        r[8 + i] = add8(r[8 + i], r[i]);
    }
    for i in 0..4 {
        r[12 + i] = add8(r[12 + i], r[8 + i]);
    }
    let f = add8(add8(r[12], r[14]), add8(r[13], r[15]));
    let mut out = [[0f32; 16]; 8];
    for q in 0..8 {
        // SAFETY: 16 floats fit in the row.
        unsafe { _mm512_storeu_ps(out[q].as_mut_ptr(), f[q]) };
    }
    out
}
