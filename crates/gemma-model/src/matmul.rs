//! Products of stored (possibly quantized) weight matrices with f32 activations, threaded by rows.

use gemma_formats::GgufFile;
use gemma_kernels::{dequantize_row, dot_f32, dot_row};

use crate::parallel::{for_units, map_ranges};
use crate::weights::QMatrix;

/// Rows dequantized together in the batched path; sized so a tile stays in L2.
const ROW_TILE: usize = 16;

/// `out[t][r] = sum_c w[r][c] * x[t][c]` for `n_tok` activation rows `x` (`n_tok * w.cols`).
///
/// One token uses fused dot products straight from the stored blocks; several tokens
/// dequantize a tile of rows once and reuse it for every token.
pub fn matmul(
    file: &GgufFile,
    w: &QMatrix,
    x: &[f32],
    n_tok: usize,
    out: &mut [f32],
    threads: usize,
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
