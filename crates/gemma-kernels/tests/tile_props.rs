//! The tiled prompt kernel (`TokenBatch` + `dot_rows_tokens`) gives, for every (row, token),
//! the bits of the one-row, one-token dot at each kernel level this CPU has: `dot_row_act` above
//! the scalar level, `dot_row_act_scalar` at it. Q8_0, Q5_0 repacked as Q8_0, Q4_K and Q6_K
//! rows, with row and token counts that leave partial AVX-512 tiles (4 rows × 8 tokens).

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, dot_row_act, dot_row_act_scalar, dot_rows_tokens, q8_0_repacked_bytes, quantize_act,
    repack_q8_0, DType, KernelLevel, TokenBatch,
};
use proptest::prelude::*;

/// `n` random activation rows of `cols` values, quantized for weights of type `w`, back to back.
fn quantized_tokens(w: DType, cols: usize, n: usize, rng: &mut TestRng) -> Vec<u8> {
    let qb = act_bytes(w, cols);
    let mut xq = vec![0u8; n * qb];
    for qt in xq.chunks_exact_mut(qb) {
        quantize_act(w, &random_activations(cols, rng), qt);
    }
    xq
}

/// A Q5_0 row repacked as Q8_0.
fn repacked_q5_0(row: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; q8_0_repacked_bytes(DType::Q5_0, row.len())];
    repack_q8_0(DType::Q5_0, row, &mut out);
    out
}

