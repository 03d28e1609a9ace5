//! Element-wise and row-wise math of the forward pass: RMSNorm, RoPE, GELU, softmax, soft-capping.
//!
//! Pure functions over slices, in f32, in the reference implementation's operation order.

/// RMSNorm in place: `x * w / sqrt(mean(x^2) + eps)`. GGUF norm weights already hold `1 + w`.
pub fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    debug_assert_eq!(x.len(), w.len());
    // Squares in f32, summed in f64, as ggml does.
    let ss: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (ss / x.len() as f64) as f32;
    let scale = 1.0 / (mean + eps).sqrt();
    for (v, &g) in x.iter_mut().zip(w) {
        *v = (*v * scale) * g;
    }
}

/// RMSNorm of every `w.len()`-wide row of `x`, with the bits of [`rms_norm`] row by row.
///
/// Rows go eight at a time: each row's sum of squares is still one sequential f64 chain in
/// the reference's order, and eight independent chains keep the adder busy.
pub fn rms_norm_rows(x: &mut [f32], w: &[f32], eps: f32) {
    const ROWS: usize = 8;
    let d = w.len();
    if d == 0 {
        return;
    }
    let mut groups = x.chunks_exact_mut(ROWS * d);
    for group in &mut groups {
        let mut ss = [0f64; ROWS];
        for i in 0..d {
            for (r, s) in ss.iter_mut().enumerate() {
                let v = group[r * d + i];
                *s += (v * v) as f64;
            }
        }
        for (row, s) in group.chunks_exact_mut(d).zip(ss) {
            let mean = (s / d as f64) as f32;
            let scale = 1.0 / (mean + eps).sqrt();
            for (v, &g) in row.iter_mut().zip(w) {
                *v = (*v * scale) * g;
            }
        }
    }
    for row in groups.into_remainder().chunks_exact_mut(d) {
        rms_norm(row, w, eps);
    }
}

/// How RoPE angles are computed; both in f32, as each reference does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeAngles {
    /// transformers: `inv_freq[i] = 1 / theta^(2i/d)` (divided by the linear scaling factor),
    /// `angle = pos * inv_freq[i]`.
    Reference,
    /// llama.cpp: `angle = pos / factor`, multiplied by `theta^(-2/d)` once per pair in turn.
    Ggml,
}

/// The `(cos, sin)` of each of the `head_dim / 2` rotation pairs at position `pos`.
pub fn rope_cos_sin(
    pos: usize,
    theta: f32,
    factor: f32,
    head_dim: usize,
    how: RopeAngles,
    out: &mut Vec<(f32, f32)>,
) {
    let half = head_dim / 2;
    out.clear();
    match how {
        RopeAngles::Reference => {
            for i in 0..half {
                let inv_freq = 1.0 / theta.powf((2 * i) as f32 / head_dim as f32) / factor;
                let a = pos as f32 * inv_freq;
                out.push((a.cos(), a.sin()));
            }
        }
        RopeAngles::Ggml => {
            let step = theta.powf(-2.0 / head_dim as f32);
            let freq_scale = 1.0 / factor;
            let mut t = pos as f32;
            for _ in 0..half {
                let a = freq_scale * t;
                out.push((a.cos(), a.sin()));
                t *= step;
            }
        }
    }
}

/// Rotary position embedding over the two halves of one head (the "NeoX" layout Gemma uses):
/// pair `(x[i], x[i + d/2])` is rotated by the angle whose `(cos, sin)` is `cs[i]`.
pub fn rope_apply(x: &mut [f32], cs: &[(f32, f32)]) {
    let half = x.len() / 2;
    debug_assert_eq!(cs.len(), half);
    for (i, &(c, s)) in cs.iter().enumerate() {
        let (a, b) = (x[i], x[i + half]);
        x[i] = a * c - b * s;
        x[i + half] = a * s + b * c;
    }
}

