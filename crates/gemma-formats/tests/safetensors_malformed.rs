//! Malformed safetensors files: every way the header can be wrong gives its own error
//! naming the tensor, and no truncation or byte flip makes the reader panic.

use gemma_formats::{
    DType, SafetensorsError as E, SafetensorsFile, SafetensorsWriter, MAX_SAFETENSORS_HEADER,
};

/// A file from a raw header text and data bytes.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

fn open(header: &str, data: &[u8]) -> Result<SafetensorsFile, E> {
    SafetensorsFile::from_bytes(raw(header, data))
}

/// The error for a header, asserting its message names `tensor` (when given).
fn err(header: &str, data: &[u8], tensor: Option<&str>) -> E {
    let e = open(header, data).expect_err(header);
    if let Some(t) = tensor {
        assert!(
            e.to_string().contains(&format!("{t:?}")),
            "message lacks {t:?}: {e}"
        );
    }
    assert!(
        e.to_string().contains("<safetensors bytes in memory>"),
        "{e}"
    );
    e
}

#[test]
fn valid_minimal_files() {
    let f = open("{}", &[]).unwrap();
    assert_eq!(f.n_tensors(), 0);
    let f = open(
        r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}   "#,
        &[0; 8],
    )
    .unwrap();
    assert_eq!(f.tensor("a").unwrap().shape, vec![2]);
    // Gaps and trailing bytes are tolerated; zero-length tensors may sit anywhere.
    let h = r#"{"a":{"dtype":"F16","shape":[1],"data_offsets":[4,6]},"z":{"dtype":"BF16","shape":[0],"data_offsets":[5,5]}}"#;
    let f = open(h, &[0; 10]).unwrap();
    assert_eq!(f.tensor_data(f.tensor("a").unwrap()).len(), 2);
    assert!(f.tensor_data(f.tensor("z").unwrap()).is_empty());
}

#[test]
fn file_and_header_bounds() {
    for len in 0..8 {
        let e = SafetensorsFile::from_bytes(vec![0; len]).unwrap_err();
        assert!(matches!(e, E::TooShort { .. }), "{e}");
    }
    for n in [MAX_SAFETENSORS_HEADER + 1, u64::MAX] {
        let mut bytes = n.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"{}");
        let e = SafetensorsFile::from_bytes(bytes).unwrap_err();
        assert!(matches!(e, E::HeaderTooLarge { .. }), "{e}");
    }
    let mut bytes = 3u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    let e = SafetensorsFile::from_bytes(bytes).unwrap_err();
    assert!(
        matches!(
            e,
            E::HeaderOutOfBounds {
                header_len: 3,
                file_len: 10,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn header_json_errors() {
    for h in ["", "{", "{\"a\":}", "nul", "{} x"] {
        assert!(matches!(err(h, &[], None), E::InvalidJson { .. }), "{h}");
    }
    let mut bytes = 4u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"\"\xff\"}");
    assert!(matches!(
        SafetensorsFile::from_bytes(bytes),
        Err(E::InvalidJson { .. })
    ));
    for h in ["[]", "3", "null", "\"x\""] {
        assert!(matches!(err(h, &[], None), E::BadHeader { .. }), "{h}");
    }
    for h in [r#"{"__metadata__":[]}"#, r#"{"__metadata__":{"k":1}}"#] {
        assert!(matches!(err(h, &[], None), E::BadHeader { .. }), "{h}");
    }
}

#[test]
fn entry_shape_errors() {
    let cases = [
        r#"{"t":3}"#,
        r#"{"t":{"shape":[1],"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":[1]}}"#,
        r#"{"t":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":1,"data_offsets":[0,4]}}"#,
        r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0]}}"#,
        r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}"#,
        r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,"4"]}}"#,
    ];
    for h in cases {
        assert!(
            matches!(err(h, &[0; 8], Some("t")), E::BadEntry { .. }),
            "{h}"
        );
    }
}

