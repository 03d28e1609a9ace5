//! `gemma serve` driven by the official `openai` Python client (tests/openai/test_server.py):
//! chat, completions, streaming, stop strings, seeds, logprobs, cancellation, shutdown and each
//! error status, against real server processes. The client is installed once, pinned, by
//! scripts/openai_venv.sh under $GEMMA_HOME.

use std::path::Path;
use std::process::Command;

#[test]
fn the_openai_client_suite_passes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = Command::new("bash")
        .arg(root.join("scripts/openai_venv.sh"))
        .output()
        .expect("run scripts/openai_venv.sh");
    assert!(
        venv.status.success(),
        "cannot make the openai environment: {}",
        String::from_utf8_lossy(&venv.stderr)
    );
    let python = String::from_utf8(venv.stdout).unwrap().trim().to_string();
    // The model is fetched (once) before servers start, so their start-up stays short.
    gemma_hub::ensure_default_model(true).expect("default model");
    let status = Command::new(&python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai/test_server.py"))
        .arg("-v")
        .env("GEMMA_BIN", env!("CARGO_BIN_EXE_gemma"))
        .env_remove("GEMMA_API_KEY")
        .status()
        .expect("run the openai test suite");
    assert!(
        status.success(),
        "the openai client suite failed (see above)"
    );
}
