//! AVX-512 (VNNI) prompt kernels: a tile of weight rows against eight tokens, two tokens per
//! 512-bit register, with the bits of the one-row, one-token AVX2 kernels.
//!
//! Each 512-bit accumulator holds two tokens side by side, each in the 8 lanes ggml's AVX2
//! kernels use (lane `k` of a 32-byte step sums bytes `4k..4k+4`). Integer lanes are exact
//! whatever instruction forms them, and the f32 steps (scale product, FMA, horizontal sum)
//! are ggml's, so every result equals `crate::act::dot_row_act` at the AVX2 level.
//! Activations come prepared by `crate::act::tile` (pairs of tokens interleaved by block).
//!
//! Every function is an `unsafe fn` with AVX-512 F/BW/VL/VNNI enabled: callers must have
//! confirmed the CPU has them and pass the lengths documented on each.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::f32s::hsum;
use crate::act::tile::Line;

/// Bytes of a Q8_0 block.
const Q8_0: usize = 34;
/// Bytes of one prepared block of a token pair: 64 quants, 16 lane offsets, 16 scales.
const PAIR_BLOCK: usize = 192;

/// The f16 at `p` widened to f32 and broadcast (`vcvtph2ps`: exact).
///
/// # Safety
///
/// AVX-512 present; two readable bytes at `p`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn bcast_f16(p: *const u8) -> __m512 {
    // SAFETY: the caller guarantees two bytes; unaligned read.
    let h = unsafe { (p as *const u16).read_unaligned() };
    _mm512_broadcastss_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)))
}

/// The two tokens' results of one accumulator, each through ggml's AVX2 horizontal sum.
///
/// # Safety
///
/// AVX-512 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn hsum_pair(v: __m512) -> [f32; 2] {
    let lo = _mm512_castps512_ps256(v);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    [hsum(lo), hsum(hi)]
}

/// Four Q8_0 rows against four prepared token pairs (eight tokens): `out[r][t]` is the dot of
/// row `r` with token `t`.
///
/// Per block, each row's quants are offset to unsigned (`q ^ 0x80` = `q + 128`) and
/// `vpdpbusd` adds them times the activations to lanes that start at `-128 ×` the lane's
/// activation sum, which leaves exactly the signed lane sums.
///
/// # Safety
///
/// AVX-512 F/BW/VL/VNNI present; each row is `nb` Q8_0 blocks (`34 * nb` bytes); `pairs`
/// holds four pairs of `nb` prepared blocks each (three lines per block).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn q8_0_4x8(rows: [&[u8]; 4], pairs: &[Line], nb: usize) -> [[f32; 8]; 4] {
    debug_assert!(rows.iter().all(|r| r.len() == nb * Q8_0));
    debug_assert!(pairs.len() == 4 * nb * 3);
    let stride = nb * PAIR_BLOCK;
    let flip = _mm512_set1_epi8(-128);
    let mut acc = [[_mm512_setzero_ps(); 4]; 4];
    let rp = rows.map(|r| r.as_ptr());
    // 64-byte aligned (`Line`), and so is every 64-byte field of a prepared block.
    let pp = pairs.as_ptr() as *const u8;
    for j in 0..nb {
        // SAFETY: block j of every pair lies inside `pairs` (length above).
        let sc = unsafe {
            [0, 1, 2, 3]
                .map(|p| _mm512_load_ps(pp.add(p * stride + j * PAIR_BLOCK + 128) as *const f32))
        };
        for r in 0..4 {
            // SAFETY: block j of row r lies inside the row (length above).
            let (w, dw) = unsafe {
                let b = rp[r].add(j * Q8_0);
                let q = _mm256_loadu_si256(b.add(2) as *const __m256i);
                (
                    _mm512_xor_si512(_mm512_broadcast_i64x4(q), flip),
                    bcast_f16(b),
                )
            };
            for p in 0..4 {
                // SAFETY: as for `sc`. The lane offsets are read afresh for every row (a
                // volatile load): `vpdpbusd` overwrites them, and a register copy kept across
                // the rows would cost an instruction and spill the accumulators.
                let (a, init) = unsafe {
                    let at = pp.add(p * stride + j * PAIR_BLOCK);
                    (
                        _mm512_load_si512(at as *const _),
                        std::ptr::read_volatile(at.add(64) as *const __m512i),
                    )
                };
                let s = _mm512_dpbusd_epi32(init, w, a);
                let d = _mm512_mul_ps(dw, sc[p]);
                acc[r][p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[r][p]);
            }
        }
    }
    let mut out = [[0f32; 8]; 4];
    for r in 0..4 {
        for p in 0..4 {
            let [a, b] = hsum_pair(acc[r][p]);
            out[r][2 * p] = a;
            out[r][2 * p + 1] = b;
        }
    }
    out
}
