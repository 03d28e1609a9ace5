//! Unit tests on small hand-made vocabularies, each checking one rule of llama.cpp's SPM
//! tokenizer (llama-vocab.cpp) that the Gemma golden corpus cannot isolate.

use super::*;
use crate::special::{Fragment, SpecialMatcher};
use crate::vocab::token_type as tt;

/// Builds a vocabulary: control `<pad> <eos> <bos>`, unknown `<unk>`, optionally the 256
/// byte tokens, then `extra` as (text, score, type).
fn vocab(with_bytes: bool, extra: &[(&str, f32, i32)]) -> Vocab {
    let mut v = Vocab {
        bos: Some(2),
        eos: Some(1),
        unk: Some(3),
        pad: Some(0),
        add_bos: true,
        ..Vocab::default()
    };
    let mut push = |t: &str, s: f32, ty: i32| {
        v.tokens.push(t.to_string());
        v.scores.push(s);
        v.types.push(ty);
    };
    push("<pad>", 0.0, tt::CONTROL);
    push("<eos>", 0.0, tt::CONTROL);
    push("<bos>", 0.0, tt::CONTROL);
    push("<unk>", 0.0, tt::UNKNOWN);
    if with_bytes {
        for b in 0..=255u8 {
            push(&format!("<0x{b:02X}>"), 0.0, tt::BYTE);
        }
    }
    for &(t, s, ty) in extra {
        push(t, s, ty);
    }
    v
}

fn tok(v: Vocab) -> Tokenizer {
    Tokenizer::new(v).expect("valid vocab")
}

/// Encodes without special handling and returns the pieces.
fn pieces(t: &Tokenizer, text: &str, parse_special: bool) -> Vec<String> {
    t.encode(text, false, parse_special)
        .iter()
        .map(|&id| t.token_str(id).unwrap().to_string())
        .collect()
}

const N: i32 = tt::NORMAL;

#[test]
fn higher_score_merges_first() {
    let base = [("a", -5.0, N), ("b", -5.0, N), ("c", -5.0, N)];
    let t = tok(vocab(
        true,
        &[base[0], base[1], base[2], ("ab", -1.0, N), ("bc", -2.0, N)],
    ));
    assert_eq!(pieces(&t, "abc", false), ["ab", "c"]);
    let t = tok(vocab(
        true,
        &[base[0], base[1], base[2], ("ab", -2.0, N), ("bc", -1.0, N)],
    ));
    assert_eq!(pieces(&t, "abc", false), ["a", "bc"]);
    // A merged pair merges again when the longer piece exists.
    let t = tok(vocab(
        true,
        &[base[0], base[1], base[2], ("ab", -1.0, N), ("abc", -3.0, N)],
    ));
    assert_eq!(pieces(&t, "abc", false), ["abc"]);
}

#[test]
fn equal_scores_merge_leftmost_first() {
    let t = tok(vocab(true, &[("a", -5.0, N), ("aa", -1.0, N)]));
    assert_eq!(pieces(&t, "aaa", false), ["aa", "a"]);
    assert_eq!(pieces(&t, "aaaaa", false), ["aa", "aa", "a"]);
}

#[test]
fn spaces_become_u2581_pieces() {
    let t = tok(vocab(
        true,
        &[("a", -5.0, N), ("▁", -5.0, N), ("▁a", -1.0, N)],
    ));
    assert_eq!(pieces(&t, "a a", false), ["a", "▁a"]);
    assert_eq!(t.decode(&t.encode("a a", false, false), false), "a a");
}

#[test]
fn unknown_characters_fall_back_to_bytes() {
    let t = tok(vocab(true, &[("a", -5.0, N)]));
    assert_eq!(pieces(&t, "aé", false), ["a", "<0xC3>", "<0xA9>"]);
    assert_eq!(t.decode(&t.encode("aé😀", false, false), false), "aé😀");
}

#[test]
fn without_byte_tokens_unknown_is_used_per_byte() {
    let t = tok(vocab(false, &[("a", -5.0, N)]));
    assert_eq!(pieces(&t, "aé", false), ["a", "<unk>", "<unk>"]);
    // A one-byte piece serves as the byte token when `<0xNN>` is absent.
    let t = tok(vocab(false, &[("a", -5.0, N), ("\u{1}", -5.0, N)]));
    assert_eq!(pieces(&t, "\u{1}", false), ["\u{1}"]);
}

