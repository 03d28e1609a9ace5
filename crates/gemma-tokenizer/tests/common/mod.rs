//! Shared helpers for the integration tests: the real Gemma 3 tokenizer, loaded once, and the
//! golden corpus recorded from llama.cpp by `scripts/make_tokenizer_golden.py`.

#![allow(dead_code)]

use std::sync::OnceLock;

use gemma_formats::GgufFile;
use gemma_tokenizer::Tokenizer;
use serde_json::Value;

/// The tokenizer of the default model (`gemma_hub::default_model_path()`), loaded once.
pub fn real_tokenizer() -> &'static Tokenizer {
    static TOK: OnceLock<Tokenizer> = OnceLock::new();
    TOK.get_or_init(|| {
        let path = gemma_hub::default_model_path();
        assert!(
            path.exists(),
            "the default model is missing at {} (run `gemma pull`)",
            path.display()
        );
        let file =
            GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        Tokenizer::from_gguf(&file)
            .unwrap_or_else(|e| panic!("tokenizer of {}: {e}", path.display()))
    })
}

/// One string of the golden corpus with llama.cpp's results.
pub struct Case {
    pub line: usize,
    pub category: String,
    pub text: String,
    pub ids_special: Vec<u32>,
    pub ids_plain: Vec<u32>,
    /// llama.cpp's detokenization of `ids_special`, special tokens rendered.
    pub detok_special: String,
    /// ... special tokens hidden.
    pub detok_special_hidden: String,
    /// llama.cpp's detokenization of `ids_plain`, special tokens hidden.
    pub detok_plain: String,
}

/// One decode-only id sequence with llama.cpp's bytes.
pub struct DecodeCase {
    pub line: usize,
    pub ids: Vec<u32>,
    pub bytes_render: Vec<u8>,
    pub bytes_hidden: Vec<u8>,
}

/// The parsed golden file.
pub struct Golden {
    pub header: Value,
    pub cases: Vec<Case>,
    pub decode_cases: Vec<DecodeCase>,
}

const GOLDEN: &str = include_str!("../data/gemma3_gguf_golden.jsonl");

/// A golden JSON-lines corpus: its header (first line, `"header": true`) and every other line
/// parsed, with its 1-based line number.
pub fn jsonl(text: &str) -> (Value, Vec<(usize, Value)>) {
    let mut lines = text.lines().enumerate();
    let header: Value =
        serde_json::from_str(lines.next().expect("header line").1).expect("header JSON");
    assert_eq!(
        header["header"],
        Value::Bool(true),
        "first line must be the header"
    );
    let rows = lines
        .map(|(i, l)| {
            let line = i + 1;
            let v = serde_json::from_str(l).unwrap_or_else(|e| panic!("line {line}: {e}"));
            (line, v)
        })
        .collect();
    (header, rows)
}

/// The token ids under `key` of a golden line.
pub fn ids(v: &Value, key: &str, line: usize) -> Vec<u32> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("line {line}: `{key}` is not an array"))
        .iter()
        .map(|x| x.as_u64().expect("token id") as u32)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// A detokenized text: the `key` string, or `key_hex` bytes decoded lossily.
fn text(v: &Value, key: &str, line: usize) -> String {
    if let Some(s) = v[key].as_str() {
        return s.to_string();
    }
    let h = v[format!("{key}_hex")]
        .as_str()
        .unwrap_or_else(|| panic!("line {line}: neither `{key}` nor `{key}_hex`"));
    String::from_utf8_lossy(&hex(h)).into_owned()
}

/// The golden corpus, parsed once.
pub fn golden() -> &'static Golden {
    static G: OnceLock<Golden> = OnceLock::new();
    G.get_or_init(|| {
        let (header, rows) = jsonl(GOLDEN);
        let mut cases = Vec::new();
        let mut decode_cases = Vec::new();
        for (line, v) in rows {
            if v.get("decode_ids").is_some() {
                decode_cases.push(DecodeCase {
                    line,
                    ids: ids(&v, "decode_ids", line),
                    bytes_render: hex(v["bytes_render_hex"].as_str().expect("bytes_render_hex")),
                    bytes_hidden: hex(v["bytes_hidden_hex"].as_str().expect("bytes_hidden_hex")),
                });
                continue;
            }
            cases.push(Case {
                line,
                category: v["category"].as_str().expect("category").to_string(),
                text: v["text"].as_str().expect("text").to_string(),
                ids_special: ids(&v, "ids_special", line),
                ids_plain: ids(&v, "ids_plain", line),
                detok_special: text(&v, "detok_special", line),
                detok_special_hidden: text(&v, "detok_special_hidden", line),
                detok_plain: text(&v, "detok_plain", line),
            });
        }
        Golden {
            header,
            cases,
            decode_cases,
        }
    })
}

/// Shortens a string for failure messages.
pub fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    format!("{out:?}")
}
