//! Weight quantization: f32 rows to every storable [`DType`], byte for byte as ggml's
//! reference quantizers (`quantize_row_*_ref` in `ggml-quants.c`, which `llama-quantize`
//! runs when no importance matrix is given) and its float conversions.
//!
//! The C code is compiled without fused multiply-adds (llama.cpp's `ggml-base` is built for
//! plain SSE2), so a literal port in Rust, which never contracts, gives the same bits. The
//! ports keep ggml's evaluation order, its `nearest_int` rounding trick, `roundf` (half away
//! from zero) where ggml calls it, and x86's float-to-integer truncation (`cvttss2si`: NaN and
//! out-of-range values give `i32::MIN`) wherever the C code casts a float to an integer.
//!
//! Inputs are expected to be finite; NaNs and infinities never panic but give whatever bytes
//! the ported arithmetic gives (ggml's own output for such rows is not specified either).

use super::{quantize_k as k, quantize_legacy as legacy};
use crate::DType;

/// Why a row could not be quantized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuantizeError {
    /// The target type has no quantizer here.
    Unsupported {
        /// The requested type.
        dtype: DType,
    },
    /// The row is not a whole number of blocks of the type.
    PartialBlock {
        /// The requested type.
        dtype: DType,
        /// Values in the row.
        n: usize,
        /// Values per block of `dtype`.
        block: usize,
    },
    /// The output buffer has the wrong size.
    OutputSize {
        /// The requested type.
        dtype: DType,
        /// Values in the row.
        n: usize,
        /// Bytes `n` values of `dtype` take.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

impl std::fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuantizeError::Unsupported { dtype } => {
                write!(f, "quantizing to {dtype} is not supported")
            }
            QuantizeError::PartialBlock { dtype, n, block } => write!(
                f,
                "a row of {n} values is not a whole number of {dtype} blocks ({block} values each)"
            ),
            QuantizeError::OutputSize {
                dtype,
                n,
                expected,
                got,
            } => write!(
                f,
                "{n} values of {dtype} take {expected} bytes, the output buffer has {got}"
            ),
        }
    }
}

impl std::error::Error for QuantizeError {}

/// Whether [`quantize_row`] can produce `dtype`.
pub fn can_quantize(dtype: DType) -> bool {
    !matches!(dtype, DType::IQ4_NL)
}

/// Quantizes `src` (a whole number of blocks) into `dst` (exactly
/// `dtype.bytes_for(src.len())` bytes), bit-identical to ggml's `ggml_quantize_chunk`
/// without an importance matrix.
pub fn quantize_row(dtype: DType, src: &[f32], dst: &mut [u8]) -> Result<(), QuantizeError> {
    if !can_quantize(dtype) {
        return Err(QuantizeError::Unsupported { dtype });
    }
    let block = dtype.block_len();
    if !src.len().is_multiple_of(block) {
        return Err(QuantizeError::PartialBlock {
            dtype,
            n: src.len(),
            block,
        });
    }
    let expected = src.len() / block * dtype.block_bytes();
    if dst.len() != expected {
        return Err(QuantizeError::OutputSize {
            dtype,
            n: src.len(),
            expected,
            got: dst.len(),
        });
    }
    match dtype {
        DType::F32 => {
            for (o, v) in dst.chunks_exact_mut(4).zip(src) {
                o.copy_from_slice(&v.to_le_bytes());
            }
        }
        DType::F16 => {
            for (o, &v) in dst.chunks_exact_mut(2).zip(src) {
                o.copy_from_slice(&f32_to_f16_ggml(v).to_le_bytes());
            }
        }
        DType::BF16 => {
            for (o, &v) in dst.chunks_exact_mut(2).zip(src) {
                o.copy_from_slice(&f32_to_bf16_ggml(v).to_le_bytes());
            }
        }
        DType::Q4_0 => legacy::quantize_q4_0(src, dst),
        DType::Q4_1 => legacy::quantize_q4_1(src, dst),
        DType::Q5_0 => legacy::quantize_q5_0(src, dst),
        DType::Q5_1 => legacy::quantize_q5_1(src, dst),
        DType::Q8_0 => legacy::quantize_q8_0(src, dst),
        DType::Q2_K => k::quantize_q2_k(src, dst),
        DType::Q3_K => k::quantize_q3_k(src, dst),
        DType::Q4_K => k::quantize_q4_k(src, dst),
        DType::Q5_K => k::quantize_q5_k(src, dst),
        DType::Q6_K => k::quantize_q6_k(src, dst),
        DType::IQ4_NL => unreachable!("rejected by can_quantize"),
    }
    Ok(())
}

