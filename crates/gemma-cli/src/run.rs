//! `gemma run`: stream generated text to stdout, statistics to stderr.

use std::io::Write;
use std::ops::ControlFlow;

use anyhow::Result;
use clap::Args;
use gemma_engine::{Message, StopReason};

use crate::sampling::SamplingArgs;
use crate::{text_or_stdin, ModelArgs};

/// Arguments of `gemma run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The prompt (put it after `--` when it starts with a dash); read from stdin when absent.
    #[arg(conflicts_with = "tokens")]
    pub prompt: Option<String>,
    /// The prompt as token ids, comma-separated, used exactly as given (nothing added).
    #[arg(long, value_delimiter = ',', value_name = "ID,ID,...")]
    pub tokens: Option<Vec<u32>>,
    /// Treat the prompt as a user message in the model's chat template (its own, else the
    /// built-in Gemma one) and answer as the model.
    #[arg(long, conflicts_with = "tokens")]
    pub chat: bool,
    /// A system message for --chat (folded into the first user turn, as Gemma does).
    #[arg(long, requires = "chat", value_name = "TEXT")]
    pub system: Option<String>,
    /// Print the generated token ids (JSON array) on stdout after the text's line.
    #[arg(long)]
    pub print_ids: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Threads (default: all cores).
    #[arg(long, short = 't')]
    pub threads: Option<usize>,
    /// Context size in tokens (default: the model's, capped at 8192).
    #[arg(long, short = 'c')]
    pub ctx: Option<usize>,
    /// Do not add BOS even when the model asks for it.
    #[arg(long)]
    pub no_bos: bool,
}

/// Run `gemma run`.
pub fn run(a: RunArgs) -> Result<()> {
    let opts = a.sampling.options()?;
    let m = a.model.load()?;
    let ids = match a.tokens {
        Some(t) if t.is_empty() => anyhow::bail!("--tokens: no token ids given"),
        Some(t) => t,
        None if a.chat => {
            let mut messages = Vec::new();
            if let Some(s) = a.system {
                messages.push(Message::system(s));
            }
            messages.push(Message::user(text_or_stdin(a.prompt)?));
            m.chat_tokens(&messages, true)?
        }
        None => m.tokenize(&text_or_stdin(a.prompt)?, !a.no_bos)?,
    };
    let mut session = m.new_session(a.ctx, a.threads)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err = None;
    let summary = session.generate(&ids, &opts, |ev| {
        if let Err(e) = out.write_all(ev.text.as_bytes()).and_then(|_| out.flush()) {
            write_err = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    })?;
    if let Some(e) = write_err {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    if a.print_ids {
        let _ = writeln!(out, "\n{}", serde_json::to_string(&summary.tokens)?);
    }
    drop(out);
    // End the terminal line on stderr, so stdout holds exactly the generated text.
    eprintln!();
    if summary.stop == StopReason::ContextFull {
        eprintln!(
            "\n[stopped: the {}-token context is full; raise --ctx to generate more]",
            session.ctx()
        );
    }
    eprintln!(
        "prompt: {} tokens, {:.2} tokens/s | generation: {} tokens, {:.2} tokens/s | threads {}",
        summary.prompt_tokens,
        summary.prompt_tps(),
        summary.tokens.len(),
        summary.gen_tps(),
        session.threads()
    );
    Ok(())
}
