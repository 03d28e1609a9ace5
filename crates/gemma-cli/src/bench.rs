//! `gemma bench`: prompt-processing and generation speed, measured as llama-bench measures it.
//!
//! Tests follow llama-bench: `pp N` evaluates N tokens (BOS, then random ids) in one batch from
//! an empty cache; `tg N` evaluates N tokens one at a time (BOS, then random ids), each with its
//! logits. Each test runs once to warm up, then `-r` times; tokens/s are reported as mean and
//! standard deviation over the repetitions.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;
use gemma_engine::{LoadedModel, Logits};
use serde::Serialize;

use crate::ModelArgs;

/// Arguments of `gemma bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Prompt sizes to test (comma-separated; 0 skips).
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_delimiter = ',',
        default_value = "512"
    )]
    pub n_prompt: Vec<usize>,
    /// Generation lengths to test (comma-separated; 0 skips).
    #[arg(
        short = 'n',
        long = "n-gen",
        value_delimiter = ',',
        default_value = "128"
    )]
    pub n_gen: Vec<usize>,
    /// Thread counts to test (comma-separated; default: all cores).
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    pub threads: Option<Vec<usize>>,
    /// Repetitions of each test.
    #[arg(short = 'r', long = "repetitions", default_value_t = 5)]
    pub repetitions: usize,
    /// Print a JSON array of results instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One test's result (the JSON shape, close to llama-bench's `-o json` fields).
#[derive(Serialize, Debug)]
pub struct BenchResult {
    /// Model path.
    pub model_filename: String,
    /// Bytes of weights.
    pub model_size: u64,
    /// Kernel level in use.
    pub kernels: String,
    /// Precision of the forward pass.
    pub precision: String,
    /// Threads.
    pub n_threads: usize,
    /// Prompt tokens (pp tests).
    pub n_prompt: usize,
    /// Generated tokens (tg tests).
    pub n_gen: usize,
    /// `pp512` or `tg128`.
    pub test: String,
    /// Mean tokens/s.
    pub avg_ts: f64,
    /// Standard deviation of tokens/s.
    pub stddev_ts: f64,
    /// Tokens/s of each repetition.
    pub samples_ts: Vec<f64>,
    /// Seconds of each repetition.
    pub samples_s: Vec<f64>,
}

/// xorshift64*: the random token ids of a test (as llama-bench, not meant to be meaningful).
struct Ids(u64);

impl Ids {
    fn next(&mut self, vocab: usize) -> u32 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % vocab as u64) as u32
    }
}

fn first_token(m: &LoadedModel, ids: &mut Ids, vocab: usize) -> u32 {
    m.tokenizer.bos().unwrap_or_else(|| ids.next(vocab))
}

/// Seconds to evaluate `n` prompt tokens in one batch.
fn run_pp(m: &std::sync::Arc<LoadedModel>, n: usize, threads: usize, seed: u64) -> Result<f64> {
    let vocab = m.config().vocab_size;
    let mut ids = Ids(seed | 1);
    let mut tokens = vec![first_token(m, &mut ids, vocab)];
    tokens.extend((1..n).map(|_| ids.next(vocab)));
    let mut s = m.new_session(Some(n), Some(threads))?;
    let t = Instant::now();
    s.eval(&tokens, Logits::Last)?;
    Ok(t.elapsed().as_secs_f64())
}

/// Seconds to evaluate `n` tokens one at a time.
fn run_tg(m: &std::sync::Arc<LoadedModel>, n: usize, threads: usize, seed: u64) -> Result<f64> {
    let vocab = m.config().vocab_size;
    let mut ids = Ids(seed | 1);
    let mut s = m.new_session(Some(n), Some(threads))?;
    let mut tok = first_token(m, &mut ids, vocab);
    let t = Instant::now();
    for _ in 0..n {
        s.eval(&[tok], Logits::Last)?;
        tok = ids.next(vocab);
    }
    Ok(t.elapsed().as_secs_f64())
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    (mean, var.sqrt())
}

/// Run `gemma bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    if a.repetitions == 0 {
        bail!("-r/--repetitions must be at least 1");
    }
    let m = a.model.load()?;
    let threads = a
        .threads
        .clone()
        .unwrap_or_else(|| vec![gemma_engine::default_threads()]);
    if threads.contains(&0) {
        bail!("-t/--threads: thread counts must be at least 1");
    }
    let size = m.model.storage().file_size();
    let mut results = Vec::new();
    let mut tests: Vec<(usize, usize)> = a
        .n_prompt
        .iter()
        .filter(|&&p| p > 0)
        .map(|&p| (p, 0))
        .collect();
    tests.extend(a.n_gen.iter().filter(|&&g| g > 0).map(|&g| (0, g)));
    for &t in &threads {
        for &(p, g) in &tests {
            let run = |seed| {
                if p > 0 {
                    run_pp(&m, p, t, seed)
                } else {
                    run_tg(&m, g, t, seed)
                }
            };
            run(0x9E37)?; // warm-up
            let mut secs = Vec::with_capacity(a.repetitions);
            for r in 0..a.repetitions {
                secs.push(run(0x9E37 + r as u64 + 1)?);
            }
            let n = (p + g) as f64;
            let ts: Vec<f64> = secs.iter().map(|s| n / s).collect();
            let (avg, sd) = mean_sd(&ts);
            let r = BenchResult {
                model_filename: m.path.display().to_string(),
                model_size: size,
                kernels: gemma_kernels::kernel_level().to_string(),
                precision: m.model.precision.to_string(),
                n_threads: t,
                n_prompt: p,
                n_gen: g,
                test: if p > 0 {
                    format!("pp{p}")
                } else {
                    format!("tg{g}")
                },
                avg_ts: avg,
                stddev_ts: sd,
                samples_ts: ts,
                samples_s: secs,
            };
            if !a.json {
                eprintln!(
                    "{:>6} threads {:>2}: {:8.2} ± {:.2} t/s",
                    r.test, t, avg, sd
                );
            }
            results.push(r);
        }
    }
    let mut o = String::new();
    if a.json {
        writeln!(o, "{}", serde_json::to_string_pretty(&results)?)?;
    } else {
        let name = m
            .path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
        writeln!(
            o,
            "| model | size | kernels | precision | threads | test | t/s |"
        )?;
        writeln!(o, "| --- | ---: | --- | --- | ---: | ---: | ---: |")?;
        for r in &results {
            writeln!(
                o,
                "| {name} | {:.2} MiB | {} | {} | {} | {} | {:.2} ± {:.2} |",
                r.model_size as f64 / (1 << 20) as f64,
                r.kernels,
                r.precision,
                r.n_threads,
                r.test,
                r.avg_ts,
                r.stddev_ts
            )?;
        }
    }
    crate::print_out(&o)
}
