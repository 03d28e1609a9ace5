//! Writer → reader round trips, typed getters, value display and writer validation.

mod common;

use common::*;
use gemma_formats::writer::{GgufWriter, WriteError};
use gemma_formats::{DType, GgufError, GgufFile, Value};

#[test]
fn round_trip_preserves_metadata_and_tensors() {
    let w = rich_writer();
    let bytes = w.to_bytes().unwrap();
    let f = GgufFile::from_bytes(bytes.clone()).unwrap();
    exercise(&f);
    assert_eq!(f.version(), 3);
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.file_size(), bytes.len() as u64);
    assert_eq!(f.path(), None);

    // Metadata, in insertion order, value for value.
    let keys: Vec<&str> = f.metadata().iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys[..4],
        ["general.architecture", "general.name", "t.u8", "t.i8"]
    );
    assert_eq!(f.metadata().len(), 20);
    assert_eq!(f.get("t.u8"), Some(&Value::U8(200)));
    assert_eq!(f.get("t.i64"), Some(&Value::I64(i64::MIN)));
    assert_eq!(f.get("t.f64"), Some(&Value::F64(-1.0e-300)));
    assert_eq!(
        f.get_str_array("t.strs").unwrap(),
        Some(vec!["<pad>", "<eos>", "", "▁hi"])
    );
    let nested = f.get("t.nested").unwrap().as_array().unwrap();
    assert_eq!(nested[0], Value::Array(vec![Value::U16(1), Value::U16(2)]));
    assert_eq!(nested[1], Value::Array(vec![Value::from("x")]));
    assert_eq!(nested[2], Value::Array(vec![]));

    // Tensors: shapes, types, offsets and the exact bytes.
    let names: Vec<&str> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["f", "q8", "q4k"]);
    let t = f.tensor("f").unwrap();
    assert_eq!(
        (t.dims.clone(), t.dtype, t.offset, t.n_elements, t.n_bytes),
        (vec![3, 2], DType::F32, 0, 6, 24)
    );
    assert_eq!((t.row_len(), t.n_rows(), t.row_bytes()), (3, 2, 12));
    let floats: Vec<f32> = f
        .tensor_data(t)
        .chunks(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(floats, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let q8 = f.tensor("q8").unwrap();
    assert_eq!((q8.offset, q8.n_bytes, q8.row_bytes()), (32, 68, 34));
    assert_eq!(
        f.tensor_data(q8),
        (0..68).map(|i| (i * 7) as u8).collect::<Vec<_>>()
    );
    let q4k = f.tensor("q4k").unwrap();
    assert_eq!((q4k.offset, q4k.n_bytes, q4k.n_rows()), (128, 144, 1));
    assert_eq!(
        f.tensor_bytes("q4k").unwrap(),
        (0..144).map(|i| (i * 13 + 1) as u8).collect::<Vec<_>>()
    );
    assert_eq!(f.data_offset() % 32, 0);
    assert_eq!(q4k.to_string(), "q4k Q4_K [256]");
}

#[test]
fn version_2_and_custom_alignment() {
    let mut w = rich_writer();
    w.set_version(2).set_alignment(256);
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    exercise(&f);
    assert_eq!(f.version(), 2);
    assert_eq!(f.alignment(), 256);
    assert_eq!(f.data_offset() % 256, 0);
    assert_eq!(f.tensor("q8").unwrap().offset, 256);
    assert_eq!(f.get_u32("general.alignment").unwrap(), Some(256));
}

#[test]
fn open_maps_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    rich_writer().write_file(&path).unwrap();
    let f = GgufFile::open(&path).unwrap();
    exercise(&f);
    assert_eq!(f.path(), Some(path.as_path()));
    assert_eq!(f.file_size(), std::fs::metadata(&path).unwrap().len());
    let mem = GgufFile::from_bytes(std::fs::read(&path).unwrap()).unwrap();
    for (a, b) in f.tensors().iter().zip(mem.tensors()) {
        assert_eq!(a, b);
        assert_eq!(f.tensor_data(a), mem.tensor_data(b));
    }
    assert!(format!("{f:?}").contains("n_tensors: 3"));
}