#[test]
fn control_tokens_need_parse_special_user_defined_do_not() {
    let ud = tt::USER_DEFINED;
    let t = tok(vocab(
        true,
        &[
            ("<start_of_turn>", 0.0, tt::CONTROL),
            ("<td>", 0.0, ud),
            ("x", -5.0, N),
        ],
    ));
    let with = pieces(&t, "x<start_of_turn>x<td>", true);
    assert_eq!(with, ["x", "<start_of_turn>", "x", "<td>"]);
    let without = pieces(&t, "x<start_of_turn>x<td>", false);
    assert_eq!(without.last().map(String::as_str), Some("<td>"));
    assert!(!without.iter().any(|p| p == "<start_of_turn>"));
    assert!(without.iter().any(|p| p == "<0x3C>"));
    // `<unk>` is an unknown-type token: special only with parse_special.
    assert_eq!(pieces(&t, "<unk>", true), ["<unk>"]);
    assert_ne!(pieces(&t, "<unk>", false), ["<unk>"]);
}

#[test]
fn longer_special_tokens_are_cut_first() {
    let ud = tt::USER_DEFINED;
    let t = tok(vocab(
        true,
        &[("\n", 0.0, ud), ("\n\n", 0.0, ud), ("a", -5.0, N)],
    ));
    assert_eq!(pieces(&t, "\n\n\n", false), ["\n\n", "\n"]);
    assert_eq!(
        pieces(&t, "a\n\n\n\n\na", false),
        ["a", "\n\n", "\n\n", "\n", "a"]
    );
    // llama.cpp cuts "bcd" (longer) out of "abcd" before looking for "ab", even though "ab"
    // starts earlier.
    let t = tok(vocab(
        true,
        &[("ab", 0.0, ud), ("bcd", 0.0, ud), ("a", -5.0, N)],
    ));
    assert_eq!(pieces(&t, "abcd", false), ["a", "bcd"]);
    assert_eq!(pieces(&t, "abab", false), ["ab", "ab"]);
}

#[test]
fn partition_strips_whitespace_around_lstrip_rstrip_tokens() {
    let ud = tt::USER_DEFINED;
    let mut model = Model::build(vocab(true, &[("<l>", 0.0, ud), ("<r>", 0.0, ud)])).unwrap();
    let l = model.id_of(b"<l>").unwrap();
    let r = model.id_of(b"<r>").unwrap();
    model.attrs[l as usize] |= attr::LSTRIP;
    model.attrs[r as usize] |= attr::RSTRIP;
    let m = SpecialMatcher::new(&model);
    let mut out = Vec::new();
    m.partition(b"a  <l>  b  <r> \n c", true, &mut out);
    let text = b"a  <l>  b  <r> \n c";
    let frags: Vec<String> = out
        .iter()
        .map(|f| match *f {
            Fragment::Text(s, e) => String::from_utf8_lossy(&text[s..e]).into_owned(),
            Fragment::Token(id) => format!("#{id}"),
        })
        .collect();
    assert_eq!(
        frags,
        ["a", &format!("#{l}"), "  b  ", &format!("#{r}"), "c"]
    );
}

#[test]
fn space_prefix_is_added_at_start_and_after_special_tokens() {
    let mut v = vocab(
        true,
        &[
            ("▁", -5.0, N),
            ("h", -5.0, N),
            ("i", -5.0, N),
            ("hi", -2.0, N),
            ("▁hi", -1.0, N),
            ("<sot>", 0.0, tt::CONTROL),
        ],
    );
    v.add_space_prefix = true;
    let t = tok(v);
    assert_eq!(pieces(&t, "hi", false), ["▁hi"]);
    assert_eq!(pieces(&t, "hi<sot>hi", true), ["▁hi", "<sot>", "▁hi"]);
    // Decoding drops one leading space from the first token only.
    let ids = t.encode("hi hi", true, false);
    assert_eq!(t.token_str(ids[0]), Some("<bos>"));
    assert_eq!(t.decode(&ids, false), " hi hi");
    assert_eq!(t.decode(&ids[1..], false), "hi hi");
    // The streaming decoder follows the same rule.
    let mut s = StreamDecoder::new(false);
    let streamed: String = ids[1..].iter().map(|&id| s.push(&t, id)).collect();
    assert_eq!(streamed, "hi hi");
}

#[test]
fn add_special_adds_bos_and_eos_as_configured() {
    let mut v = vocab(true, &[("a", -5.0, N)]);
    v.add_eos = true;
    let t = tok(v);
    assert_eq!(t.encode("a", true, false), [2, t.token_id("a").unwrap(), 1]);
    assert_eq!(t.encode("", true, false), [2, 1]);
    assert_eq!(t.encode("", false, false), Vec::<u32>::new());
    let mut v = vocab(true, &[]);
    v.add_bos = false;
    assert_eq!(tok(v).encode("", true, true), Vec::<u32>::new());
}

