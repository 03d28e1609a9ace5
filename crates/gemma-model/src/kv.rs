//! The key/value cache of one sequence: f32 keys and values of every layer, grown as tokens
//! arrive. Sliding-window layers keep only the positions a future query can still see (their
//! window), dropping older ones in steps of [`DROP_STEP`], so their memory stays near the window
//! plus the batch being processed, whatever the context.

use crate::ModelConfig;

/// Stale positions a sliding-window layer accumulates before they are dropped together
/// (one move of the kept positions per `DROP_STEP` tokens).
pub const DROP_STEP: usize = 64;

/// Keys and values of past positions, per layer, laid out `(position, kv_heads * head_dim)`;
/// layer `l` holds positions `base[l]..len`.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub(crate) k: Vec<Vec<f32>>,
    pub(crate) v: Vec<Vec<f32>>,
    /// First position held by each layer.
    pub(crate) base: Vec<usize>,
    /// Each layer's sliding window (`None`: global, keeps everything).
    window: Vec<Option<usize>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
}

impl KvCache {
    /// An empty cache for up to `ctx` positions. Memory is taken as positions are filled.
    pub fn new(cfg: &ModelConfig, ctx: usize) -> KvCache {
        let n = cfg.num_hidden_layers;
        KvCache {
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            base: vec![0; n],
            window: cfg.layers.iter().map(|l| l.sliding_window).collect(),
            len: 0,
            capacity: ctx,
            kv_dim: cfg.kv_dim(),
        }
    }

    /// Positions filled so far (the position of the next token).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no position is filled.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The context size: positions this cache may hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Positions still free.
    pub fn remaining(&self) -> usize {
        self.capacity - self.len
    }

    /// Bytes of keys and values held now.
    pub fn bytes(&self) -> usize {
        self.k.iter().chain(&self.v).map(|x| x.len() * 4).sum()
    }

    /// Forget every position after the first `n` (for reusing a shared prefix). Returns false,
    /// and forgets everything, when a sliding-window layer has already dropped positions that
    /// the first `n` would need.
    pub fn truncate(&mut self, n: usize) -> bool {
        if n >= self.len {
            return true;
        }
        let lost = self
            .window
            .iter()
            .zip(&self.base)
            .any(|(w, &b)| w.is_some_and(|w| b > n.saturating_sub(w)));
        let n = if lost { 0 } else { n };
        let kv_dim = self.kv_dim;
        for ((k, v), base) in self.k.iter_mut().zip(&mut self.v).zip(&mut self.base) {
            if n == 0 {
                *base = 0;
            }
            k.truncate((n - *base) * kv_dim);
            v.truncate((n - *base) * kv_dim);
        }
        self.len = n;
        !lost
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Record `n` appended positions, then drop what no later query of a sliding-window layer
    /// can see (positions before `len - window`), once there are [`DROP_STEP`] of them.
    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
        let kv_dim = self.kv_dim;
        for l in 0..self.k.len() {
            let Some(w) = self.window[l] else { continue };
            let keep_from = self.len.saturating_sub(w);
            let stale = keep_from.saturating_sub(self.base[l]);
            if stale >= DROP_STEP {
                self.k[l].drain(..stale * kv_dim);
                self.v[l].drain(..stale * kv_dim);
                self.base[l] = keep_from;
            }
        }
    }
}
