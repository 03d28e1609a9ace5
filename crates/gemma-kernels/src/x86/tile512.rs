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
#![allow(clippy::needless_range_loop)] // register arrays read best indexed

use std::arch::x86_64::*;

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

/// The last two steps of ggml's AVX2 horizontal sum for the 16 halves held by `u`, whose
/// 128-bit lane `l` of `u[j]` holds half `l % 2` of input `2j + l / 2` after the first step
/// (the sum of its two 128-bit quarters). Result lane `2i + h` is the sum of half `h` of input
/// `i`: `s[0] + s[2]`, `s[1] + s[3]`, then their sum, as `hsum` adds them.
///
/// # Safety
///
/// AVX-512 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn hsum_steps_2_3(u: [__m512; 4]) -> __m512 {
    // Per 128-bit lane: [c0 + c2, c1 + c3, d0 + d2, d1 + d3].
    let w = [0, 1].map(|m| {
        let (c, d) = (u[2 * m], u[2 * m + 1]);
        _mm512_add_ps(
            _mm512_shuffle_ps::<0x44>(c, d),
            _mm512_shuffle_ps::<0xEE>(c, d),
        )
    });
    // Per 128-bit lane l: the totals of that lane of u[0], u[1], u[2], u[3].
    let z = _mm512_add_ps(
        _mm512_shuffle_ps::<0x88>(w[0], w[1]),
        _mm512_shuffle_ps::<0xDD>(w[0], w[1]),
    );
    // z[4l + e] is half l % 2 of input 2e + l / 2, wanted at 4e + l.
    let idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    _mm512_permutexvar_ps(idx, z)
}

/// ggml's AVX2 horizontal sum (`hsum`) of both 256-bit halves of eight accumulators at once,
/// with the same additions: lane `2i + h` of the result is half `h` of `v[i]` summed.
///
/// # Safety
///
/// AVX-512 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn hsum_halves(v: [__m512; 8]) -> __m512 {
    // Per input half: its low quarter plus its high quarter.
    let u = [0, 1, 2, 3].map(|j| {
        let (a, b) = (v[2 * j], v[2 * j + 1]);
        _mm512_add_ps(
            _mm512_shuffle_f32x4::<0x88>(a, b),
            _mm512_shuffle_f32x4::<0xDD>(a, b),
        )
    });
    // SAFETY: same CPU features.
    unsafe { hsum_steps_2_3(u) }
}

/// Four rows × 8 tokens of results (`z[r / 2]` lane `8 (r % 2) + t`) as tokens × rows.
///
/// # Safety
///
/// AVX-512 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn by_token_4(z: [__m512; 2]) -> [[f32; 4]; 8] {
    // Lane 4t + r (of tokens 0..4, then 4..8) takes lane 8r + t of the pair z[0], z[1].
    let lo = _mm512_setr_epi32(0, 8, 16, 24, 1, 9, 17, 25, 2, 10, 18, 26, 3, 11, 19, 27);
    let hi = _mm512_add_epi32(lo, _mm512_set1_epi32(4));
    let mut out = [[0f32; 4]; 8];
    let p = out.as_mut_ptr() as *mut f32;
    // SAFETY: `out` holds 32 floats.
    unsafe {
        _mm512_storeu_ps(p, _mm512_permutex2var_ps(z[0], lo, z[1]));
        _mm512_storeu_ps(p.add(16), _mm512_permutex2var_ps(z[0], hi, z[1]));
    }
    out
}

/// Two rows × 8 tokens of results (lane `8r + t`) as tokens × rows.
///
/// # Safety
///
/// AVX-512 present.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn by_token_2(z: __m512) -> [[f32; 2]; 8] {
    let idx = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    let mut out = [[0f32; 2]; 8];
    // SAFETY: `out` holds 16 floats.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr() as *mut f32, _mm512_permutexvar_ps(idx, z)) };
    out
}

/// Two rows' four accumulators, row by row.
fn flat8(a: [__m512; 4], b: [__m512; 4]) -> [__m512; 8] {
    [a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3]]
}

