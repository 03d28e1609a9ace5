//! Streaming detokenization: turns ids into text one at a time without ever emitting a
//! character cut in half (byte-fallback tokens may split a character over several ids).

use crate::Tokenizer;

/// Incremental detokenizer. Feed ids with [`StreamDecoder::push`]; each call returns the text
/// that became complete. Incomplete UTF-8 sequences are held back; a sequence that can never
/// become valid is emitted as U+FFFD as soon as that is certain, and [`StreamDecoder::flush`]
/// turns whatever incomplete tail is left into U+FFFD. The concatenated output equals
/// [`Tokenizer::decode`] of the same ids.
#[derive(Debug, Clone, Default)]
pub struct StreamDecoder {
    render_special: bool,
    /// Bytes received but not yet emitted (an incomplete UTF-8 sequence).
    pending: Vec<u8>,
    /// Whether a token has been pushed yet (the first one may lose a leading space).
    started: bool,
}

impl StreamDecoder {
    /// A decoder that renders control tokens (e.g. `<end_of_turn>`) as text when
    /// `render_special`, and drops them otherwise.
    pub fn new(render_special: bool) -> Self {
        StreamDecoder {
            render_special,
            pending: Vec::new(),
            started: false,
        }
    }

    /// Adds token `id` and returns the text completed by it (often empty or one piece).
    pub fn push(&mut self, tok: &Tokenizer, id: u32) -> String {
        let strip = !self.started && tok.add_space_prefix();
        self.started = true;
        tok.pieces()
            .decode_into(&[id], self.render_special, strip, &mut self.pending);
        self.drain(false)
    }

    /// Returns what is still held back, with invalid or incomplete bytes as U+FFFD, and
    /// resets the decoder for a new sequence.
    pub fn flush(&mut self) -> String {
        let out = self.drain(true);
        self.started = false;
        out
    }

    /// Emits the longest prefix of `pending` that is decided: valid UTF-8, plus U+FFFD for
    /// each invalid sequence. An incomplete sequence at the end is kept unless `at_end`.
    fn drain(&mut self, at_end: bool) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    // `valid` is valid UTF-8: the error says so.
                    out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &after[bad..];
                        }
                        None if at_end => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            rest = &[];
                            break;
                        }
                        None => {
                            rest = after;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let n = self.pending.len();
        self.pending.drain(..n - keep);
        out
    }
}
