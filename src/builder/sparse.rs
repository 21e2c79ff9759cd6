//! A buffered writer that turns runs of zeros into seeks, so files come out sparse.

use std::io::{Seek, SeekFrom, Write};

use super::error::BuildError;

/// Flush the buffer once it holds this much.
const BUFFER_SIZE: usize = 1 << 20;
/// Zero runs shorter than this are written, not seeked over (a seek costs a flush).
const MIN_HOLE: u64 = 4096;

/// Writes data at increasing positions relative to where `inner` stood at creation.
pub(super) struct SparseWriter<'w, W: Write + Seek> {
    inner: &'w mut W,
    buf: Vec<u8>,
    /// Zeros owed after `buf`, not yet written or seeked over.
    pending_zeros: u64,
    /// Bytes handed to `inner` (written or seeked over) so far.
    flushed: u64,
}

impl<'w, W: Write + Seek> SparseWriter<'w, W> {
    pub(super) fn new(inner: &'w mut W) -> Self {
        SparseWriter {
            inner,
            buf: Vec::with_capacity(BUFFER_SIZE),
            pending_zeros: 0,
            flushed: 0,
        }
    }

    /// Current logical position (relative to the start).
    pub(super) fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64 + self.pending_zeros
    }

    /// Append `data`.
    pub(super) fn put(&mut self, data: &[u8]) -> Result<(), BuildError> {
        self.settle_zeros()?;
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUFFER_SIZE {
            self.flush_buf()?;
        }
        Ok(())
    }

    /// Append `n` zero bytes (cheaply: large runs become a seek).
    pub(super) fn zeros(&mut self, n: u64) {
        self.pending_zeros += n;
    }

    /// Append a page, or a hole if it is all zero.
    pub(super) fn page(&mut self, page: Option<&[u8]>, page_size: u64) -> Result<(), BuildError> {
        match page {
            Some(bytes) if bytes.iter().any(|b| *b != 0) => self.put(bytes),
            _ => {
                self.zeros(page_size);
                Ok(())
            }
        }
    }

    /// Write out everything; a trailing zero run is materialised by its last byte so
    /// the file gets its full length.
    pub(super) fn finish(mut self) -> Result<u64, BuildError> {
        if self.pending_zeros > 0 {
            self.pending_zeros -= 1;
            self.settle_zeros()?;
            self.buf.push(0);
        }
        self.flush_buf()?;
        let at = self.flushed;
        self.inner
            .flush()
            .map_err(|source| BuildError::Io { offset: at, source })?;
        Ok(self.flushed)
    }

    /// Turn owed zeros into buffered bytes (short runs) or a seek (long runs).
    fn settle_zeros(&mut self) -> Result<(), BuildError> {
        if self.pending_zeros == 0 {
            return Ok(());
        }
        if self.pending_zeros < MIN_HOLE {
            let n = self.pending_zeros as usize;
            self.buf.resize(self.buf.len() + n, 0);
            self.pending_zeros = 0;
            return Ok(());
        }
        self.flush_buf()?;
        let at = self.flushed;
        let hole = self.pending_zeros;
        let io = |source| BuildError::Io { offset: at, source };
        let delta = i64::try_from(hole).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "hole larger than i64::MAX",
            ))
        })?;
        self.inner.seek(SeekFrom::Current(delta)).map_err(io)?;
        self.flushed += hole;
        self.pending_zeros = 0;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), BuildError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let at = self.flushed;
        self.inner
            .write_all(&self.buf)
            .map_err(|source| BuildError::Io { offset: at, source })?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }
}
