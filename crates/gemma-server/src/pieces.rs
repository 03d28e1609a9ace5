//! Token text for log-probability reports: each token's own bytes (`▁` as a space, byte
//! tokens as their byte), and the JSON shapes of OpenAI's chat and completion `logprobs`.

use gemma_engine::{LoadedModel, TokenLogprob};
use serde_json::{json, Map, Value};

/// The bytes token `id` stands for.
pub fn piece_bytes(model: &LoadedModel, id: u32) -> Vec<u8> {
    let Some(s) = model.tokenizer.token_str(id) else {
        return Vec::new();
    };
    if let Some(hex) = s.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')) {
        if hex.len() == 2 {
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                return vec![b];
            }
        }
    }
    s.replace('\u{2581}', " ").into_bytes()
}

/// A token as a string: its text, or `bytes:\xNN...` when its bytes are not UTF-8 alone
/// (as OpenAI writes them).
pub fn piece_text(model: &LoadedModel, id: u32) -> String {
    let b = piece_bytes(model, id);
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => {
            let mut s = String::from("bytes:");
            for b in e.as_bytes() {
                s.push_str(&format!("\\x{b:02x}"));
            }
            s
        }
    }
}

/// One entry of a chat completion's `logprobs.content`.
pub fn chat_entry(model: &LoadedModel, lp: &TokenLogprob) -> Value {
    let one = |id: u32, logprob: f32| {
        json!({
            "token": piece_text(model, id),
            "logprob": logprob,
            "bytes": piece_bytes(model, id),
        })
    };
    let mut e = one(lp.id, lp.logprob);
    e["top_logprobs"] = Value::Array(lp.top.iter().map(|&(i, l)| one(i, l)).collect());
    e
}

/// A completion's `logprobs` object being built: parallel arrays over tokens.
#[derive(Debug, Default)]
pub struct CompletionLogprobs {
    tokens: Vec<Value>,
    token_logprobs: Vec<Value>,
    top_logprobs: Vec<Value>,
    text_offset: Vec<Value>,
}

impl CompletionLogprobs {
    /// Adds a token at character `offset` of the choice's text; `lp` is `None` for the
    /// prompt's first token, which has no log-probability.
    pub fn push(&mut self, model: &LoadedModel, id: u32, lp: Option<&TokenLogprob>, offset: usize) {
        self.tokens.push(Value::String(piece_text(model, id)));
        self.text_offset.push(json!(offset));
        match lp {
            None => {
                self.token_logprobs.push(Value::Null);
                self.top_logprobs.push(Value::Null);
            }
            Some(lp) => {
                self.token_logprobs.push(json!(lp.logprob));
                let mut top = Map::new();
                for &(i, l) in &lp.top {
                    top.entry(piece_text(model, i)).or_insert(json!(l));
                }
                self.top_logprobs.push(Value::Object(top));
            }
        }
    }

    /// The JSON object, leaving this one empty.
    pub fn take(&mut self) -> Value {
        let t = std::mem::take(self);
        json!({
            "tokens": t.tokens,
            "token_logprobs": t.token_logprobs,
            "top_logprobs": t.top_logprobs,
            "text_offset": t.text_offset,
        })
    }
}
