//! Attention with llama.cpp's CPU numerics (the `mixed` precision).
//!
//! llama.cpp (vendored in llama-cpp-python 0.3.36) evaluates attention without flash attention
//! as: `KQ = K·q` with `ggml_vec_dot_f16` (q rounded to f16); a softmax over the KV cells in
//! chunks of 16 (`ggml_vec_soft_max_f32`: `ggml_v_expf`, each chunk reduced in f32 and summed in
//! f64, then scaled by the f32 inverse); probabilities rounded to f16; then `V·p` with
//! `ggml_vec_dot_f16` over the cells, whose element `j` goes to lane `j % 16` of accumulator
//! `(j / 16) % 4`. This small model turns a change in the last bit of such a sum into tenths of
//! a logit, so the orders are reproduced exactly (kernels in `gemma_kernels::ggml`). Cell `j`
//! holds position `j` (one sequence from position 0); masked cells add exact zeros and are skipped.

use gemma_kernels::ggml::{dot_f16_ggml, fma_axpy, reduce16, v_expf, ACCS, LANES, STEP};
use gemma_kernels::ggml_multi::{dot_f16_multi, vp_multi};

use crate::precision::round_f16_slice;

/// Buffers reused across calls.
#[derive(Default)]
pub struct Scratch {
    scores: Vec<f32>,
    acc: Vec<f32>,
    /// [`attend_group`]: one row of cell weights per query, and one row of scores per cell.
    probs: Vec<f32>,
    cell: Vec<f32>,
}

/// The cache a layer's queries attend to.
pub struct Cache<'a> {
    /// Keys of positions `base..`, `kv_dim` per position (f16-rounded).
    pub keys: &'a [f32],
    /// Values, laid out as the keys.
    pub vals: &'a [f32],
    /// Values per position (all KV heads).
    pub kv_dim: usize,
    /// The position of the first row.
    pub base: usize,
}

/// One query of a group: its f16-rounded, pre-scaled values and the cells it sees.
pub struct Query<'a> {
    /// The query head (pre-scaled, f16-rounded).
    pub q: &'a [f32],
    /// The first cell it sees.
    pub start: usize,
    /// Its own position (the last cell it sees).
    pub pos: usize,
}

/// [`attend`] for several queries that share a KV head (`off`: its offset in a cache row), with
/// the same bits: the key and value rows are read once for the group. Query `i` writes
/// `outs[i]`.
pub fn attend_group(
    cache: &Cache,
    off: usize,
    queries: &[Query],
    s: &mut Scratch,
    outs: &mut [&mut [f32]],
) {
    let nq = queries.len();
    if nq == 0 {
        return;
    }
    let hd = queries[0].q.len();
    let lo = queries.iter().map(|q| q.start).min().unwrap_or(0);
    let hi = queries.iter().map(|q| q.pos).max().unwrap_or(0);
    let n = hi + 1 - lo;
    let qs: Vec<&[f32]> = queries.iter().map(|q| q.q).collect();
    // Scores, query by query in rows of n cells.
    s.probs.clear();
    s.probs.resize(nq * n, 0.0);
    s.cell.resize(nq, 0.0);
    let kv = cache.kv_dim;
    for j in lo..=hi {
        let k = &cache.keys[(j - cache.base) * kv + off..][..hd];
        dot_f16_multi(k, &qs, &mut s.cell);
        for (i, v) in s.cell.iter().enumerate() {
            s.probs[i * n + j - lo] = *v;
        }
    }
    // Each query's softmax over its own cells, as `attend` does; other cells weigh zero.
    for (i, qr) in queries.iter().enumerate() {
        let row = &mut s.probs[i * n..(i + 1) * n];
        let own = qr.start - lo..qr.pos + 1 - lo;
        row[..own.start].fill(0.0);
        row[own.end..].fill(0.0);
        softmax_f16(&mut row[own], qr.start, qr.pos);
    }
    let ps: Vec<&[f32]> = s.probs.chunks_exact(n).collect();
    let vals = &cache.vals[(lo - cache.base) * kv..];
    vp_multi(vals, kv, off, lo, &ps, outs);
}

