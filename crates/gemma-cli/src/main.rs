//! The `gemma` command line: thin over the `gemma-engine` library.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use gemma_engine::{LoadOptions, LoadedModel, Precision};

mod bench;
mod chat;
mod eval;
mod info;
mod logits;
mod perplexity;
mod quantize;
mod run;
mod sampling;
mod serve;

/// Run Gemma models on the CPU.
#[derive(Parser, Debug)]
#[command(name = "gemma", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate text from a prompt (argument or stdin); only the generated text goes to stdout.
    Run(run::RunArgs),
    /// Talk with the model in its chat format (interactive; reads lines from stdin when piped).
    Chat(chat::ChatArgs),
    /// Print the token ids of a text (argument or stdin).
    Tokenize(TokenizeArgs),
    /// Print the model's final logits at the last position of a prompt.
    Logits(logits::LogitsArgs),
    /// Print a model's metadata, tensors and resolved configuration.
    Info(info::InfoArgs),
    /// Measure prompt-processing and generation speed (as llama-bench: -p 512 -n 128 -t N -r R).
    Bench(bench::BenchArgs),
    /// Perplexity of a text file with llama.cpp's protocol (as llama-perplexity -f FILE -c 512).
    Perplexity(perplexity::PerplexityArgs),
    /// Benchmark scores as lm-evaluation-harness computes them (arc_easy, piqa, boolq, hellaswag,
    /// winogrande, ...), resumable, beside the model card's figures.
    Eval(eval::EvalArgs),
    /// Download the default model (Gemma 3 270M, Q4_K_M) into $GEMMA_HOME.
    Pull(PullArgs),
    /// Write a GGUF file (F16, BF16, Q8_0, Q4_K_M, ...) from a GGUF file or a model folder.
    Quantize(quantize::QuantizeArgs),
    /// An OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions (streaming,
    /// logprobs, usage), /v1/models, /tokenize, /detokenize, /health, /metrics.
    Serve(serve::ServeArgs),
}

/// Which model to use.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A GGUF file or a Hugging Face model folder (config.json, safetensors, tokenizer.json);
    /// the default model (pulled on first use) when absent.
    #[arg(long, short = 'm', value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Numerics: `mixed` (8-bit activations, f16 attention operands, as llama.cpp) or `f32`
    /// (exact). Default: mixed for GGUF files, f32 for model folders.
    #[arg(long, value_name = "mixed|f32")]
    pub precision: Option<Precision>,
    /// Override query_pre_attn_scalar (queries are scaled by its inverse square root); GGUF
    /// files do not store it, see `gemma info` for the value in use and where it came from.
    #[arg(long, value_name = "X")]
    pub query_pre_attn_scalar: Option<f32>,
}

impl ModelArgs {
    /// The model file: the one given, or the default one (fetched if needed).
    pub fn path(&self) -> Result<PathBuf> {
        match &self.model {
            Some(p) => {
                if !p.exists() {
                    bail!(
                        "model {} does not exist (expected a GGUF file or a model folder)",
                        p.display()
                    );
                }
                Ok(p.clone())
            }
            None => gemma_hub::ensure_default_model(true).context("cannot get the default model"),
        }
    }

    /// Load the model with the chosen options.
    pub fn load(&self) -> Result<Arc<LoadedModel>> {
        let path = self.path()?;
        let opts = LoadOptions {
            precision: self.precision,
            query_pre_attn_scalar: self.query_pre_attn_scalar,
        };
        let m = LoadedModel::load_with(&path, &opts)?;
        Ok(m)
    }
}

#[derive(Args, Debug)]
struct TokenizeArgs {
    /// The text; read from stdin when absent.
    text: Option<String>,
    #[command(flatten)]
    model: ModelArgs,
    /// Print a JSON array of ids.
    #[arg(long)]
    json: bool,
    /// Do not add BOS even when the model asks for it.
    #[arg(long)]
    no_bos: bool,
}

#[derive(Args, Debug)]
struct PullArgs {
    /// Print the model's path on stdout (after pulling it if needed).
    #[arg(long)]
    print_path: bool,
    /// Download and verify again even if the model is present.
    #[arg(long)]
    force: bool,
}

/// Write `text` to stdout at once; a reader that closed the pipe early (`gemma info | head`)
/// is not an error.
pub fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

/// The text given as an argument, or all of stdin.
pub fn text_or_stdin(text: Option<String>) -> Result<String> {
    match text {
        Some(t) => Ok(t),
        None => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the text from stdin (it must be UTF-8)")?;
            Ok(s)
        }
    }
}

fn tokenize(a: TokenizeArgs) -> Result<()> {
    let mut o = String::new();
    let text = text_or_stdin(a.text)?;
    let m = a.model.load()?;
    let ids = m.tokenize(&text, !a.no_bos)?;
    if a.json {
        writeln!(o, "{}", serde_json::to_string(&ids)?)?;
    } else {
        for id in ids {
            let piece = m.tokenizer.token_str(id).unwrap_or_default();
            writeln!(o, "{id:>6} -> {piece:?}")?;
        }
    }
    crate::print_out(&o)
}

fn pull(a: PullArgs) -> Result<()> {
    let mut o = String::new();
    let path = gemma_hub::pull(true, a.force)?;
    if a.print_path {
        writeln!(o, "{}", path.display())?;
    } else {
        eprintln!("model ready: {}", path.display());
    }
    crate::print_out(&o)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let res = match cli.command {
        Command::Run(a) => run::run(a),
        Command::Chat(a) => chat::chat(a),
        Command::Serve(a) => serve::serve(a),
        Command::Tokenize(a) => tokenize(a),
        Command::Logits(a) => logits::logits(a),
        Command::Info(a) => info::info(a),
        Command::Bench(a) => bench::bench(a),
        Command::Perplexity(a) => perplexity::perplexity(a),
        Command::Eval(a) => eval::eval(a),
        Command::Pull(a) => pull(a),
        Command::Quantize(a) => quantize::run(&a),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, leaving out a cause whose text the message before it
/// already includes (library errors often quote their source).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
