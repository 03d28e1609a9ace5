//! Logit bias and llama.cpp's repetition, frequency and presence penalties over recent tokens.

use std::collections::{HashMap, VecDeque};

/// llama.cpp's penalties over the last `last_n` tokens (prompt and generated): a token seen
/// `count` times there has its logit divided by `repeat` (multiplied when it is not positive),
/// then lowered by `count * frequency + presence`. The defaults change nothing.
#[derive(Clone, Debug, PartialEq)]
pub struct Penalties {
    /// Repetition penalty; 1 is off.
    pub repeat: f32,
    /// Frequency penalty (per occurrence); 0 is off.
    pub frequency: f32,
    /// Presence penalty (once per token seen); 0 is off.
    pub presence: f32,
    /// How many recent tokens count; 0 is off.
    pub last_n: usize,
}

impl Default for Penalties {
    fn default() -> Self {
        Penalties {
            repeat: 1.0,
            frequency: 0.0,
            presence: 0.0,
            last_n: 64,
        }
    }
}

impl Penalties {
    /// Whether applying them changes nothing.
    pub fn is_off(&self) -> bool {
        self.last_n == 0 || (self.repeat == 1.0 && self.frequency == 0.0 && self.presence == 0.0)
    }
}

/// The recent tokens the penalties look at, with their counts.
#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    recent: VecDeque<u32>,
    counts: HashMap<u32, u32>,
}

impl History {
    /// Remember `id`, forgetting what falls out of the last `last_n`.
    pub fn accept(&mut self, id: u32, last_n: usize) {
        if last_n == 0 {
            return;
        }
        self.recent.push_back(id);
        *self.counts.entry(id).or_insert(0) += 1;
        while self.recent.len() > last_n {
            if let Some(old) = self.recent.pop_front() {
                if let Some(c) = self.counts.get_mut(&old) {
                    *c -= 1;
                    if *c == 0 {
                        self.counts.remove(&old);
                    }
                }
            }
        }
    }

    /// Apply `p` to `logits` in llama.cpp's order (repetition, then frequency and presence).
    pub fn apply(&self, p: &Penalties, logits: &mut [f32]) {
        if p.is_off() {
            return;
        }
        for (&id, &count) in &self.counts {
            let Some(l) = logits.get_mut(id as usize) else {
                continue;
            };
            if *l <= 0.0 {
                *l *= p.repeat;
            } else {
                *l /= p.repeat;
            }
            *l -= count as f32 * p.frequency + p.presence;
        }
    }
}
