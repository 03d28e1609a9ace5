//! Property tests of the activation-quantized kernels: every AVX2 kernel against its scalar
//! twin (quantized bytes identical, dots of the bit-exact types identical), and every scalar
//! dot against dequantize-both-then-dot, for every weight type on random blocks.

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, act_type, dot_f32_scalar, dot_row_act, dot_row_act_scalar, quantize_act,
    quantize_act_scalar, DType, ACT_BIT_EXACT_DTYPES,
};
use proptest::prelude::*;

/// For Q4_1/Q5_1 weights: the min term uses the activation block's stored `s`
/// (`f16(d * sum q)`), not the sum of its dequantized values. Returns the correction to
/// add to dequantize-then-dot and its absolute size (zero for other types).
fn q8_1_sum_correction(w: DType, row: &[u8], xq: &[u8], av: &[f32]) -> (f64, f64) {
    if !matches!(w, DType::Q4_1 | DType::Q5_1) {
        return (0.0, 0.0);
    }
    let f16 = |b: &[u8]| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32() as f64;
    let (mut corr, mut size) = (0.0f64, 0.0f64);
    for ((b, y), a) in row
        .chunks_exact(w.block_bytes())
        .zip(xq.chunks_exact(36))
        .zip(av.chunks_exact(32))
    {
        let m = f16(&b[2..]);
        let exact: f64 = a.iter().map(|&v| v as f64).sum();
        corr += m * (f16(&y[2..]) - exact);
        size += (m * f16(&y[2..])).abs();
    }
    (corr, size)
}

/// Equal bits, or both NaN (the payload of a NaN made from infinities is not specified).
fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// Quantizes `x` for `w` with the scalar quantizer.
fn quantized(w: DType, x: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; act_bytes(w, x.len())];
    quantize_act_scalar(w, x, &mut out);
    out
}

