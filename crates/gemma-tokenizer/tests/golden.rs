//! The golden corpus: every string must tokenize to exactly llama.cpp's ids (both modes), and
//! llama.cpp's ids must decode — whole and streamed — to llama.cpp's text.

mod common;

use common::{golden, real_tokenizer, short};
use gemma_tokenizer::{StreamDecoder, Tokenizer};

#[test]
fn corpus_is_large_and_varied() {
    let g = golden();
    assert_eq!(g.header["script"], "scripts/make_tokenizer_golden.py");
    assert!(g.header["llama_cpp_python"].is_string() && g.header["model_sha256"].is_string());
    assert!(g.cases.len() >= 300, "only {} strings", g.cases.len());
    for cat in [
        "empty",
        "prose",
        "code",
        "whitespace",
        "cjk",
        "emoji",
        "scripts",
        "numbers",
        "web",
        "markdown",
        "special",
        "byte-fallback",
        "long-words",
        "repeats",
        "random",
        "special-mix",
        "long-text",
    ] {
        assert!(
            g.cases.iter().any(|c| c.category == cat),
            "no `{cat}` strings"
        );
    }
    assert!(!g.decode_cases.is_empty());
}

#[test]
fn real_vocabulary_metadata() {
    let t = real_tokenizer();
    assert_eq!(t.vocab_size(), 262_144);
    assert_eq!(
        (t.bos(), t.eos(), t.unk(), t.pad()),
        (Some(2), Some(1), Some(3), Some(0))
    );
    assert!(t.add_bos() && !t.add_eos() && !t.add_space_prefix());
    assert_eq!(t.token_id("<end_of_turn>"), Some(106));
    assert_eq!(t.eot(), Some(106));
    // llama.cpp's EOG set for this file (llama_vocab_is_eog): <eos>, <end_of_turn>, and "</s>"
    // (a user-defined token that llama.cpp's EOG text list promotes to control).
    assert_eq!(t.eog_ids(), [1, 106, 212]);
    assert!(t.is_control(105) && t.is_control(212) && !t.is_control(107));
}

/// Compares encodings over the corpus and reports every mismatch.
fn check_encode(
    t: &Tokenizer,
    add_special: bool,
    parse_special: bool,
    expected: impl Fn(&common::Case) -> &[u32],
) {
    let mut bad = Vec::new();
    for c in &golden().cases {
        let got = t.encode(&c.text, add_special, parse_special);
        if got != expected(c) {
            bad.push(format!(
                "line {} [{}] {}:\n  llama.cpp {:?}\n  ours      {:?}",
                c.line,
                c.category,
                short(&c.text),
                expected(c),
                got
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

#[test]
fn encode_with_special_tokens_matches_llama_cpp() {
    check_encode(real_tokenizer(), true, true, |c| &c.ids_special);
}

#[test]
fn encode_plain_matches_llama_cpp() {
    check_encode(real_tokenizer(), false, false, |c| &c.ids_plain);
}

#[test]
fn decode_matches_llama_cpp() {
    let t = real_tokenizer();
    let mut bad = Vec::new();
    for c in &golden().cases {
        let checks = [
            (&c.ids_special, true, &c.detok_special),
            (&c.ids_special, false, &c.detok_special_hidden),
            (&c.ids_plain, false, &c.detok_plain),
        ];
        for (ids, render, want) in checks {
            let got = t.decode(ids, render);
            if got != *want {
                bad.push(format!(
                    "line {} render={render}: want {} got {}",
                    c.line,
                    short(want),
                    short(&got)
                ));
            }
        }
    }
    for d in &golden().decode_cases {
        for (render, bytes) in [(true, &d.bytes_render), (false, &d.bytes_hidden)] {
            let want = String::from_utf8_lossy(bytes);
            let got = t.decode(&d.ids, render);
            if got != want {
                bad.push(format!(
                    "line {} render={render}: want {} got {}",
                    d.line,
                    short(&want),
                    short(&got)
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} mismatches:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Streams `ids` and checks the chunks against `want` (the whole-sequence decoding).
fn check_stream(t: &Tokenizer, ids: &[u32], render: bool, want: &str, what: &str) {
    let mut s = StreamDecoder::new(render);
    let mut out = String::new();
    for &id in ids {
        let chunk = s.push(t, id);
        out.push_str(&chunk);
        // Chunks are whole characters of the final text: the output so far is a prefix of it,
        // and nothing is emitted as U+FFFD that the full decoding does not have there.
        assert!(
            want.starts_with(&out),
            "{what}: streamed {} is not a prefix of {}",
            short(&out),
            short(want)
        );
    }
    out.push_str(&s.flush());
    assert_eq!(out, want, "{what}");
}

#[test]
fn streaming_decoder_matches_whole_decode() {
    let t = real_tokenizer();
    for c in &golden().cases {
        let what = format!("line {}", c.line);
        check_stream(t, &c.ids_special, true, &c.detok_special, &what);
        check_stream(t, &c.ids_special, false, &c.detok_special_hidden, &what);
        check_stream(t, &c.ids_plain, false, &c.detok_plain, &what);
    }
    for d in &golden().decode_cases {
        let want = String::from_utf8_lossy(&d.bytes_render);
        check_stream(t, &d.ids, true, &want, &format!("line {}", d.line));
    }
}

#[test]
fn streaming_emoji_through_byte_tokens_yields_whole_characters() {
    let t = real_tokenizer();
    // Emoji (and a CJK Extension B character) the vocabulary has no piece for come out as
    // 4 byte tokens each.
    let text = "\u{1F301}\u{1F322}\u{1F394}\u{20000}";
    let ids = t.encode(text, false, false);
    assert_eq!(ids.len(), 16, "expected byte fallback, got {ids:?}");
    assert!(
        ids.iter().all(|&id| t.is_byte(id)),
        "expected byte fallback, got {ids:?}"
    );
    let mut s = StreamDecoder::new(false);
    let chunks: Vec<String> = ids
        .iter()
        .map(|&id| s.push(t, id))
        .filter(|c| !c.is_empty())
        .collect();
    assert!(s.flush().is_empty());
    let chars: Vec<String> = text.chars().map(String::from).collect();
    assert_eq!(chunks, chars);
}

#[test]
fn piece_bytes_and_token_lookup_agree() {
    let t = real_tokenizer();
    assert_eq!(t.token_str(9259), Some("Hello"));
    assert_eq!(t.token_id("Hello"), Some(9259));
    assert_eq!(t.token_id("no such piece, surely"), None);
    assert_eq!(t.piece_bytes(138, false), b"  ");
    assert_eq!(t.piece_bytes(106, false), b"");
    assert_eq!(t.piece_bytes(106, true), b"<end_of_turn>");
    let byte_a = t.token_id("<0x41>").unwrap();
    assert!(t.is_byte(byte_a));
    assert_eq!(t.piece_bytes(byte_a, false), b"A");
    let sp_x = t.encode(" x", false, false);
    let joined: Vec<u8> = sp_x
        .iter()
        .flat_map(|&id| t.piece_bytes(id, false))
        .collect();
    assert_eq!(joined, b" x");
}
