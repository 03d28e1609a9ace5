//! Products of stored (possibly quantized) weight matrices with activations, threaded by rows.

use std::ops::Range;

use gemma_kernels::{
    act_bytes, active_level, dequantize_row, dot_f32, dot_q8_0_rows4, dot_row, dot_row_act,
    dot_rows_tokens, has_token_kernel, prefetch_l2, q8_0_repacked_bytes, q8_0_scales, quantize_act,
    repack_q8_0, repacks_to_q8_0, DType, TokenBatch,
};

use crate::parallel::{for_units, map_ranges};
use crate::weights::QMatrix;
use crate::Precision;

/// Rows handled together in the batched path; sized so a tile stays in cache.
const ROW_TILE: usize = 32;

/// `out[t][r] = sum_c w[r][c] * x[t][c]` for `n_tok` activation rows `x` (`n_tok * w.cols`);
/// `data` holds the stored rows of `w`.
pub fn matmul(
    data: &[u8],
    w: &QMatrix,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    threads: usize,
    precision: Precision,
) {
    assert_eq!(x.len(), n_tok * w.cols, "activation shape for {}", w.name);
    assert_eq!(out.len(), n_tok * w.rows, "output shape for {}", w.name);
    match precision {
        Precision::Mixed => matmul_q8(data, w, x, n_tok, out, threads),
        Precision::F32 => matmul_f32(data, w, x, n_tok, out, threads),
    }
}

/// Quantize each activation row once, then integer block dot products for every (row, token).
/// A row's result does not depend on how many tokens share the batch.
fn matmul_q8(data: &[u8], w: &QMatrix, x: &[f32], n_tok: usize, out: &mut [f32], threads: usize) {
    let (dtype, rb, cols) = (w.dtype(), w.row_bytes, w.cols);
    let qb = act_bytes(dtype, cols);
    let mut xq = vec![0u8; n_tok * qb];
    for_units(
        &mut xq,
        qb,
        threads.min(n_tok.div_ceil(16)),
        |toks, chunk| {
            let xs = &x[toks.start * cols..toks.end * cols];
            for (xt, qt) in xs.chunks_exact(cols).zip(chunk.chunks_exact_mut(qb)) {
                quantize_act(dtype, xt, qt);
            }
        },
    );
    let row = |r: usize| &data[r * rb..(r + 1) * rb];
    if n_tok == 1 && dtype == DType::Q8_0 {
        // Four rows per call: the activation is loaded once for all four.
        let yd = q8_0_scales(&xq);
        return for_units(out, 1, threads, |range, chunk| {
            let mut k = 0;
            while k + 4 <= chunk.len() {
                let r = range.start + k;
                let v = dot_q8_0_rows4([row(r), row(r + 1), row(r + 2), row(r + 3)], &xq, &yd);
                chunk[k..k + 4].copy_from_slice(&v);
                k += 4;
            }
            for (o, r) in chunk[k..].iter_mut().zip(range.start + k..) {
                *o = dot_row_act(dtype, row(r), &xq);
            }
        });
    }
    if n_tok == 1 {
        return per_row(out, threads, |r| dot_row_act(dtype, row(r), &xq));
    }
    if repacks_to_q8_0(dtype) || has_token_kernel(dtype) {
        // Tiles of rows (Q5_0 unpacked once as Q8_0: the same dots) against every token, with
        // the activations prepared once for the kernel level.
        let repack = repacks_to_q8_0(dtype);
        let (wt, prb) = if repack {
            (DType::Q8_0, q8_0_repacked_bytes(dtype, rb))
        } else {
            (dtype, rb)
        };
        let batch = TokenBatch::from_quantized(active_level(), dtype, xq, n_tok);
        let parts = map_ranges(w.rows, threads, |range| {
            let n = range.len();
            let mut local = vec![0f32; n_tok * n];
            let mut packed = vec![0u8; if repack { ROW_TILE * prb } else { 0 }];
            let mut cols = vec![0f32; ROW_TILE * n_tok];
            for r0 in range.clone().step_by(ROW_TILE) {
                let tile = r0..(r0 + ROW_TILE).min(range.end);
                let next = tile.end..(tile.end + ROW_TILE).min(range.end);
                prefetch_l2(&data[next.start * rb..next.end * rb]);
                let rows: Vec<&[u8]> = if repack {
                    for (r, p) in tile.clone().zip(packed.chunks_exact_mut(prb)) {
                        repack_q8_0(dtype, row(r), p);
                    }
                    packed.chunks_exact(prb).take(tile.len()).collect()
                } else {
                    tile.clone().map(row).collect()
                };
                let cols = &mut cols[..tile.len() * n_tok];
                dot_rows_tokens(wt, &rows, &batch, cols);
                // Written out token by token: contiguous runs of the tile's rows.
                let off = r0 - range.start;
                for t in 0..n_tok {
                    let dst = &mut local[t * n + off..t * n + off + tile.len()];
                    for (k, d) in dst.iter_mut().enumerate() {
                        *d = cols[k * n_tok + t];
                    }
                }
            }
            (range, local)
        });
        return scatter(parts, w.rows, out);
    }
    per_tile(
        w.rows,
        n_tok,
        threads,
        out,
        |_, _: &mut ()| {},
        |_, _, r, t| dot_row_act(dtype, row(r), &xq[t * qb..(t + 1) * qb]),
    );
}

