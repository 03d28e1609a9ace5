//! Arrow IPC data (the stream format Hugging Face `datasets` writes, or the file format) read
//! into JSON rows: structs become objects, lists arrays, nulls `null`.
//!
//! Decoding is arrow-rs's (`arrow-ipc`, which verifies the flatbuffers and validates every
//! array); the conversion to JSON is ours, column by column. A stream must end with its
//! end-of-stream marker: the IPC stream format has no row count, so a file cut at a message
//! boundary would otherwise read as a shorter, valid stream.
//!
//! arrow-ipc 60 still panics on some corrupt inputs (a buffer outside its message body or not
//! aligned, a length that overflows), so the message framing and buffer bounds are checked here
//! first, and decoding runs under `catch_unwind` as a last guard (it still asserts on a buffer
//! whose length is not a multiple of its element width: that panic message reaches stderr, the
//! caller gets an error).

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type,
    UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrowPrimitiveType, OffsetSizeTrait, RecordBatch};
use arrow_buffer::Buffer;
use arrow_ipc::reader::{FileReader, StreamDecoder};
use arrow_schema::DataType;
use serde_json::{Map, Number, Value};

use crate::EvalError;

/// The first bytes of an Arrow IPC *file* (the stream format has no magic).
const FILE_MAGIC: &[u8] = b"ARROW1";
/// Marks a message in the stream format since Arrow 0.15.
const CONTINUATION: [u8; 4] = [0xff; 4];
/// The end-of-stream marker: a continuation and a zero length.
const END_OF_STREAM: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
/// The end-of-stream marker of streams written before Arrow 0.15 (no continuation).
const LEGACY_END_OF_STREAM: [u8; 4] = [0; 4];

/// Every row of the Arrow IPC stream (or file) at `path`, as a JSON object keyed by column.
///
/// Nested structs become objects, lists (also large and fixed-size lists, and maps, as lists of
/// `{key, value}` objects) become arrays, nulls `null`; booleans, integers, floats (NaN and
/// infinities as `null`) and strings map to themselves, binary to arrays of byte values, and
/// dictionary-encoded columns to their values. Other types (dates, decimals…) are an error
/// naming the column. A corrupt or truncated file is an [`EvalError::Data`], never a panic.
pub fn read_rows(path: &Path) -> Result<Vec<Map<String, Value>>, EvalError> {
    let bytes = std::fs::read(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    rows_from_bytes(bytes).map_err(|msg| EvalError::Data {
        path: path.to_path_buf(),
        msg,
    })
}

/// [`read_rows`] over bytes in memory; the error is the message of an [`EvalError::Data`].
fn rows_from_bytes(bytes: Vec<u8>) -> Result<Vec<Map<String, Value>>, String> {
    // arrow-rs returns errors for the malformed inputs we know of; the guard turns any panic
    // left in a decoder of untrusted bytes into an error as well.
    catch_unwind(AssertUnwindSafe(|| {
        let batches = decode(bytes)?;
        let mut rows = Vec::new();
        for batch in &batches {
            batch_rows(batch, &mut rows)?;
        }
        Ok(rows)
    }))
    .unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!("corrupt Arrow data (the decoder failed: {what})"))
    })
}

/// The record batches of an IPC file or stream.
fn decode(bytes: Vec<u8>) -> Result<Vec<RecordBatch>, String> {
    if bytes.starts_with(FILE_MAGIC) {
        // Messages lie between the 8-byte magic and the footer (its length, then the magic, in
        // the last 10 bytes); a bad trailer is left for the reader to report.
        let footer = bytes
            .len()
            .checked_sub(10)
            .and_then(|at| bytes.get(at..at + 4))
            .and_then(|b| b.try_into().ok())
            .map(i32::from_le_bytes)
            .and_then(|n| usize::try_from(n).ok());
        if let Some(start) = footer.and_then(|n| bytes.len().checked_sub(10 + n)) {
            check_messages(bytes.get(8..start).unwrap_or_default())?;
        }
        let reader = FileReader::try_new(Cursor::new(bytes), None)
            .map_err(|e| format!("not a readable Arrow IPC file (corrupt or truncated): {e}"))?;
        return reader
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("corrupt Arrow IPC file: {e}"));
    }
    if bytes.is_empty() {
        return Err("the file is empty; expected an Arrow IPC stream".to_string());
    }
    let ended = if bytes.starts_with(&CONTINUATION) {
        bytes.ends_with(&END_OF_STREAM)
    } else {
        bytes.ends_with(&LEGACY_END_OF_STREAM)
    };
    if !ended {
        return Err(format!(
            "truncated or not Arrow: an Arrow IPC stream ends with the end-of-stream marker \
             {END_OF_STREAM:02x?}, this file ({} bytes) does not",
            bytes.len()
        ));
    }
    check_messages(&bytes)?;
    let mut decoder = StreamDecoder::new();
    let mut buffer = Buffer::from_vec(bytes);
    let mut batches = Vec::new();
    while !buffer.is_empty() {
        let batch = decoder
            .decode(&mut buffer)
            .map_err(|e| format!("corrupt Arrow IPC stream: {e}"))?;
        batches.extend(batch);
    }
    decoder
        .finish()
        .map_err(|e| format!("truncated Arrow IPC stream: {e}"))?;
    if decoder.schema().is_none() {
        return Err("no schema message: not an Arrow IPC stream".to_string());
    }
    Ok(batches)
}

