//! Rows of the real default model dequantized against the `gguf` Python package
//! (fixture `tests/data/dequant_real_rows.json`); needs the model file (`gemma pull`).

mod common;

use common::*;
use gemma_formats::GgufFile;
use gemma_kernels::{dequantize_row, dot_f32_scalar, dot_row, dot_row_scalar};
use sha2::{Digest, Sha256};

#[test]
fn real_model_rows_match_gguf_python() {
    let path = gemma_hub::default_model_path();
    assert!(
        path.is_file(),
        "default model not found at {}: run `gemma pull` (or set GEMMA_HOME)",
        path.display()
    );
    let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
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
