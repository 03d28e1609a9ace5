//! Portable activation-quantized dots for Q2_K, Q3_K and Q5_K × Q8_K in the lane structure
//! of ggml's x86 AVX2 kernels (`ggml_vec_dot_q{2,3,5}_K_q8_K` in `ggml-cpu/arch/x86/quants.c` of the
//! llama.cpp vendored by llama-cpp-python 0.3.36), so they give the same bits.
//!
//! As in [`super::lanes`]: every 32-byte step of quants is split into 8 lanes of 4
//! consecutive bytes; the scaled integer sums of a super-block are exact per lane, converted
//! to f32 (round to nearest even) and accumulated with one fused multiply-add per block and
//! lane, then reduced as ggml's `hsum_float_8`. Within a step, bytes 0..16 (lanes 0..4) and
//! 16..32 (lanes 4..8) belong to consecutive groups of 16 weights, each with its own scale.
//! What differs between the types is where the mins go:
//! - Q2_K: `dmin * (min_{2k} * s_{2k} + min_{2k+1} * s_{2k+1})` into lane `k` of the same
//!   accumulator, one FMA before the block's scale FMA (`s`: the 16 activation sums);
//! - Q3_K: no mins (the offset 4 is inside the integer sums);
//! - Q5_K: one scalar f32 `summs`, advanced by `fma(dmin, f32(sum_i min_i * (s_{2i} +
//!   s_{2i+1})), summs)` per block (GCC contracts ggml's `summs += dmin * m`) and added
//!   after the horizontal sum.
//!
//! `crate::x86::act_dot_k` computes the same with AVX2 intrinsics.

use super::lanes::{fma_lanes, hsum8, lanes_of, q8k_d_sums, LANES, Q8K_BYTES, STEP};
use crate::quant::f16_at;
use crate::quant::k::{k3_scales, k4_scales_mins};

/// Bytes per Q2_K block: 16 scale/min nibble bytes, 64 bytes of 2-bit quants, `d`, `dmin`.
const Q2K_BYTES: usize = 84;

/// Bytes per Q3_K block: `hmask[32]`, `qs[64]`, 12 scale bytes, `d`.
const Q3K_BYTES: usize = 110;

/// Bytes per Q5_K block: `d`, `dmin`, 12 scale/min bytes, `qh[32]`, `qs[128]`.
const Q5K_BYTES: usize = 176;

/// Adds `sa * w[m] * a[m]` to column `m` for `m < 16` and `sb * w[m] * a[m]` above: one
/// 32-byte step whose two halves are groups with scales `sa` and `sb`.
#[inline(always)]
fn add_step(cols: &mut [i32; STEP], w: &[i8; STEP], a: &[u8], sa: i32, sb: i32) {
    for (m, (c, (&q, &x))) in cols.iter_mut().zip(w.iter().zip(&a[..STEP])).enumerate() {
        let s = if m < STEP / 2 { sa } else { sb };
        *c += s * (q as i32 * x as i8 as i32);
    }
}

/// Q2_K × Q8_K.
///
/// Step `s` of half `h` takes bits `2s..2s+2` of quant bytes `32h..32h+32` against
/// activations `128h + 32s..`, with scales `8h + 2s` and `8h + 2s + 1`.
#[inline]
pub(crate) fn dot_q2_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(Q2K_BYTES).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (yd, bsums) = q8k_d_sums(y);
        let d = yd * f16_at(&b[80..]);
        let dmin = -yd * f16_at(&b[82..]);
        let scales = &b[..16];

        let mut mins = [0i32; LANES];
        for (k, m) in mins.iter_mut().enumerate() {
            let (m0, m1) = ((scales[2 * k] >> 4) as i32, (scales[2 * k + 1] >> 4) as i32);
            *m = m0 * bsums[2 * k] as i32 + m1 * bsums[2 * k + 1] as i32;
        }
        fma_lanes(&mut acc, dmin, &mins);

        let mut cols = [0i32; STEP];
        for h in 0..2 {
            let qs = &b[16 + STEP * h..16 + STEP * (h + 1)];
            for s in 0..4 {
                for (o, &v) in w.iter_mut().zip(qs) {
                    *o = ((v >> (2 * s)) & 3) as i8;
                }
                let g = 8 * h + 2 * s;
                let (sa, sb) = ((scales[g] & 0x0F) as i32, (scales[g + 1] & 0x0F) as i32);
                add_step(&mut cols, &w, &y[4 + 128 * h + STEP * s..], sa, sb);
            }
        }
        fma_lanes(&mut acc, d, &lanes_of(&cols));
    }
    hsum8(&acc)
}

