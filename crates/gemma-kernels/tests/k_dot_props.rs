//! Property tests of the Q2_K, Q3_K and Q5_K × Q8_K activation dots: the AVX2 kernels
//! against their lane-exact portable twins (bit for bit), both against an f64 dot of the
//! dequantized weights and activations, and a few results against ggml's own bits.

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, act_type, dot_row_act, dot_row_act_scalar, quantize_act_scalar, DType,
    ACT_BIT_EXACT_DTYPES,
};
use proptest::prelude::*;

/// The types under test.
const K_TYPES: [DType; 3] = [DType::Q2_K, DType::Q3_K, DType::Q5_K];

/// Bytes per Q8_K block.
const Q8K_BYTES: usize = 292;

/// The AVX2 kernel's result, when this CPU can run it.
fn avx2_dot(w: DType, row: &[u8], xq: &[u8]) -> Option<f32> {
    #[cfg(target_arch = "x86_64")]
    if gemma_kernels::x86::available() {
        return Some(gemma_kernels::x86::dot_row_act_avx2(w, row, xq).expect("K kernel"));
    }
    let _ = (w, row, xq);
    None
}

/// Equal bits, or both NaN (which NaN an operation on NaNs or infinities returns depends on
/// operand order, which neither ggml nor we pin down).
fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// `x` quantized for `w` (Q8_K, the bytes ggml writes).
fn quantized(w: DType, x: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; act_bytes(w, x.len())];
    quantize_act_scalar(w, x, &mut out);
    out
}

/// Q8_K blocks of arbitrary bytes: any quant (-128 too), sums unrelated to the quants,
/// a finite `d` from 2^-140 to 2^60 of either sign. The integer parts of the kernels are
/// exact for all of them.
fn raw_q8k(blocks: usize, rng: &mut TestRng) -> Vec<u8> {
    let mut xq: Vec<u8> = (0..blocks * Q8K_BYTES)
        .map(|_| rng.next_u64() as u8)
        .collect();
    for y in xq.chunks_exact_mut(Q8K_BYTES) {
        let e = (rng.next_u64() % 200) as i32 - 140;
        let sign = if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        let d = sign * (1.0 + rng.unit()) * 2f32.powi(e);
        y[..4].copy_from_slice(&d.to_le_bytes());
    }
    xq
}

/// The dot product in f64 of the dequantized weights and activations, and its scale
/// `sum |w_i * a_i|`.
fn f64_dot(w: DType, row: &[u8], xq: &[u8], n: usize) -> (f64, f64) {
    let wv = dequantized(w, row, n);
    let av = dequantize_act(act_type(w), xq);
    let dot = wv.iter().zip(&av).map(|(&p, &q)| p as f64 * q as f64).sum();
    (dot, abs_dot(&wv, &av))
}

/// Seeds, block counts, wild scales and ggml's result bits (`ggml_vec_dot_q2_K_q8_K`,
/// `_q3_K_`, `_q5_K_` of the `libggml-cpu.so` in llama-cpp-python 0.3.36, x86-64 built with
/// `-march=native` on an AVX-512 CPU; these functions have only an AVX2 branch there) for the
/// row `bit_exact_row(w, 256 * blocks, wild, rng)` and activations `random_activations(256 * blocks,
/// rng)` quantized to Q8_K, both from `TestRng::new(seed)` in that order. Computed by a
/// throwaway harness that linked that library.
const GGML_BITS: [(DType, u64, usize, bool, u32); 18] = [
    (DType::Q2_K, 1, 2, false, 0x3f194500),
    (DType::Q2_K, 2, 3, false, 0xc3e1dad6),
    (DType::Q2_K, 3, 4, true, 0x4c22494a),
    (DType::Q2_K, 4, 5, false, 0xc3338530),
    (DType::Q2_K, 5, 6, false, 0x43a8a5dc),
    (DType::Q2_K, 6, 1, true, 0xc9427a7a),
    (DType::Q3_K, 1, 2, false, 0x442ad498),
    (DType::Q3_K, 2, 3, false, 0xc3aa49dc),
    (DType::Q3_K, 3, 4, true, 0xcd9460cf),
    (DType::Q3_K, 4, 5, false, 0x431670bc),
    (DType::Q3_K, 5, 6, false, 0xc438ce88),
    (DType::Q3_K, 6, 1, true, 0x40e4929c),
    (DType::Q5_K, 1, 2, false, 0x44b3c437),
    (DType::Q5_K, 2, 3, false, 0x46211617),
    (DType::Q5_K, 3, 4, true, 0xd04624bd),
    (DType::Q5_K, 4, 5, false, 0x460fcf5f),
    (DType::Q5_K, 5, 6, false, 0x43f7eaf1),
    (DType::Q5_K, 6, 1, true, 0xc76c8db4),
];