/// [`rope_apply`] as llama.cpp's compiled C computes it: GCC contracts `x0*cos - x1*sin` into
/// one fused multiply-subtract (`fma(x0, cos, -(x1*sin))`), and likewise the sum.
pub fn rope_apply_fused(x: &mut [f32], cs: &[(f32, f32)]) {
    let half = x.len() / 2;
    debug_assert_eq!(cs.len(), half);
    for (i, &(c, s)) in cs.iter().enumerate() {
        let (a, b) = (x[i], x[i + half]);
        x[i] = a.mul_add(c, -(b * s));
        x[i + half] = a.mul_add(s, b * c);
    }
}

/// GELU with the tanh approximation (`gelu_pytorch_tanh`), which every Gemma uses.
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)).tanh())
}

/// GeGLU: `gate = gelu(gate) * up`, in place over `gate`.
pub fn geglu(gate: &mut [f32], up: &[f32]) {
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = gelu_tanh(*g) * u;
    }
}

/// Soft-capping: `cap * tanh(x / cap)`.
pub fn softcap(x: &mut [f32], cap: f32) {
    for v in x {
        *v = cap * (*v / cap).tanh();
    }
}

/// Softmax in place (max-subtracted).
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_unit_weight_gives_unit_rms() {
        let mut x = vec![1.0, -2.0, 3.0, 4.0];
        rms_norm(&mut x, &[1.0; 4], 0.0);
        let rms = (x.iter().map(|v| v * v).sum::<f32>() / 4.0).sqrt();
        assert!((rms - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rows_at_once_have_the_bits_of_one_row_at_a_time() {
        let d = 40;
        for n in [1, 7, 8, 9, 17, 24] {
            let mut x: Vec<f32> = (0..n * d)
                .map(|i| ((i as f32 * 0.731).sin() * 3.0) * 10f32.powi((i % 5) as i32 - 2))
                .collect();
            let w: Vec<f32> = (0..d).map(|i| 1.0 + i as f32 / 17.0).collect();
            let mut want = x.clone();
            for row in want.chunks_exact_mut(d) {
                rms_norm(row, &w, 1e-6);
            }
            rms_norm_rows(&mut x, &w, 1e-6);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&x), bits(&want), "{n} rows");
        }
    }

    #[test]
    fn rope_keeps_norm_and_is_identity_at_zero() {
        let orig: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let mut cs = Vec::new();
        for how in [RopeAngles::Reference, RopeAngles::Ggml] {
            let mut x = orig.clone();
            rope_cos_sin(0, 10000.0, 1.0, 8, how, &mut cs);
            rope_apply(&mut x, &cs);
            assert_eq!(x, orig);
            rope_cos_sin(17, 10000.0, 1.0, 8, how, &mut cs);
            rope_apply(&mut x, &cs);
            let n0: f32 = orig.iter().map(|v| v * v).sum();
            let n1: f32 = x.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4);
            // The first pair rotates by exactly `pos` radians; the last by pos * theta^(-6/8).
            let (s, c) = 17f32.sin_cos();
            assert!((x[0] - (orig[0] * c - orig[4] * s)).abs() < 1e-5);
            let a = 17.0 * 10000f32.powf(-0.75);
            assert!((cs[3].0 - a.cos()).abs() < 1e-6 && (cs[3].1 - a.sin()).abs() < 1e-6);
            // Linear scaling divides the position.
            let mut scaled = Vec::new();
            rope_cos_sin(34, 10000.0, 2.0, 8, how, &mut scaled);
            for (p, q) in cs.iter().zip(&scaled) {
                assert!((p.0 - q.0).abs() < 1e-5 && (p.1 - q.1).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn gelu_matches_known_values() {
        // Values of torch.nn.functional.gelu(x, approximate="tanh").
        assert!((gelu_tanh(1.0) - 0.841_192).abs() < 1e-5);
        assert!((gelu_tanh(-1.0) + 0.158_808).abs() < 1e-5);
        assert_eq!(gelu_tanh(0.0), 0.0);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x = vec![1000.0, 1001.0, 999.0];
        softmax(&mut x);
        assert!((x.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(x[1] > x[0] && x[0] > x[2]);
    }
}