/// Q3_K × Q8_K.
///
/// Quant `128h + 32s + l` is bits `2s..2s+2` of `qs[32h + l]`, minus 4 where bit `4h + s`
/// of `hmask[l]` is clear; scales as Q2_K's, signed (`6-bit - 32`).
#[inline]
pub(crate) fn dot_q3_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(Q3K_BYTES).zip(xq.chunks_exact(Q8K_BYTES)) {
        let yd = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
        let d = yd * f16_at(&b[108..]);
        let sc = k3_scales(&b[96..108]);
        let hmask = &b[..STEP];
        let mut cols = [0i32; STEP];
        for h in 0..2 {
            let qs = &b[32 + STEP * h..32 + STEP * (h + 1)];
            for s in 0..4 {
                let bit = 4 * h + s;
                for ((o, &v), &hm) in w.iter_mut().zip(qs).zip(hmask) {
                    let low = ((v >> (2 * s)) & 3) as i8;
                    *o = if (hm >> bit) & 1 == 0 { low - 4 } else { low };
                }
                let g = 8 * h + 2 * s;
                add_step(
                    &mut cols,
                    &w,
                    &y[4 + 128 * h + STEP * s..],
                    sc[g] as i32,
                    sc[g + 1] as i32,
                );
            }
        }
        fma_lanes(&mut acc, d, &lanes_of(&cols));
    }
    hsum8(&acc)
}

/// Q5_K × Q8_K.
///
/// Step `2j` holds the low nibbles of `qs[32j..32j+32]` plus 16 times bit `2j` of `qh`
/// (quants `64j..`, scale `2j`), step `2j + 1` the high nibbles plus bit `2j + 1` (scale
/// `2j + 1`). The activation sums are paired in i16 (`vphaddw`, wrapping) before the mins.
#[inline]
pub(crate) fn dot_q5_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut summs = 0f32;
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(Q5K_BYTES).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (yd, bsums) = q8k_d_sums(y);
        let d = yd * f16_at(b);
        let dmin = -yd * f16_at(&b[2..]);
        let (sc, mn) = k4_scales_mins(&b[4..16]);

        let mut m = 0i32;
        for (i, &mi) in mn.iter().enumerate() {
            m += mi as i32 * bsums[2 * i].wrapping_add(bsums[2 * i + 1]) as i32;
        }
        summs = dmin.mul_add(m as f32, summs);

        let (qh, qs) = (&b[16..48], &b[48..176]);
        let mut cols = [0i32; STEP];
        for j in 0..4 {
            let q = &qs[STEP * j..STEP * (j + 1)];
            for half in 0..2 {
                let (shift, bit) = (4 * half, 2 * j + half);
                for ((o, &v), &hb) in w.iter_mut().zip(q).zip(qh) {
                    *o = (((v >> shift) & 0x0F) | (((hb >> bit) & 1) << 4)) as i8;
                }
                let c = sc[2 * j + half] as i32;
                add_step(&mut cols, &w, &y[4 + 64 * j + STEP * half..], c, c);
            }
        }
        fma_lanes(&mut acc, d, &lanes_of(&cols));
    }
    hsum8(&acc) + summs
}
