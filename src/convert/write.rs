//! Streaming the planned vmcore out: headers, notes, then the pages run by run, with
//! all-zero pages turned into holes. Memory use is one buffer, whatever the dump size.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::addr::{PageIndex, PAGE_SIZE};
use crate::memory::Guest;

use super::elf::{encode_ehdr, encode_xnum_shdr, headers_size, PHDR_SIZE};
use super::error::ConvertError;
use super::notes::p2m_note_header;
use super::plan::{ConvertOptions, Plan};
use super::runs::p2m_runs;
use super::tables::{rewrite_table, FrameMap};

/// Bytes buffered before a write.
const BUFFER: usize = 1 << 20;
/// Data at least this long is written directly rather than copied into the buffer.
const DIRECT_WRITE: usize = 64 << 10;
/// Pages copied between progress reports (and input releases).
const CHUNK_PAGES: u64 = 1024;

/// Told how far the copy has got; the command line shows it as a progress bar.
pub trait Progress {
    /// The copy of `total` bytes of guest memory begins.
    fn start(&mut self, _total: u64) {}
    /// `bytes` more were copied.
    fn advance(&mut self, _bytes: u64) {}
    /// The copy is over (successfully or not).
    fn finish(&mut self) {}
}

/// Reports nothing.
pub struct NoProgress;

impl Progress for NoProgress {}

/// What the writer did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    /// File size.
    pub file_size: u64,
    /// Bytes written (headers, notes and non-zero pages).
    pub written: u64,
    /// Bytes of all-zero pages left as holes.
    pub holes: u64,
}

/// Writes at increasing offsets, seeking over zero runs so files come out sparse.
struct SparseOut<'w, W: Write + Seek> {
    inner: &'w mut W,
    buf: Vec<u8>,
    /// Bytes handed to `inner` (written or seeked over).
    flushed: u64,
    /// Zeros owed after `buf`.
    pending_zeros: u64,
    stats: WriteStats,
}

impl<'w, W: Write + Seek> SparseOut<'w, W> {
    fn new(inner: &'w mut W) -> Self {
        SparseOut {
            inner,
            buf: Vec::with_capacity(BUFFER),
            flushed: 0,
            pending_zeros: 0,
            stats: WriteStats::default(),
        }
    }

    fn position(&self) -> u64 {
        self.flushed + self.buf.len() as u64 + self.pending_zeros
    }

    fn put(&mut self, data: &[u8]) -> Result<(), ConvertError> {
        self.settle_zeros()?;
        if self.buf.len() + data.len() > BUFFER || data.len() >= DIRECT_WRITE {
            self.flush_buf()?;
        }
        if data.len() >= DIRECT_WRITE {
            let at = self.flushed;
            self.inner
                .write_all(data)
                .map_err(|source| ConvertError::WriteAt { offset: at, source })?;
            self.flushed += data.len() as u64;
        } else {
            self.buf.extend_from_slice(data);
        }
        self.stats.written += data.len() as u64;
        Ok(())
    }

    /// Zeros that must read back as zeros but need not be stored.
    fn hole(&mut self, n: u64) {
        self.pending_zeros += n;
        self.stats.holes += n;
    }

    /// Short zero runs are cheaper written than seeked over (a seek forces a flush).
    fn settle_zeros(&mut self) -> Result<(), ConvertError> {
        if self.pending_zeros == 0 {
            return Ok(());
        }
        if self.pending_zeros < PAGE_SIZE {
            let n = self.pending_zeros as usize;
            self.buf.resize(self.buf.len() + n, 0);
            self.stats.holes -= self.pending_zeros;
            self.stats.written += self.pending_zeros;
            self.pending_zeros = 0;
            return Ok(());
        }
        self.flush_buf()?;
        let at = self.flushed;
        let io = |source| ConvertError::WriteAt { offset: at, source };
        let delta = i64::try_from(self.pending_zeros).map_err(|_| {
            io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "hole larger than i64::MAX",
            ))
        })?;
        self.inner.seek(SeekFrom::Current(delta)).map_err(io)?;
        self.flushed += self.pending_zeros;
        self.pending_zeros = 0;
        Ok(())
    }

    fn flush_buf(&mut self) -> Result<(), ConvertError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let at = self.flushed;
        self.inner
            .write_all(&self.buf)
            .map_err(|source| ConvertError::WriteAt { offset: at, source })?;
        self.flushed += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Write everything out; a trailing hole is ended by one written zero byte so the
    /// file gets its full length.
    fn finish(mut self) -> Result<WriteStats, ConvertError> {
        if self.pending_zeros > 0 {
            self.pending_zeros -= 1;
            self.stats.holes -= 1;
            self.put(&[0])?;
        }
        self.flush_buf()?;
        let at = self.flushed;
        self.inner
            .flush()
            .map_err(|source| ConvertError::WriteAt { offset: at, source })?;
        self.stats.file_size = self.flushed;
        Ok(self.stats)
    }

    fn expect_at(&self, what: &'static str, expected: u64) -> Result<(), ConvertError> {
        let found = self.position();
        if found == expected {
            Ok(())
        } else {
            Err(ConvertError::Layout {
                what,
                expected,
                found,
            })
        }
    }
}

