//! Running a task: the requests of each question (with its few-shot examples), their scores,
//! the per-question results appended to a resume file as they come, and the task's metrics
//! with standard errors.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use gemma_engine::{GenerateOptions, LoadedModel, SamplerConfig};
use serde::{Deserialize, Serialize};

use crate::loglik::{LoglikRequest, Scorer};
use crate::tasks::{Doc, Scoring, Task};
use crate::EvalError;

/// Stop strings and length of the generation tasks (lm-evaluation-harness's `until`).
const GEN_STOP: [&str; 3] = ["\n", ".", ","];
/// Tokens a generated answer may take.
const GEN_MAX_TOKENS: usize = 64;

/// How to run a task.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Few-shot examples per question.
    pub shots: usize,
    /// Evaluate only the first `limit` questions.
    pub limit: Option<usize>,
    /// Seed of the few-shot draw.
    pub seed: u64,
    /// Context of each sequence, in tokens.
    pub ctx: usize,
    /// Threads.
    pub threads: usize,
}

/// One question's outcome, as kept in the resume file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DocResult {
    /// The question's index in the split.
    pub index: usize,
    /// Metric values (1 or 0 for accuracies).
    pub metrics: BTreeMap<String, f64>,
    /// Log-likelihood of each choice (choice tasks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub logliks: Vec<f64>,
    /// The generated answer (generation tasks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

/// A metric over a task: its mean and the standard error of the mean.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metric {
    /// The mean.
    pub value: f64,
    /// Sample standard deviation over the questions divided by sqrt(n).
    pub stderr: f64,
}

/// A task's result.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TaskResult {
    /// The task.
    pub task: String,
    /// Few-shot examples per question.
    pub shots: usize,
    /// Questions evaluated.
    pub n: usize,
    /// The metrics by name (`acc`, `acc_norm`, `exact_match`).
    pub metrics: BTreeMap<String, Metric>,
    /// Seconds spent (this run; resumed questions cost nothing).
    pub seconds: f64,
    /// Questions taken from the resume file.
    pub resumed: usize,
}

/// Progress of a run.
#[derive(Clone, Debug)]
pub struct Progress<'a> {
    /// Questions done (resumed ones included).
    pub done: usize,
    /// Questions in all.
    pub total: usize,
    /// Questions done in this run.
    pub done_now: usize,
    /// Seconds this run has taken.
    pub elapsed: f64,
    /// The main metric so far.
    pub running: Option<(&'a str, f64)>,
}

