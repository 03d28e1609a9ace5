//! Weight quantization against ggml itself (fixture `tests/data/quantize_ggml.json`, made by
//! `scripts/make_quantize_fixtures.py` from `ggml_quantize_chunk` in llama-cpp-python's
//! libggml-base.so, which the `gguf` package's quantizers agree with where they exist), and
//! the round trip dequantize(quantize(x)) within each type's error bound.

mod common;

use common::*;
use gemma_kernels::{dequantize_row, quantize_row, DType};
use std::collections::{BTreeMap, HashSet};

const FIXTURE: &str = "quantize_ggml.json";

/// Types `quantize_row` produces (all of `DType::ALL` but IQ4_NL).
const TYPES: [DType; 13] = [
    DType::F32,
    DType::F16,
    DType::BF16,
    DType::Q4_0,
    DType::Q4_1,
    DType::Q5_0,
    DType::Q5_1,
    DType::Q8_0,
    DType::Q2_K,
    DType::Q3_K,
    DType::Q4_K,
    DType::Q5_K,
    DType::Q6_K,
];

fn quantize(dtype: DType, x: &[f32]) -> Vec<u8> {
    let n = dtype.bytes_for(x.len() as u64).expect("whole blocks") as usize;
    // Start from garbage: the quantizers must not depend on the buffer's contents.
    let mut out = vec![0xA5u8; n];
    quantize_row(dtype, x, &mut out).expect("quantize");
    out
}

#[test]
fn quantized_bytes_match_ggml_exactly() {
    let doc = load_json(FIXTURE);
    assert_eq!(doc["generator"], "scripts/make_quantize_fixtures.py");
    println!(
        "reference: llama-cpp-python {}, gguf {}",
        doc["llama_cpp_python_version"], doc["gguf_version"]
    );
    let rows: BTreeMap<String, Vec<f32>> = doc["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            let x = f32s_hex(r["x_hex"].as_str().expect("x_hex"));
            assert_eq!(r["n"].as_u64(), Some(x.len() as u64));
            (r["name"].as_str().expect("name").to_string(), x)
        })
        .collect();
    let mut seen = HashSet::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().expect("cases") {
        let dtype = dtype_named(case["type"].as_str().expect("type"));
        let name = case["row"].as_str().expect("row");
        let want = unhex(case["hex"].as_str().expect("hex"));
        let got = quantize(dtype, &rows[name]);
        if got != want {
            let at = got.iter().zip(&want).position(|(a, b)| a != b);
            failures.push(format!("{dtype} {name}: first differing byte {at:?}"));
        }
        seen.insert(dtype);
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        seen,
        TYPES.into_iter().collect::<HashSet<_>>(),
        "every type is covered"
    );
}