fn is_zero(page: &[u8]) -> bool {
    page.chunks_exact(16)
        .all(|c| u128::from_ne_bytes(c.try_into().unwrap_or([1; 16])) == 0)
}

/// Write the vmcore `plan` describes into `out`, from its current position on. The
/// skipped zero runs must read back as zeros: write into a fresh file or empty cursor.
/// Pages in the holes of a sparse dump file are skipped unread.
pub fn write_vmcore<W: Write + Seek>(
    guest: &Guest,
    plan: &Plan,
    out: &mut W,
    progress: &mut dyn Progress,
) -> Result<WriteStats, ConvertError> {
    let dump = guest.dump();
    let mut w = SparseOut::new(out);
    let phnum = plan.phnum();
    let mut headers = Vec::with_capacity(headers_size(phnum.min(1 << 16)) as usize);
    encode_ehdr(plan.machine, phnum, &mut headers);
    w.put(&headers)?;
    for ph in plan.program_headers() {
        headers.clear();
        ph.encode(&mut headers);
        debug_assert_eq!(headers.len() as u64, PHDR_SIZE);
        w.put(&headers)?;
    }
    if headers_size(phnum) > headers_size(0) + phnum * PHDR_SIZE {
        headers.clear();
        encode_xnum_shdr(phnum, &mut headers);
        w.put(&headers)?;
    }
    w.expect_at("notes", plan.notes_offset)?;
    w.put(&plan.notes)?;
    if plan.p2m_runs > 0 {
        if let Some(h) = p2m_note_header(plan.p2m_runs) {
            w.put(&h)?;
        }
        for run in p2m_runs(dump).take(plan.p2m_runs as usize) {
            let mut bytes = [0u8; 24];
            for (i, v) in run.iter().enumerate() {
                bytes[8 * i..8 * i + 8].copy_from_slice(&v.to_le_bytes());
            }
            w.put(&bytes)?;
        }
    }
    w.expect_at("end of notes", plan.notes_offset + plan.notes_size)?;
    let pad = plan.data_offset - w.position();
    w.put(&vec![0; pad as usize])?;

    progress.start(plan.data_bytes());
    let result = copy_pages(guest, plan, &mut w, progress);
    progress.finish();
    result?;
    w.expect_at("end of data", plan.file_size)?;
    w.finish()
}

