//! Scalar f32 slice kernels (dot product, axpy) and the multi-accumulator helpers the
//! quantized kernels share.
//!
//! The loops keep several independent partial sums in a fixed-size array so that the
//! compiler can map them onto vector registers without reassociating floating-point adds.

/// Independent partial sums kept by the scalar reductions.
pub(crate) const LANES: usize = 16;

/// Sums the lanes pairwise (a fixed tree, so results do not depend on the target).
#[inline(always)]
fn hsum(acc: &[f32; LANES]) -> f32 {
    let mut half = [0.0f32; LANES / 2];
    for k in 0..LANES / 2 {
        half[k] = acc[k] + acc[k + LANES / 2];
    }
    let mut quarter = [0.0f32; LANES / 4];
    for k in 0..LANES / 4 {
        quarter[k] = half[k] + half[k + LANES / 4];
    }
    (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

/// `sum(a[i] * b[i])` over the common length, with `LANES` accumulators.
#[inline(always)]
pub(crate) fn dot_acc(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let ca = a.chunks_exact(LANES);
    let cb = b.chunks_exact(LANES);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    let mut acc = [0.0f32; LANES];
    for (xa, xb) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += xa[k] * xb[k];
        }
    }
    let mut tail = 0.0f32;
    for (p, q) in ra.iter().zip(rb) {
        tail += p * q;
    }
    hsum(&acc) + tail
}

/// `(sum(q[i] * x[i]), sum(x[i]))` over the common length, in one pass.
#[inline(always)]
pub(crate) fn dot_and_sum(q: &[f32], x: &[f32]) -> (f32, f32) {
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    let cq = q.chunks_exact(LANES);
    let cx = x.chunks_exact(LANES);
    let (rq, rx) = (cq.remainder(), cx.remainder());
    let mut dot = [0.0f32; LANES];
    let mut sum = [0.0f32; LANES];
    for (a, b) in cq.zip(cx) {
        for k in 0..LANES {
            dot[k] += a[k] * b[k];
            sum[k] += b[k];
        }
    }
    let (mut td, mut ts) = (0.0f32, 0.0f32);
    for (a, b) in rq.iter().zip(rx) {
        td += a * b;
        ts += b;
    }
    (hsum(&dot) + td, hsum(&sum) + ts)
}

/// Scalar dot product of two equal-length slices.
///
/// # Panics
///
/// If `a.len() != b.len()`.
pub fn dot_f32_scalar(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dot_f32: length mismatch");
    dot_acc(a, b)
}

/// Scalar `y += a * x` over equal-length slices.
///
/// # Panics
///
/// If `x.len() != y.len()`.
pub fn axpy_f32_scalar(a: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "axpy_f32: length mismatch");
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sums_are_exact() {
        // Small integers: every partial sum is exact whatever the order.
        let a: Vec<f32> = (0..37).map(|i| i as f32).collect();
        let b: Vec<f32> = (0..37).map(|i| (i % 5) as f32 - 2.0).collect();
        let want: f32 = a.iter().zip(&b).map(|(p, q)| p * q).sum();
        assert_eq!(dot_f32_scalar(&a, &b), want);
        let (d, s) = dot_and_sum(&a, &b);
        assert_eq!(d, want);
        assert_eq!(s, b.iter().sum::<f32>());
        let mut y = b.clone();
        axpy_f32_scalar(2.0, &a, &mut y);
        for i in 0..37 {
            assert_eq!(y[i], b[i] + 2.0 * a[i]);
        }
    }
}
