//! Malformed files: every truncation and each corrupted field is an error of the right kind.

mod common;

use common::*;
use gemma_formats::writer::GgufWriter;
use gemma_formats::{GgufError, GgufFile, Value, MAX_ARRAY_DEPTH};

fn open(bytes: Vec<u8>) -> Result<GgufFile, GgufError> {
    GgufFile::from_bytes(bytes)
}

fn err(raw: &RawFile) -> GgufError {
    let e = open(raw.build()).expect_err("malformed file must not open");
    assert!(!e.to_string().is_empty());
    e
}

#[test]
fn baselines_are_valid() {
    let f = open(RawFile::valid().build()).unwrap();
    exercise(&f);
    assert_eq!(f.tensors().len(), 2);
    let f = open(rich_bytes()).unwrap();
    exercise(&f);
}

#[test]
fn every_truncation_of_a_rich_file_fails() {
    let bytes = rich_bytes();
    let full = open(bytes.clone()).unwrap();
    // The file is complete once the last tensor's data is; the padding after it is optional.
    let needed = full
        .tensors()
        .iter()
        .map(|t| full.data_offset() + t.offset + t.n_bytes)
        .max()
        .unwrap();
    assert!(needed <= bytes.len() as u64);
    for cut in 0..bytes.len() {
        let r = open(bytes[..cut].to_vec());
        if (cut as u64) < needed {
            let e = r.expect_err("truncated file must not open");
            assert!(
                matches!(
                    e,
                    GgufError::Truncated { .. }
                        | GgufError::CountTooLarge { .. }
                        | GgufError::TensorOutOfBounds { .. }
                ),
                "cut at {cut}: unexpected error {e}"
            );
        } else {
            exercise(&r.expect("only padding is missing"));
        }
    }
}

#[test]
fn bad_magic_and_versions() {
    let mut raw = RawFile::valid();
    raw.magic = *b"GGML";
    assert!(matches!(err(&raw), GgufError::BadMagic { found, .. } if &found == b"GGML"));

    for (version, hint) in [(1u32, "v1"), (4, ""), (0, ""), (0x0300_0000, "big-endian")] {
        let mut raw = RawFile::valid();
        raw.version = version;
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::UnsupportedVersion { version: v, .. } if v == version),
            "{e}"
        );
        assert!(e.to_string().contains(hint), "{e}");
    }
    let mut raw = RawFile::valid();
    raw.version = 2;
    assert_eq!(open(raw.build()).unwrap().version(), 2);
}

#[test]
fn tiny_files_are_truncated() {
    for len in 0..24 {
        let bytes = RawFile::valid().build()[..len].to_vec();
        assert!(
            matches!(open(bytes), Err(GgufError::Truncated { .. })),
            "len {len}"
        );
    }
}

#[test]
fn huge_counts_are_rejected_before_allocating() {
    for huge in [u64::MAX, 1 << 40, 1 << 62] {
        let mut raw = RawFile::valid();
        raw.n_tensors = Some(huge);
        assert!(
            matches!(err(&raw), GgufError::CountTooLarge { offset: 8, count, .. } if count == huge)
        );

        let mut raw = RawFile::valid();
        raw.n_kv = Some(huge);
        assert!(
            matches!(err(&raw), GgufError::CountTooLarge { offset: 16, count, .. } if count == huge)
        );

        // A string (the first key) longer than the file.
        let mut raw = RawFile::valid();
        let mut first = u64le(huge);
        first.extend_from_slice(b"general.architecture");
        raw.kvs[0] = first;
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::CountTooLarge { offset: 24, count, .. } if count == huge),
            "{e}"
        );

        // An array longer than the file (for every element size; u64::MAX * size overflows).
        for elem in [0u32, 4, 8, 9, 12] {
            let mut raw = RawFile::valid();
            raw.kvs[2] = kv("test.ids", 9, &arr(elem, huge, &[]));
            let e = err(&raw);
            assert!(
                matches!(e, GgufError::CountTooLarge { count, ref what, .. } if count == huge && what.contains("test.ids")),
                "{e}"
            );
        }

        // A string value, and a tensor name.
        let mut raw = RawFile::valid();
        raw.kvs[0] = kv("general.architecture", 8, &u64le(huge));
        assert!(matches!(err(&raw), GgufError::CountTooLarge { .. }));
        let mut raw = RawFile::valid();
        raw.tensors[1].name = vec![];
        let mut bytes = raw.build();
        // Patch the second tensor's name length (it directly follows tensor "a"'s info).
        let a_info = 8 + 1 + 4 + 8 + 4 + 8;
        let infos_start = 24 + raw.kvs.iter().map(Vec::len).sum::<usize>();
        let b_name = infos_start + a_info;
        bytes[b_name..b_name + 8].copy_from_slice(&huge.to_le_bytes());
        assert!(
            matches!(open(bytes), Err(GgufError::CountTooLarge { offset, .. }) if offset as usize == b_name)
        );
    }
    // Slightly too large counts are errors too.
    let mut raw = RawFile::valid();
    raw.n_kv = Some(4);
    assert!(open(raw.build()).is_err());
    let mut raw = RawFile::valid();
    raw.n_tensors = Some(3);
    assert!(open(raw.build()).is_err());
}

