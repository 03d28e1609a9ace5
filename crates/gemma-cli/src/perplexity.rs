//! `gemma perplexity`: perplexity of a text file with llama.cpp's protocol (as
//! `llama-perplexity -f FILE -c CTX`); progress on stderr, the result on stdout.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use gemma_eval::{PerplexityOptions, PerplexityProgress};
use serde::Serialize;

use crate::ModelArgs;

/// Arguments of `gemma perplexity`.
#[derive(Args, Debug)]
pub struct PerplexityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text file (UTF-8; one trailing newline is dropped, as llama.cpp's `-f` does).
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: PathBuf,
    /// Tokens per chunk; the second half of each chunk is scored.
    #[arg(long, short = 'c', default_value_t = 512)]
    pub ctx: usize,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Print the result as a JSON object instead of `PPL = X +/- Y`.
    #[arg(long)]
    pub json: bool,
}

/// The JSON result.
#[derive(Serialize)]
struct Report<'a> {
    model: String,
    file: String,
    threads: usize,
    seconds: f64,
    #[serde(flatten)]
    result: &'a gemma_eval::PerplexityResult,
}

/// Run `gemma perplexity`.
pub fn perplexity(a: PerplexityArgs) -> Result<()> {
    if a.threads == Some(0) {
        anyhow::bail!("-t/--threads must be at least 1");
    }
    let text = gemma_eval::read_text_file(&a.file)?;
    let m = a.model.load()?;
    let opts = PerplexityOptions {
        ctx: a.ctx,
        threads: a.threads.unwrap_or_else(gemma_engine::default_threads),
    };
    let start = Instant::now();
    let mut err = std::io::stderr();
    // On a terminal the progress line rewrites itself; elsewhere (a log) one line per chunk.
    let (lead, end) = if err.is_terminal() {
        ("\r", "   ")
    } else {
        ("", "\n")
    };
    let show = |p: &PerplexityProgress| {
        let elapsed = start.elapsed().as_secs_f64();
        let eta = elapsed / p.chunks_done as f64 * (p.chunks_total - p.chunks_done) as f64;
        // Failing to write progress is not worth stopping for.
        let _ = write!(
            err,
            "{lead}perplexity: chunk {}/{}, PPL {:.4}, {elapsed:.1} s, ETA {eta:.1} s{end}",
            p.chunks_done, p.chunks_total, p.ppl
        );
        let _ = err.flush();
    };
    let r = gemma_eval::perplexity(&m, &text, &opts, show)
        .with_context(|| format!("perplexity of {}", a.file.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    let running: Vec<String> = r
        .chunk_ppl
        .iter()
        .enumerate()
        .map(|(i, p)| format!("[{}]{p:.4}", i + 1))
        .collect();
    if lead == "\r" {
        eprintln!();
    }
    eprintln!(
        "{}\n{} chunks of {} tokens ({} of the text's {} tokens scored) in {seconds:.1} s",
        running.join(","),
        r.chunks,
        r.ctx,
        r.scored,
        r.n_tokens
    );
    let out = if a.json {
        let report = Report {
            model: m.path.display().to_string(),
            file: a.file.display().to_string(),
            threads: opts.threads,
            seconds,
            result: &r,
        };
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        format!("PPL = {:.4} +/- {:.5}\n", r.ppl, r.ppl_uncertainty)
    };
    crate::print_out(&out)
}
