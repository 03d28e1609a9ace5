//! Products of stored (possibly quantized) weight matrices with activations, threaded by rows.
//!
//! Matrices applied to the same activations (Q, K and V; gate and up) go through the pool as one
//! fused product: the activations are quantized once per format, and every thread computes a
//! share of every matrix's rows straight into the outputs.

use std::ops::Range;

use gemma_kernels::{
    act_bytes, act_type, active_level, dequantize_row, dot_f32, dot_q8_0_rows4, dot_row,
    dot_row_act, dot_rows_tokens, has_token_kernel, prefetch_l2, q8_0_repacked_bytes, q8_0_scales,
    quantize_act, repack_q8_0, repacks_to_q8_0, DType, TokenBatch,
};

use crate::parallel::{run_parts, split, split_by_cost};
use crate::weights::QMatrix;
use crate::Precision;

/// Rows handled together in the batched path; sized so a tile stays in cache.
const ROW_TILE: usize = 32;

/// One matrix of a product: its stored rows and its `(n_tok, w.rows)` output.
pub struct Product<'a> {
    /// The stored rows of `w`.
    pub data: &'a [u8],
    /// The matrix.
    pub w: &'a QMatrix,
    /// `out[t * w.rows + r]`: row `r` applied to token `t`.
    pub out: &'a mut [f32],
}

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
    matmul_fused(
        &mut [Product { data, w, out }],
        x,
        n_tok,
        threads,
        precision,
    );
}

/// [`matmul`] for several matrices of the same width applied to the same activations, in one
/// pass over the threads. Each result has the bits of its own [`matmul`].
pub fn matmul_fused(
    products: &mut [Product],
    x: &[f32],
    n_tok: usize,
    threads: usize,
    precision: Precision,
) {
    for p in products.iter() {
        assert_eq!(
            x.len(),
            n_tok * p.w.cols,
            "activation shape for {}",
            p.w.name
        );
        assert_eq!(
            p.out.len(),
            n_tok * p.w.rows,
            "output shape for {}",
            p.w.name
        );
    }
    if n_tok == 0 || products.is_empty() {
        return;
    }
    match precision {
        Precision::Mixed => mixed(products, x, n_tok, threads),
        Precision::F32 => exact(products, x, n_tok, threads),
    }
}

/// Activations quantized for one activation format.
enum Quantized {
    /// One token: its quantized row and (Q8_0) block scales.
    One(Vec<u8>, Vec<f32>),
    /// Several tokens, prepared for the tile kernels.
    Batch(TokenBatch),
}

/// Quantize each activation row once per format, then integer block dot products for every
/// (row, token). A row's result does not depend on how many tokens share the batch.
fn mixed(products: &mut [Product], x: &[f32], n_tok: usize, threads: usize) {
    let cols = x.len() / n_tok;
    // One weight type standing for each activation format the products need.
    let mut formats: Vec<DType> = Vec::new();
    for p in products.iter() {
        if !formats
            .iter()
            .any(|&f| act_type(f) == act_type(p.w.dtype()))
        {
            formats.push(p.w.dtype());
        }
    }
    let quantized: Vec<Quantized> = formats
        .iter()
        .map(|&f| {
            if n_tok == 1 {
                let mut xq = vec![0u8; act_bytes(f, cols)];
                quantize_act(f, x, &mut xq);
                let yd = if act_type(f) == act_type(DType::Q8_0) {
                    q8_0_scales(&xq)
                } else {
                    Vec::new()
                };
                return Quantized::One(xq, yd);
            }
            // Each thread quantizes and lays out its share of the tokens (pairs kept whole).
            let mut batch = TokenBatch::empty(active_level(), f, n_tok, cols);
            let ranges = split_by_cost(n_tok, threads.min(n_tok.div_ceil(16)), 2, |_| 1);
            let parts = batch
                .parts(&ranges)
                .into_iter()
                .zip(ranges.iter())
                .collect();
            run_parts(threads, parts, |(part, toks)| {
                part.fill(f, &x[toks.start * cols..toks.end * cols]);
            });
            Quantized::Batch(batch)
        })
        .collect();
    let format_of: Vec<&Quantized> = products
        .iter()
        .map(|p| {
            let i = formats
                .iter()
                .position(|&f| act_type(f) == act_type(p.w.dtype()))
                .expect("every format was quantized");
            &quantized[i]
        })
        .collect();
    run_tiles(
        products,
        n_tok,
        threads,
        |packed: &mut Vec<u8>, p, m, tile, out| {
            let (dtype, rb) = (m.w.dtype(), m.w.row_bytes);
            let row = |r: usize| &m.data[r * rb..(r + 1) * rb];
            let batch = match format_of[p] {
                Quantized::One(xq, yd) => return one_token(dtype, &row, tile, xq, yd, out),
                Quantized::Batch(batch) => batch,
            };
            if !(repacks_to_q8_0(dtype) || has_token_kernel(dtype)) {
                for (t, o) in out.chunks_exact_mut(tile.len()).enumerate() {
                    for (v, r) in o.iter_mut().zip(tile.clone()) {
                        *v = dot_row_act(dtype, row(r), batch.token(t));
                    }
                }
                return;
            }
            // A tile of rows (Q5_0 unpacked once as Q8_0: the same dots) against every token; the
            // next tile is fetched meanwhile.
            let next = tile.end..(tile.end + tile.len()).min(m.w.rows);
            prefetch_l2(&m.data[next.start * rb..next.end * rb]);
            if repacks_to_q8_0(dtype) {
                let prb = q8_0_repacked_bytes(dtype, rb);
                packed.resize(tile.len() * prb, 0);
                for (r, pr) in tile.zip(packed.chunks_exact_mut(prb)) {
                    repack_q8_0(dtype, row(r), pr);
                }
                let rows: Vec<&[u8]> = packed.chunks_exact(prb).collect();
                dot_rows_tokens(DType::Q8_0, &rows, batch, out);
            } else {
                let rows: Vec<&[u8]> = tile.map(row).collect();
                dot_rows_tokens(dtype, &rows, batch, out);
            }
        },
    );
}

