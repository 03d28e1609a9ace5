//! The bytes behind a [`crate::GgufFile`] or [`crate::SafetensorsFile`]: a read-only memory map of the file, or an owned buffer.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;

use crate::error::GgufError;

/// File bytes, mapped or owned.
pub(crate) enum Storage {
    /// A read-only map of a whole file.
    Mapped(memmap2::Mmap),
    /// Bytes held in memory (tests, or an empty file, which cannot be mapped).
    Owned(Vec<u8>),
}

impl Storage {
    /// Maps the whole file read-only.
    pub(crate) fn map(path: &Path) -> Result<Storage, GgufError> {
        Storage::map_io(path).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Maps the whole file read-only, reporting a bare I/O error (callers add context).
    pub(crate) fn map_io(path: &Path) -> std::io::Result<Storage> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Storage::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and lives as long as this `Storage`. Its contents
        // can change only if another process writes to the file while we hold it; model
        // files are written once and then only read, and that is the contract of
        // `GgufFile::open` and `SafetensorsFile::open` (documented there). All parsing is
        // bounds-checked against the map's length, which is fixed at map time.
        let map = unsafe { memmap2::Mmap::map(&file) }?;
        Ok(Storage::Mapped(map))
    }

    /// The bytes.
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Mapped(m) => m,
            Storage::Owned(v) => v,
        }
    }
}