/// Longest column or batch accepted (rows): far above any data set, and low enough that no
/// length computation in the decoder can overflow.
const MAX_LEN: i64 = u32::MAX as i64;

/// Walks the IPC messages in `bytes` (stream framing, up to the end-of-stream marker or the end)
/// and checks what arrow-ipc would otherwise assert on: each message and body inside the data,
/// each buffer inside its body, lengths plausible.
fn check_messages(bytes: &[u8]) -> Result<(), String> {
    let mut pos = 0usize;
    let word = |at: usize| -> Result<u32, String> {
        bytes
            .get(at..at.saturating_add(4))
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(|| format!("truncated Arrow IPC data: message header at byte {at}"))
    };
    while pos < bytes.len() {
        let mut size = word(pos)?;
        pos += 4;
        if size == u32::from_le_bytes(CONTINUATION) {
            size = word(pos)?;
            pos += 4;
        }
        if size == 0 {
            return Ok(());
        }
        let at = pos;
        let meta = usize::try_from(size)
            .ok()
            .and_then(|n| bytes.get(pos..pos.checked_add(n)?))
            .ok_or_else(|| format!("truncated Arrow IPC data: message at byte {at}"))?;
        pos += meta.len();
        // Writers pad the metadata so that the body starts 8-byte aligned.
        if !pos.is_multiple_of(8) {
            return Err(format!(
                "corrupt Arrow IPC data: the message at byte {at} has a misaligned body"
            ));
        }
        let message = arrow_ipc::root_as_message(meta)
            .map_err(|e| format!("corrupt Arrow IPC message at byte {at}: {e}"))?;
        let body = message.bodyLength();
        let batch = message
            .header_as_record_batch()
            .or_else(|| message.header_as_dictionary_batch().and_then(|d| d.data()));
        if let Some(batch) = batch {
            let bad = |what: &str| format!("corrupt Arrow IPC record batch at byte {at}: {what}");
            if !(0..=MAX_LEN).contains(&batch.length()) {
                return Err(bad("implausible row count"));
            }
            for node in batch.nodes().iter().flatten() {
                if !(0..=MAX_LEN).contains(&node.length())
                    || !(0..=node.length()).contains(&node.null_count())
                {
                    return Err(bad("implausible column length"));
                }
            }
            for buffer in batch.buffers().iter().flatten() {
                let end = buffer.offset().checked_add(buffer.length());
                if buffer.offset() < 0 || buffer.length() < 0 || end.is_none_or(|e| e > body) {
                    return Err(bad("a buffer lies outside the message body"));
                }
                // The IPC format pads every buffer to a multiple of 8 bytes.
                if buffer.offset() % 8 != 0 {
                    return Err(bad("a buffer is not 8-byte aligned"));
                }
            }
        }
        let body = usize::try_from(body)
            .ok()
            .filter(|&n| n <= bytes.len() - pos)
            .ok_or_else(|| format!("truncated Arrow IPC data: message body at byte {pos}"))?;
        pos += body;
    }
    Ok(())
}

