//! Portable activation-quantized dots for Q8_0 × Q8_0, Q5_0 × Q8_0, Q4_K × Q8_K and
//! Q6_K × Q8_K in the lane structure of ggml's x86 AVX2 kernels, so they give the same bits.
//!
//! Each 32-byte step of quants is split into 8 lanes of 4 consecutive bytes, as ggml's
//! `vpmaddubsw`/`vpmaddwd` (or VNNI) sums do; the lane integers are exact, converted to f32
//! as integers (`cvtdq2ps`, round to nearest even) and accumulated per lane with one fused
//! multiply-add per block (`f32::mul_add`, always a single rounding, so the result does
//! not depend on hardware FMA), then reduced as ggml's `hsum_float_8`. The AVX2
//! intrinsics in `crate::x86::act_dot` follow the same steps; the tests assert that both
//! (and ggml itself, through a fixture) agree bit for bit.
//!
//! The lane sums here are always the exact integers. ggml's (and our) AVX2 Q8_0/Q5_0
//! kernels multiply `|w|` by `a` negated where `w < 0`, which wraps for an activation byte
//! of -128; the quantizers never write one (they round to -127..=127), so for activations
//! from [`crate::quantize_act`] both agree.

use crate::quant::f16_at;
use crate::quant::k::k4_scales_mins;

/// f32 lanes of one AVX2 register.
pub(super) const LANES: usize = 8;

/// Bytes of one 256-bit step.
pub(super) const STEP: usize = 32;

/// Bytes per Q8_K activation block: f32 `d`, 256 quants, 16 i16 sums.
pub(super) const Q8K_BYTES: usize = 292;

/// Lane `k` = `sum_{i < 4} w[4k + i] * a[4k + i]`, exact (`a`: at least 32 bytes, read
/// as i8).
#[inline(always)]
pub(super) fn lane_sums(w: &[i8; STEP], a: &[u8]) -> [i32; LANES] {
    let mut p = [0i32; STEP];
    for ((o, &x), &y) in p.iter_mut().zip(w).zip(&a[..STEP]) {
        *o = x as i32 * y as i8 as i32;
    }
    lanes_of(&p)
}

/// Lane `k` = the sum of columns `4k..4k + 4`.
#[inline(always)]
pub(super) fn lanes_of(cols: &[i32; STEP]) -> [i32; LANES] {
    let mut out = [0i32; LANES];
    for (o, c) in out.iter_mut().zip(cols.chunks_exact(4)) {
        *o = (c[0] + c[1]) + (c[2] + c[3]);
    }
    out
}

/// `acc[k] = fma(d, f32(s[k]), acc[k])` for every lane (`_mm256_fmadd_ps`).
#[inline(always)]
pub(super) fn fma_lanes(acc: &mut [f32; LANES], d: f32, s: &[i32; LANES]) {
    for (a, &v) in acc.iter_mut().zip(s) {
        *a = d.mul_add(v as f32, *a);
    }
}

/// ggml's `hsum_float_8`: upper half onto lower half, then pairs, then the last two.
#[inline(always)]
pub(super) fn hsum8(v: &[f32; LANES]) -> f32 {
    let s = [v[0] + v[4], v[1] + v[5], v[2] + v[6], v[3] + v[7]];
    (s[0] + s[2]) + (s[1] + s[3])
}

/// Q8_K `d` and the 16 sums of 16 quants.
#[inline(always)]
pub(super) fn q8k_d_sums(y: &[u8]) -> (f32, [i16; 16]) {
    let d = f32::from_le_bytes([y[0], y[1], y[2], y[3]]);
    let mut sums = [0i16; 16];
    for (g, s) in sums.iter_mut().enumerate() {
        *s = i16::from_le_bytes([y[260 + 2 * g], y[261 + 2 * g]]);
    }
    (d, sums)
}

/// Q8_0 × Q8_0 (34-byte blocks on both sides).
#[inline]
pub(crate) fn dot_q8_0(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(34).zip(xq.chunks_exact(34)) {
        let d = f16_at(b) * f16_at(y);
        for (o, &v) in w.iter_mut().zip(&b[2..34]) {
            *o = v as i8;
        }
        fma_lanes(&mut acc, d, &lane_sums(&w, &y[2..34]));
    }
    hsum8(&acc)
}

/// Q5_0 × Q8_0 (22-byte weight blocks: `d`, `qh` u32, 16 nibble bytes; values `q - 16`).
#[inline]
pub(crate) fn dot_q5_0(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut w = [0i8; STEP];
    for (b, y) in row.chunks_exact(22).zip(xq.chunks_exact(34)) {
        let d = f16_at(b) * f16_at(y);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..STEP / 2 {
            let v = b[6 + j];
            let lo = (v & 0x0F) | ((((qh >> j) & 1) as u8) << 4);
            let hi = (v >> 4) | ((((qh >> (j + 16)) & 1) as u8) << 4);
            w[j] = lo as i8 - 16;
            w[j + 16] = hi as i8 - 16;
        }
        fma_lanes(&mut acc, d, &lane_sums(&w, &y[2..34]));
    }
    hsum8(&acc)
}

