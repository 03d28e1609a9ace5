//! `--precision f32` against the exact answer for the default model's stored weights.
//!
//! `tests/data/exact_reference.json` was made by `scripts/make_exact_reference.py`: a float64
//! NumPy forward pass (`scripts/gemma3_numpy_ref.py`) on the weights dequantized by the `gguf`
//! package, for the prompts of the llama.cpp reference, top-20 logits at the last position. Our
//! f32 numerics must agree with it to f32 rounding, on every prompt, the two longer than the
//! 512-token sliding window included.

use gemma_engine::{LoadOptions, LoadedModel, Logits, Precision};
use serde::Deserialize;

/// Largest accepted |f32 - f64| on a top-20 logit (values around 10-25; measured: 6e-5).
const EXACT_TOL: f32 = 5e-4;

#[derive(Deserialize)]
struct Top {
    id: u32,
    logit: f32,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    prompt_tokens: Vec<u32>,
    top: Vec<Top>,
}

#[derive(Deserialize)]
struct Reference {
    cases: Vec<Case>,
}

#[test]
fn f32_precision_matches_float64_reference() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/data/exact_reference.json"
    );
    let r: Reference = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        r.cases
            .iter()
            .filter(|c| c.prompt_tokens.len() > 1024)
            .count()
            >= 2
    );
    let model_path =
        gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    let m = LoadedModel::load_with(
        &model_path,
        &LoadOptions {
            precision: Some(Precision::F32),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let mut worst_all = 0f32;
    for c in r.cases {
        let mut s = m
            .new_session(Some(c.prompt_tokens.len() + 1), Some(2))
            .unwrap();
        let logits = s.eval(&c.prompt_tokens, Logits::Last).unwrap();
        let worst = c
            .top
            .iter()
            .map(|t| (logits[t.id as usize] - t.logit).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "case {}: largest top-20 difference from float64 {worst:.2e}",
            c.name
        );
        assert!(
            worst <= EXACT_TOL,
            "case {}: f32 logits differ from float64 by {worst}",
            c.name
        );
        let best = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap();
        assert_eq!(best as u32, c.top[0].id, "case {}: argmax", c.name);
        worst_all = worst_all.max(worst);
    }
    eprintln!("largest difference over all cases: {worst_all:.2e}");
}
