//! Several sequences through the model at once: batched sequences get the bits they get
//! alone, whatever the chunking, batch or threads; the continuous batcher lets requests join
//! between steps and reports log-probabilities; tail logits.

use std::ops::ControlFlow;
use std::sync::Arc;

use gemma_engine::{
    GenerateOptions, LoadOptions, LoadedModel, Logits, Precision, SamplerConfig, StopReason,
};

mod common;
use common::{max_abs_diff, model};

#[test]
fn sequences_batched_together_get_the_bits_they_get_alone() {
    use gemma_engine::SeqInput;
    let m = model();
    let prompts = [
        "The capital of France is",
        "One, two, three, four, five,",
        "Water boils at",
    ];
    let ids: Vec<Vec<u32>> = prompts
        .iter()
        .map(|p| m.tokenize(p, true).unwrap())
        .collect();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    // Alone: each prompt, then one more token.
    let mut alone = Vec::new();
    for p in &ids {
        let mut c = m.model.new_cache(64);
        let a = m.model.forward(p, &mut c, Logits::Last, 2).unwrap();
        let b = m.model.forward(&[p[1]], &mut c, Logits::All, 2).unwrap();
        alone.push((a, b));
    }
    // Together: the three prompts in one batch, then the three next tokens in one batch.
    let mut caches: Vec<_> = ids.iter().map(|_| m.model.new_cache(64)).collect();
    let mut seqs: Vec<SeqInput> = ids
        .iter()
        .zip(caches.iter_mut())
        .map(|(p, cache)| SeqInput {
            tokens: p,
            cache,
            want: Logits::Last,
        })
        .collect();
    let first = m.model.forward_seqs(&mut seqs, 2).unwrap();
    let next: Vec<[u32; 1]> = ids.iter().map(|p| [p[1]]).collect();
    let mut seqs: Vec<SeqInput> = next
        .iter()
        .zip(caches.iter_mut())
        .map(|(t, cache)| SeqInput {
            tokens: t,
            cache,
            want: Logits::All,
        })
        .collect();
    let second = m.model.forward_seqs(&mut seqs, 2).unwrap();
    for (i, (a, b)) in alone.iter().enumerate() {
        assert_eq!(bits(&first[i]), bits(a), "prompt {i}");
        assert_eq!(bits(&second[i]), bits(b), "next token {i}");
    }
    // A new prompt joining sequences that are decoding (continuous batching's shape), and a
    // sequence that wants no logits.
    let mut c0 = m.model.new_cache(64);
    let mut c1 = m.model.new_cache(64);
    m.model.forward(&ids[0], &mut c0, Logits::None, 2).unwrap();
    let mut seqs = vec![
        SeqInput {
            tokens: &next[0],
            cache: &mut c0,
            want: Logits::All,
        },
        SeqInput {
            tokens: &ids[1],
            cache: &mut c1,
            want: Logits::None,
        },
    ];
    let mixed = m.model.forward_seqs(&mut seqs, 2).unwrap();
    assert_eq!(bits(&mixed[0]), bits(&alone[0].1));
    assert!(mixed[1].is_empty());
    assert_eq!(c1.len(), ids[1].len());
    // Sequences with no tokens in a step (waiting for room in the batch) get nothing and keep
    // their cache, even behind a full batch: the continuous batcher makes such steps.
    let full: Vec<u32> = ids[1]
        .iter()
        .copied()
        .cycle()
        .take(gemma_engine::UBATCH)
        .collect();
    let mut c2 = m.model.new_cache(256);
    let before = c1.len();
    let mut seqs = vec![
        SeqInput {
            tokens: &[],
            cache: &mut c1,
            want: Logits::Last,
        },
        SeqInput {
            tokens: &full,
            cache: &mut c2,
            want: Logits::Last,
        },
        SeqInput {
            tokens: &[],
            cache: &mut c0,
            want: Logits::All,
        },
    ];
    let out = m.model.forward_seqs(&mut seqs, 2).unwrap();
    assert!(out[0].is_empty() && out[2].is_empty());
    assert_eq!(out[1].len(), m.config().vocab_size);
    assert_eq!(c1.len(), before);
}

/// Greedy tokens of `prompt` generated alone in a session.
fn solo(m: &Arc<LoadedModel>, prompt: &[u32], n: usize) -> Vec<u32> {
    let opts = GenerateOptions {
        max_tokens: n,
        sampler: SamplerConfig::greedy(),
        stop_at_eog: false,
        ..GenerateOptions::default()
    };
    let mut s = m.new_session(Some(256), Some(2)).unwrap();
    s.generate(prompt, &opts, |_| ControlFlow::Continue(()))
        .unwrap()
        .tokens
}

