//! `config.json` resolution for each Gemma generation, on the published configs' shapes.

use super::*;

/// google/gemma-2b's config.json (Gemma 1, multi-query).
const GEMMA_2B: &str = r#"{"architectures":["GemmaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
"bos_token_id":2,"eos_token_id":1,"head_dim":256,"hidden_act":"gelu","hidden_size":2048,"initializer_range":0.02,
"intermediate_size":16384,"max_position_embeddings":8192,"model_type":"gemma","num_attention_heads":8,
"num_hidden_layers":18,"num_key_value_heads":1,"pad_token_id":0,"rms_norm_eps":1e-06,"rope_scaling":null,
"rope_theta":10000.0,"torch_dtype":"bfloat16","transformers_version":"4.38.0.dev0","use_cache":true,"vocab_size":256000}"#;

/// google/gemma-2-2b's config.json (grouped-query, soft-capping, alternating windows).
const GEMMA2_2B: &str = r#"{"architectures":["Gemma2ForCausalLM"],"attention_bias":false,"attention_dropout":0.0,
"attn_logit_softcapping":50.0,"bos_token_id":2,"cache_implementation":"hybrid","eos_token_id":[1,107],
"final_logit_softcapping":30.0,"head_dim":256,"hidden_act":"gelu_pytorch_tanh","hidden_activation":"gelu_pytorch_tanh",
"hidden_size":2304,"initializer_range":0.02,"intermediate_size":9216,"max_position_embeddings":8192,
"model_type":"gemma2","num_attention_heads":8,"num_hidden_layers":26,"num_key_value_heads":4,"pad_token_id":0,
"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_theta":10000.0,"sliding_window":4096,
"torch_dtype":"float32","transformers_version":"4.42.4","use_cache":true,"vocab_size":256000}"#;

/// google/gemma-3-4b-it's text_config shape (linear RoPE scaling on global layers).
const GEMMA3_4B: &str = r#"{"architectures":["Gemma3ForConditionalGeneration"],"boi_token_index":255999,
"eoi_token_index":256000,"eos_token_id":[1,106],"image_token_index":262144,"initializer_range":0.02,
"mm_tokens_per_image":256,"model_type":"gemma3","text_config":{"hidden_size":2560,"intermediate_size":10240,
"model_type":"gemma3_text","num_hidden_layers":34,"rope_scaling":{"factor":8.0,"rope_type":"linear"},
"sliding_window":1024,"num_attention_heads":8,"num_key_value_heads":4,"head_dim":256,"query_pre_attn_scalar":256,
"vocab_size":262208,"rope_theta":1000000.0,"rope_local_base_freq":10000.0,"max_position_embeddings":131072},
"torch_dtype":"bfloat16","transformers_version":"4.50.0.dev0","vision_config":{"hidden_size":1152}}"#;

/// google/gemma-3-270m's config.json (newer `layer_types` form).
const GEMMA3_270M: &str = include_str!("../../tests/data/gemma-3-270m-config.json");

fn globals(c: &ModelConfig) -> Vec<usize> {
    (0..c.num_hidden_layers)
        .filter(|&i| c.layers[i].sliding_window.is_none())
        .collect()
}

#[test]
fn gemma1_is_multi_query_without_windows() {
    let c = ModelConfig::from_hf_json(GEMMA_2B).unwrap();
    assert_eq!(
        (c.num_attention_heads, c.num_key_value_heads, c.head_dim),
        (8, 1, 256)
    );
    assert_eq!(c.sliding_window, None);
    assert_eq!(globals(&c).len(), 18);
    assert!(c
        .layers
        .iter()
        .all(|l| l.rope_theta == 10_000.0 && l.rope_scaling_factor == 1.0));
    assert_eq!(c.query_scale(), 1.0 / 16.0);
    assert_eq!(
        (c.attn_logit_softcapping, c.final_logit_softcapping),
        (None, None)
    );
}

#[test]
fn gemma2_alternates_windows_and_caps() {
    let c = ModelConfig::from_hf_json(GEMMA2_2B).unwrap();
    assert_eq!((c.num_attention_heads, c.num_key_value_heads), (8, 4));
    assert_eq!(c.attn_logit_softcapping, Some(50.0));
    assert_eq!(c.final_logit_softcapping, Some(30.0));
    // Even layers are local (window 4096), odd layers global.
    assert_eq!(
        globals(&c),
        (0..26).filter(|i| i % 2 == 1).collect::<Vec<_>>()
    );
    assert_eq!(c.layers[0].sliding_window, Some(4096));
}

