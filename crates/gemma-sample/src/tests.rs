//! Unit tests of the sampling chain.

use super::*;

fn cfg(temperature: f32, top_k: usize, top_p: f32, min_p: f32, seed: u64) -> SamplerConfig {
    SamplerConfig {
        temperature,
        top_k,
        top_p,
        min_p,
        seed,
        ..SamplerConfig::default()
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

#[test]
fn penalties_follow_llama_cpp() {
    // Token 1 seen twice, token 2 once, token 3 never; logits 2.0, 3.0, -1.0, 0.5 for 0..4.
    let mut p = History::default();
    for id in [1, 2, 1] {
        p.accept(id, 64);
    }
    let pen = Penalties {
        repeat: 2.0,
        frequency: 0.25,
        presence: 0.5,
        last_n: 64,
    };
    let mut l = vec![2.0, 3.0, -1.0, 0.5];
    p.apply(&pen, &mut l);
    // 1: 3/2 - 2*0.25 - 0.5 = 0.5; 2: -1*2 - 0.25 - 0.5 = -2.75; others unchanged.
    assert_eq!(l, vec![2.0, 0.5, -2.75, 0.5]);
}

#[test]
fn only_the_last_n_tokens_count() {
    let mut p = History::default();
    for id in [5, 6, 7, 5] {
        p.accept(id, 2);
    }
    // The window holds 7, 5: token 6 fell out, 5 counts once.
    let pen = Penalties {
        repeat: 1.0,
        frequency: 1.0,
        presence: 0.0,
        last_n: 2,
    };
    let mut l = vec![0.0; 8];
    p.apply(&pen, &mut l);
    assert_eq!(l, vec![0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, -1.0]);
}

#[test]
fn a_repeat_penalty_moves_greedy_off_a_repeated_token() {
    let c = SamplerConfig {
        penalties: Penalties {
            repeat: 1.5,
            ..Penalties::default()
        },
        ..SamplerConfig::greedy()
    };
    let mut s = Sampler::new(c).unwrap();
    let logits = [1.0, 1.2, 0.1];
    assert_eq!(s.sample(&logits), 1);
    s.accept(1);
    // 1.2 / 1.5 = 0.8 < 1.0.
    assert_eq!(s.sample(&logits), 0);
}

#[test]
fn logit_bias_bans_and_favours() {
    let c = SamplerConfig {
        logit_bias: vec![(1, f32::NEG_INFINITY), (2, 5.0)],
        ..SamplerConfig::greedy()
    };
    assert_eq!(draw(c.clone(), &[1.0, 9.0, 4.5], 1), vec![2]);
    // Sampled, a banned token never comes up.
    let c = SamplerConfig {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        min_p: 0.0,
        seed: 3,
        logit_bias: vec![(1, f32::NEG_INFINITY)],
        ..SamplerConfig::default()
    };
    assert!(draw(c, &[1.0, 9.0, 1.0], 200).iter().all(|&t| t != 1));
}

#[test]
fn bad_penalties_and_biases_are_refused() {
    for c in [
        SamplerConfig {
            penalties: Penalties {
                repeat: 0.0,
                ..Penalties::default()
            },
            ..SamplerConfig::default()
        },
        SamplerConfig {
            penalties: Penalties {
                frequency: f32::NAN,
                ..Penalties::default()
            },
            ..SamplerConfig::default()
        },
        SamplerConfig {
            logit_bias: vec![(0, f32::INFINITY)],
            ..SamplerConfig::default()
        },
    ] {
        assert!(c.validate().is_err(), "{c:?}");
    }
}