#[test]
fn decode_renders_special_tokens_only_on_request() {
    let t = tok(vocab(
        true,
        &[
            ("▁x", -5.0, N),
            ("<u>", 0.0, tt::UNUSED),
            ("<td>", 0.0, tt::USER_DEFINED),
        ],
    ));
    let x = t.token_id("▁x").unwrap();
    let u = t.token_id("<u>").unwrap();
    let td = t.token_id("<td>").unwrap();
    let ids = [2, x, 3, u, td, 1];
    assert_eq!(t.decode(&ids, true), "<bos> x<unk><td><eos>");
    assert_eq!(t.decode(&ids, false), " x<td>");
    assert_eq!(t.piece_bytes(x, false), b" x");
    assert_eq!(t.piece_bytes(u, true), b"");
    assert_eq!(t.piece_bytes(u32::MAX, true), b"");
    assert_eq!(t.decode(&[u32::MAX, x], false), " x");
}

#[test]
fn byte_tokens_reassemble_and_invalid_bytes_become_replacement() {
    let t = tok(vocab(true, &[]));
    let b = |x: u8| t.token_id(&format!("<0x{x:02X}>")).unwrap();
    assert_eq!(t.decode(&[b(0xE4), b(0xB8), b(0xAD)], false), "中");
    assert_eq!(t.decode(&[b(0xE4), b(0xB8)], false), "\u{FFFD}");
    assert_eq!(t.decode(&[b(0xFF), b(b'a')], false), "\u{FFFD}a");
}

#[test]
fn stream_decoder_emits_whole_characters_only() {
    let t = tok(vocab(true, &[("a", -5.0, N)]));
    let ids = t.encode("a😀中a", false, false);
    let mut s = StreamDecoder::new(false);
    let chunks: Vec<String> = ids.iter().map(|&id| s.push(&t, id)).collect();
    let nonempty: Vec<&str> = chunks
        .iter()
        .map(String::as_str)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(nonempty, ["a", "😀", "中", "a"]);
    assert_eq!(s.flush(), "");

    // An invalid byte is replaced as soon as it is certain; a cut sequence at flush.
    let b = |x: u8| t.token_id(&format!("<0x{x:02X}>")).unwrap();
    let mut s = StreamDecoder::new(false);
    assert_eq!(s.push(&t, b(0xF0)), "");
    assert_eq!(s.push(&t, b(0x9F)), "");
    assert_eq!(s.push(&t, b(b'a')), "\u{FFFD}a");
    assert_eq!(s.push(&t, b(0xE4)), "");
    assert_eq!(s.flush(), "\u{FFFD}");
    assert_eq!(s.flush(), "");
}

#[test]
fn end_of_generation_set_follows_llama_cpp() {
    let t = tok(vocab(
        true,
        &[
            ("<end_of_turn>", 0.0, tt::CONTROL),
            ("</s>", 0.0, tt::USER_DEFINED),
            ("x", 0.0, N),
        ],
    ));
    let eot = t.token_id("<end_of_turn>").unwrap();
    let s_close = t.token_id("</s>").unwrap();
    assert_eq!(t.eot(), Some(eot));
    assert!(t.is_eog(1) && t.is_eog(eot) && t.is_eog(s_close));
    assert!(!t.is_eog(2) && !t.is_eog(t.token_id("x").unwrap()));
    // "</s>" becomes a control token: not matched without parse_special, hidden in decode.
    assert!(t.is_control(s_close) && t.is_user_defined(s_close));
    assert_ne!(pieces(&t, "</s>", false), ["</s>"]);
    assert_eq!(t.decode(&[s_close], false), "");
}

#[test]
fn invalid_vocabularies_are_rejected() {
    let mut v = vocab(false, &[]);
    v.scores.pop();
    assert!(matches!(
        Tokenizer::new(v),
        Err(TokenizerError::LengthMismatch { .. })
    ));
    let mut v = vocab(false, &[]);
    v.types.push(1);
    assert!(matches!(
        Tokenizer::new(v),
        Err(TokenizerError::LengthMismatch { .. })
    ));
    let mut v = vocab(false, &[]);
    v.bos = Some(99);
    assert!(matches!(
        Tokenizer::new(v),
        Err(TokenizerError::SpecialIdOutOfRange {
            which: "bos",
            id: 99,
            ..
        })
    ));
    let v = vocab(false, &[("a", 0.0, N), ("a", 0.0, N)]);
    assert!(matches!(
        Tokenizer::new(v),
        Err(TokenizerError::DuplicateToken { .. })
    ));
    assert!(matches!(
        Tokenizer::new(Vocab::default()),
        Err(TokenizerError::EmptyVocab)
    ));
    // Empty texts are renamed as llama.cpp does, so they neither collide nor match.
    let t = tok(vocab(false, &[("", 0.0, N), ("", 0.0, N)]));
    assert_eq!(t.token_str(4), Some("[EMPTY_4]"));
}
