//! Perplexity of the default model on Macbeth, Act I, against llama.cpp's `llama-perplexity` on
//! the same file, model and context (tests/data/shakespeare/llama_perplexity.json, made by
//! scripts/make_perplexity_reference.py): within 1%, with the same number of chunks; and the
//! first chunks within 0.1% of llama.cpp's position-by-position values.

use std::path::PathBuf;
use std::time::Instant;

use gemma_engine::LoadedModel;
use gemma_eval::{perplexity, read_text_file, PerplexityOptions};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/shakespeare")
        .join(name)
}

#[test]
fn perplexity_on_macbeth_is_within_one_percent_of_llama_perplexity() {
    let golden: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("llama_perplexity.json")).unwrap())
            .unwrap();
    let llama_ppl = golden["ppl"].as_f64().unwrap();
    let llama_unc = golden["ppl_uncertainty"].as_f64().unwrap();
    let llama_chunks = golden["n_chunks"].as_u64().unwrap() as usize;
    let ctx = golden["ctx"].as_u64().unwrap() as usize;
    assert_eq!(golden["model"], "gemma-3-270m-q4_k_m.gguf");

    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    let model = LoadedModel::load(&path).unwrap();
    let text = read_text_file(&data("macbeth_act1.txt")).unwrap();
    let opts = PerplexityOptions { ctx, threads: 2 };
    let t = Instant::now();
    let r = perplexity(&model, &text, &opts, |_| {}).unwrap();
    let ratio = r.ppl / llama_ppl;
    println!(
        "ours PPL = {:.4} +/- {:.5}, llama.cpp PPL = {llama_ppl:.4} +/- {llama_unc:.5}, \
         ratio {ratio:.5}, {} chunks of {ctx}, {:.1} s",
        r.ppl,
        r.ppl_uncertainty,
        r.chunks,
        t.elapsed().as_secs_f64()
    );
    assert_eq!(
        r.chunks, llama_chunks,
        "chunk count differs from llama.cpp's"
    );
    assert_eq!(r.scored, llama_chunks * (ctx - ctx / 2 - 1));
    assert!(
        (ratio - 1.0).abs() < 0.01,
        "PPL {} is not within 1% of llama.cpp's {llama_ppl}",
        r.ppl
    );
    // llama.cpp evaluating position by position without flash attention (the numerics that
    // `mixed` reproduces bit for bit on AVX2/AVX-512): the running values of the first chunks
    // agree to its printed 4 decimals; 0.1% leaves room for other kernel levels and still
    // catches any error of protocol (tokens, BOS, scored positions), which moves them by
    // percents.
    let exact = golden["position_by_position"]["chunk_ppl"]
        .as_array()
        .unwrap();
    for (i, want) in exact.iter().enumerate() {
        let want = want.as_f64().unwrap();
        println!(
            "chunk {}: ours {:.4}, llama.cpp position by position {want:.4}",
            i + 1,
            r.chunk_ppl[i]
        );
        assert!(
            (r.chunk_ppl[i] / want - 1.0).abs() < 1e-3,
            "running PPL after chunk {}: {} vs llama.cpp's {want} (position by position)",
            i + 1,
            r.chunk_ppl[i]
        );
    }
    // The uncertainty is computed as llama.cpp does: it scales with the PPL.
    assert!(
        (r.ppl_uncertainty / llama_unc - 1.0).abs() < 0.02,
        "uncertainty {} vs llama.cpp's {llama_unc}",
        r.ppl_uncertainty
    );
}
