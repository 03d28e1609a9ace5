//! Scalar reference dequantization and fused dot products for every [`DType`], one
//! submodule per family, with the by-type dispatch.

use crate::DType;

pub mod float;
pub mod k;
pub mod legacy;
pub mod quantize;
mod quantize_k;
mod quantize_legacy;

/// Widens an IEEE half (as bits) to f32, exactly, with selects instead of branches (so
/// loops over it vectorize) and no per-call CPU feature check.
///
/// Normal halves re-bias the exponent in the bit pattern; subnormal halves are their
/// mantissa times 2^-24 (computed from a normal integer, so no slow subnormal arithmetic);
/// infinities and NaNs keep their payload.
#[inline(always)]
pub fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h as u32) & 0x8000) << 16;
    let em = (h as u32) & 0x7FFF;
    let normal = (em << 13) + ((127 - 15) << 23);
    let subnormal = (em as f32 * f32::from_bits(0x3380_0000)).to_bits(); // 2^-24
    let special = (em << 13) | 0x7F80_0000;
    let bits = if em >= 0x7C00 {
        special
    } else if em < 0x0400 {
        subnormal
    } else {
        normal
    };
    f32::from_bits(bits | sign)
}

/// Reads a little-endian IEEE half at `b[0..2]` as f32 (exact).
#[inline(always)]
pub(crate) fn f16_at(b: &[u8]) -> f32 {
    f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
}

/// Panics unless `bytes` holds exactly `n` weights of `dtype`.
#[inline]
pub(crate) fn check_len(dtype: DType, bytes: usize, n: usize, what: &str) {
    let want = dtype.bytes_for(n as u64);
    assert!(
        want == Some(bytes as u64),
        "{what}: {n} {dtype} weights need {want:?} bytes, got {bytes}"
    );
}

/// Dequantize `dst.len()` weights (a whole number of blocks) from `src`
/// (exactly `dtype.bytes_for(dst.len())` bytes).
///
/// Results match GGML's reference dequantization bit for bit.
///
/// # Panics
///
/// If `dst.len()` is not a whole number of blocks or `src` has the wrong length.
/// Callers validate tensor sizes when a model is loaded.
pub fn dequantize_row(dtype: DType, src: &[u8], dst: &mut [f32]) {
    check_len(dtype, src.len(), dst.len(), "dequantize_row");
    match dtype {
        DType::F32 => float::dequant_f32(src, dst),
        DType::F16 => float::dequant_f16(src, dst),
        DType::BF16 => float::dequant_bf16(src, dst),
        DType::Q4_0 => legacy::dequant_q4_0(src, dst),
        DType::Q4_1 => legacy::dequant_q4_1(src, dst),
        DType::Q5_0 => legacy::dequant_q5_0(src, dst),
        DType::Q5_1 => legacy::dequant_q5_1(src, dst),
        DType::Q8_0 => legacy::dequant_q8_0(src, dst),
        DType::IQ4_NL => legacy::dequant_iq4_nl(src, dst),
        DType::Q2_K => k::dequant_q2_k(src, dst),
        DType::Q3_K => k::dequant_q3_k(src, dst),
        DType::Q4_K => k::dequant_q4_k(src, dst),
        DType::Q5_K => k::dequant_q5_k(src, dst),
        DType::Q6_K => k::dequant_q6_k(src, dst),
    }
}

/// Scalar dot product of one stored row (`row.len() == dtype.bytes_for(x.len())`) with `x`.
///
/// Allocation-free: each block is decoded into a stack array and multiplied in place.
///
/// # Panics
///
/// If `x.len()` is not a whole number of blocks or `row` has the wrong length.
pub fn dot_row_scalar(dtype: DType, row: &[u8], x: &[f32]) -> f32 {
    check_len(dtype, row.len(), x.len(), "dot_row");
    dot_row_scalar_unchecked(dtype, row, x)
}

/// [`dot_row_scalar`] after the caller has checked the lengths.
#[inline]
pub(crate) fn dot_row_scalar_unchecked(dtype: DType, row: &[u8], x: &[f32]) -> f32 {
    match dtype {
        DType::F32 => float::dot_f32_row(row, x),
        DType::F16 => float::dot_f16(row, x),
        DType::BF16 => float::dot_bf16(row, x),
        DType::Q4_0 => legacy::dot_q4_0(row, x),
        DType::Q4_1 => legacy::dot_q4_1(row, x),
        DType::Q5_0 => legacy::dot_q5_0(row, x),
        DType::Q5_1 => legacy::dot_q5_1(row, x),
        DType::Q8_0 => legacy::dot_q8_0(row, x),
        DType::IQ4_NL => legacy::dot_iq4_nl(row, x),
        DType::Q2_K => k::dot_q2_k(row, x),
        DType::Q3_K => k::dot_q3_k(row, x),
        DType::Q4_K => k::dot_q4_k(row, x),
        DType::Q5_K => k::dot_q5_k(row, x),
        DType::Q6_K => k::dot_q6_k(row, x),
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;

    #[test]
    fn f16_widening_matches_half_for_every_bit_pattern() {
        for h in 0..=u16::MAX {
            let want = half::f16::from_bits(h).to_f32();
            let got = f16_to_f32(h);
            if want.is_nan() {
                assert!(got.is_nan(), "{h:#06x}");
            } else {
                assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}");
            }
        }
    }
}
