//! Reading a [`Vocab`] from GGUF `tokenizer.ggml.*` metadata, with llama.cpp's defaults for
//! the optional keys of `tokenizer.ggml.model = "llama"` vocabularies.

use gemma_formats::names::tokenizer as key;
use gemma_formats::GgufFile;

use crate::vocab::token_type;
use crate::{TokenizerError, Vocab};

/// Wraps a GGUF reader error with the key and the type we wanted.
fn bad<E: std::fmt::Display>(
    k: &'static str,
    expected: &'static str,
) -> impl FnOnce(E) -> TokenizerError {
    move |e| TokenizerError::BadKey {
        key: k,
        expected,
        message: e.to_string(),
    }
}

/// Reads a special-token id the way llama.cpp does: the key if present and in range, else
/// the default if that is in range, else none.
fn special_id(
    file: &GgufFile,
    k: &'static str,
    default: Option<u32>,
    n: usize,
) -> Result<Option<u32>, TokenizerError> {
    let default = default.filter(|&id| (id as usize) < n);
    let given = file.get_u32(k).map_err(bad(k, "uint32"))?;
    Ok(match given {
        Some(id) if (id as usize) < n => Some(id),
        _ => default,
    })
}

/// Takes the first `n` entries of a per-token array (llama.cpp accepts longer arrays).
fn per_token<T>(mut v: Vec<T>, k: &'static str, n: usize) -> Result<Vec<T>, TokenizerError> {
    if v.len() < n {
        return Err(TokenizerError::LengthMismatch {
            what: k.to_string(),
            expected: n,
            got: v.len(),
        });
    }
    v.truncate(n);
    Ok(v)
}

/// Reads the vocabulary of `file`.
pub(crate) fn vocab_from_gguf(file: &GgufFile) -> Result<Vocab, TokenizerError> {
    let model = file
        .get_str(key::MODEL)
        .map_err(bad(key::MODEL, "string"))?
        .ok_or(TokenizerError::MissingKey { key: key::MODEL })?;
    if model != "llama" {
        return Err(TokenizerError::UnsupportedModel {
            model: model.to_string(),
        });
    }
    let tokens: Vec<String> = file
        .get_str_array(key::TOKENS)
        .map_err(bad(key::TOKENS, "array of string"))?
        .ok_or(TokenizerError::MissingKey { key: key::TOKENS })?
        .into_iter()
        .map(str::to_owned)
        .collect();
    let n = tokens.len();
    let scores = match file
        .get_f32_array(key::SCORES)
        .map_err(bad(key::SCORES, "array of float32"))?
    {
        Some(s) => per_token(s, key::SCORES, n)?,
        None => vec![0.0; n],
    };
    let types = match file
        .get_i32_array(key::TOKEN_TYPE)
        .map_err(bad(key::TOKEN_TYPE, "array of int32"))?
    {
        Some(t) => per_token(t, key::TOKEN_TYPE, n)?,
        None => vec![token_type::NORMAL; n],
    };
    let flag = |k: &'static str, default: bool| -> Result<bool, TokenizerError> {
        Ok(file.get_bool(k).map_err(bad(k, "bool"))?.unwrap_or(default))
    };
    Ok(Vocab {
        // llama.cpp's defaults for "llama" vocabularies: bos 1, eos 2, unk 0.
        bos: special_id(file, key::BOS_ID, Some(1), n)?,
        eos: special_id(file, key::EOS_ID, Some(2), n)?,
        eot: special_id(file, key::EOT_ID, None, n)?,
        unk: special_id(file, key::UNKNOWN_ID, Some(0), n)?,
        pad: special_id(file, key::PADDING_ID, None, n)?,
        add_bos: flag(key::ADD_BOS, true)?,
        add_eos: flag(key::ADD_EOS, false)?,
        add_space_prefix: flag(key::ADD_SPACE_PREFIX, true)?,
        tokens,
        scores,
        types,
    })
}
