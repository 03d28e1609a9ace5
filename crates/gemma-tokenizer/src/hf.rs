//! Tokenizers loaded from Hugging Face `tokenizer.json` files: a thin wrapper over the
//! `tokenizers` crate, so that encoding and decoding are exactly those of HF `tokenizers`
//! (and so of `transformers`' fast tokenizers).

use std::path::Path;

use crate::TokenizerError;

/// A tokenizer described by a Hugging Face `tokenizer.json` (Gemma 1, 2 and 3 ship one).
///
/// Normalisation, pre-tokenisation, the model (BPE with byte fallback for Gemma), added and
/// special tokens, the post-processor (BOS for Gemma) and the decoder all come from the file.
/// It is `Send + Sync` and immutable.
#[derive(Debug, Clone)]
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
}

impl HfTokenizer {
    /// Loads a `tokenizer.json`. Fails with [`TokenizerError::HfLoad`], naming the file, when it
    /// cannot be read or is not a tokenizer description this crate's `tokenizers` understands.
    pub fn from_file(path: impl AsRef<Path>) -> Result<HfTokenizer, TokenizerError> {
        let path = path.as_ref();
        let inner = tokenizers::Tokenizer::from_file(path).map_err(|e| TokenizerError::HfLoad {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        Ok(HfTokenizer { inner })
    }

    /// Tokenizes `text` like HF `tokenizer.encode(text, add_special_tokens=add_special)`: added
    /// and special tokens written in the text (e.g. `<start_of_turn>`) become single tokens,
    /// and `add_special` applies the post-processor (for Gemma: a leading BOS).
    ///
    /// Fails with [`TokenizerError::HfEncode`] only where `tokenizers` does, e.g. a BPE model
    /// without byte fallback whose unknown token is missing from the vocabulary.
    pub fn encode(&self, text: &str, add_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let encoding =
            self.inner
                .encode(text, add_special)
                .map_err(|e| TokenizerError::HfEncode {
                    message: e.to_string(),
                })?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Detokenizes `ids` like HF `tokenizer.decode(ids, skip_special_tokens=skip_special)`.
    /// Ids outside the vocabulary are skipped; invalid UTF-8 from byte-fallback tokens becomes
    /// U+FFFD, as in `tokenizers`.
    ///
    /// Fails with [`TokenizerError::HfDecode`] only where the file's decoder does.
    pub fn decode(&self, ids: &[u32], skip_special: bool) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, skip_special)
            .map_err(|e| TokenizerError::HfDecode {
                message: e.to_string(),
            })
    }

    /// Number of tokens: the model's vocabulary plus added tokens that are not in it.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The id of the token (model piece, with spaces as "▁", or added token) `token`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// The text of token `id` as stored in the file (spaces as "▁"); `None` out of range.
    pub fn token_str(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// The underlying `tokenizers` tokenizer, for anything this wrapper does not expose.
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }
}
