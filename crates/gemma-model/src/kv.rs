//! The key/value cache of one sequence: f32 keys and values of every layer, grown as tokens arrive.

use crate::ModelConfig;

/// Keys and values of past positions, per layer, laid out `(position, kv_heads * head_dim)`.
#[derive(Clone, Debug)]
pub struct KvCache {
    pub(crate) k: Vec<Vec<f32>>,
    pub(crate) v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
}

impl KvCache {
    /// An empty cache for up to `ctx` positions. Memory is taken as positions are filled.
    pub fn new(cfg: &ModelConfig, ctx: usize) -> KvCache {
        KvCache {
            k: vec![Vec::new(); cfg.num_hidden_layers],
            v: vec![Vec::new(); cfg.num_hidden_layers],
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

    /// Forget every position after the first `n` (for reusing a shared prefix).
    pub fn truncate(&mut self, n: usize) {
        if n >= self.len {
            return;
        }
        let kv_dim = self.kv_dim;
        for (k, v) in self.k.iter_mut().zip(&mut self.v) {
            k.truncate(n * kv_dim);
            v.truncate(n * kv_dim);
        }
        self.len = n;
    }

    /// Forget everything.
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    pub(crate) fn commit(&mut self, n: usize) {
        self.len += n;
    }
}
