//! SentencePiece-style merging of one raw-text fragment, as llama.cpp's SPM tokenizer does it:
//! start from single UTF-8 characters, repeatedly merge the adjacent pair whose concatenation
//! is the highest-scoring vocabulary piece (ties: leftmost first), then map each final symbol
//! to its token, or to byte-fallback tokens when it is not in the vocabulary.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vocab::Model;

/// Replaces every space with U+2581 ("▁"), as SentencePiece does before merging.
pub(crate) fn escape_whitespace(text: &[u8], out: &mut Vec<u8>) {
    for &b in text {
        if b == b' ' {
            out.extend_from_slice("\u{2581}".as_bytes());
        } else {
            out.push(b);
        }
    }
}

/// A run of text in the fragment, linked to its neighbours.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: u32,
    /// Byte length; 0 once merged into the symbol on its left.
    len: u32,
    prev: i32,
    next: i32,
}

/// A candidate merge of two adjacent symbols.
#[derive(Debug, Clone, Copy)]
struct Bigram {
    left: i32,
    right: i32,
    score: f32,
    /// Byte length of the merged text when the candidate was made (detects stale entries).
    size: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Bigram {
    /// The heap's maximum is the highest score, and among equal scores the leftmost pair.
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .partial_cmp(&other.score)
            .unwrap_or(Ordering::Equal)
            .then_with(|| other.left.cmp(&self.left))
    }
}

/// Length of the UTF-8 sequence that starts with byte `b` (1 for stray continuation bytes),
/// as llama.cpp's `unicode_len_utf8`.
fn utf8_len(b: u8) -> usize {
    const LOOKUP: [u8; 16] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4];
    LOOKUP[(b >> 4) as usize] as usize
}

/// Merges one escaped fragment.
struct Session<'a> {
    model: &'a Model,
    text: &'a [u8],
    symbols: Vec<Symbol>,
    queue: BinaryHeap<Bigram>,
}

impl Session<'_> {
    fn try_add_bigram(&mut self, left: i32, right: i32) {
        if left < 0 || right < 0 {
            return;
        }
        let l = self.symbols[left as usize];
        let r = self.symbols[right as usize];
        let size = l.len + r.len;
        if size as usize > self.model.max_token_len {
            return;
        }
        let start = l.start as usize;
        let Some(id) = self.model.id_of(&self.text[start..start + size as usize]) else {
            return;
        };
        self.queue.push(Bigram {
            left,
            right,
            score: self.model.scores[id as usize],
            size,
        });
    }
}

/// Tokenizes `text` (already whitespace-escaped) and appends the ids to `out`.
pub(crate) fn tokenize(model: &Model, text: &[u8], out: &mut Vec<u32>) {
    if text.is_empty() {
        return;
    }
    let mut symbols = Vec::with_capacity(text.len());
    let mut offs = 0usize;
    while offs < text.len() {
        let len = utf8_len(text[offs]).min(text.len() - offs);
        let index = symbols.len() as i32;
        offs += len;
        symbols.push(Symbol {
            start: (offs - len) as u32,
            len: len as u32,
            prev: index - 1,
            next: if offs == text.len() { -1 } else { index + 1 },
        });
    }
    let mut s = Session {
        model,
        text,
        symbols,
        queue: BinaryHeap::new(),
    };
    for i in 1..s.symbols.len() as i32 {
        s.try_add_bigram(i - 1, i);
    }
    while let Some(bigram) = s.queue.pop() {
        let l = s.symbols[bigram.left as usize];
        let r = s.symbols[bigram.right as usize];
        // Skip candidates whose symbols changed since they were queued.
        if l.len == 0 || r.len == 0 || l.len + r.len != bigram.size {
            continue;
        }
        s.symbols[bigram.left as usize].len += r.len;
        s.symbols[bigram.right as usize].len = 0;
        s.symbols[bigram.left as usize].next = r.next;
        if r.next >= 0 {
            s.symbols[r.next as usize].prev = bigram.left;
        }
        s.try_add_bigram(l.prev, bigram.left);
        s.try_add_bigram(bigram.left, r.next);
    }

    // Every merged symbol is a vocabulary piece; single characters may not be, and those
    // fall back to one token per byte.
    let mut i = 0i32;
    while i >= 0 {
        let sym = s.symbols[i as usize];
        let piece = &text[sym.start as usize..(sym.start + sym.len) as usize];
        match model.id_of(piece) {
            Some(id) => out.push(id),
            None => out.extend(piece.iter().filter_map(|&b| model.byte_tokens[b as usize])),
        }
        i = sym.next;
    }
}
