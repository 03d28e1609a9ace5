//! `gemma run`: stream generated text to stdout, statistics to stderr.

use std::io::Write;
use std::ops::ControlFlow;

use anyhow::Result;
use clap::Args;
use gemma_engine::{GenerateOptions, Message, Penalties, SamplerConfig, StopReason};

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
    /// Most tokens to generate.
    #[arg(short = 'n', long = "max-tokens", default_value_t = 128)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 means greedy.
    #[arg(long, visible_alias = "temp", default_value_t = 0.8)]
    pub temperature: f32,
    /// Keep only the K most likely tokens (0 = all).
    #[arg(long, default_value_t = 40)]
    pub top_k: usize,
    /// Nucleus sampling threshold (1 = off).
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    /// Drop tokens below this fraction of the top probability (0 = off).
    #[arg(long, default_value_t = 0.05)]
    pub min_p: f32,
    /// Random seed (default: a fresh one, printed on stderr).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Repetition penalty over the last --repeat-last-n tokens (1 = off), as llama.cpp's.
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,
    /// How many recent tokens (prompt included) the penalties look at (0 = off).
    #[arg(long, default_value_t = 64)]
    pub repeat_last_n: usize,
    /// Presence penalty: subtracted once from the logit of every token seen recently.
    #[arg(long, default_value_t = 0.0)]
    pub presence_penalty: f32,
    /// Frequency penalty: subtracted from a token's logit per recent occurrence.
    #[arg(long, default_value_t = 0.0)]
    pub frequency_penalty: f32,
    /// Add BIAS to token ID's logit, as `ID+BIAS`, `ID-BIAS` or `ID=-inf` (repeatable).
    #[arg(long, value_name = "ID(+|-)BIAS", value_parser = parse_bias)]
    pub logit_bias: Vec<(u32, f32)>,
    /// Stop when the text contains STR; it is not printed (repeatable).
    #[arg(long, value_name = "STR")]
    pub stop: Vec<String>,
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
    let seed = a.seed.unwrap_or_else(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let s = t ^ (std::process::id() as u64).rotate_left(32);
        if a.temperature > 0.0 {
            eprintln!("seed: {s}");
        }
        s
    });
    let opts = GenerateOptions {
        max_tokens: a.max_tokens,
        sampler: SamplerConfig {
            temperature: a.temperature,
            top_k: a.top_k,
            top_p: a.top_p,
            min_p: a.min_p,
            seed,
            penalties: Penalties {
                repeat: a.repeat_penalty,
                frequency: a.frequency_penalty,
                presence: a.presence_penalty,
                last_n: a.repeat_last_n,
            },
            logit_bias: a.logit_bias.clone(),
        },
        stop_at_eog: true,
        stop: a.stop.clone(),
    };
    opts.sampler.validate()?;
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

/// `ID+BIAS`, `ID-BIAS` or `ID=BIAS` (llama.cpp's `--logit-bias` form; `-inf` bans the token).
fn parse_bias(s: &str) -> Result<(u32, f32), String> {
    let at = s
        .find(['+', '-', '='])
        .ok_or_else(|| format!("`{s}`: expected ID+BIAS, ID-BIAS or ID=BIAS"))?;
    let id: u32 = s[..at]
        .parse()
        .map_err(|_| format!("`{s}`: `{}` is not a token id", &s[..at]))?;
    let num = if &s[at..at + 1] == "=" {
        &s[at + 1..]
    } else {
        &s[at..]
    };
    let bias: f32 = num
        .trim_start_matches('+')
        .parse()
        .map_err(|_| format!("`{s}`: `{num}` is not a number"))?;
    if bias.is_nan() || bias == f32::INFINITY {
        return Err(format!("`{s}`: the bias must be finite or -inf"));
    }
    Ok((id, bias))
}

#[cfg(test)]
mod tests {
    use super::parse_bias;

    #[test]
    fn logit_bias_forms() {
        assert_eq!(parse_bias("15043+1"), Ok((15043, 1.0)));
        assert_eq!(parse_bias("7-0.5"), Ok((7, -0.5)));
        assert_eq!(parse_bias("7=-inf"), Ok((7, f32::NEG_INFINITY)));
        assert_eq!(parse_bias("7-inf"), Ok((7, f32::NEG_INFINITY)));
        for bad in ["", "x+1", "7", "7+x", "7+inf", "7=nan"] {
            assert!(parse_bias(bad).is_err(), "{bad}");
        }
    }
}
