//! The bytes of a dump: a read-only memory map of the file, or an owned buffer.

use std::fs::File;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use super::error::{DumpError, Result};

/// Backing storage of a dump. The file is mapped read-only and never written.
pub enum DumpBytes {
    /// A read-only, private mapping of the dump file.
    Mapped(Mmap),
    /// Bytes held in memory (tests, fuzzing, dumps built on the fly).
    Owned(Vec<u8>),
}

impl DumpBytes {
    /// Map `path` read-only.
    pub fn map(path: &Path) -> Result<Self> {
        let io = |source| DumpError::Io {
            path: path.to_path_buf(),
            source,
        };
        // Opened read-only: the dump is evidence and must never change.
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        if meta.len() == 0 {
            return Ok(DumpBytes::Owned(Vec::new()));
        }
        // SAFETY: the map is read-only and private. Another process truncating the file
        // while we run could still fault a later access; that risk is contained elsewhere.
        let map = unsafe { MmapOptions::new().map(&file) }.map_err(io)?;
        Ok(DumpBytes::Mapped(map))
    }

    /// Hint that bytes `[offset, offset + len)` will not be read again soon, so the
    /// kernel may drop them from this process (a sequential pass over a big dump then
    /// keeps a flat resident size). Later reads still see the same bytes.
    pub fn release(&self, offset: u64, len: u64) {
        let DumpBytes::Mapped(map) = self else {
            return;
        };
        // madvise wants a page-aligned start; round inwards and ignore what is left.
        let page = 4096u64;
        let start = offset.div_ceil(page) * page;
        let end = offset.saturating_add(len).min(map.len() as u64) / page * page;
        if start >= end {
            return;
        }
        dont_need(map, start as usize, (end - start) as usize);
    }

    /// The whole file.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            DumpBytes::Mapped(m) => m,
            DumpBytes::Owned(v) => v,
        }
    }
}

#[cfg(unix)]
fn dont_need(map: &Mmap, start: usize, len: usize) {
    // SAFETY: the map is read-only, so no page in it was ever written through it:
    // MADV_DONTNEED only unmaps clean file pages, and any later access faults the same
    // file bytes back in from the page cache. Nothing observable changes for
    // outstanding borrows (short of the file being modified, a risk `map` accepts).
    unsafe {
        let _ = map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, len);
    }
}

#[cfg(not(unix))]
fn dont_need(_map: &Mmap, _start: usize, _len: usize) {}

impl std::fmt::Debug for DumpBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DumpBytes::Mapped(m) => write!(f, "Mapped({} bytes)", m.len()),
            DumpBytes::Owned(v) => write!(f, "Owned({} bytes)", v.len()),
        }
    }
}

/// Little-endian field reads that fail softly instead of panicking on short input.
pub(crate) trait LeRead {
    fn u16_at(&self, off: u64) -> Option<u16>;
    fn u32_at(&self, off: u64) -> Option<u32>;
    fn u64_at(&self, off: u64) -> Option<u64>;
    fn bytes_at(&self, off: u64, len: u64) -> Option<&[u8]>;
}

impl LeRead for [u8] {
    fn u16_at(&self, off: u64) -> Option<u16> {
        self.bytes_at(off, 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32_at(&self, off: u64) -> Option<u32> {
        self.bytes_at(off, 4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
    }
    fn u64_at(&self, off: u64) -> Option<u64> {
        self.bytes_at(off, 8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
    }
    fn bytes_at(&self, off: u64, len: u64) -> Option<&[u8]> {
        let start = usize::try_from(off).ok()?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        self.get(start..end)
    }
}
