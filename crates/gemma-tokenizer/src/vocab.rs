//! The vocabulary as given (token texts, scores, types, special ids) and its prepared form:
//! token attributes, the text → id map, byte-fallback ids and the end-of-generation set,
//! derived the way llama.cpp's `llama_vocab::load` derives them.

use crate::map::TokenMap;
use crate::TokenizerError;

/// Token attribute bits, as in llama.cpp's `llama_token_attr`.
pub(crate) mod attr {
    /// Unknown-token (`<unk>`).
    pub const UNKNOWN: u32 = 1 << 0;
    /// Unused (reserved) token.
    pub const UNUSED: u32 = 1 << 1;
    /// Ordinary text piece.
    pub const NORMAL: u32 = 1 << 2;
    /// Control token (BOS, EOS, turn markers...).
    pub const CONTROL: u32 = 1 << 3;
    /// User-defined token, matched whole in raw text.
    pub const USER_DEFINED: u32 = 1 << 4;
    /// Byte-fallback token `<0xNN>`.
    pub const BYTE: u32 = 1 << 5;
    /// Strip whitespace to the left of this special token when matching it.
    pub const LSTRIP: u32 = 1 << 7;
    /// Strip whitespace to the right of this special token when matching it.
    pub const RSTRIP: u32 = 1 << 8;
}

/// GGUF token types (`tokenizer.ggml.token_type`).
pub mod token_type {
    /// Normal text piece.
    pub const NORMAL: i32 = 1;
    /// The unknown token.
    pub const UNKNOWN: i32 = 2;
    /// Control token.
    pub const CONTROL: i32 = 3;
    /// User-defined token.
    pub const USER_DEFINED: i32 = 4;
    /// Unused token.
    pub const UNUSED: i32 = 5;
    /// Byte-fallback token.
    pub const BYTE: i32 = 6;
}

/// A SentencePiece-style vocabulary, as stored in a GGUF file's `tokenizer.ggml.*` keys.
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    /// Token texts; spaces are written as U+2581 ("▁") in normal pieces.
    pub tokens: Vec<String>,
    /// Merge scores, one per token (higher merges first).
    pub scores: Vec<f32>,
    /// GGUF token types, one per token (see [`token_type`]).
    pub types: Vec<i32>,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// End-of-turn token; when `None` it is detected by text (e.g. `<end_of_turn>`).
    pub eot: Option<u32>,
    /// Unknown token.
    pub unk: Option<u32>,
    /// Padding token.
    pub pad: Option<u32>,
    /// Whether `encode(.., add_special = true, ..)` prepends BOS.
    pub add_bos: bool,
    /// Whether `encode(.., add_special = true, ..)` appends EOS.
    pub add_eos: bool,
    /// Whether a space is prepended to text at the start and after special tokens.
    pub add_space_prefix: bool,
}

/// The prepared vocabulary used by encoding and decoding.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub tokens: Vec<String>,
    pub scores: Vec<f32>,
    pub attrs: Vec<u32>,
    pub map: TokenMap,
    pub max_token_len: usize,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// End-of-generation ids, sorted.
    pub eog: Vec<u32>,
    /// The token for each byte value in byte fallback (`<0xNN>`, else the one-byte piece).
    pub byte_tokens: [Option<u32>; 256],
}

/// Texts that llama.cpp treats as end-of-turn when no EOT id is given.
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];
/// Texts that end generation (llama.cpp's EOG list).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
/// Tokens llama.cpp always renders (forced to user-defined).
const FORCED_USER_DEFINED: &[&str] = &["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"];

/// The attribute bits of a GGUF token type.
fn type_to_attr(t: i32) -> u32 {
    match t {
        token_type::NORMAL => attr::NORMAL,
        token_type::UNKNOWN => attr::UNKNOWN,
        token_type::CONTROL => attr::CONTROL,
        token_type::USER_DEFINED => attr::USER_DEFINED,
        token_type::UNUSED => attr::UNUSED,
        token_type::BYTE => attr::BYTE,
        _ => 0,
    }
}

