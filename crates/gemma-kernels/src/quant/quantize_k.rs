//! Quantizers for the 256-weight K formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), ports of
//! ggml's `quantize_row_*_ref` with its scale searches `make_qx_quants` (Q6_K),
//! `make_q3_quants` (Q3_K) and `make_qkx2_quants` (Q2_K, Q4_K, Q5_K); layouts in [`super::k`].
//!
//! Lengths are checked by [`super::quantize::quantize_row`].

use super::k::{k3_scales, k4_scales_mins, QK_K};
use super::quantize::{f16_round_trip, nearest_int, put_f16};

/// ggml's threshold below which a group counts as all zero.
const GROUP_MAX_EPS: f32 = 1e-15;

/// Value with the largest magnitude (first on ties) and that magnitude.
#[inline(always)]
fn signed_max(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        let a = v.abs();
        if a > amax {
            amax = a;
            max = v;
        }
    }
    (amax, max)
}

/// `make_qx_quants` with `rmse_type == 1` and no importance weights: quants in
/// `L = l + nmax`, `l` in `[-nmax, nmax - 1]`; returns the scale.
fn make_qx_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let quant = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let sums = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
        for &v in x {
            let l = quant(iscale, v) as f32;
            let w = v * v;
            sumlx += w * v * l;
            suml2 += w * l * l;
        }
        (sumlx, suml2)
    };
    let fill = |iscale: f32, l_out: &mut [i8]| {
        for (o, &v) in l_out.iter_mut().zip(x) {
            *o = (nmax + quant(iscale, v)) as i8;
        }
    };
    let iscale = -(nmax as f32) / max;
    fill(iscale, l_out);
    let (sumlx, suml2) = sums(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in (-9..=9).filter(|&is| is != 0) {
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = sums(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            fill(iscale, l_out);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// `make_q3_quants` with `do_rmse`: quants in `L = l + nmax`; returns the scale.
fn make_q3_quants(nmax: i32, x: &[f32], l_out: &mut [i8]) -> f32 {
    let (amax, max) = signed_max(x);
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0.0f32, 0.0f32);
    for (o, &v) in l_out.iter_mut().zip(x) {
        let l = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *o = l as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for (o, &v) in l_out.iter_mut().zip(x) {
            let w = v * v;
            let old = *o as f32;
            let mut slx = sumlx - w * v * old;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * old * old;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *o as i32 {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *o = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for o in l_out.iter_mut() {
        *o += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

/// Search settings of `make_qkx2_quants`.
struct Qkx2 {
    nmax: i32,
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
}

/// `make_qkx2_quants`: quants in `[0, nmax]` for `x ≈ scale * L - the_min`; returns
/// `(scale, the_min)`. `laux` is scratch of `x.len()` bytes.
fn make_qkx2_quants(
    p: &Qkx2,
    x: &[f32],
    w: &[f32],
    l_out: &mut [u8],
    laux: &mut [u8],
) -> (f32, f32) {
    let (mut min, mut max) = (x[0], x[0]);
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..x.len() {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..x.len()].fill(0);
        return (0.0, -min);
    }
    let nmax = p.nmax;
    let err = |d: f32| if p.use_mad { d.abs() } else { d * d };
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..x.len() {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l_out[i] = l as u8;
        best_error += w[i] * err(scale * l as f32 + min - x[i]);
    }
    if p.nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=p.nstep {
        iscale = (p.rmin + p.rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..x.len() {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let lf = l as f32;
            sum_l += w[i] * lf;
            sum_l2 += w[i] * lf * lf;
            sum_xl += w[i] * lf * x[i];
        }
        let d = sum_w * sum_l2 - sum_l * sum_l;
        if d > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / d;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / d;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..x.len() {
                cur_error += w[i] * err(this_scale * laux[i] as f32 + this_min - x[i]);
            }
            if cur_error < best_error {
                l_out[..x.len()].copy_from_slice(&laux[..x.len()]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Packs 2-bit quants: byte `32h + l` holds quants `128h + l + 32s` at bits `2s`.
fn pack2(l: &[u8; QK_K], qs: &mut [u8]) {
    for j in (0..QK_K).step_by(128) {
        for i in 0..32 {
            qs[j / 4 + i] =
                l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
        }
    }
}

/// Q2_K (84 B): `scales[16]`, `qs[64]`, `d`, `dmin`.
pub(crate) fn quantize_q2_k(x: &[f32], y: &mut [u8]) {
    let p = Qkx2 {
        nmax: 3,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: true,
    };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.chunks_exact_mut(84)) {
        let mut l = [0u8; QK_K];
        let mut laux = [0u8; 16];
        let (mut scales, mut mins) = ([0.0f32; 16], [0.0f32; 16]);
        let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
        for j in 0..16 {
            let xs = &xb[16 * j..16 * j + 16];
            let mut w = [0.0f32; 16];
            for (o, v) in w.iter_mut().zip(xs) {
                *o = v.abs();
            }
            (scales[j], mins[j]) = make_qkx2_quants(&p, xs, &w, &mut l[16 * j..], &mut laux);
            if scales[j] > max_scale {
                max_scale = scales[j];
            }
            if mins[j] > max_min {
                max_min = mins[j];
            }
        }
        let (sc, rest) = yb.split_at_mut(16);
        if max_scale > 0.0 {
            let iscale = 15.0 / max_scale;
            for (o, s) in sc.iter_mut().zip(scales) {
                *o = nearest_int(iscale * s) as u8;
            }
            put_f16(&mut rest[64..], max_scale / 15.0);
        } else {
            sc.fill(0);
            put_f16(&mut rest[64..], 0.0);
        }
        if max_min > 0.0 {
            let iscale = 15.0 / max_min;
            for (o, m) in sc.iter_mut().zip(mins) {
                *o |= (nearest_int(iscale * m) << 4) as u8;
            }
            put_f16(&mut rest[66..], max_min / 15.0);
        } else {
            put_f16(&mut rest[66..], 0.0);
        }
        let dd = super::f16_at(&rest[64..]);
        let dmin = super::f16_at(&rest[66..]);
        for j in 0..16 {
            let d = dd * (sc[j] & 0x0F) as f32;
            if d == 0.0 {
                continue;
            }
            let dm = dmin * (sc[j] >> 4) as f32;
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int((xb[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
            }
        }
        pack2(&l, &mut rest[..64]);
    }
}

/// Q3_K (110 B): `hmask[32]`, `qs[64]`, `scales[12]`, `d`.
pub(crate) fn quantize_q3_k(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.chunks_exact_mut(110)) {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut amax) = (0.0f32, 0.0f32);
        for j in 0..16 {
            scales[j] = make_q3_quants(4, &xb[16 * j..16 * j + 16], &mut l[16 * j..16 * j + 16]);
            let a = scales[j].abs();
            if a > amax {
                amax = a;
                max_scale = scales[j];
            }
        }
        let (hmask, rest) = yb.split_at_mut(32);
        let (qs, rest) = rest.split_at_mut(64);
        let (sc, dbytes) = rest.split_at_mut(12);
        sc.fill(0);
        if max_scale != 0.0 {
            let iscale = -32.0 / max_scale;
            for (j, &s) in scales.iter().enumerate() {
                let v = (nearest_int(iscale * s) as i8).clamp(-32, 31) + 32;
                if j < 8 {
                    sc[j] = (v & 0x0F) as u8;
                } else {
                    sc[j - 8] |= ((v & 0x0F) << 4) as u8;
                }
                sc[j % 4 + 8] |= ((v >> 4) << (2 * (j / 4))) as u8;
            }
            put_f16(dbytes, 1.0 / iscale);
        } else {
            put_f16(dbytes, 0.0);
        }
        let dd = super::f16_at(dbytes);
        for (j, s) in k3_scales(sc).into_iter().enumerate() {
            let d = dd * s as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int(xb[16 * j + ii] / d).clamp(-4, 3) as i8 + 4;
            }
        }
        hmask.fill(0);
        let mut lu = [0u8; QK_K];
        for (j, (o, &v)) in lu.iter_mut().zip(&l).enumerate() {
            let mut v = v as u8;
            if v > 3 {
                hmask[j % 32] |= 1 << (j / 32);
                v -= 4;
            }
            *o = v;
        }
        pack2(&lu, qs);
    }
}

/// Q4_K / Q5_K: per 32 weights, `make_qkx2_quants` with weights `rms + |x|`, then 6-bit
/// scales and mins packed into `sc` (12 bytes), `d`/`dmin` into `dd`; returns the quants.
fn k45_block(p: &Qkx2, xb: &[f32], dd: &mut [u8], sc: &mut [u8]) -> [u8; QK_K] {
    let mut l = [0u8; QK_K];
    let mut laux = [0u8; 32];
    let (mut scales, mut mins) = ([0.0f32; 8], [0.0f32; 8]);
    let (mut max_scale, mut max_min) = (0.0f32, 0.0f32);
    for j in 0..8 {
        let xs = &xb[32 * j..32 * j + 32];
        let mut sum_x2 = 0.0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        let mut w = [0.0f32; 32];
        for (o, v) in w.iter_mut().zip(xs) {
            *o = av_x + v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(p, xs, &w, &mut l[32 * j..], &mut laux);
        if scales[j] > max_scale {
            max_scale = scales[j];
        }
        if mins[j] > max_min {
            max_min = mins[j];
        }
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    for j in 0..8 {
        let ls = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        let lm = (nearest_int(inv_min * mins[j]) as u8).min(63);
        if j < 4 {
            sc[j] = ls;
            sc[j + 4] = lm;
        } else {
            sc[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4);
            sc[j - 4] |= (ls >> 4) << 6;
            sc[j] |= (lm >> 4) << 6;
        }
    }
    put_f16(dd, max_scale / 63.0);
    put_f16(&mut dd[2..], max_min / 63.0);
    let (d_all, dmin_all) = (
        f16_round_trip(max_scale / 63.0),
        f16_round_trip(max_min / 63.0),
    );
    let (s6, m6) = k4_scales_mins(sc);
    for j in 0..8 {
        let d = d_all * s6[j] as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_all * m6[j] as f32;
        for ii in 0..32 {
            l[32 * j + ii] = nearest_int((xb[32 * j + ii] + dm) / d).clamp(0, p.nmax) as u8;
        }
    }
    l
}

/// Q4_K (144 B): `d`, `dmin`, `scales[12]`, `qs[128]`.
pub(crate) fn quantize_q4_k(x: &[f32], y: &mut [u8]) {
    let p = Qkx2 {
        nmax: 15,
        rmin: -1.0,
        rdelta: 0.1,
        nstep: 20,
        use_mad: false,
    };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.chunks_exact_mut(144)) {
        let (dd, rest) = yb.split_at_mut(4);
        let (sc, qs) = rest.split_at_mut(12);
        let l = k45_block(&p, xb, dd, sc);
        for (j, q) in (0..QK_K).step_by(64).zip(qs.chunks_exact_mut(32)) {
            for i in 0..32 {
                q[i] = l[j + i] | (l[j + i + 32] << 4);
            }
        }
    }
}

/// Q5_K (176 B): `d`, `dmin`, `scales[12]`, `qh[32]`, `qs[128]`.
pub(crate) fn quantize_q5_k(x: &[f32], y: &mut [u8]) {
    let p = Qkx2 {
        nmax: 31,
        rmin: -0.5,
        rdelta: 0.1,
        nstep: 15,
        use_mad: false,
    };
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.chunks_exact_mut(176)) {
        let (dd, rest) = yb.split_at_mut(4);
        let (sc, rest) = rest.split_at_mut(12);
        let (qh, ql) = rest.split_at_mut(32);
        let l = k45_block(&p, xb, dd, sc);
        qh.fill(0);
        for (n, q) in (0..QK_K).step_by(64).zip(ql.chunks_exact_mut(32)) {
            let (m1, m2) = (1u8 << (n / 32), 2u8 << (n / 32));
            for j in 0..32 {
                let (mut l1, mut l2) = (l[n + j], l[n + j + 32]);
                if l1 > 15 {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                if l2 > 15 {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                q[j] = l1 | (l2 << 4);
            }
        }
    }
}

/// Q6_K (210 B): `ql[128]`, `qh[64]`, `scales[16]` (i8), `d`.
pub(crate) fn quantize_q6_k(x: &[f32], y: &mut [u8]) {
    for (xb, yb) in x.chunks_exact(QK_K).zip(y.chunks_exact_mut(210)) {
        let mut l = [0i8; QK_K];
        let mut scales = [0.0f32; 16];
        let (mut max_scale, mut max_abs_scale) = (0.0f32, 0.0f32);
        for ib in 0..16 {
            let s = make_qx_quants(
                32,
                &xb[16 * ib..16 * ib + 16],
                &mut l[16 * ib..16 * ib + 16],
            );
            scales[ib] = s;
            if s.abs() > max_abs_scale {
                max_abs_scale = s.abs();
                max_scale = s;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            yb.fill(0);
            continue;
        }
        let (ql, rest) = yb.split_at_mut(128);
        let (qh, rest) = rest.split_at_mut(64);
        let (sc, dbytes) = rest.split_at_mut(16);
        let iscale = -128.0 / max_scale;
        put_f16(dbytes, 1.0 / iscale);
        for (o, &s) in sc.iter_mut().zip(&scales) {
            *o = nearest_int(iscale * s).min(127) as i8 as u8;
        }
        let dd = f16_round_trip(1.0 / iscale);
        for j in 0..16 {
            let d = dd * (sc[j] as i8) as f32;
            if d == 0.0 {
                continue;
            }
            for ii in 0..16 {
                l[16 * j + ii] = nearest_int(xb[16 * j + ii] / d).clamp(-32, 31) as i8 + 32;
            }
        }
        let lu = l.map(|v| v as u8);
        for (j, (qlc, qhc)) in (0..QK_K)
            .step_by(128)
            .zip(ql.chunks_exact_mut(64).zip(qh.chunks_exact_mut(32)))
        {
            for i in 0..32 {
                let q1 = lu[j + i] & 0x0F;
                let q2 = lu[j + i + 32] & 0x0F;
                let q3 = lu[j + i + 64] & 0x0F;
                let q4 = lu[j + i + 96] & 0x0F;
                qlc[i] = q1 | (q3 << 4);
                qlc[i + 32] = q2 | (q4 << 4);
                qhc[i] = (lu[j + i] >> 4)
                    | ((lu[j + i + 32] >> 4) << 2)
                    | ((lu[j + i + 64] >> 4) << 4)
                    | ((lu[j + i + 96] >> 4) << 6);
            }
        }
    }
}
