//! End-to-end pull of the real default model from the Python package index into a temporary
//! `$GEMMA_HOME` (about 240 MB of downloads): run by hand with
//! `cargo test -p gemma-hub --test real_pull -- --ignored --nocapture`.

use std::io::Read;
use std::time::Instant;

use gemma_hub::{python_from_env, Fetcher, Source, DEFAULT_MODEL_SHA256, DEFAULT_MODEL_SIZE};
use sha2::{Digest, Sha256};

#[test]
#[ignore = "downloads ~240 MB from the network"]
fn pull_real_default_model() {
    let home = tempfile::tempdir().unwrap();
    let f = Fetcher {
        python: python_from_env(),
        home: home.path().to_path_buf(),
        source: Source::default_model(),
    };
    let start = Instant::now();
    let path = f.pull(true, false).unwrap();
    let pulled = start.elapsed();

    // Independent check of the installed file: size and full sha256.
    assert_eq!(std::fs::metadata(&path).unwrap().len(), DEFAULT_MODEL_SIZE);
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(&path).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    let got: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(got, DEFAULT_MODEL_SHA256);
    assert_eq!(
        std::fs::read_dir(f.downloads_dir()).unwrap().count(),
        0,
        "wheels deleted"
    );

    // Second call: no download.
    let start2 = Instant::now();
    assert_eq!(f.ensure(true).unwrap(), path);
    eprintln!(
        "pull: {:.1} s; second ensure: {:?}",
        pulled.as_secs_f64(),
        start2.elapsed()
    );
}
