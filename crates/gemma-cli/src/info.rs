//! `gemma info`: metadata, tensor types and sizes, and the resolved configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;

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
    let mut o = String::new();
    let m = a.model.load()?;
    let cfg = m.config();
    if a.json {
        writeln!(o, "{}", serde_json::to_string_pretty(cfg)?)?;
        return crate::print_out(&o);
    }
    let file = m.model.file();
    writeln!(o, "file: {}", m.path.display())?;
    writeln!(
        o,
        "GGUF version {}, {} bytes, alignment {}",
        file.version(),
        file.file_size(),
        file.alignment()
    )?;
    writeln!(o, "kernels: {}", gemma_kernels::kernel_level())?;
    writeln!(o, "precision: {}", m.model.precision)?;
    writeln!(o, "\nmetadata:")?;
    for (k, v) in file.metadata() {
        writeln!(o, "  {k} = {v}")?;
    }
    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for t in file.tensors() {
        let e = by_type.entry(t.dtype.name()).or_default();
        e.0 += 1;
        e.1 += t.n_bytes;
    }
    writeln!(o, "\ntensors: {}", file.tensors().len())?;
    for (ty, (n, bytes)) in &by_type {
        writeln!(
            o,
            "  {ty:<7} {n:>4} tensors {:>10.2} MiB",
            *bytes as f64 / (1 << 20) as f64
        )?;
    }
    if a.tensors {
        for t in file.tensors() {
            writeln!(
                o,
                "  {:<32} {:<7} {:?} {} bytes",
                t.name,
                t.dtype.name(),
                t.dims,
                t.n_bytes
            )?;
        }
    }
    writeln!(o, "\nresolved configuration:")?;
    writeln!(o, "{}", serde_json::to_string_pretty(cfg)?)?;
    writeln!(o, "query scale: {}", cfg.query_scale())?;
    writeln!(
        o,
        "vocabulary: {} tokens (bos {:?}, eos {:?})",
        m.tokenizer.vocab_size(),
        m.tokenizer.bos(),
        m.tokenizer.eos()
    )?;
    let ctx = cfg.default_ctx();
    writeln!(
        o,
        "default context: {ctx} tokens, KV cache {:.1} MiB at full context",
        cfg.kv_bytes(ctx) as f64 / (1 << 20) as f64
    )?;
    crate::print_out(&o)
}
