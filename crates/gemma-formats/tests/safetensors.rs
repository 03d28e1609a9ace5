//! Safetensors reading: round trips through our writer, sharded folders, and the
//! fixture written by the `safetensors` Python package (tests/data/pyfixture.safetensors).
//! Malformed files are in `safetensors_malformed.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use gemma_formats::{DType, SafetensorsError, SafetensorsFile, SafetensorsSet, SafetensorsWriter};
use serde_json::{json, Value as Json};

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn u16_bytes(v: &[u16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Name, dtype, shape and bytes of one tensor.
type Tensor = (&'static str, DType, Vec<u64>, Vec<u8>);

/// A file with one tensor of each supported dtype, plus metadata.
fn sample() -> (SafetensorsWriter, Vec<Tensor>) {
    let f32_vals: Vec<f32> = (0..24).map(|i| i as f32 * 0.25 - 3.0).collect();
    // bf16 of 1.0, -2.0, 0.5, inf, -0.0, 3.140625; f16 of 1.0, -2.0, 65504, tiny.
    let bf16 = u16_bytes(&[0x3f80, 0xc000, 0x3f00, 0x7f80, 0x8000, 0x4049]);
    let f16 = u16_bytes(&[0x3c00, 0xc000, 0x7bff, 0x0001]);
    let tensors = vec![
        (
            "model.layers.0.mlp.up_proj.weight",
            DType::F32,
            vec![2, 3, 4],
            f32_bytes(&f32_vals),
        ),
        ("model.embed_tokens.weight", DType::BF16, vec![3, 2], bf16),
        ("model.norm.weight", DType::F16, vec![4], f16),
        ("empty", DType::F32, vec![0, 5], vec![]),
        ("scalar", DType::F32, vec![], f32_bytes(&[7.5])),
    ];
    let mut w = SafetensorsWriter::new();
    w.metadata("format", "pt").metadata("ünï", "cödé");
    for (name, dtype, shape, data) in &tensors {
        w.add(name, *dtype, shape, data);
    }
    (w, tensors)
}

fn check_sample(file: &SafetensorsFile) {
    let (_, tensors) = sample();
    assert_eq!(file.n_tensors(), tensors.len());
    for (name, dtype, shape, data) in &tensors {
        let t = file
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(&t.name, name);
        assert_eq!(t.dtype, *dtype, "{name}");
        assert_eq!(&t.shape, shape, "{name}");
        let rev: Vec<u64> = shape.iter().rev().copied().collect();
        assert_eq!(t.ggml_dims(), rev, "{name}");
        assert_eq!(t.n_bytes(), data.len() as u64);
        assert_eq!(file.tensor_data(t), &data[..], "{name}");
        assert_eq!(file.tensor_bytes(name), Some(&data[..]));
    }
    assert_eq!(file.tensor("absent"), None);
    assert_eq!(file.tensor_bytes("absent"), None);
    // Data order: by begin offset, i.e. the order the writer laid them out (empty first
    // among ties at the same offset is fine; only check monotonic begins).
    let begins: Vec<u64> = file.tensors().map(|t| t.begin).collect();
    assert!(begins.windows(2).all(|w| w[0] <= w[1]), "{begins:?}");
    assert_eq!(file.metadata().len(), 2);
    assert_eq!(file.metadata()["format"], "pt");
    assert_eq!(file.metadata()["ünï"], "cödé");
    assert_eq!(file.data_start() % 8, 0, "header padded to 8 bytes");
}

#[test]
fn round_trip_in_memory() {
    let (w, _) = sample();
    let file = SafetensorsFile::from_bytes(w.to_bytes().unwrap()).unwrap();
    assert_eq!(file.path(), None);
    check_sample(&file);
}

#[test]
fn round_trip_through_a_mapped_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    let (w, _) = sample();
    w.write_to(&path).unwrap();
    let file = SafetensorsFile::open(&path).unwrap();
    assert_eq!(file.path(), Some(path.as_path()));
    assert_eq!(file.file_size(), fs::metadata(&path).unwrap().len());
    check_sample(&file);
    // The same folder read as a single-file checkpoint.
    let set = SafetensorsSet::open_folder(dir.path()).unwrap();
    assert_eq!(set.shards().len(), 1);
    assert_eq!(set.n_tensors(), 5);
    let (info, data) = set.get("model.norm.weight").unwrap();
    assert_eq!(info.dtype, DType::F16);
    assert_eq!(data, &u16_bytes(&[0x3c00, 0xc000, 0x7bff, 0x0001])[..]);
}

#[test]
fn writer_rejects_bad_input() {
    let mut w = SafetensorsWriter::new();
    w.add("a", DType::F32, &[2], &[0; 4]);
    assert!(matches!(
        w.to_bytes(),
        Err(SafetensorsError::WriterSizeMismatch {
            expected: 8,
            got: 4,
            ..
        })
    ));
    let mut w = SafetensorsWriter::new();
    w.add("q", DType::Q8_0, &[32], &[0; 34]);
    assert!(matches!(
        w.to_bytes(),
        Err(SafetensorsError::WriterDtype { .. })
    ));
    let mut w = SafetensorsWriter::new();
    w.add_f32("a", &[1], &[1.0]).add_f32("a", &[1], &[2.0]);
    assert!(w.to_bytes().is_err());
}

#[test]
fn open_names_a_missing_file() {
    let err = SafetensorsFile::open("/nonexistent/x.safetensors").unwrap_err();
    assert!(matches!(err, SafetensorsError::Io { .. }));
    assert!(
        err.to_string().contains("/nonexistent/x.safetensors"),
        "{err}"
    );
}

/// Two shards and an index mapping three tensors; shard 2 also has an unmapped tensor.
fn write_sharded(dir: &Path) -> PathBuf {
    let mut a = SafetensorsWriter::new();
    a.add_f32("model.embed_tokens.weight", &[2, 2], &[1.0, 2.0, 3.0, 4.0])
        .add(
            "model.norm.weight",
            DType::BF16,
            &[2],
            &u16_bytes(&[0x3f80, 0x4000]),
        );
    a.write_to(&dir.join("model-00001-of-00002.safetensors"))
        .unwrap();
    let mut b = SafetensorsWriter::new();
    b.add_f32("lm_head.weight", &[1, 3], &[5.0, 6.0, 7.0])
        .add_f32("unmapped", &[1], &[9.0]);
    b.write_to(&dir.join("model-00002-of-00002.safetensors"))
        .unwrap();
    let index = dir.join("model.safetensors.index.json");
    write_index(
        &index,
        json!({
            "metadata": {"total_size": 40},
            "weight_map": {
                "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                "model.norm.weight": "model-00001-of-00002.safetensors",
                "lm_head.weight": "model-00002-of-00002.safetensors",
            }
        }),
    );
    index
}

fn write_index(path: &Path, v: Json) {
    fs::write(path, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
}

#[test]
fn sharded_folder_with_index() {
    let dir = tempfile::tempdir().unwrap();
    write_sharded(dir.path());
    // A stray single file must be ignored when the index exists.
    let mut stray = SafetensorsWriter::new();
    stray.add_f32("stray", &[1], &[0.0]);
    stray
        .write_to(&dir.path().join("model.safetensors"))
        .unwrap();

    let set = SafetensorsSet::open_folder(dir.path()).unwrap();
    assert_eq!(set.dir(), dir.path());
    assert_eq!(set.shards().len(), 2);
    assert_eq!(set.n_tensors(), 3);
    let names: Vec<&str> = set.tensors().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "lm_head.weight",
            "model.embed_tokens.weight",
            "model.norm.weight"
        ]
    );
    assert_eq!(
        set.tensor_bytes("lm_head.weight"),
        Some(&f32_bytes(&[5.0, 6.0, 7.0])[..])
    );
    assert_eq!(
        set.tensor("lm_head.weight").unwrap().ggml_dims(),
        vec![3, 1]
    );
    assert_eq!(
        set.tensor_bytes("model.embed_tokens.weight"),
        Some(&f32_bytes(&[1.0, 2.0, 3.0, 4.0])[..])
    );
    let (norm, bytes) = set.get("model.norm.weight").unwrap();
    assert_eq!(norm.dtype, DType::BF16);
    assert_eq!(bytes, &u16_bytes(&[0x3f80, 0x4000])[..]);
    let shard = set.shard_of("lm_head.weight").unwrap().path().unwrap();
    assert!(shard.ends_with("model-00002-of-00002.safetensors"));
    assert_eq!(
        set.tensor("unmapped"),
        None,
        "only weight_map tensors are visible"
    );
    assert_eq!(set.tensor("stray"), None);
}

#[test]
fn sharded_folder_errors() {
    let dir = tempfile::tempdir().unwrap();
    let index = write_sharded(dir.path());
    let shard1 = "model-00001-of-00002.safetensors";

    // A tensor mapped to a shard that lacks it.
    write_index(&index, json!({"weight_map": {"lm_head.weight": shard1}}));
    let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
    assert!(
        matches!(err, SafetensorsError::TensorNotInShard { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("lm_head.weight") && msg.contains(shard1),
        "{msg}"
    );

    // A shard file that does not exist.
    write_index(
        &index,
        json!({"weight_map": {"x.weight": "model-00009-of-00009.safetensors"}}),
    );
    let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
    assert!(
        matches!(err, SafetensorsError::MissingShard { .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("x.weight") && msg.contains("model-00009-of-00009"),
        "{msg}"
    );

    // Malformed indexes.
    for bad in [
        json!({"metadata": {}}),
        json!({"weight_map": []}),
        json!({"weight_map": {"a": 3}}),
        json!({"weight_map": {"a": "../model-00001-of-00002.safetensors"}}),
        json!({"weight_map": {"a": "/etc/passwd"}}),
    ] {
        write_index(&index, bad.clone());
        let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
        assert!(
            matches!(err, SafetensorsError::BadIndex { .. }),
            "{bad}: {err}"
        );
    }
    fs::write(&index, b"{not json").unwrap();
    let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
    assert!(matches!(err, SafetensorsError::BadIndex { .. }), "{err}");
    assert!(
        err.to_string().contains("model.safetensors.index.json"),
        "{err}"
    );

    // A corrupt shard: its own error, naming the shard file.
    write_index(
        &index,
        json!({"weight_map": {"lm_head.weight": "model-00002-of-00002.safetensors"}}),
    );
    fs::write(
        dir.path().join("model-00002-of-00002.safetensors"),
        b"\x02\0\0\0\0\0\0\0{",
    )
    .unwrap();
    let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
    assert!(
        err.to_string().contains("model-00002-of-00002.safetensors"),
        "{err}"
    );
}

#[test]
fn folder_without_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("config.json"), b"{}").unwrap();
    let err = SafetensorsSet::open_folder(dir.path()).unwrap_err();
    assert!(
        matches!(err, SafetensorsError::NoCheckpoint { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Reads exactly what the `safetensors` Python package wrote.
#[test]
fn python_fixture() {
    let desc: Json =
        serde_json::from_slice(&fs::read(data_dir().join("pyfixture_safetensors.json")).unwrap())
            .unwrap();
    let file = SafetensorsFile::open(data_dir().join("pyfixture.safetensors")).unwrap();

    let meta = desc["metadata"].as_object().unwrap();
    assert_eq!(file.metadata().len(), meta.len());
    for (k, v) in meta {
        assert_eq!(
            file.metadata().get(k).map(String::as_str),
            v.as_str(),
            "{k}"
        );
    }

    let tensors = desc["tensors"].as_object().unwrap();
    assert_eq!(file.n_tensors(), tensors.len());
    let mut dtypes_seen = Vec::new();
    for (name, t) in tensors {
        let info = file
            .tensor(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        let dtype = match t["dtype"].as_str().unwrap() {
            "F32" => DType::F32,
            "F16" => DType::F16,
            "BF16" => DType::BF16,
            other => panic!("fixture dtype {other}"),
        };
        dtypes_seen.push(dtype);
        assert_eq!(info.dtype, dtype, "{name}");
        let shape: Vec<u64> = t["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_u64().unwrap())
            .collect();
        assert_eq!(info.shape, shape, "{name}");
        let bits: Vec<u64> = t["bits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_u64().unwrap())
            .collect();
        let data = file.tensor_data(info);
        let got: Vec<u64> = match dtype {
            DType::F32 => data
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()) as u64)
                .collect(),
            _ => data
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes(c.try_into().unwrap()) as u64)
                .collect(),
        };
        assert_eq!(got, bits, "{name}");
    }
    for d in [DType::F32, DType::F16, DType::BF16] {
        assert!(dtypes_seen.contains(&d), "fixture lacks {d}");
    }
}
