//! Dequantization of random blocks of every type against the `gguf` Python package
//! (fixture `tests/data/dequant_generated.json`, made by `scripts/make_dequant_fixtures.py`).

mod common;

use common::*;
use gemma_kernels::{dequantize_row, dot_f32_scalar, dot_row, dot_row_scalar, DType};

#[test]
fn generated_blocks_match_gguf_python() {
    let doc = load_json("dequant_generated.json");
    assert_eq!(doc["generator"], "scripts/make_dequant_fixtures.py");
    let cases = doc["cases"].as_array().expect("cases");
    let mut seen = Vec::new();
    for case in cases {
        let dtype = dtype_named(case["type"].as_str().expect("type"));
        let raw = unhex(case["hex"].as_str().expect("hex"));
        let want = f32s(&case["values"]);
        assert_eq!(case["n_weights"].as_u64(), Some(want.len() as u64));
        assert_eq!(
            dtype.bytes_for(want.len() as u64),
            Some(raw.len() as u64),
            "{dtype}"
        );

        let mut got = vec![f32::NAN; want.len()];
        dequantize_row(dtype, &raw, &mut got);
        let mut inexact = 0;
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                dequant_matches(dtype, g, w),
                "{dtype} weight {i}: got {g:e}, gguf says {w:e}"
            );
            inexact += usize::from(g.to_bits() != w.to_bits());
        }
        println!(
            "{dtype}: {} weights, {inexact} not bit-identical",
            want.len()
        );

        // The fused dot products agree with the reference values too.
        let x = TestRng::new(want.len() as u64).vec_f32(want.len());
        let reference = dot_f32_scalar(&want, &x);
        let scale = abs_dot(&want, &x);
        for (what, v) in [
            ("scalar", dot_row_scalar(dtype, &raw, &x)),
            ("dispatched", dot_row(dtype, &raw, &x)),
        ] {
            assert!(
                dot_close(v, reference, scale),
                "{dtype} {what} dot {v} vs {reference}"
            );
        }
        seen.push(dtype);
    }
    for t in DType::ALL {
        assert!(seen.contains(&t), "fixture lacks {t}");
    }
}

#[test]
#[should_panic(expected = "dequantize_row")]
fn dequantize_rejects_partial_blocks() {
    let mut out = [0.0f32; 31];
    dequantize_row(DType::Q8_0, &[0u8; 34], &mut out);
}

#[test]
#[should_panic(expected = "dot_row")]
fn dot_row_rejects_wrong_byte_count() {
    dot_row(DType::Q4_K, &[0u8; 143], &[0.0f32; 256]);
}
