//! The batched prompt-processing kernels give the bits of the one-row, one-token kernels:
//! Q5_0 rows repacked as Q8_0, and one Q8_0 row against four tokens, at every kernel level
//! this CPU has (the scalar twins included), on random rows and activations.

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, dequantize_row, dot_q8_0_tokens, dot_q8_0_x4, dot_q8_0_x4_scalar, dot_row_act,
    dot_row_act_scalar, q8_0_repacked_bytes, q8_0_scales, quantize_act, repack_q8_0, DType,
};
use proptest::prelude::*;

fn acts(n: usize, rng: &mut TestRng) -> Vec<u8> {
    let mut out = vec![0u8; act_bytes(DType::Q8_0, n)];
    quantize_act(DType::Q8_0, &random_activations(n, rng), &mut out);
    out
}

fn repacked(w: DType, row: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; q8_0_repacked_bytes(w, row.len())];
    repack_q8_0(w, row, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn q5_0_rows_repacked_as_q8_0_give_the_same_dots(blocks in 1usize..=40, seed in any::<u64>()) {
        let mut rng = TestRng::new(seed);
        let n = 32 * blocks;
        let row = random_row(DType::Q5_0, n, &mut rng);
        let q8 = repacked(DType::Q5_0, &row);
        // The active level's repack has the bytes of the portable one.
        let mut twin = vec![0u8; q8.len()];
        gemma_kernels::repack_q8_0_scalar(DType::Q5_0, &row, &mut twin);
        prop_assert_eq!(&q8, &twin);
        // The same weights...
        let (mut a, mut b) = (vec![0f32; n], vec![0f32; n]);
        dequantize_row(DType::Q5_0, &row, &mut a);
        dequantize_row(DType::Q8_0, &q8, &mut b);
        prop_assert_eq!(&a, &b);
        // ...and the same dots, bit for bit, with the active kernels and the scalar ones.
        let xq = acts(n, &mut rng);
        let want = dot_row_act(DType::Q5_0, &row, &xq);
        prop_assert_eq!(dot_row_act(DType::Q8_0, &q8, &xq).to_bits(), want.to_bits());
        prop_assert_eq!(
            dot_row_act_scalar(DType::Q8_0, &q8, &xq).to_bits(),
            dot_row_act_scalar(DType::Q5_0, &row, &xq).to_bits()
        );
    }

    #[test]
    fn four_tokens_at_once_equal_four_single_dots(
        blocks in 1usize..=40,
        tokens in 1usize..=11,
        seed in any::<u64>(),
    ) {
        let mut rng = TestRng::new(seed);
        let n = 32 * blocks;
        let row = random_row(DType::Q8_0, n, &mut rng);
        let xs: Vec<Vec<u8>> = (0..4).map(|_| acts(n, &mut rng)).collect();
        let x4 = [&xs[0][..], &xs[1][..], &xs[2][..], &xs[3][..]];
        let single: Vec<u32> = x4.iter().map(|x| dot_row_act(DType::Q8_0, &row, x).to_bits()).collect();
        let ds: Vec<Vec<f32>> = xs.iter().map(|x| q8_0_scales(x)).collect();
        let got: Vec<u32> = dot_q8_0_x4(&row, x4, &q8_0_scales(&row), [&ds[0], &ds[1], &ds[2], &ds[3]]).iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(&got, &single);
        let scalar: Vec<u32> = x4.iter().map(|x| dot_row_act_scalar(DType::Q8_0, &row, x).to_bits()).collect();
        let got: Vec<u32> = dot_q8_0_x4_scalar(&row, x4).iter().map(|v| v.to_bits()).collect();
        prop_assert_eq!(&got, &scalar);
        // Any number of tokens laid out back to back, tails included.
        let all: Vec<u8> = (0..tokens).flat_map(|_| acts(n, &mut rng)).collect();
        let qb = act_bytes(DType::Q8_0, n);
        let mut out = vec![0f32; tokens];
        dot_q8_0_tokens(&row, &all, &q8_0_scales(&all), &mut out);
        for (t, o) in out.iter().enumerate() {
            let want = dot_row_act(DType::Q8_0, &row, &all[t * qb..(t + 1) * qb]);
            prop_assert_eq!(o.to_bits(), want.to_bits(), "token {}", t);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(300) })]

    #[test]
    fn four_rows_at_once_equal_four_single_dots(blocks in 1usize..=40, seed in any::<u64>()) {
        let mut rng = TestRng::new(seed);
        let n = 32 * blocks;
        let rows: Vec<Vec<u8>> = (0..4).map(|_| random_row(DType::Q8_0, n, &mut rng)).collect();
        let xq = acts(n, &mut rng);
        let r4 = [&rows[0][..], &rows[1][..], &rows[2][..], &rows[3][..]];
        let got = gemma_kernels::dot_q8_0_rows4(r4, &xq, &q8_0_scales(&xq));
        for (r, g) in r4.iter().zip(got) {
            prop_assert_eq!(g.to_bits(), dot_row_act(DType::Q8_0, r, &xq).to_bits());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

    #[test]
    fn k_quant_rows_against_many_tokens_equal_single_dots(
        k in 0usize..2,
        blocks in 1usize..=4,
        tokens in 1usize..=9,
        seed in any::<u64>(),
    ) {
        let w = [DType::Q4_K, DType::Q6_K][k];
        let mut rng = TestRng::new(seed);
        let n = 256 * blocks;
        let row = random_row(w, n, &mut rng);
        let qb = act_bytes(w, n);
        let mut xq = vec![0u8; tokens * qb];
        for t in 0..tokens {
            quantize_act(w, &random_activations(n, &mut rng), &mut xq[t * qb..(t + 1) * qb]);
        }
        let mut out = vec![0f32; tokens];
        gemma_kernels::dot_tokens(w, &row, &xq, &mut out);
        for (t, o) in out.iter().enumerate() {
            let want = dot_row_act(w, &row, &xq[t * qb..(t + 1) * qb]);
            prop_assert_eq!(o.to_bits(), want.to_bits(), "{} token {}", w, t);
        }
    }
}
