//! `ChatTemplate::from_tokenizer_config`: the forms of `chat_template`, `bos_token` and
//! `eos_token` transformers writes, the `chat_template.jinja` file, and errors that name the
//! file and field for malformed configs.

mod common;

use std::path::{Path, PathBuf};

use common::Golden;
use gemma_chat::{ChatError, ChatTemplate, Message, CHAT_TEMPLATE_FILE};
use serde_json::json;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn config(dir: &Path, value: serde_json::Value) -> PathBuf {
    write(dir, "tokenizer_config.json", &value.to_string())
}

fn load(path: &Path) -> Result<Option<ChatTemplate>, ChatError> {
    ChatTemplate::from_tokenizer_config(path)
}

const SIMPLE: &str = "{{ bos_token }}{% for m in messages %}{{ m.role }}:{{ m.content }};{% endfor %}{{ eos_token }}";

#[test]
fn string_template_with_string_and_object_tokens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(
        dir.path(),
        json!({
            "chat_template": SIMPLE,
            "bos_token": {"__type": "AddedToken", "content": "<bos>", "lstrip": false},
            "eos_token": "<eos>",
        }),
    );
    let t = load(&path).expect("loads").expect("has a template");
    assert_eq!(t.source(), SIMPLE);
    assert_eq!((t.bos_token(), t.eos_token()), ("<bos>", "<eos>"));
    assert_eq!(
        t.render(&[Message::user("hi")], false).expect("render"),
        "<bos>user:hi;<eos>"
    );
    assert!(
        t.origin().ends_with("tokenizer_config.json: chat_template"),
        "{}",
        t.origin()
    );
}

#[test]
fn missing_or_null_template_is_none_and_tokens_default_to_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(dir.path(), json!({"bos_token": "<bos>"}));
    assert!(load(&path).expect("loads").is_none());
    let path = config(dir.path(), json!({"chat_template": null}));
    assert!(load(&path).expect("loads").is_none());
    let path = config(dir.path(), json!({"chat_template": SIMPLE}));
    let t = load(&path).expect("loads").expect("template");
    assert_eq!((t.bos_token(), t.eos_token()), ("", ""));
}

#[test]
fn named_templates_take_default() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(
        dir.path(),
        json!({
            "chat_template": [
                {"name": "tool_use", "template": "TOOLS"},
                {"name": "default", "template": "DEFAULT"},
            ],
        }),
    );
    let t = load(&path).expect("loads").expect("template");
    assert_eq!(t.source(), "DEFAULT");
    let path = config(
        dir.path(),
        json!({"chat_template": {"rag": "R", "default": "D"}}),
    );
    assert_eq!(load(&path).expect("loads").expect("template").source(), "D");

    let path = config(
        dir.path(),
        json!({"chat_template": [{"name": "rag", "template": "R"}]}),
    );
    match load(&path) {
        Err(ChatError::Config { field, got, .. }) => {
            assert_eq!(field, "chat_template");
            assert!(got.contains("\"rag\""), "{got}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn chat_template_jinja_takes_precedence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = config(
        dir.path(),
        json!({"chat_template": "FROM CONFIG", "eos_token": "</s>"}),
    );
    write(dir.path(), CHAT_TEMPLATE_FILE, "FROM FILE {{ eos_token }}");
    let t = load(&path).expect("loads").expect("template");
    assert_eq!(
        t.render(&[Message::user("x")], false).expect("render"),
        "FROM FILE </s>"
    );
    assert!(t.origin().ends_with(CHAT_TEMPLATE_FILE), "{}", t.origin());
}

#[test]
fn malformed_configs_name_file_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (json!({"chat_template": 5}), "chat_template"),
        (json!({"chat_template": {"rag": "x"}}), "chat_template"),
        (
            json!({"chat_template": {"default": 1}}),
            "chat_template.default",
        ),
        (json!({"chat_template": true}), "chat_template"),
        (json!({"chat_template": ["x"]}), "chat_template[0]"),
        (
            json!({"chat_template": [{"name": 1, "template": "x"}]}),
            "chat_template[0].name",
        ),
        (
            json!({"chat_template": [{"name": "default"}]}),
            "chat_template[0].template",
        ),
        (
            json!({"chat_template": SIMPLE, "bos_token": 3}),
            "bos_token",
        ),
        (
            json!({"chat_template": SIMPLE, "eos_token": {"text": "</s>"}}),
            "eos_token.content",
        ),
        (json!(["not", "an", "object"]), "(top level)"),
    ];
    for (value, want_field) in cases {
        let path = config(dir.path(), value.clone());
        match load(&path) {
            Err(err @ ChatError::Config { .. }) => {
                let ChatError::Config { path: p, field, .. } = &err else {
                    unreachable!()
                };
                assert_eq!(p, &path);
                assert_eq!(field, want_field, "{value}");
                let text = err.to_string();
                assert!(
                    text.contains("tokenizer_config.json") && text.contains(want_field),
                    "{text}"
                );
            }
            other => panic!("{value}: {other:?}"),
        }
    }
}

#[test]
fn unreadable_invalid_and_uncompilable_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope.json");
    assert!(matches!(load(&missing), Err(ChatError::Io { path, .. }) if path == missing));

    let path = write(dir.path(), "tokenizer_config.json", "{\"chat_template\": ");
    match load(&path) {
        Err(err @ ChatError::Json { .. }) => assert!(err.to_string().contains("line 1"), "{err}"),
        other => panic!("{other:?}"),
    }

    let path = config(
        dir.path(),
        json!({"chat_template": "ok\n{% for m in messages %}"}),
    );
    match load(&path) {
        Err(ChatError::Syntax { origin, .. }) => {
            assert!(
                origin.contains("tokenizer_config.json: chat_template"),
                "{origin}"
            )
        }
        other => panic!("{other:?}"),
    }

    let path = write(
        dir.path(),
        "tokenizer_config.json",
        "\u{feff}\0\u{1}garbage",
    );
    assert!(load(&path).is_err());
}

/// The recorded Gemma configs' fields round-trip through a config file: what transformers
/// rendered from the real file is what the loaded template renders.
#[test]
fn recorded_templates_load_from_a_config_file() {
    let golden = Golden::load();
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["gemma1", "gemma3"] {
        let t = &golden.json["templates"][name];
        let path = config(
            dir.path(),
            json!({
                "chat_template": t["chat_template"],
                "bos_token": t["bos_token"],
                "eos_token": {"content": t["eos_token"]},
            }),
        );
        let loaded = load(&path).expect("loads").expect("template");
        let case = golden
            .cases()
            .iter()
            .find(|c| c["template"] == name && c["conversation"] == "multi_turn")
            .expect("case");
        let conv = golden.conversation(case);
        let agp = case["add_generation_prompt"].as_bool().expect("agp");
        assert_eq!(
            loaded.render(conv, agp).expect("render"),
            case["output"].as_str().expect("output")
        );
    }
}
