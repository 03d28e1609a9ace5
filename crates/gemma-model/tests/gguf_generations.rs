//! GGUF metadata of every generation resolves as llama.cpp resolves it: the known-shapes table
//! for `query_pre_attn_scalar`, Gemma 2's defaults for absent keys, and per-layer window flags.
//!
//! The files are synthetic (metadata plus a one-row embedding), written with our GGUF writer;
//! the expected values are those of the models' `config.json` files and of llama.cpp's loaders
//! (`src/models/gemma{,2,3}.cpp` in llama-cpp-python 0.3.36's vendored llama.cpp).

use gemma_formats::names::{arch, arch_key, general, tensor};
use gemma_formats::writer::GgufWriter;
use gemma_formats::{GgufFile, Value};
use gemma_model::config::{gguf_query_pre_attn_scalar, KNOWN_SHAPES};
use gemma_model::ModelConfig;

/// A GGUF file with architecture `a`, the given shape, extra keys, and a token embedding.
fn gguf(
    a: &str,
    layers: u32,
    hidden: u32,
    heads: u32,
    head_dim: u32,
    extra: &[(&str, Value)],
) -> GgufFile {
    let mut w = GgufWriter::new();
    w.add(general::ARCHITECTURE, a)
        .add(arch_key(a, arch::BLOCK_COUNT), layers)
        .add(arch_key(a, arch::EMBEDDING_LENGTH), hidden)
        .add(arch_key(a, arch::FEED_FORWARD_LENGTH), 4 * hidden)
        .add(arch_key(a, arch::HEAD_COUNT), heads)
        .add(arch_key(a, arch::HEAD_COUNT_KV), heads / 2)
        .add(arch_key(a, arch::KEY_LENGTH), head_dim)
        .add(arch_key(a, arch::VALUE_LENGTH), head_dim)
        .add(arch_key(a, arch::CONTEXT_LENGTH), 8192u32);
    for (k, v) in extra {
        w.add(arch_key(a, k), v.clone());
    }
    w.add_f32_tensor(
        tensor::TOKEN_EMBD,
        &[hidden as u64, 2],
        &vec![0.0; 2 * hidden as usize],
    );
    GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap()
}

#[test]
fn the_27b_models_take_their_scalar_from_the_table() {
    // Gemma 2 27B: 46 layers, 4608 wide, 32 heads of 128 (config.json: 144).
    let c = ModelConfig::from_gguf(&gguf("gemma2", 46, 4608, 32, 128, &[])).unwrap();
    assert_eq!(c.query_pre_attn_scalar, 144.0);
    // Gemma 3 27B: 62 layers, 5376 wide, 32 heads of 128 (config.json: 168).
    let c = ModelConfig::from_gguf(&gguf("gemma3", 62, 5376, 32, 128, &[])).unwrap();
    assert_eq!(c.query_pre_attn_scalar, 168.0);
    assert!((c.query_scale() - 168f32.powf(-0.5)).abs() < 1e-9);
    // Every entry equals hidden/heads, the rule of the model cards, and differs from head_dim.
    for k in KNOWN_SHAPES {
        assert_eq!(
            k.query_pre_attn_scalar as usize,
            k.hidden_size / k.num_attention_heads
        );
        assert_ne!(k.query_pre_attn_scalar as usize, k.head_dim, "{}", k.model);
        let (v, origin) = gguf_query_pre_attn_scalar(
            k.architecture,
            k.num_hidden_layers,
            k.hidden_size,
            k.num_attention_heads,
            k.head_dim,
        );
        assert_eq!(v, k.query_pre_attn_scalar);
        assert!(
            origin.contains(k.model) && origin.contains("config.json"),
            "{origin}"
        );
    }
}

#[test]
fn other_shapes_use_head_dim() {
    // Gemma 2 9B (42 layers, 3584 wide, 16 heads of 256): config.json says 256 = head_dim.
    let c = ModelConfig::from_gguf(&gguf("gemma2", 42, 3584, 16, 256, &[])).unwrap();
    assert_eq!(c.query_pre_attn_scalar, 256.0);
    // A 27B-like width with another layer count is not the 27B: no guess.
    let c = ModelConfig::from_gguf(&gguf("gemma3", 60, 5376, 32, 128, &[])).unwrap();
    assert_eq!(c.query_pre_attn_scalar, 128.0);
    // Gemma 1 7B: head_dim 256 with 16 heads of a 3072-wide model.
    let c = ModelConfig::from_gguf(&gguf("gemma", 28, 3072, 16, 256, &[])).unwrap();
    assert_eq!(c.query_pre_attn_scalar, 256.0);
    assert_eq!(c.head_dim, 256);
    assert!(c.sliding_window.is_none() && c.attn_logit_softcapping.is_none());
}

#[test]
fn gemma2_files_without_optional_keys_get_llama_cpp_defaults() {
    let c = ModelConfig::from_gguf(&gguf("gemma2", 4, 64, 4, 16, &[])).unwrap();
    assert_eq!(c.sliding_window, Some(4096));
    assert_eq!(c.attn_logit_softcapping, Some(50.0));
    assert_eq!(c.final_logit_softcapping, Some(30.0));
    let local: Vec<bool> = c
        .layers
        .iter()
        .map(|l| l.sliding_window.is_some())
        .collect();
    assert_eq!(local, [true, false, true, false]);
    // Given keys win.
    let c = ModelConfig::from_gguf(&gguf(
        "gemma2",
        4,
        64,
        4,
        16,
        &[
            (arch::SLIDING_WINDOW, Value::U32(8)),
            (arch::ATTN_LOGIT_SOFTCAPPING, Value::F32(15.0)),
            (arch::FINAL_LOGIT_SOFTCAPPING, Value::F32(8.0)),
        ],
    ))
    .unwrap();
    assert_eq!(c.sliding_window, Some(8));
    assert_eq!(c.attn_logit_softcapping, Some(15.0));
    assert_eq!(c.final_logit_softcapping, Some(8.0));
}

#[test]
fn per_layer_window_flags_are_honoured() {
    let flags = vec![true, false, false, true];
    let c = ModelConfig::from_gguf(&gguf(
        "gemma3",
        4,
        64,
        4,
        16,
        &[
            (arch::SLIDING_WINDOW, Value::U32(16)),
            (arch::SLIDING_WINDOW_PATTERN, Value::from(flags.clone())),
        ],
    ))
    .unwrap();
    let local: Vec<bool> = c
        .layers
        .iter()
        .map(|l| l.sliding_window.is_some())
        .collect();
    assert_eq!(local, flags);
    // A list of the wrong length is an error naming the key.
    let e = ModelConfig::from_gguf(&gguf(
        "gemma3",
        4,
        64,
        4,
        16,
        &[
            (arch::SLIDING_WINDOW, Value::U32(16)),
            (arch::SLIDING_WINDOW_PATTERN, Value::from(vec![true, false])),
        ],
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("sliding_window_pattern") && e.contains("4 booleans"),
        "{e}"
    );
}
