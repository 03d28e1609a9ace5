//! Errors raised while building a tokenizer from a vocabulary, a GGUF file or a Hugging Face
//! `tokenizer.json`, and by the `tokenizer.json` tokenizer at work.

/// Why a [`crate::Tokenizer`] or [`crate::HfTokenizer`] could not be built or used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The vocabulary has no tokens at all.
    #[error("the vocabulary is empty")]
    EmptyVocab,
    /// The vocabulary has more tokens than a `u32` id can address.
    #[error("the vocabulary has {0} tokens, more than a u32 token id can address")]
    TooManyTokens(usize),
    /// A per-token array does not have one entry per token.
    #[error("{what} has {got} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        /// Which array (e.g. `scores`, `types`, or a GGUF key).
        what: String,
        /// The number of tokens.
        expected: usize,
        /// The number of entries found.
        got: usize,
    },
    /// A special token id (BOS, EOS, ...) is not a valid token id.
    #[error("{which} token id {id} is out of range (the vocabulary has {n_tokens} tokens)")]
    SpecialIdOutOfRange {
        /// Which special token (`bos`, `eos`, `eot`, `unk`, `pad`).
        which: &'static str,
        /// The offending id.
        id: u32,
        /// The vocabulary size.
        n_tokens: usize,
    },
    /// Two tokens have the same text (llama.cpp refuses such vocabularies too).
    #[error("token {second} has the same text as token {first}: {piece:?}")]
    DuplicateToken {
        /// The duplicated text.
        piece: String,
        /// The first id with that text.
        first: u32,
        /// The later id with that text.
        second: u32,
    },
    /// A required GGUF metadata key is absent.
    #[error("GGUF metadata key `{key}` is missing")]
    MissingKey {
        /// The key.
        key: &'static str,
    },
    /// A GGUF metadata key exists but could not be read as the expected type.
    #[error("GGUF metadata key `{key}` could not be read as {expected}: {message}")]
    BadKey {
        /// The key.
        key: &'static str,
        /// The expected type, in words.
        expected: &'static str,
        /// What the GGUF reader said.
        message: String,
    },
    /// The GGUF file's `tokenizer.ggml.model` is not one this crate implements.
    #[error(
        "unsupported tokenizer model `{model}` (tokenizer.ggml.model); only \"llama\" \
         (SentencePiece-style, as used by Gemma) is supported"
    )]
    UnsupportedModel {
        /// The value found in the file.
        model: String,
    },
    /// A Hugging Face `tokenizer.json` could not be read or understood.
    #[error("cannot load Hugging Face tokenizer {}: {message}", path.display())]
    HfLoad {
        /// The file.
        path: std::path::PathBuf,
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// The `tokenizers` crate failed to encode a text.
    #[error("Hugging Face tokenizer failed to encode: {message}")]
    HfEncode {
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// The `tokenizers` crate failed to decode token ids.
    #[error("Hugging Face tokenizer failed to decode: {message}")]
    HfDecode {
        /// What the `tokenizers` crate said.
        message: String,
    },
    /// A tokenizer side file (`tokenizer_config.json`, `generation_config.json`) is unusable.
    #[error("{path}: {field}: {message}")]
    BadSideFile {
        /// The file.
        path: std::path::PathBuf,
        /// The field (or `JSON` for a parse error).
        field: String,
        /// What is wrong and what was expected.
        message: String,
    },
    /// The model has no tokenizer, so text cannot be encoded.
    #[error("this model has no tokenizer (no tokenizer.json in its folder): give token ids instead (--tokens)")]
    NoTokenizer,
}