fn copy_pages<W: Write + Seek>(
    guest: &Guest,
    plan: &Plan,
    w: &mut SparseOut<'_, W>,
    progress: &mut dyn Progress,
) -> Result<(), ConvertError> {
    let dump = guest.dump();
    let mut holes = dump.page_holes();
    let mut in_hole =
        |first: PageIndex, n: u64| holes.as_mut().is_some_and(|h| h.is_hole(first, n));
    let tables = plan.tables.as_ref().map(|t| &t.set);
    let mut table_buf = vec![0u8; PAGE_SIZE as usize];
    let frames = FrameMap::new(dump);
    let read_err = |index| move |source| ConvertError::ReadPage { index, source };
    for seg in &plan.segments {
        w.expect_at("segment data", seg.offset)?;
        let pages = seg.size / PAGE_SIZE;
        if !seg.in_order {
            // Pages scattered over the dump (a legacy PV dump's allocation order): one
            // at a time, each found by its pfn.
            for k in 0..pages {
                let pfn = crate::addr::GuestFrame((seg.paddr >> crate::addr::PAGE_SHIFT) + k);
                let index = dump.page_of_pfn(pfn).ok_or(ConvertError::Layout {
                    what: "page of a planned pfn",
                    expected: pfn.0,
                    found: u64::MAX,
                })?;
                let page = dump.page(index).map_err(read_err(index))?;
                let role = tables.and_then(|t| t.role_of(index));
                let patched = plan.start_info_page == Some(index);
                let bytes = if role.is_some() || patched {
                    edit_page(&frames, plan, role, page, &mut table_buf, patched);
                    &table_buf[..]
                } else {
                    page
                };
                if is_zero(bytes) {
                    w.hole(PAGE_SIZE);
                } else {
                    w.put(bytes)?;
                }
                dump.release_pages(index, 1);
                progress.advance(PAGE_SIZE);
            }
            continue;
        }
        let mut done = 0;
        while done < pages {
            let n = CHUNK_PAGES.min(pages - done);
            let chunk = PageIndex(seg.first_page.0 + done);
            if in_hole(chunk, n) {
                // All zeros: page tables in there have nothing to rewrite either.
                w.hole(n * PAGE_SIZE);
                done += n;
                progress.advance(n * PAGE_SIZE);
                continue;
            }
            // Page-table pages of this chunk, rewritten one by one in a small buffer.
            let mut chunk_tables = tables
                .into_iter()
                .flat_map(|t| t.within(chunk, n))
                .peekable();
            // Consecutive non-zero pages are written straight from the map, in one go.
            let mut run: Option<(PageIndex, u64)> = None;
            for k in 0..n {
                let index = PageIndex(chunk.0 + k);
                let role = match chunk_tables.peek() {
                    Some(&(i, role)) if i == index => {
                        chunk_tables.next();
                        Some(role)
                    }
                    _ => None,
                };
                let patched = plan.start_info_page == Some(index);
                let edited = role.is_some() || patched;
                let zero = if edited && !in_hole(index, 1) {
                    let page = dump.page(index).map_err(read_err(index))?;
                    edit_page(&frames, plan, role, page, &mut table_buf, patched);
                    is_zero(&table_buf)
                } else {
                    in_hole(index, 1) || is_zero(dump.page(index).map_err(read_err(index))?)
                };
                match (&mut run, zero, edited) {
                    (Some((_, count)), false, false) => *count += 1,
                    (None, false, false) => run = Some((index, 1)),
                    _ => {
                        if let Some((first, count)) = run.take() {
                            put_pages(dump, w, first, count)?;
                        }
                        if zero {
                            w.hole(PAGE_SIZE);
                        } else {
                            w.put(&table_buf)?;
                        }
                    }
                }
            }
            if let Some((first, count)) = run {
                put_pages(dump, w, first, count)?;
            }
            // The pages were read once and will not be again: let the kernel drop them
            // from this process, so resident memory stays flat on dumps of any size.
            dump.release_pages(chunk, n);
            done += n;
            progress.advance(n * PAGE_SIZE);
        }
    }
    Ok(())
}

/// Pages `first ..first + count` straight from the dump, in as few writes as the dump
/// allows (one for a core dump; one per record of a saved image).
fn put_pages<W: Write + Seek>(
    dump: &crate::dump::XenDump,
    w: &mut SparseOut<'_, W>,
    first: PageIndex,
    count: u64,
) -> Result<(), ConvertError> {
    let end = first.0 + count;
    let mut at = first.0;
    while at < end {
        let index = PageIndex(at);
        let bytes = dump
            .page_span(index, end - at)
            .map_err(|source| ConvertError::ReadPage { index, source })?;
        w.put(bytes)?;
        at += (bytes.len() as u64 / PAGE_SIZE).max(1);
    }
    Ok(())
}

/// `page` as the vmcore holds it, into `buf`: a page table (`role`) rewritten
/// canonical; the page holding the kernel's `xen_start_info` pointer (`patched`) with
/// the pointer cleared.
fn edit_page(
    frames: &FrameMap<'_>,
    plan: &Plan,
    role: Option<super::tables::TableRole>,
    page: &[u8],
    buf: &mut [u8],
    patched: bool,
) {
    match role {
        Some(role) => rewrite_table(frames, role, page, buf, |_| {}),
        None => buf.copy_from_slice(page),
    }
    if let Some(p) = plan.start_info.filter(|_| patched) {
        let at = (p.pa % PAGE_SIZE) as usize;
        if let Some(word) = buf.get_mut(at..at + usize::from(p.size)) {
            word.fill(0);
        }
    }
}