/// Four Q8_0 rows against four prepared token pairs (eight tokens): `out[t][r]` is the dot of
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
pub(crate) unsafe fn q8_0_4x8(rows: [&[u8]; 4], pairs: &[Line], nb: usize) -> [[f32; 4]; 8] {
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
    // SAFETY: same CPU features.
    unsafe {
        by_token_4([
            hsum_halves(flat8(acc[0], acc[1])),
            hsum_halves(flat8(acc[2], acc[3])),
        ])
    }
}

/// Lines of one prepared Q8_K block of a token pair (see `crate::act::tile`): 8 lines of
/// quants (32-byte chunk `c` of each token side by side), the scales `d` (8 lanes each), the
/// 16 sums of 16 (each token's 32 bytes side by side), then the sums of 32 (8 × i16 each) and
/// `-d` (4 lanes each).
const K_LINES: usize = 11;

/// The f32 lanes of line `l` of a prepared Q8_K block.
///
/// # Safety
///
/// AVX-512 present; `p` points at a prepared block.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn line(p: *const u8, l: usize) -> __m512i {
    // SAFETY: the caller guarantees a whole prepared block (64-byte aligned lines).
    unsafe { _mm512_load_si512(p.add(64 * l) as *const _) }
}

/// Two Q4_K rows against four prepared token pairs: `out[t][r]`, each with the bits of the
/// AVX2 `dot_q4_k` (same integer lanes, same f32 steps per token).
///
/// # Safety
///
/// AVX-512 F/BW/VL/VNNI present; each row is `nb` 144-byte blocks; `pairs` holds four pairs of
/// `nb` prepared blocks each (`K_LINES` lines per block).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn q4_k_2x8(rows: [&[u8]; 2], pairs: &[Line], nb: usize) -> [[f32; 2]; 8] {
    use crate::quant::k::k4_scales_mins;
    debug_assert!(rows.iter().all(|r| r.len() == nb * 144));
    debug_assert!(pairs.len() == 4 * nb * K_LINES);
    let stride = nb * K_LINES * 64;
    let pp = pairs.as_ptr() as *const u8;
    let m4 = _mm512_set1_epi8(0x0F);
    let mut acc = [[_mm512_setzero_ps(); 4]; 2];
    let mut acc_m = [[_mm256_setzero_ps(); 4]; 2];
    for i in 0..nb {
        let blk = |p: usize| pp.wrapping_add(p * stride + i * K_LINES * 64);
        for r in 0..2 {
            let b = &rows[r][i * 144..(i + 1) * 144];
            let (dx, dmx) = (crate::quant::f16_at(b), crate::quant::f16_at(&b[2..]));
            let (sc, mn) = k4_scales_mins(&b[4..16]);
            // SAFETY: AVX2 is part of this function's features.
            let mins = _mm256_broadcastsi128_si256(unsafe { super::act_dot::mins_i16(&mn) });
            for p in 0..4 {
                // SAFETY: pair p's block i is inside `pairs` (length above).
                let tail = unsafe { line(blk(p), 10) };
                let q8s = _mm512_castsi512_si256(tail);
                let neg_d = _mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(tail));
                let prod = _mm256_madd_epi16(mins, q8s);
                let dmin = _mm256_mul_ps(neg_d, _mm256_set1_ps(dmx));
                acc_m[r][p] = _mm256_fmadd_ps(dmin, _mm256_cvtepi32_ps(prod), acc_m[r][p]);
            }
            let mut sumi = [_mm512_setzero_si512(); 4];
            for j in 0..4 {
                // SAFETY: quants [16 + 32j, 48 + 32j) are inside the 144-byte block.
                let q4 = _mm512_broadcast_i64x4(unsafe {
                    _mm256_loadu_si256(b.as_ptr().add(16 + 32 * j) as *const __m256i)
                });
                let q4l = _mm512_and_si512(q4, m4);
                let q4h = _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4);
                let sl = _mm512_set1_epi16(sc[2 * j] as i16);
                let sh = _mm512_set1_epi16(sc[2 * j + 1] as i16);
                for p in 0..4 {
                    // SAFETY: as above.
                    let (q8l, q8h) = unsafe { (line(blk(p), 2 * j), line(blk(p), 2 * j + 1)) };
                    let pl = _mm512_madd_epi16(sl, _mm512_maddubs_epi16(q4l, q8l));
                    let ph = _mm512_madd_epi16(sh, _mm512_maddubs_epi16(q4h, q8h));
                    sumi[p] = _mm512_add_epi32(sumi[p], _mm512_add_epi32(pl, ph));
                }
            }
            for p in 0..4 {
                // SAFETY: as above.
                let yd = _mm512_castsi512_ps(unsafe { line(blk(p), 8) });
                let d = _mm512_mul_ps(yd, _mm512_set1_ps(dx));
                acc[r][p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi[p]), acc[r][p]);
            }
        }
    }
    // SAFETY: same CPU features.
    unsafe {
        let sums = hsum_halves(flat8(acc[0], acc[1]));
        // The mins' 4-lane halves: ggml's last two steps, pairs of accumulators per register.
        let m = [0, 1, 2, 3].map(|j| {
            let (r, p) = (j / 2, 2 * (j % 2));
            _mm512_castpd_ps(_mm512_insertf64x4::<1>(
                _mm512_castps_pd(_mm512_castps256_ps512(acc_m[r][p])),
                _mm256_castps_pd(acc_m[r][p + 1]),
            ))
        });
        by_token_2(_mm512_add_ps(sums, hsum_steps_2_3(m)))
    }
}

