//! Mutual exclusion for pulls: a process-wide mutex plus an advisory file lock in `$GEMMA_HOME`.
//!
//! The file lock is an `flock`-style lock (via `fs2`) on `$GEMMA_HOME/.pull.lock`. The kernel
//! releases it when its holder exits or crashes, so a stale lock cannot block later pulls and no
//! timeout is needed; the lock file itself is left in place (it is empty).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use fs2::FileExt;

use crate::HubError;

/// File name of the lock inside `$GEMMA_HOME`.
pub const LOCK_FILE: &str = ".pull.lock";

/// Serialises pulls between threads of this process (the file lock serialises processes).
static PROCESS_LOCK: Mutex<()> = Mutex::new(());

/// Holds both locks; dropping it releases them.
#[derive(Debug)]
pub struct PullLock {
    // Field order matters: the file lock is released before the process mutex.
    _file: File,
    _guard: MutexGuard<'static, ()>,
}

impl PullLock {
    /// Takes the process mutex, then the exclusive lock on `home/.pull.lock`, waiting as long as
    /// another holder needs. `on_wait` is called once if the file lock is held by someone else.
    pub fn acquire(home: &Path, on_wait: impl FnOnce(&Path)) -> Result<PullLock, HubError> {
        // A panic while holding the mutex leaves nothing to repair: the data is `()`.
        let guard = PROCESS_LOCK
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        std::fs::create_dir_all(home).map_err(HubError::io("cannot create", home))?;
        let path = home.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        if file.try_lock_exclusive().is_err() {
            on_wait(&path);
            file.lock_exclusive()
                .map_err(HubError::io("cannot lock", &path))?;
        }
        Ok(PullLock {
            _file: file,
            _guard: guard,
        })
    }
}

fn open_lock_file(path: &Path) -> Result<File, HubError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(HubError::io("cannot open lock file", PathBuf::from(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_lock_excludes_other_openers_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = PullLock::acquire(dir.path(), |_| panic!("nobody else holds it")).unwrap();
        // Another open file description (as another process would have) cannot take it.
        let other = open_lock_file(&dir.path().join(LOCK_FILE)).unwrap();
        assert!(other.try_lock_exclusive().is_err());
        drop(lock);
        assert!(other.try_lock_exclusive().is_ok());
    }
}
