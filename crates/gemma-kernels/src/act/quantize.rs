//! Portable activation quantizers reproducing the bytes of ggml's x86-64 build.
//!
//! - Q8_0 / Q8_1 follow ggml's AVX path (which is what runs on x86, not the `_ref` C code):
//!   `amax = max |x|` over the block, reduced in the same lane order so NaNs propagate the
//!   same way; `d = amax / 127` stored as f16 (nearest even); quants are
//!   `round_half_even(x * (127 / amax))` converted like `cvtps2dq` (NaN and out-of-range
//!   give `i32::MIN`) and saturated to i8. Q8_1 adds `s = f16(d * sum of the i32 quants)`.
//! - Q8_K is ggml's reference quantizer (x86 has no other): the value with the largest
//!   magnitude (first one on ties) sets `iscale = -127 / max`; quants are
//!   `min(127, nearest_int(iscale * x))` truncated to i8, where `nearest_int` is ggml's
//!   add-1.5·2^23 trick; `d = 1 / iscale` as f32; sums of 16 quants as i16.
//! - F16 is `vcvtps2ph` (nearest even; NaNs quieted, payload truncated), BF16 ggml's
//!   nearest-even rounding with NaNs quieted, F32 a copy.

use super::ActType;

/// Quantizes `x` into `out` (lengths checked by the caller).
pub(crate) fn quantize(act: ActType, x: &[f32], out: &mut [u8]) {
    match act {
        ActType::F32 => {
            for (o, v) in out.chunks_exact_mut(4).zip(x) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        ActType::F16 => {
            for (o, &v) in out.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&f32_to_f16_bits(v).to_le_bytes());
            }
        }
        ActType::BF16 => {
            for (o, &v) in out.chunks_exact_mut(2).zip(x) {
                o.copy_from_slice(&f32_to_bf16_bits(v).to_le_bytes());
            }
        }
        ActType::Q8_0 => {
            for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(34)) {
                let (d, _) = q8_block(xb, &mut ob[2..34]);
                ob[0..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
            }
        }
        ActType::Q8_1 => {
            for (xb, ob) in x.chunks_exact(32).zip(out.chunks_exact_mut(36)) {
                let (d, sum) = q8_block(xb, &mut ob[4..36]);
                ob[0..2].copy_from_slice(&f32_to_f16_bits(d).to_le_bytes());
                let s = d * sum as f32;
                ob[2..4].copy_from_slice(&f32_to_f16_bits(s).to_le_bytes());
            }
        }
        ActType::Q8_K => {
            for (xb, ob) in x.chunks_exact(256).zip(out.chunks_exact_mut(292)) {
                q8_k_block(xb, ob);
            }
        }
    }
}

/// One lane of x86 `maxps`: `a` if it is greater, else `b` (so a NaN in either gives `b`).
#[inline(always)]
fn maxps(a: f32, b: f32) -> f32 {
    if a > b {
        a
    } else {
        b
    }
}

/// `|v|` by clearing the sign bit (NaNs stay NaNs), as `andnot(-0.0, v)`.
#[inline(always)]
fn abs_bits(v: f32) -> f32 {
    f32::from_bits(v.to_bits() & 0x7FFF_FFFF)
}

/// `max |x|` of a 32-value block, reduced like ggml's AVX code: 8 lanes over the four
/// groups of 8, then halves, pairs and the last two.
#[inline(always)]
pub(crate) fn block_amax32(xb: &[f32]) -> f32 {
    let mut m = [0.0f32; 8];
    for (l, v) in m.iter_mut().enumerate() {
        *v = abs_bits(xb[l]);
    }
    for k in 1..4 {
        for (l, v) in m.iter_mut().enumerate() {
            *v = maxps(*v, abs_bits(xb[8 * k + l]));
        }
    }
    let h = [
        maxps(m[4], m[0]),
        maxps(m[5], m[1]),
        maxps(m[6], m[2]),
        maxps(m[7], m[3]),
    ];
    maxps(maxps(h[0], h[2]), maxps(h[1], h[3]))
}

