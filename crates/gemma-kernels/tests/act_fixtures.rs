//! Activation quantization and activation-quantized dots against llama.cpp's own CPU
//! backend (fixture `tests/data/act_quant_ggml.json`, made by `scripts/make_act_fixtures.py`
//! from ggml's `from_float` / `vec_dot` in llama-cpp-python's libggml-cpu.so).

mod common;

use common::*;
use gemma_kernels::{
    act_bytes, act_type, dequantize_row, dot_row_act, dot_row_act_scalar, quantize_act,
    quantize_act_scalar, ActType, DType, ACT_BIT_EXACT_DTYPES,
};

const FIXTURE: &str = "act_quant_ggml.json";

/// The fixture's activation rows.
fn activations(doc: &serde_json::Value) -> Vec<(String, Vec<f32>)> {
    doc["activations"]
        .as_array()
        .expect("activations")
        .iter()
        .map(|a| {
            let x = f32s_hex(a["x_hex"].as_str().expect("x_hex"));
            assert_eq!(a["n"].as_u64(), Some(x.len() as u64));
            (a["name"].as_str().expect("name").to_string(), x)
        })
        .collect()
}

/// Index of the first differing byte, if any.
fn first_diff(a: &[u8], b: &[u8]) -> Option<usize> {
    a.iter().zip(b).position(|(p, q)| p != q)
}

fn load() -> serde_json::Value {
    let doc = load_json(FIXTURE);
    assert_eq!(doc["generator"], "scripts/make_act_fixtures.py");
    doc
}

#[test]
fn activation_formats_match_ggml_vec_dot_types() {
    let doc = load();
    println!(
        "reference: llama-cpp-python {}, {}",
        doc["llama_cpp_python_version"], doc["cpu_features"]
    );
    let map = doc["act_types"].as_object().expect("act_types");
    for w in DType::ALL {
        let want = map[w.name()].as_str().expect("name");
        assert_eq!(act_type(w).name(), want, "{w}");
    }
}

#[test]
fn quantized_bytes_match_ggml_exactly() {
    let doc = load();
    let acts = activations(&doc);
    let mut seen = Vec::new();
    for q in doc["quantized"].as_array().expect("quantized") {
        let a = act_named(q["act_type"].as_str().expect("act_type"));
        let ai = q["activation"].as_u64().expect("activation") as usize;
        let (name, x) = &acts[ai];
        let want = unhex(q["hex"].as_str().expect("hex"));
        // Every weight type that uses this format must produce the same bytes.
        for w in DType::ALL.into_iter().filter(|&w| act_type(w) == a) {
            assert_eq!(act_bytes(w, x.len()), want.len(), "{a} {name}");
            let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();
            let mut out = vec![0xA5u8; want.len()];
            quantize_act_scalar(w, x, &mut out);
            variants.push(("scalar", out.clone()));
            quantize_act(w, x, &mut out);
            variants.push(("dispatched", out.clone()));
            #[cfg(target_arch = "x86_64")]
            if gemma_kernels::x86::available() {
                out.fill(0x5A);
                if gemma_kernels::x86::quantize_act_avx2(w, x, &mut out) {
                    variants.push(("avx2", out.clone()));
                }
            }
            for (what, got) in variants {
                if let Some(i) = first_diff(&got, &want) {
                    let bb = a.block_bytes();
                    panic!(
                        "{a} ({what}, for {w}) of activation row {name}: byte {i} (block {}, \
                         offset {}) is {:#04x}, ggml wrote {:#04x}",
                        i / bb,
                        i % bb,
                        got[i],
                        want[i]
                    );
                }
            }
        }
        seen.push(a);
    }
    for a in ActType::ALL {
        assert!(seen.contains(&a), "fixture lacks {a}");
    }
}

