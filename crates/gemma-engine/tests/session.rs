//! Sessions on the real default model: batched prompt evaluation agrees with token-by-token
//! decoding through the KV cache, and generation ends cleanly when the context is full.

use std::ops::ControlFlow;
use std::sync::Arc;

use gemma_engine::{
    GenerateOptions, LoadOptions, LoadedModel, Logits, Precision, SamplerConfig, StopReason,
};

fn model() -> Arc<LoadedModel> {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    LoadedModel::load(&path).expect("load default model")
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Largest difference between logits of a prompt evaluated in one batch, token by token, and in
/// two batches.
fn batch_vs_incremental(precision: Precision) -> f32 {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    let m = LoadedModel::load_with(
        &path,
        &LoadOptions {
            precision: Some(precision),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let ids = m
        .tokenize(
            "Once upon a time, in a village by the sea, there lived an old fisherman who",
            true,
        )
        .unwrap();
    assert!(ids.len() > 16);
    let vocab = m.config().vocab_size;
    let mut batched = m.new_session(Some(128), Some(2)).unwrap();
    let all = batched.eval(&ids, Logits::All).unwrap();
    assert_eq!(all.len(), ids.len() * vocab);
    let mut worst = 0f32;
    let mut step = m.new_session(Some(128), Some(1)).unwrap();
    for (i, &t) in ids.iter().enumerate() {
        let l = step.eval(&[t], Logits::Last).unwrap();
        worst = worst.max(max_abs_diff(&l, &all[i * vocab..(i + 1) * vocab]));
    }
    let mut split = m.new_session(Some(128), Some(2)).unwrap();
    split.eval(&ids[..7], Logits::None).unwrap();
    let last = split.eval(&ids[7..], Logits::Last).unwrap();
    worst.max(max_abs_diff(&last, &all[(ids.len() - 1) * vocab..]))
}

#[test]
fn mixed_precision_is_batch_invariant() {
    // Every product is computed per (row, token) by the same kernel, whatever the batch.
    assert_eq!(batch_vs_incremental(Precision::Mixed), 0.0);
}

#[test]
fn f32_precision_batched_matches_incremental() {
    // The batched f32 path dequantizes tiles and sums in another order than the fused one.
    let d = batch_vs_incremental(Precision::F32);
    assert!(d < 2e-3, "batched and incremental f32 logits differ by {d}");
}

#[test]
fn generation_stops_cleanly_at_a_full_context() {
    let m = model();
    let ids = m.tokenize("Hello there", true).unwrap();
    let mut s = m.new_session(Some(ids.len() + 3), Some(2)).unwrap();
    let opts = GenerateOptions {
        max_tokens: 50,
        sampler: SamplerConfig::greedy(),
        stop_at_eog: false,
    };
    let sum = s
        .generate(&ids, &opts, |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(sum.stop, StopReason::ContextFull);
    assert_eq!(s.position(), s.ctx());
    assert_eq!(
        sum.tokens.len(),
        4,
        "3 free positions are filled and one more token is sampled"
    );
    // Evaluating past the end is an error, not a crash, and leaves the cache intact.
    assert!(s.eval(&[2], Logits::Last).is_err());
    assert_eq!(s.position(), s.ctx());
}

#[test]
fn prompt_longer_than_context_is_a_clear_error() {
    let m = model();
    let ids = m
        .tokenize("one two three four five six seven eight", true)
        .unwrap();
    let mut s = m.new_session(Some(4), Some(1)).unwrap();
    let err = s
        .generate(&ids, &GenerateOptions::default(), |_| {
            ControlFlow::Continue(())
        })
        .unwrap_err()
        .to_string();
    assert!(err.contains("raise --ctx"), "{err}");
}

#[test]
fn same_seed_same_text_and_callback_can_stop() {
    let m = model();
    let ids = m.tokenize("My favourite food is", true).unwrap();
    let opts = GenerateOptions {
        max_tokens: 12,
        sampler: SamplerConfig {
            temperature: 1.0,
            seed: 1234,
            ..SamplerConfig::default()
        },
        stop_at_eog: false,
    };
    let run = |opts: &GenerateOptions| {
        let mut s = m.new_session(Some(64), Some(2)).unwrap();
        s.generate(&ids, opts, |_| ControlFlow::Continue(()))
            .unwrap()
            .tokens
    };
    let a = run(&opts);
    assert_eq!(a, run(&opts));
    assert_eq!(a.len(), 12);
    let mut s = m.new_session(Some(64), Some(2)).unwrap();
    let mut seen = 0;
    let sum = s
        .generate(&ids, &opts, |_| {
            seen += 1;
            if seen == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(sum.stop, StopReason::Stopped);
    assert_eq!(sum.tokens, a[..3]);
}
