//! GGUF files of every generation (`gemma`, `gemma2`, `gemma3`), written by `gemma quantize`
//! from the transformers conformance fixtures, load and run like transformers.
//!
//! The fixtures and their reference logits are in `crates/gemma-engine/tests/data/conformance/`
//! (made by `scripts/make_conformance_fixtures.py`; see its README). Each folder is converted
//! to an F32 GGUF, loaded through the GGUF path (`Model::from_gguf`, configuration from GGUF
//! metadata only) and must give transformers' logits within 1e-3 at every position and its
//! greedy continuation. `gemma1-bf16` is left out on purpose: GGUF models scale embeddings by
//! the f32 `sqrt(hidden_size)` as llama.cpp does, while the fixture's reference rounds it to
//! bf16 as transformers does when it runs the checkpoint in bf16 (a 0.012 logit difference).

use std::path::Path;
use std::sync::Arc;

use gemma_formats::{GgufFile, SafetensorsFile};
use gemma_model::{Logits, Model, Precision};
use gemma_quantize::{quantize, FileType, NoProgress, Options};
use serde::Deserialize;

const LOGIT_TOL: f32 = 1e-3;

#[derive(Deserialize)]
struct Prompt {
    tokens: Vec<u32>,
    logits_tensor: String,
    greedy: Vec<u32>,
}

#[derive(Deserialize)]
struct Reference {
    prompts: Vec<Prompt>,
}

fn argmax(v: &[f32]) -> u32 {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b }) as u32
}

/// Converts fixture `name` to GGUF and checks it; returns the GGUF architecture.
fn check(name: &str) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-engine/tests/data/conformance")
        .join(name);
    let out = tempfile::tempdir().unwrap();
    let gguf = out.path().join(format!("{name}.gguf"));
    let mut o = Options::new(FileType::F32);
    o.threads = 2;
    quantize(&dir, &gguf, &o, &mut NoProgress).unwrap();
    let file = Arc::new(GgufFile::open(&gguf).unwrap());
    let mut model = Model::from_gguf(file).unwrap();
    model.precision = Precision::F32;

    let r: Reference =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let logits = SafetensorsFile::open(dir.join("logits.safetensors")).unwrap();
    let vocab = model.config.vocab_size;
    let mut worst = 0f32;
    for (i, p) in r.prompts.iter().enumerate() {
        let expected: Vec<f32> = logits
            .tensor_bytes(&p.logits_tensor)
            .unwrap()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let mut cache = model.new_cache(p.tokens.len() + p.greedy.len());
        let ours = model
            .forward(&p.tokens, &mut cache, Logits::All, 2)
            .unwrap();
        assert_eq!(ours.len(), expected.len(), "{name} prompt {i}");
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
                "{name} (GGUF) prompt {i} position {pos}: logits differ by {d}"
            );
            worst = worst.max(d);
        }
        // Greedy with the cache, continuing from the prompt just evaluated.
        let mut last = ours[ours.len() - vocab..].to_vec();
        let mut ids = Vec::new();
        for _ in 0..p.greedy.len() {
            let id = argmax(&last);
            ids.push(id);
            last = model.forward(&[id], &mut cache, Logits::Last, 2).unwrap();
        }
        assert_eq!(
            ids, p.greedy,
            "{name} (GGUF) prompt {i}: greedy continuation"
        );
    }
    println!(
        "{name}: GGUF `{}` within {worst:.2e} of transformers, greedy identical",
        model.config.architecture
    );
    model.config.architecture.clone()
}

#[test]
fn gemma_gguf_multi_query() {
    assert_eq!(check("gemma1-mqa"), "gemma");
}

#[test]
fn gemma_gguf_multi_head_wide_heads() {
    assert_eq!(check("gemma1-mha-hd"), "gemma");
}

#[test]
fn gemma2_gguf_window_and_softcaps() {
    assert_eq!(check("gemma2-window-softcap"), "gemma2");
}

#[test]
fn gemma3_gguf_window_five_to_one() {
    assert_eq!(check("gemma3-window-5to1"), "gemma3");
}

#[test]
fn gemma3_gguf_linear_rope_scaling() {
    assert_eq!(check("gemma3-rope-linear"), "gemma3");
}
