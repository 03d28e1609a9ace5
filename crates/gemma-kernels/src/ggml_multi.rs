//! llama.cpp's attention sums for several queries at once (the heads sharing a KV head, and
//! neighbouring tokens), each with the bits of the one-query kernels in [`crate::ggml`]: the
//! key and value rows are loaded once for all the queries.
//!
//! As in `crate::ggml`, each body is portable Rust with `f32::mul_add`, compiled again with
//! AVX2+FMA and with AVX-512 enabled; every level gives the same bits.

use crate::ggml::{reduce_accs, ACCS, LANES, STEP};

/// Queries per pass of [`dot_f16_multi`] (four accumulators of 16 lanes each).
const DOT_QUERIES: usize = 4;
/// Queries per pass of [`vp_multi`].
const VP_QUERIES: usize = 8;

#[inline(always)]
fn dot_body<const Q: usize>(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
    let n = k.len();
    let np = n - n % STEP;
    let qs: [&[f32]; Q] = std::array::from_fn(|i| &qs[i][..n]);
    let mut acc = [[[0f32; LANES]; ACCS]; Q];
    for i in (0..np).step_by(STEP) {
        let ks: &[f32; STEP] = k[i..i + STEP].try_into().expect("a whole step");
        for (accq, q) in acc.iter_mut().zip(qs) {
            let ys: &[f32; STEP] = q[i..i + STEP].try_into().expect("a whole step");
            for a in 0..ACCS {
                for l in 0..LANES {
                    accq[a][l] = ks[a * LANES + l].mul_add(ys[a * LANES + l], accq[a][l]);
                }
            }
        }
    }
    for ((accq, q), o) in acc.iter_mut().zip(qs).zip(out.iter_mut()) {
        let mut sum = reduce_accs(accq);
        for i in np..n {
            sum += (k[i] * q[i]) as f64;
        }
        *o = sum as f32;
    }
}

#[inline(always)]
fn dot_multi_body(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
    let mut i = 0;
    while i + DOT_QUERIES <= qs.len() {
        dot_body::<DOT_QUERIES>(k, &qs[i..i + DOT_QUERIES], &mut out[i..i + DOT_QUERIES]);
        i += DOT_QUERIES;
    }
    for (q, o) in qs[i..].iter().zip(&mut out[i..]) {
        dot_body::<1>(k, std::slice::from_ref(q), std::slice::from_mut(o));
    }
}

/// Lane `a` of one query group's `V·p` over 16 output elements from `d0`: the cells whose
/// absolute index is `a` modulo 64, in order (`n` cells from absolute index `lo`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn vp_lane<const Q: usize>(
    vals: &[f32],
    stride: usize,
    d0: usize,
    lo: usize,
    n: usize,
    ps: &[&[f32]],
    a: usize,
) -> [[f32; LANES]; Q] {
    let ps: [&[f32]; Q] = std::array::from_fn(|i| &ps[i][..n]);
    let mut acc = [[0f32; LANES]; Q];
    // The first cell at or after `lo` whose absolute index is `a` modulo 64.
    let mut c = (a + STEP - lo % STEP) % STEP;
    while c < n {
        let v: &[f32; LANES] = vals[c * stride + d0..][..LANES]
            .try_into()
            .expect("16 values");
        for (accq, p) in acc.iter_mut().zip(ps) {
            let w = p[c];
            for l in 0..LANES {
                accq[l] = v[l].mul_add(w, accq[l]);
            }
        }
        c += STEP;
    }
    acc
}

/// `x += y`, lane by lane.
#[inline(always)]
fn add_rows<const Q: usize>(x: &mut [[f32; LANES]; Q], y: &[[f32; LANES]; Q]) {
    for (xq, yq) in x.iter_mut().zip(y) {
        for l in 0..LANES {
            xq[l] += yq[l];
        }
    }
}

