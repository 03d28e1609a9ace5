//! Products of stored (possibly quantized) weight matrices with activations, threaded by rows.

use std::ops::Range;

use gemma_formats::GgufFile;
use gemma_kernels::{act_bytes, dequantize_row, dot_f32, dot_row, dot_row_act, quantize_act};

use crate::parallel::{for_units, map_ranges};
use crate::weights::QMatrix;
use crate::Precision;

/// Rows handled together in the batched path; sized so a tile stays in cache.
const ROW_TILE: usize = 16;

/// `out[t][r] = sum_c w[r][c] * x[t][c]` for `n_tok` activation rows `x` (`n_tok * w.cols`).
pub fn matmul(
    file: &GgufFile,
    w: &QMatrix,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    threads: usize,
    precision: Precision,
) {
    assert_eq!(
        x.len(),
        n_tok * w.cols,
        "activation shape for {}",
        w.info.name
    );
    assert_eq!(
        out.len(),
        n_tok * w.rows,
        "output shape for {}",
        w.info.name
    );
    match precision {
        Precision::Mixed => matmul_q8(file, w, x, n_tok, out, threads),
        Precision::F32 => matmul_f32(file, w, x, n_tok, out, threads),
    }
}

/// Quantize each activation row once, then integer block dot products for every (row, token).
/// A row's result does not depend on how many tokens share the batch.
fn matmul_q8(
    file: &GgufFile,
    w: &QMatrix,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    threads: usize,
) {
    let data = file.tensor_data(&w.info);
    let (dtype, rb, cols, rows) = (w.dtype(), w.row_bytes, w.cols, w.rows);
    let qb = act_bytes(dtype, cols);
    let mut xq = vec![0u8; n_tok * qb];
    for (xt, qt) in x.chunks_exact(cols).zip(xq.chunks_exact_mut(qb)) {
        quantize_act(dtype, xt, qt);
    }
    if n_tok == 1 {
        for_units(out, 1, threads, |range, chunk| {
            for (o, r) in chunk.iter_mut().zip(range) {
                *o = dot_row_act(dtype, &data[r * rb..(r + 1) * rb], &xq);
            }
        });
        return;
    }
    let parts = map_ranges(rows, threads, |range| {
        let n = range.len();
        let mut local = vec![0f32; n_tok * n];
        let mut r0 = range.start;
        while r0 < range.end {
            let tr = ROW_TILE.min(range.end - r0);
            for t in 0..n_tok {
                let qt = &xq[t * qb..(t + 1) * qb];
                let dst = &mut local[t * n + (r0 - range.start)..][..tr];
                for (k, o) in dst.iter_mut().enumerate() {
                    let r = r0 + k;
                    *o = dot_row_act(dtype, &data[r * rb..(r + 1) * rb], qt);
                }
            }
            r0 += tr;
        }
        (range, local)
    });
    scatter(parts, n_tok, rows, out);
}

/// f32 activations: one token uses fused dot products straight from the stored blocks; several
/// tokens dequantize a tile of rows once and reuse it for every token.
fn matmul_f32(
    file: &GgufFile,
    w: &QMatrix,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    threads: usize,
) {
    let data = file.tensor_data(&w.info);
    let (dtype, rb, cols, rows) = (w.dtype(), w.row_bytes, w.cols, w.rows);
    if n_tok == 1 {
        for_units(out, 1, threads, |range, chunk| {
            for (o, r) in chunk.iter_mut().zip(range) {
                *o = dot_row(dtype, &data[r * rb..(r + 1) * rb], x);
            }
        });
        return;
    }
    let parts = map_ranges(rows, threads, |range| {
        let n = range.len();
        let mut local = vec![0f32; n_tok * n];
        let mut tile = vec![0f32; ROW_TILE * cols];
        let mut r0 = range.start;
        while r0 < range.end {
            let tr = ROW_TILE.min(range.end - r0);
            for k in 0..tr {
                let r = r0 + k;
                dequantize_row(
                    dtype,
                    &data[r * rb..(r + 1) * rb],
                    &mut tile[k * cols..(k + 1) * cols],
                );
            }
            for t in 0..n_tok {
                let xt = &x[t * cols..(t + 1) * cols];
                let dst = &mut local[t * n + (r0 - range.start)..][..tr];
                for (k, o) in dst.iter_mut().enumerate() {
                    *o = dot_f32(&tile[k * cols..(k + 1) * cols], xt);
                }
            }
            r0 += tr;
        }
        (range, local)
    });
    scatter(parts, n_tok, rows, out);
}

/// Copy per-thread `(tokens, rows-in-range)` blocks into the `(tokens, rows)` output.
fn scatter(parts: Vec<(Range<usize>, Vec<f32>)>, n_tok: usize, rows: usize, out: &mut [f32]) {
    for (range, local) in parts {
        let n = range.len();
        for t in 0..n_tok {
            out[t * rows + range.start..t * rows + range.end]
                .copy_from_slice(&local[t * n..(t + 1) * n]);
        }
    }
}

/// Copy row `id` of a stored matrix (an embedding) into `out` as f32.
pub fn row(file: &GgufFile, w: &QMatrix, id: usize, out: &mut [f32]) {
    let data = file.tensor_data(&w.info);
    dequantize_row(
        w.dtype(),
        &data[id * w.row_bytes..(id + 1) * w.row_bytes],
        out,
    );
}
