//! AVX2+FMA activation-quantized row dots for the default model's types: Q8_0 × Q8_0,
//! Q5_0 × Q8_0, Q4_K × Q8_K and Q6_K × Q8_K.
//!
//! Integer partial sums are formed in the same 8 i32 lanes as ggml's x86 kernels (lane `k`
//! of a 32-byte step holds bytes `4k..4k+4`), converted to f32 and accumulated with the
//! same FMAs and the same horizontal sums, so results agree with ggml's bit for bit (the
//! integer lanes are exact whether ggml uses `vpmaddubsw` or VNNI `vpdpbusd`). The portable
//! twins in `crate::act::lanes` take the same steps and give the same bits.
//! Layouts: `crate::quant` (weights) and `crate::act` (activations).
//!
//! Every function here is an `unsafe fn` with `#[target_feature(enable = "avx2,fma,f16c")]`:
//! callers must have confirmed the CPU supports AVX2 and FMA, and pass whole blocks with
//! matching activation rows, which the public wrappers check.
#![allow(unsafe_code)]

use std::arch::x86_64::*;

use super::f32s::hsum;
use super::load::{bits_to_bytes, load16, load32};
use crate::quant::f16_at;
use crate::quant::k::k4_scales_mins;

/// Lane `k` = `sum_{b in 4k..4k+4} x[b] * y[b]` for signed bytes, as f32.
///
/// `|x|` times `y` with `x`'s sign: `vpmaddubsw` cannot saturate here (at most
/// 2 · 128 · 128 when `y` is never -128, which quantized activations are not).
///
/// # Safety
///
/// AVX2/FMA present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn mul_sum_i8(x: __m256i, y: __m256i) -> __m256 {
    let ax = _mm256_sign_epi8(x, x);
    let sy = _mm256_sign_epi8(y, x);
    let pairs = _mm256_maddubs_epi16(ax, sy);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
}

/// `f16(a) * f16(b)` for the halves at the start of `a` and `b` (`vcvtph2ps`, exact
/// widening, then one f32 product).
///
/// # Safety
///
/// AVX2/FMA/F16C present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn f16_product(a: &[u8], b: &[u8]) -> f32 {
    let ha = u16::from_le_bytes([a[0], a[1]]) as u32;
    let hb = u16::from_le_bytes([b[0], b[1]]) as u32;
    let f = _mm_cvtph_ps(_mm_cvtsi32_si128((ha | (hb << 16)) as i32));
    _mm_cvtss_f32(_mm_mul_ss(f, _mm_movehdup_ps(f)))
}

/// Asks for the bytes two rows of `row_len` bytes after `b`: matrix rows are read one after
/// the other, and decoding is limited by memory latency rather than arithmetic. A prefetch
/// never faults, wherever it points.
#[inline(always)]
pub(super) fn prefetch_ahead(b: &[u8], row_len: usize) {
    // SAFETY: prefetching is a hint without memory effects; any address is allowed.
    unsafe {
        _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().wrapping_add(2 * row_len) as *const i8);
    }
}

/// Q8_0 × Q8_0 (34-byte blocks on both sides).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q8_0(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(34).zip(xq.chunks_exact(34)) {
        prefetch_ahead(b, row.len());
        let d = _mm256_set1_ps(f16_product(b, y));
        // SAFETY: both blocks have 34 bytes, so [2, 34) holds 32 quants.
        let q = mul_sum_i8(load32(&b[2..]), load32(&y[2..]));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum(acc)
}

/// One Q8_0 row against four Q8_0 activation rows: each result has the bits of
/// [`dot_q8_0`] (same lanes, same FMA order); the row's bytes and `|x|` are shared, and the
/// scales come as f32 (`xd` the row's, `yd[t]` token `t`'s: exact widenings of the f16
/// fields, so their product is [`f16_product`]'s).
///
/// # Safety
///
/// AVX2/FMA present; all four activation rows as long as `row`, one scale per block.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q8_0_x4(
    row: &[u8],
    xq: [&[u8]; 4],
    xd: &[f32],
    yd: [&[f32]; 4],
) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    let ones = _mm256_set1_epi16(1);
    for (i, b) in row.chunks_exact(34).enumerate() {
        // SAFETY: the block has 34 bytes, so [2, 34) holds 32 quants.
        let x = load32(&b[2..]);
        let ax = _mm256_sign_epi8(x, x);
        let dx = xd[i];
        for t in 0..4 {
            let d = _mm256_set1_ps(dx * yd[t][i]);
            // SAFETY: the activation block has 34 bytes.
            let sy = _mm256_sign_epi8(load32(&xq[t][i * 34 + 2..]), x);
            let pairs = _mm256_maddubs_epi16(ax, sy);
            let q = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
            acc[t] = _mm256_fmadd_ps(d, q, acc[t]);
        }
    }
    [hsum(acc[0]), hsum(acc[1]), hsum(acc[2]), hsum(acc[3])]
}

