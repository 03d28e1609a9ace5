//! The 32-weight block formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL.
//!
//! Layouts (little-endian, `d`/`m` are IEEE halves):
//! - Q4_0 (18 B): `d`, 16 bytes of nibbles; weight `j` is the low nibble of byte `j`,
//!   weight `j + 16` the high nibble; value `d * (q - 8)`.
//! - Q4_1 (20 B): `d`, `m`, nibbles as Q4_0; value `d * q + m`.
//! - Q5_0 (22 B): `d`, `qh` (u32: bit `i` is bit 4 of weight `i`), nibbles as Q4_0;
//!   value `d * (q - 16)`.
//! - Q5_1 (24 B): `d`, `m`, `qh`, nibbles; value `d * q + m`.
//! - Q8_0 (34 B): `d`, 32 signed bytes; value `d * q`.
//! - IQ4_NL (18 B): `d`, nibbles as Q4_0 indexing [`IQ4_NL_VALUES`]; value `d * table[q]`.

use super::f16_at;
use crate::f32ops::{dot_acc, dot_and_sum};

/// Weights per block.
pub const QK: usize = 32;

/// The non-linear 4-bit code book of IQ4_NL.
pub const IQ4_NL_VALUES: [i8; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

/// Splits 16 bytes of nibbles into 32 values: low nibbles first, then high nibbles.
#[inline(always)]
fn nibbles(qs: &[u8], q: &mut [u8; QK]) {
    for j in 0..QK / 2 {
        q[j] = qs[j] & 0x0F;
        q[j + QK / 2] = qs[j] >> 4;
    }
}

/// Nibbles plus the fifth bits from the little-endian u32 at `qh`.
#[inline(always)]
fn five_bits(qh: &[u8], qs: &[u8], q: &mut [u8; QK]) {
    let h = u32::from_le_bytes([qh[0], qh[1], qh[2], qh[3]]);
    nibbles(qs, q);
    for (i, v) in q.iter_mut().enumerate() {
        *v |= (((h >> i) & 1) as u8) << 4;
    }
}

/// Q4_0 block → (`d`, signed quant values).
#[inline(always)]
fn decode_q4_0(b: &[u8], out: &mut [f32; QK]) -> f32 {
    let mut q = [0u8; QK];
    nibbles(&b[2..18], &mut q);
    for (o, v) in out.iter_mut().zip(q) {
        *o = (v as i32 - 8) as f32;
    }
    f16_at(b)
}

/// Q4_1 block → (`d`, `m`, unsigned quant values).
#[inline(always)]
fn decode_q4_1(b: &[u8], out: &mut [f32; QK]) -> (f32, f32) {
    let mut q = [0u8; QK];
    nibbles(&b[4..20], &mut q);
    for (o, v) in out.iter_mut().zip(q) {
        *o = v as f32;
    }
    (f16_at(b), f16_at(&b[2..]))
}

/// Q5_0 block → (`d`, signed quant values).
#[inline(always)]
fn decode_q5_0(b: &[u8], out: &mut [f32; QK]) -> f32 {
    let mut q = [0u8; QK];
    five_bits(&b[2..6], &b[6..22], &mut q);
    for (o, v) in out.iter_mut().zip(q) {
        *o = (v as i32 - 16) as f32;
    }
    f16_at(b)
}

/// Q5_1 block → (`d`, `m`, unsigned quant values).
#[inline(always)]
fn decode_q5_1(b: &[u8], out: &mut [f32; QK]) -> (f32, f32) {
    let mut q = [0u8; QK];
    five_bits(&b[4..8], &b[8..24], &mut q);
    for (o, v) in out.iter_mut().zip(q) {
        *o = v as f32;
    }
    (f16_at(b), f16_at(&b[2..]))
}

/// Q8_0 block → (`d`, signed quant values).
#[inline(always)]
fn decode_q8_0(b: &[u8], out: &mut [f32; QK]) -> f32 {
    for (o, &v) in out.iter_mut().zip(&b[2..2 + QK]) {
        *o = v as i8 as f32;
    }
    f16_at(b)
}

/// IQ4_NL block → (`d`, code book values).
#[inline(always)]
fn decode_iq4_nl(b: &[u8], out: &mut [f32; QK]) -> f32 {
    let mut q = [0u8; QK];
    nibbles(&b[2..18], &mut q);
    for (o, v) in out.iter_mut().zip(q) {
        *o = IQ4_NL_VALUES[v as usize] as f32;
    }
    f16_at(b)
}

/// Dequantizes a row of a scale-only format (`value = d * q`).
#[inline(always)]
fn dequant_scaled(
    bb: usize,
    src: &[u8],
    dst: &mut [f32],
    decode: impl Fn(&[u8], &mut [f32; QK]) -> f32,
) {
    let mut q = [0.0f32; QK];
    for (b, y) in src.chunks_exact(bb).zip(dst.chunks_exact_mut(QK)) {
        let d = decode(b, &mut q);
        for (o, v) in y.iter_mut().zip(q) {
            *o = d * v;
        }
    }
}

/// Dequantizes a row of a scale-and-min format (`value = d * q + m`).
#[inline(always)]
fn dequant_affine(
    bb: usize,
    src: &[u8],
    dst: &mut [f32],
    decode: impl Fn(&[u8], &mut [f32; QK]) -> (f32, f32),
) {
    let mut q = [0.0f32; QK];
    for (b, y) in src.chunks_exact(bb).zip(dst.chunks_exact_mut(QK)) {
        let (d, m) = decode(b, &mut q);
        for (o, v) in y.iter_mut().zip(q) {
            *o = d * v + m;
        }
    }
}

/// Dot of a scale-only row with `x`: `sum_blocks d * sum(q * x)`.
#[inline(always)]
fn dot_scaled(
    bb: usize,
    row: &[u8],
    x: &[f32],
    decode: impl Fn(&[u8], &mut [f32; QK]) -> f32,
) -> f32 {
    let mut q = [0.0f32; QK];
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(bb).zip(x.chunks_exact(QK)) {
        let d = decode(b, &mut q);
        sum += d * dot_acc(&q, xb);
    }
    sum
}

/// Dot of a scale-and-min row with `x`: `sum_blocks d * sum(q * x) + m * sum(x)`.
#[inline(always)]
fn dot_affine(
    bb: usize,
    row: &[u8],
    x: &[f32],
    decode: impl Fn(&[u8], &mut [f32; QK]) -> (f32, f32),
) -> f32 {
    let mut q = [0.0f32; QK];
    let mut sum = 0.0f32;
    for (b, xb) in row.chunks_exact(bb).zip(x.chunks_exact(QK)) {
        let (d, m) = decode(b, &mut q);
        let (qx, sx) = dot_and_sum(&q, xb);
        sum += d * qx + m * sx;
    }
    sum
}

/// Dequantizes Q4_0.
pub(crate) fn dequant_q4_0(src: &[u8], dst: &mut [f32]) {
    dequant_scaled(18, src, dst, decode_q4_0)
}
/// Dequantizes Q4_1.
pub(crate) fn dequant_q4_1(src: &[u8], dst: &mut [f32]) {
    dequant_affine(20, src, dst, decode_q4_1)
}
/// Dequantizes Q5_0.
pub(crate) fn dequant_q5_0(src: &[u8], dst: &mut [f32]) {
    dequant_scaled(22, src, dst, decode_q5_0)
}
/// Dequantizes Q5_1.
pub(crate) fn dequant_q5_1(src: &[u8], dst: &mut [f32]) {
    dequant_affine(24, src, dst, decode_q5_1)
}
/// Dequantizes Q8_0.
pub(crate) fn dequant_q8_0(src: &[u8], dst: &mut [f32]) {
    dequant_scaled(34, src, dst, decode_q8_0)
}
/// Dequantizes IQ4_NL.
pub(crate) fn dequant_iq4_nl(src: &[u8], dst: &mut [f32]) {
    dequant_scaled(18, src, dst, decode_iq4_nl)
}

/// Scalar Q4_0 row dot.
pub(crate) fn dot_q4_0(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled(18, row, x, decode_q4_0)
}
/// Scalar Q4_1 row dot.
pub(crate) fn dot_q4_1(row: &[u8], x: &[f32]) -> f32 {
    dot_affine(20, row, x, decode_q4_1)
}
/// Scalar Q5_0 row dot.
pub(crate) fn dot_q5_0(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled(22, row, x, decode_q5_0)
}
/// Scalar Q5_1 row dot.
pub(crate) fn dot_q5_1(row: &[u8], x: &[f32]) -> f32 {
    dot_affine(24, row, x, decode_q5_1)
}
/// Scalar Q8_0 row dot.
pub(crate) fn dot_q8_0(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled(34, row, x, decode_q8_0)
}
/// Scalar IQ4_NL row dot.
pub(crate) fn dot_iq4_nl(row: &[u8], x: &[f32]) -> f32 {
    dot_scaled(18, row, x, decode_iq4_nl)
}
