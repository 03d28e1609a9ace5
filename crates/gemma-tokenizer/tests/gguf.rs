//! `Tokenizer::from_gguf` on small in-memory GGUF files: llama.cpp's defaults for absent
//! optional keys, and errors that name the missing or bad key.

use gemma_formats::writer::GgufWriter;
use gemma_formats::GgufFile;
use gemma_tokenizer::{Tokenizer, TokenizerError};

const TOKENS: &[&str] = &["<unk>", "<s>", "</s>", "▁", "a", "▁a", "<0x62>"];

/// A writer with a valid small "llama" vocabulary; `edit` may change or drop keys.
fn file(
    edit: impl FnOnce(&mut Vec<(&'static str, gemma_formats::Value)>),
) -> Result<Tokenizer, TokenizerError> {
    let tokens: Vec<String> = TOKENS.iter().map(|s| s.to_string()).collect();
    let mut kv: Vec<(&'static str, gemma_formats::Value)> = vec![
        ("tokenizer.ggml.model", "llama".into()),
        ("tokenizer.ggml.tokens", tokens.into()),
        (
            "tokenizer.ggml.scores",
            vec![0.0f32, 0.0, 0.0, -3.0, -3.0, -1.0, 0.0].into(),
        ),
        (
            "tokenizer.ggml.token_type",
            vec![2i32, 3, 3, 1, 1, 1, 6].into(),
        ),
    ];
    edit(&mut kv);
    let mut w = GgufWriter::new();
    for (k, v) in kv {
        w.add(k, v);
    }
    let f = GgufFile::from_bytes(w.to_bytes().expect("write")).expect("parse");
    Tokenizer::from_gguf(&f)
}

fn drop_key(kv: &mut Vec<(&'static str, gemma_formats::Value)>, key: &str) {
    kv.retain(|(k, _)| *k != key);
}

#[test]
fn absent_optional_keys_take_llama_cpp_defaults() {
    let t = file(|_| {}).unwrap();
    assert_eq!(
        (t.unk(), t.bos(), t.eos(), t.pad()),
        (Some(0), Some(1), Some(2), None)
    );
    assert!(t.add_bos() && !t.add_eos() && t.add_space_prefix());
    // Space prefix: "a" is encoded as "▁a"; byte fallback uses <0x62> for "b".
    assert_eq!(t.encode("ab", true, false), [1, 5, 6]);
    // llama_detokenize drops the prefix space from the first token only (here the hidden BOS).
    assert_eq!(t.decode(&[1, 5, 6], false), " ab");
    assert_eq!(t.decode(&[5, 6], false), "ab");
}

#[test]
fn given_keys_override_defaults_and_bad_ids_fall_back() {
    let t = file(|kv| {
        kv.push(("tokenizer.ggml.bos_token_id", 2u32.into()));
        kv.push(("tokenizer.ggml.eos_token_id", 999u32.into())); // out of range: default kept
        kv.push(("tokenizer.ggml.add_bos_token", false.into()));
        kv.push(("tokenizer.ggml.add_space_prefix", false.into()));
    })
    .unwrap();
    assert_eq!((t.bos(), t.eos()), (Some(2), Some(2)));
    assert!(!t.add_bos() && !t.add_space_prefix());
    assert_eq!(t.encode("a", true, false), [4]);
}

#[test]
fn scores_and_types_are_optional() {
    let t = file(|kv| {
        drop_key(kv, "tokenizer.ggml.scores");
        drop_key(kv, "tokenizer.ggml.token_type");
    })
    .unwrap();
    assert_eq!(t.vocab_size(), TOKENS.len());
    assert!(!t.is_control(1));
}

#[test]
fn errors_name_the_key() {
    let e = file(|kv| drop_key(kv, "tokenizer.ggml.model")).unwrap_err();
    assert!(
        matches!(
            e,
            TokenizerError::MissingKey {
                key: "tokenizer.ggml.model"
            }
        ),
        "{e}"
    );
    let e = file(|kv| drop_key(kv, "tokenizer.ggml.tokens")).unwrap_err();
    assert!(
        matches!(
            e,
            TokenizerError::MissingKey {
                key: "tokenizer.ggml.tokens"
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("tokenizer.ggml.tokens"));

    let e = file(|kv| kv[0].1 = "gpt2".into()).unwrap_err();
    assert!(
        matches!(&e, TokenizerError::UnsupportedModel { model } if model == "gpt2"),
        "{e}"
    );
    assert!(e.to_string().contains("gpt2") && e.to_string().contains("tokenizer.ggml.model"));

    let e = file(|kv| kv[1].1 = vec![1u32, 2].into()).unwrap_err();
    assert!(
        matches!(
            e,
            TokenizerError::BadKey {
                key: "tokenizer.ggml.tokens",
                ..
            }
        ),
        "{e}"
    );
    let e = file(|kv| kv[0].1 = 7u32.into()).unwrap_err();
    assert!(
        matches!(
            e,
            TokenizerError::BadKey {
                key: "tokenizer.ggml.model",
                ..
            }
        ),
        "{e}"
    );

    let e = file(|kv| kv[2].1 = vec![0.0f32; 3].into()).unwrap_err();
    assert!(
        matches!(&e, TokenizerError::LengthMismatch { what, expected: 7, got: 3 } if what == "tokenizer.ggml.scores"),
        "{e}"
    );
    let e = file(|kv| kv[3].1 = vec![1i32; 2].into()).unwrap_err();
    assert!(e.to_string().contains("tokenizer.ggml.token_type"), "{e}");
}
