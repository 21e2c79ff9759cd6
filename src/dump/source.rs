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

    /// The whole file.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            DumpBytes::Mapped(m) => m,
            DumpBytes::Owned(v) => v,
        }
    }
}

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
