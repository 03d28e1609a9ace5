//! Parsing and validating the GGUF header, metadata and tensor infos.
//!
//! Everything a later accessor relies on is checked here, so that accessors
//! never panic: lengths against the bytes left (before allocating), value
//! types, shapes, element types, alignment and tensor bounds.

use std::collections::HashMap;
use std::path::Path;

use gemma_kernels::DType;

use crate::cursor::Cursor;
use crate::error::GgufError;
use crate::names::general;
use crate::tensor::{ggml_type_name, TensorInfo, MAX_DIMS};
use crate::value::{Value, ValueType};

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";

/// The alignment used when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// The deepest array nesting accepted (guards the recursion against crafted files).
pub const MAX_ARRAY_DEPTH: usize = 32;

/// Smallest possible metadata entry: empty key (8) + type (4) + one-byte value.
const MIN_KV_BYTES: u64 = 8 + 4 + 1;
/// Smallest possible tensor info: empty name (8) + n_dims (4) + one dim (8) + type (4) + offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 4 + 8 + 4 + 8;

/// The validated contents of a GGUF file (everything but the tensor bytes).
pub(crate) struct Parsed {
    pub version: u32,
    pub alignment: u64,
    pub data_offset: u64,
    pub metadata: Vec<(String, Value)>,
    pub key_index: HashMap<String, usize>,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
}

/// Parses and validates a whole file.
pub(crate) fn parse(buf: &[u8], path: Option<&Path>) -> Result<Parsed, GgufError> {
    let mut cur = Cursor::new(buf, path);
    let magic = cur.take(4, || "magic".into())?;
    if magic != MAGIC {
        let mut found = [0u8; 4];
        found.copy_from_slice(magic);
        return Err(GgufError::BadMagic {
            path: cur.path(),
            found,
        });
    }
    let version = cur.u32(|| "version".into())?;
    if version != 2 && version != 3 {
        return Err(GgufError::UnsupportedVersion {
            path: cur.path(),
            version,
        });
    }
    let n_tensors = cur.u64(|| "tensor count".into())?;
    let n_kv = cur.u64(|| "metadata entry count".into())?;
    check_count(&cur, 16, n_kv, MIN_KV_BYTES, "metadata entry count")?;
    // The tensor infos follow the metadata; this early check is loose, the exact
    // one happens when the infos are reached.
    check_count(&cur, 8, n_tensors, MIN_TENSOR_INFO_BYTES, "tensor count")?;

    let (metadata, key_index) = parse_metadata(&mut cur, n_kv)?;
    let alignment = alignment(&cur, &metadata, &key_index)?;

    check_count(&cur, 8, n_tensors, MIN_TENSOR_INFO_BYTES, "tensor count")?;
    let mut tensors = Vec::with_capacity(initial_capacity(n_tensors));
    let mut tensor_index = HashMap::with_capacity(initial_capacity(n_tensors));
    for i in 0..n_tensors {
        let start = cur.pos();
        let info = parse_tensor_info(&mut cur, i, alignment)?;
        if tensor_index
            .insert(info.name.clone(), tensors.len())
            .is_some()
        {
            return Err(GgufError::DuplicateTensor {
                path: cur.path(),
                offset: start,
                tensor: info.name,
            });
        }
        tensors.push(info);
    }

    // The data section starts at the next multiple of the alignment. A file without
    // tensors may end before it.
    let data_offset = cur.aligned_pos(alignment).unwrap_or(u64::MAX);
    check_tensor_bounds(&cur, &tensors, data_offset, buf.len() as u64)?;

    Ok(Parsed {
        version,
        alignment,
        data_offset,
        metadata,
        key_index,
        tensors,
        tensor_index,
    })
}

/// Capacity to reserve for `count` items whose count was checked against the bytes
/// left. Capped, so that what is allocated stays proportional to what has actually been
/// parsed: nested arrays could otherwise each reserve for the whole rest of the file
/// before their elements turn out to be missing.
fn initial_capacity(count: u64) -> usize {
    count.min(1 << 16) as usize
}

