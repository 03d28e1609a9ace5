//! Loading the golden data made by scripts/make_chat_template_golden.py: the conversations,
//! transformers' renders of them, and the exact templates used.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;

use gemma_chat::{ChatTemplate, Message};
use serde_json::Value;

/// `tests/data/<name>`.
pub fn data_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

fn read_json(name: &str) -> Value {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Messages from a JSON array of `{"role", "content"}`.
pub fn messages(value: &Value) -> Vec<Message> {
    serde_json::from_value(value.clone()).expect("messages")
}

/// The golden file and the conversations by name.
pub struct Golden {
    pub json: Value,
    pub conversations: HashMap<String, Vec<Message>>,
}

impl Golden {
    pub fn load() -> Golden {
        let conversations = read_json("conversations.json")
            .as_array()
            .expect("conversations array")
            .iter()
            .map(|c| {
                let name = c["name"].as_str().expect("name").to_owned();
                (name, messages(&c["messages"]))
            })
            .collect();
        Golden {
            json: read_json("chat_golden.json"),
            conversations,
        }
    }

    /// The recorded template `name` ("gemma1" or "gemma3"), compiled.
    pub fn template(&self, name: &str) -> ChatTemplate {
        let t = &self.json["templates"][name];
        ChatTemplate::with_origin(
            format!(
                "{} tokenizer_config.json",
                t["npm_package"].as_str().expect("package")
            ),
            t["chat_template"].as_str().expect("chat_template"),
            t["bos_token"].as_str().expect("bos_token"),
            t["eos_token"].as_str().expect("eos_token"),
        )
        .expect("recorded template compiles")
    }

    pub fn cases(&self) -> &[Value] {
        self.json["cases"].as_array().expect("cases")
    }

    pub fn features(&self) -> &[Value] {
        self.json["features"].as_array().expect("features")
    }

    pub fn conversation(&self, case: &Value) -> &[Message] {
        let name = case["conversation"].as_str().expect("conversation name");
        &self.conversations[name]
    }
}
