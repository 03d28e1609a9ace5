//! Tokenizes text with a GGUF file's vocabulary and reports load and encode times.
//!
//! `cargo run --release -p gemma-tokenizer --example tokenize -- [MODEL.gguf] [TEXT]`
//! (defaults: the default model; a ~10 kB generated text). Prints the ids for short texts.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .map(Into::into)
        .unwrap_or_else(gemma_hub::default_model_path);
    let text = args.next().unwrap_or_else(|| {
        let words = [
            "the",
            "tokenizer",
            "merges",
            "pieces",
            "中文",
            "😀",
            "\n",
            "  ",
            "<td>",
            "x=1;",
        ];
        (0..2000)
            .map(|i| words[(i * 7 + i / 3) % words.len()])
            .collect::<Vec<_>>()
            .join(" ")
    });

    let t0 = Instant::now();
    let file = gemma_formats::GgufFile::open(&path)?;
    let t1 = Instant::now();
    let tok = gemma_tokenizer::Tokenizer::from_gguf(&file)?;
    let t2 = Instant::now();
    // Best of 10, to see past noise from other processes.
    let mut ids = Vec::new();
    let mut best = std::time::Duration::MAX;
    for _ in 0..10 {
        let s = Instant::now();
        ids = tok.encode(&text, true, true);
        best = best.min(s.elapsed());
    }
    let t3 = Instant::now();
    let back = tok.decode(&ids, true);
    let t4 = Instant::now();

    println!(
        "open gguf: {:?}, build tokenizer ({} tokens): {:?}",
        t1 - t0,
        tok.vocab_size(),
        t2 - t1
    );
    println!(
        "encode {} bytes -> {} ids: {:?} (best of 10); decode: {:?}",
        text.len(),
        ids.len(),
        best,
        t4 - t3
    );
    if ids.len() <= 64 {
        println!("{ids:?}");
    }
    if back != format!("<bos>{text}") {
        println!("note: decode(encode(text)) differs from the text");
    }
    Ok(())
}
