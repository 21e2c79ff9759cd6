use thiserror::Error;

use crate::addr::{GuestFrame, MachineFrame, PhysAddr};
use crate::dump::ContextLayout;

/// Why a guest description could not be built or written as a dump.
#[derive(Debug, Error)]
pub enum BuildError {
    /// The format cannot hold this guest.
    #[error("cannot write {what}")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
    },
    /// A frame run of zero pages, or one reaching beyond frame 2^52.
    #[error("frame run at {pfn} with {count} pages is empty or overflows")]
    BadRun {
        /// First guest frame of the run.
        pfn: GuestFrame,
        /// Requested page count.
        count: u64,
    },
    /// A new run shares guest frames with an existing one.
    #[error("frame run {pfn}+{count} overlaps the run starting at {existing}")]
    OverlappingPfns {
        /// First guest frame of the new run.
        pfn: GuestFrame,
        /// Page count of the new run.
        count: u64,
        /// First guest frame of the existing run.
        existing: GuestFrame,
    },
    /// A new run shares machine frames with an existing one.
    #[error("frame run {mfn}+{count} overlaps the machine frames of the run at {existing}")]
    OverlappingMfns {
        /// First machine frame of the new run.
        mfn: MachineFrame,
        /// Page count of the new run.
        count: u64,
        /// First guest frame of the existing run.
        existing: GuestFrame,
    },
    /// Page contents were given for a frame that no run populates.
    #[error("{pfn} is not populated (writing {len} bytes at {addr})")]
    NotPopulated {
        /// The unpopulated frame.
        pfn: GuestFrame,
        /// Start of the write that touched it.
        addr: PhysAddr,
        /// Length of that write.
        len: usize,
    },
    /// A legacy page order names a frame that no run populates.
    #[error("legacy page order entry {position} names unpopulated {pfn}")]
    PageOrderUnpopulated {
        /// Position in the page order.
        position: usize,
        /// The unpopulated frame.
        pfn: GuestFrame,
    },
    /// The context structure does not fit in the configured slot.
    #[error("{layout:?} context ({needed} bytes) does not fit a {slot}-byte context slot")]
    ContextSlotTooSmall {
        /// Layout of the context.
        layout: ContextLayout,
        /// Size the layout needs.
        needed: u64,
        /// Configured slot size.
        slot: u64,
    },
    /// A legacy index width other than 4 or 8.
    #[error("legacy index entries must be 4 or 8 bytes wide, not {0}")]
    BadIndexWidth(u8),
    /// A value does not fit the on-disk field that must hold it.
    #[error("{field} = {value:#x} does not fit in {bits} bits")]
    FieldOverflow {
        /// Name of the field (and the format it belongs to).
        field: &'static str,
        /// The value that was to be stored.
        value: u64,
        /// Width of the field.
        bits: u32,
    },
    /// A XEN_VERSION string longer than its fixed-size field.
    #[error("XEN_VERSION {field} is {len} bytes, the field holds {max}")]
    StringTooLong {
        /// Name of the string field.
        field: &'static str,
        /// Length of the given string.
        len: usize,
        /// Size of the field.
        max: usize,
    },
    /// Writing the dump failed.
    #[error("writing dump at byte {offset}: {source}")]
    Io {
        /// File position (relative to the start of the dump) where the write failed.
        offset: u64,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Creating the output file failed.
    #[error("creating {path}: {source}")]
    Create {
        /// Path of the output file.
        path: std::path::PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}