/// Four Q8_0 rows against one Q8_0 activation row whose block scales are given as f32 (`yd`):
/// each result has the bits of [`dot_q8_0`] (the scale product is the same product of two
/// exact widenings); the activation blocks are loaded once and the four chains interleave.
///
/// # Safety
///
/// AVX2/FMA present; the four rows each `34 * yd.len()` bytes, `xq` as long.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q8_0_rows4(rows: [&[u8]; 4], xq: &[u8], yd: &[f32]) -> [f32; 4] {
    let nb = yd.len();
    debug_assert!(xq.len() == nb * 34 && rows.iter().all(|r| r.len() == nb * 34));
    let mut acc = [_mm256_setzero_ps(); 4];
    let ones = _mm256_set1_epi16(1);
    let y0 = xq.as_ptr();
    let p = rows.map(|r| r.as_ptr());
    for i in 0..nb {
        // SAFETY: block i of every row and of xq lies inside them (lengths above).
        unsafe {
            let yv = _mm256_loadu_si256(y0.add(i * 34 + 2) as *const __m256i);
            let dy = *yd.get_unchecked(i);
            for r in 0..4 {
                let b = p[r].add(i * 34);
                // The next four rows usually follow these in memory: ask for them early.
                _mm_prefetch::<_MM_HINT_T0>(b.wrapping_add(4 * 34 * nb) as *const i8);
                let h = (b as *const u16).read_unaligned();
                let dx = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h as i32)));
                let d = _mm256_set1_ps(dx * dy);
                let x = _mm256_loadu_si256(b.add(2) as *const __m256i);
                let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(yv, x));
                let q = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
                acc[r] = _mm256_fmadd_ps(d, q, acc[r]);
            }
        }
    }
    [hsum(acc[0]), hsum(acc[1]), hsum(acc[2]), hsum(acc[3])]
}

/// Q5_0 × Q8_0 (22-byte weight blocks: `d`, `qh` u32, 16 nibble bytes).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q5_0(row: &[u8], xq: &[u8]) -> f32 {
    let m4 = _mm_set1_epi8(0x0F);
    let high = _mm256_set1_epi8(0xF0u8 as i8);
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(22).zip(xq.chunks_exact(34)) {
        prefetch_ahead(b, row.len());
        let d = _mm256_set1_ps(f16_product(b, y));
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        // SAFETY: the block has 22 bytes, so [6, 22) holds the 16 nibble bytes.
        let qs = load16(&b[6..]);
        let lo = _mm_and_si128(qs, m4);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(qs), m4);
        // q - 16 is the nibble with bits 4..8 set where the fifth bit is clear.
        let qx = _mm256_or_si256(
            _mm256_set_m128i(hi, lo),
            _mm256_andnot_si256(bits_to_bytes(qh), high),
        );
        // SAFETY: the activation block has 34 bytes.
        let q = mul_sum_i8(qx, load32(&y[2..]));
        acc = _mm256_fmadd_ps(d, q, acc);
    }
    hsum(acc)
}