#[test]
fn file_without_tensors() {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "gemma3");
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert!(f.tensors().is_empty());
    assert_eq!(f.get_str("general.architecture").unwrap(), Some("gemma3"));
}

#[test]
fn typed_getters_convert_and_check() {
    let mut w = GgufWriter::new();
    w.add("u8", 7u8)
        .add("i64", 1i64 << 40)
        .add("neg", -1i32)
        .add("u64max", u64::MAX)
        .add("f64", 0.5f64)
        .add("str", "s")
        .add("bool", false)
        .add("u32s", vec![1u32, 1 << 31])
        .add("u8s", vec![1u8, 2])
        .add("f32s", vec![1.5f32])
        .add("i32s", vec![-3i32, 4])
        .add("bools", vec![true])
        .add("empty", Value::Array(vec![]));
    let f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();

    assert_eq!(f.get_u32("u8").unwrap(), Some(7));
    assert_eq!(f.get_u64("u8").unwrap(), Some(7));
    assert_eq!(f.get_u64("i64").unwrap(), Some(1 << 40));
    assert_eq!(f.get_u64("u64max").unwrap(), Some(u64::MAX));
    assert!(matches!(
        f.get_u32("i64"),
        Err(GgufError::OutOfRange {
            expected: "uint32",
            ..
        })
    ));
    assert!(matches!(
        f.get_u32("neg"),
        Err(GgufError::OutOfRange { .. })
    ));
    assert!(matches!(
        f.get_u64("neg"),
        Err(GgufError::OutOfRange { .. })
    ));
    assert!(matches!(f.get_u32("f64"), Err(GgufError::WrongType { .. })));
    assert!(matches!(
        f.get_u32("bool"),
        Err(GgufError::WrongType { .. })
    ));
    assert_eq!(f.get_f32("f64").unwrap(), Some(0.5));
    assert_eq!(f.get_f32("neg").unwrap(), Some(-1.0));
    assert!(matches!(f.get_f32("str"), Err(GgufError::WrongType { .. })));
    assert_eq!(f.get_bool("bool").unwrap(), Some(false));
    assert!(matches!(f.get_bool("u8"), Err(GgufError::WrongType { .. })));
    assert_eq!(f.get_str("str").unwrap(), Some("s"));
    let e = f.get_str("u8").unwrap_err();
    assert!(
        matches!(e, GgufError::WrongType { ref key, expected: "string", ref found } if key == "u8" && found == "uint8")
    );
    assert_eq!(
        e.to_string(),
        "metadata key \"u8\": expected string, found uint8"
    );

    assert_eq!(f.get_i32_array("u8s").unwrap(), Some(vec![1, 2]));
    assert_eq!(f.get_i32_array("i32s").unwrap(), Some(vec![-3, 4]));
    assert!(matches!(
        f.get_i32_array("u32s"),
        Err(GgufError::OutOfRange { .. })
    ));
    assert!(
        matches!(f.get_i32_array("f32s"), Err(GgufError::WrongType { ref found, .. }) if found == "array of float32")
    );
    assert!(matches!(
        f.get_i32_array("bools"),
        Err(GgufError::WrongType { .. })
    ));
    assert_eq!(f.get_f32_array("f32s").unwrap(), Some(vec![1.5]));
    assert_eq!(f.get_f32_array("i32s").unwrap(), Some(vec![-3.0, 4.0]));
    assert!(matches!(
        f.get_f32_array("str"),
        Err(GgufError::WrongType { .. })
    ));
    assert!(
        matches!(f.get_str_array("u8s"), Err(GgufError::WrongType { ref found, .. }) if found == "array of uint8")
    );
    assert_eq!(f.get_str_array("empty").unwrap(), Some(vec![]));
    assert_eq!(f.get_f32_array("empty").unwrap(), Some(vec![]));

    for absent in ["nope", ""] {
        assert_eq!(f.get_str(absent).unwrap(), None);
        assert_eq!(f.get_u64(absent).unwrap(), None);
        assert_eq!(f.get_u32(absent).unwrap(), None);
        assert_eq!(f.get_f32(absent).unwrap(), None);
        assert_eq!(f.get_bool(absent).unwrap(), None);
        assert_eq!(f.get_str_array(absent).unwrap(), None);
        assert_eq!(f.get_f32_array(absent).unwrap(), None);
        assert_eq!(f.get_i32_array(absent).unwrap(), None);
    }
}

