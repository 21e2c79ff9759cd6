//! The bytes of a dump: a read-only memory map of the file, or an owned buffer.
//!
//! A mapped file that another process truncates would raise SIGBUS on the next access
//! past its new end and kill the server. [`guard`] contains that: a SIGBUS handler maps
//! a zero page over the faulting page of one of our mappings and counts the fault, so
//! the access completes (reading zeros) instead of killing the process. Readers that
//! hand bytes to gdb use [`DumpBytes::copy_at`], which notices the fault and re-reads
//! from the file with `pread`, failing cleanly for bytes that are gone.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use memmap2::{Mmap, MmapOptions};

use super::error::{DumpError, Result};

/// Backing storage of a dump. The file is mapped read-only and never written.
pub enum DumpBytes {
    /// A read-only mapping of the dump file, guarded against SIGBUS.
    Mapped(GuardedMap),
    /// Bytes held in memory (tests, fuzzing, dumps built on the fly).
    Owned(Vec<u8>),
}

/// A read-only mapping registered with the SIGBUS guard, and the file behind it.
pub struct GuardedMap {
    map: Mmap,
    /// Kept open (read-only) to re-read bytes with `pread` once the mapping faulted.
    file: File,
    slot: guard::Slot,
}

impl Drop for GuardedMap {
    fn drop(&mut self) {
        // Before the mapping goes away, so the handler never claims a stale range.
        guard::unregister(self.slot);
    }
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
        // SAFETY: a read-only mapping; nothing in this process writes the file. Another
        // process may truncate it: accesses past the new end then raise SIGBUS, which the
        // guard registered just below turns into zero pages and a fault count.
        let map = unsafe { MmapOptions::new().map(&file) }.map_err(io)?;
        match guard::register(map.as_ptr() as usize, map.len()) {
            Some(slot) => Ok(DumpBytes::Mapped(GuardedMap { map, file, slot })),
            None => {
                // Every guard slot is taken (many dumps open at once): an unguarded
                // mapping could kill the process, so hold this one in memory instead.
                drop(map);
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut &file, &mut bytes).map_err(io)?;
                Ok(DumpBytes::Owned(bytes))
            }
        }
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
        let end = offset.saturating_add(len).min(map.map.len() as u64) / page * page;
        if start >= end {
            return;
        }
        dont_need(&map.map, start as usize, (end - start) as usize);
    }

    /// Hint that bytes `[offset, offset + len)` will be read soon: the kernel may start
    /// reading them in now (asynchronously).
    pub fn prefetch(&self, offset: u64, len: u64) {
        #[cfg(unix)]
        if let DumpBytes::Mapped(m) = self {
            let size = m.map.len() as u64;
            let start = offset / 4096 * 4096;
            if start >= size {
                return;
            }
            let len = (offset.saturating_add(len).min(size) - start) as usize;
            let _ = m
                .map
                .advise_range(memmap2::Advice::WillNeed, start as usize, len);
        }
        #[cfg(not(unix))]
        let _ = (offset, len);
    }

    /// Tell the kernel whether accesses to the mapping are scattered (`true`: fault in
    /// only the pages touched, no read-around) or not (`false`: the default). A pass
    /// that reads a few bytes every few MiB, such as the index pass over a saved
    /// image's records, would otherwise read the whole file around its faults.
    pub fn scattered_access(&self, scattered: bool) {
        #[cfg(unix)]
        if let DumpBytes::Mapped(m) = self {
            let advice = if scattered {
                memmap2::Advice::Random
            } else {
                memmap2::Advice::Normal
            };
            let _ = m.map.advise(advice);
        }
        #[cfg(not(unix))]
        let _ = scattered;
    }

    /// The whole file. For a mapping whose file shrank, the pages past its new end read
    /// as zeros here; use [`DumpBytes::copy_at`] for bytes that must be right.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            DumpBytes::Mapped(m) => &m.map,
            DumpBytes::Owned(v) => v,
        }
    }

    /// The mapped file (for filesystem queries such as where its holes are).
    pub fn file(&self) -> Option<&File> {
        match self {
            DumpBytes::Mapped(m) => Some(&m.file),
            DumpBytes::Owned(_) => None,
        }
    }

    /// How many SIGBUS faults were contained in this mapping (the file shrank).
    pub fn faults(&self) -> u64 {
        match self {
            DumpBytes::Mapped(m) => guard::faults(m.slot),
            DumpBytes::Owned(_) => 0,
        }
    }

    /// Copy `dst.len()` bytes at file offset `offset`. Fails with
    /// [`DumpError::FileShrank`] when the file no longer holds them: never faults.
    pub fn copy_at(&self, offset: u64, dst: &mut [u8]) -> Result<()> {
        let want = dst.len() as u64;
        let shrank = |file_len: u64| DumpError::FileShrank {
            offset,
            len: want,
            file_len,
        };
        let src = self
            .as_slice()
            .bytes_at(offset, want)
            .ok_or(shrank(self.as_slice().len() as u64))?;
        let DumpBytes::Mapped(m) = self else {
            dst.copy_from_slice(src);
            return Ok(());
        };
        if guard::faults(m.slot) == 0 {
            dst.copy_from_slice(src);
            // A fault during the copy replaced a page with zeros: fall through and
            // read the file itself.
            if guard::faults(m.slot) == 0 {
                return Ok(());
            }
        }
        // The mapping faulted before: pages past the file's end were replaced by zero
        // pages, so the file, not the mapping, says what is still there.
        m.file
            .read_exact_at(dst, offset)
            .map_err(|_| shrank(m.file.metadata().map_or(0, |md| md.len())))
    }

    /// After a contained fault, is `[offset, offset + len)` still inside the file?
    /// Always true while the mapping has not faulted (no system call then).
    pub fn still_holds(&self, offset: u64, len: u64) -> bool {
        match self {
            DumpBytes::Mapped(m) if guard::faults(m.slot) > 0 => m
                .file
                .metadata()
                .is_ok_and(|md| offset.checked_add(len).is_some_and(|end| end <= md.len())),
            _ => true,
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

/// Hint that all of `bytes` is about to be read once, in order (a frame table at open):
/// the kernel maps the pages in one call instead of one page fault per 64 KiB, which
/// saves about a fifth of a pass over a 256 MiB table. Only a hint: kernels before 5.14
/// refuse it, and bytes the file no longer has are left to the SIGBUS guard as before.
pub(super) fn will_read_once(bytes: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        let start = bytes.as_ptr() as usize & !4095;
        let end = bytes.as_ptr() as usize + bytes.len();
        if bytes.len() < 1 << 20 {
            return;
        }
        // SAFETY: MADV_POPULATE_READ only fills page tables for a range of our own
        // address space that `bytes` borrows (the rounding stays within its pages); it
        // reads and writes no byte of it and never faults (a failure is an error code,
        // which is ignored).
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                end - start,
                libc::MADV_POPULATE_READ,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = bytes;
}

impl std::fmt::Debug for DumpBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DumpBytes::Mapped(m) => write!(f, "Mapped({} bytes)", m.map.len()),
            DumpBytes::Owned(v) => write!(f, "Owned({} bytes)", v.len()),
        }
    }
}

