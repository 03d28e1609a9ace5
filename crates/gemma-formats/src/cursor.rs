//! A bounds-checked little-endian reader over the file bytes, producing contextual errors.

use std::path::{Path, PathBuf};

use crate::error::GgufError;

/// Reads fields front to back; every read checks the bytes left first.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    path: Option<&'a Path>,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8], path: Option<&'a Path>) -> Self {
        Cursor { buf, pos: 0, path }
    }

    /// The current absolute offset.
    pub(crate) fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes left after the current offset.
    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// The file path for error contexts.
    pub(crate) fn path(&self) -> Option<PathBuf> {
        self.path.map(Path::to_path_buf)
    }

    /// Takes `n` bytes; `what` names the field in the error.
    pub(crate) fn take(
        &mut self,
        n: usize,
        what: impl FnOnce() -> String,
    ) -> Result<&'a [u8], GgufError> {
        if n > self.buf.len() - self.pos {
            return Err(GgufError::Truncated {
                path: self.path(),
                offset: self.pos(),
                what: what(),
                needed: n as u64,
                available: self.remaining(),
            });
        }
        let bytes = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: impl FnOnce() -> String) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: impl FnOnce() -> String) -> Result<u16, GgufError> {
        self.array(what).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// Reads a u64 count and checks that `count` items of at least `min_item_bytes`
    /// each fit in the rest of the file, so the caller may allocate for them.
    pub(crate) fn count(
        &mut self,
        min_item_bytes: u64,
        what: impl Fn() -> String,
    ) -> Result<u64, GgufError> {
        let offset = self.pos();
        let count = self.u64(&what)?;
        let remaining = self.remaining();
        let fits = count
            .checked_mul(min_item_bytes)
            .is_some_and(|need| need <= remaining);
        if !fits {
            return Err(GgufError::CountTooLarge {
                path: self.path(),
                offset,
                what: what(),
                count,
                min_item_bytes,
                remaining,
            });
        }
        Ok(count)
    }

    /// Reads a GGUF string: u64 byte length, then UTF-8 bytes.
    pub(crate) fn string(&mut self, what: impl Fn() -> String) -> Result<String, GgufError> {
        let len = self.count(1, || format!("length of {}", what()))?;
        let start = self.pos();
        // `count` checked len <= remaining, so it fits in usize.
        let bytes = self.take(len as usize, &what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 {
                path: self.path(),
                offset: start,
                what: what(),
            }),
        }
    }

    /// Skips to the next multiple of `alignment` (may pass the end: returns the offset
    /// without checking; `None` on overflow).
    pub(crate) fn aligned_pos(&self, alignment: u64) -> Option<u64> {
        self.pos().checked_next_multiple_of(alignment)
    }
}
