//! Property tests: every fused scalar row dot equals dequantize-then-dot, for every type.

mod common;

use common::*;
use gemma_kernels::{dot_f32_scalar, dot_row_scalar, DType};
use proptest::prelude::*;

/// Weights in a row of `blocks` blocks (float types: `blocks` elements).
fn weights(dtype: DType, blocks: usize) -> usize {
    dtype.block_len() * blocks
}

proptest! {
    // Failing inputs are printed; no regression files are written into the source tree.
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

    #[test]
    fn fused_dot_equals_dequantize_then_dot(
        t in 0..DType::ALL.len(),
        blocks in 0usize..=9,
        float_len in 0usize..=300,
        seed in any::<u64>(),
    ) {
        let dtype = DType::ALL[t];
        let n = if dtype.block_len() == 1 { float_len } else { weights(dtype, blocks) };
        let mut rng = TestRng::new(seed);
        let row = random_row(dtype, n, &mut rng);
        let x = rng.vec_f32(n);
        let w = dequantized(dtype, &row, n);
        prop_assert!(w.iter().all(|v| v.is_finite()));
        let want = dot_f32_scalar(&w, &x);
        let got = dot_row_scalar(dtype, &row, &x);
        let scale = abs_dot(&w, &x);
        prop_assert!(dot_close(got, want, scale), "{} n={}: fused {} vs {} (scale {})", dtype, n, got, want, scale);
    }
}

#[test]
fn empty_rows_dot_to_zero() {
    for t in DType::ALL {
        assert_eq!(dot_row_scalar(t, &[], &[]), 0.0, "{t}");
        assert_eq!(gemma_kernels::dot_row(t, &[], &[]), 0.0, "{t}");
    }
}