proptest! {
    // Failing inputs are printed; no regression files are written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn avx2_equals_twin_and_both_are_close_to_f64(
        t in 0..K_TYPES.len(),
        blocks in 1usize..=6,
        seed in any::<u64>(),
    ) {
        let w = K_TYPES[t];
        let n = 256 * blocks;
        let mut rng = TestRng::new(seed);
        let row = bit_exact_row(w, n, false, &mut rng);
        let xq = quantized(w, &random_activations(n, &mut rng));
        let (want, scale) = f64_dot(w, &row, &xq, n);
        let twin = dot_row_act_scalar(w, &row, &xq);
        prop_assert!(
            act_dot_close(twin, want as f32, scale),
            "{} n={}: twin {:e} vs f64 {:e} (scale {:e})", w, n, twin, want, scale
        );
        let got = dot_row_act(w, &row, &xq);
        prop_assert_eq!(got.to_bits(), twin.to_bits(), "{} n={}: dispatched {:e} vs twin {:e}", w, n, got, twin);
        if let Some(v) = avx2_dot(w, &row, &xq) {
            prop_assert_eq!(v.to_bits(), twin.to_bits(), "{} n={}: avx2 {:e} vs twin {:e}", w, n, v, twin);
        }
    }

    #[test]
    fn avx2_equals_twin_on_any_bytes(
        t in 0..K_TYPES.len(),
        blocks in 1usize..=6,
        wild in any::<bool>(),
        raw in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let w = K_TYPES[t];
        let n = 256 * blocks;
        let mut rng = TestRng::new(seed);
        let row = bit_exact_row(w, n, wild, &mut rng);
        let xq = if raw {
            raw_q8k(blocks, &mut rng)
        } else {
            quantized(w, &random_activations(n, &mut rng))
        };
        let twin = dot_row_act_scalar(w, &row, &xq);
        let got = dot_row_act(w, &row, &xq);
        prop_assert!(same_bits(got, twin), "{} n={}: dispatched {:e} vs twin {:e}", w, n, got, twin);
        if let Some(v) = avx2_dot(w, &row, &xq) {
            prop_assert!(same_bits(v, twin), "{} n={}: avx2 {:e} vs twin {:e}", w, n, v, twin);
        }
    }
}

#[test]
fn k_types_are_bit_exact() {
    for w in K_TYPES {
        assert!(ACT_BIT_EXACT_DTYPES.contains(&w), "{w}");
        #[cfg(target_arch = "x86_64")]
        assert!(gemma_kernels::x86::ACT_AVX2_DTYPES.contains(&w), "{w}");
    }
}

#[test]
fn results_have_ggml_bits() {
    let mut checked = 0;
    for (w, seed, blocks, wild, bits) in GGML_BITS {
        let n = 256 * blocks;
        let mut rng = TestRng::new(seed);
        let row = bit_exact_row(w, n, wild, &mut rng);
        let xq = quantized(w, &random_activations(n, &mut rng));
        let want = f32::from_bits(bits);
        let mut got = vec![
            ("twin", dot_row_act_scalar(w, &row, &xq)),
            ("dispatched", dot_row_act(w, &row, &xq)),
        ];
        if let Some(v) = avx2_dot(w, &row, &xq) {
            got.push(("avx2", v));
        }
        for (what, v) in got {
            assert_eq!(
                v.to_bits(),
                bits,
                "{w} seed {seed}: {what} {v:e} vs ggml {want:e}"
            );
            checked += 1;
        }
    }
    assert!(checked >= GGML_BITS.len() * 2);
    for w in K_TYPES {
        assert!(GGML_BITS.iter().filter(|c| c.0 == w).count() >= 4, "{w}");
    }
}
