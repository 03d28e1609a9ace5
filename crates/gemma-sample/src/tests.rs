//! Unit tests of the sampling chain.

use super::*;

fn cfg(temperature: f32, top_k: usize, top_p: f32, min_p: f32, seed: u64) -> SamplerConfig {
    SamplerConfig {
        temperature,
        top_k,
        top_p,
        min_p,
        seed,
    }
}

fn draw(c: SamplerConfig, logits: &[f32], n: usize) -> Vec<u32> {
    let mut s = Sampler::new(c).unwrap();
    (0..n).map(|_| s.sample(logits)).collect()
}

#[test]
fn greedy_takes_the_first_maximum() {
    assert_eq!(
        draw(SamplerConfig::greedy(), &[0.1, 3.0, 3.0, -1.0], 3),
        vec![1, 1, 1]
    );
    assert_eq!(argmax(&[]), None);
}

#[test]
fn same_seed_same_draws_and_other_seed_differs() {
    let logits: Vec<f32> = (0..50).map(|i| (i as f32 * 0.37).sin()).collect();
    let a = draw(cfg(1.0, 0, 1.0, 0.0, 42), &logits, 64);
    let b = draw(cfg(1.0, 0, 1.0, 0.0, 42), &logits, 64);
    let c = draw(cfg(1.0, 0, 1.0, 0.0, 43), &logits, 64);
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn top_k_limits_the_support() {
    let logits = [5.0, 4.0, 3.0, 2.0, 1.0];
    let got = draw(cfg(5.0, 2, 1.0, 0.0, 1), &logits, 500);
    assert!(got.iter().all(|&t| t <= 1));
    assert!(got.contains(&0) && got.contains(&1));
}

#[test]
fn top_p_keeps_the_smallest_covering_set() {
    // probs ~ [0.64, 0.24, 0.09, 0.03]: top_p 0.8 keeps the first two.
    let logits = [3.0, 2.0, 1.0, 0.0];
    let got = draw(cfg(1.0, 0, 0.8, 0.0, 3), &logits, 1000);
    assert!(got.iter().all(|&t| t <= 1));
    assert!(got.contains(&1));
}

#[test]
fn min_p_drops_unlikely_tokens() {
    // p1/p0 = e^-1 = 0.37, p2/p0 = e^-3 = 0.05: min_p 0.1 keeps 0 and 1.
    let logits = [3.0, 2.0, 0.0];
    let got = draw(cfg(1.0, 0, 1.0, 0.1, 5), &logits, 1000);
    assert!(got.iter().all(|&t| t <= 1));
}

#[test]
fn temperature_sharpens_and_frequencies_follow_softmax() {
    let logits = [1.0f32, 0.0];
    let n = 20_000;
    let hot = draw(cfg(1.0, 0, 1.0, 0.0, 9), &logits, n);
    let p0 = hot.iter().filter(|&&t| t == 0).count() as f64 / n as f64;
    let want = 1.0 / (1.0 + (-1.0f64).exp());
    assert!((p0 - want).abs() < 0.015, "p0 {p0} want {want}");
    let cold = draw(cfg(0.25, 0, 1.0, 0.0, 9), &logits, n);
    let c0 = cold.iter().filter(|&&t| t == 0).count() as f64 / n as f64;
    let want_cold = 1.0 / (1.0 + (-4.0f64).exp());
    assert!((c0 - want_cold).abs() < 0.015, "c0 {c0} want {want_cold}");
}

#[test]
fn bad_options_are_rejected() {
    assert!(Sampler::new(cfg(-1.0, 0, 1.0, 0.0, 0)).is_err());
    assert!(Sampler::new(cfg(1.0, 0, 0.0, 0.0, 0)).is_err());
    assert!(Sampler::new(cfg(1.0, 0, 1.0, 1.5, 0)).is_err());
    assert!(Sampler::new(cfg(f32::NAN, 0, 1.0, 0.0, 0)).is_err());
}

proptest::proptest! {
    #[test]
    fn sample_is_always_in_range(logits in proptest::collection::vec(-50f32..50.0, 1..64), k in 0usize..10, p in 0.05f32..1.0, m in 0f32..1.0, t in 0f32..3.0, seed: u64) {
        let mut s = Sampler::new(cfg(t, k, p, m, seed)).unwrap();
        let id = s.sample(&logits);
        proptest::prop_assert!((id as usize) < logits.len());
    }
}
