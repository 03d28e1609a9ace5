//! Typed metadata getters on [`GgufFile`]: `Ok(None)` when absent, an error when the type is wrong.

use crate::error::GgufError;
use crate::reader::GgufFile;
use crate::value::Value;

fn wrong(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::WrongType {
        key: key.to_string(),
        expected,
        found: found.describe_type(),
    }
}

fn out_of_range(key: &str, expected: &'static str, found: &Value) -> GgufError {
    GgufError::OutOfRange {
        key: key.to_string(),
        expected,
        value: format!("{found} ({})", found.type_name()),
    }
}

/// An integer value converted to `T`, or the matching error.
fn integer<T: TryFrom<i128>>(key: &str, expected: &'static str, v: &Value) -> Result<T, GgufError> {
    let i = v.as_integer().ok_or_else(|| wrong(key, expected, v))?;
    T::try_from(i).map_err(|_| out_of_range(key, expected, v))
}

/// Each element of an array value converted by `f`.
fn array<'a, T>(
    key: &str,
    expected: &'static str,
    v: &'a Value,
    f: impl Fn(&'a Value) -> Result<T, GgufError>,
) -> Result<Vec<T>, GgufError> {
    let items = v.as_array().ok_or_else(|| wrong(key, expected, v))?;
    items.iter().map(f).collect()
}

impl GgufFile {
    fn typed<'a, T>(
        &'a self,
        key: &str,
        f: impl FnOnce(&'a Value) -> Result<T, GgufError>,
    ) -> Result<Option<T>, GgufError> {
        self.get(key).map(f).transpose()
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<Option<&str>, GgufError> {
        self.typed(key, |v| v.as_str().ok_or_else(|| wrong(key, "string", v)))
    }

    /// An integer value of any type, which must be non-negative.
    pub fn get_u64(&self, key: &str) -> Result<Option<u64>, GgufError> {
        self.typed(key, |v| integer(key, "uint64", v))
    }

    /// An integer value of any type, which must fit in `u32`.
    pub fn get_u32(&self, key: &str) -> Result<Option<u32>, GgufError> {
        self.typed(key, |v| integer(key, "uint32", v))
    }

    /// A float (`float32`, `float64`, narrowed) or integer value, as `f32`.
    pub fn get_f32(&self, key: &str) -> Result<Option<f32>, GgufError> {
        self.typed(key, |v| float(key, "float32", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, GgufError> {
        self.typed(key, |v| match v {
            Value::Bool(b) => Ok(*b),
            other => Err(wrong(key, "bool", other)),
        })
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Option<Vec<&str>>, GgufError> {
        const EXPECTED: &str = "array of string";
        self.typed(key, |v| {
            array(key, EXPECTED, v, |e| {
                e.as_str().ok_or_else(|| wrong(key, EXPECTED, v))
            })
        })
    }

    /// An array of floats or integers, as `f32`.
    pub fn get_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>, GgufError> {
        const EXPECTED: &str = "array of float32";
        self.typed(key, |v| {
            array(key, EXPECTED, v, |e| {
                float(key, EXPECTED, e).map_err(|_| wrong(key, EXPECTED, v))
            })
        })
    }

    /// An array of integers of any type whose values all fit in `i32`.
    pub fn get_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>, GgufError> {
        const EXPECTED: &str = "array of int32";
        self.typed(key, |v| {
            array(key, EXPECTED, v, |e| match e.as_integer() {
                None => Err(wrong(key, EXPECTED, v)),
                Some(_) => integer(key, "int32", e),
            })
        })
    }
}

fn float(key: &str, expected: &'static str, v: &Value) -> Result<f32, GgufError> {
    match *v {
        Value::F32(x) => Ok(x),
        Value::F64(x) => Ok(x as f32),
        _ => v
            .as_integer()
            .map(|i| i as f32)
            .ok_or_else(|| wrong(key, expected, v)),
    }
}