/// One token's dots for a range of rows: Q8_0 rows four per call (the activation loaded once
/// for all four).
fn one_token<'a>(
    dtype: DType,
    row: &impl Fn(usize) -> &'a [u8],
    rows: Range<usize>,
    xq: &[u8],
    yd: &[f32],
    out: &mut [f32],
) {
    let mut k = 0;
    if dtype == DType::Q8_0 {
        while k + 4 <= out.len() {
            let r = rows.start + k;
            let v = dot_q8_0_rows4([row(r), row(r + 1), row(r + 2), row(r + 3)], xq, yd);
            out[k..k + 4].copy_from_slice(&v);
            k += 4;
        }
    }
    for (o, r) in out[k..].iter_mut().zip(rows.start + k..) {
        *o = dot_row_act(dtype, row(r), xq);
    }
}

/// f32 activations: one token uses fused dot products straight from the stored blocks; several
/// tokens dequantize a tile of rows once and reuse it for every token.
fn exact(products: &mut [Product], x: &[f32], n_tok: usize, threads: usize) {
    let cols = x.len() / n_tok;
    run_tiles(
        products,
        n_tok,
        threads,
        |deq: &mut Vec<f32>, _, m, tile, out| {
            let (dtype, rb) = (m.w.dtype(), m.w.row_bytes);
            let row = |r: usize| &m.data[r * rb..(r + 1) * rb];
            if n_tok == 1 {
                for (o, r) in out.iter_mut().zip(tile) {
                    *o = dot_row(dtype, row(r), x);
                }
                return;
            }
            let len = tile.len();
            deq.resize(len * cols, 0.0);
            for (r, d) in tile.zip(deq.chunks_exact_mut(cols)) {
                dequantize_row(dtype, row(r), d);
            }
            for (xt, o) in x.chunks_exact(cols).zip(out.chunks_exact_mut(len)) {
                for (v, d) in o.iter_mut().zip(deq.chunks_exact(cols)) {
                    *v = dot_f32(d, xt);
                }
            }
        },
    );
}

/// A matrix as the threads see it (its output handed out separately).
#[derive(Clone, Copy)]
struct Matrix<'a> {
    data: &'a [u8],
    w: &'a QMatrix,
}

/// One thread's share of one matrix: its rows and, per token, their run of the output.
struct Share<'a> {
    product: usize,
    rows: Range<usize>,
    out: Vec<&'a mut [f32]>,
}

