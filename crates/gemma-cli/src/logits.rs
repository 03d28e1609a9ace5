//! `gemma logits`: the model's final logits at the last position, highest first.

use anyhow::{bail, Context, Result};
use clap::Args;
use gemma_engine::Logits;
use serde::Serialize;
use std::fmt::Write as _;

use crate::ModelArgs;

/// Arguments of `gemma logits`.
#[derive(Args, Debug)]
pub struct LogitsArgs {
    /// Text to evaluate (tokenized as the model says).
    #[arg(long, conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// Token ids, comma-separated, used exactly as given (nothing added).
    #[arg(long, value_delimiter = ',')]
    pub tokens: Option<Vec<u32>>,
    /// How many of the highest logits to print.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Print `{"tokens":[...],"top":[{"id":..,"logit":..},...]}`.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Context size in tokens.
    #[arg(long, short = 'c')]
    pub ctx: Option<usize>,
    /// Do not add BOS to --prompt even when the model asks for it.
    #[arg(long)]
    pub no_bos: bool,
}

#[derive(Serialize)]
struct Top {
    id: u32,
    logit: f32,
}

#[derive(Serialize)]
struct Report {
    tokens: Vec<u32>,
    top: Vec<Top>,
}

/// Run `gemma logits`.
pub fn logits(a: LogitsArgs) -> Result<()> {
    let mut o = String::new();
    let m = a.model.load()?;
    let tokens = match (a.prompt, a.tokens) {
        (Some(p), None) => m.tokenize(&p, !a.no_bos)?,
        (None, Some(t)) => t,
        _ => bail!("give the input as --prompt TEXT or --tokens ID,ID,..."),
    };
    if tokens.is_empty() {
        bail!("no tokens to evaluate");
    }
    let ctx = a
        .ctx
        .unwrap_or_else(|| m.config().default_ctx().max(tokens.len()));
    let mut session = m.new_session(Some(ctx), a.threads)?;
    let logits = session
        .eval(&tokens, Logits::Last)
        .context("evaluating the tokens")?;
    let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
    let k = a.top.min(idx.len());
    let by = |x: &u32, y: &u32| {
        logits[*y as usize]
            .total_cmp(&logits[*x as usize])
            .then(x.cmp(y))
    };
    if k > 0 && k < idx.len() {
        idx.select_nth_unstable_by(k - 1, by);
    }
    idx.truncate(k);
    idx.sort_by(by);
    let top: Vec<Top> = idx
        .iter()
        .map(|&id| Top {
            id,
            logit: logits[id as usize],
        })
        .collect();
    if a.json {
        writeln!(o, "{}", serde_json::to_string(&Report { tokens, top })?)?;
    } else {
        writeln!(o, "{} tokens; top {k} at the last position:", tokens.len())?;
        for t in top {
            let piece = m.tokenizer.token_str(t.id).unwrap_or_default();
            writeln!(o, "{:>7} {:>10.4} {:?}", t.id, t.logit, piece)?;
        }
    }
    crate::print_out(&o)
}
