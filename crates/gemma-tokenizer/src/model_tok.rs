//! [`ModelTokenizer`]: one interface over a model's tokenizer, whether it came from GGUF
//! metadata (llama.cpp's rules) or a Hugging Face folder (the `tokenizers` crate), with a
//! streaming detokenizer for each.

use std::borrow::Cow;

use crate::{HfFolderTokenizer, StreamDecoder, Tokenizer, TokenizerError};

/// A model's tokenizer.
#[derive(Debug, Clone)]
pub enum ModelTokenizer {
    /// Built from `tokenizer.ggml.*` GGUF metadata, as llama.cpp does.
    Gguf(Box<Tokenizer>),
    /// A Hugging Face folder's `tokenizer.json`, as HF `tokenizers` does.
    Hf(Box<HfFolderTokenizer>),
    /// No tokenizer (a model folder without `tokenizer.json`): token ids in and out only.
    IdsOnly {
        /// Token ids (the model's vocabulary size).
        vocab_size: usize,
        /// End-of-generation ids (from `generation_config.json`), sorted.
        eog: Vec<u32>,
    },
}

impl ModelTokenizer {
    /// Tokenizes `text`, special tokens written in it (e.g. `<start_of_turn>`) included, with
    /// BOS first when `add_bos` and the tokenizer adds one.
    pub fn encode(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, TokenizerError> {
        match self {
            ModelTokenizer::Gguf(t) => Ok(t.encode(text, add_bos, true)),
            ModelTokenizer::Hf(t) => t.tok.encode(text, add_bos),
            ModelTokenizer::IdsOnly { .. } => Err(TokenizerError::NoTokenizer),
        }
    }

    /// Text of `ids`; special (control) tokens are rendered only when `render_special`.
    pub fn decode(&self, ids: &[u32], render_special: bool) -> String {
        match self {
            ModelTokenizer::Gguf(t) => t.decode(ids, render_special),
            // The Gemma decoders (Replace, ByteFallback, Fuse) cannot fail.
            ModelTokenizer::Hf(t) => t.tok.decode(ids, !render_special).unwrap_or_default(),
            ModelTokenizer::IdsOnly { .. } => String::new(),
        }
    }

    /// Number of token ids.
    pub fn vocab_size(&self) -> usize {
        match self {
            ModelTokenizer::Gguf(t) => t.vocab_size(),
            ModelTokenizer::Hf(t) => t.tok.vocab_size(),
            ModelTokenizer::IdsOnly { vocab_size, .. } => *vocab_size,
        }
    }

    /// The BOS id.
    pub fn bos(&self) -> Option<u32> {
        match self {
            ModelTokenizer::Gguf(t) => t.bos(),
            ModelTokenizer::Hf(t) => t.bos(),
            ModelTokenizer::IdsOnly { .. } => None,
        }
    }

    /// The EOS id.
    pub fn eos(&self) -> Option<u32> {
        match self {
            ModelTokenizer::Gguf(t) => t.eos(),
            ModelTokenizer::Hf(t) => t.eos(),
            ModelTokenizer::IdsOnly { eog, .. } => eog.first().copied(),
        }
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        match self {
            ModelTokenizer::Gguf(t) => t.eog_ids(),
            ModelTokenizer::Hf(t) => t.eog_ids(),
            ModelTokenizer::IdsOnly { eog, .. } => eog,
        }
    }

    /// Whether `id` ends generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.eog_ids().binary_search(&id).is_ok()
    }

    /// The stored text of token `id` (spaces as "▁").
    pub fn token_str(&self, id: u32) -> Option<Cow<'_, str>> {
        match self {
            ModelTokenizer::Gguf(t) => t.token_str(id).map(Cow::Borrowed),
            ModelTokenizer::Hf(t) => t.tok.token_str(id).map(Cow::Owned),
            ModelTokenizer::IdsOnly { .. } => None,
        }
    }

    /// The id of a token by its stored text.
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        match self {
            ModelTokenizer::Gguf(t) => t.token_id(piece),
            ModelTokenizer::Hf(t) => t.tok.token_id(piece),
            ModelTokenizer::IdsOnly { .. } => None,
        }
    }

    /// A streaming detokenizer for this tokenizer.
    pub fn stream(&self, render_special: bool) -> TextStream {
        match self {
            ModelTokenizer::Gguf(_) => TextStream::Gguf(StreamDecoder::new(render_special)),
            ModelTokenizer::Hf(_) | ModelTokenizer::IdsOnly { .. } => TextStream::Hf(HfStream {
                render_special,
                ..HfStream::default()
            }),
        }
    }
}

/// Incremental detokenization; the concatenated output equals [`ModelTokenizer::decode`].
#[derive(Debug, Clone)]
pub enum TextStream {
    /// For GGUF tokenizers.
    Gguf(StreamDecoder),
    /// For `tokenizer.json` tokenizers.
    Hf(HfStream),
}

impl TextStream {
    /// Adds token `id`, returning the text it completes. `tok` must be the tokenizer that
    /// made this stream.
    pub fn push(&mut self, tok: &ModelTokenizer, id: u32) -> String {
        match (self, tok) {
            (TextStream::Gguf(s), ModelTokenizer::Gguf(t)) => s.push(t, id),
            (TextStream::Hf(s), ModelTokenizer::Hf(t)) => s.push(t, id),
            _ => String::new(),
        }
    }

    /// What is still held back (an incomplete character becomes U+FFFD); resets the stream.
    pub fn flush(&mut self, tok: &ModelTokenizer) -> String {
        match (self, tok) {
            (TextStream::Gguf(s), _) => s.flush(),
            (TextStream::Hf(s), ModelTokenizer::Hf(t)) => s.flush(t),
            _ => String::new(),
        }
    }
}

/// Streaming over a `tokenizer.json` decoder: decode a short window of ids before and after
/// the new one and emit the difference once it no longer ends in an incomplete character.
#[derive(Debug, Clone, Default)]
pub struct HfStream {
    render_special: bool,
    ids: Vec<u32>,
    /// Start of the window already emitted up to `read`.
    prefix: usize,
    /// End of what has been emitted.
    read: usize,
}

impl HfStream {
    fn text(&self, t: &HfFolderTokenizer, ids: &[u32]) -> String {
        t.tok.decode(ids, !self.render_special).unwrap_or_default()
    }

    fn push(&mut self, t: &HfFolderTokenizer, id: u32) -> String {
        self.ids.push(id);
        let before = self.text(t, &self.ids[self.prefix..self.read]);
        let after = self.text(t, &self.ids[self.prefix..]);
        if after.len() > before.len() && !after.ends_with(char::REPLACEMENT_CHARACTER) {
            if let Some(new) = after.get(before.len()..) {
                let new = new.to_string();
                self.prefix = self.read;
                self.read = self.ids.len();
                return new;
            }
        }
        String::new()
    }

    fn flush(&mut self, t: &HfFolderTokenizer) -> String {
        let before = self.text(t, &self.ids[self.prefix..self.read]);
        let after = self.text(t, &self.ids[self.prefix..]);
        let out = after.get(before.len()..).unwrap_or_default().to_string();
        *self = HfStream {
            render_special: self.render_special,
            ..HfStream::default()
        };
        out
    }
}