/// One query group's `V·p` over 16 output elements `d0..d0 + 16`: lane `a` of ggml's
/// `ggml_vec_dot_f16` over the cells gathers the cells `j ≡ a (mod 64)` in order, and the
/// 64 lanes are then reduced as `GGML_F32x16_REDUCE` does.
#[inline(always)]
fn vp_chunk<const Q: usize>(
    vals: &[f32],
    stride: usize,
    d0: usize,
    lo: usize,
    ps: &[&[f32]],
    out: &mut [[f32; LANES]],
) {
    let n = ps[0].len();
    // r[i] = (lane i + lane 32+i) + (lane 16+i + lane 48+i): ggml's a0 += a2; a1 += a3; a0 += a1.
    let mut r = [[[0f32; LANES]; Q]; LANES];
    for (i, ri) in r.iter_mut().enumerate() {
        let mut x = vp_lane::<Q>(vals, stride, d0, lo, n, ps, i);
        add_rows(
            &mut x,
            &vp_lane::<Q>(vals, stride, d0, lo, n, ps, 2 * LANES + i),
        );
        let mut y = vp_lane::<Q>(vals, stride, d0, lo, n, ps, LANES + i);
        add_rows(
            &mut y,
            &vp_lane::<Q>(vals, stride, d0, lo, n, ps, 3 * LANES + i),
        );
        add_rows(&mut x, &y);
        *ri = x;
    }
    // reduce16 across the 16 rows, element by element.
    for i in 0..8 {
        let mut t = r[8 + i];
        add_rows(&mut t, &r[i]);
        r[8 + i] = t;
    }
    for i in 0..4 {
        let mut t = r[12 + i];
        add_rows(&mut t, &r[8 + i]);
        r[12 + i] = t;
    }
    for (q, o) in out.iter_mut().enumerate().take(Q) {
        for l in 0..LANES {
            let (t0, t1, t2, t3) = (r[12][q][l], r[13][q][l], r[14][q][l], r[15][q][l]);
            o[l] = ((t0 + t2) + (t1 + t3)) as f64 as f32;
        }
    }
}

