//! Batched activation-quantized dots for prompt processing: weight rows repacked once into
//! Q8_0 blocks, then one row against several tokens per call.
//!
//! Q5_0 and Q8_0 weights meet Q8_0 activations in the same integer lanes and with the same
//! per-block scale product, so a Q5_0 row repacked as Q8_0 (`q - 16` as a signed byte, the
//! same f16 scale) gives bit for bit the dot of the original row, on every kernel level.

use crate::act::{act_bytes, check_dot, dot_row_act, lanes};
use crate::DType;

/// Bytes of a Q8_0 block (f16 scale, 32 signed bytes).
const Q8_0_BLOCK: usize = 34;

/// Whether rows of `w` can be repacked by [`repack_q8_0`] without changing any dot.
pub fn repacks_to_q8_0(w: DType) -> bool {
    matches!(w, DType::Q5_0 | DType::Q8_0)
}

/// Bytes of `row_bytes` bytes of `w` once repacked as Q8_0.
pub fn q8_0_repacked_bytes(w: DType, row_bytes: usize) -> usize {
    row_bytes / w.block_bytes() * Q8_0_BLOCK
}

/// Rewrites a Q5_0 or Q8_0 row as Q8_0 blocks into `out` (exactly
/// [`q8_0_repacked_bytes`] long).
///
/// # Panics
///
/// If `w` is not Q5_0 or Q8_0, or the lengths do not match.
pub fn repack_q8_0(w: DType, row: &[u8], out: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if w == DType::Q5_0 && crate::level::avx2_active() {
        assert_eq!(
            out.len(),
            q8_0_repacked_bytes(w, row.len()),
            "repack_q8_0: output size"
        );
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2; the output size
        // was checked above.
        #[allow(unsafe_code)]
        unsafe {
            crate::x86::act_dot::repack_q5_0(row, out)
        };
        return;
    }
    repack_q8_0_scalar(w, row, out);
}

/// The f32 values of the f16 scales of Q8_0 blocks (weights or activations), one per block.
pub fn q8_0_scales(blocks: &[u8]) -> Vec<f32> {
    blocks
        .chunks_exact(Q8_0_BLOCK)
        .map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32())
        .collect()
}

/// Portable twin of [`repack_q8_0`].
///
/// # Panics
///
/// As [`repack_q8_0`].
pub fn repack_q8_0_scalar(w: DType, row: &[u8], out: &mut [u8]) {
    assert_eq!(
        out.len(),
        q8_0_repacked_bytes(w, row.len()),
        "repack_q8_0: output size"
    );
    match w {
        DType::Q8_0 => out.copy_from_slice(row),
        DType::Q5_0 => repack_q5_0_scalar(row, out),
        other => panic!("repack_q8_0: {other} rows do not repack to Q8_0"),
    }
}

fn repack_q5_0_scalar(row: &[u8], out: &mut [u8]) {
    for (b, o) in row.chunks_exact(22).zip(out.chunks_exact_mut(Q8_0_BLOCK)) {
        o[..2].copy_from_slice(&b[..2]);
        let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
        for j in 0..16 {
            let lo = b[6 + j] & 0x0F;
            let hi = b[6 + j] >> 4;
            let h0 = ((qh >> j) & 1) as u8;
            let h1 = ((qh >> (j + 16)) & 1) as u8;
            o[2 + j] = ((lo | (h0 << 4)) as i8 - 16) as u8;
            o[2 + 16 + j] = ((hi | (h1 << 4)) as i8 - 16) as u8;
        }
    }
}

/// `[dot(row, xq[0]), ..., dot(row, xq[3])]` for a Q8_0 row and four Q8_0 activation rows:
/// the same bits as four [`dot_row_act`] calls, with the row's blocks loaded once. `xd` and
/// `yd` are the rows' [`q8_0_scales`].
///
/// # Panics
///
/// As [`dot_row_act`], for any of the four, or if a scale slice does not have one value per
/// block.
pub fn dot_q8_0_x4(row: &[u8], xq: [&[u8]; 4], xd: &[f32], yd: [&[f32]; 4]) -> [f32; 4] {
    let nb = row.len() / Q8_0_BLOCK;
    for (x, d) in xq.iter().zip(yd) {
        check_dot(DType::Q8_0, row.len(), x.len());
        assert_eq!(d.len(), nb, "dot_q8_0_x4: activation scales");
    }
    assert_eq!(xd.len(), nb, "dot_q8_0_x4: row scales");
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA; lengths
        // were checked above.
        #[allow(unsafe_code)]
        return unsafe { crate::x86::act_dot::dot_q8_0_x4(row, xq, xd, yd) };
    }
    xq.map(|x| lanes::dot_q8_0(row, x))
}

