//! Shared test helpers: a raw GGUF byte builder for malformed files, a rich valid file
//! made with our writer, and bitwise value comparison.
#![allow(dead_code)]

use gemma_formats::writer::GgufWriter;
use gemma_formats::{DType, GgufFile, Value};

/// Little-endian byte encoders for hand-made (possibly malformed) GGUF pieces.
pub fn u32le(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// `v` as 8 little-endian bytes.
pub fn u64le(v: u64) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A GGUF string: u64 length + bytes.
pub fn gstr(s: &[u8]) -> Vec<u8> {
    let mut out = u64le(s.len() as u64);
    out.extend_from_slice(s);
    out
}

/// A metadata entry: key, type id, payload.
pub fn kv(key: &str, type_id: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = gstr(key.as_bytes());
    out.extend(u32le(type_id));
    out.extend_from_slice(payload);
    out
}

/// An array payload: element type, count, then the raw items.
pub fn arr(elem_type: u32, count: u64, items: &[u8]) -> Vec<u8> {
    let mut out = u32le(elem_type);
    out.extend(u64le(count));
    out.extend_from_slice(items);
    out
}

/// A tensor info, written field by field exactly as given.
#[derive(Clone, Debug)]
pub struct RawTensor {
    pub name: Vec<u8>,
    pub n_dims: u32,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub offset: u64,
}

impl RawTensor {
    pub fn new(name: &str, dims: &[u64], type_id: u32, offset: u64) -> Self {
        RawTensor {
            name: name.as_bytes().to_vec(),
            n_dims: dims.len() as u32,
            dims: dims.to_vec(),
            type_id,
            offset,
        }
    }
}

/// A whole file, field by field; `build` writes exactly these fields.
#[derive(Clone, Debug)]
pub struct RawFile {
    pub magic: [u8; 4],
    pub version: u32,
    /// Header counts; `None` = the real counts.
    pub n_tensors: Option<u64>,
    pub n_kv: Option<u64>,
    pub kvs: Vec<Vec<u8>>,
    pub tensors: Vec<RawTensor>,
    /// Padding before the data section.
    pub alignment: usize,
    pub data: Vec<u8>,
}

impl RawFile {
    /// A valid baseline: a string, an array and an alignment entry; an F32 [4] tensor at
    /// 0 and a Q8_0 [32, 2] tensor at 32.
    pub fn valid() -> Self {
        let mut data = vec![0u8; 32 + 68];
        for (i, b) in data.iter_mut().enumerate() {
            *b = i as u8;
        }
        RawFile {
            magic: *b"GGUF",
            version: 3,
            n_tensors: None,
            n_kv: None,
            kvs: vec![
                kv("general.architecture", 8, &gstr(b"gemma3")),
                kv("general.alignment", 4, &u32le(32)),
                kv(
                    "test.ids",
                    9,
                    &arr(5, 3, &[u32le(1), u32le(2), u32le(3)].concat()),
                ),
            ],
            tensors: vec![
                RawTensor::new("a", &[4], 0, 0),
                RawTensor::new("b", &[32, 2], 8, 32),
            ],
            alignment: 32,
            data,
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let mut out = self.magic.to_vec();
        out.extend(u32le(self.version));
        out.extend(u64le(self.n_tensors.unwrap_or(self.tensors.len() as u64)));
        out.extend(u64le(self.n_kv.unwrap_or(self.kvs.len() as u64)));
        for kv in &self.kvs {
            out.extend_from_slice(kv);
        }
        for t in &self.tensors {
            out.extend(gstr(&t.name));
            out.extend(u32le(t.n_dims));
            for &d in &t.dims {
                out.extend(u64le(d));
            }
            out.extend(u32le(t.type_id));
            out.extend(u64le(t.offset));
        }
        let padded = out.len().div_ceil(self.alignment) * self.alignment;
        out.resize(padded, 0);
        out.extend_from_slice(&self.data);
        out
    }
}

/// A nested array value `depth` levels deep around a single u8.
pub fn nested(depth: usize) -> Value {
    let mut v = Value::U8(7);
    for _ in 0..depth {
        v = Value::Array(vec![v]);
    }
    v
}

/// A valid file with every value type, nested arrays and three tensor types.
pub fn rich_writer() -> GgufWriter {
    let mut w = GgufWriter::new();
    w.add("general.architecture", "gemma3")
        .add("general.name", "tiny ▁test")
        .add("t.u8", 200u8)
        .add("t.i8", -5i8)
        .add("t.u16", 60000u16)
        .add("t.i16", -30000i16)
        .add("t.u32", 4_000_000_000u32)
        .add("t.i32", -7i32)
        .add("t.f32", 0.25f32)
        .add("t.bool", true)
        .add("t.u64", u64::MAX)
        .add("t.i64", i64::MIN)
        .add("t.f64", -1.0e-300f64)
        .add("t.strs", vec!["<pad>", "<eos>", "", "▁hi"])
        .add("t.f32s", vec![0.0f32, -1.5, 3.25])
        .add("t.i32s", vec![1i32, -2, 3])
        .add("t.bools", vec![true, false])
        .add("t.empty", Value::Array(vec![]))
        .add(
            "t.nested",
            Value::Array(vec![
                vec![1u16, 2].into(),
                vec!["x"].into(),
                Value::Array(vec![]),
            ]),
        )
        .add("t.deep", nested(4));
    let q8: Vec<u8> = (0..2 * 34).map(|i| (i * 7) as u8).collect();
    let q4k: Vec<u8> = (0..144).map(|i| (i * 13 + 1) as u8).collect();
    w.add_f32_tensor("f", &[3, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        .add_tensor("q8", &[32, 2], DType::Q8_0, q8)
        .add_tensor("q4k", &[256], DType::Q4_K, q4k);
    w
}

/// The bytes of [`rich_writer`].
pub fn rich_bytes() -> Vec<u8> {
    rich_writer().to_bytes().expect("rich file is valid")
}

/// Equality that compares floats by bit pattern (so NaN == NaN and 0.0 != -0.0).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        _ => a == b,
    }
}

/// Touches every accessor of an opened file and checks the invariants the reader promises.
pub fn exercise(f: &GgufFile) {
    for (key, value) in f.metadata() {
        let _ = format!("{value} {value:#} {}", value.type_name());
        assert!(same(f.get(key).expect("key indexed"), value));
        let _ = f.get_str(key);
        let _ = f.get_u64(key);
        let _ = f.get_u32(key);
        let _ = f.get_f32(key);
        let _ = f.get_bool(key);
        let _ = f.get_str_array(key);
        let _ = f.get_f32_array(key);
        let _ = f.get_i32_array(key);
    }
    assert!(f.alignment().is_power_of_two());
    assert_eq!(f.data_offset() % f.alignment(), 0);
    for t in f.tensors() {
        assert_eq!(f.tensor(&t.name), Some(t));
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes);
        assert!((1..=4).contains(&t.dims.len()));
        assert_eq!(t.dims.iter().product::<u64>(), t.n_elements);
        assert_eq!(t.row_bytes() * t.n_rows(), t.n_bytes);
        assert_eq!(t.offset % f.alignment(), 0);
        assert!(f.data_offset() + t.offset + t.n_bytes <= f.file_size());
        let _ = t.to_string();
    }
}