/// Appends the rows of `batch` to `rows`.
fn batch_rows(batch: &RecordBatch, rows: &mut Vec<Map<String, Value>>) -> Result<(), String> {
    let schema = batch.schema();
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        columns.push((field.name(), values(column.as_ref(), field.name())?));
    }
    for i in 0..batch.num_rows() {
        let mut row = Map::new();
        for (name, column) in &mut columns {
            let v = column.get_mut(i).map(std::mem::take).unwrap_or_default();
            row.insert(name.to_string(), v);
        }
        rows.push(row);
    }
    Ok(())
}

/// The JSON value of each element of `array`; `path` names the column in errors.
fn values(array: &dyn Array, path: &str) -> Result<Vec<Value>, String> {
    let n = array.len();
    let mismatch = || {
        format!(
            "column {path}: array does not match its type {}",
            array.data_type()
        )
    };
    let mut out: Vec<Value> = match array.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => {
            let a = array.as_boolean_opt().ok_or_else(mismatch)?;
            (0..n).map(|i| Value::Bool(a.value(i))).collect()
        }
        DataType::Int8 => primitive::<Int8Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::Int16 => primitive::<Int16Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::Int32 => primitive::<Int32Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::Int64 => primitive::<Int64Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::UInt8 => primitive::<UInt8Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::UInt16 => primitive::<UInt16Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::UInt32 => primitive::<UInt32Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::UInt64 => primitive::<UInt64Type>(array, Value::from).ok_or_else(mismatch)?,
        DataType::Float16 => {
            primitive::<Float16Type>(array, |v| f32_value(v.to_f32())).ok_or_else(mismatch)?
        }
        DataType::Float32 => primitive::<Float32Type>(array, f32_value).ok_or_else(mismatch)?,
        DataType::Float64 => primitive::<Float64Type>(array, f64_value).ok_or_else(mismatch)?,
        DataType::Utf8 => {
            let a = array.as_string_opt::<i32>().ok_or_else(mismatch)?;
            (0..n).map(|i| Value::from(a.value(i))).collect()
        }
        DataType::LargeUtf8 => {
            let a = array.as_string_opt::<i64>().ok_or_else(mismatch)?;
            (0..n).map(|i| Value::from(a.value(i))).collect()
        }
        DataType::Utf8View => {
            let a = array.as_string_view_opt().ok_or_else(mismatch)?;
            (0..n).map(|i| Value::from(a.value(i))).collect()
        }
        DataType::Binary => {
            let a = array.as_binary_opt::<i32>().ok_or_else(mismatch)?;
            (0..n).map(|i| bytes_value(a.value(i))).collect()
        }
        DataType::LargeBinary => {
            let a = array.as_binary_opt::<i64>().ok_or_else(mismatch)?;
            (0..n).map(|i| bytes_value(a.value(i))).collect()
        }
        DataType::BinaryView => {
            let a = array.as_binary_view_opt().ok_or_else(mismatch)?;
            (0..n).map(|i| bytes_value(a.value(i))).collect()
        }
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary_opt().ok_or_else(mismatch)?;
            (0..n).map(|i| bytes_value(a.value(i))).collect()
        }
        DataType::List(_) => list::<i32>(array, path)?.ok_or_else(mismatch)?,
        DataType::LargeList(_) => list::<i64>(array, path)?.ok_or_else(mismatch)?,
        DataType::FixedSizeList(_, size) => {
            let a = array.as_fixed_size_list_opt().ok_or_else(mismatch)?;
            let size = usize::try_from(*size).map_err(|_| mismatch())?;
            let mut child = values(a.values().as_ref(), path)?;
            let ranges = (0..n).map(|i| {
                let start = i.saturating_mul(size);
                (start, start.saturating_add(size))
            });
            split(&mut child, ranges).ok_or_else(mismatch)?
        }
        DataType::Map(_, _) => {
            let a = array.as_map_opt().ok_or_else(mismatch)?;
            let mut child = values(a.entries(), path)?;
            split(&mut child, offset_ranges(a.value_offsets())).ok_or_else(mismatch)?
        }
        DataType::Struct(_) => {
            let a = array.as_struct_opt().ok_or_else(mismatch)?;
            let mut children = Vec::with_capacity(a.num_columns());
            for (field, column) in a.fields().iter().zip(a.columns()) {
                let child_path = format!("{path}.{}", field.name());
                children.push((field.name(), values(column.as_ref(), &child_path)?));
            }
            (0..n)
                .map(|i| {
                    let mut object = Map::new();
                    for (name, child) in &mut children {
                        let v = child.get_mut(i).map(std::mem::take).unwrap_or_default();
                        object.insert(name.to_string(), v);
                    }
                    Value::Object(object)
                })
                .collect()
        }
        DataType::Dictionary(_, _) => {
            let a = array.as_any_dictionary_opt().ok_or_else(mismatch)?;
            let dictionary = values(a.values().as_ref(), path)?;
            let keys = a.normalized_keys();
            keys.iter()
                .map(|&k| dictionary.get(k).cloned().unwrap_or_default())
                .collect()
        }
        other => {
            return Err(format!(
                "column {path}: Arrow type {other} is not supported (supported: null, bool, \
                 integers, floats, strings, binary, lists, structs, maps, dictionaries)"
            ))
        }
    };
    if out.len() != n {
        return Err(mismatch());
    }
    if let Some(nulls) = array.logical_nulls() {
        for (i, v) in out.iter_mut().enumerate() {
            if nulls.is_null(i) {
                *v = Value::Null;
            }
        }
    }
    Ok(out)
}