/// f32 activations: one token uses fused dot products straight from the stored blocks; several
/// tokens dequantize a tile of rows once and reuse it for every token.
fn matmul_f32(data: &[u8], w: &QMatrix, x: &[f32], n_tok: usize, out: &mut [f32], threads: usize) {
    let (dtype, rb, cols) = (w.dtype(), w.row_bytes, w.cols);
    let row = |r: usize| &data[r * rb..(r + 1) * rb];
    if n_tok == 1 {
        return per_row(out, threads, |r| dot_row(dtype, row(r), x));
    }
    let dequantize_tile = |rows: Range<usize>, tile: &mut Vec<f32>| {
        tile.resize(rows.len() * cols, 0.0);
        for (k, r) in rows.enumerate() {
            dequantize_row(dtype, row(r), &mut tile[k * cols..(k + 1) * cols]);
        }
    };
    per_tile(
        w.rows,
        n_tok,
        threads,
        out,
        dequantize_tile,
        |tile: &Vec<f32>, k, _, t| {
            dot_f32(
                &tile[k * cols..(k + 1) * cols],
                &x[t * cols..(t + 1) * cols],
            )
        },
    );
}

/// One token: `out[r] = dot(r)` for every row, rows spread over threads.
fn per_row(out: &mut [f32], threads: usize, dot: impl Fn(usize) -> f32 + Sync) {
    for_units(out, 1, threads, |range, chunk| {
        for (o, r) in chunk.iter_mut().zip(range) {
            *o = dot(r);
        }
    });
}

/// Several tokens: rows spread over threads in tiles of [`ROW_TILE`]; `prepare(tile_rows, s)` runs
/// once per tile, then `dot(s, k, row, token)` gives `out[token][row]` (`k`: row within the tile).
fn per_tile<S: Default>(
    rows: usize,
    n_tok: usize,
    threads: usize,
    out: &mut [f32],
    prepare: impl Fn(Range<usize>, &mut S) + Sync,
    dot: impl Fn(&S, usize, usize, usize) -> f32 + Sync,
) {
    let parts = map_ranges(rows, threads, |range| {
        let n = range.len();
        let mut local = vec![0f32; n_tok * n];
        let mut scratch = S::default();
        for r0 in range.clone().step_by(ROW_TILE) {
            let tile = r0..(r0 + ROW_TILE).min(range.end);
            prepare(tile.clone(), &mut scratch);
            for t in 0..n_tok {
                let dst = &mut local[t * n + (r0 - range.start)..][..tile.len()];
                for (k, o) in dst.iter_mut().enumerate() {
                    *o = dot(&scratch, k, r0 + k, t);
                }
            }
        }
        (range, local)
    });
    scatter(parts, rows, out);
}

/// Per-thread `(tokens, rows-in-range)` blocks into the `(tokens, rows)` output.
fn scatter(parts: Vec<(Range<usize>, Vec<f32>)>, rows: usize, out: &mut [f32]) {
    // Tokens spread over the threads (the parts were computed in parallel too).
    let threads = parts.len();
    for_units(out, rows, threads, |toks, chunk| {
        for (range, local) in &parts {
            let n = range.len();
            for (t, dst) in toks.clone().zip(chunk.chunks_exact_mut(rows)) {
                dst[range.clone()].copy_from_slice(&local[t * n..(t + 1) * n]);
            }
        }
    });
}

/// Copy row `id` of a stored matrix (an embedding) into `out` as f32.
pub fn row(data: &[u8], w: &QMatrix, id: usize, out: &mut [f32]) {
    dequantize_row(
        w.dtype(),
        &data[id * w.row_bytes..(id + 1) * w.row_bytes],
        out,
    );
}
