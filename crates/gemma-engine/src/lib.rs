//! The library API: load a model, tokenize, evaluate tokens, generate with a streaming callback.