/// f32 → IEEE half bits as ggml's portable `ggml_compute_fp32_to_fp16` (what
/// `GGML_FP32_TO_FP16` is in `ggml-base`): round to nearest even, overflow to infinity,
/// every NaN to `0x7E00` with the sign kept.
#[inline]
pub fn f32_to_f16_ggml(f: f32) -> u16 {
    let scale_to_inf = f32::from_bits(0x7780_0000); // 2^112
    let scale_to_zero = f32::from_bits(0x0880_0000); // 2^-110
    let mut base = (f.abs() * scale_to_inf) * scale_to_zero;
    let w = f.to_bits();
    let shl1_w = w.wrapping_add(w);
    let sign = w & 0x8000_0000;
    let bias = (shl1_w & 0xFF00_0000).max(0x7100_0000);
    base += f32::from_bits((bias >> 1) + 0x0780_0000);
    let bits = base.to_bits();
    let exp_bits = (bits >> 13) & 0x7C00;
    let mantissa_bits = bits & 0x0FFF;
    let nonsign = exp_bits + mantissa_bits;
    ((sign >> 16)
        | if shl1_w > 0xFF00_0000 {
            0x7E00
        } else {
            nonsign
        }) as u16
}

/// f32 → bfloat16 bits as ggml's `ggml_compute_fp32_to_bf16`: round to nearest even,
/// NaNs truncated and quieted.
#[inline]
pub fn f32_to_bf16_ggml(f: f32) -> u16 {
    crate::act::quantize::f32_to_bf16_bits(f)
}

/// ggml's `nearest_int` (round half to even through the float adder).
#[inline(always)]
pub(crate) fn nearest_int(f: f32) -> i32 {
    crate::act::quantize::nearest_int(f)
}

/// C's float-to-int conversion as x86 `cvttss2si` performs it: truncation toward zero;
/// NaN and values outside the i32 range give `i32::MIN`.
#[inline(always)]
pub(crate) fn cvtt(v: f32) -> i32 {
    if (-2_147_483_648.0..2_147_483_648.0).contains(&v) {
        v as i32
    } else {
        i32::MIN
    }
}

/// Stores `v` as a little-endian ggml half (rounded by [`f32_to_f16_ggml`]) at `out[0..2]`.
#[inline(always)]
pub(crate) fn put_f16(out: &mut [u8], v: f32) {
    out[..2].copy_from_slice(&f32_to_f16_ggml(v).to_le_bytes());
}

/// The f32 value of the half just stored by [`put_f16`] (`GGML_FP16_TO_FP32` of it).
#[inline(always)]
pub(crate) fn f16_round_trip(v: f32) -> f32 {
    super::f16_to_f32(f32_to_f16_ggml(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_matches_half_crate_except_nan_payloads() {
        let mut bits = 0u32;
        loop {
            let x = f32::from_bits(bits);
            let got = f32_to_f16_ggml(x);
            if x.is_nan() {
                assert_eq!(got & 0x7FFF, 0x7E00, "{bits:#010x}");
            } else {
                assert_eq!(
                    got,
                    half::f16::from_f32(x).to_bits(),
                    "{x:e} ({bits:#010x})"
                );
            }
            let (next, overflow) = bits.overflowing_add(3001);
            if overflow {
                break;
            }
            bits = next;
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let mut out = [0u8; 34];
        assert_eq!(
            quantize_row(DType::Q8_0, &[0.0; 31], &mut out),
            Err(QuantizeError::PartialBlock {
                dtype: DType::Q8_0,
                n: 31,
                block: 32
            })
        );
        assert!(matches!(
            quantize_row(DType::Q8_0, &[0.0; 32], &mut out[..33]),
            Err(QuantizeError::OutputSize { expected: 34, .. })
        ));
        assert!(matches!(
            quantize_row(DType::IQ4_NL, &[0.0; 32], &mut out[..18]),
            Err(QuantizeError::Unsupported { .. })
        ));
        assert!(quantize_row(DType::Q8_0, &[0.0; 32], &mut out).is_ok());
    }

    #[test]
    fn cvtt_is_x86_truncation() {
        assert_eq!(cvtt(16.9), 16);
        assert_eq!(cvtt(-0.9), 0);
        assert_eq!(cvtt(f32::NAN), i32::MIN);
        assert_eq!(cvtt(f32::INFINITY), i32::MIN);
        assert_eq!(cvtt(3e9), i32::MIN);
    }
}