/// Every matrix's rows split over the threads; each thread works through its share of each
/// matrix in tiles of [`ROW_TILE`] rows (one token: its whole share at once), calling
/// `tile(scratch, product, matrix, rows, out)` with `out[t * rows.len() + k]` for row
/// `rows.start + k` and token `t`, and writes the results into the products' outputs.
fn run_tiles<S, F>(products: &mut [Product], n_tok: usize, threads: usize, tile: F)
where
    S: Default,
    F: Fn(&mut S, usize, Matrix, Range<usize>, &mut [f32]) + Sync,
{
    let threads = threads.max(1);
    let matrices: Vec<Matrix> = products
        .iter()
        .map(|p| Matrix {
            data: p.data,
            w: p.w,
        })
        .collect();
    let mut shares: Vec<Vec<Share>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, p) in products.iter_mut().enumerate() {
        let rows = p.w.rows;
        let ranges = split(rows, threads);
        let mut outs: Vec<Vec<&mut [f32]>> = ranges.iter().map(|_| Vec::new()).collect();
        for token_out in p.out.chunks_exact_mut(rows) {
            let mut rest = token_out;
            for (r, o) in ranges.iter().zip(outs.iter_mut()) {
                let (piece, tail) = rest.split_at_mut(r.len());
                rest = tail;
                o.push(piece);
            }
        }
        for ((r, out), share) in ranges.into_iter().zip(outs).zip(shares.iter_mut()) {
            share.push(Share {
                product: i,
                rows: r,
                out,
            });
        }
    }
    shares.retain(|s| !s.is_empty());
    run_parts(threads, shares, |shares| {
        let mut scratch = S::default();
        let mut cols = Vec::new();
        for Share {
            product,
            rows,
            mut out,
        } in shares
        {
            let m = matrices[product];
            if n_tok == 1 {
                tile(&mut scratch, product, m, rows, &mut out[0][..]);
                continue;
            }
            for r0 in rows.clone().step_by(ROW_TILE) {
                let t = r0..(r0 + ROW_TILE).min(rows.end);
                cols.resize(t.len() * n_tok, 0.0);
                tile(&mut scratch, product, m, t.clone(), &mut cols);
                // Each token's run of the tile's rows.
                let off = r0 - rows.start;
                for (dst, src) in out.iter_mut().zip(cols.chunks_exact(t.len())) {
                    let dst = &mut dst[off..off + t.len()];
                    if let (Ok(d), Ok(s)) = (
                        <&mut [f32; ROW_TILE]>::try_from(&mut *dst),
                        <&[f32; ROW_TILE]>::try_from(src),
                    ) {
                        // A whole tile: a fixed-size copy, not a call.
                        *d = *s;
                    } else {
                        dst.copy_from_slice(src);
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use gemma_formats::TensorInfo;
    use gemma_kernels::quantize_row;

    use crate::storage::TensorLoc;

    fn values(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 4.0
            })
            .collect()
    }

    /// A random `rows × cols` matrix stored as `dtype`.
    fn matrix(dtype: DType, rows: usize, cols: usize, seed: u64) -> (QMatrix, Vec<u8>) {
        let rb = dtype.bytes_for(cols as u64).expect("whole blocks") as usize;
        let mut data = vec![0u8; rows * rb];
        let x = values(seed, rows * cols);
        for (src, dst) in x.chunks_exact(cols).zip(data.chunks_exact_mut(rb)) {
            quantize_row(dtype, src, dst).expect("quantizable type");
        }
        let info = TensorInfo {
            name: format!("{dtype}"),
            dims: vec![cols as u64, rows as u64],
            dtype,
            offset: 0,
            n_elements: (rows * cols) as u64,
            n_bytes: data.len() as u64,
        };
        let w = QMatrix {
            name: info.name.clone(),
            dtype,
            rows,
            cols,
            row_bytes: rb,
            loc: TensorLoc::Gguf(info),
        };
        (w, data)
    }

    #[test]
    fn fused_products_on_any_threads_have_the_bits_of_one_dot_per_row_and_token() {
        let cols = 512;
        let types = [
            (DType::Q5_0, 37),
            (DType::Q8_0, 5),
            (DType::Q4_K, 70),
            (DType::Q6_K, 9),
            (DType::Q4_1, 3),
            (DType::F16, 6),
        ];
        let mats: Vec<(QMatrix, Vec<u8>)> = types
            .iter()
            .enumerate()
            .map(|(i, &(t, rows))| matrix(t, rows, cols, 7 + i as u64))
            .collect();
        for n_tok in [1, 2, 9, 40] {
            let x = values(99 + n_tok as u64, n_tok * cols);
            for precision in [Precision::Mixed, Precision::F32] {
                // One dot per (row, token), in the numerics of `precision`.
                let want: Vec<Vec<f32>> = mats
                    .iter()
                    .map(|(w, data)| {
                        let rb = w.row_bytes;
                        let mut out = vec![0f32; n_tok * w.rows];
                        for t in 0..n_tok {
                            let xt = &x[t * cols..(t + 1) * cols];
                            let mut xq = vec![0u8; act_bytes(w.dtype, cols)];
                            quantize_act(w.dtype, xt, &mut xq);
                            for r in 0..w.rows {
                                let row = &data[r * rb..(r + 1) * rb];
                                out[t * w.rows + r] = match precision {
                                    Precision::Mixed => dot_row_act(w.dtype, row, &xq),
                                    Precision::F32 if n_tok == 1 => dot_row(w.dtype, row, xt),
                                    Precision::F32 => {
                                        let mut d = vec![0f32; cols];
                                        dequantize_row(w.dtype, row, &mut d);
                                        dot_f32(&d, xt)
                                    }
                                };
                            }
                        }
                        out
                    })
                    .collect();
                for threads in [1, 2, 3] {
                    let mut outs: Vec<Vec<f32>> = mats
                        .iter()
                        .map(|(w, _)| vec![f32::NAN; n_tok * w.rows])
                        .collect();
                    let mut products: Vec<Product> = mats
                        .iter()
                        .zip(outs.iter_mut())
                        .map(|((w, data), out)| Product { data, w, out })
                        .collect();
                    matmul_fused(&mut products, &x, n_tok, threads, precision);
                    for ((w, _), (got, want)) in mats.iter().zip(outs.iter().zip(&want)) {
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(
                            bits(got),
                            bits(want),
                            "{} {precision} n_tok {n_tok} threads {threads}",
                            w.name
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_matrix_too_narrow_for_its_activations_is_refused() {
        let (w, data) = matrix(DType::Q8_0, 4, 64, 1);
        let x = vec![0f32; 2 * 32];
        let mut out = vec![0f32; 2 * 4];
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            matmul(&data, &w, &x, 2, &mut out, 2, Precision::Mixed)
        }));
        assert!(r.is_err());
    }
}
