//! Shared helpers for the kernel tests: tolerances, fixture loading, random rows.
#![allow(dead_code)]

use gemma_kernels::DType;

/// Dequantized values must equal the reference or lie within this relative distance
/// (quantized types; plain float types must match bit for bit).
pub const DEQUANT_REL_TOL: f32 = 1e-6;

/// Two computations of the same dot product agree when they differ by at most this
/// times `sum |a_i * b_i|` (the scale of the rounding error of any summation order).
pub const DOT_REL_TOL: f64 = 2e-5;

/// Absolute slack added to every dot comparison (covers rows of zeros and subnormals).
pub const DOT_ABS_TOL: f64 = 1e-30;

/// Two axpy results agree element-wise within this times `|y| + |a * x|`
/// (one rounding, fused or not).
pub const AXPY_REL_TOL: f32 = 4e-7;

/// Path of a fixture file in `tests/data`.
pub fn data_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
        .join(name)
}

/// Parses a fixture JSON file.
pub fn load_json(name: &str) -> serde_json::Value {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "reading {}: {e} (make it with scripts/make_dequant_fixtures.py)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// The type with this GGML name.
pub fn dtype_named(name: &str) -> DType {
    DType::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown type name {name}"))
}

/// Decodes lowercase hex.
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// JSON array of numbers → f32 (exact for values written from float32).
pub fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

/// Whether a dequantized value matches the reference under the fixture rules.
pub fn dequant_matches(dtype: DType, got: f32, want: f32) -> bool {
    match dtype {
        DType::F32 | DType::F16 | DType::BF16 => got.to_bits() == want.to_bits(),
        _ => got == want || (got - want).abs() <= DEQUANT_REL_TOL * want.abs(),
    }
}

/// `sum |a_i * b_i|` in f64: the scale of the rounding error of a dot product.
pub fn abs_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(p, q)| (*p as f64 * *q as f64).abs())
        .sum()
}

/// Whether two evaluations of a dot product whose terms have absolute sum `scale` agree.
pub fn dot_close(got: f32, want: f32, scale: f64) -> bool {
    got.is_finite() && ((got as f64) - (want as f64)).abs() <= DOT_REL_TOL * scale + DOT_ABS_TOL
}

/// A small deterministic generator (splitmix64) for test data.
pub struct TestRng(u64);

impl TestRng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> TestRng {
        TestRng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [-1, 1).
    pub fn signed(&mut self) -> f32 {
        2.0 * self.unit() - 1.0
    }
    /// A random f32 vector with entries of mixed magnitude.
    pub fn vec_f32(&mut self, n: usize) -> Vec<f32> {
        let scale = [0.01, 1.0, 30.0][(self.next_u64() % 3) as usize];
        (0..n).map(|_| self.signed() * scale).collect()
    }
}

/// Byte offsets of the f16 scale fields of one block of `dtype` (empty for float types).
pub fn f16_fields(dtype: DType) -> &'static [usize] {
    match dtype {
        DType::Q4_0 | DType::Q5_0 | DType::Q8_0 | DType::IQ4_NL => &[0],
        DType::Q4_1 | DType::Q5_1 | DType::Q4_K | DType::Q5_K => &[0, 2],
        DType::Q2_K => &[80, 82],
        DType::Q3_K => &[108],
        DType::Q6_K => &[208],
        DType::F32 | DType::F16 | DType::BF16 => &[],
    }
}

