//! The 256-weight "K" super-block formats: Q2_K, Q3_K, Q4_K, Q5_K and Q6_K.
//!
//! Each block is decoded into its integer quants (as f32) plus one scale (and for the
//! formats with mins, one min) per sub-block; a weight is `scale * q - min`, with
//! `scale = d * sub_scale` and `min = dmin * sub_min` rounded to f32 first, as GGML does.
//!
//! Layouts (little-endian, `d`/`dmin` are IEEE halves; weight index `p` within the block):
//! - Q2_K (84 B): `scales[16]` (low nibble scale, high nibble min, per 16 weights),
//!   `qs[64]`, `d`, `dmin`. `p = 128h + 32s + l`: `q = (qs[32h + l] >> 2s) & 3`.
//! - Q3_K (110 B): `hmask[32]`, `qs[64]`, `scales[12]` (16 six-bit scales, offset 32), `d`.
//!   Low bits as Q2_K; `q -= 4` unless bit `4h + s` of `hmask[l]` is set.
//! - Q4_K (144 B): `d`, `dmin`, `scales[12]` (8 six-bit scales and mins, per 32 weights),
//!   `qs[128]`. `p = 64j + 32t + l`: `q = (qs[32j + l] >> 4t) & 15`.
//! - Q5_K (176 B): `d`, `dmin`, `scales[12]`, `qh[32]`, `qs[128]`; as Q4_K plus bit
//!   `2j + t` of `qh[l]` as bit 4.
//! - Q6_K (210 B): `ql[128]`, `qh[64]`, `scales[16]` (i8, per 16 weights), `d`.
//!   `p = 128h + 32s + l`: low nibble from `ql[64h + 32(s & 1) + l] >> 4(s >> 1)`, high two
//!   bits from `qh[32h + l] >> 2s`; `q -= 32`.

use super::f16_at;
use crate::f32ops::{dot_acc, dot_and_sum};

/// Weights per super-block.
pub const QK_K: usize = 256;

/// Unpacks the 8 six-bit scales and 8 six-bit mins of Q4_K/Q5_K from their 12 bytes.
#[inline(always)]
pub(crate) fn k4_scales_mins(s: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    for j in 0..4 {
        sc[j] = s[j] & 63;
        mn[j] = s[j + 4] & 63;
    }
    for j in 4..8 {
        sc[j] = (s[j + 4] & 0x0F) | ((s[j - 4] >> 6) << 4);
        mn[j] = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
    (sc, mn)
}

/// Unpacks the 16 six-bit Q3_K scales from their 12 bytes, minus the offset 32.
#[inline(always)]
pub(crate) fn k3_scales(s: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        let low = if i < 8 { s[i] & 0x0F } else { s[i - 8] >> 4 };
        let high = (s[8 + i % 4] >> (2 * (i / 4))) & 3;
        *o = ((low | (high << 4)) as i8) - 32;
    }
    out
}

fn decode_q2_k(b: &[u8], q: &mut [f32; QK_K], sc: &mut [f32; 16], mn: &mut [f32; 16]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(&b[80..]), f16_at(&b[82..]));
    for g in 0..16 {
        sc[g] = d * (scales[g] & 0x0F) as f32;
        mn[g] = dmin * (scales[g] >> 4) as f32;
    }
    for h in 0..2 {
        for s in 0..4 {
            for l in 0..32 {
                q[128 * h + 32 * s + l] = ((qs[32 * h + l] >> (2 * s)) & 3) as f32;
            }
        }
    }
}

fn decode_q3_k(b: &[u8], q: &mut [f32; QK_K], sc: &mut [f32; 16]) {
    let (hmask, qs, scales) = (&b[0..32], &b[32..96], &b[96..108]);
    let d = f16_at(&b[108..]);
    for (o, s) in sc.iter_mut().zip(k3_scales(scales)) {
        *o = d * s as f32;
    }
    for h in 0..2 {
        for s in 0..4 {
            for l in 0..32 {
                let low = ((qs[32 * h + l] >> (2 * s)) & 3) as i32;
                let set = (hmask[l] >> (4 * h + s)) & 1;
                q[128 * h + 32 * s + l] = (low - if set == 0 { 4 } else { 0 }) as f32;
            }
        }
    }
}

