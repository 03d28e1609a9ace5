//! AVX2+FMA kernels for x86-64, behind safe wrappers that check the CPU.
//!
//! The intrinsics live in `target_feature` functions in the submodules; the only
//! `unsafe` is the pointer loads there and the calls from here, each made after
//! confirming AVX2 and FMA (and F16C, which the activation kernels also use) are present,
//! or, for the AVX-512 kernels, the features their level or [`FloatDotBuild`] detected.
#![allow(unsafe_code)]

pub(crate) mod act_dot;
mod act_dot_k;
mod act_dot_legacy;
mod act_quant;
pub(crate) mod attn512;
mod f32s;
mod float_dot;
mod load;
mod quant;
pub(crate) mod tile512;

use crate::quant::check_len;
use crate::{act_bytes, act_type, ActType, DType};

pub use float_dot::FloatDotBuild;

/// The weight types with an AVX2 row-dot kernel (the rest use the scalar one).
pub const AVX2_DTYPES: [DType; 5] = [
    DType::F32,
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
];

/// The quantized weight types with an AVX2 activation-quantized row dot (any other quantized
/// type uses the scalar one; the float types have [`dot_row_float`]): every one has a
/// lane-exact portable twin, so this is [`crate::ACT_BIT_EXACT_DTYPES`].
pub const ACT_AVX2_DTYPES: [DType; 11] = crate::ACT_BIT_EXACT_DTYPES;

/// The weight types whose activation row dots reproduce ggml's x86 float dots
/// (`ggml_vec_dot_f32`, `_f16`, `_bf16`) in each [`FloatDotBuild`] ([`dot_row_float`]).
pub const FLOAT_DOT_DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

/// The activation formats with an AVX2 quantizer (the rest use the scalar one).
pub const ACT_AVX2_QUANT: [ActType; 3] = [ActType::Q8_0, ActType::Q8_1, ActType::Q8_K];

/// Whether this CPU has AVX2, FMA and F16C, so the functions here may run.
pub fn available() -> bool {
    crate::level::avx2_fma_detected()
}

#[track_caller]
fn require() {
    assert!(
        available(),
        "gemma-kernels: AVX2/FMA kernel called on a CPU without AVX2, FMA and F16C"
    );
}

/// AVX2 dot product of two equal-length slices.
///
/// # Panics
///
/// If the lengths differ or the CPU lacks AVX2/FMA (see [`available`]).
pub fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    require();
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    // SAFETY: `require` confirmed AVX2 and FMA are present.
    unsafe { f32s::dot(a, b) }
}

/// AVX2 `y += a * x` over equal-length slices.
///
/// # Panics
///
/// If the lengths differ or the CPU lacks AVX2/FMA (see [`available`]).
pub fn axpy_f32_avx2(a: f32, x: &[f32], y: &mut [f32]) {
    require();
    assert_eq!(x.len(), y.len(), "axpy_f32: length mismatch");
    // SAFETY: `require` confirmed AVX2 and FMA are present.
    unsafe { f32s::axpy(a, x, y) }
}

/// AVX2 dot product of one stored row with `x`, or `None` when `dtype` has no AVX2
/// kernel (it is not in [`AVX2_DTYPES`]).
///
/// # Panics
///
/// If `row.len() != dtype.bytes_for(x.len())` or the CPU lacks AVX2/FMA.
pub fn dot_row_avx2(dtype: DType, row: &[u8], x: &[f32]) -> Option<f32> {
    require();
    check_len(dtype, row.len(), x.len(), "dot_row");
    // SAFETY: `require` confirmed AVX2 and FMA are present.
    unsafe { dot_row_unchecked(dtype, row, x) }
}

/// Row dot for the dispatcher, after it checked the lengths.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA.
#[inline]
pub(crate) unsafe fn dot_row_unchecked(dtype: DType, row: &[u8], x: &[f32]) -> Option<f32> {
    // SAFETY (all arms): the caller guarantees AVX2 and FMA; lengths were checked, so
    // every kernel sees whole blocks with matching `x` chunks.
    unsafe {
        Some(match dtype {
            DType::F32 => quant::dot_f32_bytes(row, x),
            DType::Q8_0 => quant::dot_q8_0(row, x),
            DType::Q5_0 => quant::dot_q5_0(row, x),
            DType::Q4_K => quant::dot_q4_k(row, x),
            DType::Q6_K => quant::dot_q6_k(row, x),
            _ => return None,
        })
    }
}