/// Checks `dot_rows_tokens` at every supported level against the single dots of `(w, rows)`,
/// and, where given, against the single dots of the original rows `(w0, rows0)` (Q5_0 before
/// its repacking).
fn check_all_levels(
    w: DType,
    rows: &[Vec<u8>],
    original: Option<(DType, &[Vec<u8>])>,
    xq: &[u8],
    cols: usize,
    n: usize,
) -> Result<(), TestCaseError> {
    let qb = act_bytes(w, cols);
    let token = |t: usize| &xq[t * qb..(t + 1) * qb];
    let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
    for level in KernelLevel::supported() {
        let batch = TokenBatch::from_quantized(level, w, xq.to_vec(), n);
        prop_assert_eq!(batch.tokens(), n);
        // Poisoned output: every element must be written.
        let mut out = vec![f32::NAN; rows.len() * n];
        dot_rows_tokens(w, &refs, &batch, &mut out);
        for (k, row) in rows.iter().enumerate() {
            for t in 0..n {
                let want = if level == KernelLevel::Scalar {
                    dot_row_act_scalar(w, row, token(t))
                } else {
                    dot_row_act(w, row, token(t))
                };
                let got = out[t * rows.len() + k];
                prop_assert_eq!(
                    got.to_bits(),
                    want.to_bits(),
                    "{} level {} row {} token {}: {} vs {}",
                    w,
                    level.name(),
                    k,
                    t,
                    got,
                    want
                );
                if let Some((w0, rows0)) = original {
                    let want0 = if level == KernelLevel::Scalar {
                        dot_row_act_scalar(w0, &rows0[k], token(t))
                    } else {
                        dot_row_act(w0, &rows0[k], token(t))
                    };
                    prop_assert_eq!(
                        got.to_bits(),
                        want0.to_bits(),
                        "{} (as {}) level {} row {} token {}",
                        w0,
                        w,
                        level.name(),
                        k,
                        t
                    );
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(256) })]

    #[test]
    fn q8_0_and_repacked_q5_0_tiles_equal_single_dots(
        q5 in any::<bool>(),
        nrows in 1usize..=9,
        tokens in 1usize..=19,
        blocks in 1usize..=24,
        seed in any::<u64>(),
    ) {
        let mut rng = TestRng::new(seed);
        let cols = 32 * blocks;
        if q5 {
            let orig: Vec<Vec<u8>> =
                (0..nrows).map(|_| random_row(DType::Q5_0, cols, &mut rng)).collect();
            let rows: Vec<Vec<u8>> = orig.iter().map(|r| repacked_q5_0(r)).collect();
            let xq = quantized_tokens(DType::Q8_0, cols, tokens, &mut rng);
            check_all_levels(DType::Q8_0, &rows, Some((DType::Q5_0, &orig)), &xq, cols, tokens)?;
        } else {
            let rows: Vec<Vec<u8>> =
                (0..nrows).map(|_| random_row(DType::Q8_0, cols, &mut rng)).collect();
            let xq = quantized_tokens(DType::Q8_0, cols, tokens, &mut rng);
            check_all_levels(DType::Q8_0, &rows, None, &xq, cols, tokens)?;
        }
    }

    #[test]
    fn k_quant_tiles_equal_single_dots(
        k in 0usize..2,
        nrows in 1usize..=9,
        tokens in 1usize..=19,
        blocks in 1usize..=3,
        seed in any::<u64>(),
    ) {
        let w = [DType::Q4_K, DType::Q6_K][k];
        let mut rng = TestRng::new(seed);
        let cols = 256 * blocks;
        let rows: Vec<Vec<u8>> = (0..nrows).map(|_| random_row(w, cols, &mut rng)).collect();
        let xq = quantized_tokens(w, cols, tokens, &mut rng);
        check_all_levels(w, &rows, None, &xq, cols, tokens)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A batch filled in parts (as threads fill it) gives the results of one made whole.
    #[test]
    fn a_batch_filled_in_parts_equals_one_made_whole(
        k in 0usize..3,
        tokens in 1usize..=21,
        cuts in proptest::collection::vec(0usize..=10, 0..4),
        seed in any::<u64>(),
    ) {
        let w = [DType::Q8_0, DType::Q4_K, DType::Q4_1][k];
        let mut rng = TestRng::new(seed);
        let cols = 256;
        let x: Vec<f32> = (0..tokens).flat_map(|_| random_activations(cols, &mut rng)).collect();
        let rows: Vec<Vec<u8>> = (0..5).map(|_| random_row(w, cols, &mut rng)).collect();
        let refs: Vec<&[u8]> = rows.iter().map(|r| &r[..]).collect();
        // Consecutive ranges starting at even tokens, possibly empty.
        let mut bounds: Vec<usize> = cuts.iter().map(|&c| (2 * c).min(tokens)).collect();
        bounds.extend([0, tokens]);
        bounds.sort_unstable();
        let ranges: Vec<std::ops::Range<usize>> =
            bounds.windows(2).map(|b| b[0]..b[1]).collect();
        for level in KernelLevel::supported() {
            let mut whole_q = vec![0u8; tokens * act_bytes(w, cols)];
            for (xt, qt) in x.chunks_exact(cols).zip(whole_q.chunks_exact_mut(act_bytes(w, cols))) {
                quantize_act(w, xt, qt);
            }
            let whole = TokenBatch::from_quantized(level, w, whole_q, tokens);
            let mut parted = TokenBatch::empty(level, w, tokens, cols);
            for (part, r) in parted.parts(&ranges).into_iter().zip(&ranges) {
                part.fill(w, &x[r.start * cols..r.end * cols]);
            }
            for t in 0..tokens {
                prop_assert_eq!(parted.token(t), whole.token(t));
            }
            let (mut a, mut b) = (vec![0f32; 5 * tokens], vec![1f32; 5 * tokens]);
            dot_rows_tokens(w, &refs, &whole, &mut a);
            dot_rows_tokens(w, &refs, &parted, &mut b);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            prop_assert_eq!(bits(&a), bits(&b), "level {} ranges {:?}", level.name(), ranges);
        }
    }
}

#[test]
#[should_panic(expected = "start at even tokens")]
fn parts_may_not_split_a_token_pair() {
    let mut batch = TokenBatch::empty(KernelLevel::Scalar, DType::Q8_0, 4, 32);
    batch.parts(&[0..1, 1..4]);
}

/// A Q8_0 batch of 3 tokens of 256 columns at `level`, and one Q4_K row of 256 columns.
fn q8_0_batch_and_q4_k_row(level: KernelLevel) -> (TokenBatch, Vec<u8>) {
    let mut rng = TestRng::new(7);
    let xq = quantized_tokens(DType::Q8_0, 256, 3, &mut rng);
    let batch = TokenBatch::from_quantized(level, DType::Q8_0, xq, 3);
    (batch, random_row(DType::Q4_K, 256, &mut rng))
}

#[test]
#[should_panic(expected = "dot_rows_tokens: Q4_K rows need")]
fn a_q8_0_batch_is_rejected_for_q4_k_rows() {
    let level = *KernelLevel::supported()
        .last()
        .expect("scalar is supported");
    let (batch, row) = q8_0_batch_and_q4_k_row(level);
    let mut out = vec![0f32; batch.tokens()];
    dot_rows_tokens(DType::Q4_K, &[&row], &batch, &mut out);
}

#[test]
fn a_q8_0_batch_is_rejected_for_q4_k_rows_at_every_level() {
    for level in KernelLevel::supported() {
        let (batch, row) = q8_0_batch_and_q4_k_row(level);
        let mut out = vec![0f32; batch.tokens()];
        let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            dot_rows_tokens(DType::Q4_K, &[&row], &batch, &mut out)
        }));
        assert!(res.is_err(), "level {} accepted the batch", level.name());
    }
}
