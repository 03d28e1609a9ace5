//! `tokenizer.json` + `tokenizer_config.json` → llama.cpp's SentencePiece (`llama`) vocabulary
//! metadata: tokens, scores, token types, special ids, add_bos/add_eos and the chat template.
//!
//! Types follow llama.cpp's `convert_hf_to_gguf.py` (`_create_vocab_sentencepiece`): every
//! piece is normal (1) except `<0xXX>` byte pieces (6) and the model's unknown token (2);
//! added tokens become control (3) when marked special or when they look special
//! (`<unused…>`, `<mask>`, `<|…|>`, …), else user-defined (4) with `▁` written as a space;
//! both get score -1000. Ids the tokenizer does not fill up to the model's vocabulary size
//! become `[PAD{id}]` (unused, 5).
//!
//! Scores: a BPE `tokenizer.json` has none, and llama.cpp's SentencePiece tokenizer merges
//! the adjacent pair whose concatenation has the highest score. Giving every piece that a
//! merge produces the score `-(rank of the first merge producing it)` makes that greedy
//! order the BPE merge order. (The real Gemma 3 GGUF's scores are `-(id - 494)` on these
//! pieces, which orders them identically: Gemma's merge ranks grow with the id.) Pieces no
//! merge produces (single characters) are never merge results, so their scores only need
//! to rank below the merged ones: `-(merges + k)` for the k-th such piece. Byte pieces get
//! 0 as in the real file. A Unigram `tokenizer.json` carries its scores, used as they are.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use crate::QuantizeError;

/// llama.cpp's token types (`enum llama_token_type` / gguf-py `TokenType`).
pub mod token_type {
    /// An ordinary piece.
    pub const NORMAL: i32 = 1;
    /// The unknown token.
    pub const UNKNOWN: i32 = 2;
    /// A control token (matched in text only when parsing specials).
    pub const CONTROL: i32 = 3;
    /// A user-defined token (always matched in text).
    pub const USER_DEFINED: i32 = 4;
    /// A placeholder.
    pub const UNUSED: i32 = 5;
    /// A byte-fallback piece `<0xXX>`.
    pub const BYTE: i32 = 6;
}

/// The vocabulary and tokenizer settings to write.
#[derive(Clone, Debug, PartialEq)]
pub struct Vocab {
    /// Token strings by id.
    pub tokens: Vec<String>,
    /// Scores by id.
    pub scores: Vec<f32>,
    /// Token types by id ([`token_type`]).
    pub types: Vec<i32>,
    /// Beginning-of-sequence id.
    pub bos: Option<u32>,
    /// End-of-sequence id.
    pub eos: Option<u32>,
    /// Unknown-token id.
    pub unk: Option<u32>,
    /// Padding id.
    pub pad: Option<u32>,
    /// End-of-turn id (`<end_of_turn>`), written for Gemma 1 as llama.cpp's convert does.
    pub eot: Option<u32>,
    /// Whether BOS is prepended.
    pub add_bos: Option<bool>,
    /// Whether EOS is appended.
    pub add_eos: Option<bool>,
    /// The Jinja chat template.
    pub chat_template: Option<String>,
}

fn read_json(path: &Path) -> Result<Json, QuantizeError> {
    let text = std::fs::read_to_string(path).map_err(|e| QuantizeError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| QuantizeError::Json {
        path: path.to_path_buf(),
        what: format!("invalid JSON: {e}"),
    })
}

/// llama.cpp's `does_token_look_special` (convert_hf_to_gguf.py).
fn looks_special(t: &str) -> bool {
    matches!(t, "<pad>" | "<mask>" | "<2mass>" | "[@BOS@]")
        || (t.starts_with("<|") && t.ends_with("|>"))
        || (t.starts_with("<｜") && t.ends_with("｜>"))
        || (t.starts_with("<unused") && t.ends_with('>'))
}

fn is_byte_piece(t: &str) -> bool {
    t.len() == 6
        && t.starts_with("<0x")
        && t.ends_with('>')
        && t[3..5].chars().all(|c| c.is_ascii_hexdigit())
}

/// A token name from tokenizer_config.json (`"<bos>"` or `{"content": "<bos>"}`).
fn token_name(v: Option<&Json>) -> Option<&str> {
    match v? {
        Json::String(s) => Some(s),
        Json::Object(o) => o.get("content").and_then(Json::as_str),
        _ => None,
    }
}

