//! `gemma info`: metadata, tensor types and sizes, and the resolved configuration.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;
use clap::Args;
use gemma_engine::Storage;

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
    /// Estimate memory for this context size (default: the model's default context).
    #[arg(long, short = 'c')]
    pub ctx: Option<usize>,
    /// Prompt batch size for the memory estimate (default and most: the forward pass's
    /// micro-batch).
    #[arg(long)]
    pub batch: Option<usize>,
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
    writeln!(o, "model: {}", m.path.display())?;
    writeln!(
        o,
        "kernels: {} (float dots: {})",
        gemma_kernels::kernel_level(),
        gemma_kernels::float_dot_form()
    )?;
    writeln!(o, "precision: {}", m.model.precision)?;
    // (name, type, dims in GGML order, bytes) of every tensor.
    let tensors: Vec<(String, &str, Vec<u64>, u64)> = match m.model.storage() {
        Storage::Gguf(file) => {
            writeln!(
                o,
                "GGUF version {}, {} bytes, alignment {}",
                file.version(),
                file.file_size(),
                file.alignment()
            )?;
            writeln!(o, "\nmetadata:")?;
            for (k, v) in file.metadata() {
                match file.released_len(k) {
                    Some(n) => writeln!(o, "  {k} = [{n} items, held by the tokenizer]")?,
                    None => writeln!(o, "  {k} = {v}")?,
                }
            }
            file.tensors()
                .iter()
                .map(|t| (t.name.clone(), t.dtype.name(), t.dims.clone(), t.n_bytes))
                .collect()
        }
        Storage::Safetensors(set) => {
            writeln!(
                o,
                "Hugging Face folder: {} safetensors file(s), {} bytes",
                set.shards().len(),
                m.model.storage().file_size()
            )?;
            set.tensors()
                .map(|t| (t.name.clone(), t.dtype.name(), t.ggml_dims(), t.n_bytes()))
                .collect()
        }
    };
    let mut by_type: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    for (_, ty, _, bytes) in &tensors {
        let e = by_type.entry(ty).or_default();
        e.0 += 1;
        e.1 += bytes;
    }
    writeln!(o, "\ntensors: {}", tensors.len())?;
    for (ty, (n, bytes)) in &by_type {
        writeln!(
            o,
            "  {ty:<7} {n:>4} tensors {:>10.2} MiB",
            *bytes as f64 / (1 << 20) as f64
        )?;
    }
    if a.tensors {
        for (name, ty, dims, bytes) in &tensors {
            writeln!(o, "  {name:<32} {ty:<7} {dims:?} {bytes} bytes")?;
        }
    }
    writeln!(o, "\nresolved configuration:")?;
    writeln!(o, "{}", serde_json::to_string_pretty(cfg)?)?;
    writeln!(
        o,
        "query_pre_attn_scalar: {} ({}); query scale {}",
        cfg.query_pre_attn_scalar,
        m.query_pre_attn_scalar_origin,
        cfg.query_scale()
    )?;
    writeln!(o, "embedding scale: {}", m.model.weights.embed_scale)?;
    writeln!(
        o,
        "chat template: {}",
        if m.chat_template.is_some() {
            "the model's own"
        } else {
            "none (built-in Gemma template)"
        }
    )?;
    writeln!(
        o,
        "vocabulary: {} tokens (bos {:?}, eos {:?}, end of generation {:?})",
        m.tokenizer.vocab_size(),
        m.tokenizer.bos(),
        m.tokenizer.eos(),
        m.tokenizer.eog_ids()
    )?;
    let ctx = a.ctx.unwrap_or_else(|| cfg.default_ctx());
    let batch = a
        .batch
        .unwrap_or(ctx)
        .clamp(1, ctx.max(1))
        .min(gemma_engine::UBATCH);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let weights = m.model.storage().file_size();
    let kv = cfg.kv_bytes(ctx, batch);
    let fwd = cfg.forward_bytes(batch, 1);
    writeln!(
        o,
        "memory at {ctx} tokens of context (prompt micro-batches of {batch}):\n  weights (mapped) {:9.1} MiB\n  KV cache         {:9.1} MiB ({} of {} layers slide: they keep their window)\n  forward buffers  {:9.1} MiB\n  total            {:9.1} MiB",
        mib(weights),
        mib(kv),
        cfg.layers.iter().filter(|l| l.sliding_window.is_some()).count(),
        cfg.num_hidden_layers,
        mib(fwd),
        mib(weights + kv + fwd)
    )?;
    crate::print_out(&o)
}
