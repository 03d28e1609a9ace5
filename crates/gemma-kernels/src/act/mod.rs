//! Activation quantization and activation-quantized row dot products, with llama.cpp's
//! CPU numerics.
//!
//! llama.cpp does not multiply quantized weights with f32 activations: before a matrix
//! product it converts each activation row to the format ggml pairs with the weight type
//! (its `vec_dot_type`, here [`ActType`]) and then takes integer block dot products.
//! [`quantize_act`] writes those bytes exactly as ggml's x86-64 build does (bit for bit,
//! including round-half-to-even and the f16 rounding of scales); [`dot_row_act`] computes
//! the integer block sums exactly and combines them in f32, for the types in
//! [`ACT_BIT_EXACT_DTYPES`] in the lane order of ggml's AVX2 kernels (`lanes`,
//! `lanes_legacy` and `lanes_k` here, `x86::act_dot`, `x86::act_dot_legacy` and
//! `x86::act_dot_k` with intrinsics). The float types (F32, F16, BF16, whose activations
//! are plain values) take ggml's float dots: with SIMD above the scalar level, in the shape
//! of llama.cpp's x86 build for the level (`x86::float_dot`), and as a portable chunked sum
//! (`dot32`) at it.
//!
//! Activation layouts (little-endian):
//! - Q8_0 (34 B per 32): f16 `d`, 32 × i8; value `d * q`.
//! - Q8_1 (36 B per 32): f16 `d`, f16 `s` (= `d * sum(q)`), 32 × i8.
//! - Q8_K (292 B per 256): f32 `d`, 256 × i8, 16 × i16 sums of consecutive 16 quants.
//! - F32 / F16 / BF16: one value per element, as the weight types of the same name.

use crate::DType;

pub mod batch;
pub(crate) mod dot32;
pub(crate) mod lanes;
pub(crate) mod lanes_k;
pub(crate) mod lanes_legacy;
pub(crate) mod quantize;
pub mod tile;

/// An activation format: what llama.cpp converts an f32 activation row to before taking
/// its dot product with weights of a given type (ggml's `vec_dot_type`).
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActType {
    /// Plain f32 (for F32 weights).
    F32,
    /// IEEE half, rounded to nearest even (for F16 weights).
    F16,
    /// bfloat16, rounded to nearest even (for BF16 weights).
    BF16,
    /// 32 values: f16 scale, 8-bit values (for Q4_0, Q5_0, Q8_0, IQ4_NL weights).
    Q8_0,
    /// 32 values: f16 scale, f16 `scale * sum`, 8-bit values (for Q4_1, Q5_1 weights).
    Q8_1,
    /// 256 values: f32 scale, 8-bit values, sums of 16 (for the K weight types).
    Q8_K,
}

impl ActType {
    /// Every activation format.
    pub const ALL: [ActType; 6] = [
        ActType::F32,
        ActType::F16,
        ActType::BF16,
        ActType::Q8_0,
        ActType::Q8_1,
        ActType::Q8_K,
    ];

    /// The name GGML uses.
    pub fn name(self) -> &'static str {
        match self {
            ActType::F32 => "F32",
            ActType::F16 => "F16",
            ActType::BF16 => "BF16",
            ActType::Q8_0 => "Q8_0",
            ActType::Q8_1 => "Q8_1",
            ActType::Q8_K => "Q8_K",
        }
    }

    /// The GGML type id.
    pub fn ggml_id(self) -> u32 {
        match self {
            ActType::F32 => 0,
            ActType::F16 => 1,
            ActType::Q8_0 => 8,
            ActType::Q8_1 => 9,
            ActType::Q8_K => 15,
            ActType::BF16 => 30,
        }
    }

    /// Values per block (1 for the float formats).
    pub fn block_len(self) -> usize {
        match self {
            ActType::F32 | ActType::F16 | ActType::BF16 => 1,
            ActType::Q8_0 | ActType::Q8_1 => 32,
            ActType::Q8_K => 256,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            ActType::F32 => 4,
            ActType::F16 | ActType::BF16 => 2,
            ActType::Q8_0 => 34,
            ActType::Q8_1 => 36,
            ActType::Q8_K => 292,
        }
    }
}

