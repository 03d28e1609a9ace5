//! Kernels that reproduce llama.cpp's (ggml's) own float arithmetic bit for bit: its f16 dot
//! product with 4 accumulators of 16 lanes, its vectorised `exp`, and fused multiply-adds.
//!
//! Each body is written once in portable Rust with `f32::mul_add` (always one rounding); the x86
//! wrappers compile the same body with FMA enabled so `mul_add` becomes an instruction. Both
//! levels give identical bits. The orders follow ggml-cpu's AVX-512 code in the llama.cpp vendored
//! by llama-cpp-python 0.3.36 (`ggml_vec_dot_f16`, `GGML_F32x16_REDUCE`, `ggml_v_expf`).

/// Lanes of one ggml accumulator.
pub const LANES: usize = 16;
/// Accumulators of `ggml_vec_dot_f16`.
pub const ACCS: usize = 4;
/// Elements per step of `ggml_vec_dot_f16`.
pub const STEP: usize = LANES * ACCS;

/// `_mm512_reduce_add_ps` as GCC expands it.
pub fn reduce16(x: &[f32; LANES]) -> f32 {
    let mut t8 = [0f32; 8];
    for i in 0..8 {
        t8[i] = x[8 + i] + x[i];
    }
    let mut t4 = [0f32; 4];
    for i in 0..4 {
        t4[i] = t8[4 + i] + t8[i];
    }
    (t4[0] + t4[2]) + (t4[1] + t4[3])
}

/// `GGML_F32x16_REDUCE` of 4 accumulators, widened to f64 as ggml does.
pub fn reduce_accs(acc: &mut [[f32; LANES]; ACCS]) -> f64 {
    let [a0, a1, a2, a3] = acc;
    for l in 0..LANES {
        a0[l] += a2[l];
        a1[l] += a3[l];
        a0[l] += a1[l];
    }
    reduce16(&acc[0]) as f64
}

#[inline(always)]
fn dot_f16_body(x: &[f32], y: &[f32]) -> f32 {
    let n = x.len();
    let np = n - n % STEP;
    let mut acc = [[0f32; LANES]; ACCS];
    for i in (0..np).step_by(STEP) {
        for (j, a) in acc.iter_mut().enumerate() {
            let xs = &x[i + j * LANES..][..LANES];
            let ys = &y[i + j * LANES..][..LANES];
            for l in 0..LANES {
                a[l] = xs[l].mul_add(ys[l], a[l]);
            }
        }
    }
    let mut sum = reduce_accs(&mut acc);
    for i in np..n {
        sum += (x[i] * y[i]) as f64;
    }
    sum as f32
}

#[inline(always)]
fn fma_axpy_body(a: f32, x: &[f32], y: &mut [f32]) {
    for (o, &v) in y.iter_mut().zip(x) {
        *o = v.mul_add(a, *o);
    }
}

#[inline(always)]
fn v_expf_one(x: f32) -> f32 {
    let c = f32::from_bits;
    let r = c(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(c(0x3fb8_aa3b), r); // log2(e)
    let n = z - r;
    let b = (-n).mul_add(c(0x35bf_be8e), (-n).mul_add(c(0x3f31_7200), x));
    let u = b * b;
    let j = c(0x3c07_2010)
        .mul_add(b, c(0x3d2b_9f17))
        .mul_add(u, c(0x3e2a_af33).mul_add(b, c(0x3eff_fedb)))
        .mul_add(u, c(0x3f7f_fff6).mul_add(b, 1.0));
    if n.is_nan() || n.abs() > 192.0 {
        return if n > 0.0 { f32::INFINITY } else { 0.0 };
    }
    // _mm512_scalef_ps: j * 2^n with one rounding (2^n built exactly: |n| <= 192).
    let two_n = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    (j as f64 * two_n) as f32
}

#[inline(always)]
fn v_expf_body(x: &mut [f32]) {
    for v in x {
        *v = v_expf_one(*v);
    }
}

/// `ggml_vec_dot_f16` of two equal-length slices of f16-representable values, scalar form.
pub fn dot_f16_ggml_scalar(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "dot_f16_ggml: length mismatch");
    dot_f16_body(x, y)
}

/// `y[i] = fma(x[i], a, y[i])`, scalar form.
pub fn fma_axpy_scalar(a: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "fma_axpy: length mismatch");
    fma_axpy_body(a, x, y)
}

/// `ggml_v_expf` in place, scalar form.
pub fn v_expf_scalar(x: &mut [f32]) {
    v_expf_body(x)
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod fma {
    // SAFETY (all): callers check that the CPU has AVX2 and FMA before calling.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_f16(x: &[f32], y: &[f32]) -> f32 {
        super::dot_f16_body(x, y)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        super::fma_axpy_body(a, x, y)
    }
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn expf(x: &mut [f32]) {
        super::v_expf_body(x)
    }
}