#[test]
fn display_is_short() {
    assert_eq!(Value::U32(5).to_string(), "5");
    assert_eq!(Value::F32(1.5).to_string(), "1.5");
    assert_eq!(Value::from("a\"b\n").to_string(), "\"a\\\"b\\n\"");
    let long = "x".repeat(100);
    assert_eq!(
        Value::from(long.as_str()).to_string(),
        format!("\"{}\"… (100 bytes)", "x".repeat(60))
    );
    assert_eq!(
        format!("{:#}", Value::from(long.as_str())),
        format!("\"{long}\"")
    );
    let tokens: Value = (0..262_144)
        .map(|i| format!("t{i}"))
        .collect::<Vec<_>>()
        .into();
    assert_eq!(
        tokens.to_string(),
        "[\"t0\", \"t1\", \"t2\", \"t3\", \"t4\", … 262144 items]"
    );
    assert_eq!(Value::from(vec![1u8, 2]).to_string(), "[1, 2]");
    assert_eq!(
        Value::Array(vec![vec![true].into()]).to_string(),
        "[[true]]"
    );
    assert_eq!(tokens.type_name(), "array");
    assert_eq!(tokens.describe_type(), "array of string");
}

#[test]
fn writer_rejects_what_readers_would() {
    let bad = |w: &GgufWriter| w.to_bytes().unwrap_err();
    let mut w = GgufWriter::new();
    w.add("k", 1u8).add("k", 2u8);
    assert!(matches!(bad(&w), WriteError::DuplicateKey(_)));
    let mut w = GgufWriter::new();
    w.add("mixed", Value::Array(vec![Value::U8(1), Value::I8(1)]));
    assert!(matches!(bad(&w), WriteError::MixedArray { index: 1, .. }));
    let mut w = GgufWriter::new();
    w.set_alignment(24);
    assert!(matches!(bad(&w), WriteError::BadAlignment(_)));
    let mut w = GgufWriter::new();
    w.set_version(1);
    assert!(matches!(bad(&w), WriteError::BadVersion(1)));
    for dims in [vec![], vec![0], vec![1, 1, 1, 1, 1], vec![16]] {
        let mut w = GgufWriter::new();
        w.add_tensor("t", &dims, DType::Q8_0, vec![0u8; 34]);
        assert!(matches!(bad(&w), WriteError::BadShape { .. }), "{dims:?}");
    }
    let mut w = GgufWriter::new();
    w.add_f32_tensor("t", &[4], &[1.0; 3]);
    assert!(matches!(
        bad(&w),
        WriteError::DataSize {
            expected: 16,
            found: 12,
            ..
        }
    ));
    let mut w = GgufWriter::new();
    w.add_f32_tensor("t", &[1], &[1.0])
        .add_f32_tensor("t", &[1], &[1.0]);
    assert!(matches!(bad(&w), WriteError::DuplicateTensor(_)));
}

#[test]
fn released_arrays_keep_their_length_and_free_their_items() {
    let mut w = gemma_formats::writer::GgufWriter::new();
    w.add("general.architecture", "gemma3")
        .add("tokenizer.ggml.tokens", vec!["a", "b", "c"])
        .add("tokenizer.ggml.model", "llama");
    let mut f = GgufFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(
        f.release_arrays(&["tokenizer.ggml.tokens", "missing", "tokenizer.ggml.model"]),
        3
    );
    assert_eq!(f.released_len("tokenizer.ggml.tokens"), Some(3));
    assert_eq!(f.released_len("tokenizer.ggml.model"), None);
    assert_eq!(f.get_str("tokenizer.ggml.model").unwrap(), Some("llama"));
    match f.get("tokenizer.ggml.tokens") {
        Some(gemma_formats::Value::Array(items)) => assert!(items.is_empty()),
        other => panic!("{other:?}"),
    }
}