/// The few-shot prefix of question `index`: `shots` examples from `pool` (other than the
/// question itself), drawn with a generator seeded by `seed` and the index, each followed by
/// a blank line.
pub fn fewshot_prefix(
    pool: &[Doc],
    scoring: Scoring,
    shots: usize,
    seed: u64,
    index: usize,
    own: Option<&Doc>,
) -> String {
    if shots == 0 || pool.is_empty() {
        return String::new();
    }
    let mut rng = SplitMix(seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut picked: Vec<usize> = Vec::with_capacity(shots);
    let candidates = pool.len() - usize::from(own.is_some_and(|d| pool.contains(d)));
    let want = shots.min(candidates);
    while picked.len() < want {
        let i = (rng.next() % pool.len() as u64) as usize;
        if picked.contains(&i) || own.is_some_and(|d| *d == pool[i]) {
            continue;
        }
        picked.push(i);
    }
    let mut out = String::new();
    for i in picked {
        out.push_str(&pool[i].example(scoring));
        out.push_str("\n\n");
    }
    out
}

/// splitmix64.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// lm-evaluation-harness's pair encoding: trailing spaces of the context move to the
/// continuation; the continuation's tokens are those of the whole text after the context's.
pub fn encode_pair(
    model: &LoadedModel,
    context: &str,
    continuation: &str,
) -> Result<LoglikRequest, EvalError> {
    let trimmed = context.trim_end_matches(' ');
    let moved = &context[trimmed.len()..];
    let whole = model.tokenize(&format!("{trimmed}{moved}{continuation}"), true)?;
    let ctx = model.tokenize(trimmed, true)?;
    let split = ctx.len().min(whole.len());
    Ok(LoglikRequest {
        context: ctx,
        continuation: whole[split..].to_vec(),
    })
}

/// The normalisation of exact match: articles (nq_open) and punctuation dropped, lower case,
/// leading whitespace removed.
pub fn normalize_answer(text: &str, drop_articles: bool) -> String {
    let mut t = text.trim_start().to_string();
    if drop_articles {
        for a in ["The ", "the ", "An ", "A ", "a ", "an "] {
            t = remove_word_prefixed(&t, a);
        }
    }
    t.to_lowercase()
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect()
}

/// Removes `article` where it starts a word (the harness's `\b(?:The |...)`).
fn remove_word_prefixed(text: &str, article: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let b = text.as_bytes();
    while i < text.len() {
        let at_word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if at_word_start && text[i..].starts_with(article) {
            i += article.len();
            continue;
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    out
}

/// The (context, continuation) texts a question is scored on: for choice tasks the prompt and
/// each `" " + choice`, for partial scoring each completed prompt and `" " + target`, for
/// greedy tasks the prompt and the target; generation tasks have none (their prompt is the
/// context, generated from).
pub fn doc_requests(scoring: Scoring, doc: &Doc, prefix: &str) -> Vec<(String, String)> {
    match scoring {
        Scoring::Choice => doc
            .choices
            .iter()
            .map(|c| (format!("{prefix}{}", doc.text), format!(" {c}")))
            .collect(),
        Scoring::Partial => doc
            .choices
            .iter()
            .map(|c| (format!("{prefix}{c}"), format!(" {}", doc.target)))
            .collect(),
        Scoring::Greedy => vec![(format!("{prefix}{}", doc.text), doc.target.clone())],
        Scoring::Generate => vec![(format!("{prefix}{}", doc.text), String::new())],
    }
}

/// Scores one question.
fn run_doc(
    scorer: &Scorer,
    task: &Task,
    doc: &Doc,
    prefix: &str,
    index: usize,
) -> Result<DocResult, EvalError> {
    let model = scorer.model();
    let mut metrics = BTreeMap::new();
    let mut logliks = Vec::new();
    let mut generated = None;
    match task.scoring {
        Scoring::Choice | Scoring::Partial => {
            let reqs: Vec<LoglikRequest> = doc_requests(task.scoring, doc, prefix)
                .iter()
                .map(|(c, k)| encode_pair(model, c, k))
                .collect::<Result<_, _>>()?;
            let scores = scorer.score(&reqs)?;
            logliks = scores.iter().map(|s| s.logprob).collect();
            let argmax = |v: &[f64]| {
                v.iter()
                    .enumerate()
                    .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
            };
            let pred = argmax(&logliks);
            metrics.insert("acc".to_string(), f64::from(u8::from(pred == doc.gold)));
            if task.scoring == Scoring::Choice {
                let normed: Vec<f64> = logliks
                    .iter()
                    .zip(&doc.choices)
                    .map(|(l, c)| l / c.chars().count().max(1) as f64)
                    .collect();
                metrics.insert(
                    "acc_norm".to_string(),
                    f64::from(u8::from(argmax(&normed) == doc.gold)),
                );
            }
        }
        Scoring::Greedy => {
            let (c, k) = &doc_requests(task.scoring, doc, prefix)[0];
            let req = encode_pair(model, c, k)?;
            let s = scorer.score(std::slice::from_ref(&req))?[0];
            logliks.push(s.logprob);
            metrics.insert("acc".to_string(), f64::from(u8::from(s.greedy)));
        }
        Scoring::Generate => {
            let prompt = model.tokenize(&format!("{prefix}{}", doc.text), true)?;
            let mut session = model.new_session(Some(scorer.ctx()), Some(scorer.threads()))?;
            let opts = GenerateOptions {
                max_tokens: GEN_MAX_TOKENS,
                sampler: SamplerConfig::greedy(),
                stop: GEN_STOP.iter().map(|s| s.to_string()).collect(),
                ..GenerateOptions::default()
            };
            let mut text = String::new();
            session.generate(&prompt, &opts, |ev| {
                text.push_str(ev.text);
                ControlFlow::Continue(())
            })?;
            let articles = task.name == "nq_open";
            let pred = normalize_answer(&text, articles);
            let hit = doc
                .answers
                .iter()
                .any(|a| normalize_answer(a, articles) == pred);
            metrics.insert("exact_match".to_string(), f64::from(u8::from(hit)));
            generated = Some(text);
        }
    }
    Ok(DocResult {
        index,
        metrics,
        logliks,
        generated,
    })
}

/// The resume file's first line: what the results belong to.
#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct RunKey {
    task: String,
    model: String,
    model_bytes: u64,
    shots: usize,
    seed: u64,
    version: u32,
}

/// Bumped when scoring changes, so old resume files are not mixed in.
const RESULTS_VERSION: u32 = 1;

/// Evaluates `docs` of `task` (already limited), taking finished questions from `resume` and
/// appending new ones to it.
///
/// # Errors
///
/// When the model fails, or the resume file cannot be read or written.
pub fn run_task(
    model: &Arc<LoadedModel>,
    task: &Task,
    docs: &[Doc],
    pool: &[Doc],
    cfg: &RunConfig,
    resume: Option<&Path>,
    mut progress: impl FnMut(&Progress),
) -> Result<TaskResult, EvalError> {
    let scorer = Scorer::new(model.clone(), cfg.ctx, cfg.threads);
    let key = RunKey {
        task: task.name.to_string(),
        model: model.path.display().to_string(),
        model_bytes: std::fs::metadata(&model.path).map_or(0, |m| m.len()),
        shots: cfg.shots,
        seed: cfg.seed,
        version: RESULTS_VERSION,
    };
    let mut results: BTreeMap<usize, DocResult> = BTreeMap::new();
    let mut file = match resume {
        Some(p) => Some(open_resume(p, &key, &mut results)?),
        None => None,
    };
    results.retain(|i, _| *i < docs.len());
    let resumed = results.len();
    let start = Instant::now();
    let main = match task.scoring {
        Scoring::Generate => "exact_match",
        _ => "acc",
    };
    let mut done_now = 0;
    for (index, doc) in docs.iter().enumerate() {
        if results.contains_key(&index) {
            continue;
        }
        let own = pool.contains(doc).then_some(doc);
        let prefix = fewshot_prefix(pool, task.scoring, cfg.shots, cfg.seed, index, own);
        let r = run_doc(&scorer, task, doc, &prefix, index)?;
        if let Some((f, path)) = file.as_mut().zip(resume) {
            let line = serde_json::to_string(&r).unwrap_or_default();
            writeln!(f, "{line}").map_err(|source| EvalError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        results.insert(index, r);
        done_now += 1;
        let mean = results
            .values()
            .filter_map(|r| r.metrics.get(main))
            .sum::<f64>()
            / results.len() as f64;
        progress(&Progress {
            done: results.len(),
            total: docs.len(),
            done_now,
            elapsed: start.elapsed().as_secs_f64(),
            running: Some((main, mean)),
        });
    }
    let mut metrics = BTreeMap::new();
    let names: Vec<String> = results
        .values()
        .next()
        .map(|r| r.metrics.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        let xs: Vec<f64> = results
            .values()
            .filter_map(|r| r.metrics.get(&name).copied())
            .collect();
        metrics.insert(name, mean_stderr(&xs));
    }
    Ok(TaskResult {
        task: task.name.to_string(),
        shots: cfg.shots,
        n: results.len(),
        metrics,
        seconds: start.elapsed().as_secs_f64(),
        resumed,
    })
}

/// The mean and its standard error (sample standard deviation, n - 1, over sqrt(n)).
pub fn mean_stderr(xs: &[f64]) -> Metric {
    let n = xs.len() as f64;
    if xs.is_empty() {
        return Metric {
            value: f64::NAN,
            stderr: f64::NAN,
        };
    }
    let mean = xs.iter().sum::<f64>() / n;
    let var = if xs.len() > 1 {
        xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)
    } else {
        0.0
    };
    Metric {
        value: mean,
        stderr: (var / n).sqrt(),
    }
}

/// Opens (or starts) a resume file, reading the results it holds for `key`; a file for
/// another run is started over.
fn open_resume(
    path: &Path,
    key: &RunKey,
    results: &mut BTreeMap<usize, DocResult>,
) -> Result<File, EvalError> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let mut matches = false;
    if let Ok(f) = File::open(path) {
        let mut lines = BufReader::new(f).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        matches = serde_json::from_str::<RunKey>(&first).is_ok_and(|k| k == *key);
        if matches {
            for line in lines.map_while(Result::ok) {
                // A line cut by an interruption is simply done again.
                if let Ok(r) = serde_json::from_str::<DocResult>(&line) {
                    results.insert(r.index, r);
                }
            }
        }
    }
    if matches {
        // Rewrite the complete lines so a torn last line cannot join the next one.
        let mut f = File::create(path).map_err(io)?;
        writeln!(f, "{}", serde_json::to_string(key).unwrap_or_default()).map_err(io)?;
        for r in results.values() {
            writeln!(f, "{}", serde_json::to_string(r).unwrap_or_default()).map_err(io)?;
        }
        return OpenOptions::new().append(true).open(path).map_err(io);
    }
    let mut f = File::create(path).map_err(io)?;
    writeln!(f, "{}", serde_json::to_string(key).unwrap_or_default()).map_err(io)?;
    Ok(f)
}

/// Where a task's resume file lives by default: `$GEMMA_HOME/eval-runs/`.
pub fn default_resume_path(model: &LoadedModel, task: &Task, shots: usize) -> PathBuf {
    let name = model
        .path
        .file_name()
        .map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    gemma_hub::gemma_home()
        .join("eval-runs")
        .join(format!("{name}.{}.{shots}shot.jsonl", task.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stderr_is_the_harness_sample_stderr() {
        let m = mean_stderr(&[1.0, 0.0, 1.0, 1.0]);
        assert!((m.value - 0.75).abs() < 1e-12);
        // sample std sqrt(0.25) = 0.5 over sqrt(4)
        assert!((m.stderr - 0.25).abs() < 1e-12);
    }

    #[test]
    fn exact_match_normalisation() {
        assert_eq!(normalize_answer(" Paris", false), "paris");
        assert_eq!(normalize_answer("The Beatles!", true), "beatles");
        assert_eq!(normalize_answer("Theatre", true), "theatre");
        assert_eq!(normalize_answer("a cat and an owl", true), "cat and owl");
    }

    #[test]
    fn fewshot_draws_are_fixed_distinct_and_skip_the_question() {
        let doc = |t: &str| Doc {
            text: t.into(),
            choices: vec!["x".into()],
            gold: 0,
            target: String::new(),
            answers: vec![],
        };
        let pool: Vec<Doc> = (0..10).map(|i| doc(&format!("q{i}"))).collect();
        let a = fewshot_prefix(&pool, Scoring::Choice, 3, 1234, 7, Some(&pool[2]));
        assert_eq!(
            a,
            fewshot_prefix(&pool, Scoring::Choice, 3, 1234, 7, Some(&pool[2]))
        );
        assert_eq!(a.matches("\n\n").count(), 3);
        assert!(!a.contains("q2 x"));
        assert_ne!(a, fewshot_prefix(&pool, Scoring::Choice, 3, 1234, 8, None));
        assert_eq!(
            fewshot_prefix(&pool[..2], Scoring::Choice, 5, 1, 0, Some(&pool[0])),
            "q1 x\n\n"
        );
    }
}
