//! The `tojson` filter as transformers defines it: Python's
//! `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`, with the
//! same spacing, escapes, float forms and key conversions, and no HTML escaping.

use std::fmt::Write;

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Error, ErrorKind, State, Value};

use crate::pyfmt::{float_repr, MAX_DEPTH};

/// `json.dumps` options.
struct Options {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

fn type_error(msg: String) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// Python's class name for a value, for error messages.
fn py_type(value: &Value) -> &'static str {
    match value.kind() {
        ValueKind::Undefined => "Undefined",
        ValueKind::None => "NoneType",
        ValueKind::Bool => "bool",
        ValueKind::Number if value.is_integer() => "int",
        ValueKind::Number => "float",
        ValueKind::String => "str",
        ValueKind::Bytes => "bytes",
        ValueKind::Seq | ValueKind::Iterable => "list",
        ValueKind::Map => "dict",
        _ => "object",
    }
}

/// The `tojson` filter: `value|tojson(ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`; arguments by position or keyword, as in Python.
pub(crate) fn tojson(
    state: &State,
    value: &Value,
    positional: &[Value],
    kwargs: &Kwargs,
) -> Result<String, Error> {
    const NAMES: [&str; 4] = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if positional.len() > NAMES.len() {
        return Err(type_error(format!(
            "tojson() takes at most {} arguments after the value ({} given)",
            NAMES.len(),
            positional.len()
        )));
    }
    let take = |name: &str| -> Result<Option<Value>, Error> {
        let pos = NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| positional.get(i));
        match (pos, kwargs.get::<Option<Value>>(name)?) {
            (Some(_), Some(_)) => Err(type_error(format!(
                "tojson() got multiple values for argument '{name}'"
            ))),
            (a, b) => Ok(a.cloned().or(b)),
        }
    };
    let ensure_ascii = take("ensure_ascii")?.is_some_and(|v| v.is_true());
    let indent = take("indent")?;
    let separators = take("separators")?;
    let sort_keys = take("sort_keys")?.is_some_and(|v| v.is_true());
    kwargs.assert_all_used()?;

    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) if v.kind() == ValueKind::Bool => Some(if v.is_true() { " " } else { "" }.into()),
        Some(v) if v.is_integer() => {
            let n = v.as_i64().unwrap_or(0).clamp(0, 1024) as usize;
            Some(" ".repeat(n))
        }
        Some(v) if v.kind() == ValueKind::String => Some(v.as_str().unwrap_or_default().into()),
        Some(v) => {
            return Err(type_error(format!(
                "tojson(): indent must be None, an int or a str, not {}",
                py_type(&v)
            )))
        }
    };
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() => {
            let parts: Vec<Value> = v.try_iter()?.collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => (
                    a.as_str().unwrap_or_default().to_owned(),
                    b.as_str().unwrap_or_default().to_owned(),
                ),
                _ => {
                    return Err(type_error(
                        "tojson(): separators must be a pair of strings".into(),
                    ))
                }
            }
        }
        _ if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        _ => (", ".to_owned(), ": ".to_owned()),
    };
    let opts = Options {
        ensure_ascii,
        indent,
        item_sep,
        key_sep,
        sort_keys,
    };
    let mut out = String::new();
    encode(state, &opts, value, &mut out, 0)?;
    Ok(out)
}

/// Appends a JSON string literal with Python's escapes.
fn encode_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (ensure_ascii && (c as u32) > 0x7e) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Python's JSON form of a float (`NaN`/`Infinity` spelled as Python writes them).
fn encode_float(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        float_repr(f)
    }
}

/// The JSON object key Python makes of a dict key, or a TypeError as Python raises it.
fn key_string(key: &Value) -> Result<String, Error> {
    match key.kind() {
        ValueKind::String => Ok(key.as_str().unwrap_or_default().to_owned()),
        ValueKind::Bool => Ok(if key.is_true() { "true" } else { "false" }.into()),
        ValueKind::None => Ok("null".into()),
        ValueKind::Number if key.is_integer() => Ok(key.to_string()),
        ValueKind::Number => Ok(encode_float(f64::try_from(key.clone())?)),
        _ => Err(type_error(format!(
            "keys must be str, int, float, bool or None, not {}",
            py_type(key)
        ))),
    }
}

fn newline_indent(opts: &Options, depth: usize, out: &mut String) {
    if let Some(indent) = &opts.indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

fn encode(
    state: &State,
    opts: &Options,
    value: &Value,
    out: &mut String,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(type_error("Circular reference detected".into()));
    }
    // Charge the work as it happens: the engine only charges the finished result.
    state.consume_fuel(1 + out.len() as u64 / 4096)?;
    match value.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number if value.is_integer() => {
            let _ = write!(out, "{value}");
        }
        ValueKind::Number => out.push_str(&encode_float(f64::try_from(value.clone())?)),
        ValueKind::String => encode_str(value.as_str().unwrap_or_default(), opts.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = value.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline_indent(opts, depth + 1, out);
                encode(state, opts, item, out, depth + 1)?;
            }
            newline_indent(opts, depth, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in value.try_iter()? {
                let item = value.get_item(&key)?;
                entries.push((key, item));
            }
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if opts.sort_keys {
                sort_entries(&mut entries)?;
            }
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                newline_indent(opts, depth + 1, out);
                encode_str(&key_string(key)?, opts.ensure_ascii, out);
                out.push_str(&opts.key_sep);
                encode(state, opts, item, out, depth + 1)?;
            }
            newline_indent(opts, depth, out);
            out.push('}');
        }
        _ => {
            return Err(type_error(format!(
                "Object of type {} is not JSON serializable",
                py_type(value)
            )))
        }
    }
    Ok(())
}

/// Python's `sorted(d.items())` on the keys: strings by code point, numbers numerically, and a
/// TypeError for a mix.
fn sort_entries(entries: &mut [(Value, Value)]) -> Result<(), Error> {
    let all_str = entries.iter().all(|(k, _)| k.kind() == ValueKind::String);
    let all_num = entries
        .iter()
        .all(|(k, _)| matches!(k.kind(), ValueKind::Number | ValueKind::Bool));
    if all_str {
        entries.sort_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
    } else if all_num {
        let num =
            |v: &Value| f64::try_from(v.clone()).unwrap_or(if v.is_true() { 1.0 } else { 0.0 });
        entries.sort_by(|a, b| num(&a.0).total_cmp(&num(&b.0)));
    } else {
        return Err(type_error(
            "'<' not supported between instances of dict keys of different types".into(),
        ));
    }
    Ok(())
}