fn decode_q4_k(b: &[u8], q: &mut [f32; QK_K], sc: &mut [f32; 8], mn: &mut [f32; 8]) {
    let (d, dmin) = (f16_at(b), f16_at(&b[2..]));
    let (s6, m6) = k4_scales_mins(&b[4..16]);
    for i in 0..8 {
        sc[i] = d * s6[i] as f32;
        mn[i] = dmin * m6[i] as f32;
    }
    let qs = &b[16..144];
    for j in 0..4 {
        for l in 0..32 {
            let v = qs[32 * j + l];
            q[64 * j + l] = (v & 0x0F) as f32;
            q[64 * j + 32 + l] = (v >> 4) as f32;
        }
    }
}

fn decode_q5_k(b: &[u8], q: &mut [f32; QK_K], sc: &mut [f32; 8], mn: &mut [f32; 8]) {
    let (d, dmin) = (f16_at(b), f16_at(&b[2..]));
    let (s6, m6) = k4_scales_mins(&b[4..16]);
    for i in 0..8 {
        sc[i] = d * s6[i] as f32;
        mn[i] = dmin * m6[i] as f32;
    }
    let (qh, qs) = (&b[16..48], &b[48..176]);
    for j in 0..4 {
        for l in 0..32 {
            let v = qs[32 * j + l];
            let h = qh[l] >> (2 * j);
            q[64 * j + l] = ((v & 0x0F) | ((h & 1) << 4)) as f32;
            q[64 * j + 32 + l] = ((v >> 4) | ((h & 2) << 3)) as f32;
        }
    }
}

fn decode_q6_k(b: &[u8], q: &mut [f32; QK_K], sc: &mut [f32; 16]) {
    let (ql, qh, scales) = (&b[0..128], &b[128..192], &b[192..208]);
    let d = f16_at(&b[208..]);
    for (o, &s) in sc.iter_mut().zip(scales) {
        *o = d * (s as i8) as f32;
    }
    for h in 0..2 {
        for l in 0..32 {
            let (a, c, hb) = (ql[64 * h + l], ql[64 * h + 32 + l], qh[32 * h + l]);
            let base = 128 * h + l;
            q[base] = (((a & 0x0F) | ((hb & 3) << 4)) as i32 - 32) as f32;
            q[base + 32] = (((c & 0x0F) | (((hb >> 2) & 3) << 4)) as i32 - 32) as f32;
            q[base + 64] = (((a >> 4) | (((hb >> 4) & 3) << 4)) as i32 - 32) as f32;
            q[base + 96] = (((c >> 4) | (((hb >> 6) & 3) << 4)) as i32 - 32) as f32;
        }
    }
}

/// Dequantizes a scale-only K format with `G` sub-blocks (`value = scale * q`).
#[inline(always)]
fn dequant_scaled<const G: usize>(
    bb: usize,
    src: &[u8],
    dst: &mut [f32],
    decode: impl Fn(&[u8], &mut [f32; QK_K], &mut [f32; G]),
) {
    let (mut q, mut sc) = ([0.0f32; QK_K], [0.0f32; G]);
    for (b, y) in src.chunks_exact(bb).zip(dst.chunks_exact_mut(QK_K)) {
        decode(b, &mut q, &mut sc);
        for (g, (yg, qg)) in y
            .chunks_exact_mut(QK_K / G)
            .zip(q.chunks_exact(QK_K / G))
            .enumerate()
        {
            for (o, &v) in yg.iter_mut().zip(qg) {
                *o = sc[g] * v;
            }
        }
    }
}

/// Dequantizes a scale-and-min K format (`value = scale * q - min`).
#[inline(always)]
fn dequant_affine<const G: usize>(
    bb: usize,
    src: &[u8],
    dst: &mut [f32],
    decode: impl Fn(&[u8], &mut [f32; QK_K], &mut [f32; G], &mut [f32; G]),
) {
    let (mut q, mut sc, mut mn) = ([0.0f32; QK_K], [0.0f32; G], [0.0f32; G]);
    for (b, y) in src.chunks_exact(bb).zip(dst.chunks_exact_mut(QK_K)) {
        decode(b, &mut q, &mut sc, &mut mn);
        for (g, (yg, qg)) in y
            .chunks_exact_mut(QK_K / G)
            .zip(q.chunks_exact(QK_K / G))
            .enumerate()
        {
            for (o, &v) in yg.iter_mut().zip(qg) {
                *o = sc[g] * v - mn[g];
            }
        }
    }
}