/// Rejects a count that cannot fit in the bytes left after the cursor.
fn check_count(
    cur: &Cursor<'_>,
    offset: u64,
    count: u64,
    min: u64,
    what: &str,
) -> Result<(), GgufError> {
    let remaining = cur.remaining();
    if count.checked_mul(min).is_some_and(|need| need <= remaining) {
        return Ok(());
    }
    Err(GgufError::CountTooLarge {
        path: cur.path(),
        offset,
        what: what.to_string(),
        count,
        min_item_bytes: min,
        remaining,
    })
}

type Metadata = (Vec<(String, Value)>, HashMap<String, usize>);

fn parse_metadata(cur: &mut Cursor<'_>, n_kv: u64) -> Result<Metadata, GgufError> {
    let mut metadata = Vec::with_capacity(initial_capacity(n_kv));
    let mut index = HashMap::with_capacity(initial_capacity(n_kv));
    for i in 0..n_kv {
        let start = cur.pos();
        let key = cur.string(|| format!("key of metadata entry #{i}"))?;
        if index.contains_key(&key) {
            return Err(GgufError::DuplicateKey {
                path: cur.path(),
                offset: start,
                key,
            });
        }
        let type_offset = cur.pos();
        let type_id = cur.u32(|| format!("value type of key {key:?}"))?;
        let vtype = value_type(cur, type_offset, type_id, &key)?;
        let value = parse_value(cur, vtype, &key, 0)?;
        index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }
    Ok((metadata, index))
}

fn value_type(
    cur: &Cursor<'_>,
    offset: u64,
    type_id: u32,
    key: &str,
) -> Result<ValueType, GgufError> {
    ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
        path: cur.path(),
        offset,
        key: key.to_string(),
        type_id,
    })
}

fn parse_value(
    cur: &mut Cursor<'_>,
    vtype: ValueType,
    key: &str,
    depth: usize,
) -> Result<Value, GgufError> {
    let what = || format!("{} value of key {key:?}", vtype.name());
    Ok(match vtype {
        ValueType::U8 => Value::U8(cur.u8(what)?),
        ValueType::I8 => Value::I8(cur.u8(what)? as i8),
        ValueType::U16 => Value::U16(cur.u16(what)?),
        ValueType::I16 => Value::I16(cur.u16(what)? as i16),
        ValueType::U32 => Value::U32(cur.u32(what)?),
        ValueType::I32 => Value::I32(cur.u32(what)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(cur.u32(what)?)),
        ValueType::Bool => Value::Bool(cur.u8(what)? != 0),
        ValueType::U64 => Value::U64(cur.u64(what)?),
        ValueType::I64 => Value::I64(cur.u64(what)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(cur.u64(what)?)),
        ValueType::String => Value::String(cur.string(|| format!("string value of key {key:?}"))?),
        ValueType::Array => {
            let start = cur.pos();
            if depth >= MAX_ARRAY_DEPTH {
                return Err(GgufError::NestingTooDeep {
                    path: cur.path(),
                    offset: start,
                    key: key.to_string(),
                    max_depth: MAX_ARRAY_DEPTH,
                });
            }
            let type_id = cur.u32(|| format!("array element type of key {key:?}"))?;
            let elem = value_type(cur, start, type_id, key)?;
            let n = cur.count(elem.min_size(), || format!("array length of key {key:?}"))?;
            let mut items = Vec::with_capacity(initial_capacity(n));
            for _ in 0..n {
                items.push(parse_value(cur, elem, key, depth + 1)?);
            }
            Value::Array(items)
        }
    })
}

fn alignment(
    cur: &Cursor<'_>,
    metadata: &[(String, Value)],
    index: &HashMap<String, usize>,
) -> Result<u64, GgufError> {
    let Some(&i) = index.get(general::ALIGNMENT) else {
        return Ok(DEFAULT_ALIGNMENT);
    };
    let value = &metadata[i].1;
    match value.as_integer() {
        Some(a) if a > 0 && a <= i128::from(u32::MAX) && (a as u64).is_power_of_two() => {
            Ok(a as u64)
        }
        _ => Err(GgufError::BadAlignment {
            path: cur.path(),
            found: format!("{} ({})", value, value.describe_type()),
        }),
    }
}