/// Two Q6_K rows against four prepared token pairs: `out[t][r]`, each with the bits of the
/// AVX2 `dot_q6_k`.
///
/// # Safety
///
/// As [`q4_k_2x8`], with 210-byte weight blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(crate) unsafe fn q6_k_2x8(rows: [&[u8]; 2], pairs: &[Line], nb: usize) -> [[f32; 2]; 8] {
    debug_assert!(rows.iter().all(|r| r.len() == nb * 210));
    debug_assert!(pairs.len() == 4 * nb * K_LINES);
    let stride = nb * K_LINES * 64;
    let pp = pairs.as_ptr() as *const u8;
    let mut acc = [[_mm512_setzero_ps(); 4]; 2];
    for i in 0..nb {
        let blk = |p: usize| pp.wrapping_add(p * stride + i * K_LINES * 64);
        for r in 0..2 {
            let b = &rows[r][i * 210..(i + 1) * 210];
            let dx = crate::quant::f16_at(&b[208..]);
            let scales = &b[192..208];
            // SAFETY: the 16 scale bytes are inside the block.
            let scales16 = _mm512_broadcast_i64x4(_mm256_cvtepi8_epi16(unsafe {
                _mm_loadu_si128(scales.as_ptr() as *const __m128i)
            }));
            let mut sumi = [_mm512_setzero_si512(); 4];
            for h in 0..2 {
                // SAFETY: `b` is a whole 210-byte block.
                let q = unsafe { super::act_dot::q6_half(b, h) };
                for (s, qv) in q.into_iter().enumerate() {
                    let qv = _mm512_broadcast_i64x4(qv);
                    let g = 8 * h + 2 * s;
                    let sv = _mm512_broadcast_i64x4(_mm256_set_m128i(
                        _mm_set1_epi16(scales[g + 1] as i8 as i16),
                        _mm_set1_epi16(scales[g] as i8 as i16),
                    ));
                    for p in 0..4 {
                        // SAFETY: pair p's block i is inside `pairs`.
                        let q8 = unsafe { line(blk(p), 4 * h + s) };
                        let v = _mm512_madd_epi16(sv, _mm512_maddubs_epi16(qv, q8));
                        sumi[p] = _mm512_add_epi32(sumi[p], v);
                    }
                }
            }
            for p in 0..4 {
                // SAFETY: as above.
                let (bsums, yd) = unsafe { (line(blk(p), 9), line(blk(p), 8)) };
                let offset = _mm512_slli_epi32::<5>(_mm512_madd_epi16(bsums, scales16));
                let s = _mm512_sub_epi32(sumi[p], offset);
                let d = _mm512_mul_ps(_mm512_castsi512_ps(yd), _mm512_set1_ps(dx));
                acc[r][p] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(s), acc[r][p]);
            }
        }
    }
    // SAFETY: same CPU features.
    unsafe { by_token_2(hsum_halves(flat8(acc[0], acc[1]))) }
}
