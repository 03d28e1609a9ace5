//! `gemma eval`: benchmark scores as lm-evaluation-harness computes them (log-likelihood
//! `acc`/`acc_norm`, greedy exact match), with progress, resumable runs and a JSON report,
//! beside the model card's published figures.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use gemma_eval::tasks::{self, Task};
use gemma_eval::{Progress, RunConfig, TaskResult};
use serde_json::json;

use crate::ModelArgs;

/// Arguments of `gemma eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tasks, comma-separated, or `all`.
    #[arg(long, value_name = "T[,T...]", required = true)]
    pub task: String,
    /// Few-shot examples per question (default: each task's).
    #[arg(long)]
    pub shots: Option<usize>,
    /// Evaluate only the first N questions of each task.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Seed of the few-shot draw.
    #[arg(long, default_value_t = 1234)]
    pub seed: u64,
    /// Context of each sequence, in tokens.
    #[arg(long, short = 'c', default_value_t = 4096)]
    pub ctx: usize,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Write each question's scored texts (context, continuation), choices and answer as JSON
    /// lines to FILE instead of scoring (for checking the prompts with another engine).
    #[arg(long, value_name = "FILE")]
    pub dump_requests: Option<PathBuf>,
    /// Start over instead of resuming an interrupted run (results are kept per task under
    /// $GEMMA_HOME/eval-runs).
    #[arg(long)]
    pub fresh: bool,
}

/// Google's model card for Gemma 3 270M (pretrained): (task, shots, score in %).
const MODEL_CARD_270M: &[(&str, usize, f64)] = &[
    ("hellaswag", 10, 40.9),
    ("boolq", 0, 61.4),
    ("piqa", 0, 67.7),
    ("triviaqa", 5, 15.4),
    ("arc_challenge", 25, 29.0),
    ("arc_easy", 0, 57.7),
    ("winogrande", 5, 52.0),
];

fn chosen(spec: &str) -> Result<Vec<&'static Task>> {
    if spec == "all" {
        return Ok(tasks::TASKS.iter().collect());
    }
    spec.split(',')
        .map(|t| tasks::task(t.trim()).map_err(Into::into))
        .collect()
}

/// Run `gemma eval`.
pub fn eval(a: EvalArgs) -> Result<()> {
    anyhow::ensure!(a.threads != Some(0), "-t/--threads must be at least 1");
    anyhow::ensure!(a.limit != Some(0), "--limit must be at least 1");
    let chosen = chosen(&a.task)?;
    let model = a.model.load()?;
    let threads = a.threads.unwrap_or_else(gemma_engine::default_threads);
    let mut results: Vec<TaskResult> = Vec::new();
    let mut dumped = false;
    for task in chosen {
        let shots = a.shots.unwrap_or(task.default_shots);
        let (docs, pool) = gemma_eval::load_docs(task, shots)
            .with_context(|| format!("cannot read the data of task {}", task.name))?;
        let docs = &docs[..a.limit.map_or(docs.len(), |l| l.min(docs.len()))];
        if let Some(path) = &a.dump_requests {
            dump(path, task, docs, &pool, shots, a.seed, dumped)?;
            dumped = true;
            continue;
        }
        let cfg = RunConfig {
            shots,
            limit: a.limit,
            seed: a.seed,
            ctx: a.ctx,
            threads,
        };
        let resume = gemma_eval::default_resume_path(&model, task, shots);
        if a.fresh {
            let _ = std::fs::remove_file(&resume);
        }
        let start = Instant::now();
        let mut last = Instant::now();
        let mut err = std::io::stderr();
        let show = |p: &Progress| {
            if p.done < p.total && last.elapsed().as_secs_f64() < 0.5 {
                return;
            }
            last = Instant::now();
            let rate = p.done_now as f64 / p.elapsed.max(1e-9);
            let eta = (p.total - p.done) as f64 / rate.max(1e-9);
            let (name, v) = p.running.unwrap_or(("acc", f64::NAN));
            let _ = write!(
                err,
                "\r{}: {}/{} questions, {name} {:.2}%, {:.1} q/s, ETA {}   ",
                task.name,
                p.done,
                p.total,
                100.0 * v,
                rate,
                clock(eta)
            );
            let _ = err.flush();
        };
        let r = gemma_eval::run_task(&model, task, docs, &pool, &cfg, Some(&resume), show)?;
        eprintln!(
            "\r{}: {} questions ({} resumed) in {}{}",
            task.name,
            r.n,
            r.resumed,
            clock(start.elapsed().as_secs_f64()),
            " ".repeat(30)
        );
        results.push(r);
    }
    if let Some(path) = &a.dump_requests {
        eprintln!("requests written to {}", path.display());
        return Ok(());
    }
    let report = json!({
        "model": model.path.display().to_string(),
        "seed": a.seed,
        "limit": a.limit,
        "tasks": results.iter().map(|r| (r.task.clone(), task_json(r))).collect::<serde_json::Map<_, _>>(),
    });
    if let Some(path) = &a.output {
        std::fs::write(path, serde_json::to_string_pretty(&report)? + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let out = if a.json {
        serde_json::to_string_pretty(&report)? + "\n"
    } else {
        table(&results)
    };
    crate::print_out(&out)
}

/// Writes (or, after the first task, appends) the questions' scored texts as JSON lines.
fn dump(
    path: &std::path::Path,
    task: &Task,
    docs: &[gemma_eval::tasks::Doc],
    pool: &[gemma_eval::tasks::Doc],
    shots: usize,
    seed: u64,
    append: bool,
) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    for (index, doc) in docs.iter().enumerate() {
        let own = pool.contains(doc).then_some(doc);
        let prefix = gemma_eval::fewshot_prefix(pool, task.scoring, shots, seed, index, own);
        let line = json!({
            "task": task.name,
            "index": index,
            "shots": shots,
            "scoring": format!("{:?}", task.scoring),
            "choices": doc.choices,
            "gold": doc.gold,
            "answers": doc.answers,
            "requests": gemma_eval::doc_requests(task.scoring, doc, &prefix),
        });
        writeln!(f, "{line}").with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn task_json(r: &TaskResult) -> serde_json::Value {
    let mut v = json!({ "shots": r.shots, "n": r.n, "seconds": r.seconds });
    for (name, m) in &r.metrics {
        v[name] = json!(m.value);
        v[format!("{name}_stderr")] = json!(m.stderr);
    }
    if let Some(&(_, shots, score)) = MODEL_CARD_270M.iter().find(|c| c.0 == r.task) {
        v["model_card_270m"] = json!({ "shots": shots, "score": score / 100.0 });
    }
    v
}

fn table(results: &[TaskResult]) -> String {
    let mut o = String::from(
        "| task | shots | n | metric | value | ± stderr | model card (270M PT) |\n|---|---:|---:|---|---:|---:|---|\n",
    );
    for r in results {
        for (name, m) in &r.metrics {
            let card = MODEL_CARD_270M
                .iter()
                .find(|c| c.0 == r.task)
                .map_or(String::new(), |&(_, s, v)| format!("{v:.1} ({s}-shot)"));
            o.push_str(&format!(
                "| {} | {} | {} | {name} | {:.2} | {:.2} | {card} |\n",
                r.task,
                r.shots,
                r.n,
                100.0 * m.value,
                100.0 * m.stderr
            ));
        }
    }
    o
}

/// Seconds as `m:ss` or `h:mm:ss`.
fn clock(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.round() as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}