/// The SIGBUS guard: a process-wide handler and a fixed table of guarded ranges.
///
/// Everything the handler touches is a static atomic, so it is async-signal-safe: no
/// locks, no allocation. Replacing the faulting page with `mmap(MAP_FIXED)` is a plain
/// system call on Linux.
mod guard {
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
    use std::sync::OnceLock;

    /// Most mappings guarded at once.
    const SLOTS: usize = 256;

    /// An index into the range table.
    #[derive(Clone, Copy, Debug)]
    pub struct Slot(usize);

    struct Range {
        used: AtomicBool,
        start: AtomicUsize,
        /// Zero while the slot is free or being filled: the handler ignores it then.
        len: AtomicUsize,
        faults: AtomicU64,
    }

    #[allow(clippy::declare_interior_mutable_const)]
    const FREE: Range = Range {
        used: AtomicBool::new(false),
        start: AtomicUsize::new(0),
        len: AtomicUsize::new(0),
        faults: AtomicU64::new(0),
    };
    static RANGES: [Range; SLOTS] = [FREE; SLOTS];

    /// What SIGBUS did before we installed the guard, to hand other faults on to.
    struct Previous(libc::sigaction);
    // SAFETY: plain data (a handler address, flags and a mask), written once.
    unsafe impl Sync for Previous {}
    unsafe impl Send for Previous {}
    static PREVIOUS: OnceLock<Previous> = OnceLock::new();
    static PAGE: AtomicUsize = AtomicUsize::new(4096);

    fn install() {
        PREVIOUS.get_or_init(|| {
            // SAFETY: sysconf and sigaction with valid pointers; the handler below only
            // touches atomics and makes async-signal-safe system calls.
            unsafe {
                let page = libc::sysconf(libc::_SC_PAGESIZE);
                if page > 0 {
                    PAGE.store(page as usize, SeqCst);
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    on_sigbus;
                action.sa_sigaction = handler as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(libc::SIGBUS, &action, &mut old);
                Previous(old)
            }
        });
    }

    /// Guard `[start, start + len)`; `None` when every slot is taken.
    pub fn register(start: usize, len: usize) -> Option<Slot> {
        install();
        let i = RANGES
            .iter()
            .position(|r| r.used.compare_exchange(false, true, SeqCst, SeqCst).is_ok())?;
        let r = &RANGES[i];
        r.faults.store(0, SeqCst);
        r.start.store(start, SeqCst);
        r.len.store(len, SeqCst);
        Some(Slot(i))
    }

    /// Stop guarding a range (before it is unmapped).
    pub fn unregister(slot: Slot) {
        let r = &RANGES[slot.0];
        r.len.store(0, SeqCst);
        r.start.store(0, SeqCst);
        r.used.store(false, SeqCst);
    }

    /// Faults contained in a range so far.
    pub fn faults(slot: Slot) -> u64 {
        RANGES[slot.0].faults.load(SeqCst)
    }

    extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
        // SAFETY: the kernel passes a valid siginfo for an SA_SIGINFO handler.
        let addr = unsafe { (*info).si_addr() } as usize;
        let page = PAGE.load(SeqCst);
        for r in &RANGES {
            let len = r.len.load(SeqCst);
            let start = r.start.load(SeqCst);
            if len != 0 && addr >= start && addr - start < len {
                // SAFETY: the page lies inside a live mapping of ours (it is unregistered
                // before it is unmapped); replacing it with a private zero page changes
                // only what that mapping reads.
                let p = unsafe {
                    libc::mmap(
                        (addr & !(page - 1)) as *mut libc::c_void,
                        page,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    )
                };
                if p != libc::MAP_FAILED {
                    r.faults.fetch_add(1, SeqCst);
                    return;
                }
                break;
            }
        }
        // Not one of ours (or the page could not be replaced): behave as before us.
        let Some(Previous(prev)) = PREVIOUS.get() else {
            return;
        };
        let handler = prev.sa_sigaction;
        // SAFETY: calling the handler that was installed before ours, with the
        // arguments the kernel gave us, as it would have been called; or restoring the
        // default action so the re-executed access terminates the process as usual.
        unsafe {
            if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
            } else if prev.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                    std::mem::transmute(handler);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(handler);
                f(sig);
            }
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
