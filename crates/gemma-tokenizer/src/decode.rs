//! Token → bytes: the piece each token stands for (llama.cpp's `token_to_piece` cache) and
//! whole-sequence detokenization (llama.cpp's `llama_detokenize` with `remove_special = false`).

use crate::vocab::{attr, Model};

/// The bytes of every token's piece with special tokens rendered, stored back to back.
#[derive(Debug, Clone)]
pub(crate) struct PieceCache {
    bytes: Vec<u8>,
    /// `offsets[id]..offsets[id + 1]` is token `id`'s piece.
    offsets: Vec<u32>,
    /// Whether a token is hidden unless special tokens are rendered (control or unknown).
    hidden: Vec<bool>,
}

impl PieceCache {
    /// Builds the cache the way llama.cpp fills `cache_token_to_piece`.
    pub(crate) fn new(model: &Model) -> PieceCache {
        let n = model.tokens.len();
        let total: usize = model.tokens.iter().map(String::len).sum();
        let mut bytes = Vec::with_capacity(total);
        let mut offsets = Vec::with_capacity(n + 1);
        let mut hidden = Vec::with_capacity(n);
        offsets.push(0u32);
        for (id, (text, &a)) in model.tokens.iter().zip(&model.attrs).enumerate() {
            if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
                bytes.extend_from_slice(text.as_bytes());
            } else if a & attr::NORMAL != 0 {
                // "▁" back to " ".
                let mut rest = text.as_str();
                while let Some(k) = rest.find('\u{2581}') {
                    bytes.extend_from_slice(&rest.as_bytes()[..k]);
                    bytes.push(b' ');
                    rest = &rest[k + '\u{2581}'.len_utf8()..];
                }
                bytes.extend_from_slice(rest.as_bytes());
            } else if a & attr::BYTE != 0 {
                bytes.push(model.token_byte(id as u32));
            }
            // Unused and undefined tokens have an empty piece.
            offsets.push(u32::try_from(bytes.len()).unwrap_or(u32::MAX));
            hidden.push(a & (attr::UNKNOWN | attr::CONTROL) != 0);
        }
        PieceCache {
            bytes,
            offsets,
            hidden,
        }
    }

    /// The bytes of token `id` (empty for ids out of range, and for control/unknown tokens
    /// unless `render_special`).
    pub(crate) fn piece(&self, id: u32, render_special: bool) -> &[u8] {
        let i = id as usize;
        if i >= self.hidden.len() || (self.hidden[i] && !render_special) {
            return &[];
        }
        &self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    /// Appends the bytes of `ids` to `out`. With `strip_first_space` (llama.cpp's
    /// `remove_space`, on when the vocabulary adds a space prefix), one leading space is
    /// dropped from the first token's piece.
    pub(crate) fn decode_into(
        &self,
        ids: &[u32],
        render_special: bool,
        strip_first_space: bool,
        out: &mut Vec<u8>,
    ) {
        let mut strip = strip_first_space;
        for &id in ids {
            let mut piece = self.piece(id, render_special);
            if strip {
                if let Some(rest) = piece.strip_prefix(b" ") {
                    piece = rest;
                }
                strip = false;
            }
            out.extend_from_slice(piece);
        }
    }
}
