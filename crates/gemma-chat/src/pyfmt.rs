//! Python's text forms of template values, as Jinja2 prints them: `str()`/`repr()` of None,
//! booleans, floats, strings, lists and dicts, and `str.isspace` for `trim`/`strip`.

use std::fmt::Write;

use minijinja::value::ValueKind;
use minijinja::{Error, ErrorKind, State, Value};

/// Deepest nesting of lists and mappings that is printed or serialized (values can be cyclic
/// through namespaces; Python reports such cycles as errors too).
pub(crate) const MAX_DEPTH: usize = 128;

/// Python's `str.isspace` for one character: Unicode White_Space (Rust's `char::is_whitespace`)
/// plus the ASCII information separators U+001C..U+001F, which Python also strips.
pub(crate) fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` (no argument).
pub(crate) fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_space)
}

/// Python's `repr(float)` (`str(float)` is the same): shortest round-trip digits, fixed
/// notation for exponents -4..=15 with at least one decimal, else `d.ddde+XX`.
pub(crate) fn float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".to_owned();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    // Rust's `{:e}` gives the shortest digits that round-trip, e.g. "-1.5e16", "1e-5", "0e0".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if (-4..16).contains(&exp) {
        let (int, frac) = if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                (format!("{digits:0<int_len$}"), "0".to_owned())
            } else {
                (digits[..int_len].to_owned(), digits[int_len..].to_owned())
            }
        } else {
            let zeros = "0".repeat((-exp - 1) as usize);
            ("0".to_owned(), format!("{zeros}{digits}"))
        };
        format!("{sign}{int}.{frac}")
    } else {
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let dot = if rest.is_empty() { "" } else { "." };
        let esign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{dot}{rest}e{esign}{:02}", exp.unsigned_abs())
    }
}

/// Whether Python's `str.isprintable` holds for `c` (it does not for control, format,
/// surrogate, private-use, line/paragraph separator and space-separator characters other than
/// ' '). Unassigned code points are treated as printable (no Unicode tables here).
fn is_py_printable(c: char) -> bool {
    let u = c as u32;
    let not_printable = matches!(u,
        0x00..=0x1f | 0x7f..=0xa0 | 0xad | 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0x890..=0x891
        | 0x8e2 | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f | 0x205f..=0x2064
        | 0x2066..=0x206f | 0x3000 | 0xe000..=0xf8ff | 0xfeff | 0xfff9..=0xfffb
        | 0x110bd | 0x110cd | 0x13430..=0x1343f | 0x1bca0..=0x1bca3 | 0x1d173..=0x1d17a
        | 0xe0001 | 0xe0020..=0xe007f | 0xf0000..=0x10ffff);
    !not_printable
}

/// Python's `repr(str)`: single quotes unless the text has a `'` and no `"`.
pub(crate) fn str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_py_printable(c) => {
                let u = c as u32;
                // Writing to a String cannot fail.
                let _ = match u {
                    0..=0xff => write!(out, "\\x{u:02x}"),
                    0x100..=0xffff => write!(out, "\\u{u:04x}"),
                    _ => write!(out, "\\U{u:08x}"),
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Appends Python's `str(value)` (what Jinja2 prints for `{{ value }}`) to `out`.
pub(crate) fn write_py_str(state: &State, value: &Value, out: &mut String) -> Result<(), Error> {
    match value.kind() {
        ValueKind::Undefined => Ok(()),
        ValueKind::String => {
            out.push_str(value.as_str().unwrap_or_default());
            Ok(())
        }
        _ => write_repr(state, value, out, 0),
    }
}

/// Appends Python's `repr(value)` to `out`.
pub(crate) fn write_py_repr(state: &State, value: &Value, out: &mut String) -> Result<(), Error> {
    write_repr(state, value, out, 0)
}

/// Appends Python's `repr(value)` to `out`; lists and mappings recurse, charging fuel per item.
fn write_repr(state: &State, value: &Value, out: &mut String, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "value nested too deeply to print (cyclic?)",
        ));
    }
    state.consume_fuel(1 + out.len() as u64 / 4096)?;
    match value.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if value.is_true() { "True" } else { "False" }),
        ValueKind::Number if value.is_integer() => {
            let _ = write!(out, "{value}");
        }
        ValueKind::Number => match f64::try_from(value.clone()) {
            Ok(f) => out.push_str(&float_repr(f)),
            Err(_) => {
                let _ = write!(out, "{value}");
            }
        },
        ValueKind::String => str_repr(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(state, &item, out, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(state, &key, out, depth + 1)?;
                out.push_str(": ");
                write_repr(state, &value.get_item(&key)?, out, depth + 1)?;
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{value}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_repr_matches_python() {
        // Expected strings are Python 3.11's repr() of the same literals.
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.5, "2.5"),
            (100.0, "100.0"),
            (0.1, "0.1"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (123456789012345.6, "123456789012345.6"),
            (1e15, "1000000000000000.0"),
            (1e-4, "0.0001"),
            (1.5e-5, "1.5e-05"),
            (-2.5e-300, "-2.5e-300"),
            (1e100, "1e+100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (123456.789, "123456.789"),
            (f64::INFINITY, "inf"),
        ];
        for (f, want) in cases {
            assert_eq!(float_repr(f), want, "{f:e}");
        }
    }

    #[test]
    fn repr_of_strings_matches_python() {
        let cases = [
            ("it's", "\"it's\""),
            ("a\"b'c", "'a\"b\\'c'"),
            ("tab\there\n\\", "'tab\\there\\n\\\\'"),
            (
                "\u{1}\u{7f}\u{a0}é\u{2028}\u{1F600}",
                "'\\x01\\x7f\\xa0é\\u2028\u{1F600}'",
            ),
        ];
        for (s, want) in cases {
            let mut out = String::new();
            str_repr(s, &mut out);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn whitespace_is_pythons() {
        assert_eq!(py_strip("\u{1c}\u{1f} \u{a0}x\u{3000}\u{85}\u{b}"), "x");
        assert_eq!(py_strip("\u{200b}x\u{feff}"), "\u{200b}x\u{feff}");
    }
}
