//! `gemma info`: metadata, tensor types and sizes, and the resolved configuration.

use std::collections::BTreeMap;

use anyhow::Result;
use clap::Args;

use crate::ModelArgs;

/// Arguments of `gemma info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// List every tensor.
    #[arg(long)]
    pub tensors: bool,
    /// Print the resolved configuration as JSON only.
    #[arg(long)]
    pub json: bool,
}

/// Run `gemma info`.
pub fn info(a: InfoArgs) -> Result<()> {
    let m = a.model.load()?;
    let cfg = m.config();
    if a.json {
        println!("{}", serde_json::to_string_pretty(cfg)?);
        return Ok(());
    }
    let file = m.model.file();
    println!("file: {}", m.path.display());
    println!(
        "GGUF version {}, {} bytes, alignment {}",
        file.version(),
        file.file_size(),
        file.alignment()
    );
    println!("kernels: {}", gemma_kernels::kernel_level());
    println!("precision: {}", m.model.precision);
    println!("\nmetadata:");
    for (k, v) in file.metadata() {
        println!("  {k} = {v}");
    }
    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.dtype.name()).or_default();
        e.0 += 1;
        e.1 += t.n_bytes;
    }
    println!("\ntensors: {}", file.tensors().len());
    for (ty, (n, bytes)) in &by_type {
        println!(
            "  {ty:<7} {n:>4} tensors {:>10.2} MiB",
            *bytes as f64 / (1 << 20) as f64
        );
    }
    if a.tensors {
        for t in file.tensors() {
            println!(
                "  {:<32} {:<7} {:?} {} bytes",
                t.name,
                t.dtype.name(),
                t.dims,
                t.n_bytes
            );
        }
    }
    println!("\nresolved configuration:");
    println!("{}", serde_json::to_string_pretty(cfg)?);
    println!("query scale: {}", cfg.query_scale());
    println!(
        "vocabulary: {} tokens (bos {:?}, eos {:?})",
        m.tokenizer.vocab_size(),
        m.tokenizer.bos(),
        m.tokenizer.eos()
    );
    let ctx = cfg.default_ctx();
    println!(
        "default context: {ctx} tokens, KV cache {:.1} MiB at full context",
        cfg.kv_bytes(ctx) as f64 / (1 << 20) as f64
    );
    Ok(())
}
