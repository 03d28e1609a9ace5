//! Rows of the real default model dequantized against the `gguf` Python package
//! (fixture `tests/data/dequant_real_rows.json`), and its rows' activation-quantized dots
//! compared across kernel levels; needs the model file (`gemma pull`).

mod common;

use common::*;
use gemma_formats::GgufFile;
use gemma_kernels::{
    act_bytes, dequantize_row, dot_f32_scalar, dot_row, dot_row_act, dot_row_act_scalar,
    dot_row_scalar, quantize_act_scalar, ACT_BIT_EXACT_DTYPES,
};
use sha2::{Digest, Sha256};

/// The default model, opened.
fn default_model() -> GgufFile {
    let path = gemma_hub::default_model_path();
    assert!(
        path.is_file(),
        "default model not found at {}: run `gemma pull` (or set GEMMA_HOME)",
        path.display()
    );
    GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()))
}

#[test]
fn real_model_rows_match_gguf_python() {
    let file = default_model();
    let doc = load_json("dequant_real_rows.json");
    let rows = doc["rows"].as_array().expect("rows");
    assert!(!rows.is_empty());
    let mut types = std::collections::BTreeSet::new();
    for r in rows {
        let name = r["tensor"].as_str().expect("tensor");
        let index = r["row"].as_u64().expect("row");
        let want = f32s(&r["values"]);
        let t = file
            .tensor(name)
            .unwrap_or_else(|| panic!("model has no tensor {name}"));
        assert_eq!(t.dtype.name(), r["type"].as_str().expect("type"), "{name}");
        assert_eq!(t.row_len(), want.len() as u64, "{name} row length");
        let rb = t.row_bytes() as usize;
        let data = file.tensor_data(t);
        let start = index as usize * rb;
        let raw = &data[start..start + rb];
        let sha: String = Sha256::digest(raw)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            sha,
            r["row_bytes_sha256"].as_str().expect("sha"),
            "{name} row {index} bytes"
        );

        let mut got = vec![f32::NAN; want.len()];
        dequantize_row(t.dtype, raw, &mut got);
        for (i, (&g, &w)) in got.iter().zip(&want).enumerate() {
            assert!(
                dequant_matches(t.dtype, g, w),
                "{name} row {index} weight {i}: got {g:e}, gguf says {w:e}"
            );
        }

        let x = TestRng::new(index).vec_f32(want.len());
        let reference = dot_f32_scalar(&want, &x);
        let scale = abs_dot(&want, &x);
        for (what, v) in [
            ("scalar", dot_row_scalar(t.dtype, raw, &x)),
            ("dispatched", dot_row(t.dtype, raw, &x)),
        ] {
            assert!(
                dot_close(v, reference, scale),
                "{name} row {index} {what} dot {v} vs {reference}"
            );
        }
        types.insert(t.dtype.name());
    }
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        ["F32", "Q4_K", "Q5_0", "Q6_K", "Q8_0"]
    );
}

/// Every tensor of the bit-exact types, 16 rows spread over it: the scalar activation dot,
/// the dispatched one and the AVX2 one give the same bits on the real weights and scales.
#[test]
fn real_model_act_dots_are_bit_identical_across_levels() {
    let file = default_model();
    let (mut tensors, mut dots) = (0usize, 0usize);
    for t in file.tensors() {
        if !ACT_BIT_EXACT_DTYPES.contains(&t.dtype) {
            continue;
        }
        let (n, rb, rows) = (t.row_len() as usize, t.row_bytes() as usize, t.n_rows());
        let data = file.tensor_data(t);
        let mut rng = TestRng::new(rows ^ n as u64);
        let mut xq = vec![0u8; act_bytes(t.dtype, n)];
        quantize_act_scalar(t.dtype, &random_activations(n, &mut rng), &mut xq);
        for i in 0..16u64 {
            let r = (i * rows / 16) as usize;
            let raw = &data[r * rb..(r + 1) * rb];
            let want = dot_row_act_scalar(t.dtype, raw, &xq);
            let mut got = vec![("dispatched", dot_row_act(t.dtype, raw, &xq))];
            #[cfg(target_arch = "x86_64")]
            if let Some(v) = gemma_kernels::x86::available()
                .then(|| gemma_kernels::x86::dot_row_act_avx2(t.dtype, raw, &xq))
                .flatten()
            {
                got.push(("avx2", v));
            }
            for (what, v) in got {
                assert_eq!(
                    v.to_bits(),
                    want.to_bits(),
                    "{} row {r}: {what} {v:e} vs scalar {want:e}",
                    t.name
                );
                dots += 1;
            }
        }
        tensors += 1;
    }
    println!("{dots} activation dots over {tensors} tensors bit-identical across levels");
    assert!(
        tensors > 100,
        "only {tensors} tensors of {ACT_BIT_EXACT_DTYPES:?}"
    );
}