/// Dot of a scale-only K row with `x`: `sum scale_g * sum_g(q * x)`.
#[inline(always)]
fn dot_scaled<const G: usize>(
    bb: usize,
    row: &[u8],
    x: &[f32],
    decode: impl Fn(&[u8], &mut [f32; QK_K], &mut [f32; G]),
) -> f32 {
    let (mut q, mut sc) = ([0.0f32; QK_K], [0.0f32; G]);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(bb).zip(x.chunks_exact(QK_K)) {
        decode(b, &mut q, &mut sc);
        let mut block = 0.0f32;
        for (g, (qg, xg)) in q
            .chunks_exact(QK_K / G)
            .zip(xb.chunks_exact(QK_K / G))
            .enumerate()
        {
            block += sc[g] * dot_acc(qg, xg);
        }
        sum += block;
    }
    sum
}

/// Dot of a scale-and-min K row with `x`: `sum scale_g * sum_g(q * x) - min_g * sum_g(x)`.
#[inline(always)]
fn dot_affine<const G: usize>(
    bb: usize,
    row: &[u8],
    x: &[f32],
    decode: impl Fn(&[u8], &mut [f32; QK_K], &mut [f32; G], &mut [f32; G]),
) -> f32 {
    let (mut q, mut sc, mut mn) = ([0.0f32; QK_K], [0.0f32; G], [0.0f32; G]);
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(bb).zip(x.chunks_exact(QK_K)) {
        decode(b, &mut q, &mut sc, &mut mn);
        let (mut pos, mut neg) = (0.0f32, 0.0f32);
        for (g, (qg, xg)) in q
            .chunks_exact(QK_K / G)
            .zip(xb.chunks_exact(QK_K / G))
            .enumerate()
        {
            let (qx, sx) = dot_and_sum(qg, xg);
            pos += sc[g] * qx;
            neg += mn[g] * sx;
        }
        sum += pos - neg;
    }
    sum
}

/// Dequantizes Q2_K.
pub(crate) fn dequant_q2_k(src: &[u8], dst: &mut [f32]) {
    dequant_affine::<16>(84, src, dst, decode_q2_k)
}
/// Dequantizes Q3_K.
pub(crate) fn dequant_q3_k(src: &[u8], dst: &mut [f32]) {
    dequant_scaled::<16>(110, src, dst, decode_q3_k)
}
/// Dequantizes Q4_K.
pub(crate) fn dequant_q4_k(src: &[u8], dst: &mut [f32]) {
    dequant_affine::<8>(144, src, dst, decode_q4_k)
}
/// Dequantizes Q5_K.
pub(crate) fn dequant_q5_k(src: &[u8], dst: &mut [f32]) {
    dequant_affine::<8>(176, src, dst, decode_q5_k)
}
/// Dequantizes Q6_K.
pub(crate) fn dequant_q6_k(src: &[u8], dst: &mut [f32]) {
    dequant_scaled::<16>(210, src, dst, decode_q6_k)
}

/// Scalar Q2_K row dot.
pub(crate) fn dot_q2_k(row: &[u8], x: &[f32]) -> f32 {
    dot_affine::<16>(84, row, x, decode_q2_k)
}
/// Scalar Q3_K row dot.
pub(crate) fn dot_q3_k(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled::<16>(110, row, x, decode_q3_k)
}
/// Scalar Q4_K row dot.
pub(crate) fn dot_q4_k(row: &[u8], x: &[f32]) -> f32 {
    dot_affine::<8>(144, row, x, decode_q4_k)
}
/// Scalar Q5_K row dot.
pub(crate) fn dot_q5_k(row: &[u8], x: &[f32]) -> f32 {
    dot_affine::<8>(176, row, x, decode_q5_k)
}
/// Scalar Q6_K row dot.
pub(crate) fn dot_q6_k(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled::<16>(210, row, x, decode_q6_k)
}
