//! Errors of the conversion layer.

use std::path::PathBuf;

use crate::addr::PageIndex;
use crate::dump::DumpError;

/// Why a dump could not be turned into a vmcore, with where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A legacy (Xen 3.0.x) PV dump names no pseudo-physical frames at all.
    #[error("this legacy (Xen 3.0.x) PV dump records machine frames only, so the pseudo-physical address of no page is known and no physical vmcore can be written; if the guest kernel's p2m list is in the dump, give its address and length with --p2m-list VA,ENTRIES (in gdb on the served dump: `p/x phys_to_machine_mapping` and `p max_pfn`, or `xen_p2m_addr` and `xen_p2m_size` on Linux >= 3.19); or serve the dump with `xendump-gdbserver DUMP` (virtual and machine-address reads work there)")]
    NoPseudoPhysical,

    /// A p2m list was given for a dump that records pfns itself.
    #[error("this dump records the pseudo-physical frame of every page itself; a p2m list is only needed (and used) for legacy (Xen 3.0.x) PV dumps")]
    PfnsKnown,

    /// No byte of the guest's p2m list could be read.
    #[error("cannot read the guest's p2m list at {va:#x}: {source}")]
    P2mUnreadable {
        va: u64,
        #[source]
        source: crate::memory::MemoryError,
    },

    /// The vmlinux is not the dumped kernel's.
    #[error(transparent)]
    Vmlinux(#[from] crate::os::linux::debuginfo::DebugInfoError),

    /// The p2m list names none of the dump's machine frames.
    #[error("the p2m list at {va:#x} ({entries} entries, {mfns} naming a machine frame) names none of the dump's pages: is it the right address?")]
    P2mNamesNoPage { va: u64, entries: u64, mfns: u64 },

    /// The dump holds no page with a known pseudo-physical address.
    #[error("the dump holds no guest page with a known pseudo-physical frame: nothing to convert")]
    NoPages,

    /// The frame table is not strictly ascending by pfn, as every Xen writer makes it.
    #[error("{index} has pfn {pfn:#x}, not above the previous page's pfn {previous:#x}: the dump's frame table is damaged (Xen writes it in ascending pfn order)")]
    UnsortedFrames {
        index: PageIndex,
        pfn: u64,
        previous: u64,
    },

    /// A pfn too large for any x86 physical address (52 bits).
    #[error("{index} has pfn {pfn:#x}, beyond any x86 physical address: the dump's frame table is damaged")]
    FrameTooLarge { index: PageIndex, pfn: u64 },

    /// The dump was cut short: listed pages have no bytes in the file.
    #[error("the dump is truncated: {missing} pages from {first} on are listed but missing from the file ({file_len:#x} bytes); pass --allow-truncated to leave them out of the vmcore")]
    PagesMissing {
        first: PageIndex,
        missing: u64,
        file_len: u64,
    },

    /// A page could not be read from the dump while copying.
    #[error("cannot read {index} of the dump: {source}")]
    ReadPage {
        index: PageIndex,
        #[source]
        source: DumpError,
    },

    /// Writing the vmcore failed (disk full, I/O error, …).
    #[error("writing the vmcore failed at offset {offset:#x}: {source}")]
    WriteAt {
        offset: u64,
        #[source]
        source: std::io::Error,
    },

    /// The output file exists and `force` was not given.
    #[error("{path} exists; choose another name or pass --force to replace it")]
    OutputExists { path: PathBuf },

    /// The output would replace the dump being read.
    #[error("{path} is the dump being converted; write the vmcore elsewhere")]
    OutputIsInput { path: PathBuf },

    /// The temporary output file could not be created.
    #[error("cannot create a temporary file in {dir}: {source}")]
    CreateTemp {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Writing to the temporary output file failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: Box<ConvertError>,
    },

    /// Flushing the output to disk failed.
    #[error("cannot flush {path} to disk: {source}")]
    Sync {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The finished temporary file could not be renamed to the output name.
    #[error("cannot rename the finished vmcore to {path}: {source}")]
    Persist {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The written layout disagrees with the plan (a bug, reported rather than hidden).
    #[error("internal error: {what} (expected offset {expected:#x}, at {found:#x})")]
    Layout {
        what: &'static str,
        expected: u64,
        found: u64,
    },
}
