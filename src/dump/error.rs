//! Errors of the dump-format layer.

use std::path::PathBuf;

use crate::addr::PageIndex;

/// Everything that can be wrong with a dump file, with where it was found.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The file could not be opened, inspected or mapped.
    #[error("cannot read dump {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Too short to hold even the header of any known format.
    #[error("file is {len} bytes long: too short for a Xen core dump (needs at least {needed} bytes for the {what})")]
    TooShort {
        len: u64,
        needed: u64,
        what: &'static str,
    },

    /// Neither an ELF xendump nor a legacy xendump.
    #[error("not a Xen core dump: first bytes are {found:02x?}; expected an ELF header (7f 45 4c 46), a legacy xc_core magic (0xf00febed / 0xf00febee) or a saved domain (\"Xen saved domain, xl format\", \"LibxlFmt\", or a migration stream's ff…ff \"XENF\"; xm's \"LinuxGuestRecord\" images of Xen < 4.6 need Xen's convert-legacy-stream first)")]
    UnknownFormat { found: Vec<u8> },

    /// The ELF headers are malformed.
    #[error("malformed ELF header: {what}")]
    Elf { what: String },

    /// An ELF core file that is not a Xen dump (no `.note.Xen`).
    #[error("ELF file has no section {name}: not a Xen core dump (perhaps a Linux vmcore or a process core?)")]
    NotXenElf { name: &'static str },

    /// A required section is missing.
    #[error("section {name} is missing ({why})")]
    MissingSection {
        name: &'static str,
        why: &'static str,
    },

    /// A section (or legacy region) lies partly or wholly outside the file.
    #[error("{name} at file offset {offset:#x} with size {size:#x} extends past the end of the file ({file_len:#x} bytes): the dump is truncated or corrupt")]
    OutOfBounds {
        name: &'static str,
        offset: u64,
        size: u64,
        file_len: u64,
    },

    /// A section's size disagrees with the header's counts.
    #[error("{name}: size is {found:#x} bytes but {expected:#x} were expected ({why})")]
    SizeMismatch {
        name: &'static str,
        expected: u64,
        found: u64,
        why: String,
    },

    /// A section's `sh_entsize` is not the entry size the format uses.
    #[error("{name}: sh_entsize is {found} but must be {expected}")]
    BadEntrySize {
        name: &'static str,
        expected: String,
        found: u64,
    },

    /// Two regions of the file overlap.
    #[error("{a} [{a_start:#x}, {a_end:#x}) overlaps {b} [{b_start:#x}, {b_end:#x})")]
    Overlap {
        a: &'static str,
        a_start: u64,
        a_end: u64,
        b: &'static str,
        b_start: u64,
        b_end: u64,
    },

    /// A note in `.note.Xen` is malformed.
    #[error(".note.Xen: note at file offset {offset:#x}: {what}")]
    BadNote { offset: u64, what: String },

    /// A required Xen note is absent.
    #[error(".note.Xen has no {name} note (type {note_type:#x})")]
    MissingNote { name: &'static str, note_type: u32 },

    /// A header field has an impossible value.
    #[error("{header}: field {field} is {found:#x}, expected {expected}")]
    BadField {
        header: &'static str,
        field: &'static str,
        found: u64,
        expected: String,
    },

    /// A saved image holds a mandatory record this reader does not know (optional ones,
    /// with bit 31 of their type set, are skipped), as Xen's restore refuses it.
    #[error("{layer} record of unknown mandatory type {record_type:#x} at file offset {offset:#x}: the image needs a reader that knows it (Xen's restore refuses it too)")]
    UnknownRecord {
        layer: &'static str,
        record_type: u32,
        offset: u64,
    },

    /// The dump claims no vCPUs, so there is no register state to serve.
    #[error("{where_}: the dump holds no vCPU contexts (nr_vcpus = 0)")]
    NoVcpus { where_: &'static str },

    /// A page index outside the dump.
    #[error("{index} is outside the dump, which holds {count} pages")]
    PageOutOfRange { index: PageIndex, count: u64 },

    /// The page is listed but its bytes are missing (file cut short).
    #[error(
        "{index} lies past the end of the file (the dump was truncated at {file_len:#x} bytes)"
    )]
    PageTruncated { index: PageIndex, file_len: u64 },

    /// The file shrank while it was being served (another process truncated it).
    #[error("the dump file shrank while in use: bytes [{offset:#x}, +{len:#x}) are gone (the file now ends at {file_len:#x})")]
    FileShrank {
        offset: u64,
        len: u64,
        file_len: u64,
    },
}

/// Result alias for the dump layer.
pub type Result<T, E = DumpError> = std::result::Result<T, E>;