/// Reads the vocabulary of `dir` (tokenizer.json, tokenizer_config.json; config.json for
/// special ids the tokenizer config does not name) padded to `vocab_size` entries.
pub fn read_vocab(dir: &Path, vocab_size: usize) -> Result<Vocab, QuantizeError> {
    let tok_path = dir.join("tokenizer.json");
    let tok = read_json(&tok_path)?;
    let bad = |what: String| QuantizeError::Tokenizer {
        path: tok_path.clone(),
        what,
    };
    let model = tok.get("model").ok_or_else(|| bad("no \"model\"".into()))?;
    let kind = model.get("type").and_then(Json::as_str).unwrap_or("?");
    let mut entries: Vec<(String, u64, Option<f32>)> = Vec::new();
    let mut merged_rank: HashMap<String, usize> = HashMap::new();
    let mut n_merges = 0usize;
    match kind {
        "BPE" => {
            let vocab = model
                .get("vocab")
                .and_then(Json::as_object)
                .ok_or_else(|| bad("BPE model without a \"vocab\" object".into()))?;
            for (piece, id) in vocab {
                let id = id
                    .as_u64()
                    .ok_or_else(|| bad(format!("vocab entry {piece:?} has id {id}")))?;
                entries.push((piece.clone(), id, None));
            }
            let merges = model
                .get("merges")
                .and_then(Json::as_array)
                .ok_or_else(|| bad("BPE model without \"merges\"".into()))?;
            n_merges = merges.len();
            for (rank, m) in merges.iter().enumerate() {
                let joined = match m {
                    Json::String(s) => s.split_once(' ').map(|(a, b)| format!("{a}{b}")),
                    Json::Array(p) if p.len() == 2 => match (p[0].as_str(), p[1].as_str()) {
                        (Some(a), Some(b)) => Some(format!("{a}{b}")),
                        _ => None,
                    },
                    _ => None,
                }
                .ok_or_else(|| bad(format!("merge {rank} is {m}, expected a pair")))?;
                merged_rank.entry(joined).or_insert(rank);
            }
        }
        "Unigram" => {
            let vocab = model
                .get("vocab")
                .and_then(Json::as_array)
                .ok_or_else(|| bad("Unigram model without a \"vocab\" list".into()))?;
            for (id, e) in vocab.iter().enumerate() {
                let piece = e.get(0).and_then(Json::as_str);
                let score = e.get(1).and_then(Json::as_f64);
                match (piece, score) {
                    (Some(p), Some(s)) => entries.push((p.to_string(), id as u64, Some(s as f32))),
                    _ => {
                        return Err(bad(format!(
                            "vocab entry {id} is {e}, expected [piece, score]"
                        )))
                    }
                }
            }
        }
        other => {
            return Err(bad(format!(
                "tokenizer model type {other:?}; expected BPE or Unigram (SentencePiece-style)"
            )))
        }
    }
    let unk_piece = model.get("unk_token").and_then(Json::as_str);

    let mut tokens: Vec<Option<String>> = vec![None; vocab_size];
    let mut scores = vec![-1000.0f32; vocab_size];
    let mut types = vec![token_type::UNUSED; vocab_size];
    entries.sort_by_key(|e| e.1);
    let mut unmerged = 0usize;
    for (piece, id, score) in entries {
        let Some(slot) = tokens.get_mut(id as usize) else {
            continue; // beyond the embedding, as llama.cpp's convert drops it
        };
        let i = id as usize;
        let (s, t) = if is_byte_piece(&piece) {
            (0.0, token_type::BYTE)
        } else if Some(piece.as_str()) == unk_piece {
            (score.unwrap_or(0.0), token_type::UNKNOWN)
        } else if let Some(s) = score {
            (s, token_type::NORMAL)
        } else if let Some(&rank) = merged_rank.get(&piece) {
            (-(rank as f32), token_type::NORMAL)
        } else {
            unmerged += 1;
            (-((n_merges + unmerged) as f32), token_type::NORMAL)
        };
        *slot = Some(piece);
        scores[i] = s;
        types[i] = t;
    }
    for a in tok
        .get("added_tokens")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let (Some(id), Some(content)) = (
            a.get("id").and_then(Json::as_u64),
            a.get("content").and_then(Json::as_str),
        ) else {
            return Err(bad(format!("added token {a} lacks an id or content")));
        };
        let Some(slot) = tokens.get_mut(id as usize) else {
            continue;
        };
        let special = a.get("special").and_then(Json::as_bool).unwrap_or(false);
        let i = id as usize;
        if special || looks_special(content) {
            *slot = Some(content.to_string());
            types[i] = token_type::CONTROL;
        } else {
            *slot = Some(content.replace('\u{2581}', " "));
            types[i] = token_type::USER_DEFINED;
        }
        scores[i] = -1000.0;
    }
    let tokens: Vec<String> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| format!("[PAD{i}]")))
        .collect();

    let cfg_path = dir.join("tokenizer_config.json");
    let cfg = if cfg_path.is_file() {
        read_json(&cfg_path)?
    } else {
        Json::Null
    };
    let model_cfg = read_json(&dir.join("config.json")).unwrap_or(Json::Null);
    let index: HashMap<&str, u32> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.as_str(), i as u32))
        .collect();
    let special = |name: &str| -> Option<u32> {
        if let Some(t) = token_name(cfg.get(format!("{name}_token").as_str())) {
            return index.get(t).copied();
        }
        let id = model_cfg.get(format!("{name}_token_id").as_str())?;
        let id = match id {
            Json::Array(a) => a.first()?.as_u64()?,
            other => other.as_u64()?,
        };
        (id < tokens.len() as u64).then_some(id as u32)
    };
    let chat_template = match cfg.get("chat_template") {
        Some(Json::String(s)) => Some(s.clone()),
        Some(Json::Array(list)) => list
            .iter()
            .find(|e| e.get("name").and_then(Json::as_str) == Some("default"))
            .and_then(|e| e.get("template"))
            .and_then(Json::as_str)
            .map(str::to_string),
        _ => None,
    };
    Ok(Vocab {
        bos: special("bos"),
        eos: special("eos"),
        unk: special("unk").or_else(|| unk_piece.and_then(|u| index.get(u).copied())),
        pad: special("pad"),
        eot: index.get("<end_of_turn>").copied(),
        add_bos: cfg.get("add_bos_token").and_then(Json::as_bool),
        add_eos: cfg.get("add_eos_token").and_then(Json::as_bool),
        chat_template,
        tokens,
        scores,
        types,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_looking_tokens() {
        assert!(looks_special("<unused12>"));
        assert!(looks_special("<|fim_prefix|>"));
        assert!(!looks_special("<start_of_turn>"));
        assert!(is_byte_piece("<0x0A>"));
        assert!(!is_byte_piece("<0xZZ>"));
    }
}