/// A Q5_0 row rewritten as Q8_0 blocks (`q - 16` as signed bytes, the same f16 scale): the
/// bytes [`dot_q5_0`] multiplies, stored.
///
/// # Safety
///
/// AVX2 present; `out` holds 34 bytes per 22-byte block of `row`.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn repack_q5_0(row: &[u8], out: &mut [u8]) {
    let m4 = _mm_set1_epi8(0x0F);
    let high = _mm256_set1_epi8(0xF0u8 as i8);
    for (b, o) in row.chunks_exact(22).zip(out.chunks_exact_mut(34)) {
        o[..2].copy_from_slice(&b[..2]);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        // SAFETY: the block has 22 bytes, so [6, 22) holds the 16 nibble bytes.
        let qs = load16(&b[6..]);
        let lo = _mm_and_si128(qs, m4);
        let hi = _mm_and_si128(_mm_srli_epi16::<4>(qs), m4);
        let qx = _mm256_or_si256(
            _mm256_set_m128i(hi, lo),
            _mm256_andnot_si256(bits_to_bytes(qh), high),
        );
        // SAFETY: the output block has 34 bytes, so [2, 34) takes 32.
        _mm256_storeu_si256(o[2..].as_mut_ptr() as *mut __m256i, qx);
    }
}

/// The eight 6-bit mins of a Q4_K block as i16 lanes.
///
/// # Safety
///
/// AVX2 present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn mins_i16(mn: &[u8; 8]) -> __m128i {
    _mm_setr_epi16(
        mn[0] as i16,
        mn[1] as i16,
        mn[2] as i16,
        mn[3] as i16,
        mn[4] as i16,
        mn[5] as i16,
        mn[6] as i16,
        mn[7] as i16,
    )
}

/// The mins term of a Q4_K or Q5_K block as ggml forms it: the Q8_K block's 16 sums of 16
/// paired (wrapping i16 adds) into 8 sums of 32, times the 8 mins, in 4 i32 lanes (`madd`).
///
/// # Safety
///
/// AVX2 present; `y` is a whole 292-byte Q8_K block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn k_mins_prod(y: &[u8], mn: &[u8; 8]) -> __m128i {
    // SAFETY: the block has 292 bytes; its sums are [260, 292).
    let bsums = unsafe { load32(&y[260..]) };
    let q8s = _mm_hadd_epi16(
        _mm256_castsi256_si128(bsums),
        _mm256_extracti128_si256::<1>(bsums),
    );
    // SAFETY: same CPU features.
    _mm_madd_epi16(unsafe { mins_i16(mn) }, q8s)
}

/// The four 32-value groups of half `h` (0 or 1) of a Q6_K block, as unsigned 6-bit bytes.
///
/// # Safety
///
/// AVX2 present; `b` is a whole 210-byte block.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn q6_half(b: &[u8], h: usize) -> [__m256i; 4] {
    // SAFETY: ql [64h, 64h + 64) and qh [128 + 32h, 160 + 32h) are in bounds for h < 2.
    let (ql0, ql1, qh) = (
        load32(&b[64 * h..]),
        load32(&b[64 * h + 32..]),
        load32(&b[128 + 32 * h..]),
    );
    [
        q6_unsigned(ql0, qh),
        q6_unsigned(ql1, _mm256_srli_epi16::<2>(qh)),
        q6_unsigned(_mm256_srli_epi16::<4>(ql0), _mm256_srli_epi16::<4>(qh)),
        q6_unsigned(_mm256_srli_epi16::<4>(ql1), _mm256_srli_epi16::<6>(qh)),
    ]
}

/// Scales `g` (bytes 0..16) and `g + 1` (bytes 16..32) of a Q6_K block as i16 lanes.
///
/// # Safety
///
/// AVX2 present; `g + 1 < 16`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_scale_pair(scales: &[u8], g: usize) -> __m256i {
    _mm256_set_m128i(
        _mm_set1_epi16(scales[g + 1] as i8 as i16),
        _mm_set1_epi16(scales[g] as i8 as i16),
    )
}

/// Q8_K `d`.
#[inline(always)]
fn q8k_d(y: &[u8]) -> f32 {
    f32::from_le_bytes([y[0], y[1], y[2], y[3]])
}

