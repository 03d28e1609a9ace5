//! `gemma run --model <folder>` on malformed Hugging Face folders: a non-zero exit with one
//! `error: ...` line on stderr naming the file and what is wrong in it, never a panic.
//!
//! The folders are copies of the conformance fixture
//! `crates/gemma-engine/tests/data/conformance/gemma3-window-5to1` (vocabulary of 256) with a
//! small synthetic `tokenizer.json` (ids below 10), each mutated in one way; the unmutated
//! folder runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-engine/tests/data/conformance")
        .join(name)
}

/// A tiny Gemma-like `tokenizer.json`: BPE over "h", "i", "▁", `<bos>` added in front.
fn tokenizer_json() -> Value {
    let special = |id: u32, content: &str| {
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let bos = json!({"SpecialToken": {"id": "<bos>", "type_id": 0}});
    let seq = |id: &str, type_id: u32| json!({"Sequence": {"id": id, "type_id": type_id}});
    json!({
        "version": "1.0", "truncation": null, "padding": null,
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

/// A runnable folder: the fixture's config, generation config and weights, and the tokenizer.
fn folder(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(name)).unwrap() {
        let p = entry.unwrap().path();
        let f = p.file_name().unwrap().to_str().unwrap().to_string();
        if f.ends_with("config.json") || f.starts_with("model") {
            std::fs::copy(&p, dir.path().join(&f)).unwrap();
        }
    }
    let tok = serde_json::to_string(&tokenizer_json()).unwrap();
    std::fs::write(dir.path().join("tokenizer.json"), tok).unwrap();
    dir
}

/// `gemma run --model <model> hi hi` (greedy, 2 tokens): exit status and stderr.
fn run(model: &Path) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gemma"))
        .args(["run", "--temperature", "0", "-n", "2", "--model"])
        .arg(model)
        .arg("hi hi")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that `gemma run` fails cleanly on `model`: exit code 1, stderr exactly one line
/// `error: ...` containing every one of `needles`, and no trace of a panic.
fn fails_with(model: &Path, needles: &[&str]) {
    let (code, stderr) = run(model);
    assert_eq!(code, Some(1), "exit status; stderr:\n{stderr}");
    for bad in ["panicked", "RUST_BACKTRACE", "backtrace"] {
        assert!(!stderr.contains(bad), "panic trace on stderr:\n{stderr}");
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got:\n{stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    for n in needles {
        assert!(lines[0].contains(n), "error lacks {n:?}: {stderr}");
    }
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = dir.join("config.json");
    let mut cfg: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut cfg);
    std::fs::write(&path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
}

const SINGLE: &str = "gemma3-window-5to1";

#[test]
fn the_unmutated_folder_runs() {
    let dir = folder(SINGLE);
    let (code, stderr) = run(dir.path());
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn nonexistent_model() {
    fails_with(
        Path::new("/nonexistent"),
        &["/nonexistent", "does not exist"],
    );
}

#[test]
fn bad_config_json() {
    let dir = folder(SINGLE);
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    fails_with(dir.path(), &["config.json"]);

    let dir = folder(SINGLE);
    let text = std::fs::read_to_string(dir.path().join("config.json")).unwrap();
    std::fs::write(dir.path().join("config.json"), &text[..text.len() / 2]).unwrap();
    fails_with(dir.path(), &["config.json", "JSON"]);

    let dir = folder(SINGLE);
    edit_config(dir.path(), |c| {
        c.insert("hidden_size".into(), json!("32"));
    });
    fails_with(dir.path(), &["config.json", "hidden_size", "\"32\""]);

    let dir = folder(SINGLE);
    edit_config(dir.path(), |c| {
        c.insert("architectures".into(), json!(["LlamaForCausalLM"]));
    });
    fails_with(
        dir.path(),
        &["config.json", "architectures", "LlamaForCausalLM"],
    );

    let dir = folder(SINGLE);
    edit_config(dir.path(), |c| {
        c.insert("num_hidden_layers".into(), json!(u32::MAX));
        c.remove("layer_types");
    });
    fails_with(dir.path(), &["config.json", "num_hidden_layers"]);
}

#[test]
fn checkpoint_disagreeing_with_the_config() {
    let dir = folder(SINGLE);
    edit_config(dir.path(), |c| {
        c.insert("vocab_size".into(), json!(300));
    });
    fails_with(
        dir.path(),
        &["model.safetensors", "model.embed_tokens.weight", "300"],
    );

    let dir = folder(SINGLE);
    let st = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&st).unwrap();
    std::fs::write(&st, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(dir.path(), &["model.safetensors", "tensor"]);

    let dir = folder("gemma1-mqa");
    let shard = "model-00002-of-00003.safetensors";
    std::fs::remove_file(dir.path().join(shard)).unwrap();
    fails_with(dir.path(), &["model.safetensors.index.json", shard]);
}

#[test]
fn bad_tokenizer_files() {
    let dir = folder(SINGLE);
    let tok = dir.path().join("tokenizer.json");
    let bytes = std::fs::read(&tok).unwrap();
    std::fs::write(&tok, &bytes[..bytes.len() * 2 / 3]).unwrap();
    fails_with(dir.path(), &["tokenizer.json", "JSON"]);

    let dir = folder(SINGLE);
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 5}").unwrap();
    fails_with(dir.path(), &["tokenizer.json"]);

    let dir = folder(SINGLE);
    let cfg = json!({"bos_token": 5});
    std::fs::write(dir.path().join("tokenizer_config.json"), cfg.to_string()).unwrap();
    fails_with(dir.path(), &["tokenizer_config.json", "bos_token"]);

    let dir = folder(SINGLE);
    for eos in [json!("1"), json!(-1), json!(300)] {
        let gen = json!({ "eos_token_id": eos });
        std::fs::write(dir.path().join("generation_config.json"), gen.to_string()).unwrap();
        fails_with(dir.path(), &["generation_config.json", "eos_token_id"]);
    }
}
