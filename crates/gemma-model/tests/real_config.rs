//! The configuration resolved from the real default model (Gemma 3 270M), checked against
//! the facts of its published Hugging Face config (18 layers, 640 wide, 4 query heads sharing
//! one KV head of 256, window 512, every sixth layer global, RoPE bases 1e6 and 1e4).

use std::sync::Arc;

use gemma_formats::GgufFile;
use gemma_model::{Model, ModelConfig};

fn model_file() -> GgufFile {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    GgufFile::open(&path).expect("open default model")
}

#[test]
fn default_model_config_resolves_as_published() {
    let cfg = ModelConfig::from_gguf(&model_file()).unwrap();
    assert_eq!(cfg.architecture, "gemma3");
    assert_eq!(cfg.vocab_size, 262_144);
    assert_eq!(cfg.hidden_size, 640);
    assert_eq!(cfg.intermediate_size, 2048);
    assert_eq!(cfg.num_hidden_layers, 18);
    assert_eq!(
        (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim
        ),
        (4, 1, 256)
    );
    assert_eq!(cfg.sliding_window, Some(512));
    assert_eq!(cfg.rope_theta, 1_000_000.0);
    assert_eq!(cfg.rope_local_base_freq, 10_000.0);
    assert_eq!(cfg.query_scale(), 1.0 / 16.0);
    assert_eq!(cfg.attn_logit_softcapping, None);
    assert_eq!(cfg.final_logit_softcapping, None);
    let global: Vec<usize> = (0..18)
        .filter(|&i| cfg.layers[i].sliding_window.is_none())
        .collect();
    assert_eq!(global, vec![5, 11, 17]);
    for (i, l) in cfg.layers.iter().enumerate() {
        let want = if global.contains(&i) {
            1_000_000.0
        } else {
            10_000.0
        };
        assert_eq!(l.rope_theta, want, "layer {i}");
        assert_eq!(l.rope_scaling_factor, 1.0);
    }
}

#[test]
fn default_model_binds_tied_output_and_all_norms() {
    let model = Model::from_gguf(Arc::new(model_file())).unwrap();
    let w = &model.weights;
    assert_eq!(
        w.output.name, "token_embd.weight",
        "Gemma ties the output projection"
    );
    assert_eq!(w.layers.len(), 18);
    for l in &w.layers {
        assert!(l.q_norm.is_some() && l.k_norm.is_some());
        assert!(l.post_attn_norm.is_some() && l.post_ffn_norm.is_some());
    }
}

/// google/gemma-3-270m's published config.json.
const HF_270M: &str = include_str!("data/gemma-3-270m-config.json");

#[test]
fn hf_config_and_gguf_metadata_resolve_to_the_same_config() {
    let from_gguf = ModelConfig::from_gguf(&model_file()).unwrap();
    let from_hf = ModelConfig::from_hf_json(HF_270M).unwrap();
    assert_eq!(from_hf, from_gguf);
}