#[test]
fn unknown_value_types() {
    for bad in [13u32, 100, u32::MAX] {
        let mut raw = RawFile::valid();
        raw.kvs[0] = kv("general.architecture", bad, &gstr(b"gemma3"));
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::UnknownValueType { type_id, ref key, .. } if type_id == bad && key == "general.architecture"),
            "{e}"
        );

        let mut raw = RawFile::valid();
        raw.kvs[2] = kv("test.ids", 9, &arr(bad, 1, &[0; 8]));
        assert!(matches!(err(&raw), GgufError::UnknownValueType { type_id, .. } if type_id == bad));
    }
}

#[test]
fn invalid_utf8_and_duplicates() {
    let mut raw = RawFile::valid();
    raw.kvs[0] = kv("general.architecture", 8, &gstr(b"gem\xffma"));
    assert!(matches!(err(&raw), GgufError::InvalidUtf8 { .. }));
    let mut raw = RawFile::valid();
    raw.tensors[0].name = b"\xc3".to_vec();
    assert!(matches!(err(&raw), GgufError::InvalidUtf8 { .. }));

    let mut raw = RawFile::valid();
    raw.kvs.push(kv("test.ids", 4, &u32le(1)));
    assert!(matches!(err(&raw), GgufError::DuplicateKey { key, .. } if key == "test.ids"));
    let mut raw = RawFile::valid();
    raw.tensors[1].name = b"a".to_vec();
    assert!(matches!(err(&raw), GgufError::DuplicateTensor { tensor, .. } if tensor == "a"));
}

#[test]
fn deep_nesting_is_bounded() {
    // A crafted file nested far deeper than any stack would allow for naive recursion.
    let depth = 100_000;
    let mut payload = Vec::new();
    for _ in 0..depth {
        payload.extend(arr(9, 1, &[]));
    }
    payload.extend(arr(0, 0, &[]));
    let mut raw = RawFile::valid();
    raw.kvs[2] = kv("test.deep", 9, &payload);
    let e = err(&raw);
    assert!(
        matches!(
            e,
            GgufError::NestingTooDeep {
                max_depth: MAX_ARRAY_DEPTH,
                ..
            }
        ),
        "{e}"
    );

    // The writer and reader agree on the limit.
    let mut w = GgufWriter::new();
    w.add("ok", nested(MAX_ARRAY_DEPTH));
    let f = open(w.to_bytes().unwrap()).unwrap();
    assert!(same(f.get("ok").unwrap(), &nested(MAX_ARRAY_DEPTH)));
    let mut w = GgufWriter::new();
    w.add("too.deep", nested(MAX_ARRAY_DEPTH + 1));
    assert!(w.to_bytes().is_err());
}

#[test]
fn bad_alignment() {
    for (payload, type_id) in [
        (u32le(0), 4),
        (u32le(3), 4),
        (u32le(48), 4),
        (u64le(1 << 32), 10),
        (gstr(b"32"), 8),
        (vec![0xff], 1),
    ] {
        let mut raw = RawFile::valid();
        raw.kvs[1] = kv("general.alignment", type_id, &payload);
        let e = err(&raw);
        assert!(matches!(e, GgufError::BadAlignment { .. }), "{e}");
    }
    // Other integer types holding a power of two are accepted.
    let mut raw = RawFile::valid();
    raw.kvs[1] = kv("general.alignment", 10, &u64le(16));
    raw.alignment = 16;
    assert_eq!(open(raw.build()).unwrap().alignment(), 16);
    // Without the key the alignment is 32.
    let mut raw = RawFile::valid();
    raw.kvs.remove(1);
    let f = open(raw.build()).unwrap();
    assert_eq!(f.alignment(), 32);
    assert_eq!(f.data_offset() % 32, 0);
}

