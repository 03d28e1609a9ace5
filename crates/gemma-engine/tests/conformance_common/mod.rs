//! The transformers conformance check shared by the tests that load the fixtures of
//! `crates/gemma-engine/tests/data/conformance/` (made by `scripts/make_conformance_fixtures.py`):
//! a model, however it was loaded, against transformers' logits at every position and its
//! greedy continuation.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gemma_formats::SafetensorsFile;
use gemma_model::{Logits, Model, Precision};
use serde::Deserialize;

/// The largest accepted |ours - transformers| on any logit at any position (the bound).
pub const LOGIT_TOL: f32 = 1e-3;

/// The small-vocabulary fixtures, each proving some configuration differences; a missing one
/// fails the test rather than being skipped.
pub const FIXTURES: [&str; 6] = [
    "gemma1-mqa",
    "gemma1-mha-hd",
    "gemma1-bf16",
    "gemma2-window-softcap",
    "gemma3-window-5to1",
    "gemma3-rope-linear",
];

#[derive(Deserialize)]
pub struct Prompt {
    pub tokens: Vec<u32>,
    pub logits_tensor: String,
    pub greedy: Vec<u32>,
}

#[derive(Deserialize)]
pub struct Reference {
    pub prompts: Vec<Prompt>,
}

pub fn fixture_dir(name: &str) -> PathBuf {
    // Works from any crate of the workspace that includes this module.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-engine/tests/data/conformance")
        .join(name)
}

pub fn reference(dir: &Path) -> (Reference, SafetensorsFile) {
    let text = std::fs::read_to_string(dir.join("reference.json")).unwrap();
    let r: Reference = serde_json::from_str(&text).unwrap();
    let logits = SafetensorsFile::open(dir.join("logits.safetensors")).unwrap();
    (r, logits)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn argmax(v: &[f32]) -> u32 {
    let mut best = 0;
    for (i, x) in v.iter().enumerate() {
        if *x > v[best] {
            best = i;
        }
    }
    best as u32
}

/// Greedy decoding with the KV cache: the prompt in one batch, then one token at a time.
fn greedy(model: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut cache = model.new_cache(prompt.len() + n);
    let mut logits = model.forward(prompt, &mut cache, Logits::Last, 2).unwrap();
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let id = argmax(&logits);
        out.push(id);
        logits = model.forward(&[id], &mut cache, Logits::Last, 2).unwrap();
    }
    out
}

/// Loads fixture `name` as a user would and checks it: the worst logit difference over every
/// position of every prompt (asserted within [`LOGIT_TOL`]); asserts the greedy tokens.
pub fn check(name: &str) -> f32 {
    let dir = fixture_dir(name);
    let mut model = Model::from_hf_folder(&dir)
        .unwrap_or_else(|e| panic!("{name}: cannot load {}: {e}", dir.display()));
    model.precision = Precision::F32;
    check_model(name, &model)
}

/// [`check`] for a model of fixture `name` loaded some other way (e.g. converted to GGUF).
pub fn check_model(name: &str, model: &Model) -> f32 {
    let dir = fixture_dir(name);
    let (r, logits) = reference(&dir);
    assert!(!r.prompts.is_empty(), "{name}: no prompts");
    let vocab = model.config.vocab_size;
    let mut worst = 0f32;
    for (i, p) in r.prompts.iter().enumerate() {
        let expected = f32s(logits.tensor_bytes(&p.logits_tensor).unwrap());
        assert_eq!(expected.len(), p.tokens.len() * vocab, "{name} prompt {i}");
        let mut cache = model.new_cache(p.tokens.len());
        let ours = model
            .forward(&p.tokens, &mut cache, Logits::All, 2)
            .unwrap();
        for (pos, (a, b)) in ours
            .chunks_exact(vocab)
            .zip(expected.chunks_exact(vocab))
            .enumerate()
        {
            let d = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                d <= LOGIT_TOL,
                "{name} prompt {i} position {pos}: max |logit difference| {d} > {LOGIT_TOL}"
            );
            worst = worst.max(d);
        }
        let ids = greedy(model, &p.tokens, p.greedy.len());
        assert_eq!(ids, p.greedy, "{name} prompt {i}: greedy continuation");
    }
    println!(
        "{name}: {} prompts, every position within {worst:.2e} of transformers, greedy identical",
        r.prompts.len()
    );
    worst
}