/// Dot for the dispatcher.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `a.len() == b.len()`.
#[inline]
pub(crate) unsafe fn dot_f32_unchecked(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: forwarded from the caller.
    unsafe { f32s::dot(a, b) }
}

/// Axpy for the dispatcher.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `x.len() == y.len()`.
#[inline]
pub(crate) unsafe fn axpy_f32_unchecked(a: f32, x: &[f32], y: &mut [f32]) {
    // SAFETY: forwarded from the caller.
    unsafe { f32s::axpy(a, x, y) }
}

/// AVX2 quantization of one activation row for weights of type `w` into `out`; returns
/// false, writing nothing, when the activation format has no AVX2 quantizer (it is not in
/// [`ACT_AVX2_QUANT`]).
///
/// # Panics
///
/// If `x.len()` is not whole blocks, `out.len() != act_bytes(w, x.len())`, or the CPU
/// lacks AVX2/FMA.
pub fn quantize_act_avx2(w: DType, x: &[f32], out: &mut [u8]) -> bool {
    require();
    assert_eq!(
        out.len(),
        act_bytes(w, x.len()),
        "quantize_act: output length for {} {w} activations",
        x.len()
    );
    // SAFETY: `require` confirmed AVX2 and FMA are present; lengths were checked.
    unsafe { quantize_act_unchecked(act_type(w), x, out) }
}

/// AVX2 activation-quantized dot of one weight row with a quantized activation row, or
/// `None` when `w` has no AVX2 kernel (it is not in [`ACT_AVX2_DTYPES`]; the float types
/// are not: see [`dot_row_float`]).
///
/// # Panics
///
/// If the lengths do not match (see [`crate::dot_row_act`]) or the CPU lacks AVX2/FMA.
pub fn dot_row_act_avx2(w: DType, row: &[u8], xq: &[u8]) -> Option<f32> {
    require();
    let n = row.len() / w.block_bytes() * w.block_len();
    check_len(w, row.len(), n, "dot_row_act");
    assert_eq!(
        xq.len(),
        act_bytes(w, n),
        "dot_row_act: activation bytes for {n} {w} weights"
    );
    // SAFETY: `require` confirmed AVX2 and FMA are present; lengths were checked.
    unsafe { dot_row_quant_unchecked(w, row, xq) }
}

/// ggml's float row dot as `build` computes it, of one F32, F16 or BF16 weight row with an
/// activation row of the same format (from [`crate::quantize_act`]), or `None` when `w` is
/// not one of [`FLOAT_DOT_DTYPES`]. [`crate::dot_row_act`] uses the build of the active level
/// ([`FloatDotBuild::for_level`]).
///
/// # Panics
///
/// If the lengths do not match (see [`crate::dot_row_act`]) or the CPU cannot run `build`
/// (see [`FloatDotBuild::is_supported`]).
pub fn dot_row_float(build: FloatDotBuild, w: DType, row: &[u8], xq: &[u8]) -> Option<f32> {
    assert!(
        build.is_supported(),
        "dot_row_float: the {} build needs CPU features this CPU lacks",
        build.name()
    );
    let n = row.len() / w.block_bytes() * w.block_len();
    check_len(w, row.len(), n, "dot_row_float");
    assert_eq!(
        xq.len(),
        act_bytes(w, n),
        "dot_row_float: activation bytes for {n} {w} weights"
    );
    // SAFETY: `build`'s features were detected just above; lengths were checked.
    unsafe { dot_row_float_unchecked(build, w, row, xq) }
}

