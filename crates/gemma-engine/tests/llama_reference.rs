//! Greedy generation and final logits on the real default model against llama.cpp.
//!
//! The reference, `tests/data/llama_reference.json`, was made by `scripts/make_llama_reference.py`
//! with llama-cpp-python 0.3.36 (its header says how), evaluating prompts with n_ubatch = 1 so
//! that llama.cpp computes every position with the kernels it decodes with; our default `mixed`
//! numerics reproduce those kernels (8-bit activations, f16 attention operands, table GELU). It
//! requires:
//!
//! - identical tokenization;
//! - top-10 logits within `LOGIT_TOL` (0.25) of llama.cpp's, with the same ids; with the AVX2 or AVX-512
//!   kernels (whose sums are ordered as ggml's) the logits are bit-for-bit llama.cpp's;
//! - the first 32 greedy tokens equal to llama.cpp's, a divergence being accepted only at a step
//!   where llama.cpp's own top-2 margin is below `MARGIN_TIE` (0.05); each would be printed.
//!
//! llama.cpp disagrees with itself across batch sizes: the same prompts with n_ubatch = 512
//! (recorded as `batched`) move its top-10 logits by up to 0.65 and change its greedy choice at a
//! margin of 0.17, because its batched kernels sum in another order and this small model
//! amplifies last-bit differences. The test prints our distance to that run too.
//!
//! The exact answer for the stored weights (float64, `tests/data/exact_reference.json`) is checked
//! separately against `--precision f32` in `exact_reference.rs`.

use std::ops::ControlFlow;
use std::sync::Arc;

use gemma_engine::{GenerateOptions, LoadedModel, Logits, SamplerConfig};
use serde::Deserialize;

/// A divergence is acceptable only where llama.cpp's top-2 margin is below this.
const MARGIN_TIE: f32 = 0.05;
/// Largest accepted difference between our logits and llama.cpp's at its top-10 ids.
const LOGIT_TOL: f32 = 0.25;
/// With the AVX2 kernels our logits are llama.cpp's, up to the fixture's decimal printing.
const EXACT_TOL: f32 = 1e-5;

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
            m.tokenize(&c.prompt, true).unwrap(),
            c.prompt_tokens,
            "case {}",
            c.name
        );
    }
}

#[test]
fn top10_logits_match_llama_cpp() {
    let m = model();
    let exact_kernels = gemma_kernels::active_level().has_avx2();
    let mut failures = Vec::new();
    for c in reference().cases {
        let mut s = m
            .new_session(Some(c.prompt_tokens.len() + 1), Some(2))
            .unwrap();
        let logits = s.eval(&c.prompt_tokens, Logits::Last).unwrap();
        let diff = |top: &[Top]| {
            top.iter()
                .map(|t| (logits[t.id as usize] - t.logit).abs())
                .fold(0f32, f32::max)
        };
        let mut ours: Vec<u32> = (0..logits.len() as u32).collect();
        ours.sort_by(|a, b| logits[*b as usize].total_cmp(&logits[*a as usize]));
        ours.truncate(10);
        let worst = diff(&c.top10);
        let same_set = c.top10.iter().all(|t| ours.contains(&t.id));
        eprintln!("case {}: largest top-10 logit difference from llama.cpp {worst:.4}, same top-10 ids: {same_set}", c.name);
        if let Some(b) = &c.batched {
            let first = b
                .generated
                .iter()
                .zip(&c.generated)
                .position(|(x, y)| x != y);
            eprintln!(
                "    (llama.cpp with n_batch {}: difference {:.4}; its greedy ids first differ from n_batch 1 at {first:?})",
                b.n_batch,
                diff(&b.top10)
            );
        }
        if worst > LOGIT_TOL || !same_set || (exact_kernels && worst > EXACT_TOL) {
            failures.push(format!(
                "{} (difference {worst}, same ids {same_set})",
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
            ..GenerateOptions::default()
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
