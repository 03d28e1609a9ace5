//! `gemma quantize INPUT OUTPUT --type T`: a GGUF file or a Hugging Face model folder in, a
//! GGUF file out (llama.cpp's type mix and quantizers); progress and a summary on stderr.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use gemma_quantize::{quantize, BarProgress, FileType, Options, QuantizeError};

/// Arguments of `gemma quantize`.
#[derive(Args, Debug, Clone)]
pub struct QuantizeArgs {
    /// A GGUF file, or a Hugging Face model folder (config.json, model.safetensors or a
    /// sharded index, tokenizer.json, tokenizer_config.json).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// The GGUF file to write.
    #[arg(value_name = "OUTPUT")]
    pub output: PathBuf,
    /// Target type, named as llama-quantize names it: F32, F16, BF16, Q8_0, Q4_0, Q4_1,
    /// Q5_0, Q5_1, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K.
    #[arg(long = "type", short = 't', value_name = "TYPE")]
    pub ftype: String,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// Runs `gemma quantize`.
pub fn run(args: &QuantizeArgs) -> Result<()> {
    let ftype = FileType::parse(&args.ftype).ok_or_else(|| QuantizeError::UnknownType {
        name: args.ftype.clone(),
        known: FileType::known_names(),
    })?;
    let mut opts = Options::new(ftype);
    opts.force = args.force;
    if let Some(n) = args.threads {
        opts.threads = n.max(1);
    }
    eprintln!(
        "quantizing {} to {} ({ftype})",
        args.input.display(),
        args.output.display()
    );
    let summary = quantize(&args.input, &args.output, &opts, &mut BarProgress::new())
        .with_context(|| format!("cannot quantize {}", args.input.display()))?;
    eprintln!("wrote {}: {summary}", args.output.display());
    Ok(())
}
