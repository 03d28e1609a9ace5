//! `Precision`: which numerics the forward pass uses, exact f32 or llama.cpp's mixed CPU numerics.

use std::sync::OnceLock;

use half::f16;
use serde::Serialize;

/// The numerics of the forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// llama.cpp's CPU numerics: activations quantized to the 8-bit format each weight type pairs
    /// with (Q8_0, Q8_1, Q8_K; f16/bf16 for half-precision weights) with integer block products;
    /// keys, values, queries and attention weights rounded to f16 as its f16 KV cache does, with
    /// its attention sums in ggml's order (`ggml_attn`); GELU read from a table over f16 inputs;
    /// RoPE as ggml computes it. Faster, and bit-for-bit llama.cpp on the default model.
    #[default]
    Mixed,
    /// f32 throughout, weights dequantized exactly: the PyTorch reference's numerics.
    F32,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "mixed" => Ok(Precision::Mixed),
            "f32" => Ok(Precision::F32),
            other => Err(format!(
                "unknown precision `{other}`: expected mixed or f32"
            )),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::Mixed => "mixed",
            Precision::F32 => "f32",
        })
    }
}

/// Round to the nearest f16 value (ties to even), kept as f32.
pub fn round_f16(x: f32) -> f32 {
    f16::from_f32(x).to_f32()
}

/// Round every value of `x` to f16 precision (as [`round_f16`], with the CPU's conversion
/// instructions where it has them).
pub fn round_f16_slice(x: &mut [f32]) {
    use half::slice::HalfFloatSliceExt;
    let mut buf = [f16::ZERO; 64];
    for chunk in x.chunks_mut(64) {
        let h = &mut buf[..chunk.len()];
        h.convert_from_f32_slice(chunk);
        h.convert_to_f32_slice(chunk);
    }
}

/// `ggml_gelu_f32` as llama.cpp's compiled C evaluates it:
/// `0.5f*x*(1.0f + tanhf(SQRT_2_OVER_PI*x*(1.0f + GELU_COEF_A*x*x)))`, where GCC contracts
/// `1.0f + (GELU_COEF_A*x)*x` into one fused multiply-add.
fn gelu_ggml(x: f32) -> f32 {
    // ggml's `0.79788456080286535587989211986876f`, rounded to f32.
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    const GELU_COEF_A: f32 = 0.044_715;
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

/// GELU evaluated at every f16 value and rounded to f16, as llama.cpp tabulates it.
fn gelu_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|bits| round_f16(gelu_ggml(f16::from_bits(bits).to_f32())))
            .collect()
    })
}

/// GeGLU with llama.cpp's tabulated GELU: `gate = table(f16(gate)) * up`, exact beyond ±10.
pub fn geglu_table(gate: &mut [f32], up: &[f32]) {
    use half::slice::HalfFloatSliceExt;
    let t = gelu_table();
    // The f16 keys of a chunk at once (the CPU's conversion instructions where it has them).
    let mut keys = [f16::ZERO; 64];
    for (gs, us) in gate.chunks_mut(64).zip(up.chunks(64)) {
        let keys = &mut keys[..gs.len()];
        keys.convert_from_f32_slice(gs);
        for ((g, &u), k) in gs.iter_mut().zip(us).zip(keys.iter()) {
            let x = *g;
            *g = if x <= -10.0 {
                0.0
            } else if x >= 10.0 {
                x * u
            } else {
                t[k.to_bits() as usize] * u
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::gelu_tanh;

    #[test]
    fn table_gelu_is_within_f16_rounding_of_exact() {
        for &x in &[-9.5f32, -3.0, -0.5, 0.0, 0.3, 1.0, 2.5, 9.9] {
            let mut g = [x];
            geglu_table(&mut g, &[1.0]);
            let exact = gelu_tanh(x);
            assert!(
                (g[0] - exact).abs() <= 2e-3 * exact.abs().max(1e-2),
                "x {x}: {} vs {exact}",
                g[0]
            );
        }
        let mut g = [-12.0, 12.0];
        geglu_table(&mut g, &[2.0, 2.0]);
        assert_eq!(g, [0.0, 24.0]);
    }

    #[test]
    fn chunked_table_lookup_matches_one_value_lookup() {
        let gate: Vec<f32> = (0..300)
            .map(|i| {
                ((i as f32 * 0.377).sin() * 12.0) + if i % 50 == 0 { 0.5 / 2048.0 } else { 0.0 }
            })
            .collect();
        let up: Vec<f32> = (0..300).map(|i| 1.0 + (i % 7) as f32 / 3.0).collect();
        let t = gelu_table();
        let want: Vec<u32> = gate
            .iter()
            .zip(&up)
            .map(|(&x, &u)| {
                let g = if x <= -10.0 {
                    0.0
                } else if x >= 10.0 {
                    x * u
                } else {
                    t[f16::from_f32(x).to_bits() as usize] * u
                };
                g.to_bits()
            })
            .collect();
        let mut got = gate.clone();
        geglu_table(&mut got, &up);
        assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want);
    }

    #[test]
    fn slice_rounding_matches_one_value_rounding() {
        // Ties, subnormals, overflow, infinities and NaN, across chunk boundaries.
        let mut x: Vec<f32> = (0..1000)
            .map(|i| {
                let u = (i as f32 * 0.618_034).fract();
                (u - 0.5) * 10f32.powi((i % 13) - 8)
            })
            .collect();
        x.extend([
            1.0 + 1.0 / 2048.0,
            1.0 + 3.0 / 2048.0,
            65520.0,
            -1e9,
            6e-8,
            f32::INFINITY,
            f32::MIN_POSITIVE,
        ]);
        let want: Vec<f32> = x.iter().map(|&v| round_f16(v)).collect();
        round_f16_slice(&mut x);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&x), bits(&want));
        let mut nan = [f32::NAN];
        round_f16_slice(&mut nan);
        assert!(nan[0].is_nan());
    }

    #[test]
    fn parse_and_display_round_trip() {
        for p in [Precision::Mixed, Precision::F32] {
            assert_eq!(p.to_string().parse::<Precision>(), Ok(p));
        }
        assert!("q4".parse::<Precision>().is_err());
    }
}
