//! SentencePiece-style tokenizer built from GGUF vocabularies, with a streaming UTF-8-safe detokenizer.