/// What a conversion produced.
#[derive(Clone, Debug)]
pub struct ConvertReport {
    /// The vmcore written.
    pub output: PathBuf,
    /// The layout it was written with.
    pub plan: Plan,
    /// What the writer did.
    pub stats: WriteStats,
}

/// Convert `guest` into a vmcore at `output`, atomically: the file is written under a
/// temporary name in the same directory, flushed to disk and renamed at the end. On any
/// error the temporary file is removed and `output` is left as it was.
///
/// `input` is the dump's path, to refuse overwriting it.
pub fn convert_file(
    guest: &Guest,
    input: Option<&Path>,
    output: &Path,
    opts: &ConvertOptions,
    progress: &mut dyn Progress,
) -> Result<ConvertReport, ConvertError> {
    if let Some(input) = input {
        if same_file(input, output) {
            return Err(ConvertError::OutputIsInput {
                path: output.to_path_buf(),
            });
        }
    }
    if !opts.force && output.symlink_metadata().is_ok() {
        return Err(ConvertError::OutputExists {
            path: output.to_path_buf(),
        });
    }
    let plan = Plan::new(guest, opts)?;
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = output
        .file_name()
        .map_or("vmcore".into(), |n| n.to_string_lossy().into_owned());
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|source| ConvertError::CreateTemp {
            dir: dir.clone(),
            source,
        })?;
    let temp_path = tmp.path().to_path_buf();
    let stats = write_vmcore(guest, &plan, tmp.as_file_mut(), progress).map_err(|e| {
        ConvertError::Write {
            path: temp_path.clone(),
            source: Box::new(e),
        }
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(|source| ConvertError::Sync {
            path: temp_path.clone(),
            source,
        })?;
    let persisted = if opts.force {
        tmp.persist(output)
    } else {
        tmp.persist_noclobber(output)
    };
    persisted.map_err(|e| ConvertError::Persist {
        path: output.to_path_buf(),
        source: e.error,
    })?;
    Ok(ConvertReport {
        output: output.to_path_buf(),
        plan,
        stats,
    })
}

/// Do `a` and `b` name the same existing file?
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
        false
    }
    #[cfg(not(unix))]
    {
        match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accepts `limit` bytes, then fails like a full disk.
    struct FullDisk {
        inner: std::io::Cursor<Vec<u8>>,
        limit: u64,
    }

    impl Write for FullDisk {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let room = self.limit.saturating_sub(self.inner.position());
            if room == 0 {
                return Err(std::io::Error::from_raw_os_error(28)); // ENOSPC
            }
            let n = (buf.len() as u64).min(room) as usize;
            self.inner.write(&buf[..n])
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Seek for FullDisk {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.inner.seek(pos)
        }
    }

    #[test]
    fn zero_runs_become_holes_and_full_disks_are_errors() {
        let mut cur = std::io::Cursor::new(Vec::new());
        let mut w = SparseOut::new(&mut cur);
        w.put(b"abc").unwrap();
        w.hole(3 * PAGE_SIZE);
        w.put(b"xyz").unwrap();
        w.hole(2 * PAGE_SIZE);
        let stats = w.finish().unwrap();
        let v = cur.into_inner();
        assert_eq!(v.len() as u64, 6 + 5 * PAGE_SIZE);
        assert_eq!(stats.file_size, v.len() as u64);
        assert_eq!(&v[..3], b"abc");
        assert_eq!(
            &v[3 + 3 * PAGE_SIZE as usize..6 + 3 * PAGE_SIZE as usize],
            b"xyz"
        );
        assert!(v[3..3 + 3 * PAGE_SIZE as usize].iter().all(|&b| b == 0));
        assert_eq!(stats.holes, 5 * PAGE_SIZE - 1);

        let mut disk = FullDisk {
            inner: std::io::Cursor::new(Vec::new()),
            limit: 100,
        };
        let mut w = SparseOut::new(&mut disk);
        w.put(&[1u8; 200]).unwrap();
        let err = w.finish().unwrap_err();
        assert!(
            matches!(&err, ConvertError::WriteAt { offset: 0, source } if source.raw_os_error() == Some(28)),
            "{err}"
        );
    }

    #[test]
    fn zero_test_sees_a_single_set_byte() {
        let mut p = [0u8; 4096];
        assert!(is_zero(&p));
        p[4095] = 1;
        assert!(!is_zero(&p));
    }
}
