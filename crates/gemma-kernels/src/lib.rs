//! Pure numeric kernels over slices: the tensor type table, dequantization and dot products.
//!
//! Every function here is single-threaded; threads live in the model layer.
//!
//! Each kernel has a portable scalar reference (`*_scalar`, public so tests can compare);
//! [`dot_f32`], [`axpy_f32`] and [`dot_row`] dispatch to AVX2+FMA versions on x86-64 CPUs
//! that have them, and the prompt kernels ([`dot_rows_tokens`], [`ggml_multi`]) to AVX-512
//! ones where the CPU has AVX-512 with VNNI. The level is chosen once per process ([`kernel_level`]) and can be forced
//! with the environment variable `GEMMA_KERNELS=scalar|avx2|avx512|auto`.
//!
//! Besides the f32 products, [`quantize_act`] and [`dot_row_act`] reproduce llama.cpp's
//! CPU numerics: activations quantized to 8 bits (the format [`act_type`] pairs with each
//! weight type) and integer block dot products, with the bits of ggml's x86 AVX2 kernels at
//! every kernel level for the types in [`ACT_BIT_EXACT_DTYPES`]. For F32, F16 and BF16
//! weights it takes ggml's own float dots with SIMD above the scalar level, with the bits of
//! llama.cpp's x86 build for the level: the AVX2 one at `avx2`, the AVX-512 one at `avx512`
//! (for BF16 its AVX512-BF16 variant, `vdpbf16ps`, where the CPU has it; see
//! `x86::FloatDotBuild`); the scalar level sums them in its own order.

mod act;
pub mod dtype;
mod f32ops;
pub mod ggml;
pub mod ggml_multi;
mod level;
pub mod quant;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use act::batch::{
    dot_q8_0_rows4, dot_q8_0_tokens, dot_q8_0_x4, dot_q8_0_x4_scalar, dot_tokens, has_token_kernel,
    q8_0_repacked_bytes, q8_0_scales, repack_q8_0, repack_q8_0_scalar, repacks_to_q8_0,
};
pub use act::tile::{dot_rows_tokens, BatchPart, TokenBatch};
pub use act::{
    act_bytes, act_type, dot_row_act, dot_row_act_scalar, quantize_act, quantize_act_scalar,
    ActType, ACT_BIT_EXACT_DTYPES,
};
pub use dtype::DType;
pub use f32ops::{axpy_f32_scalar, dot_f32_scalar};
pub use level::{active_level, kernel_level, KernelLevel, KERNELS_ENV};
pub use quant::quantize::{
    can_quantize, f32_to_bf16_ggml, f32_to_f16_ggml, quantize_row, QuantizeError,
};
pub use quant::{dequantize_row, dot_row_scalar};

/// Dot product of two equal-length slices, with the active kernel level.
///
/// # Panics
///
/// If `a.len() != b.len()`.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA;
        // lengths were checked above.
        #[allow(unsafe_code)]
        return unsafe { x86::dot_f32_unchecked(a, b) };
    }
    f32ops::dot_acc(a, b)
}

/// `y += a * x` over equal-length slices, with the active kernel level.
///
/// # Panics
///
/// If `x.len() != y.len()`.
#[inline]
pub fn axpy_f32(a: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy_f32: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA;
        // lengths were checked above.
        #[allow(unsafe_code)]
        unsafe {
            x86::axpy_f32_unchecked(a, x, y)
        };
        return;
    }
    axpy_f32_scalar(a, x, y)
}

/// Dot product of one stored row (`row.len() == dtype.bytes_for(x.len())`) with `x`,
/// with the active kernel level.
///
/// # Panics
///
/// If `x.len()` is not a whole number of blocks or `row` has the wrong length
/// (callers validate tensor sizes when a model is loaded).
#[inline]
pub fn dot_row(dtype: DType, row: &[u8], x: &[f32]) -> f32 {
    quant::check_len(dtype, row.len(), x.len(), "dot_row");
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA;
        // lengths were checked above.
        #[allow(unsafe_code)]
        if let Some(v) = unsafe { x86::dot_row_unchecked(dtype, row, x) } {
            return v;
        }
    }
    quant::dot_row_scalar_unchecked(dtype, row, x)
}

/// The form of ggml's float row dots (F32, F16 and BF16 weights) the active level uses:
/// `scalar`, `avx2`, `avx512f` or `avx512bf16` (BF16 with `vdpbf16ps`).
pub fn float_dot_form() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if let Some(b) = x86::FloatDotBuild::for_level(active_level()) {
        return b.name();
    }
    "scalar"
}

/// Asks the CPU to bring `bytes` into its L2 cache ahead of use (one hint per 64-byte line; a
/// no-op off x86-64). Matrix products call it on the next tile of weight rows, which the
/// hardware prefetchers, seeing short rows, do not fetch early enough.
#[inline]
pub fn prefetch_l2(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch is a hint without memory effects, and the address is in `bytes`.
        #[allow(unsafe_code)]
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
