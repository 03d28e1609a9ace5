//! Seeded token sampling: logit bias, repetition/frequency/presence penalties, greedy,
//! temperature, top-k, top-p and min-p.
//!
//! The chain follows llama.cpp's default order: logit bias, penalties over recent tokens, then
//! top-k, top-p and min-p over the untempered distribution, then temperature, then a seeded
//! draw. A temperature of 0 is greedy (after bias and penalties).

mod penalties;
mod rng;

pub use penalties::Penalties;
pub use rng::Rng;

use penalties::History;

/// Sampling options. The defaults are llama.cpp's.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Softmax temperature; `<= 0` means greedy (argmax).
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p`; 1.0 keeps all.
    pub top_p: f32,
    /// Drop tokens less likely than `min_p` times the most likely one; 0 keeps all.
    pub min_p: f32,
    /// Seed of the random draw.
    pub seed: u64,
    /// Repetition, frequency and presence penalties.
    pub penalties: Penalties,
    /// Added to the logits of the given token ids before anything else (`-inf` bans a token).
    pub logit_bias: Vec<(u32, f32)>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            seed: 0,
            penalties: Penalties::default(),
            logit_bias: Vec::new(),
        }
    }
}

/// Why sampling options were rejected.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SampleError {
    /// An option is out of range.
    #[error("invalid sampling option {name} = {value}: expected {expected}")]
    BadOption {
        /// Option name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Valid range.
        expected: &'static str,
    },
}

impl SamplerConfig {
    /// Greedy decoding.
    pub fn greedy() -> SamplerConfig {
        SamplerConfig {
            temperature: 0.0,
            ..SamplerConfig::default()
        }
    }

    /// Check every option's range.
    pub fn validate(&self) -> Result<(), SampleError> {
        let bad = |name, value: f32, expected| SampleError::BadOption {
            name,
            value: value.to_string(),
            expected,
        };
        if !self.temperature.is_finite() || self.temperature < 0.0 {
            return Err(bad("temperature", self.temperature, "a finite value >= 0"));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(bad("top_p", self.top_p, "a value in (0, 1]"));
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(bad("min_p", self.min_p, "a value in [0, 1]"));
        }
        let p = &self.penalties;
        if !(p.repeat.is_finite() && p.repeat > 0.0) {
            return Err(bad("repeat_penalty", p.repeat, "a finite value > 0"));
        }
        if !p.frequency.is_finite() {
            return Err(bad("frequency_penalty", p.frequency, "a finite value"));
        }
        if !p.presence.is_finite() {
            return Err(bad("presence_penalty", p.presence, "a finite value"));
        }
        if let Some(&(_, b)) = self
            .logit_bias
            .iter()
            .find(|(_, b)| b.is_nan() || *b == f32::INFINITY)
        {
            return Err(bad("logit_bias", b, "a finite value or -inf"));
        }
        Ok(())
    }
}

/// A sampler with its own random state.
#[derive(Clone, Debug)]
pub struct Sampler {
    cfg: SamplerConfig,
    rng: Rng,
    cands: Vec<(u32, f32)>,
    history: History,
    /// The logits after bias and penalties, when there are any.
    work: Vec<f32>,
}

/// Index of the largest logit (the first one on ties); `None` for an empty slice.
pub fn argmax(logits: &[f32]) -> Option<u32> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &v) in logits.iter().enumerate() {
        if best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i as u32)
}

impl Sampler {
    /// A sampler for validated options.
    pub fn new(cfg: SamplerConfig) -> Result<Sampler, SampleError> {
        cfg.validate()?;
        let rng = Rng::new(cfg.seed);
        Ok(Sampler {
            cfg,
            rng,
            cands: Vec::new(),
            history: History::default(),
            work: Vec::new(),
        })
    }

    /// The options in use.
    pub fn config(&self) -> &SamplerConfig {
        &self.cfg
    }

    /// Record a token of the sequence (prompt or generated) for the penalties.
    pub fn accept(&mut self, id: u32) {
        self.history.accept(id, self.cfg.penalties.last_n);
    }

    /// Pick the next token from one position's logits (bias and penalties applied to a copy).
    ///
    /// # Panics
    /// If `logits` is empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        assert!(!logits.is_empty(), "sampling from no logits");
        if self.cfg.logit_bias.is_empty() && self.cfg.penalties.is_off() {
            return self.sample_plain(logits);
        }
        let mut work = std::mem::take(&mut self.work);
        work.clear();
        work.extend_from_slice(logits);
        for &(id, b) in &self.cfg.logit_bias {
            if let Some(l) = work.get_mut(id as usize) {
                *l += b;
            }
        }
        self.history.apply(&self.cfg.penalties, &mut work);
        let id = self.sample_plain(&work);
        self.work = work;
        id
    }

    /// The chain after bias and penalties.
    fn sample_plain(&mut self, logits: &[f32]) -> u32 {
        let cfg = &self.cfg;
        if cfg.temperature <= 0.0 || cfg.top_k == 1 {
            return argmax(logits).unwrap_or(0);
        }
        let c = &mut self.cands;
        c.clear();
        c.extend(
            logits
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_nan())
                .map(|(i, &v)| (i as u32, v)),
        );
        if c.is_empty() {
            return 0;
        }
        // Sorted high to low; ties keep the lower id first.
        let by_logit = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if cfg.top_k > 0 && cfg.top_k < c.len() {
            c.select_nth_unstable_by(cfg.top_k - 1, by_logit);
            c.truncate(cfg.top_k);
        }
        c.sort_unstable_by(by_logit);
        // Probabilities of the untempered distribution, for top-p and min-p.
        let max = c[0].1;
        if !max.is_finite() {
            return c[0].0;
        }
        let probs: Vec<f32> = {
            let e: Vec<f32> = c.iter().map(|&(_, v)| (v - max).exp()).collect();
            let sum: f32 = e.iter().sum();
            e.into_iter().map(|p| p / sum).collect()
        };
        let mut keep = c.len();
        if cfg.top_p < 1.0 {
            let mut cum = 0.0;
            for (i, p) in probs.iter().enumerate() {
                cum += p;
                if cum >= cfg.top_p {
                    keep = i + 1;
                    break;
                }
            }
        }
        if cfg.min_p > 0.0 {
            let floor = cfg.min_p * probs[0];
            keep = keep.min(probs.iter().take_while(|&&p| p >= floor).count().max(1));
        }
        c.truncate(keep);
        // Temperature, then a draw.
        let inv_t = 1.0 / cfg.temperature;
        let weights: Vec<f64> = c
            .iter()
            .map(|&(_, v)| (((v - max) * inv_t) as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        let mut u = self.rng.next_f64() * total;
        for (i, w) in weights.iter().enumerate() {
            if u < *w {
                return c[i].0;
            }
            u -= w;
        }
        c[c.len() - 1].0
    }
}

#[cfg(test)]
mod tests;