#[test]
fn dots_match_ggml() {
    let doc = load();
    let acts = activations(&doc);
    // (activation format, activation row) -> ggml's bytes
    let mut quantized = std::collections::HashMap::new();
    for q in doc["quantized"].as_array().expect("quantized") {
        let key = (
            q["act_type"].as_str().expect("act_type").to_string(),
            q["activation"].as_u64().expect("activation") as usize,
        );
        quantized.insert(key, unhex(q["hex"].as_str().expect("hex")));
    }
    let mut types = std::collections::BTreeSet::new();
    let (mut exact, mut total, mut worst) = (0usize, 0usize, 0.0f64);
    let mut bit_exact = 0usize;
    for case in doc["dots"].as_array().expect("dots") {
        let w = dtype_named(case["type"].as_str().expect("type"));
        let ai = case["activation"].as_u64().expect("activation") as usize;
        let source = case["weights"].as_str().expect("weights");
        let row = unhex(case["row_hex"].as_str().expect("row_hex"));
        let xq = &quantized[&(act_type(w).name().to_string(), ai)];
        let want = f32::from_bits(
            u32::from_str_radix(case["result_bits"].as_str().expect("bits"), 16).expect("hex"),
        );
        let n = acts[ai].1.len();
        let wv = dequantized(w, &row, n);
        let av = dequantize_act(act_type(w), xq);
        let scale = abs_dot(&wv, &av);

        let mut got = vec![
            ("scalar", dot_row_act_scalar(w, &row, xq)),
            ("dispatched", dot_row_act(w, &row, xq)),
        ];
        #[cfg(target_arch = "x86_64")]
        if gemma_kernels::x86::available() {
            if let Some(v) = gemma_kernels::x86::dot_row_act_avx2(w, &row, xq) {
                got.push(("avx2", v));
            }
        }
        for (what, v) in got {
            if ACT_BIT_EXACT_DTYPES.contains(&w) {
                // These combine the exact integer lanes in ggml's order at every level.
                assert_eq!(
                    v.to_bits(),
                    want.to_bits(),
                    "{w} {what} ({source}, activation {}): {v:e} vs ggml {want:e}",
                    acts[ai].0
                );
                bit_exact += 1;
            }
            assert!(
                act_dot_close(v, want, scale),
                "{w} {what} ({source}, activation {}): {v:e} vs ggml {want:e} (scale {scale:e})",
                acts[ai].0
            );
            total += 1;
            exact += usize::from(v.to_bits() == want.to_bits());
            worst = worst.max(((v as f64) - (want as f64)).abs() / scale.max(1e-300));
        }
        types.insert(w.name());
    }
    println!("{exact} of {total} dot results bit-identical to ggml; worst |diff|/scale {worst:e}");
    println!("{bit_exact} results of {ACT_BIT_EXACT_DTYPES:?} asserted bit-identical");
    assert!(
        bit_exact > 0,
        "no cases of {ACT_BIT_EXACT_DTYPES:?} in the fixture"
    );
    assert_eq!(types.len(), DType::ALL.len(), "fixture covers {types:?}");
}

#[test]
fn real_rows_are_in_the_fixture() {
    let doc = load();
    let real: Vec<&str> = doc["dots"]
        .as_array()
        .expect("dots")
        .iter()
        .filter(|c| c["weights"] != "random")
        .map(|c| c["type"].as_str().expect("type"))
        .collect();
    for t in ["F32", "Q8_0", "Q5_0", "Q4_K", "Q6_K"] {
        assert!(real.contains(&t), "no real-model {t} rows");
    }
}

#[test]
fn dequantized_fixture_rows_are_finite() {
    // Guards the tolerance scale used above: every weight row decodes to finite values.
    let doc = load();
    let acts = activations(&doc);
    for case in doc["dots"].as_array().expect("dots") {
        let w = dtype_named(case["type"].as_str().expect("type"));
        let row = unhex(case["row_hex"].as_str().expect("row_hex"));
        let n = acts[case["activation"].as_u64().expect("activation") as usize]
            .1
            .len();
        let mut out = vec![0.0f32; n];
        dequantize_row(w, &row, &mut out);
        assert!(out.iter().all(|v| v.is_finite()), "{w}");
    }
}
