//! Generation options shared by the commands that generate (`run`, `chat`): sampling,
//! penalties, logit bias, stop strings and length.

use anyhow::Result;
use clap::Args;
use gemma_engine::{GenerateOptions, Penalties, SamplerConfig};

/// Sampling and stopping options.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
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
}

impl SamplingArgs {
    /// The generation options these arguments ask for (a fresh seed, printed on stderr, when
    /// none is given and sampling is random), checked.
    pub fn options(&self) -> Result<GenerateOptions> {
        let seed = self.seed.unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let s = t ^ (std::process::id() as u64).rotate_left(32);
            if self.temperature > 0.0 {
                eprintln!("seed: {s}");
            }
            s
        });
        let opts = GenerateOptions {
            max_tokens: self.max_tokens,
            sampler: SamplerConfig {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                seed,
                penalties: Penalties {
                    repeat: self.repeat_penalty,
                    frequency: self.frequency_penalty,
                    presence: self.presence_penalty,
                    last_n: self.repeat_last_n,
                },
                logit_bias: self.logit_bias.clone(),
            },
            stop_at_eog: true,
            stop: self.stop.clone(),
            ..GenerateOptions::default()
        };
        opts.sampler.validate()?;
        Ok(opts)
    }
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