/// Q4_K × Q8_K (144-byte weight blocks: `d`, `dmin`, 12 scale bytes, 128 nibble bytes).
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q4_k(row: &[u8], xq: &[u8]) -> f32 {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for (b, y) in row.chunks_exact(144).zip(xq.chunks_exact(292)) {
        prefetch_ahead(b, row.len());
        let yd = q8k_d(y);
        let d = yd * f16_at(b);
        let dmin = -yd * f16_at(&b[2..]);
        let (sc, mn) = k4_scales_mins(&b[4..16]);

        // SAFETY: `y` is a whole 292-byte activation block.
        let prod = k_mins_prod(y, &mn);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);

        let mut sumi = _mm256_setzero_si256();
        for j in 0..4 {
            // SAFETY: weight quants [16 + 32j, 48 + 32j) and activation quants
            // [4 + 64j, 68 + 64j) are in bounds for j < 4.
            let q4 = load32(&b[16 + 32 * j..]);
            let q4l = _mm256_and_si256(q4, m4);
            let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
            let q8l = load32(&y[4 + 64 * j..]);
            let q8h = load32(&y[36 + 64 * j..]);
            let pl = _mm256_madd_epi16(
                _mm256_set1_epi16(sc[2 * j] as i16),
                _mm256_maddubs_epi16(q4l, q8l),
            );
            let ph = _mm256_madd_epi16(
                _mm256_set1_epi16(sc[2 * j + 1] as i16),
                _mm256_maddubs_epi16(q4h, q8h),
            );
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(pl, ph));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    acc_m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
    acc_m = _mm_add_ss(acc_m, _mm_movehdup_ps(acc_m));
    hsum(acc) + _mm_cvtss_f32(acc_m)
}

/// Unsigned six-bit Q6_K quants (0..63) from low nibbles (already in bits 0..4 of `ql`,
/// other bits arbitrary) and high pairs (already in bits 0..2 of `qh`).
///
/// # Safety
///
/// AVX2/FMA present.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn q6_unsigned(ql: __m256i, qh: __m256i) -> __m256i {
    let low = _mm256_and_si256(ql, _mm256_set1_epi8(0x0F));
    // The pair is masked before the 16-bit shift, so no bits cross into the next byte.
    let high = _mm256_slli_epi16::<4>(_mm256_and_si256(qh, _mm256_set1_epi8(0x03)));
    _mm256_or_si256(low, high)
}

/// Q6_K × Q8_K (210-byte weight blocks: 128 low-nibble bytes, 64 high-bit bytes,
/// 16 i8 scales, `d`). The offset 32 is taken out through the activation sums, as ggml.
///
/// # Safety
///
/// AVX2/FMA present (blocks are taken with `chunks_exact`).
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn dot_q6_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    for (b, y) in row.chunks_exact(210).zip(xq.chunks_exact(292)) {
        prefetch_ahead(b, row.len());
        let d = q8k_d(y) * f16_at(&b[208..]);
        let scales = &b[192..208];
        // SAFETY: weight scales [192, 208) and activation sums [260, 292) are in bounds.
        let scales16 = _mm256_cvtepi8_epi16(load16(scales));
        let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(load32(&y[260..]), scales16));
        let mut sumi = _mm256_setzero_si256();
        for h in 0..2 {
            let q = q6_half(b, h);
            for (s, qv) in q.into_iter().enumerate() {
                let sv = q6_scale_pair(scales, 8 * h + 2 * s);
                // SAFETY: activation quants [4 + 128h + 32s, +32) are within the 292 bytes.
                let q8 = load32(&y[4 + 128 * h + 32 * s..]);
                let p = _mm256_madd_epi16(sv, _mm256_maddubs_epi16(qv, q8));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum(acc)
}

/// One Q4_K row against four Q8_K activation rows: each result has the bits of
/// [`dot_q4_k`] (same integer sums, same FMAs in the same order per token); the row's nibbles
/// and scales are unpacked once per block for all four.
///
/// # Safety
///
/// AVX2/FMA present; the four activation rows match `row` (292 bytes per 144-byte block).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q4_k_x4(row: &[u8], xq: [&[u8]; 4]) -> [f32; 4] {
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut acc_m = [_mm_setzero_ps(); 4];
    for (i, b) in row.chunks_exact(144).enumerate() {
        let (dx, dmx) = (f16_at(b), f16_at(&b[2..]));
        let (sc, mn) = k4_scales_mins(&b[4..16]);
        let mins = mins_i16(&mn);
        let ys: [&[u8]; 4] = [
            &xq[0][i * 292..(i + 1) * 292],
            &xq[1][i * 292..(i + 1) * 292],
            &xq[2][i * 292..(i + 1) * 292],
            &xq[3][i * 292..(i + 1) * 292],
        ];
        for t in 0..4 {
            let y = ys[t];
            let yd = q8k_d(y);
            let dmin = -yd * dmx;
            // SAFETY: the activation block has 292 bytes; its sums are [260, 292).
            let bsums = load32(&y[260..]);
            let q8s = _mm_hadd_epi16(
                _mm256_castsi256_si128(bsums),
                _mm256_extracti128_si256::<1>(bsums),
            );
            let prod = _mm_madd_epi16(mins, q8s);
            acc_m[t] = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m[t]);
        }
        let mut sumi = [_mm256_setzero_si256(); 4];
        for j in 0..4 {
            // SAFETY: weight quants [16 + 32j, 48 + 32j) are in bounds for j < 4.
            let q4 = load32(&b[16 + 32 * j..]);
            let q4l = _mm256_and_si256(q4, m4);
            let q4h = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
            let sl = _mm256_set1_epi16(sc[2 * j] as i16);
            let sh = _mm256_set1_epi16(sc[2 * j + 1] as i16);
            for t in 0..4 {
                // SAFETY: activation quants [4 + 64j, 68 + 64j) are in bounds for j < 4.
                let q8l = load32(&ys[t][4 + 64 * j..]);
                let q8h = load32(&ys[t][36 + 64 * j..]);
                let pl = _mm256_madd_epi16(sl, _mm256_maddubs_epi16(q4l, q8l));
                let ph = _mm256_madd_epi16(sh, _mm256_maddubs_epi16(q4h, q8h));
                sumi[t] = _mm256_add_epi32(sumi[t], _mm256_add_epi32(pl, ph));
            }
        }
        for t in 0..4 {
            let d = q8k_d(ys[t]) * dx;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi[t]), acc[t]);
        }
    }
    let mut out = [0f32; 4];
    for t in 0..4 {
        let mut m = acc_m[t];
        m = _mm_add_ps(m, _mm_movehl_ps(m, m));
        m = _mm_add_ss(m, _mm_movehdup_ps(m));
        out[t] = hsum(acc[t]) + _mm_cvtss_f32(m);
    }
    out
}