#[test]
fn gemma3_multimodal_reads_text_config_and_scales_global_rope_only() {
    let c = ModelConfig::from_hf_json(GEMMA3_4B).unwrap();
    assert_eq!(c.architecture, "gemma3");
    assert_eq!(
        (c.hidden_size, c.num_hidden_layers, c.vocab_size),
        (2560, 34, 262_208)
    );
    assert_eq!(globals(&c), vec![5, 11, 17, 23, 29]);
    for (i, l) in c.layers.iter().enumerate() {
        if globals(&c).contains(&i) {
            assert_eq!(
                (l.rope_theta, l.rope_scaling_factor),
                (1_000_000.0, 8.0),
                "layer {i}"
            );
        } else {
            assert_eq!(
                (l.rope_theta, l.rope_scaling_factor, l.sliding_window),
                (10_000.0, 1.0, Some(1024))
            );
        }
    }
}

#[test]
fn layer_types_and_pattern_forms_agree() {
    let a = ModelConfig::from_hf_json(GEMMA3_270M).unwrap();
    let without: String = {
        let mut v: Value = serde_json::from_str(GEMMA3_270M).unwrap();
        v.as_object_mut().unwrap().remove("layer_types");
        v.to_string()
    };
    assert_eq!(ModelConfig::from_hf_json(&without).unwrap(), a);
    assert_eq!(globals(&a), vec![5, 11, 17]);
}

#[test]
fn fields_we_cannot_honour_are_named() {
    let edit = |f: &dyn Fn(&mut Map<String, Value>)| {
        let mut v: Value = serde_json::from_str(GEMMA3_270M).unwrap();
        f(v.as_object_mut().unwrap());
        ModelConfig::from_hf_json(&v.to_string())
            .unwrap_err()
            .to_string()
    };
    let e = edit(&|m| {
        m.insert("mystery_knob".into(), Value::from(3));
    });
    assert!(e.contains("mystery_knob"), "{e}");
    let e = edit(&|m| {
        m.insert(
            "rope_scaling".into(),
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
        );
    });
    assert!(e.contains("rope_scaling"), "{e}");
    let e = edit(&|m| {
        m.insert("hidden_activation".into(), Value::from("silu"));
    });
    assert!(e.contains("hidden_activation"), "{e}");
    let e = edit(&|m| {
        m.insert("layer_types".into(), serde_json::json!(["full_attention"]));
    });
    assert!(e.contains("layer_types"), "{e}");
    let e = edit(&|m| {
        m.insert("use_bidirectional_attention".into(), Value::from(true));
    });
    assert!(e.contains("use_bidirectional_attention"), "{e}");
    let e = edit(&|m| {
        m.remove("hidden_size");
    });
    assert!(e.contains("hidden_size"), "{e}");
    assert!(ModelConfig::from_hf_json("{not json")
        .unwrap_err()
        .to_string()
        .contains("config.json"));
    let e = ModelConfig::from_hf_json(r#"{"architectures":["LlamaForCausalLM"]}"#)
        .unwrap_err()
        .to_string();
    assert!(e.contains("LlamaForCausalLM"), "{e}");
}

/// The same Gemma 3 4B text model as transformers 5 writes it: `rope_parameters` per layer
/// kind instead of `rope_theta` / `rope_local_base_freq` / `rope_scaling`, `dtype`.
const GEMMA3_4B_V5: &str = r#"{"architectures":["Gemma3ForCausalLM"],"model_type":"gemma3_text",
"hidden_size":2560,"intermediate_size":10240,"num_hidden_layers":34,"sliding_window":1024,
"num_attention_heads":8,"num_key_value_heads":4,"head_dim":256,"query_pre_attn_scalar":256,
"vocab_size":262208,"max_position_embeddings":131072,"dtype":"bfloat16","_sliding_window_pattern":6,
"rope_parameters":{"full_attention":{"rope_type":"linear","factor":8.0,"rope_theta":1000000.0},
"sliding_attention":{"rope_type":"default","rope_theta":10000.0}},"transformers_version":"5.24.0"}"#;

#[test]
fn transformers5_rope_parameters_equal_the_older_fields() {
    let old = ModelConfig::from_hf_json(GEMMA3_4B).unwrap();
    let new = ModelConfig::from_hf_json(GEMMA3_4B_V5).unwrap();
    assert_eq!(old, new);
    // A scaled sliding-attention entry is not something Gemma does: named, not ignored.
    let scaled_local = GEMMA3_4B_V5.replace(
        r#""sliding_attention":{"rope_type":"default""#,
        r#""sliding_attention":{"rope_type":"linear","factor":2.0"#,
    );
    let e = ModelConfig::from_hf_json(&scaled_local)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("rope_parameters") && e.contains("sliding_attention"),
        "{e}"
    );
    // Gemma 1/2 in transformers 5: one flat entry.
    let flat = GEMMA2_2B.replace(
        r#""rope_theta":10000.0"#,
        r#""rope_parameters":{"rope_type":"default","rope_theta":20000.0}"#,
    );
    let c = ModelConfig::from_hf_json(&flat).unwrap();
    assert!(c.layers.iter().all(|l| l.rope_theta == 20_000.0));
}