/// A random stored row of `n` weights of `dtype` with finite, moderate values: random
/// quant bytes, with every scale field set to a finite f16 of size about 0.05.
pub fn random_row(dtype: DType, n: usize, rng: &mut TestRng) -> Vec<u8> {
    let bytes = dtype.bytes_for(n as u64).expect("whole blocks") as usize;
    let mut row: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
    match dtype {
        DType::F32 => {
            for c in row.chunks_exact_mut(4) {
                c.copy_from_slice(&(rng.signed() * 3.0).to_le_bytes());
            }
        }
        DType::F16 => {
            for c in row.chunks_exact_mut(2) {
                let v = half::f16::from_f32(rng.signed() * 3.0);
                c.copy_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        DType::BF16 => {
            for c in row.chunks_exact_mut(2) {
                let v = half::bf16::from_f32(rng.signed() * 3.0);
                c.copy_from_slice(&v.to_bits().to_le_bytes());
            }
        }
        _ => {
            for block in row.chunks_exact_mut(dtype.block_bytes()) {
                for &off in f16_fields(dtype) {
                    let v = half::f16::from_f32(rng.signed() * 0.05);
                    block[off..off + 2].copy_from_slice(&v.to_bits().to_le_bytes());
                }
            }
        }
    }
    row
}

/// Dequantizes a whole row into a new vector.
pub fn dequantized(dtype: DType, row: &[u8], n: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; n];
    gemma_kernels::dequantize_row(dtype, row, &mut out);
    out
}

/// An activation-quantized dot product agrees with a reference when they differ by at most
/// this times `sum |w_i * a_i|` over the dequantized weights and activations (the integer
/// block sums are exact; only the f32 combination order may differ).
pub const ACT_DOT_REL_TOL: f64 = 1e-5;

/// Decodes little-endian f32 hex.
pub fn f32s_hex(s: &str) -> Vec<f32> {
    unhex(s)
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The activation format with this GGML name.
pub fn act_named(name: &str) -> gemma_kernels::ActType {
    gemma_kernels::ActType::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .unwrap_or_else(|| panic!("unknown activation format {name}"))
}

/// Dequantizes a quantized activation row (`value = d * q`, or the float itself).
pub fn dequantize_act(act: gemma_kernels::ActType, bytes: &[u8]) -> Vec<f32> {
    use gemma_kernels::ActType;
    let f16 = |b: &[u8]| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32();
    match act {
        ActType::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        ActType::F16 => bytes.chunks_exact(2).map(f16).collect(),
        ActType::BF16 => bytes
            .chunks_exact(2)
            .map(|b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16))
            .collect(),
        ActType::Q8_0 | ActType::Q8_1 => {
            let (bb, off) = if act == ActType::Q8_0 {
                (34, 2)
            } else {
                (36, 4)
            };
            bytes
                .chunks_exact(bb)
                .flat_map(|b| {
                    let d = f16(b);
                    b[off..].iter().map(move |&q| d * q as i8 as f32)
                })
                .collect()
        }
        ActType::Q8_K => bytes
            .chunks_exact(292)
            .flat_map(|b| {
                let d = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                b[4..260].iter().map(move |&q| d * q as i8 as f32)
            })
            .collect(),
    }
}

/// Whether an activation-quantized dot agrees with a reference value, for terms whose
/// absolute sum is `scale`.
pub fn act_dot_close(got: f32, want: f32, scale: f64) -> bool {
    got.is_finite() && ((got as f64) - (want as f64)).abs() <= ACT_DOT_REL_TOL * scale + DOT_ABS_TOL
}

/// A random activation row of `n` values with the features that stress quantizers:
/// varied block magnitudes, outliers, all-zero blocks, tiny values and exact halves.
pub fn random_activations(n: usize, rng: &mut TestRng) -> Vec<f32> {
    let mut x: Vec<f32> = (0..n).map(|_| rng.signed()).collect();
    for block in x.chunks_mut(32) {
        match rng.next_u64() % 8 {
            0 => block.iter_mut().for_each(|v| *v = 0.0),
            1 => block.iter_mut().for_each(|v| *v *= 1e-20),
            2 => {
                // max 127 (scale 1) and halves: rounding ties.
                for v in block.iter_mut() {
                    *v = (rng.next_u64() % 253) as f32 - 126.5;
                }
                block[(rng.next_u64() % block.len() as u64) as usize] = 127.0;
            }
            3 => block[(rng.next_u64() % block.len() as u64) as usize] *= 500.0,
            _ => {
                let s = [0.01, 1.0, 30.0][(rng.next_u64() % 3) as usize];
                block.iter_mut().for_each(|v| *v *= s);
            }
        }
    }
    x
}

/// A random row for the bit-identity tests; with `wild`, every f16 scale field is any finite
/// half (subnormal to 65504, either sign), so lanes cancel, overflow and underflow.
pub fn bit_exact_row(w: DType, n: usize, wild: bool, rng: &mut TestRng) -> Vec<u8> {
    let mut row = random_row(w, n, rng);
    if wild {
        for block in row.chunks_exact_mut(w.block_bytes()) {
            for &off in f16_fields(w) {
                let h = loop {
                    let h = rng.next_u64() as u16;
                    if h & 0x7C00 != 0x7C00 {
                        break h;
                    }
                };
                block[off..off + 2].copy_from_slice(&h.to_le_bytes());
            }
        }
    }
    row
}
