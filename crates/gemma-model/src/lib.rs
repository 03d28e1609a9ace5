//! Gemma model configuration, weights binding, KV cache and the forward pass.
