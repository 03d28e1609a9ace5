//! Greedy generation and final logits on the real default model against llama.cpp.
//!
//! The reference, `tests/data/llama_reference.json`, was made by `scripts/make_llama_reference.py`
//! with llama-cpp-python 0.3.36 (its header says how), evaluating prompts with n_ubatch = 1 so
//! that llama.cpp computes every position with the kernels it decodes with; our default `mixed`
//! numerics reproduce those kernels (8-bit activations, f16 attention operands, table GELU).
//!
//! Bounds. llama.cpp disagrees with itself: the same prompts evaluated with n_ubatch = 512
//! (recorded in the fixture as `batched`) move its top-10 logits by up to 0.65, change its top-10
//! set in 3 of 11 cases, and change its greedy continuation at a step where its top-2 margin was
//! 0.17. This 270M model amplifies a change in the last bit of a sum into tenths of a logit, so
//! no independent implementation can stay within 0.25 of every llama.cpp configuration. The
//! tests therefore require:
//! - identical tokenization;
//! - bit-level agreement on the short prompts where our arithmetic is the same as llama.cpp's
//!   (`EXACT_CASES`, with the AVX2 kernels, whose sums are ordered as ggml's);
//! - top-10 logits within `LOGIT_TOL` of llama.cpp's, and its clear top-10 ids in ours;
//! - the first 32 greedy tokens equal to llama.cpp's, a divergence being accepted only at a step
//!   where llama.cpp's own top-2 margin is below `MARGIN_TIE` (the comparison stops there). Each
//!   divergence is printed.
//!
//! The exact answer for the stored weights (float64, `tests/data/exact_reference.json`) is checked
//! separately against `--precision f32` in `exact_reference.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use gemma_engine::{GenerateOptions, LoadedModel, Logits, SamplerConfig};
use serde::Deserialize;

/// A divergence is acceptable only where llama.cpp's top-2 margin is below this (its own
/// batch-size noise changes its choice at a margin of 0.17).
const MARGIN_TIE: f32 = 0.25;
/// Largest accepted difference between our logits and llama.cpp's at its top-10 ids (its own
/// batch-size noise reaches 0.65).
const LOGIT_TOL: f32 = 1.0;
/// Short prompts on which our logits equal llama.cpp's (up to float printing).
const EXACT_CASES: [&str; 2] = ["bos_only", "capital_of_france"];

#[derive(Deserialize)]
struct Top {
    id: u32,
    logit: f32,
}

#[derive(Deserialize)]
struct Batched {
    n_batch: usize,
    generated: Vec<u32>,
    top10: Vec<Top>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    prompt: String,
    prompt_tokens: Vec<u32>,
    generated: Vec<u32>,
    margins: Vec<f32>,
    top10: Vec<Top>,
    batched: Option<Batched>,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

fn reference() -> Reference {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/llama_reference.json"
    );
    let text = std::fs::read_to_string(path).expect("read tests/data/llama_reference.json");
    serde_json::from_str(&text).expect("parse llama_reference.json")
}

fn model() -> Arc<LoadedModel> {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    LoadedModel::load(&path).expect("load default model")
}

#[test]
fn reference_covers_what_the_spine_issue_asks() {
    let r = reference();
    assert!(r.cases.len() >= 8);
    assert!(
        r.cases
            .iter()
            .filter(|c| c.prompt_tokens.len() > 1024)
            .count()
            >= 2
    );
    assert!(r
        .cases
        .iter()
        .all(|c| c.generated.len() == 32 && c.top10.len() == 10));
}

#[test]
fn tokenization_matches_llama_cpp() {
    let m = model();
    for c in reference().cases {
        assert_eq!(
            m.tokenize(&c.prompt, true),
            c.prompt_tokens,
            "case {}",
            c.name
        );
    }
}

#[test]
fn top10_logits_match_llama_cpp() {
    let m = model();
    let exact_kernels = gemma_kernels::kernel_level() == "avx2+fma";
    let mut failures = Vec::new();
    for c in reference().cases {
        let mut s = m
            .new_session(Some(c.prompt_tokens.len() + 1), Some(2))
            .unwrap();
        let logits = s.eval(&c.prompt_tokens, Logits::Last).unwrap();
        let mut ours: Vec<u32> = (0..logits.len() as u32).collect();
        ours.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        ours.truncate(10);
        let worst = c
            .top10
            .iter()
            .map(|t| (logits[t.id as usize] - t.logit).abs())
            .fold(0f32, f32::max);
        // llama.cpp's top-10 ids that clear its 10th logit by more than twice the tolerance.
        let tenth = c.top10[9].logit;
        let missing: Vec<u32> = c
            .top10
            .iter()
            .filter(|t| t.logit > tenth + 2.0 * LOGIT_TOL && !ours.contains(&t.id))
            .map(|t| t.id)
            .collect();
        let same_set = c.top10.iter().all(|t| ours.contains(&t.id));
        eprintln!("case {}: largest top-10 logit difference from llama.cpp {worst:.4}, same top-10 ids: {same_set}", c.name);
        if let Some(b) = &c.batched {
            let wb = b
                .top10
                .iter()
                .map(|t| (logits[t.id as usize] - t.logit).abs())
                .fold(0f32, f32::max);
            eprintln!(
                "    (llama.cpp with n_batch {}: difference {wb:.4})",
                b.n_batch
            );
        }
        let exact = exact_kernels && EXACT_CASES.contains(&c.name.as_str());
        if worst > LOGIT_TOL || !missing.is_empty() || (exact && worst > 1e-5) {
            failures.push(format!(
                "{} (difference {worst}, missing clear ids {missing:?})",
                c.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "top-10 logits differ from llama.cpp: {failures:?}"
    );
}

#[test]
fn greedy_continuations_match_llama_cpp() {
    let m = model();
    for c in reference().cases {
        let mut s = m
            .new_session(Some(c.prompt_tokens.len() + 40), Some(2))
            .unwrap();
        let opts = GenerateOptions {
            max_tokens: c.generated.len(),
            sampler: SamplerConfig::greedy(),
            stop_at_eog: false,
        };
        let got = s
            .generate(&c.prompt_tokens, &opts, |_| ControlFlow::Continue(()))
            .unwrap()
            .tokens;
        match got.iter().zip(&c.generated).position(|(a, b)| a != b) {
            None => assert_eq!(got, c.generated, "case {}", c.name),
            Some(step) => {
                let margin = c.margins[step];
                eprintln!(
                    "case {}: diverges from llama.cpp at step {step} (ours {}, llama.cpp {}); llama.cpp's top-2 margin there is {margin}",
                    c.name, got[step], c.generated[step]
                );
                assert!(
                    margin < MARGIN_TIE,
                    "case {}: greedy token {step} is {} but llama.cpp chose {} with a clear margin {margin}",
                    c.name,
                    got[step],
                    c.generated[step]
                );
            }
        }
    }
}
