//! Sessions on the real default model: batched prompt evaluation agrees with token-by-token
//! decoding through the KV cache, and generation ends cleanly when the context is full.

use std::ops::ControlFlow;
use std::sync::Arc;

use gemma_engine::{
    GenerateOptions, LoadOptions, LoadedModel, Logits, Precision, SamplerConfig, StopReason,
};

mod common;
use common::{max_abs_diff, model};

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
        ..GenerateOptions::default()
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
        ..GenerateOptions::default()
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

/// Greedy text of `n` tokens after `prompt`, streamed, with the given stop strings; returns the
/// streamed text, the per-token pieces and the summary's stop reason.
fn greedy_text(
    m: &Arc<LoadedModel>,
    prompt: &str,
    n: usize,
    stop: &[String],
) -> (String, Vec<String>, StopReason) {
    let ids = m.tokenize(prompt, true).unwrap();
    let opts = GenerateOptions {
        max_tokens: n,
        sampler: SamplerConfig::greedy(),
        stop_at_eog: false,
        stop: stop.to_vec(),
        ..GenerateOptions::default()
    };
    let mut s = m.new_session(Some(256), Some(2)).unwrap();
    let mut pieces = Vec::new();
    let summary = s
        .generate(&ids, &opts, |ev| {
            pieces.push(ev.text.to_string());
            ControlFlow::Continue(())
        })
        .unwrap();
    (pieces.concat(), pieces, summary.stop)
}

#[test]
fn a_stop_string_across_tokens_ends_generation_and_never_leaks() {
    let m = model();
    let prompt = "The three primary colours are";
    let (full, pieces, _) = greedy_text(&m, prompt, 24, &[]);
    // A stop string that starts inside one token's text and ends inside a later one's.
    let mut at = 0;
    let mut bound = None;
    for p in &pieces {
        at += p.len();
        if at >= 8
            && at + 3 < full.len()
            && full.is_char_boundary(at - 2)
            && full.is_char_boundary(at + 2)
        {
            bound = Some(at);
            break;
        }
    }
    let b = bound.expect("a token boundary inside the text");
    let stop = full[b - 2..b + 2].to_string();
    let want = &full[..full.find(&stop).unwrap()];
    let (got, _, reason) = greedy_text(&m, prompt, 24, std::slice::from_ref(&stop));
    assert_eq!(reason, StopReason::StopString, "stop {stop:?} in {full:?}");
    assert_eq!(got, want, "stop {stop:?}");
    assert!(!got.contains(&stop));
    // A stop string that never appears changes nothing.
    let (same, _, reason) = greedy_text(&m, prompt, 24, &["\u{1F600}never".to_string()]);
    assert_eq!(same, full);
    assert_eq!(reason, StopReason::MaxTokens);
}

#[test]
fn penalties_and_bias_reach_generation() {
    let m = model();
    let ids = m.tokenize("one one one one one one", true).unwrap();
    let greedy = |sampler: SamplerConfig| {
        let opts = GenerateOptions {
            max_tokens: 8,
            sampler,
            stop_at_eog: false,
            ..GenerateOptions::default()
        };
        let mut s = m.new_session(Some(128), Some(2)).unwrap();
        s.generate(&ids, &opts, |_| ControlFlow::Continue(()))
            .unwrap()
            .tokens
    };
    let plain = greedy(SamplerConfig::greedy());
    // Banning the first greedy token moves the first choice elsewhere.
    let banned = greedy(SamplerConfig {
        logit_bias: vec![(plain[0], f32::NEG_INFINITY)],
        ..SamplerConfig::greedy()
    });
    assert_ne!(banned[0], plain[0]);
    assert!(!banned.contains(&plain[0]));
    // A strong repetition penalty keeps the prompt's repeated token out of the answer.
    let one = m.tokenize(" one", false).unwrap()[0];
    let penalized = greedy(SamplerConfig {
        penalties: gemma_engine::Penalties {
            repeat: 100.0,
            presence: 100.0,
            ..Default::default()
        },
        ..SamplerConfig::greedy()
    });
    assert!(!penalized.contains(&one), "{penalized:?}");
    // A bias naming a token outside the vocabulary is refused.
    let opts = GenerateOptions {
        sampler: SamplerConfig {
            logit_bias: vec![(u32::MAX, 1.0)],
            ..SamplerConfig::greedy()
        },
        ..GenerateOptions::default()
    };
    let mut s = m.new_session(Some(128), Some(2)).unwrap();
    let err = s
        .generate(&ids, &opts, |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(err.to_string().contains("logit_bias"), "{err}");
}

#[test]
fn a_chat_keeps_earlier_turns_in_the_cache() {
    use gemma_engine::{Chat, Message};
    let m = model();
    let opts = GenerateOptions {
        max_tokens: 8,
        sampler: SamplerConfig::greedy(),
        stop_at_eog: true,
        ..GenerateOptions::default()
    };
    let (q1, q2) = ("Name a colour.", "And a fruit?");
    let mut chat = Chat::new(m.new_session(Some(512), Some(2)).unwrap()).unwrap();
    let mut a1 = String::new();
    let s1 = chat
        .send(q1, &opts, |ev| {
            a1.push_str(ev.text);
            ControlFlow::Continue(())
        })
        .unwrap();
    let s2 = chat.send(q2, &opts, |_| ControlFlow::Continue(())).unwrap();
    let t = m.chat_template().unwrap();
    let first = t.render(&[Message::user(q1)], true).unwrap();
    let conv = [
        Message::user(q1),
        Message::assistant(&a1),
        Message::user(q2),
    ];
    let full = t.render(&conv, true).unwrap();
    let whole = m.tokenize(&full, false).unwrap();
    if full.starts_with(&(first.clone() + &a1)) {
        // Only the new turn was evaluated: the answer's last token and the new turn's tokens.
        let suffix = m.tokenize(&full[first.len() + a1.len()..], false).unwrap();
        assert_eq!(s2.prompt_tokens, 1 + suffix.len());
        assert!(
            s2.prompt_tokens < whole.len() / 2,
            "{} of {}",
            s2.prompt_tokens,
            whole.len()
        );
        // The same as one session fed the same tokens in one go.
        let mut feed = m.tokenize(&first, false).unwrap();
        feed.extend(&s1.tokens);
        feed.extend(&suffix);
        let mut fresh = m.new_session(Some(512), Some(2)).unwrap();
        let want = fresh
            .generate(&feed, &opts, |_| ControlFlow::Continue(()))
            .unwrap();
        assert_eq!(s2.tokens, want.tokens);
    } else {
        // The template rewrote the answer (e.g. trimmed it): the turn starts over.
        assert_eq!(s2.prompt_tokens, whole.len());
    }
    // After a reset the conversation starts again from its first turn.
    chat.reset();
    let s3 = chat.send(q1, &opts, |_| ControlFlow::Continue(())).unwrap();
    assert_eq!(s3.tokens, s1.tokens);
    assert_eq!(chat.messages().len(), 2);
}
