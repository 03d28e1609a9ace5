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

use std::sync::Arc;

use gemma_formats::GgufFile;
use gemma_model::{Model, Precision};
use gemma_quantize::{quantize, FileType, NoProgress, Options};

#[path = "../../gemma-engine/tests/conformance_common/mod.rs"]
mod conformance_common;

use conformance_common::{check_model, fixture_dir};

/// Converts fixture `name` to an F32 GGUF, checks it like the folder; returns the architecture.
fn check(name: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let gguf = out.path().join(format!("{name}.gguf"));
    let mut o = Options::new(FileType::F32);
    o.threads = 2;
    quantize(&fixture_dir(name), &gguf, &o, &mut NoProgress).unwrap();
    let mut model = Model::from_gguf(Arc::new(GgufFile::open(&gguf).unwrap())).unwrap();
    model.precision = Precision::F32;
    check_model(name, &model);
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
