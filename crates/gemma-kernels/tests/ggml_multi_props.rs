//! The several-query attention kernels of `gemma_kernels::ggml_multi` give, query by query, the
//! bits of their references: `dot_f16_multi` those of the one-query `dot_f16_ggml`, and
//! `vp_multi` those of ggml's `V·p` written out plainly (64 lanes of fused multiply-adds chosen
//! by absolute cell index, then `reduce_accs`), with the active level and the scalar twins.

use gemma_kernels::ggml::{dot_f16_ggml, dot_f16_ggml_scalar, reduce_accs, ACCS, LANES, STEP};
use gemma_kernels::ggml_multi::{dot_f16_multi, dot_f16_multi_scalar, vp_multi, vp_multi_scalar};
use proptest::prelude::*;

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn signed(&mut self) -> f32 {
        2.0 * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32) - 1.0
    }
    /// `n` finite f16-representable values of a random magnitude (0.01, 1 or 30).
    fn f16s(&mut self, n: usize) -> Vec<f32> {
        let scale = [0.01, 1.0, 30.0][(self.next_u64() % 3) as usize];
        (0..n)
            .map(|_| half::f16::from_f32(self.signed() * scale).to_f32())
            .collect()
    }
    /// `n` f16-rounded weights, about a third exactly zero (either sign of zero).
    fn weights(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| match self.next_u64() % 6 {
                0 => 0.0,
                1 => -0.0,
                _ => half::f16::from_f32(self.signed()).to_f32(),
            })
            .collect()
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// ggml's `V·p` for one query, written out: lane `(lo + c) % 64` accumulates cell `c` by fused
/// multiply-adds in cell order (from +0.0), then each element is reduced by `reduce_accs`.
/// With `skip_zeros`, cells of zero weight are left out entirely.
fn vp_reference(
    vals: &[f32],
    stride: usize,
    off: usize,
    lo: usize,
    p: &[f32],
    hd: usize,
    skip_zeros: bool,
) -> Vec<f32> {
    let mut acc = vec![vec![0f32; hd]; STEP];
    for (c, &w) in p.iter().enumerate() {
        if skip_zeros && w == 0.0 {
            continue;
        }
        let lane = &mut acc[(lo + c) % STEP];
        for (d, a) in lane.iter_mut().enumerate() {
            *a = vals[c * stride + off + d].mul_add(w, *a);
        }
    }
    (0..hd)
        .map(|d| {
            let mut a = [[0f32; LANES]; ACCS];
            for (k, lanes) in a.iter_mut().enumerate() {
                for (l, v) in lanes.iter_mut().enumerate() {
                    *v = acc[k * LANES + l][d];
                }
            }
            reduce_accs(&mut a) as f32
        })
        .collect()
}

