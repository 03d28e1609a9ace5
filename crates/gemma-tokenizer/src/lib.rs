//! SentencePiece-style tokenizer built from GGUF vocabularies, with a streaming UTF-8-safe detokenizer.
//!
//! It reproduces llama.cpp's tokenizer for `tokenizer.ggml.model = "llama"` vocabularies (the
//! "SPM" type of `llama-vocab.cpp`), as used by Gemma:
//!
//! 1. special tokens are cut out of the raw text first, longest first — user-defined ones
//!    (Gemma: runs of newlines, spaces and tabs, HTML tags) always, control and unknown ones
//!    (`<start_of_turn>`, `<bos>`, ...) only when `parse_special`;
//! 2. each remaining text fragment gets "▁" for spaces (and a leading "▁" when the vocabulary
//!    adds a space prefix and the fragment starts the text or follows a special token);
//! 3. characters are merged pairwise by highest piece score, leftmost first; characters that
//!    are not pieces fall back to `<0xNN>` byte tokens;
//! 4. BOS/EOS are added as the vocabulary says.
//!
//! Decoding maps "▁" back to spaces and byte tokens back to bytes, and renders control tokens
//! only on request. Where llama.cpp would abort (no byte token for a byte), the unknown token
//! is used instead; ids out of range decode to nothing.
//!
//! [`HfTokenizer`] is the other way in: a Hugging Face `tokenizer.json`, encoded and decoded
//! by the `tokenizers` crate exactly as HF `tokenizers` does.

mod decode;
mod error;
mod gguf;
mod hf;
mod hf_folder;
mod map;
mod model_tok;
mod special;
mod spm;
mod stream;
mod vocab;

pub use error::TokenizerError;
pub use hf::HfTokenizer;
pub use hf_folder::{
    folder_eos_ids, HfFolderTokenizer, END_OF_TURN, GENERATION_CONFIG, TOKENIZER_CONFIG,
    TOKENIZER_JSON,
};
pub use model_tok::{HfStream, ModelTokenizer, TextStream};
pub use stream::StreamDecoder;
pub use vocab::{token_type, Vocab};

use decode::PieceCache;
use special::{Fragment, SpecialMatcher};
use vocab::{attr, Model};

/// A tokenizer for one vocabulary. Cheap to share: it is `Send + Sync` and immutable.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    model: Model,
    special: SpecialMatcher,
    pieces: PieceCache,
}

impl Tokenizer {
    /// Builds a tokenizer from a vocabulary. Fails when the per-token arrays differ in length,
    /// a special id is out of range, the vocabulary is empty, or two tokens share a text.
    pub fn new(vocab: Vocab) -> Result<Tokenizer, TokenizerError> {
        let model = Model::build(vocab)?;
        let special = SpecialMatcher::new(&model);
        let pieces = PieceCache::new(&model);
        Ok(Tokenizer {
            model,
            special,
            pieces,
        })
    }

    /// Builds a tokenizer from a GGUF file's `tokenizer.ggml.*` metadata, with llama.cpp's
    /// defaults for absent optional keys.
    pub fn from_gguf(file: &gemma_formats::GgufFile) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::new(gguf::vocab_from_gguf(file)?)
    }

    /// Tokenizes `text`. `add_special` adds BOS/EOS as the vocabulary says; `parse_special`
    /// matches control tokens written in the text (e.g. `<start_of_turn>`) as single tokens.
    /// User-defined tokens are matched either way, as in llama.cpp.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let m = &self.model;
        let bytes = text.as_bytes();
        let mut fragments = Vec::new();
        self.special.partition(bytes, parse_special, &mut fragments);

        let mut out = Vec::with_capacity(bytes.len() / 3 + 2);
        if add_special && m.add_bos {
            out.extend(m.bos);
        }
        let mut prev_special = true;
        let mut buf = Vec::new();
        for fragment in fragments {
            match fragment {
                Fragment::Text(start, end) => {
                    buf.clear();
                    if m.add_space_prefix && prev_special {
                        buf.extend_from_slice("\u{2581}".as_bytes());
                    }
                    spm::escape_whitespace(&bytes[start..end], &mut buf);
                    spm::tokenize(m, &buf, &mut out);
                    prev_special = false;
                }
                Fragment::Token(id) => {
                    out.push(id);
                    prev_special = true;
                }
            }
        }
        if add_special && m.add_eos {
            out.extend(m.eos);
        }
        out
    }

    /// Detokenizes `ids` (llama.cpp's `llama_detokenize` without removing BOS/EOS). Control
    /// tokens appear as their text only when `render_special`. Invalid UTF-8 (e.g. from an
    /// incomplete byte-fallback sequence) becomes U+FFFD, at the very end only.
    pub fn decode(&self, ids: &[u32], render_special: bool) -> String {
        let mut bytes = Vec::new();
        self.pieces
            .decode_into(ids, render_special, self.model.add_space_prefix, &mut bytes);
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// The bytes token `id` stands for: spaces for "▁", the byte of a byte token, the text of
    /// a control token when `render_special` (else nothing). Empty for an unknown id.
    pub fn piece_bytes(&self, id: u32, render_special: bool) -> Vec<u8> {
        self.pieces.piece(id, render_special).to_vec()
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.model.tokens.len()
    }

    /// The beginning-of-sequence token.
    pub fn bos(&self) -> Option<u32> {
        self.model.bos
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> Option<u32> {
        self.model.eos
    }

    /// The end-of-turn token (given, or detected by text such as `<end_of_turn>`).
    pub fn eot(&self) -> Option<u32> {
        self.model.eot
    }

    /// The unknown token.
    pub fn unk(&self) -> Option<u32> {
        self.model.unk
    }

    /// The padding token.
    pub fn pad(&self) -> Option<u32> {
        self.model.pad
    }

    /// Whether encoding with `add_special` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.model.add_bos
    }

    /// Whether encoding with `add_special` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.model.add_eos
    }

    /// Whether text gets a leading space (and decoding drops one).
    pub fn add_space_prefix(&self) -> bool {
        self.model.add_space_prefix
    }

    /// The raw piece of token `id` as stored in the vocabulary (spaces as "▁").
    pub fn token_str(&self, id: u32) -> Option<&str> {
        self.model.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of the token whose raw piece is exactly `piece`.
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.model.id_of(piece.as_bytes())
    }

    /// Whether `id` is a control token (including tokens llama.cpp promotes to control, such
    /// as end-of-generation tokens).
    pub fn is_control(&self, id: u32) -> bool {
        self.attr(id) & attr::CONTROL != 0
    }

    /// Whether `id` is a user-defined token (matched whole in raw text).
    pub fn is_user_defined(&self, id: u32) -> bool {
        self.attr(id) & attr::USER_DEFINED != 0
    }

    /// Whether `id` is a byte-fallback token (`<0xNN>`).
    pub fn is_byte(&self, id: u32) -> bool {
        self.attr(id) & attr::BYTE != 0
    }

    /// Whether `id` ends generation: EOS, EOT, and the tokens llama.cpp recognises by text
    /// (for Gemma 3: `<eos>`, `<end_of_turn>` and `</s>`).
    pub fn is_eog(&self, id: u32) -> bool {
        self.model.eog.binary_search(&id).is_ok()
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.model.eog
    }

    fn attr(&self, id: u32) -> u32 {
        self.model.attrs.get(id as usize).copied().unwrap_or(0)
    }

    /// The piece cache (for the streaming decoder).
    pub(crate) fn pieces(&self) -> &PieceCache {
        &self.pieces
    }
}

#[cfg(test)]
mod tests;