/// The largest |dequantized - original| allowed for one block of `xb` in `dtype`.
fn block_bound(dtype: DType, xb: &[f32]) -> f32 {
    let amax = xb.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let min = xb.iter().fold(f32::MAX, |m, &v| m.min(v));
    let max = xb.iter().fold(-f32::MAX, |m, &v| m.max(v));
    // Rounding the stored f16 scales and mins adds a relative 2^-11 per quant step.
    let f16_slack = amax * 2.0f32.powi(-10);
    let range = max - min;
    // A stored f16 scale (or min) that is subnormal or zero is off by up to 2^-25
    // absolutely, times the largest multiplier it meets.
    let tiny = 2.0f32.powi(-25);
    let abs_slack = match dtype {
        DType::F32 => 0.0,
        DType::F16 => tiny,
        DType::BF16 => 1e-38,
        DType::Q8_0 => 128.0 * tiny,
        DType::Q4_0 | DType::Q4_1 | DType::Q5_0 => 17.0 * tiny,
        DType::Q5_1 => 33.0 * tiny,
        DType::Q6_K => 128.0 * 32.0 * tiny,
        DType::Q5_K => 2.0 * 63.0 * 32.0 * tiny,
        DType::Q4_K => 2.0 * 63.0 * 16.0 * tiny,
        DType::Q3_K => 32.0 * 4.0 * tiny,
        DType::Q2_K => 2.0 * 16.0 * 4.0 * tiny,
        DType::IQ4_NL => unreachable!(),
    };
    abs_slack
        + match dtype {
            DType::F32 => 0.0,
            DType::F16 => amax * 2.0f32.powi(-11),
            DType::BF16 => amax * 2.0f32.powi(-8),
            // Quants are round-to-nearest of x/d except at the clamped end (one step).
            DType::Q8_0 => amax / 127.0 * 0.5 + f16_slack,
            DType::Q4_0 => amax / 8.0 + f16_slack,
            DType::Q5_0 => amax / 16.0 + f16_slack,
            // Both the scale (times up to 15 or 31 steps: range * 2^-11) and the min (|min| *
            // 2^-11) are rounded to f16: up to 2 * f16_slack.
            DType::Q4_1 => range / 15.0 * 0.5 + 2.0 * f16_slack,
            DType::Q5_1 => range / 31.0 * 0.5 + 2.0 * f16_slack,
            // K formats: per-sub-block scales quantized to 4/6/8 bits; bounds relative to the
            // super-block's largest magnitude.
            DType::Q6_K => amax / 32.0 + f16_slack,
            DType::Q5_K => amax / 12.0,
            DType::Q4_K => amax / 6.0,
            DType::Q3_K => amax / 3.0,
            DType::Q2_K => amax * 0.75,
            DType::IQ4_NL => unreachable!(),
        }
}

fn check_round_trip(dtype: DType, x: &[f32]) -> Result<(), String> {
    let q = quantize(dtype, x);
    let mut y = vec![0.0f32; x.len()];
    dequantize_row(dtype, &q, &mut y);
    let bl = dtype.block_len().max(32);
    for (b, (xb, yb)) in x.chunks(bl).zip(y.chunks(bl)).enumerate() {
        let bound = block_bound(dtype, xb);
        for (i, (a, c)) in xb.iter().zip(yb).enumerate() {
            if (a - c).abs() > bound {
                return Err(format!(
                    "{dtype} block {b} value {i}: {a} came back as {c} (bound {bound})"
                ));
            }
        }
    }
    Ok(())
}

#[test]
fn round_trip_error_within_bounds_on_fixture_rows() {
    let doc = load_json(FIXTURE);
    for r in doc["rows"].as_array().expect("rows") {
        let name = r["name"].as_str().expect("name");
        if name.starts_with("float-specials") || name.starts_with("huge") {
            continue; // non-finite values / f16 overflow of the scale
        }
        let x = f32s_hex(r["x_hex"].as_str().expect("x_hex"));
        for dtype in TYPES {
            if x.len().is_multiple_of(dtype.block_len()) {
                check_round_trip(dtype, &x).unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}

#[test]
fn quantizing_never_panics_on_special_values() {
    let mut x: Vec<f32> = (0..512).map(|i| ((i * 37) % 101) as f32 - 50.0).collect();
    x[3] = f32::NAN;
    x[40] = f32::INFINITY;
    x[300] = f32::NEG_INFINITY;
    x[100..140].fill(f32::MIN_POSITIVE / 4.0);
    x[500] = f32::MAX;
    for dtype in TYPES {
        let q = quantize(dtype, &x);
        assert_eq!(q.len() as u64, dtype.bytes_for(512).unwrap());
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip_error_within_bounds(
        blocks in 1usize..4,
        seed in proptest::prelude::any::<u64>(),
        scale in -6i32..4,
        heavy in proptest::prelude::any::<bool>(),
    ) {
        let mut rng = TestRng::new(seed);
        let s = 10f32.powi(scale);
        let x: Vec<f32> = (0..256 * blocks)
            .map(|_| {
                let v = rng.signed();
                let v = if heavy { v * v * v * 4.0 } else { v };
                v * s
            })
            .collect();
        for dtype in TYPES {
            proptest::prop_assert!(check_round_trip(dtype, &x).is_ok(), "{:?}", check_round_trip(dtype, &x));
        }
    }
}
