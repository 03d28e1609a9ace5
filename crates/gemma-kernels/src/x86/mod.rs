//! AVX2+FMA kernels for x86-64, behind safe wrappers that check the CPU.
//!
//! The intrinsics live in `target_feature` functions in the submodules; the only
//! `unsafe` is the pointer loads there and the calls from here, each made after
//! confirming AVX2 and FMA are present.
#![allow(unsafe_code)]

mod f32s;
mod quant;

use crate::quant::check_len;
use crate::DType;

/// The weight types with an AVX2 row-dot kernel (the rest use the scalar one).
pub const AVX2_DTYPES: [DType; 5] = [
    DType::F32,
    DType::Q8_0,
    DType::Q5_0,
    DType::Q4_K,
    DType::Q6_K,
];

/// Whether this CPU has AVX2 and FMA, so the functions here may run.
pub fn available() -> bool {
    crate::level::avx2_fma_detected()
}

#[track_caller]
fn require() {
    assert!(
        available(),
        "gemma-kernels: AVX2/FMA kernel called on a CPU without AVX2 and FMA"
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
