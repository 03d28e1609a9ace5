//! Cross-check with the `gguf` Python package: its GGUFWriter's file (tests/data/pyfixture.gguf,
//! made by scripts/make_gguf_fixture.py) reads back as the values the script wrote, and our
//! writer produces the same bytes for the same content.

mod common;

use std::path::PathBuf;

use common::*;
use gemma_formats::writer::GgufWriter;
use gemma_formats::{DType, GgufFile, Value};
use serde_json::Value as Json;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("data")
}

fn expected() -> Json {
    let text = std::fs::read_to_string(data_dir().join("pyfixture.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn int(j: &Json) -> i128 {
    j.as_i64()
        .map(i128::from)
        .or_else(|| j.as_u64().map(i128::from))
        .expect("integer")
}

/// The value a typed JSON description stands for.
fn to_value(j: &Json) -> Value {
    let v = &j["value"];
    let bits = || j["bits"].as_u64().expect("bits");
    match j["type"].as_str().unwrap() {
        "uint8" => Value::U8(int(v) as u8),
        "int8" => Value::I8(int(v) as i8),
        "uint16" => Value::U16(int(v) as u16),
        "int16" => Value::I16(int(v) as i16),
        "uint32" => Value::U32(int(v) as u32),
        "int32" => Value::I32(int(v) as i32),
        "uint64" => Value::U64(int(v) as u64),
        "int64" => Value::I64(int(v) as i64),
        "float32" => Value::F32(f32::from_bits(bits() as u32)),
        "float64" => Value::F64(f64::from_bits(bits())),
        "bool" => Value::Bool(v.as_bool().unwrap()),
        "string" => Value::String(v.as_str().unwrap().to_string()),
        "array" => Value::Array(
            j["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(to_value)
                .collect(),
        ),
        other => panic!("unknown type {other}"),
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn reads_gguf_py_fixture_exactly() {
    let exp = expected();
    let f = GgufFile::open(&data_dir().join("pyfixture.gguf")).unwrap();
    exercise(&f);
    assert_eq!(f.version() as u64, exp["version"].as_u64().unwrap());
    assert_eq!(f.alignment(), exp["alignment"].as_u64().unwrap());
    assert_eq!(f.data_offset(), exp["data_offset"].as_u64().unwrap());
    assert_eq!(f.file_size(), exp["file_size"].as_u64().unwrap());

    let meta = exp["metadata"].as_array().unwrap();
    assert_eq!(f.metadata().len(), meta.len());
    for ((key, value), m) in f.metadata().iter().zip(meta) {
        assert_eq!(key, m["key"].as_str().unwrap());
        let want = to_value(m);
        assert!(
            same(value, &want),
            "{key}: read {value:#}, the script wrote {want:#}"
        );
    }

    let tensors = exp["tensors"].as_array().unwrap();
    assert_eq!(f.tensors().len(), tensors.len());
    for (t, e) in f.tensors().iter().zip(tensors) {
        assert_eq!(t.name, e["name"].as_str().unwrap());
        assert_eq!(t.dtype.name(), e["type"].as_str().unwrap());
        assert_eq!(u64::from(t.dtype.ggml_id()), e["type_id"].as_u64().unwrap());
        let dims: Vec<u64> = e["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(t.offset, e["offset"].as_u64().unwrap());
        assert_eq!(t.n_elements, e["n_elements"].as_u64().unwrap());
        assert_eq!(t.n_bytes, e["n_bytes"].as_u64().unwrap());
        assert_eq!(
            f.tensor_data(t),
            hex(e["data_hex"].as_str().unwrap()),
            "{}",
            t.name
        );
    }
}

#[test]
fn our_writer_matches_gguf_py_bytes() {
    let exp = expected();
    let mut w = GgufWriter::new();
    for m in exp["metadata"].as_array().unwrap() {
        w.add(m["key"].as_str().unwrap(), to_value(m));
    }
    for e in exp["tensors"].as_array().unwrap() {
        let dtype = DType::from_ggml_id(e["type_id"].as_u64().unwrap() as u32).unwrap();
        let dims: Vec<u64> = e["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        w.add_tensor(
            e["name"].as_str().unwrap(),
            &dims,
            dtype,
            hex(e["data_hex"].as_str().unwrap()),
        );
    }
    let ours = w.to_bytes().unwrap();
    let theirs = std::fs::read(data_dir().join("pyfixture.gguf")).unwrap();
    assert_eq!(ours.len(), theirs.len());
    if let Some(i) = ours.iter().zip(&theirs).position(|(a, b)| a != b) {
        panic!(
            "first difference at byte {i}: ours {:#04x}, gguf-py {:#04x}",
            ours[i], theirs[i]
        );
    }
}
