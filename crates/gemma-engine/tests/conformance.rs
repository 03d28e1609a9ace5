//! Conformance against Hugging Face transformers: tiny random models of every Gemma generation.
//!
//! The fixtures under `tests/data/conformance/` were made by
//! `scripts/make_conformance_fixtures.py` (transformers + torch on CPU; versions in each
//! `reference.json` and in the folder's README): a Hugging Face folder per model, the logits
//! transformers computes at every position of each prompt (`logits.safetensors`) and its greedy
//! continuation with the KV cache. We load each folder as a user would, run it in f32, and
//! require every logit within [`LOGIT_TOL`] and the same greedy tokens.

mod conformance_common;

use conformance_common::{check, fixture_dir, reference, FIXTURES};
use gemma_model::{Logits, Model, Precision};

#[test]
fn gemma1_multi_query() {
    check(FIXTURES[0]);
}

#[test]
fn gemma1_multi_head_with_wide_heads() {
    check(FIXTURES[1]);
}

#[test]
fn gemma1_bf16_checkpoint() {
    check(FIXTURES[2]);
}

#[test]
fn gemma2_window_and_softcaps() {
    check(FIXTURES[3]);
}

#[test]
fn gemma3_window_five_to_one() {
    check(FIXTURES[4]);
}

#[test]
fn gemma3_linear_rope_scaling() {
    check(FIXTURES[5]);
}

/// Sliding-window layers drop positions no query can see any more: memory stays near the
/// window while the results stay those of a cache that keeps everything (one batch).
#[test]
fn sliding_layers_forget_old_positions_without_changing_results() {
    let dir = fixture_dir("gemma3-window-5to1");
    let mut model = Model::from_hf_folder(&dir).unwrap();
    model.precision = Precision::F32;
    let cfg = &model.config;
    let window = cfg.sliding_window.expect("a sliding-window fixture");
    let (r, _) = reference(&dir);
    let tokens: Vec<u32> = r.prompts[0]
        .tokens
        .iter()
        .cycle()
        .take(300)
        .copied()
        .collect();
    let vocab = cfg.vocab_size;
    let mut full = model.new_cache(tokens.len());
    let all = model.forward(&tokens, &mut full, Logits::All, 2).unwrap();
    let mut step = model.new_cache(tokens.len());
    let mut worst = 0f32;
    for (t, &tok) in tokens.iter().enumerate() {
        let l = model.forward(&[tok], &mut step, Logits::Last, 2).unwrap();
        let d = l
            .iter()
            .zip(&all[t * vocab..(t + 1) * vocab])
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(d);
    }
    assert!(worst <= 1e-4, "token-by-token logits differ by {worst}");
    // Local layers hold at most window + DROP_STEP positions; global ones hold all.
    let kv = cfg.kv_dim() * 4 * 2;
    let locals = cfg
        .layers
        .iter()
        .filter(|l| l.sliding_window.is_some())
        .count();
    let globals = cfg.num_hidden_layers - locals;
    let bound = globals * tokens.len() * kv + locals * (window + gemma_model::kv::DROP_STEP) * kv;
    assert!(
        step.bytes() <= bound,
        "{} bytes held, bound {bound}",
        step.bytes()
    );
    let keep_all = cfg.num_hidden_layers * tokens.len() * kv;
    assert!(
        step.bytes() < keep_all / 2,
        "{} of {keep_all}",
        step.bytes()
    );
}

/// `ModelConfig::kv_bytes` (what `gemma info --ctx` prints) bounds what the cache holds, and is
/// reached: evaluate a context in batches and watch the cache.
#[test]
fn kv_estimate_bounds_the_cache_and_is_reached() {
    let dir = fixture_dir("gemma2-window-softcap");
    let model = Model::from_hf_folder(&dir).unwrap();
    let (r, _) = reference(&dir);
    let ctx = 400;
    let tokens: Vec<u32> = r.prompts[0]
        .tokens
        .iter()
        .cycle()
        .take(ctx)
        .copied()
        .collect();
    for batch in [1, 7, 64] {
        let mut cache = model.new_cache(ctx);
        let mut peak = 0;
        for chunk in tokens.chunks(batch) {
            model.forward(chunk, &mut cache, Logits::None, 2).unwrap();
            peak = peak.max(cache.bytes() as u64);
        }
        let estimate = model.config.kv_bytes(ctx, batch);
        assert!(
            peak <= estimate,
            "batch {batch}: held {peak} > estimate {estimate}"
        );
        // Measured between batches, after the drop; during a batch, local layers also hold
        // that batch's positions.
        let cfg = &model.config;
        let locals = cfg
            .layers
            .iter()
            .filter(|l| l.sliding_window.is_some())
            .count() as u64;
        let in_batch = locals * batch as u64 * cfg.kv_dim() as u64 * 8;
        assert!(
            (peak + in_batch) * 10 >= estimate * 9,
            "batch {batch}: held {peak} (+{in_batch} during a batch), estimate {estimate}"
        );
    }
}