#[inline(always)]
fn vp_multi_body(
    vals: &[f32],
    stride: usize,
    off: usize,
    lo: usize,
    ps: &[&[f32]],
    outs: &mut [&mut [f32]],
) {
    let hd = outs[0].len();
    let mut tmp = [[0f32; LANES]; VP_QUERIES];
    let mut i = 0;
    while i < ps.len() {
        let q = (ps.len() - i).min(VP_QUERIES);
        for d0 in (0..hd).step_by(LANES) {
            let pq = &ps[i..i + q];
            match q {
                8 => vp_chunk::<8>(vals, stride, off + d0, lo, pq, &mut tmp),
                4..=7 => {
                    vp_chunk::<4>(vals, stride, off + d0, lo, &pq[..4], &mut tmp);
                    for (k, p) in pq[4..].iter().enumerate() {
                        vp_chunk::<1>(
                            vals,
                            stride,
                            off + d0,
                            lo,
                            std::slice::from_ref(p),
                            &mut tmp[4 + k..],
                        );
                    }
                }
                _ => {
                    for (k, p) in pq.iter().enumerate() {
                        vp_chunk::<1>(
                            vals,
                            stride,
                            off + d0,
                            lo,
                            std::slice::from_ref(p),
                            &mut tmp[k..],
                        );
                    }
                }
            }
            for (k, o) in outs[i..i + q].iter_mut().enumerate() {
                o[d0..d0 + LANES].copy_from_slice(&tmp[k]);
            }
        }
        i += q;
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod fma {
    // SAFETY (all): callers check that the CPU has AVX2 and FMA before calling.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
        super::dot_multi_body(k, qs, out)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn vp(
        v: &[f32],
        s: usize,
        off: usize,
        lo: usize,
        ps: &[&[f32]],
        outs: &mut [&mut [f32]],
    ) {
        super::vp_multi_body(v, s, off, lo, ps, outs)
    }
}

/// The AVX-512 level: explicit 512-bit kernels for full groups, the portable bodies (compiled
/// for 512-bit registers) for the rest.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    use super::{LANES, STEP, VP_QUERIES};
    use crate::x86::attn512;

    // SAFETY (all): callers check that the CPU has AVX-512F, AVX2 and FMA before calling.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
        if !k.len().is_multiple_of(STEP) {
            return super::dot_multi_body(k, qs, out);
        }
        let mut i = 0;
        while i + 4 <= qs.len() {
            // SAFETY: lengths were checked by the caller; k is whole steps.
            let v = unsafe { attn512::dot_f16_x4(k, [qs[i], qs[i + 1], qs[i + 2], qs[i + 3]]) };
            out[i..i + 4].copy_from_slice(&v);
            i += 4;
        }
        super::dot_multi_body(k, &qs[i..], &mut out[i..]);
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn vp(
        v: &[f32],
        s: usize,
        off: usize,
        lo: usize,
        ps: &[&[f32]],
        outs: &mut [&mut [f32]],
    ) {
        let (n, hd) = (ps[0].len(), outs[0].len());
        let mut i = 0;
        while i + VP_QUERIES <= ps.len() {
            let group: [&[f32]; VP_QUERIES] = std::array::from_fn(|k| ps[i + k]);
            for d0 in (0..hd).step_by(LANES) {
                // SAFETY: the caller checked that every cell's row (off + hd values) is in
                // `v`, and every weight row holds n values.
                let r = unsafe { attn512::vp_x8(v.as_ptr().add(off + d0), s, lo, n, group) };
                for (o, rv) in outs[i..i + VP_QUERIES].iter_mut().zip(&r) {
                    o[d0..d0 + LANES].copy_from_slice(rv);
                }
            }
            i += VP_QUERIES;
        }
        if i < ps.len() {
            super::vp_multi_body(v, s, off, lo, &ps[i..], &mut outs[i..]);
        }
    }
}

/// `out[i] = dot_f16_ggml(k, qs[i])` for every query, `k` loaded once per four queries.
///
/// # Panics
///
/// If a query's length differs from `k`'s or `out` is not one value per query.
pub fn dot_f16_multi(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
    check_dot(k, qs, out);
    #[cfg(target_arch = "x86_64")]
    match crate::active_level() {
        // SAFETY: each level is only selected after detecting the features its kernels use.
        #[allow(unsafe_code)]
        crate::KernelLevel::Avx512 => return unsafe { wide::dot(k, qs, out) },
        #[allow(unsafe_code)]
        crate::KernelLevel::Avx2Fma => return unsafe { fma::dot(k, qs, out) },
        crate::KernelLevel::Scalar => {}
    }
    dot_multi_body(k, qs, out)
}

/// `V·p` for several queries with ggml's lanes and reduction (`ggml_vec_dot_f16` over the
/// cells, for each output element), the value rows loaded once per eight queries.
///
/// Cell `c` (absolute index `lo + c`) has its value row at `vals[c * stride + off..][..hd]`
/// and weight `ps[i][c]` for query `i`; `outs[i]` (each `hd` long, a multiple of 16) receives
/// query `i`'s result. A zero weight adds nothing (the values are finite), so the queries of
/// a group may span different cells.
///
/// # Panics
///
/// If the weights differ in length, the outputs are not whole 16-value chunks of one
/// length, or a value row lies outside `vals`.
pub fn vp_multi(
    vals: &[f32],
    stride: usize,
    off: usize,
    lo: usize,
    ps: &[&[f32]],
    outs: &mut [&mut [f32]],
) {
    if !check_vp(vals.len(), stride, off, ps, outs) {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    match crate::active_level() {
        // SAFETY: each level is only selected after detecting the features its kernels use.
        #[allow(unsafe_code)]
        crate::KernelLevel::Avx512 => return unsafe { wide::vp(vals, stride, off, lo, ps, outs) },
        #[allow(unsafe_code)]
        crate::KernelLevel::Avx2Fma => return unsafe { fma::vp(vals, stride, off, lo, ps, outs) },
        crate::KernelLevel::Scalar => {}
    }
    vp_multi_body(vals, stride, off, lo, ps, outs)
}

/// Portable twin of [`dot_f16_multi`] (the same bits).
///
/// # Panics
///
/// As [`dot_f16_multi`].
pub fn dot_f16_multi_scalar(k: &[f32], qs: &[&[f32]], out: &mut [f32]) {
    check_dot(k, qs, out);
    dot_multi_body(k, qs, out)
}

/// Portable twin of [`vp_multi`] (the same bits).
///
/// # Panics
///
/// As [`vp_multi`].
pub fn vp_multi_scalar(
    vals: &[f32],
    stride: usize,
    off: usize,
    lo: usize,
    ps: &[&[f32]],
    outs: &mut [&mut [f32]],
) {
    if !check_vp(vals.len(), stride, off, ps, outs) {
        return;
    }
    vp_multi_body(vals, stride, off, lo, ps, outs)
}

/// The checks of [`vp_multi`]; false when there is nothing to do.
fn check_vp(vals: usize, stride: usize, off: usize, ps: &[&[f32]], outs: &[&mut [f32]]) -> bool {
    assert_eq!(ps.len(), outs.len(), "vp_multi: one output per query");
    if ps.is_empty() {
        return false;
    }
    let (n, hd) = (ps[0].len(), outs[0].len());
    assert!(
        ps.iter().all(|p| p.len() == n),
        "vp_multi: weight lengths differ"
    );
    assert!(
        hd % LANES == 0 && outs.iter().all(|o| o.len() == hd),
        "vp_multi: output lengths"
    );
    assert!(
        n == 0 || (n - 1) * stride + off + hd <= vals,
        "vp_multi: value rows out of range"
    );
    true
}

/// The checks of [`dot_f16_multi`].
fn check_dot(k: &[f32], qs: &[&[f32]], out: &[f32]) {
    assert_eq!(qs.len(), out.len(), "dot_f16_multi: one output per query");
    assert!(
        qs.iter().all(|q| q.len() == k.len()),
        "dot_f16_multi: length mismatch"
    );
}