/// The values of a primitive array through `f`, or `None` if `array` is not of type `T`.
fn primitive<T: ArrowPrimitiveType>(
    array: &dyn Array,
    f: impl Fn(T::Native) -> Value,
) -> Option<Vec<Value>> {
    let a = array.as_primitive_opt::<T>()?;
    Some(a.values().iter().map(|&v| f(v)).collect())
}

/// A list array's elements as JSON arrays (`Ok(None)` if `array` is not such a list).
fn list<O: OffsetSizeTrait>(array: &dyn Array, path: &str) -> Result<Option<Vec<Value>>, String> {
    let Some(a) = array.as_list_opt::<O>() else {
        return Ok(None);
    };
    let mut child = values(a.values().as_ref(), path)?;
    Ok(split(&mut child, offset_ranges(a.value_offsets())))
}

/// Consecutive `[start, end)` ranges from list offsets.
fn offset_ranges<O: OffsetSizeTrait>(offsets: &[O]) -> impl Iterator<Item = (usize, usize)> + '_ {
    offsets
        .windows(2)
        .map(|w| (w[0].as_usize(), w[1].as_usize()))
}

/// One JSON array per range of `child` (ranges do not overlap, so elements are moved out), or
/// `None` if a range is out of bounds.
fn split(child: &mut [Value], ranges: impl Iterator<Item = (usize, usize)>) -> Option<Vec<Value>> {
    ranges
        .map(|(start, end)| {
            let items = child.get_mut(start..end)?;
            Some(Value::Array(items.iter_mut().map(std::mem::take).collect()))
        })
        .collect()
}

/// An f32 as JSON with its shortest decimal form (0.1f32 is 0.1, not 0.10000000149011612).
fn f32_value(v: f32) -> Value {
    if !v.is_finite() {
        return Value::Null;
    }
    v.to_string().parse::<f64>().map_or(Value::Null, f64_value)
}

/// An f64 as JSON; NaN and infinities, which JSON cannot hold, are `null`.
fn f64_value(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

/// Bytes as a JSON array of their values.
fn bytes_value(bytes: &[u8]) -> Value {
    Value::Array(bytes.iter().map(|&b| Value::from(b)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_foreign_bytes_are_errors() {
        assert!(rows_from_bytes(Vec::new()).unwrap_err().contains("empty"));
        let err = rows_from_bytes(b"{\"not\": \"arrow\"}\n".to_vec()).unwrap_err();
        assert!(err.contains("end-of-stream"), "{err}");
        // Only an end-of-stream marker: no schema.
        let err = rows_from_bytes(END_OF_STREAM.to_vec()).unwrap_err();
        assert!(err.contains("no schema"), "{err}");
        let err = rows_from_bytes(b"ARROW1\0\0garbage".to_vec()).unwrap_err();
        assert!(err.contains("Arrow IPC file"), "{err}");
    }

    #[test]
    fn floats_keep_their_shortest_form() {
        assert_eq!(f32_value(0.1), serde_json::json!(0.1));
        assert_eq!(f32_value(f32::NAN), Value::Null);
        assert_eq!(f64_value(f64::INFINITY), Value::Null);
        assert_eq!(f64_value(-2.5), serde_json::json!(-2.5));
    }
}