#[test]
fn unsupported_dtypes_name_the_tensor() {
    for d in ["I64", "F64", "U8", "BOOL", "F8_E4M3", "bf16", "XYZ"] {
        let h = format!(r#"{{"w.x":{{"dtype":"{d}","shape":[1],"data_offsets":[0,8]}}}}"#);
        let e = err(&h, &[0; 8], Some("w.x"));
        assert!(
            matches!(&e, E::UnsupportedDtype { dtype, .. } if dtype == d),
            "{e}"
        );
        assert!(e.to_string().contains(d), "{e}");
    }
}

#[test]
fn size_offset_and_overflow_errors() {
    let e = err(
        r#"{"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
        &[0; 16],
        Some("t"),
    );
    assert!(
        matches!(
            e,
            E::SizeMismatch {
                expected: 12,
                got: 8,
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        r#"{"t":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,16]}}"#,
        &[0; 16],
        Some("t"),
    );
    assert!(
        matches!(
            e,
            E::SizeMismatch {
                expected: 8,
                got: 16,
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        r#"{"t":{"dtype":"F16","shape":[1],"data_offsets":[6,4]}}"#,
        &[0; 8],
        Some("t"),
    );
    assert!(
        matches!(
            e,
            E::BadOffsets {
                begin: 6,
                end: 4,
                ..
            }
        ),
        "{e}"
    );
    let e = err(
        r#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        &[0; 8],
        Some("t"),
    );
    assert!(matches!(e, E::TensorOutOfBounds { data_len: 8, .. }), "{e}");
    let big = r#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}}"#;
    assert!(matches!(
        err(big, &[0; 8], Some("t")),
        E::TensorOutOfBounds { .. } | E::SizeMismatch { .. }
    ));
    for shape in [
        "[4294967296,4294967296]",
        "[4611686018427387904]",
        "[18446744073709551615,2]",
    ] {
        let h = format!(r#"{{"t":{{"dtype":"F32","shape":{shape},"data_offsets":[0,4]}}}}"#);
        assert!(
            matches!(err(&h, &[0; 8], Some("t")), E::ShapeOverflow { .. }),
            "{shape}"
        );
    }
    // A zero in the shape makes an otherwise huge shape empty: valid.
    let h = r#"{"t":{"dtype":"F32","shape":[18446744073709551615,0],"data_offsets":[0,0]}}"#;
    assert!(open(h, &[]).is_ok());
}

#[test]
fn overlapping_tensors() {
    let h = r#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    let e = err(h, &[0; 8], None);
    assert!(
        matches!(&e, E::OverlappingTensors { first, second, .. } if first == "a" && second == "b"),
        "{e}"
    );
    // Same range twice.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#;
    assert!(matches!(
        err(h, &[0; 4], None),
        E::OverlappingTensors { .. }
    ));
    // A later tensor inside a long earlier one, past a short one in between.
    let h = r#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"c":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}"#;
    assert!(matches!(
        err(h, &[0; 16], None),
        E::OverlappingTensors { .. }
    ));
    // Touching ranges do not overlap.
    let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#;
    assert!(open(h, &[0; 8]).is_ok());
}

fn sample_bytes() -> Vec<u8> {
    let mut w = SafetensorsWriter::new();
    w.metadata("format", "pt")
        .add_f32("a.weight", &[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .add(
            "b.weight",
            DType::BF16,
            &[3],
            &[0x80, 0x3f, 0, 0x40, 0, 0xc0],
        )
        .add("c.weight", DType::F16, &[1, 2], &[0, 0x3c, 0, 0xc0]);
    w.to_bytes().unwrap()
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let full = sample_bytes();
    assert!(SafetensorsFile::from_bytes(full.clone()).is_ok());
    for len in 0..full.len() {
        let r = SafetensorsFile::from_bytes(full[..len].to_vec());
        assert!(r.is_err(), "prefix of {len} bytes accepted");
    }
}

#[test]
fn byte_flips_never_panic() {
    let full = sample_bytes();
    for i in 0..full.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = full.clone();
            b[i] ^= x;
            if let Ok(f) = SafetensorsFile::from_bytes(b) {
                for t in f.tensors() {
                    assert_eq!(f.tensor_data(t).len() as u64, t.n_bytes());
                }
            }
        }
    }
}

#[test]
fn foreign_info_gives_empty_data() {
    let f = SafetensorsFile::from_bytes(sample_bytes()).unwrap();
    let mut t = f.tensor("a.weight").unwrap().clone();
    t.begin = u64::MAX - 2;
    t.end = u64::MAX;
    assert!(f.tensor_data(&t).is_empty());
}
