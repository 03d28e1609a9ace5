//! Property tests of the activation dots of Q4_0 × Q8_0, Q4_1 × Q8_1, Q5_1 × Q8_1 and
//! IQ4_NL × Q8_0: the AVX2 kernels equal the portable lane twins bit for bit, the twins follow
//! ggml's AVX2 order (checked against an independent model of it written here), and both
//! are close to the f64 dot of the dequantized weights and activations.

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, act_type, dot_row_act, dot_row_act_scalar, quantize_act_scalar, ActType, DType,
    ACT_BIT_EXACT_DTYPES,
};
use proptest::prelude::*;

/// The types under test.
const TYPES: [DType; 4] = [DType::Q4_0, DType::Q4_1, DType::Q5_1, DType::IQ4_NL];

/// The IQ4_NL code book (ggml's `kvalues_iq4nl`).
const IQ4_NL: [i32; 16] = [
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
];

fn f16(b: &[u8]) -> f32 {
    half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()
}

/// Any finite half, subnormals and both signs included.
fn wild_half(rng: &mut TestRng) -> [u8; 2] {
    loop {
        let h = rng.next_u64() as u16;
        if h & 0x7C00 != 0x7C00 {
            return h.to_le_bytes();
        }
    }
}

/// A random row of `w`; with `wild`, every f16 field is any finite half.
fn row_of(w: DType, n: usize, wild: bool, rng: &mut TestRng) -> Vec<u8> {
    let mut row = random_row(w, n, rng);
    if wild {
        for block in row.chunks_exact_mut(w.block_bytes()) {
            for &off in f16_fields(w) {
                block[off..off + 2].copy_from_slice(&wild_half(rng));
            }
        }
    }
    row
}

/// An activation row for `w`: quantized from random values, or (`raw`) random blocks with
/// quants in -127..=127 (as the quantizers write) and any finite halves for `d` and `s`.
fn acts_of(w: DType, n: usize, raw: bool, rng: &mut TestRng) -> Vec<u8> {
    let mut xq = vec![0u8; act_bytes(w, n)];
    if !raw {
        quantize_act_scalar(w, &random_activations(n, rng), &mut xq);
        return xq;
    }
    let (bb, off) = block_shape(w);
    for y in xq.chunks_exact_mut(bb) {
        for h in (0..off).step_by(2) {
            y[h..h + 2].copy_from_slice(&wild_half(rng));
        }
        for q in &mut y[off..] {
            *q = ((rng.next_u64() % 255) as i32 - 127) as i8 as u8;
        }
    }
    xq
}

/// Activation block bytes and the offset of its quants.
fn block_shape(w: DType) -> (usize, usize) {
    match act_type(w) {
        ActType::Q8_1 => (36, 4),
        _ => (34, 2),
    }
}

/// The 32 integer weights of one block, in value order (low nibbles, then high nibbles).
fn block_quants(w: DType, b: &[u8]) -> [i32; 32] {
    let mut q = [0i32; 32];
    let nib = |j: usize, qs: &[u8]| {
        let v = qs[j % 16] as i32;
        if j < 16 {
            v & 15
        } else {
            v >> 4
        }
    };
    for (j, o) in q.iter_mut().enumerate() {
        *o = match w {
            DType::Q4_0 => nib(j, &b[2..]) - 8,
            DType::IQ4_NL => IQ4_NL[nib(j, &b[2..]) as usize],
            DType::Q4_1 => nib(j, &b[4..]),
            DType::Q5_1 => {
                let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
                nib(j, &b[8..]) | (((qh >> j) & 1) << 4) as i32
            }
            _ => unreachable!("{w}"),
        };
    }
    q
}

/// ggml's AVX2 arithmetic, modelled independently of the crate: per block, lane `k` is the
/// exact sum of products `4k..4k + 4`, accumulated as `fma(dw * da, lane, acc)`; IQ4_NL
/// splits whole pairs of blocks over two accumulators and adds an odd last block as
/// `fma(d, sum, total)`; Q4_1/Q5_1 chain `fma(m, s, summs)` and add it last; the reduction is
/// `hsum_float_8` (upper half onto lower, then pairs, then the last two).
fn ggml_avx2_model(w: DType, row: &[u8], xq: &[u8]) -> f32 {
    let (ab, off) = block_shape(w);
    let nb = row.len() / w.block_bytes();
    let paired = if w == DType::IQ4_NL { nb & !1 } else { nb };
    let mut acc = [[0f32; 8]; 2];
    let mut summs = 0f32;
    let mut tail = None;
    for (i, (b, y)) in row
        .chunks_exact(w.block_bytes())
        .zip(xq.chunks_exact(ab))
        .enumerate()
    {
        let q = block_quants(w, b);
        let prods: Vec<i32> = (0..32).map(|j| q[j] * y[off + j] as i8 as i32).collect();
        let d = f16(b) * f16(y);
        if ab == 36 {
            summs = f16(&b[2..]).mul_add(f16(&y[2..]), summs);
        }
        if i >= paired {
            tail = Some((d, prods.iter().sum::<i32>()));
            continue;
        }
        let a = &mut acc[if w == DType::IQ4_NL { i % 2 } else { 0 }];
        for (k, l) in a.iter_mut().enumerate() {
            let lane: i32 = prods[4 * k..4 * k + 4].iter().sum();
            *l = d.mul_add(lane as f32, *l);
        }
    }
    let v = if w == DType::IQ4_NL {
        std::array::from_fn::<f32, 8, _>(|k| acc[0][k] + acc[1][k])
    } else {
        acc[0]
    };
    let h = [v[4] + v[0], v[5] + v[1], v[6] + v[2], v[7] + v[3]];
    let mut sum = (h[0] + h[2]) + (h[1] + h[3]);
    if let Some((d, s)) = tail {
        sum = d.mul_add(s as f32, sum);
    }
    if ab == 36 {
        sum + summs
    } else {
        sum
    }
}