impl std::fmt::Display for ActType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The weight types whose activation-quantized dots reproduce ggml's x86 (AVX2) `vec_dot`
/// bit for bit at every kernel level: [`dot_row_act`] and [`dot_row_act_scalar`] give the
/// same bits for them. The float types (F32, F16, BF16) are not among them: above the scalar
/// level [`dot_row_act`] gives the bits of ggml's float dots as llama.cpp's x86 build for that
/// level computes them (`crate::x86::FloatDotBuild`), and [`dot_row_act_scalar`] agrees with
/// those up to f32 summation order.
pub const ACT_BIT_EXACT_DTYPES: [DType; 11] = [
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_1,
    DType::IQ4_NL,
    DType::Q2_K,
    DType::Q3_K,
    DType::Q5_K,
];

/// The activation format llama.cpp pairs with weights of type `w` (its `vec_dot_type`).
pub fn act_type(w: DType) -> ActType {
    match w {
        DType::F32 => ActType::F32,
        DType::F16 => ActType::F16,
        DType::BF16 => ActType::BF16,
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 | DType::IQ4_NL => ActType::Q8_0,
        DType::Q4_1 | DType::Q5_1 => ActType::Q8_1,
        DType::Q2_K | DType::Q3_K | DType::Q4_K | DType::Q5_K | DType::Q6_K => ActType::Q8_K,
    }
}

/// Bytes needed to hold `n` activations quantized for weights of type `w`.
///
/// # Panics
///
/// If `n` is not a multiple of `w.block_len()` (the weight and activation blocks have the
/// same length, so a whole weight row always fits).
pub fn act_bytes(w: DType, n: usize) -> usize {
    let a = act_type(w);
    assert!(
        n.is_multiple_of(a.block_len()),
        "act_bytes: {n} activations are not whole {a} blocks of {} (weights {w})",
        a.block_len()
    );
    n / a.block_len() * a.block_bytes()
}

/// Panics unless `out_len` bytes hold exactly `n` activations quantized for `w`.
#[inline]
fn check_quant(w: DType, n: usize, out_len: usize) {
    let a = act_type(w);
    assert!(
        n.is_multiple_of(a.block_len()) && out_len == n / a.block_len() * a.block_bytes(),
        "quantize_act: {n} activations for {w} weights need {n}/{} {a} blocks of {} bytes, \
         got {out_len} bytes",
        a.block_len(),
        a.block_bytes()
    );
}

/// Checks a weight row and a quantized activation row against each other; returns the
/// number of weights.
#[inline]
fn check_dot(w: DType, row_len: usize, xq_len: usize) -> usize {
    let bb = w.block_bytes();
    assert!(
        row_len.is_multiple_of(bb),
        "dot_row_act: a {w} row of {row_len} bytes is not whole blocks of {bb}"
    );
    let n = row_len / bb * w.block_len();
    let want = act_bytes(w, n);
    assert!(
        xq_len == want,
        "dot_row_act: {n} {w} weights need {want} bytes of {} activations, got {xq_len}",
        act_type(w)
    );
    n
}

/// Quantizes one activation row `x` for weights of type `w` into `out` (exactly
/// `act_bytes(w, x.len())` bytes), with the active kernel level.
///
/// The bytes equal ggml's (`from_float` of the weight type's `vec_dot_type`, x86-64 build)
/// at every level, for all finite inputs and also for infinities, NaNs and subnormals.
/// For an all-zero Q8_K block the 16 sums are written as zeros (ggml leaves them as they were).
///
/// # Panics
///
/// If `x.len()` is not a whole number of blocks or `out` has the wrong length.
#[inline]
pub fn quantize_act(w: DType, x: &[f32], out: &mut [u8]) {
    check_quant(w, x.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA;
        // lengths were checked above.
        #[allow(unsafe_code)]
        if unsafe { crate::x86::quantize_act_unchecked(act_type(w), x, out) } {
            return;
        }
    }
    quantize::quantize(act_type(w), x, out)
}