/// llama.cpp's softmax of the scores of cells `start..=pos` in place, rounded to f16.
fn softmax_f16(scores: &mut [f32], start: usize, pos: usize) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    scores.iter_mut().for_each(|v| *v -= max);
    v_expf(scores);
    let mut sum = 0f64;
    for chunk in start / LANES..=pos / LANES {
        let mut lanes = [0f32; LANES];
        for (l, lane) in lanes.iter_mut().enumerate() {
            let j = chunk * LANES + l;
            if (start..=pos).contains(&j) {
                *lane = scores[j - start];
            }
        }
        sum += reduce16(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    scores.iter_mut().for_each(|v| *v *= inv);
    round_f16_slice(scores);
}

/// Where the V·p contributions of one query head gather: one row of `head_dim` per lane.
fn lane_of(j: usize) -> usize {
    ((j / LANES) % ACCS) * LANES + j % LANES
}

/// One query head at position `pos` over cells `start..=pos`: llama.cpp's `softmax(K·q)·V`.
///
/// `q` is pre-scaled and rounded to f16; `keys`/`vals` rows (`kv_dim` wide, this head's slice at
/// `off`) hold the f16-rounded values of positions `base..` (lanes follow absolute positions,
/// as ggml's cells do). Writes `q.len()` outputs.
#[allow(clippy::too_many_arguments)]
pub fn attend(
    q: &[f32],
    keys: &[f32],
    vals: &[f32],
    kv_dim: usize,
    off: usize,
    base: usize,
    start: usize,
    pos: usize,
    s: &mut Scratch,
    out: &mut [f32],
) {
    let hd = q.len();
    s.scores.clear();
    s.scores
        .extend((start..=pos).map(|j| dot_f16_ggml(&keys[(j - base) * kv_dim + off..][..hd], q)));
    softmax_f16(&mut s.scores, start, pos);

    s.acc.clear();
    s.acc.resize(STEP * hd, 0.0);
    for (k, j) in (start..=pos).enumerate() {
        let a = lane_of(j);
        fma_axpy(
            s.scores[k],
            &vals[(j - base) * kv_dim + off..][..hd],
            &mut s.acc[a * hd..(a + 1) * hd],
        );
    }
    // Lanes that received no cell hold zeros, as masked cells give in ggml.
    reduce_rows(&mut s.acc, hd, out);
}

/// [`reduce_accs`] of every output element at once: `acc` holds one row of `hd` values per lane
/// (`STEP` rows), and each element goes through exactly the additions `reduce_accs` makes, in
/// the same order, so the bits are the same; whole rows at a time let the compiler vectorise.
fn reduce_rows(acc: &mut [f32], hd: usize, out: &mut [f32]) {
    let row = |i: usize| i * hd..(i + 1) * hd;
    let add_into = |acc: &mut [f32], dst: usize, src: usize| {
        let (lo, hi) = acc.split_at_mut(src.max(dst) * hd);
        let (d, s) = if dst < src {
            (&mut lo[row(dst)], &hi[..hd])
        } else {
            (&mut hi[..hd], &lo[row(src)])
        };
        d.iter_mut().zip(s).for_each(|(a, b)| *a += b);
    };
    // a0 += a2; a1 += a3; a0 += a1 (lane by lane).
    for l in 0..LANES {
        add_into(acc, l, 2 * LANES + l);
        add_into(acc, LANES + l, 3 * LANES + l);
        add_into(acc, l, LANES + l);
    }
    // reduce16 over rows 0..16: t8[i] = x[8+i] + x[i]; t4[i] = t8[4+i] + t8[i];
    // (t4[0] + t4[2]) + (t4[1] + t4[3]).
    for i in 0..8 {
        add_into(acc, 8 + i, i);
    }
    for i in 0..4 {
        add_into(acc, 12 + i, 8 + i);
    }
    for (d, o) in out.iter_mut().enumerate() {
        let t = |i: usize| acc[(12 + i) * hd + d];
        *o = ((t(0) + t(2)) + (t(1) + t(3))) as f64 as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precision::round_f16;
    use gemma_kernels::ggml::reduce_accs;

    #[test]
    fn row_reduction_has_the_bits_of_reduce_accs() {
        let hd = 24;
        let mut state = 0x1234_5678u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 10f32.powi((state % 7) as i32 - 3)
        };
        let acc: Vec<f32> = (0..STEP * hd).map(|_| next()).collect();
        let mut want = vec![0f32; hd];
        for (d, o) in want.iter_mut().enumerate() {
            let mut a = [[0f32; LANES]; ACCS];
            for (k, lanes) in a.iter_mut().enumerate() {
                for (l, lane) in lanes.iter_mut().enumerate() {
                    *lane = acc[(k * LANES + l) * hd + d];
                }
            }
            *o = reduce_accs(&mut a) as f32;
        }
        let mut got = vec![0f32; hd];
        reduce_rows(&mut acc.clone(), hd, &mut got);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want));
    }

    #[test]
    fn equal_keys_average_the_values() {
        let q = vec![0.5f32; 64];
        let keys = vec![0.25f32; 128];
        let vals: Vec<f32> = (0..128).map(|i| if i < 64 { 1.0 } else { 3.0 }).collect();
        let mut out = vec![0f32; 64];
        attend(
            &q,
            &keys,
            &vals,
            64,
            0,
            0,
            0,
            1,
            &mut Scratch::default(),
            &mut out,
        );
        assert!(out.iter().all(|&o| o == 2.0), "{out:?}");
    }

    #[test]
    fn a_window_ignores_older_cells() {
        // Cell 0 has a huge value but lies outside the window start..=pos = 1..=2.
        let q = vec![0.5f32; 64];
        let keys = vec![0.25f32; 3 * 64];
        let vals: Vec<f32> = (0..3 * 64)
            .map(|i| if i < 64 { 1e4 } else { 1.0 })
            .collect();
        let mut out = vec![0f32; 64];
        attend(
            &q,
            &keys,
            &vals,
            64,
            0,
            0,
            1,
            2,
            &mut Scratch::default(),
            &mut out,
        );
        assert!(out.iter().all(|&o| o == 1.0), "{out:?}");
    }

    /// A small deterministic generator (splitmix64) for the group test.
    struct Rng(u64);

    impl Rng {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n as u64) as usize
        }
        /// `n` f16-rounded values uniform in `[-scale, scale)`.
        fn f16s(&mut self, n: usize, scale: f32) -> Vec<f32> {
            (0..n)
                .map(|_| {
                    let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
                    round_f16((2.0 * u - 1.0) * scale)
                })
                .collect()
        }
    }

    #[test]
    fn attend_group_has_the_bits_of_attend_per_query() {
        let mut rng = Rng(0x00a7_7e4d);
        // One scratch each, reused across every case (stale contents must not leak).
        let (mut sg, mut s1) = (Scratch::default(), Scratch::default());
        let mut checked = 0;
        for case in 0..256 {
            let hd = [64, 256][case % 2];
            let kv_dim = 2 * hd;
            let off = [0, hd][(case / 2) % 2];
            let eight = (case / 4) % 2 == 0;
            let window = (case / 8) % 2 == 0;
            let base = if (case / 16) % 2 == 0 {
                0
            } else {
                1 + rng.below(100)
            };
            // Two positions (not always adjacent), the first at least one past `base`.
            let p0 = base + 1 + rng.below(150);
            let p1 = p0 + 1 + rng.below(3);
            let start_of = |pos: usize, w: usize| {
                if window {
                    (pos + 1).saturating_sub(w).max(base)
                } else {
                    base
                }
            };
            // A window short enough to cut the cache above `base` (start > base here).
            let w = 1 + rng.below(p0 - base);
            let cells = p1 + 1 - base;
            let keys = rng.f16s(cells * kv_dim, 1.0);
            let vals = rng.f16s(cells * kv_dim, 2.0);
            let scale = [0.05, 0.5, 3.0][rng.below(3)];
            let heads: Vec<Vec<f32>> = (0..4).map(|_| rng.f16s(hd, scale)).collect();
            // (position, head): 2 positions × 4 heads, or three queries across both positions.
            let picks: Vec<(usize, usize)> = if eight {
                [p0, p1]
                    .iter()
                    .flat_map(|&p| (0..4).map(move |h| (p, h)))
                    .collect()
            } else {
                vec![(p0, 2), (p1, 0), (p1, 3)]
            };
            let queries: Vec<Query> = picks
                .iter()
                .map(|&(pos, h)| Query {
                    q: &heads[h],
                    start: start_of(pos, w),
                    pos,
                })
                .collect();
            if window {
                assert!(queries.iter().all(|q| q.start > 0 && q.start >= base));
            }
            let cache = Cache {
                keys: &keys,
                vals: &vals,
                kv_dim,
                base,
            };
            let mut got = vec![vec![f32::NAN; hd]; queries.len()];
            {
                let mut outs: Vec<&mut [f32]> = got.iter_mut().map(|o| &mut o[..]).collect();
                attend_group(&cache, off, &queries, &mut sg, &mut outs);
            }
            for (i, q) in queries.iter().enumerate() {
                let mut want = vec![f32::NAN; hd];
                attend(
                    q.q, &keys, &vals, kv_dim, off, base, q.start, q.pos, &mut s1, &mut want,
                );
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&got[i]),
                    bits(&want),
                    "case {case}: hd {hd} off {off} base {base} query {i} of {} \
                     (pos {} start {})",
                    queries.len(),
                    q.pos,
                    q.start
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 128 * 8 + 128 * 3);
    }
}
