//! The tokenizer of a Hugging Face model folder: `tokenizer.json` through the `tokenizers`
//! crate, plus the special ids that `tokenizer_config.json` and `generation_config.json` give.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{HfTokenizer, TokenizerError};

/// The tokenizer file of a model folder.
pub const TOKENIZER_JSON: &str = "tokenizer.json";
/// Tokenizer settings (special tokens, chat template).
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
/// Generation defaults (end-of-generation ids).
pub const GENERATION_CONFIG: &str = "generation_config.json";

/// Gemma's end-of-turn token, which ends generation in chat even where a folder's files do
/// not list it (llama.cpp recognises it by text too).
pub const END_OF_TURN: &str = "<end_of_turn>";

/// A `tokenizer.json` tokenizer with its model's BOS and end-of-generation ids.
#[derive(Debug, Clone)]
pub struct HfFolderTokenizer {
    /// The `tokenizers` tokenizer.
    pub tok: HfTokenizer,
    bos: Option<u32>,
    eos: Option<u32>,
    eog: Vec<u32>,
    add_bos: bool,
    chat_template: Option<String>,
}

fn read_json(path: &Path) -> Result<Option<Value>, TokenizerError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(TokenizerError::BadSideFile {
                path: path.into(),
                field: "file".into(),
                message: e.to_string(),
            })
        }
    };
    let bad = |message: String| TokenizerError::BadSideFile {
        path: path.into(),
        field: "JSON".into(),
        message,
    };
    match serde_json::from_str(&text).map_err(|e| bad(e.to_string()))? {
        v @ Value::Object(_) => Ok(Some(v)),
        v => Err(bad(format!("expected a JSON object, found {v}"))),
    }
}

/// A special token given as `"<bos>"` or `{"content": "<bos>", ...}`.
fn token_text(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        Value::Object(m) => m.get("content")?.as_str(),
        _ => None,
    }
}

impl HfFolderTokenizer {
    /// Loads `tokenizer.json` from `dir`, with `tokenizer_config.json` (BOS/EOS tokens, chat
    /// template) and `generation_config.json` (EOS ids) when present.
    ///
    /// End of generation: the ids of `generation_config.json`'s `eos_token_id` (a number or a
    /// list), else the `eos_token` of `tokenizer_config.json`, else `<eos>`; and
    /// `<end_of_turn>` whenever the vocabulary has it.
    pub fn from_folder(dir: &Path) -> Result<HfFolderTokenizer, TokenizerError> {
        let tok = HfTokenizer::from_file(dir.join(TOKENIZER_JSON))?;
        let cfg_path = dir.join(TOKENIZER_CONFIG);
        let cfg = read_json(&cfg_path)?;
        let gen_path = dir.join(GENERATION_CONFIG);
        let gen = read_json(&gen_path)?;
        let bad = |path: &PathBuf, field: &str, message: String| TokenizerError::BadSideFile {
            path: path.clone(),
            field: field.into(),
            message,
        };
        let named = |field: &str, default: &str| -> Result<Option<u32>, TokenizerError> {
            let v = match cfg.as_ref().and_then(|c| c.get(field)) {
                None | Some(Value::Null) => return Ok(tok.token_id(default)),
                Some(v) => v,
            };
            let text = token_text(v).ok_or_else(|| {
                bad(
                    &cfg_path,
                    field,
                    format!("expected a token string, found {v}"),
                )
            })?;
            match tok.token_id(text) {
                Some(id) => Ok(Some(id)),
                None => Err(bad(
                    &cfg_path,
                    field,
                    format!("{text:?} is not a token of {TOKENIZER_JSON}"),
                )),
            }
        };
        let bos = named("bos_token", "<bos>")?;
        let eos = named("eos_token", "<eos>")?;
        let mut eog = generation_eos_ids(&gen_path, gen.as_ref(), tok.vocab_size())?
            .unwrap_or_else(|| eos.into_iter().collect());
        eog.extend(tok.token_id(END_OF_TURN));
        eog.sort_unstable();
        eog.dedup();
        let chat_template = match cfg.as_ref().and_then(|c| c.get("chat_template")) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(list)) => {
                let mut default = None;
                for t in list {
                    let name = t.get("name").and_then(Value::as_str);
                    match (name, t.get("template").and_then(Value::as_str)) {
                        (Some(name), Some(text)) => {
                            if name == "default" && default.is_none() {
                                default = Some(text.to_string());
                            }
                        }
                        _ => {
                            return Err(bad(
                                &cfg_path,
                                "chat_template",
                                format!(
                                    "expected entries {{\"name\": string, \
                                     \"template\": string}}, found {t}"
                                ),
                            ))
                        }
                    }
                }
                default
            }
            Some(v) => {
                return Err(bad(
                    &cfg_path,
                    "chat_template",
                    format!("expected a string or a list of named templates, found {v}"),
                ))
            }
        };
        let add_bos = match bos {
            Some(b) => tok.encode("", true)?.first() == Some(&b),
            None => false,
        };
        Ok(HfFolderTokenizer {
            tok,
            bos,
            eos,
            eog,
            add_bos,
            chat_template,
        })
    }

    /// The BOS id.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The EOS id of `tokenizer_config.json`.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// End-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.eog
    }

    /// Whether encoding with special tokens adds BOS (the post-processor's doing).
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// The chat template of `tokenizer_config.json`, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }
}

/// The `eos_token_id` ids (a number or a list) of a `generation_config.json`, if it gives any.
fn generation_eos_ids(
    path: &Path,
    gen: Option<&Value>,
    vocab: usize,
) -> Result<Option<Vec<u32>>, TokenizerError> {
    let v = match gen.and_then(|g| g.get("eos_token_id")) {
        None | Some(Value::Null) => return Ok(None),
        Some(v) => v,
    };
    let list = match v {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    };
    let mut ids = Vec::new();
    for x in &list {
        match x.as_u64() {
            Some(id) if (id as usize) < vocab => ids.push(id as u32),
            _ => {
                return Err(TokenizerError::BadSideFile {
                    path: path.into(),
                    field: "eos_token_id".into(),
                    message: format!("{x} is not a token id below the vocabulary size {vocab}"),
                })
            }
        }
    }
    Ok(Some(ids))
}

/// End-of-generation ids of a folder without `tokenizer.json`: `generation_config.json`'s
/// `eos_token_id`, checked against the model's vocabulary size (empty when absent).
pub fn folder_eos_ids(dir: &Path, vocab: usize) -> Result<Vec<u32>, TokenizerError> {
    let path = dir.join(GENERATION_CONFIG);
    let gen = read_json(&path)?;
    let mut ids = generation_eos_ids(&path, gen.as_ref(), vocab)?.unwrap_or_default();
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