/// Activation quantizer for the dispatcher; false when `act` has no AVX2 version.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `x` must be whole blocks of `act` and `out` exactly
/// their bytes.
#[inline]
pub(crate) unsafe fn quantize_act_unchecked(act: ActType, x: &[f32], out: &mut [u8]) -> bool {
    // SAFETY (all arms): forwarded from the caller.
    unsafe {
        match act {
            ActType::Q8_0 => act_quant::q8_0(x, out),
            ActType::Q8_1 => act_quant::q8_1(x, out),
            ActType::Q8_K => act_quant::q8_k(x, out),
            ActType::F32 | ActType::F16 | ActType::BF16 => return false,
        }
    }
    true
}

/// Activation row dot for the dispatcher: the float types with the build of the active level
/// (the AVX2 one below the AVX2 level), the quantized ones with their AVX2 kernels; `None`
/// when `w` has no kernel.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `row` must be whole blocks and `xq` the matching
/// activation bytes.
#[inline]
pub(crate) unsafe fn dot_row_act_unchecked(w: DType, row: &[u8], xq: &[u8]) -> Option<f32> {
    match w {
        // SAFETY: the build of the active level only exists once its features were detected,
        // and the AVX2 one is covered by the caller; lengths are the caller's.
        DType::F32 | DType::F16 | DType::BF16 => unsafe {
            dot_row_float_unchecked(FloatDotBuild::active_or_avx2(), w, row, xq)
        },
        // SAFETY: forwarded from the caller.
        _ => unsafe { dot_row_quant_unchecked(w, row, xq) },
    }
}

/// ggml's float row dot as `build` computes it; `None` when `w` is not a float type.
///
/// # Safety
///
/// The CPU must have `build`'s features (see [`FloatDotBuild::is_supported`]); `xq` must hold
/// as many values as `row`, in the same format.
#[inline]
pub(crate) unsafe fn dot_row_float_unchecked(
    build: FloatDotBuild,
    w: DType,
    row: &[u8],
    xq: &[u8],
) -> Option<f32> {
    use FloatDotBuild::*;
    // SAFETY (all arms): each kernel needs exactly its build's features, which the caller
    // guarantees; the lengths are forwarded from the caller.
    unsafe {
        Some(match (w, build) {
            (DType::F32, Avx2) => float_dot::f32_avx2(row, xq),
            (DType::F32, Avx512 | Avx512Bf16) => float_dot::f32_avx512(row, xq),
            (DType::F16, Avx2) => float_dot::f16_avx2(row, xq),
            (DType::F16, Avx512 | Avx512Bf16) => float_dot::f16_avx512(row, xq),
            (DType::BF16, Avx2) => float_dot::bf16_avx2(row, xq),
            (DType::BF16, Avx512) => float_dot::bf16_avx512(row, xq),
            (DType::BF16, Avx512Bf16) => float_dot::bf16_dpbf16(row, xq),
            _ => return None,
        })
    }
}

/// Activation-quantized row dot of the quantized types; `None` when `w` has no AVX2 kernel.
///
/// # Safety
///
/// The CPU must support AVX2 and FMA; `row` must be whole blocks and `xq` the matching
/// activation bytes.
#[inline]
unsafe fn dot_row_quant_unchecked(w: DType, row: &[u8], xq: &[u8]) -> Option<f32> {
    // SAFETY (all arms): forwarded from the caller.
    unsafe {
        Some(match w {
            DType::Q8_0 => act_dot::dot_q8_0(row, xq),
            DType::Q5_0 => act_dot::dot_q5_0(row, xq),
            DType::Q4_K => act_dot::dot_q4_k(row, xq),
            DType::Q6_K => act_dot::dot_q6_k(row, xq),
            DType::Q4_0 => act_dot_legacy::dot_q4_0(row, xq),
            DType::Q4_1 => act_dot_legacy::dot_q4_1(row, xq),
            DType::Q5_1 => act_dot_legacy::dot_q5_1(row, xq),
            DType::IQ4_NL => act_dot_legacy::dot_iq4_nl(row, xq),
            DType::Q2_K => act_dot_k::dot_q2_k(row, xq),
            DType::Q3_K => act_dot_k::dot_q3_k(row, xq),
            DType::Q5_K => act_dot_k::dot_q5_k(row, xq),
            _ => return None,
        })
    }
}