/// One Q6_K row against four Q8_K activation rows: each result has the bits of
/// [`dot_q6_k`]; the row's 6-bit values and scales are unpacked once per block for all four.
///
/// # Safety
///
/// AVX2/FMA present; the four activation rows match `row` (292 bytes per 210-byte block).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) unsafe fn dot_q6_k_x4(row: &[u8], xq: [&[u8]; 4]) -> [f32; 4] {
    let mut acc = [_mm256_setzero_ps(); 4];
    for (i, b) in row.chunks_exact(210).enumerate() {
        let dx = f16_at(&b[208..]);
        let scales = &b[192..208];
        // SAFETY: weight scales [192, 208) are in bounds.
        let scales16 = _mm256_cvtepi8_epi16(load16(scales));
        let ys: [&[u8]; 4] = [
            &xq[0][i * 292..(i + 1) * 292],
            &xq[1][i * 292..(i + 1) * 292],
            &xq[2][i * 292..(i + 1) * 292],
            &xq[3][i * 292..(i + 1) * 292],
        ];
        let mut sumi = [_mm256_setzero_si256(); 4];
        for h in 0..2 {
            let q = q6_half(b, h);
            for (s, qv) in q.into_iter().enumerate() {
                let sv = q6_scale_pair(scales, 8 * h + 2 * s);
                for t in 0..4 {
                    // SAFETY: activation quants [4 + 128h + 32s, +32) are within 292 bytes.
                    let q8 = load32(&ys[t][4 + 128 * h + 32 * s..]);
                    let p = _mm256_madd_epi16(sv, _mm256_maddubs_epi16(qv, q8));
                    sumi[t] = _mm256_add_epi32(sumi[t], p);
                }
            }
        }
        for t in 0..4 {
            // SAFETY: activation sums [260, 292) are in bounds.
            let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(load32(&ys[t][260..]), scales16));
            let s = _mm256_sub_epi32(sumi[t], offset);
            let d = q8k_d(ys[t]) * dx;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(s), acc[t]);
        }
    }
    acc.map(|a| hsum(a))
}
