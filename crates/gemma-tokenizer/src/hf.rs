//! Tokenizers loaded from Hugging Face `tokenizer.json` files: a thin wrapper over the
//! `tokenizers` crate, so that encoding and decoding are exactly those of HF `tokenizers`
//! (and so of `transformers`' fast tokenizers).

use std::path::Path;

use crate::TokenizerError;

/// A tokenizer described by a Hugging Face `tokenizer.json` (Gemma 1, 2 and 3 ship one).
///
/// Normalisation, pre-tokenisation, the model (BPE with byte fallback for Gemma), added and
/// special tokens, the post-processor (BOS for Gemma) and the decoder all come from the file.
/// It is `Send + Sync` and immutable.
#[derive(Debug, Clone)]
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
}

impl HfTokenizer {
    /// Loads a `tokenizer.json`. Fails with [`TokenizerError::HfLoad`], naming the file, when it
    /// cannot be read or is not a tokenizer description this crate's `tokenizers` understands.
    pub fn from_file(path: impl AsRef<Path>) -> Result<HfTokenizer, TokenizerError> {
        let path = path.as_ref();
        let err = |message: String| TokenizerError::HfLoad {
            path: path.to_path_buf(),
            message,
        };
        let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        // tokenizers 0.23 panics on some malformed files (an `expect` on a JSON error inside
        // `decoder`, on a malformed `Precompiled` normalizer; BPE merges shorter than the
        // `continuing_subword_prefix`; a template naming a special token it does not define,
        // at the first encode). The JSON is checked first; other panics become errors.
        let pre = serde_json::from_slice::<Precheck>(&bytes)
            .map_err(|e| err(format!("invalid JSON: {e}")))?;
        if let Some(p) = &pre.post_processor {
            check_templates(p).map_err(err)?;
        }
        let inner = guarded(|| tokenizers::Tokenizer::from_bytes(&bytes))
            .map_err(|why| err(format!("the tokenizers crate cannot read it ({why})")))?
            .map_err(|e| err(e.to_string()))?;
        guarded(|| inner.encode("", true))
            .map_err(|why| err(format!("its post_processor cannot encode ({why})")))?
            .map_err(|e| err(e.to_string()))?;
        Ok(HfTokenizer { inner })
    }

    /// Tokenizes `text` like HF `tokenizer.encode(text, add_special_tokens=add_special)`: added
    /// and special tokens written in the text (e.g. `<start_of_turn>`) become single tokens,
    /// and `add_special` applies the post-processor (for Gemma: a leading BOS).
    ///
    /// Fails with [`TokenizerError::HfEncode`] only where `tokenizers` does, e.g. a BPE model
    /// without byte fallback whose unknown token is missing from the vocabulary.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let message = |m: String| TokenizerError::HfEncode { message: m };
        let encoding = guarded(|| self.inner.encode(text, add_special))
            .map_err(message)?
            .map_err(|e| message(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Detokenizes `ids` like HF `tokenizer.decode(ids, skip_special_tokens=skip_special)`.
    /// Ids outside the vocabulary are skipped; invalid UTF-8 from byte-fallback tokens becomes
    /// U+FFFD, as in `tokenizers`.
    ///
    /// Fails with [`TokenizerError::HfDecode`] only where the file's decoder does.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        let message = |m: String| TokenizerError::HfDecode { message: m };
        guarded(|| self.inner.decode(ids, skip_special))
            .map_err(message)?
            .map_err(|e| message(e.to_string()))
    }

    /// Number of tokens: the model's vocabulary plus added tokens that are not in it.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of the token (model piece, with spaces as "▁", or added token) `token`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The text of token `id` as stored in the file (spaces as "▁"); `None` out of range.
    pub fn token_str(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The underlying `tokenizers` tokenizer, for anything this wrapper does not expose.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}

/// What is parsed of a `tokenizer.json` before `tokenizers` reads it: `decoder` in full (its
/// strings validated), the rest for syntax only.
#[derive(serde::Deserialize)]
struct Precheck {
    #[allow(dead_code)]
    decoder: Option<serde_json::Value>,
    post_processor: Option<serde_json::Value>,
}

/// Every special token a `TemplateProcessing` template (`single`, `pair`) uses must be one of
/// its `special_tokens` (tokenizers looks it up with `[]` at encode time).
fn check_templates(v: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let defined = m.get("special_tokens").and_then(Value::as_object);
            for key in ["single", "pair"] {
                let Some(Value::Array(pieces)) = m.get(key) else {
                    continue;
                };
                for piece in pieces {
                    let id = piece.get("SpecialToken").and_then(|t| t.get("id"));
                    if let Some(Value::String(id)) = id {
                        if !defined.is_some_and(|d| d.contains_key(id)) {
                            return Err(format!(
                                "post_processor: template `{key}` uses special token {id:?}, \
                                 which its special_tokens do not define"
                            ));
                        }
                    }
                }
            }
            m.values().try_for_each(check_templates)
        }
        Value::Array(items) => items.iter().try_for_each(check_templates),
        _ => Ok(()),
    }
}

/// Runs `f`, turning a panic of the `tokenizers` crate into its message.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("no message");
        format!("tokenizers panicked: {why}")
    })
}