/// Q4_K × Q8_K (144-byte weight blocks: `d`, `dmin`, 12 scale bytes, 128 nibble bytes).
///
/// Per block, lane `k` holds `sum_j sc[2j] * lanesum(low nibbles of step j, quants
/// 64j..) + sc[2j+1] * lanesum(high nibbles, quants 64j+32..)`; the mins go to 4 separate
/// lanes: lane `i` = `mn[2i] * (s[4i] + s[4i+1]) + mn[2i+1] * (s[4i+2] + s[4i+3])` over the
/// activation sums `s` (paired in i16 as `vphaddw`), times `-da * dmin`.
#[inline]
pub(crate) fn dot_q4_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut acc_m = [0f32; 4];
    for (b, y) in row.chunks_exact(144).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (yd, bsums) = q8k_d_sums(y);
        let d = yd * f16_at(b);
        let dmin = -yd * f16_at(&b[2..]);
        let (sc, mn) = k4_scales_mins(&b[4..16]);

        let mut pairs = [0i32; 8];
        for (j, p) in pairs.iter_mut().enumerate() {
            *p = bsums[2 * j].wrapping_add(bsums[2 * j + 1]) as i32;
        }
        for (i, a) in acc_m.iter_mut().enumerate() {
            let m = mn[2 * i] as i32 * pairs[2 * i] + mn[2 * i + 1] as i32 * pairs[2 * i + 1];
            *a = dmin.mul_add(m as f32, *a);
        }

        // Byte `m` of every 32-byte step lands in lane `m / 4`: sum the steps column by
        // column (exact integers, so the order is free), then the columns of each lane.
        let mut cols = [0i32; STEP];
        for j in 0..4 {
            let qs = &b[16 + STEP * j..16 + STEP * (j + 1)];
            let (al, ah) = (&y[4 + 64 * j..36 + 64 * j], &y[36 + 64 * j..68 + 64 * j]);
            let (cl, ch) = (sc[2 * j] as i32, sc[2 * j + 1] as i32);
            let (mut pl, mut ph) = ([0i16; STEP], [0i16; STEP]);
            for m in 0..STEP {
                pl[m] = (qs[m] & 0x0F) as i16 * al[m] as i8 as i16;
                ph[m] = (qs[m] >> 4) as i16 * ah[m] as i8 as i16;
            }
            for m in 0..STEP {
                cols[m] += cl * pl[m] as i32 + ch * ph[m] as i32;
            }
        }
        let sumi = lanes_of(&cols);
        fma_lanes(&mut acc, d, &sumi);
    }
    let m = (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    hsum8(&acc) + m
}

/// Q6_K × Q8_K (210-byte weight blocks: 128 low-nibble bytes, 64 high-bit bytes,
/// 16 i8 scales, `d`).
///
/// The quants are used unsigned (0..63) and the offset 32 is taken out through the
/// activation sums, as ggml: lane `k` loses `32 * (sc[2k] * s[2k] + sc[2k+1] * s[2k+1])`.
/// In step `s` of half `h` lanes 0..4 carry scale `8h + 2s`, lanes 4..8 the next one.
#[inline]
pub(crate) fn dot_q6_k(row: &[u8], xq: &[u8]) -> f32 {
    let mut acc = [0f32; LANES];
    let mut q = [[0i8; STEP]; 4];
    for (b, y) in row.chunks_exact(210).zip(xq.chunks_exact(Q8K_BYTES)) {
        let (yd, bsums) = q8k_d_sums(y);
        let d = yd * f16_at(&b[208..]);
        let mut sc = [0i8; 16];
        for (o, &s) in sc.iter_mut().zip(&b[192..208]) {
            *o = s as i8;
        }
        let mut cols = [0i32; STEP];
        for h in 0..2 {
            let (ql, qh) = (
                &b[64 * h..64 * h + 64],
                &b[128 + STEP * h..128 + STEP * (h + 1)],
            );
            for l in 0..STEP {
                let (lo, hi, hb) = (ql[l], ql[STEP + l], qh[l]);
                q[0][l] = ((lo & 0x0F) | ((hb & 3) << 4)) as i8;
                q[1][l] = ((hi & 0x0F) | (((hb >> 2) & 3) << 4)) as i8;
                q[2][l] = ((lo >> 4) | (((hb >> 4) & 3) << 4)) as i8;
                q[3][l] = ((hi >> 4) | ((hb >> 6) << 4)) as i8;
            }
            let mut p = [[0i16; STEP]; 4];
            for (s, (ps, qv)) in p.iter_mut().zip(&q).enumerate() {
                let a = &y[4 + 128 * h + STEP * s..4 + 128 * h + STEP * (s + 1)];
                for ((o, &w), &x) in ps.iter_mut().zip(qv).zip(a) {
                    *o = w as i16 * x as i8 as i16;
                }
            }
            // Step `s` uses scale 8h + 2s for its bytes 0..16 and the next for 16..32;
            // two steps at a time (so the products pair up as in `vpmaddwd`).
            for s in [0, 2] {
                let g = 8 * h + 2 * s;
                let (mut sa, mut sb) = ([0i16; STEP], [0i16; STEP]);
                for m in 0..STEP {
                    sa[m] = sc[g + m / 16] as i16;
                    sb[m] = sc[g + 2 + m / 16] as i16;
                }
                for m in 0..STEP {
                    cols[m] += sa[m] as i32 * p[s][m] as i32 + sb[m] as i32 * p[s + 1][m] as i32;
                }
            }
        }
        let mut sumi = lanes_of(&cols);
        for (k, s) in sumi.iter_mut().enumerate() {
            let (c0, c1) = (sc[2 * k] as i32, sc[2 * k + 1] as i32);
            *s -= 32 * (c0 * bsums[2 * k] as i32 + c1 * bsums[2 * k + 1] as i32);
        }
        fma_lanes(&mut acc, d, &sumi);
    }
    hsum8(&acc)
}