/// `cvtps2dq` of an already rounded value: NaN and values outside i32 give `i32::MIN`.
#[inline(always)]
fn cvt_i32(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Quantizes a 32-value block into `qs` (32 bytes); returns the f32 scale `d` and the
/// wrapping sum of the (unsaturated) i32 quants.
#[inline(always)]
fn q8_block(xb: &[f32], qs: &mut [u8]) -> (f32, i32) {
    let amax = block_amax32(xb);
    let d = amax / 127.0;
    let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
    let mut sum = 0i32;
    for (o, &v) in qs.iter_mut().zip(xb) {
        let q = cvt_i32((v * id).round_ties_even());
        sum = sum.wrapping_add(q);
        *o = q.clamp(-128, 127) as i8 as u8;
    }
    (d, sum)
}

/// ggml's `nearest_int`: round half to even through the float adder (exact for
/// `|f| < 2^22`; other inputs give the same bit-trick result as ggml).
#[inline(always)]
pub(crate) fn nearest_int(f: f32) -> i32 {
    let v = f + 12_582_912.0;
    (v.to_bits() & 0x007F_FFFF) as i32 - 0x0040_0000
}

/// Quantizes a 256-value block into a 292-byte Q8_K block.
fn q8_k_block(xb: &[f32], ob: &mut [u8]) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in xb {
        let a = v.abs();
        if a > amax {
            amax = a;
            max = v;
        }
    }
    if amax == 0.0 {
        ob.fill(0);
        return;
    }
    let iscale = -127.0 / max;
    for (o, &v) in ob[4..260].iter_mut().zip(xb) {
        *o = nearest_int(iscale * v).min(127) as i8 as u8;
    }
    for g in 0..16 {
        let s: i32 = ob[4 + 16 * g..20 + 16 * g]
            .iter()
            .map(|&q| q as i8 as i32)
            .sum();
        ob[260 + 2 * g..262 + 2 * g].copy_from_slice(&(s as i16).to_le_bytes());
    }
    ob[0..4].copy_from_slice(&(1.0 / iscale).to_le_bytes());
}

/// Rounds `m >> shift` to nearest, ties to even (`1 <= shift <= 31`).
#[inline(always)]
fn shift_round_even(m: u32, shift: u32) -> u32 {
    let q = m >> shift;
    let rem = m & ((1 << shift) - 1);
    let half = 1 << (shift - 1);
    if rem > half || (rem == half && q & 1 == 1) {
        q + 1
    } else {
        q
    }
}

/// f32 → IEEE half bits as x86 `vcvtps2ph` with round-to-nearest-even: overflow gives
/// infinity, tiny values round into subnormals or zero, NaNs are quieted with the top
/// payload bits kept.
#[inline(always)]
pub(crate) fn f32_to_f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xFF) as i32;
    let man = b & 0x007F_FFFF;
    if exp == 0xFF {
        let nan = if man != 0 {
            0x0200 | (man >> 13) as u16
        } else {
            0
        };
        return sign | 0x7C00 | nan;
    }
    let e = exp - 127 + 15;
    if e >= 0x1F {
        return sign | 0x7C00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        // Subnormal half: the implicit bit joins the mantissa; a carry out makes the
        // smallest normal, which the bit layout already encodes.
        return sign | shift_round_even(man | 0x0080_0000, (14 - e) as u32) as u16;
    }
    // A mantissa carry ripples into the exponent (up to infinity), as it should.
    sign | shift_round_even(((e as u32) << 23) | man, 13) as u16
}

/// f32 → bfloat16 bits as ggml rounds them: nearest even; NaNs quieted.
#[inline(always)]
pub(crate) fn f32_to_bf16_bits(x: f32) -> u16 {
    let u = x.to_bits();
    if (u & 0x7FFF_FFFF) > 0x7F80_0000 {
        return ((u >> 16) | 64) as u16;
    }
    (u.wrapping_add(0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounding_matches_half_crate() {
        // half's conversion also rounds to nearest even; compare on a sweep of f32 bit
        // patterns (every exponent, many mantissas, both signs), NaNs aside.
        let mut bits = 0u32;
        loop {
            let x = f32::from_bits(bits);
            if !x.is_nan() {
                let want = half::f16::from_f32(x).to_bits();
                assert_eq!(f32_to_f16_bits(x), want, "{x:e} ({bits:#010x})");
            }
            let (next, overflow) = bits.overflowing_add(4093);
            if overflow {
                break;
            }
            bits = next;
        }
        assert_eq!(f32_to_f16_bits(f32::NAN), 0x7E00);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7C00);
        assert_eq!(f32_to_f16_bits(65519.0), 0x7BFF);
    }

    #[test]
    fn bf16_rounds_half_to_even() {
        assert_eq!(f32_to_bf16_bits(1.0), 0x3F80);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3F80_8000)), 0x3F80);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3F81_8000)), 0x3F82);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x3F80_8001)), 0x3F81);
        assert_eq!(f32_to_bf16_bits(f32::INFINITY), 0x7F80);
        assert_eq!(f32_to_bf16_bits(f32::from_bits(0x7F80_0001)), 0x7FC0);
    }

    #[test]
    fn nearest_int_rounds_half_to_even() {
        for (f, want) in [
            (2.5, 2),
            (3.5, 4),
            (-2.5, -2),
            (-3.5, -4),
            (126.4, 126),
            (-0.5, 0),
        ] {
            assert_eq!(nearest_int(f), want, "{f}");
        }
    }
}