/// A length for the dot tests: any up to 300, or whole steps of 64 (256 among them).
fn dot_len() -> impl Strategy<Value = usize> {
    prop_oneof![0usize..=300, (1usize..=5).prop_map(|k| 64 * k), Just(256)]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(400) })]

    #[test]
    fn dot_f16_multi_equals_one_query_dots(
        nq in 1usize..=11,
        len in dot_len(),
        seed in any::<u64>(),
    ) {
        let mut rng = Rng(seed);
        let k = rng.f16s(len);
        let qs: Vec<Vec<f32>> = (0..nq).map(|_| rng.f16s(len)).collect();
        let qr: Vec<&[f32]> = qs.iter().map(|q| &q[..]).collect();

        let want: Vec<f32> = qr.iter().map(|q| dot_f16_ggml(&k, q)).collect();
        let mut got = vec![f32::NAN; nq];
        dot_f16_multi(&k, &qr, &mut got);
        prop_assert_eq!(bits(&got), bits(&want), "active level, {} queries of {}", nq, len);

        let want_s: Vec<f32> = qr.iter().map(|q| dot_f16_ggml_scalar(&k, q)).collect();
        let mut got_s = vec![f32::NAN; nq];
        dot_f16_multi_scalar(&k, &qr, &mut got_s);
        prop_assert_eq!(bits(&got_s), bits(&want_s), "scalar, {} queries of {}", nq, len);
        // Every level gives the same bits.
        prop_assert_eq!(bits(&got), bits(&got_s));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::with_cases(200) })]

    #[test]
    fn vp_multi_equals_the_lane_reference(
        nq in 1usize..=17,
        hd_i in 0usize..3,
        n in 0usize..=200,
        lo in 0usize..200,
        off_extra in 0usize..40,
        slack in 0usize..24,
        seed in any::<u64>(),
    ) {
        let hd = [16, 32, 256][hd_i];
        let mut rng = Rng(seed);
        let off = off_extra;
        let stride = off + hd + slack;
        // At least one row, so the value pointer stays inside `vals` even for no cells.
        let vals = rng.f16s(n.max(1) * stride);
        let ps: Vec<Vec<f32>> = (0..nq).map(|_| rng.weights(n)).collect();
        let pr: Vec<&[f32]> = ps.iter().map(|p| &p[..]).collect();

        let want: Vec<Vec<f32>> =
            pr.iter().map(|p| vp_reference(&vals, stride, off, lo, p, hd, false)).collect();
        for (i, (p, w)) in pr.iter().zip(&want).enumerate() {
            // Zero weights add nothing: leaving their cells out changes no bit.
            let skipped = vp_reference(&vals, stride, off, lo, p, hd, true);
            prop_assert_eq!(bits(&skipped), bits(w), "reference without zeros, query {}", i);
        }

        let mut got = vec![vec![f32::NAN; hd]; nq];
        {
            let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| &mut o[..]).collect();
            vp_multi(&vals, stride, off, lo, &pr, &mut outs);
        }
        let mut got_s = vec![vec![f32::NAN; hd]; nq];
        {
            let mut outs: Vec<&mut [f32]> = got_s.iter_mut().map(|o| &mut o[..]).collect();
            vp_multi_scalar(&vals, stride, off, lo, &pr, &mut outs);
        }
        for i in 0..nq {
            prop_assert_eq!(
                bits(&got[i]), bits(&want[i]),
                "vp_multi query {} of {}, hd {}, n {}, lo {}, off {}, stride {}",
                i, nq, hd, n, lo, off, stride
            );
            prop_assert_eq!(
                bits(&got_s[i]), bits(&want[i]),
                "vp_multi_scalar query {} of {}, hd {}, n {}, lo {}, off {}, stride {}",
                i, nq, hd, n, lo, off, stride
            );
        }
    }
}

/// A query whose weights are zero outside a span gives the bits of the same query run over just
/// that span (so the queries of one group may cover different cells).
#[test]
fn zero_weights_outside_a_span_equal_the_span_alone() {
    let mut rng = Rng(0x5eed);
    for case in 0..60 {
        let hd = [16, 32, 256][case % 3];
        let nq = 1 + case % 17;
        let (n, lo) = (150, 37 + case);
        let (off, stride) = (hd, 2 * hd);
        let vals = rng.f16s(n * stride);
        let ps: Vec<Vec<f32>> = (0..nq).map(|_| rng.weights(n)).collect();
        let (a, b) = (case % 50, 60 + case % 90);
        let masked: Vec<Vec<f32>> = ps
            .iter()
            .map(|p| {
                let mut m = vec![0f32; n];
                m[a..b].copy_from_slice(&p[a..b]);
                m
            })
            .collect();
        let span: Vec<&[f32]> = ps.iter().map(|p| &p[a..b]).collect();
        let full: Vec<&[f32]> = masked.iter().map(|p| &p[..]).collect();
        let mut got = vec![vec![f32::NAN; hd]; nq];
        let mut want = vec![vec![f32::NAN; hd]; nq];
        {
            let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| &mut o[..]).collect();
            vp_multi(&vals, stride, off, lo, &full, &mut outs);
            let mut outs: Vec<&mut [f32]> = want.iter_mut().map(|o| &mut o[..]).collect();
            vp_multi(&vals[a * stride..], stride, off, lo + a, &span, &mut outs);
        }
        for i in 0..nq {
            assert_eq!(bits(&got[i]), bits(&want[i]), "case {case} query {i}");
        }
    }
}
