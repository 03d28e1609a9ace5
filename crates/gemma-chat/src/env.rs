//! The Jinja environment transformers renders chat templates in, rebuilt on minijinja:
//! `trim_blocks`/`lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`, its
//! `tojson`, Python-style printing and string methods, no autoescaping, and fuel limits.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, Rest, ValueKind};
use minijinja::{
    AutoEscape, Environment, Error, ErrorKind, Output, State, UndefinedBehavior, Value,
};

use crate::pyfmt::{is_py_space, py_strip, write_py_repr, write_py_str};
use crate::pyjson::tojson;
use crate::strftime::strftime_now;

/// Marks an error as raised by the template's own `raise_exception(message)`.
#[derive(Debug)]
pub(crate) struct Raised(pub(crate) String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// A fresh environment configured as transformers' `ImmutableSandboxedEnvironment`, with the
/// given fuel budget per render.
pub(crate) fn new_environment(fuel: Option<u64>) -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_syntax(
        SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    // Template names never switch on HTML/JSON escaping: chat templates emit raw text.
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_fuel(fuel);
    // Errors carry no snapshot of template values (they may be deeply nested, see render).
    env.set_debug(false);
    env.set_unknown_method_callback(unknown_method);
    env.set_formatter(py_formatter);
    env.add_filter("tojson", tojson_filter);
    env.add_filter("trim", trim);
    env.add_filter("pprint", pprint);
    env.add_function("raise_exception", raise_exception);
    env.add_function("strftime_now", strftime_now_fn);
    Ok(env)
}

fn tojson_filter(
    state: &State,
    value: &Value,
    args: Rest<Value>,
    kwargs: Kwargs,
) -> Result<String, Error> {
    tojson(state, value, &args, &kwargs)
}

/// `{{ value }}` prints Python's `str(value)`: `None`, `True`, `1.0`, `['a', 1]`.
fn py_formatter(out: &mut Output, state: &mut State, value: &Value) -> Result<(), Error> {
    let text;
    let s = match value.as_str() {
        Some(s) if value.kind() == ValueKind::String => s,
        _ => {
            let mut buf = String::new();
            write_py_str(state, value, &mut buf)?;
            text = buf;
            &text
        }
    };
    out.write_str(s)
        .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write template output"))
}

/// Python's `str(value)` of any value (strings unchanged).
fn to_py_string(state: &State, value: &Value) -> Result<String, Error> {
    match value.as_str() {
        Some(s) if value.kind() == ValueKind::String => Ok(s.to_owned()),
        _ => {
            let mut buf = String::new();
            write_py_str(state, value, &mut buf)?;
            Ok(buf)
        }
    }
}

/// Jinja2's `trim(value, chars=None)`: `str(value).strip(chars)` with Python's whitespace.
fn trim(state: &State, value: &Value, chars: Option<String>) -> Result<String, Error> {
    let s = to_py_string(state, value)?;
    Ok(match chars {
        None => py_strip(&s).to_owned(),
        Some(chars) => s.trim_matches(|c| chars.contains(c)).to_owned(),
    })
}

/// Jinja2's `pprint`: Python's `repr` of the value (without `pprint`'s line wrapping of long
/// values); depth-limited, unlike minijinja's, which never ends on a namespace holding itself.
fn pprint(state: &State, value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_py_repr(state, value, &mut out)?;
    Ok(out)
}

/// `raise_exception(message)`: fails the render with the message, marked as [`Raised`].
fn raise_exception(state: &State, message: Value) -> Result<Value, Error> {
    let message = to_py_string(state, &message)?;
    Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
}

fn strftime_now_fn(format: String) -> Result<String, Error> {
    strftime_now(&format)
}

/// Python string methods: minijinja-contrib's `pycompat`, except that the whitespace-based
/// ones (`strip`, `lstrip`, `rstrip`, `split` without a separator, `isspace`) use Python's
/// definition of whitespace.
fn unknown_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let (Some(s), ValueKind::String) = (value.as_str(), value.kind()) {
        let no_chars = match args {
            [] => true,
            [a] => a.is_none(),
            _ => false,
        };
        match method {
            "strip" if no_chars => return Ok(Value::from(py_strip(s))),
            "lstrip" if no_chars => return Ok(Value::from(s.trim_start_matches(is_py_space))),
            "rstrip" if no_chars => return Ok(Value::from(s.trim_end_matches(is_py_space))),
            "isspace" if args.is_empty() => {
                return Ok(Value::from(!s.is_empty() && s.chars().all(is_py_space)))
            }
            "split" if no_chars => {
                let parts: Vec<Value> = s
                    .split(is_py_space)
                    .filter(|p| !p.is_empty())
                    .map(Value::from)
                    .collect();
                return Ok(Value::from(parts));
            }
            _ => {}
        }
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}