proptest! {
    // Failing inputs are printed; no regression files are written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

    #[test]
    fn scalar_dot_equals_dequantize_both_then_dot(
        t in 0..DType::ALL.len(),
        blocks in 0usize..=9,
        float_len in 0usize..=300,
        seed in any::<u64>(),
    ) {
        let w = DType::ALL[t];
        let n = if w.block_len() == 1 { float_len } else { w.block_len() * blocks };
        let mut rng = TestRng::new(seed);
        let row = random_row(w, n, &mut rng);
        let xq = quantized(w, &random_activations(n, &mut rng));
        let wv = dequantized(w, &row, n);
        let av = dequantize_act(act_type(w), &xq);
        let (corr, size) = q8_1_sum_correction(w, &row, &xq, &av);
        let want = (dot_f32_scalar(&wv, &av) as f64 + corr) as f32;
        let scale = abs_dot(&wv, &av) + size;
        let got = dot_row_act_scalar(w, &row, &xq);
        prop_assert!(act_dot_close(got, want, scale), "{} n={}: {} vs {} (scale {})", w, n, got, want, scale);
        let got = dot_row_act(w, &row, &xq);
        prop_assert!(act_dot_close(got, want, scale), "{} n={} dispatched: {} vs {}", w, n, got, want);
    }

    #[test]
    fn dispatched_dot_equals_scalar_bit_for_bit(
        t in 0..ACT_BIT_EXACT_DTYPES.len(),
        blocks in 0usize..=12,
        wild in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let w = ACT_BIT_EXACT_DTYPES[t];
        let n = w.block_len() * blocks;
        let mut rng = TestRng::new(seed);
        let row = bit_exact_row(w, n, wild, &mut rng);
        let xq = quantized(w, &random_activations(n, &mut rng));
        let (got, want) = (dot_row_act(w, &row, &xq), dot_row_act_scalar(w, &row, &xq));
        prop_assert!(same_bits(got, want), "{} n={}: dispatched {:e} vs scalar {:e}", w, n, got, want);
    }

    #[test]
    fn dispatched_quantizer_matches_scalar(
        t in 0..DType::ALL.len(),
        blocks in 0usize..=12,
        seed in any::<u64>(),
    ) {
        let w = DType::ALL[t];
        let n = w.block_len().max(32) * blocks;
        let x = random_activations(n, &mut TestRng::new(seed));
        let want = quantized(w, &x);
        let mut got = vec![0xEEu8; want.len()];
        quantize_act(w, &x, &mut got);
        prop_assert_eq!(got, want, "{} n={}", w, n);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use gemma_kernels::x86::{
        available, dot_row_act_avx2, quantize_act_avx2, ACT_AVX2_DTYPES, ACT_AVX2_QUANT,
    };

    fn skip(what: &str) -> bool {
        if available() {
            return false;
        }
        println!("note: CPU lacks AVX2/FMA, skipping the {what} SIMD comparison");
        true
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

        #[test]
        fn avx2_quantizers_write_the_scalar_bytes(
            t in 0..DType::ALL.len(),
            blocks in 0usize..=12,
            specials in 0usize..4,
            seed in any::<u64>(),
        ) {
            if skip("quantize_act") { return Ok(()); }
            let w = DType::ALL[t];
            let n = w.block_len().max(32) * blocks;
            let mut rng = TestRng::new(seed);
            let mut x = random_activations(n, &mut rng);
            // A few non-finite or subnormal values: the bytes must still agree.
            for _ in 0..specials.min(n) {
                let i = (rng.next_u64() as usize) % n;
                x[i] = [f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 1e-40][(rng.next_u64() % 4) as usize];
            }
            let want = quantized(w, &x);
            let mut got = vec![0x77u8; want.len()];
            let has = quantize_act_avx2(w, &x, &mut got);
            prop_assert_eq!(has, ACT_AVX2_QUANT.contains(&act_type(w)), "{}", w);
            if has {
                prop_assert_eq!(got, want, "{} n={}", w, n);
            }
        }

        #[test]
        fn avx2_dots_equal_scalar_bit_for_bit(
            t in 0..ACT_AVX2_DTYPES.len(),
            blocks in 0usize..=12,
            wild in any::<bool>(),
            seed in any::<u64>(),
        ) {
            if skip("dot_row_act") { return Ok(()); }
            let w = ACT_AVX2_DTYPES[t];
            let n = w.block_len() * blocks;
            let mut rng = TestRng::new(seed);
            let row = bit_exact_row(w, n, wild, &mut rng);
            let xq = quantized(w, &random_activations(n, &mut rng));
            let want = dot_row_act_scalar(w, &row, &xq);
            let got = dot_row_act_avx2(w, &row, &xq).expect("listed type has a kernel");
            // The scalar twins use the AVX2 lane structure: same bits, not just close.
            prop_assert!(same_bits(got, want), "{} n={}: avx2 {:e} vs scalar {:e}", w, n, got, want);
        }
    }

    #[test]
    fn avx2_kernels_are_the_bit_exact_types() {
        assert_eq!(ACT_AVX2_DTYPES, ACT_BIT_EXACT_DTYPES);
    }

    #[test]
    fn types_without_avx2_act_kernel_say_so() {
        if skip("dot_row_act (unlisted types)") {
            return;
        }
        for w in DType::ALL {
            let row = vec![0u8; w.block_bytes()];
            let xq = vec![0u8; act_bytes(w, w.block_len())];
            let got = dot_row_act_avx2(w, &row, &xq);
            assert_eq!(got.is_some(), ACT_AVX2_DTYPES.contains(&w), "{w}");
        }
    }
}

#[test]
fn empty_rows_dot_to_zero() {
    for w in DType::ALL {
        assert_eq!(dot_row_act_scalar(w, &[], &[]), 0.0, "{w}");
        assert_eq!(dot_row_act(w, &[], &[]), 0.0, "{w}");
        quantize_act(w, &[], &mut []);
    }
}

#[test]
#[should_panic(expected = "quantize_act")]
fn quantize_rejects_partial_blocks() {
    quantize_act(DType::Q8_0, &[0.0; 31], &mut [0u8; 34]);
}

#[test]
#[should_panic(expected = "dot_row_act")]
fn dot_rejects_mismatched_activations() {
    dot_row_act(DType::Q4_K, &[0u8; 144], &[0u8; 291]);
}