fn parse_tensor_info(
    cur: &mut Cursor<'_>,
    i: u64,
    alignment: u64,
) -> Result<TensorInfo, GgufError> {
    let name = cur.string(|| format!("name of tensor #{i}"))?;
    let n_dims_offset = cur.pos();
    let n_dims = cur.u32(|| format!("dimension count of tensor {name:?}"))?;
    if n_dims == 0 || n_dims as usize > MAX_DIMS {
        return Err(GgufError::BadDimCount {
            path: cur.path(),
            offset: n_dims_offset,
            tensor: name,
            n_dims,
        });
    }
    let dims_offset = cur.pos();
    let mut dims = Vec::with_capacity(n_dims as usize);
    for d in 0..n_dims {
        dims.push(cur.u64(|| format!("dimension {d} of tensor {name:?}"))?);
    }
    let type_offset = cur.pos();
    let type_id = cur.u32(|| format!("type of tensor {name:?}"))?;
    let offset_offset = cur.pos();
    let offset = cur.u64(|| format!("data offset of tensor {name:?}"))?;

    if let Some(index) = dims.iter().position(|&d| d == 0) {
        return Err(GgufError::ZeroDim {
            path: cur.path(),
            offset: dims_offset + 8 * index as u64,
            tensor: name,
            index,
        });
    }
    let Some(n_elements) = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)) else {
        return Err(GgufError::ShapeOverflow {
            path: cur.path(),
            offset: dims_offset,
            tensor: name,
            dims,
        });
    };
    let Some(dtype) = DType::from_ggml_id(type_id) else {
        return Err(GgufError::UnsupportedTensorType {
            path: cur.path(),
            offset: type_offset,
            tensor: name,
            type_id,
            type_name: ggml_type_name(type_id),
        });
    };
    let block_len = dtype.block_len() as u64;
    if dims[0] % block_len != 0 {
        return Err(GgufError::BadRowLength {
            path: cur.path(),
            offset: dims_offset,
            tensor: name,
            dtype,
            row_len: dims[0],
            block_len,
        });
    }
    // The row length is a whole number of blocks, so `None` here means overflow.
    let Some(n_bytes) = dtype.bytes_for(n_elements) else {
        return Err(GgufError::ShapeOverflow {
            path: cur.path(),
            offset: dims_offset,
            tensor: name,
            dims,
        });
    };
    if offset % alignment != 0 {
        return Err(GgufError::MisalignedTensor {
            path: cur.path(),
            offset: offset_offset,
            tensor: name,
            data_offset: offset,
            alignment,
        });
    }
    Ok(TensorInfo {
        name,
        dims,
        dtype,
        offset,
        n_elements,
        n_bytes,
    })
}

/// Every tensor lies inside the file, and no two overlap.
fn check_tensor_bounds(
    cur: &Cursor<'_>,
    tensors: &[TensorInfo],
    data_offset: u64,
    file_size: u64,
) -> Result<(), GgufError> {
    for t in tensors {
        let end = data_offset
            .checked_add(t.offset)
            .and_then(|s| s.checked_add(t.n_bytes));
        let inside = matches!(end, Some(e) if e <= file_size);
        if !inside {
            return Err(GgufError::TensorOutOfBounds {
                path: cur.path(),
                tensor: t.name.clone(),
                data_offset: t.offset,
                n_bytes: t.n_bytes,
                data_start: data_offset,
                file_size,
            });
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // In bounds, so these sums do not overflow.
        if a.offset + a.n_bytes > b.offset {
            return Err(GgufError::OverlappingTensors {
                path: cur.path(),
                first: a.name.clone(),
                first_start: a.offset,
                first_end: a.offset + a.n_bytes,
                second: b.name.clone(),
                second_start: b.offset,
            });
        }
    }
    Ok(())
}
