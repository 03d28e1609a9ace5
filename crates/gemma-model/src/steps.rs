//! Per-token steps between the matrix products of the forward pass (residual adds with their
//! norms, RoPE tables), spread over threads by tokens.

use std::ops::Range;

use crate::ops::{rms_norm_rows, rope_apply, rope_apply_fused, rope_cos_sin, RopeAngles};
use crate::parallel::{cut, run_parts};
use crate::Precision;

/// Applies RoPE to one head from its `(cos, sin)` table.
pub(crate) type RopeFn = fn(&mut [f32], &[(f32, f32)]);

/// `(theta bits, factor bits)` and the `n * head_dim / 2` pairs, token by token.
type Table = ((u32, u32), Vec<(f32, f32)>);

/// RoPE's `(cos, sin)` pairs for every token of a batch, made once per distinct base and
/// scaling factor (a Gemma 3 model has two), not once per layer.
pub(crate) struct RopeTables {
    /// Each token's position.
    positions: Vec<usize>,
    head_dim: usize,
    how: RopeAngles,
    apply: RopeFn,
    /// One table per distinct base and scaling.
    tables: Vec<Table>,
}

impl RopeTables {
    /// Tables for tokens at `positions` with the angles and rotation `precision` uses.
    pub fn new(positions: &[usize], head_dim: usize, precision: Precision) -> Self {
        let (how, apply): (_, RopeFn) = match precision {
            Precision::Mixed => (RopeAngles::Ggml, rope_apply_fused),
            Precision::F32 => (RopeAngles::Reference, rope_apply),
        };
        RopeTables {
            positions: positions.to_vec(),
            head_dim,
            how,
            apply,
            tables: Vec::new(),
        }
    }

    /// The pairs for base `theta` and scaling `factor` (token `t` at
    /// `[t * head_dim / 2..][..head_dim / 2]`) and the rotation to apply them with.
    pub fn get(&mut self, theta: f32, factor: f32) -> (&[(f32, f32)], RopeFn) {
        let key = (theta.to_bits(), factor.to_bits());
        let i = match self.tables.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                let half = self.head_dim / 2;
                let mut table = Vec::with_capacity(self.positions.len() * half);
                let mut cs = Vec::with_capacity(half);
                for &pos in &self.positions {
                    rope_cos_sin(pos, theta, factor, self.head_dim, self.how, &mut cs);
                    table.extend_from_slice(&cs);
                }
                self.tables.push((key, table));
                self.tables.len() - 1
            }
        };
        (&self.tables[i].1, self.apply)
    }
}

/// The residual add after a block, per token: `o = post_norm(o)` (when the model has it),
/// `x += o`, then `h = next_norm(x)` (the input of the next block, when there is one). Rows
/// are `d` wide; `by_token` splits the tokens over `threads`.
pub(crate) fn residual(
    (x, o, h): (&mut [f32], &mut [f32], &mut [f32]),
    d: usize,
    by_token: &[Range<usize>],
    threads: usize,
    post_norm: Option<&[f32]>,
    next_norm: Option<&[f32]>,
    eps: f32,
) {
    let parts = cut(x, d, by_token)
        .into_iter()
        .zip(cut(o, d, by_token))
        .zip(cut(h, d, by_token))
        .collect();
    run_parts(threads, parts, |((x, o), h)| {
        if let Some(pn) = post_norm {
            rms_norm_rows(o, pn, eps);
        }
        x.iter_mut().zip(&*o).for_each(|(a, b)| *a += b);
        if let Some(norm) = next_norm {
            h.copy_from_slice(x);
            rms_norm_rows(h, norm, eps);
        }
    });
}
