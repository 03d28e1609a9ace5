//! Loading a chat template from a Hugging Face `tokenizer_config.json` (and the
//! `chat_template.jinja` file that newer exports keep next to it).

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::{ChatError, ChatTemplate};

/// The file transformers saves a single chat template to, next to `tokenizer_config.json`; it
/// takes precedence over the config's `chat_template` field when present.
pub const CHAT_TEMPLATE_FILE: &str = "chat_template.jinja";

/// A short description of a JSON value's type, for error messages.
fn json_kind(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("the boolean {b}"),
        Json::Number(n) => format!("the number {n}"),
        Json::String(_) => "a string".into(),
        Json::Array(a) => format!("an array of {} items", a.len()),
        Json::Object(_) => "an object".into(),
    }
}

/// A special token field: a string, or an AddedToken object `{"content": ...}`; absent or null
/// is the empty string.
fn token_field(
    path: &Path,
    config: &serde_json::Map<String, Json>,
    field: &str,
) -> Result<String, ChatError> {
    match config.get(field) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(Json::Object(obj)) => match obj.get("content") {
            Some(Json::String(s)) => Ok(s.clone()),
            other => Err(ChatError::Config {
                path: path.to_owned(),
                field: format!("{field}.content"),
                expected: "a string",
                got: other.map_or_else(|| "nothing".into(), json_kind),
            }),
        },
        Some(other) => Err(ChatError::Config {
            path: path.to_owned(),
            field: field.to_owned(),
            expected: "a string or an object with a \"content\" string",
            got: json_kind(other),
        }),
    }
}

/// The `chat_template` field: a string, or a list of `{"name", "template"}` (or an object
/// `{name: template}`) of which the one named "default" is taken (as transformers does without
/// tools). `None` when absent or null.
fn template_field(path: &Path, value: Option<&Json>) -> Result<Option<String>, ChatError> {
    let config_err = |field: String, expected: &'static str, got: String| ChatError::Config {
        path: path.to_owned(),
        field,
        expected,
        got,
    };
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(Json::Array(items)) => {
            let mut names = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let field = |key: &str| format!("chat_template[{i}].{key}");
                let obj = item.as_object().ok_or_else(|| {
                    config_err(
                        format!("chat_template[{i}]"),
                        "an object with \"name\" and \"template\"",
                        json_kind(item),
                    )
                })?;
                let name = match obj.get("name") {
                    Some(Json::String(s)) => s,
                    other => {
                        let got = other.map_or_else(|| "nothing".into(), json_kind);
                        return Err(config_err(field("name"), "a string", got));
                    }
                };
                let template = match obj.get("template") {
                    Some(Json::String(s)) => s,
                    other => {
                        let got = other.map_or_else(|| "nothing".into(), json_kind);
                        return Err(config_err(field("template"), "a string", got));
                    }
                };
                if name == "default" {
                    return Ok(Some(template.clone()));
                }
                names.push(format!("{name:?}"));
            }
            Err(config_err(
                "chat_template".into(),
                "a template named \"default\"",
                format!("templates named [{}]", names.join(", ")),
            ))
        }
        // The in-memory form transformers also accepts: {name: template}.
        Some(Json::Object(map)) => match map.get("default") {
            Some(Json::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(config_err(
                "chat_template.default".into(),
                "a string",
                json_kind(other),
            )),
            None => {
                let names: Vec<String> = map.keys().map(|k| format!("{k:?}")).collect();
                Err(config_err(
                    "chat_template".into(),
                    "a template named \"default\"",
                    format!("templates named [{}]", names.join(", ")),
                ))
            }
        },
        Some(other) => Err(config_err(
            "chat_template".into(),
            "a string or a list of {\"name\", \"template\"} objects",
            json_kind(other),
        )),
    }
}

fn read(path: &Path) -> Result<String, ChatError> {
    std::fs::read_to_string(path).map_err(|source| ChatError::Io {
        path: path.to_owned(),
        source,
    })
}

impl ChatTemplate {
    /// Loads the chat template of a Hugging Face `tokenizer_config.json`, with its `bos_token`
    /// and `eos_token` (strings or `{"content": ...}` objects; absent means empty). A
    /// `chat_template.jinja` file in the same directory takes precedence over the config's
    /// `chat_template` field, as in transformers. Returns `Ok(None)` when there is no template.
    ///
    /// Errors name the file and the field: unreadable file, invalid JSON, a field of the wrong
    /// type, a template list without a "default" entry, or a template that does not compile.
    pub fn from_tokenizer_config(
        path: impl AsRef<Path>,
    ) -> Result<Option<ChatTemplate>, ChatError> {
        let path = path.as_ref();
        let text = read(path)?;
        let json: Json = serde_json::from_str(&text).map_err(|source| ChatError::Json {
            path: path.to_owned(),
            source,
        })?;
        let config = json.as_object().ok_or_else(|| ChatError::Config {
            path: path.to_owned(),
            field: "(top level)".into(),
            expected: "a JSON object",
            got: json_kind(&json),
        })?;
        let bos = token_field(path, config, "bos_token")?;
        let eos = token_field(path, config, "eos_token")?;

        let sibling: Option<PathBuf> = path
            .parent()
            .map(|dir| dir.join(CHAT_TEMPLATE_FILE))
            .filter(|p| p.is_file());
        let (origin, source) = match sibling {
            Some(file) => (file.display().to_string(), read(&file)?),
            None => match template_field(path, config.get("chat_template"))? {
                Some(source) => (format!("{}: chat_template", path.display()), source),
                None => return Ok(None),
            },
        };
        ChatTemplate::with_origin(origin, &source, &bos, &eos).map(Some)
    }
}