#[test]
fn bad_tensor_shapes() {
    for n_dims in [0u32, 5, u32::MAX] {
        let mut raw = RawFile::valid();
        raw.tensors[0].n_dims = n_dims;
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::BadDimCount { n_dims: n, ref tensor, .. } if n == n_dims && tensor == "a"),
            "{e}"
        );
    }
    let mut raw = RawFile::valid();
    raw.tensors[1].dims = vec![32, 0];
    assert!(matches!(err(&raw), GgufError::ZeroDim { index: 1, tensor, .. } if tensor == "b"));

    // Element count overflow, and byte count overflow with a representable element count.
    for dims in [
        vec![1u64 << 32, 1 << 32, 2],
        vec![u64::MAX, 2],
        vec![1 << 62],
    ] {
        let mut raw = RawFile::valid();
        raw.tensors[0].n_dims = dims.len() as u32;
        raw.tensors[0].dims = dims.clone();
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::ShapeOverflow { dims: ref d, .. } if *d == dims),
            "{e}"
        );
    }

    // Row length not a whole number of blocks.
    let mut raw = RawFile::valid();
    raw.tensors[1].dims = vec![16, 4];
    let e = err(&raw);
    assert!(
        matches!(
            e,
            GgufError::BadRowLength {
                row_len: 16,
                block_len: 32,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn unsupported_tensor_types() {
    for (id, name) in [
        (16u32, Some("IQ2_XXS")),
        (15, Some("Q8_K")),
        (28, Some("F64")),
        (4, None),
        (99, None),
        (u32::MAX, None),
    ] {
        let mut raw = RawFile::valid();
        raw.tensors[0].type_id = id;
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::UnsupportedTensorType { type_id, type_name, ref tensor, .. } if type_id == id && type_name == name && tensor == "a"),
            "{e}"
        );
        let msg = e.to_string();
        assert!(
            msg.contains(&id.to_string()) && msg.contains("\"a\""),
            "{msg}"
        );
        if let Some(n) = name {
            assert!(msg.contains(n), "{msg}");
        }
    }
}

#[test]
fn bad_tensor_offsets() {
    let mut raw = RawFile::valid();
    raw.tensors[1].offset = 36;
    assert!(matches!(
        err(&raw),
        GgufError::MisalignedTensor {
            data_offset: 36,
            alignment: 32,
            ..
        }
    ));

    for offset in [64u64, 1 << 20, u64::MAX - 31] {
        let mut raw = RawFile::valid();
        raw.tensors[1].offset = offset;
        let e = err(&raw);
        assert!(
            matches!(e, GgufError::TensorOutOfBounds { data_offset, ref tensor, .. } if data_offset == offset && tensor == "b"),
            "{e}"
        );
    }

    // One byte of tensor data missing.
    let mut raw = RawFile::valid();
    raw.data.pop();
    assert!(matches!(err(&raw), GgufError::TensorOutOfBounds { .. }));

    let mut raw = RawFile::valid();
    raw.tensors[0].dims = vec![16]; // 64 bytes at 0 run into "b" at 32
    let e = err(&raw);
    assert!(
        matches!(e, GgufError::OverlappingTensors { ref first, ref second, .. } if first == "a" && second == "b"),
        "{e}"
    );
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.gguf");
    let mut raw = RawFile::valid();
    raw.tensors[0].type_id = 16;
    std::fs::write(&path, raw.build()).unwrap();
    let e = GgufFile::open(&path).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("broken.gguf") && msg.contains("IQ2_XXS"),
        "{msg}"
    );

    let e = GgufFile::open(&dir.path().join("missing.gguf")).unwrap_err();
    assert!(matches!(e, GgufError::Io { .. }));
    assert!(e.to_string().contains("missing.gguf"));

    let empty = dir.path().join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        GgufFile::open(&empty),
        Err(GgufError::Truncated { .. })
    ));
}

#[test]
fn values_of_every_type_survive_writer_and_reader() {
    // Sanity check for the baseline used by the corruption tests.
    let f = open(rich_bytes()).unwrap();
    assert!(same(f.get("t.deep").unwrap(), &nested(4)));
    assert!(same(f.get("t.empty").unwrap(), &Value::Array(vec![])));
}