impl Model {
    /// Validates `vocab` and derives everything encoding and decoding need.
    pub(crate) fn build(vocab: Vocab) -> Result<Model, TokenizerError> {
        let Vocab {
            mut tokens,
            scores,
            types,
            bos,
            eos,
            eot,
            unk,
            pad,
            add_bos,
            add_eos,
            add_space_prefix,
        } = vocab;
        let n = tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab);
        }
        if n >= u32::MAX as usize {
            return Err(TokenizerError::TooManyTokens(n));
        }
        for (what, got) in [("scores", scores.len()), ("types", types.len())] {
            if got != n {
                return Err(TokenizerError::LengthMismatch {
                    what: what.to_string(),
                    expected: n,
                    got,
                });
            }
        }
        for (which, id) in [
            ("bos", bos),
            ("eos", eos),
            ("eot", eot),
            ("unk", unk),
            ("pad", pad),
        ] {
            if let Some(id) = id.filter(|&id| id as usize >= n) {
                return Err(TokenizerError::SpecialIdOutOfRange {
                    which,
                    id,
                    n_tokens: n,
                });
            }
        }
        // llama.cpp renames empty pieces so that every text is unique and non-empty.
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        let map =
            TokenMap::build(&tokens).map_err(|(first, second)| TokenizerError::DuplicateToken {
                piece: tokens[second as usize].clone(),
                first,
                second,
            })?;
        let max_token_len = tokens.iter().map(String::len).max().unwrap_or(0);
        let attrs: Vec<u32> = types.iter().map(|&t| type_to_attr(t)).collect();

        let mut model = Model {
            tokens,
            scores,
            attrs,
            map,
            max_token_len,
            bos,
            eos,
            eot,
            unk,
            pad,
            add_bos,
            add_eos,
            add_space_prefix,
            eog: Vec::new(),
            byte_tokens: [None; 256],
        };
        model.derive_special_attrs();
        model.byte_tokens = std::array::from_fn(|b| model.byte_token(b as u8));
        Ok(model)
    }

    /// The id of the token whose text is `text`.
    #[inline]
    pub(crate) fn id_of(&self, text: &[u8]) -> Option<u32> {
        self.map.get(&self.tokens, text)
    }

    /// llama.cpp's `byte_to_token` for SPM, with the unknown token instead of an abort when
    /// the vocabulary has neither `<0xNN>` nor the one-byte piece.
    fn byte_token(&self, b: u8) -> Option<u32> {
        self.id_of(format!("<0x{b:02X}>").as_bytes())
            .or_else(|| self.id_of(&[b]))
            .or(self.unk)
    }

    /// The first (lowest) id whose text is in `texts`.
    fn find_text(&self, texts: &[&str]) -> Option<u32> {
        texts.iter().filter_map(|t| self.id_of(t.as_bytes())).min()
    }

    /// Auto-detects end-of-turn, FIM and unused tokens and builds the EOG set, following
    /// llama.cpp's text-based rules (which also force some tokens to be control tokens).
    fn derive_special_attrs(&mut self) {
        // Detected ids become control tokens. (llama.cpp walks a hash map and keeps the first
        // hit; we take the lowest id, which only differs for vocabularies with two candidates.)
        fn detect(model: &mut Model, texts: &[&str]) -> Option<u32> {
            let id = model.find_text(texts)?;
            model.attrs[id as usize] |= attr::CONTROL;
            Some(id)
        }
        if self.eot.is_none() {
            self.eot = detect(self, EOT_TEXTS);
        }
        let eom = detect(self, EOM_TEXTS);
        for texts in [FIM_PRE_TEXTS, FIM_SUF_TEXTS, FIM_MID_TEXTS] {
            detect(self, texts);
        }
        let fim_pad = detect(self, FIM_PAD_TEXTS);
        let fim_rep = detect(self, FIM_REP_TEXTS);
        let fim_sep = detect(self, FIM_SEP_TEXTS);

        // Control tokens whose text says "unused" are unused.
        for (t, a) in self.tokens.iter().zip(self.attrs.iter_mut()) {
            if *a & attr::CONTROL != 0 && t.contains("unused") {
                *a |= attr::UNUSED;
            }
        }

        let mut eog: Vec<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
        for text in EOG_TEXTS {
            if let Some(id) = self.id_of(text.as_bytes()) {
                eog.push(id);
                self.attrs[id as usize] |= attr::CONTROL;
            }
        }
        for text in FORCED_USER_DEFINED {
            if let Some(id) = self.id_of(text.as_bytes()) {
                self.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend([self.eos, self.eot, eom].into_iter().flatten());
        eog.sort_unstable();
        eog.dedup();

        let text_of = |id: u32| self.tokens[id as usize].as_str();
        let has = |eog: &[u32], t: &str| eog.iter().any(|&id| text_of(id) == t);
        // o200k_harmony / solar-open: "<|end|>" is not end-of-generation there.
        let has_call = has(&eog, "<|call|>") || has(&eog, "<|calls|>");
        if (has(&eog, "<|return|>") || has(&eog, "<|flush|>")) && has_call {
            if let Some(pos) = eog.iter().position(|&id| text_of(id) == "<|end|>") {
                let id = eog.remove(pos);
                self.attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        // Gemma 4 / PLaMo: "</s>" is a normal token there.
        if has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>") {
            if let Some(pos) = eog.iter().position(|&id| text_of(id) == "</s>") {
                let id = eog.remove(pos);
                self.attrs[id as usize] = attr::NORMAL;
            }
        }
        self.eog = eog;
    }

    /// The byte a byte-fallback token stands for: hex digits at text offset 3..5, as
    /// llama.cpp's `strtol(text.substr(3, 2), 16)` reads them (0 when there are none).
    pub(crate) fn token_byte(&self, id: u32) -> u8 {
        let text = self.tokens[id as usize].as_bytes();
        let digits = text.get(3..text.len().min(5)).unwrap_or(&[]);
        let mut v: u32 = 0;
        for &c in digits {
            match (c as char).to_digit(16) {
                Some(d) => v = v * 16 + d,
                None => break,
            }
        }
        v as u8
    }
}
