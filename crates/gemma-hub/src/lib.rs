//! The local model store: where `$GEMMA_HOME` is, and fetching the default model into it.

use std::path::PathBuf;

/// File name of the default model (Gemma 3 270M pretrained, Q4_K_M) inside `$GEMMA_HOME/models`.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// The project's cache root: `$GEMMA_HOME`, else `~/.cache/gemma-rs`.
///
/// Every download of the project goes under it.
pub fn gemma_home() -> PathBuf {
    if let Some(h) = std::env::var_os("GEMMA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("gemma-rs")
}

/// Where the default model lives once pulled: `$GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf`.
pub fn default_model_path() -> PathBuf {
    gemma_home().join("models").join(DEFAULT_MODEL_FILE)
}