/// The same bodies compiled for 512-bit registers (each lane's operations are unchanged).
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod wide {
    // SAFETY (all): callers check that the CPU has AVX-512F, AVX2 and FMA before calling.
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn dot_f16(x: &[f32], y: &[f32]) -> f32 {
        super::dot_f16_body(x, y)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn axpy(a: f32, x: &[f32], y: &mut [f32]) {
        super::fma_axpy_body(a, x, y)
    }
    #[target_feature(enable = "avx512f,avx2,fma")]
    pub unsafe fn expf(x: &mut [f32]) {
        super::v_expf_body(x)
    }
}

#[cfg(target_arch = "x86_64")]
fn hardware_fma() -> bool {
    crate::level::avx2_active()
}

#[cfg(target_arch = "x86_64")]
fn wide_registers() -> bool {
    crate::active_level() == crate::KernelLevel::Avx512
}

/// `ggml_vec_dot_f16` of two equal-length slices of f16-representable values.
pub fn dot_f16_ggml(x: &[f32], y: &[f32]) -> f32 {
    assert_eq!(x.len(), y.len(), "dot_f16_ggml: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if wide_registers() {
        // SAFETY: the AVX-512 level is only selected after detecting AVX-512F, AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { wide::dot_f16(x, y) };
    }
    #[cfg(target_arch = "x86_64")]
    if hardware_fma() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { fma::dot_f16(x, y) };
    }
    dot_f16_body(x, y)
}

/// `y[i] = fma(x[i], a, y[i])` over equal-length slices.
pub fn fma_axpy(a: f32, x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "fma_axpy: length mismatch");
    #[cfg(target_arch = "x86_64")]
    if wide_registers() {
        // SAFETY: the AVX-512 level is only selected after detecting AVX-512F, AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { wide::axpy(a, x, y) };
    }
    #[cfg(target_arch = "x86_64")]
    if hardware_fma() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { fma::axpy(a, x, y) };
    }
    fma_axpy_body(a, x, y)
}

/// `ggml_v_expf` (the AVX-512 form, lane by lane) in place.
pub fn v_expf(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if wide_registers() {
        // SAFETY: the AVX-512 level is only selected after detecting AVX-512F, AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { wide::expf(x) };
    }
    #[cfg(target_arch = "x86_64")]
    if hardware_fma() {
        // SAFETY: the AVX2 kernels only run at levels selected after detecting AVX2 and FMA.
        #[allow(unsafe_code)]
        return unsafe { fma::expf(x) };
    }
    v_expf_body(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_expf_is_close_to_exp_and_saturates() {
        let mut xs: Vec<f32> = (-2000..=200).map(|i| i as f32 * 0.05).collect();
        let want: Vec<f32> = xs.iter().map(|x| x.exp()).collect();
        v_expf(&mut xs);
        for (a, b) in xs.iter().zip(&want) {
            assert!(
                (a - b).abs() <= 4e-7 * b.max(f32::MIN_POSITIVE),
                "{a} vs {b}"
            );
        }
        let mut edge = [f32::NEG_INFINITY, 0.0, 200.0];
        v_expf(&mut edge);
        assert_eq!(edge, [0.0, 1.0, f32::INFINITY]);
    }

    #[test]
    fn dot_f16_sums_small_integers_exactly() {
        let x: Vec<f32> = (0..300)
            .map(|i| ((i * 37 % 17) as f32 - 8.0) * 0.25)
            .collect();
        let y: Vec<f32> = (0..300)
            .map(|i| ((i * 11 % 13) as f32 - 6.0) * 0.5)
            .collect();
        let exact: f64 = x
            .iter()
            .zip(&y)
            .map(|(a, b)| (*a as f64) * (*b as f64))
            .sum();
        assert_eq!(dot_f16_ggml(&x, &y) as f64, exact);
    }

    proptest::proptest! {
        #[test]
        fn hardware_and_scalar_forms_agree_bit_for_bit(v in proptest::collection::vec(-100f32..100.0, 0..400), a in -3f32..3.0) {
            let w: Vec<f32> = v.iter().rev().map(|x| x * 0.37).collect();
            proptest::prop_assert_eq!(dot_f16_ggml(&v, &w).to_bits(), dot_f16_ggml_scalar(&v, &w).to_bits());
            let (mut y1, mut y2) = (w.clone(), w.clone());
            fma_axpy(a, &v, &mut y1);
            fma_axpy_scalar(a, &v, &mut y2);
            proptest::prop_assert_eq!(&y1, &y2);
            let (mut e1, mut e2): (Vec<f32>, Vec<f32>) = (v.iter().map(|x| x * 0.1).collect(), v.iter().map(|x| x * 0.1).collect());
            v_expf(&mut e1);
            v_expf_scalar(&mut e2);
            proptest::prop_assert_eq!(e1, e2);
        }
    }
}