/// The f64 dot of the dequantized weights and activations (Q8_1: with the min term taken
/// from the stored `s`, as ggml does), and the absolute size of its terms.
fn f64_dot(w: DType, row: &[u8], xq: &[u8], n: usize) -> (f64, f64) {
    let wv = dequantized(w, row, n);
    let av = dequantize_act(act_type(w), xq);
    let mut dot: f64 = wv.iter().zip(&av).map(|(&p, &q)| p as f64 * q as f64).sum();
    let mut size = abs_dot(&wv, &av);
    if act_type(w) == ActType::Q8_1 {
        for ((b, y), a) in row
            .chunks_exact(w.block_bytes())
            .zip(xq.chunks_exact(36))
            .zip(av.chunks_exact(32))
        {
            let (m, s) = (f16(&b[2..]) as f64, f16(&y[2..]) as f64);
            let sum_a: f64 = a.iter().map(|&v| v as f64).sum();
            dot += m * (s - sum_a);
            size += (m * s).abs() + (m * sum_a).abs();
        }
    }
    (dot, size)
}

/// Equal bits, or both NaN.
fn same_bits(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

/// One random case: type, weights, row and activation bytes.
fn case(
    t: usize,
    blocks: usize,
    wild: bool,
    raw: bool,
    seed: u64,
) -> (DType, usize, Vec<u8>, Vec<u8>) {
    let w = TYPES[t];
    let n = 32 * blocks;
    let mut rng = TestRng::new(seed);
    let row = row_of(w, n, wild, &mut rng);
    let xq = acts_of(w, n, raw, &mut rng);
    (w, n, row, xq)
}

proptest! {
    // Failing inputs are printed; no regression files are written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(600) })]

    #[test]
    fn lane_twin_follows_ggml_avx2_order(
        t in 0..TYPES.len(),
        blocks in 1usize..=40,
        wild in any::<bool>(),
        raw in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (w, n, row, xq) = case(t, blocks, wild, raw, seed);
        let want = ggml_avx2_model(w, &row, &xq);
        for (what, got) in [("scalar", dot_row_act_scalar(w, &row, &xq)), ("dispatched", dot_row_act(w, &row, &xq))] {
            prop_assert!(same_bits(got, want), "{} n={} {}: {:e} vs ggml's order {:e}", w, n, what, got, want);
        }
    }

    #[test]
    fn dots_are_close_to_f64(
        t in 0..TYPES.len(),
        blocks in 1usize..=40,
        wild in any::<bool>(),
        raw in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let (w, n, row, xq) = case(t, blocks, wild, raw, seed);
        let (want, size) = f64_dot(w, &row, &xq, n);
        let mut got = vec![("scalar", dot_row_act_scalar(w, &row, &xq))];
        #[cfg(target_arch = "x86_64")]
        if gemma_kernels::x86::available() {
            got.push(("avx2", gemma_kernels::x86::dot_row_act_avx2(w, &row, &xq).expect("kernel")));
        }
        for (what, v) in got {
            prop_assert!(
                v.is_finite() && (v as f64 - want).abs() <= ACT_DOT_REL_TOL * size + DOT_ABS_TOL,
                "{} n={} {}: {:e} vs f64 {:e} (size {:e})", w, n, what, v, want, size
            );
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use gemma_kernels::x86::{available, dot_row_act_avx2, ACT_AVX2_DTYPES};

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(600) })]

        #[test]
        fn avx2_equals_lane_twin_bit_for_bit(
            t in 0..TYPES.len(),
            blocks in 1usize..=40,
            wild in any::<bool>(),
            raw in any::<bool>(),
            seed in any::<u64>(),
        ) {
            if !available() {
                println!("note: CPU lacks AVX2/FMA/F16C, skipping the AVX2 comparison");
                return Ok(());
            }
            let (w, n, row, xq) = case(t, blocks, wild, raw, seed);
            let want = dot_row_act_scalar(w, &row, &xq);
            let got = dot_row_act_avx2(w, &row, &xq).expect("listed type has a kernel");
            prop_assert!(same_bits(got, want), "{} n={}: avx2 {:e} vs twin {:e}", w, n, got, want);
        }
    }

    #[test]
    fn the_types_have_avx2_kernels() {
        for w in TYPES {
            assert!(ACT_AVX2_DTYPES.contains(&w), "{w}");
        }
    }
}

#[test]
fn the_types_are_bit_exact() {
    for w in TYPES {
        assert!(ACT_BIT_EXACT_DTYPES.contains(&w), "{w}");
    }
}