/// Portable twin of [`dot_q8_0_x4`].
pub fn dot_q8_0_x4_scalar(row: &[u8], xq: [&[u8]; 4]) -> [f32; 4] {
    for x in xq {
        check_dot(DType::Q8_0, row.len(), x.len());
    }
    xq.map(|x| lanes::dot_q8_0(row, x))
}

/// `out[t] = dot(row, xq[t])` for `n` tokens of Q8_0 activations laid out back to back (`yd`:
/// their [`q8_0_scales`], back to back), four at a time where possible.
pub fn dot_q8_0_tokens(row: &[u8], xq: &[u8], yd: &[f32], out: &mut [f32]) {
    let n = out.len();
    let nb = row.len() / Q8_0_BLOCK;
    let qb = act_bytes(DType::Q8_0, nb * 32);
    assert_eq!(xq.len(), n * qb, "dot_q8_0_tokens: activation bytes");
    assert_eq!(yd.len(), n * nb, "dot_q8_0_tokens: activation scales");
    let xd = q8_0_scales(row);
    let x = |t: usize| &xq[t * qb..(t + 1) * qb];
    let d = |t: usize| &yd[t * nb..(t + 1) * nb];
    let mut t = 0;
    while t + 4 <= n {
        let v = dot_q8_0_x4(
            row,
            [x(t), x(t + 1), x(t + 2), x(t + 3)],
            &xd,
            [d(t), d(t + 1), d(t + 2), d(t + 3)],
        );
        out[t..t + 4].copy_from_slice(&v);
        t += 4;
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = dot_row_act(DType::Q8_0, row, x(t));
    }
}

/// `[dot(rows[0], xq), ..., dot(rows[3], xq)]` for four Q8_0 rows and one Q8_0 activation row
/// (`yd`: its [`q8_0_scales`]): the same bits as four [`dot_row_act`] calls, with the
/// activation loaded once.
///
/// # Panics
///
/// As [`dot_row_act`], for any of the four, or if `yd` is not one scale per block.
pub fn dot_q8_0_rows4(rows: [&[u8]; 4], xq: &[u8], yd: &[f32]) -> [f32; 4] {
    for r in rows {
        check_dot(DType::Q8_0, r.len(), xq.len());
    }
    assert_eq!(
        yd.len(),
        xq.len() / Q8_0_BLOCK,
        "dot_q8_0_rows4: activation scales"
    );
    #[cfg(target_arch = "x86_64")]
    if crate::level::avx2_active() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA; lengths
        // were checked above.
        #[allow(unsafe_code)]
        return unsafe { crate::x86::act_dot::dot_q8_0_rows4(rows, xq, yd) };
    }
    rows.map(|r| lanes::dot_q8_0(r, xq))
}

/// Whether [`dot_tokens`] has a kernel taking four tokens at once for rows of `w` (other types
/// fall back to one dot per token).
pub fn has_token_kernel(w: DType) -> bool {
    matches!(w, DType::Q4_K | DType::Q6_K)
}

/// `out[t] = dot_row_act(w, row, xq[t])` for `out.len()` activation rows laid out back to back,
/// four tokens per call for Q4_K and Q6_K rows (their unpacking shared): the same bits as one
/// [`dot_row_act`] per token.
///
/// # Panics
///
/// As [`dot_row_act`], or if `xq` is not `out.len()` activation rows.
pub fn dot_tokens(w: DType, row: &[u8], xq: &[u8], out: &mut [f32]) {
    let n = out.len();
    let cols = row.len() / w.block_bytes() * w.block_len();
    let qb = act_bytes(w, cols);
    assert_eq!(xq.len(), n * qb, "dot_tokens: activation bytes");
    let x = |t: usize| &xq[t * qb..(t + 1) * qb];
    let mut t = 0;
    #[cfg(target_arch = "x86_64")]
    if has_token_kernel(w) && crate::level::avx2_active() {
        check_dot(w, row.len(), qb);
        while t + 4 <= n {
            let xs = [x(t), x(t + 1), x(t + 2), x(t + 3)];
            // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA; the
            // lengths were checked above.
            #[allow(unsafe_code)]
            let v = unsafe {
                match w {
                    DType::Q4_K => crate::x86::act_dot::dot_q4_k_x4(row, xs),
                    _ => crate::x86::act_dot::dot_q6_k_x4(row, xs),
                }
            };
            out[t..t + 4].copy_from_slice(&v);
            t += 4;
        }
    }
    for (t, o) in out.iter_mut().enumerate().skip(t) {
        *o = dot_row_act(w, row, x(t));
    }
}