#[test]
fn a_request_joins_a_running_batch_between_steps() {
    use gemma_engine::{BatchEvent, Batcher};
    let m = model();
    let (pa, pb) = (
        m.tokenize("Once upon a time, there was a", true).unwrap(),
        m.tokenize("The best way to learn a language is", true)
            .unwrap(),
    );
    let opts = |n| GenerateOptions {
        max_tokens: n,
        sampler: SamplerConfig::greedy(),
        stop_at_eog: false,
        ..GenerateOptions::default()
    };
    let batcher = Batcher::start(m.clone(), 256, 2, 4, 8);
    let a = batcher.submit(pa.clone(), opts(24)).unwrap();
    // A runs alone for a few steps before B arrives.
    let mut a_steps = Vec::new();
    let mut a_tokens = Vec::new();
    while a_steps.len() < 4 {
        match a.recv().unwrap() {
            BatchEvent::Token { id, step, .. } => {
                a_tokens.push(id);
                a_steps.push(step);
            }
            other => panic!("{other:?}"),
        }
    }
    let b = batcher.submit(pb.clone(), opts(6)).unwrap();
    let mut b_steps = Vec::new();
    let mut b_tokens = Vec::new();
    let b_done = loop {
        match b.recv().unwrap() {
            BatchEvent::Token { id, step, .. } => {
                b_tokens.push(id);
                b_steps.push(step);
            }
            BatchEvent::Done { tokens, stop, .. } => break (tokens, stop),
            other => panic!("{other:?}"),
        }
    };
    let a_done = loop {
        match a.recv().unwrap() {
            BatchEvent::Token { id, step, .. } => {
                a_tokens.push(id);
                a_steps.push(step);
            }
            BatchEvent::Done { tokens, stop, .. } => break (tokens, stop),
            other => panic!("{other:?}"),
        }
    };
    // A got a token at every step, B's steps included: B joined the running batch and A
    // never waited for it.
    assert!(a_steps.windows(2).all(|w| w[1] == w[0] + 1), "{a_steps:?}");
    assert!(
        b_steps.iter().all(|s| a_steps.contains(s)),
        "B's steps {b_steps:?} are not all among A's {a_steps:?}"
    );
    assert!(b_steps[0] > a_steps[3], "B produced before it was sent");
    assert!(*b_steps.last().unwrap() < *a_steps.last().unwrap());
    // Each got exactly what it gets alone.
    assert_eq!(a_done.0, solo(&m, &pa, 24));
    assert_eq!(b_done.0, solo(&m, &pb, 6));
    assert_eq!(a_done.0, a_tokens);
    assert_eq!(b_done.1, StopReason::MaxTokens);
    // A client that goes away is cancelled; the batcher goes on serving.
    let gone = batcher.submit(pa.clone(), opts(200)).unwrap();
    drop(gone);
    let c = batcher.submit(pb.clone(), opts(3)).unwrap();
    let got: Vec<u32> = c
        .iter()
        .filter_map(|e| match e {
            BatchEvent::Token { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(got, solo(&m, &pb, 3));
}

#[test]
fn the_batcher_reports_prompt_and_token_logprobs_of_the_model_distribution() {
    use gemma_engine::{token_logprob, BatchEvent, Batcher};
    let m = model();
    let prompt = m
        .tokenize(
            "It was the best of times, it was the worst of times, it was the age of wisdom, \
             it was the age of foolishness, it was the epoch of belief",
            true,
        )
        .unwrap();
    assert!(prompt.len() > 20, "the prompt spans several logprob chunks");
    let vocab = m.config().vocab_size;
    // The reference: every position's logits from one evaluation of the whole prompt.
    let mut s = m.new_session(Some(256), Some(2)).unwrap();
    let rows = s.eval(&prompt, Logits::All).unwrap();
    let batcher = Batcher::start(m.clone(), 256, 2, 2, 4);
    let opts = GenerateOptions {
        max_tokens: 0,
        sampler: SamplerConfig::greedy(),
        logprobs: Some(2),
        prompt_logprobs: true,
        ..GenerateOptions::default()
    };
    let events: Vec<BatchEvent> = batcher
        .submit(prompt.clone(), opts.clone())
        .unwrap()
        .iter()
        .collect();
    let BatchEvent::Prompt { logprobs } = &events[0] else {
        panic!("{:?}", events[0]);
    };
    assert_eq!(logprobs.len(), prompt.len() - 1);
    for (i, lp) in logprobs.iter().enumerate() {
        let want = token_logprob(&rows[i * vocab..(i + 1) * vocab], prompt[i + 1], 2);
        assert_eq!(lp.id, prompt[i + 1]);
        assert!(
            (lp.logprob - want.logprob).abs() < 1e-4,
            "{i}: {lp:?} vs {want:?}"
        );
        assert_eq!(lp.top.len(), 2);
        assert_eq!(lp.top[0].0, want.top[0].0, "{i}");
    }
    assert!(matches!(
        events[1],
        BatchEvent::Done { ref tokens, prompt_tokens, stop: StopReason::MaxTokens }
            if tokens.is_empty() && prompt_tokens == prompt.len()
    ));
    // Generated tokens: greedy picks the most likely one, and its logprob is that entry's.
    let gen = GenerateOptions {
        max_tokens: 6,
        stop_at_eog: false,
        ..opts
    };
    let mut got = Vec::new();
    for ev in batcher.submit(prompt.clone(), gen).unwrap() {
        match ev {
            BatchEvent::Token {
                id,
                logprob: Some(lp),
                ..
            } => {
                assert_eq!(lp.id, id);
                assert_eq!(lp.top[0], (id, lp.logprob));
                assert!(lp.logprob <= 0.0 && lp.top[1].1 <= lp.logprob);
                got.push(id);
            }
            BatchEvent::Token {
                logprob: None,
                text,
                ..
            } => assert!(!text.is_empty()),
            BatchEvent::Prompt { logprobs } => assert_eq!(logprobs.len(), prompt.len() - 1),
            BatchEvent::Done { tokens, .. } => assert_eq!(tokens, got),
            BatchEvent::Error(e) => panic!("{e}"),
        }
    }
    assert_eq!(got, solo(&m, &prompt, 6));
}

/// Batch invariance: a prompt's logits are the same bits evaluated whole, in chunks of 7
/// tokens, in a batch behind another sequence, and on one thread, under both numerics. So a
/// request's text cannot depend on what else the server runs.
#[test]
fn logits_do_not_depend_on_chunking_batch_or_threads() {
    use gemma_engine::SeqInput;
    let path = gemma_hub::ensure_default_model(false).unwrap();
    for precision in [Precision::Mixed, Precision::F32] {
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
                "It was the best of times, it was the worst of times, it was the age of wisdom",
                true,
            )
            .unwrap();
        let other = m
            .tokenize("Water boils at one hundred degrees", true)
            .unwrap();
        let mut c = m.model.new_cache(128);
        let whole = m.model.forward(&ids, &mut c, Logits::All, 2).unwrap();
        let mut c = m.model.new_cache(128);
        let mut chunked = Vec::new();
        for ch in ids.chunks(7) {
            chunked.extend(m.model.forward(ch, &mut c, Logits::All, 2).unwrap());
        }
        let (mut c, mut c2) = (m.model.new_cache(128), m.model.new_cache(128));
        let mut seqs = vec![
            SeqInput {
                tokens: &other,
                cache: &mut c2,
                want: Logits::None,
            },
            SeqInput {
                tokens: &ids,
                cache: &mut c,
                want: Logits::All,
            },
        ];
        let batched = m.model.forward_seqs(&mut seqs, 2).unwrap().pop().unwrap();
        let mut one = m.model.new_cache(128);
        let threads1 = m.model.forward(&ids, &mut one, Logits::All, 1).unwrap();
        for (name, v) in [
            ("chunked", &chunked),
            ("batched", &batched),
            ("1 thread", &threads1),
        ] {
            let same = v.len() == whole.len()
                && v.iter()
                    .zip(&whole)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(
                same,
                "{precision:?} {name}: max |diff| {}",
                max_abs_diff(v, &whole)
            );
        }
    }
}

#[test]
fn tail_logits_are_the_last_rows_of_all_logits() {
    let m = model();
    let vocab = m.config().vocab_size;
    let one = m
        .tokenize("It was the best of times, it was the worst of times", true)
        .unwrap();
    // Longer than one micro-batch, so the tail spans two.
    let ids: Vec<u32> = one
        .iter()
        .copied()
        .cycle()
        .take(gemma_engine::UBATCH + 9)
        .collect();
    let mut c = m.model.new_cache(512);
    let all = m.model.forward(&ids, &mut c, Logits::All, 2).unwrap();
    for n in [0, 1, 5, 20, ids.len(), ids.len() + 3] {
        let mut c = m.model.new_cache(512);
        let tail = m.model.forward(&ids, &mut c, Logits::Tail(n), 2).unwrap();
        let k = n.min(ids.len());
        assert_eq!(tail.len(), k * vocab, "Tail({n})");
        assert!(
            tail.iter()
                .zip(&all[all.len() - k * vocab..])
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "Tail({n})"
        );
        assert_eq!(c.len(), ids.len());
    }
}