/// Portable twin of [`quantize_act`] (same bytes).
///
/// # Panics
///
/// As [`quantize_act`].
pub fn quantize_act_scalar(w: DType, x: &[f32], out: &mut [u8]) {
    check_quant(w, x.len(), out.len());
    quantize::quantize(act_type(w), x, out)
}

/// Dot product of one stored weight row with one quantized activation row (from
/// [`quantize_act`] for the same type and length), as llama.cpp computes it, with the
/// active kernel level.
///
/// Block integer sums are exact. For the types in [`ACT_BIT_EXACT_DTYPES`] (the default
/// model's, the 32-value types Q4_0, Q4_1, Q5_1 and IQ4_NL, and Q2_K, Q3_K and Q5_K: every
/// quantized type) they are also combined in f32 exactly as ggml's x86 AVX2 kernels do, at
/// every kernel level, so the result has ggml's bits. F32, F16 and BF16 rows take ggml's own
/// float dots (`ggml_vec_dot_f32`, `_f16`, `_bf16`) in the shape of llama.cpp's x86 build for
/// the active level, bit for bit: 8-lane AVX2 at `avx2`, 16-lane AVX-512 at `avx512` (BF16 by
/// `vdpbf16ps` where the CPU has AVX512-BF16); at the scalar level they use the portable twin,
/// which agrees to float rounding.
///
/// # Panics
///
/// If `row` is not whole blocks or `xq` does not hold the matching activation count.
#[inline]
pub fn dot_row_act(w: DType, row: &[u8], xq: &[u8]) -> f32 {
    check_dot(w, row.len(), xq.len());
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA;
        // lengths were checked above.
        #[allow(unsafe_code)]
        if let Some(v) = unsafe { crate::x86::dot_row_act_unchecked(w, row, xq) } {
            return v;
        }
    }
    dot_scalar_unchecked(w, row, xq)
}

/// Portable twin of [`dot_row_act`]: the same bits for the types in
/// [`ACT_BIT_EXACT_DTYPES`], equal up to f32 summation order for the others.
///
/// # Panics
///
/// As [`dot_row_act`].
pub fn dot_row_act_scalar(w: DType, row: &[u8], xq: &[u8]) -> f32 {
    check_dot(w, row.len(), xq.len());
    dot_scalar_unchecked(w, row, xq)
}

/// Scalar dispatch by weight type, after the lengths were checked.
fn dot_scalar_unchecked(w: DType, row: &[u8], xq: &[u8]) -> f32 {
    match w {
        DType::F32 => dot32::dot_f32(row, xq),
        DType::F16 => dot32::dot_f16(row, xq),
        DType::BF16 => dot32::dot_bf16(row, xq),
        DType::Q4_0 => lanes_legacy::dot_q4_0(row, xq),
        DType::Q4_1 => lanes_legacy::dot_q4_1(row, xq),
        DType::Q5_0 => lanes::dot_q5_0(row, xq),
        DType::Q5_1 => lanes_legacy::dot_q5_1(row, xq),
        DType::Q8_0 => lanes::dot_q8_0(row, xq),
        DType::IQ4_NL => lanes_legacy::dot_iq4_nl(row, xq),
        DType::Q2_K => lanes_k::dot_q2_k(row, xq),
        DType::Q3_K => lanes_k::dot_q3_k(row, xq),
        DType::Q4_K => lanes::dot_q4_k(row, xq),
        DType::Q5_K => lanes_k::dot_q5_k(row, xq),
        DType::Q6_K => lanes::dot_q6_k(row, xq),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_weight_blocks() {
        for w in DType::ALL {
            let a = act_type(w);
            assert_eq!(a.block_len(), w.block_len(), "{w} -> {a}");
            assert_eq!(act_bytes(w, 2 * w.block_len()), 2 * a.block_bytes());
        }
        assert_eq!(act_bytes(DType::Q4_K, 512), 584);
        assert_eq!(act_bytes(DType::Q5_0, 640), 680);
        assert_eq!(act_bytes(DType::Q4_1, 64), 72);
        assert_eq!(act_bytes(DType::BF16, 3), 6);
    }

    #[test]
    #[should_panic(expected = "act_bytes")]
    fn act_bytes_rejects_partial_blocks() {
        act_bytes(DType::Q6_K, 640);
    }
}
