//! Saved domains: the libxc migration stream (v2/v3), as `xl save` writes it inside
//! its "Xen saved domain, xl format" container and libxl's stream, or bare.
//!
//! One pass over the records builds everything: the page index ([`pages`]: where the
//! newest copy of each page lies, no page copied), the vCPU records (PV: a
//! `vcpu_guest_context` per vCPU; HVM: the CPU entries of the HVM context) and what
//! the stream says of the domain ([`SavedImage`]). Checkpointed streams are read as
//! Xen's restore reads them: a checkpoint counts once its CHECKPOINT record is read,
//! and what follows the last one is dropped (a failover restores the last complete
//! checkpoint). The layout: docs/xl-save-format.md.

pub mod hvm;
pub mod pages;

use std::collections::BTreeMap;

use serde::Serialize;

use super::context;
use super::error::{DumpError, Result};
use super::source::LeRead;
use super::MAX_VCPUS;
use crate::addr::PAGE_SIZE;
use crate::kinds::{ContextLayout, GuestKind};
use crate::vcpu::VcpuState;

pub use pages::StreamPages;

#[cfg(test)]
mod tests;

/// `savefileheader_magic` of `tools/xl/xl.h` (32 bytes, NULs included).
pub const XL_MAGIC: &[u8; 32] = b"Xen saved domain, xl format\n \0 \r";
/// Size of xl's `struct save_file_header`.
const XL_HEADER: u64 = 48;
/// `SAVEFILE_BYTEORDER_VALUE`, in the saving host's byte order.
const XL_BYTEORDER: u32 = 0x0102_0304;
/// xl mandatory flag: the config is JSON.
pub const XL_FLAG_JSON: u32 = 1 << 0;
/// xl mandatory flag: the stream is migration v2 (Xen ≥ 4.6).
pub const XL_FLAG_STREAM_V2: u32 = 1 << 1;
/// libxl stream ident, "LibxlFmt" (big-endian u64).
pub const LIBXL_IDENT: &[u8; 8] = b"LibxlFmt";
/// libxc image header marker and id ("XENF").
pub const LIBXC_MARKER: u64 = u64::MAX;
pub const LIBXC_ID: &[u8; 4] = b"XENF";
/// Longest libxc record Xen reads (`REC_LENGTH_MAX`).
pub const REC_LENGTH_MAX: u64 = 128 << 20;
/// Bit 31 of a record type: optional, may be skipped.
pub const REC_OPTIONAL: u32 = 0x8000_0000;
/// Guest frames per page of the PV p2m, by guest width.
const PFN_BITS: u64 = 52;

/// libxc record types (`xg_sr_stream_format.h`).
pub mod rec {
    pub const END: u32 = 0;
    pub const PAGE_DATA: u32 = 1;
    pub const X86_PV_INFO: u32 = 2;
    pub const X86_PV_P2M_FRAMES: u32 = 3;
    pub const X86_PV_VCPU_BASIC: u32 = 4;
    pub const X86_PV_VCPU_EXTENDED: u32 = 5;
    pub const X86_PV_VCPU_XSAVE: u32 = 6;
    pub const SHARED_INFO: u32 = 7;
    pub const X86_TSC_INFO: u32 = 8;
    pub const HVM_CONTEXT: u32 = 9;
    pub const HVM_PARAMS: u32 = 0xa;
    pub const TOOLSTACK: u32 = 0xb;
    pub const X86_PV_VCPU_MSRS: u32 = 0xc;
    pub const VERIFY: u32 = 0xd;
    pub const CHECKPOINT: u32 = 0xe;
    pub const CHECKPOINT_DIRTY_PFN_LIST: u32 = 0xf;
    pub const STATIC_DATA_END: u32 = 0x10;
    pub const X86_CPUID_POLICY: u32 = 0x11;
    pub const X86_MSR_POLICY: u32 = 0x12;
}

/// libxl record types (`libxl_sr_stream_format.h`).
pub mod libxl_rec {
    pub const END: u32 = 0;
    pub const LIBXC_CONTEXT: u32 = 1;
    pub const EMULATOR_XENSTORE_DATA: u32 = 2;
    pub const EMULATOR_CONTEXT: u32 = 3;
    pub const CHECKPOINT_END: u32 = 4;
    pub const CHECKPOINT_STATE: u32 = 5;
}

/// Name of a libxc record type.
pub fn record_name(t: u32) -> &'static str {
    match t {
        rec::END => "END",
        rec::PAGE_DATA => "PAGE_DATA",
        rec::X86_PV_INFO => "X86_PV_INFO",
        rec::X86_PV_P2M_FRAMES => "X86_PV_P2M_FRAMES",
        rec::X86_PV_VCPU_BASIC => "X86_PV_VCPU_BASIC",
        rec::X86_PV_VCPU_EXTENDED => "X86_PV_VCPU_EXTENDED",
        rec::X86_PV_VCPU_XSAVE => "X86_PV_VCPU_XSAVE",
        rec::SHARED_INFO => "SHARED_INFO",
        rec::X86_TSC_INFO => "X86_TSC_INFO",
        rec::HVM_CONTEXT => "HVM_CONTEXT",
        rec::HVM_PARAMS => "HVM_PARAMS",
        rec::TOOLSTACK => "TOOLSTACK",
        rec::X86_PV_VCPU_MSRS => "X86_PV_VCPU_MSRS",
        rec::VERIFY => "VERIFY",
        rec::CHECKPOINT => "CHECKPOINT",
        rec::CHECKPOINT_DIRTY_PFN_LIST => "CHECKPOINT_DIRTY_PFN_LIST",
        rec::STATIC_DATA_END => "STATIC_DATA_END",
        rec::X86_CPUID_POLICY => "X86_CPUID_POLICY",
        rec::X86_MSR_POLICY => "X86_MSR_POLICY",
        t if t & REC_OPTIONAL != 0 => "optional (unknown)",
        _ => "unknown",
    }
}

/// Name of a libxl record type.
pub fn libxl_record_name(t: u32) -> &'static str {
    match t {
        libxl_rec::END => "END",
        libxl_rec::LIBXC_CONTEXT => "LIBXC_CONTEXT",
        libxl_rec::EMULATOR_XENSTORE_DATA => "EMULATOR_XENSTORE_DATA",
        libxl_rec::EMULATOR_CONTEXT => "EMULATOR_CONTEXT",
        libxl_rec::CHECKPOINT_END => "CHECKPOINT_END",
        libxl_rec::CHECKPOINT_STATE => "CHECKPOINT_STATE",
        t if t & REC_OPTIONAL != 0 => "optional (unknown)",
        _ => "unknown",
    }
}

/// Name of an `XEN_DOMCTL_PFINFO_*` page type (the top nibble of a PAGE_DATA pfn).
pub fn page_type_name(t: u8) -> &'static str {
    match t {
        0x0 => "NOTAB",
        0x1 => "L1TAB",
        0x2 => "L2TAB",
        0x3 => "L3TAB",
        0x4 => "L4TAB",
        0x9 => "L1TAB_PIN",
        0xa => "L2TAB_PIN",
        0xb => "L3TAB_PIN",
        0xc => "L4TAB_PIN",
        0xd => "BROKEN",
        0xe => "XALLOC",
        0xf => "XTAB",
        _ => "reserved",
    }
}

/// Does a page of type `t` carry data in the stream?
fn has_data(t: u8) -> bool {
    !matches!(t, 0xd..=0xf)
}

/// Is `t` a page type Xen knows?
fn known_type(t: u8) -> bool {
    !matches!(t, 0x5..=0x8)
}

/// Does the file start like a saved domain (any of the three containers)?
pub fn is_saved_image(data: &[u8]) -> bool {
    data.starts_with(&XL_MAGIC[..28])
        || data.starts_with(LIBXL_IDENT)
        || (data.u64_at(0) == Some(LIBXC_MARKER) && data.get(8..12) == Some(&LIBXC_ID[..]))
}

/// The container a stream came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Container {
    /// `xl save` / `xl migrate`: xl's header and config, then libxl's stream.
    Xl,
    /// A libxl stream without xl's header.
    Libxl,
    /// A bare libxc stream.
    Libxc,
}

/// xl's header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct XlHeader {
    pub mandatory_flags: u32,
    pub optional_flags: u32,
    pub optional_data_len: u32,
    /// The domain configuration, when xl stored one.
    pub config: Option<XlConfig>,
}

/// What the domain configuration in xl's header says (JSON from Xen 4.5 on).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct XlConfig {
    pub bytes: u64,
    pub json: bool,
    pub name: Option<String>,
    pub uuid: Option<String>,
    /// `c_info.type`: "pv", "hvm" or "pvh".
    pub domain_type: Option<String>,
    pub max_vcpus: Option<u64>,
    /// vCPUs the configuration had online.
    pub avail_vcpus: Option<Vec<u64>>,
    pub max_memkb: Option<u64>,
    pub target_memkb: Option<u64>,
}

/// `X86_PV_INFO` and `X86_PV_P2M_FRAMES`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PvInfo {
    /// Guest width in bytes (4 or 8).
    pub guest_width: u8,
    /// Page-table levels (3: PAE, 4).
    pub pt_levels: u8,
    /// First and last pfn the p2m frame list covers.
    pub p2m_pfns: Option<(u64, u64)>,
    /// pfns of the frames holding the guest's p2m.
    pub p2m_frames: Vec<u64>,
}

/// `X86_TSC_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct TscInfo {
    pub mode: u32,
    pub khz: u32,
    pub nsec: u64,
    pub incarnation: u32,
}

/// One HVM parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HvmParam {
    pub index: u64,
    pub name: &'static str,
    pub value: u64,
}

/// Name of an `HVM_PARAM_*` index (`xen/include/public/hvm/params.h`).
pub fn hvm_param_name(i: u64) -> &'static str {
    match i {
        0 => "CALLBACK_IRQ",
        1 => "STORE_PFN",
        2 => "STORE_EVTCHN",
        4 => "PAE_ENABLED",
        5 => "IOREQ_PFN",
        6 => "BUFIOREQ_PFN",
        9 => "VIRIDIAN",
        10 => "TIMER_MODE",
        11 => "HPET_ENABLED",
        12 => "IDENT_PT",
        14 => "ACPI_S_STATE",
        15 => "VM86_TSS",
        16 => "VPT_ALIGN",
        17 => "CONSOLE_PFN",
        18 => "CONSOLE_EVTCHN",
        19 => "ACPI_IOPORTS_LOCATION",
        20 => "MEMORY_EVENT_CR0",
        27 => "PAGING_RING_PFN",
        28 => "MONITOR_RING_PFN",
        29 => "SHARING_RING_PFN",
        31 => "TRIPLE_FAULT_REASON",
        32 => "IOREQ_SERVER_PFN",
        33 => "NR_IOREQ_SERVER_PAGES",
        34 => "VM_GENERATION_ID_ADDR",
        35 => "ALTP2M",
        36 => "X87_FIP_WIDTH",
        37 => "VM86_TSS_SIZED",
        38 => "MCA_CAP",
        _ => "?",
    }
}

/// Counts of one record type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordCount {
    /// "libxc" or "libxl".
    pub layer: &'static str,
    pub record_type: u32,
    pub name: &'static str,
    pub count: u64,
    pub bytes: u64,
}

/// A vCPU's records beyond its registers (PV streams).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct VcpuExtras {
    pub vcpu: u32,
    /// `X86_PV_VCPU_EXTENDED` bytes (`xen_domctl_ext_vcpucontext`).
    pub extended: u64,
    /// `X86_PV_VCPU_XSAVE` bytes.
    pub xsave: u64,
    /// `X86_PV_VCPU_MSRS` entries.
    pub msrs: u64,
}

/// A libxl emulator record (HVM: QEMU's state).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EmulatorRecord {
    pub kind: &'static str,
    /// 1: QEMU traditional, 2: QEMU upstream.
    pub emulator: u32,
    pub index: u32,
    pub bytes: u64,
}

/// Pages of one type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PageTypeCount {
    pub page_type: &'static str,
    pub count: u64,
}

/// What a saved image says, beyond its memory and registers: for `info`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SavedImage {
    pub container: Container,
    pub xl: Option<XlHeader>,
    /// libxl stream version and whether it was converted from a legacy stream.
    pub libxl_version: Option<u32>,
    pub libxl_from_legacy: bool,
    /// libxc stream version (2 or 3).
    pub libxc_version: u32,
    /// Domain header type: "x86 PV" or "x86 HVM".
    pub domain_type: &'static str,
    /// Xen version that saved it (0.x: converted from the legacy format).
    pub xen_major: u32,
    pub xen_minor: u32,
    /// File offset of the libxc image header.
    pub libxc_offset: u64,
    pub records: Vec<RecordCount>,
    /// Optional records of types this reader does not know, skipped.
    pub skipped_optional: u64,
    /// CHECKPOINT records: each a consistent state; the last is served.
    pub checkpoints: u64,
    /// The stream reached its END record.
    pub complete: bool,
    /// Page copies in the stream (every pass), of which `pages` distinct pages served.
    pub page_copies: u64,
    pub pages: u64,
    /// Pfns sent without data (XTAB, XALLOC, BROKEN).
    pub pages_without_data: u64,
    /// Page copies sent after a VERIFY record (compared, not restored, by Xen).
    pub verify_pages: u64,
    /// Page copies of a checkpoint the stream does not complete (dropped).
    pub dropped_pages: u64,
    pub page_types: Vec<PageTypeCount>,
    pub pv: Option<PvInfo>,
    pub tsc: Option<TscInfo>,
    pub hvm_params: Vec<HvmParam>,
    pub hvm_context: Option<hvm::HvmContext>,
    /// vCPU ids with registers in the stream.
    pub vcpus_saved: Vec<u32>,
    pub vcpu_extras: Vec<VcpuExtras>,
    pub emulator: Vec<EmulatorRecord>,
    /// `X86_CPUID_POLICY` leaves and `X86_MSR_POLICY` entries.
    pub cpuid_leaves: Option<u64>,
    pub msr_entries: Option<u64>,
    /// Bytes of the page index, and its shape.
    pub index_bytes: usize,
    pub index_runs: Option<usize>,
    pub index_batches: usize,
}

/// A stream opened: what the dump layer keeps.
#[derive(Debug)]
pub struct Opened {
    pub guest_kind: GuestKind,
    pub layout: ContextLayout,
    pub vcpus: Vec<VcpuState>,
    /// The vCPU record each slot was decoded from (file offset, length).
    pub contexts: Vec<Option<(u64, u64)>>,
    pub pages: StreamPages,
    pub shared_info: Option<u64>,
    pub pv_levels: Option<u8>,
    pub facts: SavedImage,
    pub warnings: Vec<String>,
}

/// Where a record's body is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    /// File offset of the record header.
    record: u64,
    body: u64,
    len: u64,
}

/// The records that make up one consistent state (a checkpoint's), newest kept.
#[derive(Clone, Debug, Default)]
struct State {
    pv_basic: BTreeMap<u32, Span>,
    pv_extended: BTreeMap<u32, u64>,
    pv_xsave: BTreeMap<u32, u64>,
    pv_msrs: BTreeMap<u32, u64>,
    shared_info: Option<Span>,
    tsc: Option<Span>,
    hvm_context: Option<Span>,
    hvm_params: Option<Span>,
    emulator: BTreeMap<(u32, u32, u32), u64>,
}

impl State {
    fn is_empty(&self) -> bool {
        self.pv_basic.is_empty()
            && self.shared_info.is_none()
            && self.tsc.is_none()
            && self.hvm_context.is_none()
            && self.hvm_params.is_none()
    }

    /// `newer` on top of `self`.
    fn absorb(&mut self, newer: State) {
        self.pv_basic.extend(newer.pv_basic);
        self.pv_extended.extend(newer.pv_extended);
        self.pv_xsave.extend(newer.pv_xsave);
        self.pv_msrs.extend(newer.pv_msrs);
        self.emulator.extend(newer.emulator);
        for (mine, theirs) in [
            (&mut self.shared_info, newer.shared_info),
            (&mut self.tsc, newer.tsc),
            (&mut self.hvm_context, newer.hvm_context),
            (&mut self.hvm_params, newer.hvm_params),
        ] {
            if theirs.is_some() {
                *mine = theirs;
            }
        }
    }
}

/// One record header read.
#[derive(Clone, Copy, Debug)]
struct Record {
    at: u64,
    rtype: u32,
    body: u64,
    len: u64,
    /// Offset of the next record (body padded to 8 bytes).
    next: u64,
}

/// Why reading stopped before the stream's end.
enum Stop {
    /// The file ends inside a record (or a header).
    Truncated(String),
    /// A record is malformed beyond reading on.
    Broken(String),
}

/// Read the record header at `at` (`limit`: the longest body allowed).
fn record_at(data: &[u8], at: u64, layer: &str, limit: u64) -> std::result::Result<Record, Stop> {
    let file_len = data.len() as u64;
    let (Some(rtype), Some(len)) = (data.u32_at(at), data.u32_at(at + 4)) else {
        return Err(Stop::Truncated(if at >= file_len {
            format!("the file ends at offset {at:#x}, between {layer} records")
        } else {
            format!("the file ends inside a {layer} record header at offset {at:#x}")
        }));
    };
    let len = u64::from(len);
    let name = if layer == "libxc" {
        record_name(rtype)
    } else {
        libxl_record_name(rtype)
    };
    if len > limit {
        return Err(Stop::Broken(format!(
            "{layer} record {name} ({rtype:#x}) at offset {at:#x} claims {len} bytes, more than the {limit} a record may hold"
        )));
    }
    let body = at + 8;
    let next = body + len.div_ceil(8) * 8;
    if body + len > file_len {
        return Err(Stop::Truncated(format!(
            "the file ends inside {layer} record {name} at offset {at:#x} ({len} bytes, {} present)",
            file_len.saturating_sub(body)
        )));
    }
    Ok(Record {
        at,
        rtype,
        body,
        len,
        next,
    })
}

/// Bytes of the file read before the reader lets the kernel drop them from the process.
const RELEASE_EVERY: u64 = 32 << 20;
/// Records whose start is asked for ahead of the pass, guessing that they follow at the
/// stride of the last two (a PAGE_DATA record of a full batch is 4 MiB + 8 KiB + 16).
const PREFETCH_RECORDS: u64 = 16;
/// Bytes of each record asked for: the header and a full batch's pfn array.
const PREFETCH_BYTES: u64 = 16 + 8 * 1024;

/// What the pass may tell the kernel about the file it reads (hints only).
pub trait FileHints {
    /// `[offset, offset + len)` will not be read again soon.
    fn release(&self, offset: u64, len: u64);
    /// `[offset, offset + len)` will be read soon.
    fn prefetch(&self, offset: u64, len: u64);
}

/// No hints: a file held in memory.
pub struct NoHints;

impl FileHints for NoHints {
    fn release(&self, _: u64, _: u64) {}
    fn prefetch(&self, _: u64, _: u64) {}
}

/// The reader's state while walking the records.
struct Reader<'a> {
    data: &'a [u8],
    hints: &'a dyn FileHints,
    /// Everything before this offset has been released.
    released: u64,
    /// Records before this offset have been asked for.
    prefetched: u64,
    facts: SavedImage,
    warnings: Vec<String>,
    index: pages::PageIndexBuilder,
    /// Index position at the last CHECKPOINT.
    mark: pages::Mark,
    committed: State,
    pending: State,
    counts: BTreeMap<(&'static str, u32), (u64, u64)>,
    page_types: [u64; 16],
    verify: bool,
    guest_kind: GuestKind,
    pv: Option<PvInfo>,
    /// Highest pfn a PV guest may have (from X86_PV_P2M_FRAMES).
    pv_max_pfn: Option<u64>,
    out_of_range: u64,
    bad_page_records: u64,
}

/// Open a saved image held in `data`. The pass reads every record's header and pfn
/// array, never a page: `hints` is told which parts of the file it is done with (so
/// that a pass over tens of GiB keeps a flat resident size) and which it will read
/// next (so that a file not in the page cache is read ahead of the pass).
pub fn open(data: &[u8], hints: &dyn FileHints) -> Result<Opened> {
    let (container, xl, libxl_at) = container(data)?;
    let mut libxl_version = None;
    let mut libxl_from_legacy = false;
    let libxc_at;
    let mut libxl_records_at = None;
    match container {
        Container::Libxc => libxc_at = libxl_at,
        Container::Xl | Container::Libxl => {
            let at = libxl_at;
            let (Some(version), Some(options)) = (be32(data, at + 8), be32(data, at + 12)) else {
                return Err(DumpError::TooShort {
                    len: data.len() as u64,
                    needed: at + 16,
                    what: "libxl stream header",
                });
            };
            if options & 1 != 0 {
                return Err(unsupported("a big-endian libxl stream"));
            }
            if version != 2 {
                return Err(DumpError::BadField {
                    header: "libxl stream header",
                    field: "version",
                    found: u64::from(version),
                    expected: "2 (libxl-migration-stream.pandoc)".into(),
                });
            }
            libxl_version = Some(version);
            libxl_from_legacy = options & 2 != 0;
            libxl_records_at = Some(at + 16);
            libxc_at = 0;
        }
    }
    let mut r = Reader {
        data,
        hints,
        released: 0,
        prefetched: 0,
        facts: SavedImage {
            container,
            xl,
            libxl_version,
            libxl_from_legacy,
            libxc_version: 0,
            domain_type: "",
            xen_major: 0,
            xen_minor: 0,
            libxc_offset: 0,
            records: Vec::new(),
            skipped_optional: 0,
            checkpoints: 0,
            complete: false,
            page_copies: 0,
            pages: 0,
            pages_without_data: 0,
            verify_pages: 0,
            dropped_pages: 0,
            page_types: Vec::new(),
            pv: None,
            tsc: None,
            hvm_params: Vec::new(),
            hvm_context: None,
            vcpus_saved: Vec::new(),
            vcpu_extras: Vec::new(),
            emulator: Vec::new(),
            cpuid_leaves: None,
            msr_entries: None,
            index_bytes: 0,
            index_runs: None,
            index_batches: 0,
        },
        warnings: Vec::new(),
        index: pages::PageIndexBuilder::new(),
        mark: pages::Mark::default(),
        committed: State::default(),
        pending: State::default(),
        counts: BTreeMap::new(),
        page_types: [0; 16],
        verify: false,
        guest_kind: GuestKind::Pv,
        pv: None,
        pv_max_pfn: None,
        out_of_range: 0,
        bad_page_records: 0,
    };
    let stop = match libxl_records_at {
        Some(at) => r.walk_libxl(at)?,
        None => {
            let at = r.libxc_headers(libxc_at)?;
            r.walk_libxc(at, false)?.1
        }
    };
    if r.facts.libxc_version == 0 {
        return Err(DumpError::MissingSection {
            name: "LIBXC_CONTEXT",
            why: "a libxl stream holds the domain in its libxc part, and this one has none",
        });
    }
    if let Some(stop) = stop {
        let (Stop::Truncated(why) | Stop::Broken(why)) = stop;
        r.warnings.push(format!(
            "the stream was read up to where {why}: what was read is served"
        ));
    } else if !r.facts.complete {
        r.warnings
            .push("the stream has no END record: it may be incomplete".to_string());
    }
    r.finish()
}

fn be32(data: &[u8], at: u64) -> Option<u32> {
    data.u32_at(at).map(u32::from_be)
}

fn unsupported(what: &str) -> DumpError {
    DumpError::BadField {
        header: "saved image",
        field: "format",
        found: 0,
        expected: format!("a little-endian migration v2 stream (this is {what})"),
    }
}

/// Which container, xl's header, and where libxl's (or libxc's) stream starts.
fn container(data: &[u8]) -> Result<(Container, Option<XlHeader>, u64)> {
    if data.starts_with(LIBXL_IDENT) {
        return Ok((Container::Libxl, None, 0));
    }
    if !data.starts_with(&XL_MAGIC[..]) {
        if data.starts_with(&XL_MAGIC[..28]) {
            return Err(DumpError::BadField {
                header: "xl save header",
                field: "magic",
                found: 0,
                expected: "\"Xen saved domain, xl format\\n \\0 \\r\"".into(),
            });
        }
        return Ok((Container::Libxc, None, 0));
    }
    let f = |i: u64| data.u32_at(32 + 4 * i);
    let (Some(order), Some(mandatory), Some(optional), Some(opt_len)) = (f(0), f(1), f(2), f(3))
    else {
        return Err(DumpError::TooShort {
            len: data.len() as u64,
            needed: XL_HEADER,
            what: "xl save header",
        });
    };
    if order != XL_BYTEORDER {
        return Err(unsupported("saved on a host of another byte order"));
    }
    if mandatory & XL_FLAG_STREAM_V2 == 0 {
        return Err(unsupported(
            "the legacy stream of Xen < 4.6: Xen's convert-legacy-stream turns it into v2",
        ));
    }
    let unknown = mandatory & !(XL_FLAG_JSON | XL_FLAG_STREAM_V2);
    if unknown != 0 {
        return Err(DumpError::BadField {
            header: "xl save header",
            field: "mandatory_flags",
            found: u64::from(mandatory),
            expected: "only JSON (1) and STREAMv2 (2), which this reader knows".into(),
        });
    }
    let opt_end = XL_HEADER + u64::from(opt_len);
    let optional_data =
        data.bytes_at(XL_HEADER, u64::from(opt_len))
            .ok_or(DumpError::OutOfBounds {
                name: "xl save optional data",
                offset: XL_HEADER,
                size: u64::from(opt_len),
                file_len: data.len() as u64,
            })?;
    // The optional data: u32 config length, then the config (JSON, NUL-terminated).
    let config = optional_data.u32_at(0).and_then(|len| {
        let text = optional_data.bytes_at(4, u64::from(len))?;
        Some(parse_config(text, mandatory & XL_FLAG_JSON != 0))
    });
    Ok((
        Container::Xl,
        Some(XlHeader {
            mandatory_flags: mandatory,
            optional_flags: optional,
            optional_data_len: opt_len,
            config,
        }),
        opt_end,
    ))
}

/// What a domain configuration says.
fn parse_config(text: &[u8], json: bool) -> XlConfig {
    let mut c = XlConfig {
        bytes: text.len() as u64,
        json,
        ..XlConfig::default()
    };
    if !json {
        return c;
    }
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text[..end]) else {
        return c;
    };
    let s = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_string);
    let n = |p: &str| v.pointer(p).and_then(serde_json::Value::as_u64);
    c.name = s("/c_info/name");
    c.uuid = s("/c_info/uuid");
    c.domain_type = s("/c_info/type");
    c.max_vcpus = n("/b_info/max_vcpus");
    c.avail_vcpus = v.pointer("/b_info/avail_vcpus").and_then(|a| {
        a.as_array().map(|xs| {
            xs.iter()
                .filter_map(serde_json::Value::as_u64)
                .take(4096)
                .collect()
        })
    });
    c.max_memkb = n("/b_info/max_memkb");
    c.target_memkb = n("/b_info/target_memkb");
    c
}

impl Reader<'_> {
    fn count(&mut self, layer: &'static str, t: u32, len: u64) {
        let c = self.counts.entry((layer, t)).or_default();
        c.0 += 1;
        c.1 += len;
    }

    /// libxl's records from `at`; the libxc stream follows LIBXC_CONTEXT inline.
    fn walk_libxl(&mut self, mut at: u64) -> Result<Option<Stop>> {
        let mut in_checkpoint = false;
        loop {
            let r = match record_at(self.data, at, "libxl", u64::from(u32::MAX)) {
                Ok(r) => r,
                Err(stop) => return Ok(Some(stop)),
            };
            self.count("libxl", r.rtype, r.len);
            match r.rtype {
                libxl_rec::END => {
                    if in_checkpoint {
                        self.warnings.push(format!(
                            "libxl END record at offset {:#x} inside a checkpoint",
                            r.at
                        ));
                    }
                    return Ok(None);
                }
                libxl_rec::LIBXC_CONTEXT => {
                    if self.facts.libxc_version != 0 {
                        self.warnings.push(format!(
                            "a second LIBXC_CONTEXT record at offset {:#x}: the stream is read up to there",
                            r.at
                        ));
                        return Ok(None);
                    }
                    let start = self.libxc_headers(r.next)?;
                    let (next, stop) = self.walk_libxc(start, true)?;
                    if stop.is_some() {
                        return Ok(stop);
                    }
                    in_checkpoint = self.facts.checkpoints > 0 && !self.facts.complete;
                    at = next;
                    continue;
                }
                libxl_rec::EMULATOR_XENSTORE_DATA | libxl_rec::EMULATOR_CONTEXT => {
                    let (Some(id), Some(index)) =
                        (self.data.u32_at(r.body), self.data.u32_at(r.body + 4))
                    else {
                        self.warnings.push(format!(
                            "libxl {} record at offset {:#x} is too short for its emulator header",
                            libxl_record_name(r.rtype),
                            r.at
                        ));
                        at = r.next;
                        continue;
                    };
                    self.pending
                        .emulator
                        .insert((r.rtype, id, index), r.len.saturating_sub(8));
                }
                libxl_rec::CHECKPOINT_END => {
                    if !in_checkpoint {
                        self.warnings.push(format!(
                            "CHECKPOINT_END record at offset {:#x} outside a checkpoint",
                            r.at
                        ));
                    }
                    // The libxc stream goes on where libxl's checkpoint records end.
                    let (next, stop) = self.walk_libxc(r.next, true)?;
                    if stop.is_some() {
                        return Ok(stop);
                    }
                    in_checkpoint = !self.facts.complete;
                    at = next;
                    continue;
                }
                libxl_rec::CHECKPOINT_STATE => {}
                t if t & REC_OPTIONAL != 0 => self.facts.skipped_optional += 1,
                t => {
                    return Err(DumpError::UnknownRecord {
                        layer: "libxl",
                        record_type: t,
                        offset: r.at,
                    })
                }
            }
            at = r.next;
        }
    }

    /// The libxc image and domain headers at `at`; returns where the records start.
    fn libxc_headers(&mut self, at: u64) -> Result<u64> {
        let d = self.data;
        let short = || DumpError::TooShort {
            len: d.len() as u64,
            needed: at + 40,
            what: "libxc image and domain headers",
        };
        let marker = d.u64_at(at).ok_or_else(short)?;
        let id = d.bytes_at(at + 8, 4).ok_or_else(short)?;
        if marker != LIBXC_MARKER || id != LIBXC_ID {
            return Err(DumpError::BadField {
                header: "libxc image header",
                field: "marker/id",
                found: marker,
                expected: format!(
                    "marker 0xffffffffffffffff and id \"XENF\" at file offset {at:#x}"
                ),
            });
        }
        let version = be32(d, at + 12).ok_or_else(short)?;
        let options = d.u16_at(at + 16).map(u16::from_be).ok_or_else(short)?;
        if !(2..=3).contains(&version) {
            return Err(DumpError::BadField {
                header: "libxc image header",
                field: "version",
                found: u64::from(version),
                expected: "2 or 3".into(),
            });
        }
        if options & 1 != 0 {
            return Err(unsupported("a big-endian libxc stream"));
        }
        let dh = at + 24;
        let dtype = d.u32_at(dh).ok_or_else(short)?;
        let page_shift = d.u16_at(dh + 4).ok_or_else(short)?;
        let xen_major = d.u32_at(dh + 8).ok_or_else(short)?;
        let xen_minor = d.u32_at(dh + 12).ok_or_else(short)?;
        let (kind, name) = match dtype {
            1 => (GuestKind::Pv, "x86 PV"),
            2 => (GuestKind::Hvm, "x86 HVM"),
            t => {
                return Err(DumpError::BadField {
                    header: "libxc domain header",
                    field: "type",
                    found: u64::from(t),
                    expected: "1 (x86 PV) or 2 (x86 HVM)".into(),
                })
            }
        };
        if page_shift != 12 {
            return Err(DumpError::BadField {
                header: "libxc domain header",
                field: "page_shift",
                found: u64::from(page_shift),
                expected: "12 (4 KiB x86 pages)".into(),
            });
        }
        self.guest_kind = kind;
        self.facts.libxc_version = version;
        self.facts.domain_type = name;
        self.facts.xen_major = xen_major;
        self.facts.xen_minor = xen_minor;
        self.facts.libxc_offset = at;
        Ok(dh + 16)
    }

    /// libxc records from `at` until END, a CHECKPOINT handing back to libxl
    /// (`nested`), or the end of the file. Returns where it stopped.
    fn walk_libxc(&mut self, mut at: u64, nested: bool) -> Result<(u64, Option<Stop>)> {
        loop {
            let r = match record_at(self.data, at, "libxc", REC_LENGTH_MAX) {
                Ok(r) => r,
                Err(stop) => return Ok((at, Some(stop))),
            };
            self.count("libxc", r.rtype, r.len);
            match r.rtype {
                rec::END => {
                    self.facts.complete = true;
                    return Ok((r.next, None));
                }
                rec::CHECKPOINT => {
                    self.checkpoint();
                    if nested {
                        return Ok((r.next, None));
                    }
                }
                rec::PAGE_DATA => self.page_data(r),
                rec::X86_PV_INFO => self.pv_info(r)?,
                rec::X86_PV_P2M_FRAMES => self.p2m_frames(r),
                rec::X86_PV_VCPU_BASIC
                | rec::X86_PV_VCPU_EXTENDED
                | rec::X86_PV_VCPU_XSAVE
                | rec::X86_PV_VCPU_MSRS => self.pv_vcpu(r),
                rec::SHARED_INFO => {
                    if r.len < PAGE_SIZE {
                        self.warnings.push(format!(
                            "SHARED_INFO record at offset {:#x} is {} bytes, not a page: ignored",
                            r.at, r.len
                        ));
                    } else {
                        self.pending.shared_info = Some(span(r));
                    }
                }
                rec::X86_TSC_INFO => {
                    if r.len == 24 {
                        self.pending.tsc = Some(span(r));
                    } else {
                        self.warnings.push(format!(
                            "X86_TSC_INFO record at offset {:#x} is {} bytes, not 24: ignored",
                            r.at, r.len
                        ));
                    }
                }
                rec::HVM_CONTEXT => self.hvm_only(r, |s| s.hvm_context = Some(span(r))),
                rec::HVM_PARAMS => {
                    let count = self.data.u32_at(r.body).map_or(u64::MAX, u64::from);
                    if r.len >= 8 && count.checked_mul(16).map(|n| n + 8) == Some(r.len) {
                        self.hvm_only(r, |s| s.hvm_params = Some(span(r)));
                    } else if r.len != 0 {
                        self.warnings.push(format!(
                            "HVM_PARAMS record at offset {:#x}: {} bytes do not hold its {count} parameters: ignored",
                            r.at, r.len
                        ));
                    }
                }
                rec::VERIFY => self.verify = true,
                rec::X86_CPUID_POLICY => self.facts.cpuid_leaves = Some(r.len / 24),
                rec::X86_MSR_POLICY => self.facts.msr_entries = Some(r.len / 16),
                rec::TOOLSTACK | rec::CHECKPOINT_DIRTY_PFN_LIST | rec::STATIC_DATA_END => {}
                t if t & REC_OPTIONAL != 0 => self.facts.skipped_optional += 1,
                t => {
                    return Err(DumpError::UnknownRecord {
                        layer: "libxc",
                        record_type: t,
                        offset: r.at,
                    })
                }
            }
            let stride = r.next - r.at;
            at = r.next;
            if at - self.released.min(at) >= RELEASE_EVERY {
                self.hints.release(self.released, at - self.released);
                self.released = at;
            }
            // Ask for the next records' headers and pfn arrays, at this record's stride.
            if stride > PREFETCH_BYTES {
                for i in 0..PREFETCH_RECORDS {
                    let ahead = at + i * stride;
                    if ahead >= self.prefetched {
                        self.hints.prefetch(ahead, PREFETCH_BYTES);
                        self.prefetched = ahead + PREFETCH_BYTES;
                    }
                }
            }
        }
    }

    /// A record only HVM streams have.
    fn hvm_only(&mut self, r: Record, keep: impl FnOnce(&mut State)) {
        if self.guest_kind == GuestKind::Hvm {
            keep(&mut self.pending);
        } else {
            self.warnings.push(format!(
                "{} record at offset {:#x} in a PV stream: ignored",
                record_name(r.rtype),
                r.at
            ));
        }
    }

    /// A CHECKPOINT record: everything so far is one consistent state.
    fn checkpoint(&mut self) {
        self.facts.checkpoints += 1;
        let pending = std::mem::take(&mut self.pending);
        self.committed.absorb(pending);
        self.mark = self.index.mark();
    }

    fn page_data(&mut self, r: Record) {
        let d = self.data;
        let count = d.u32_at(r.body).map_or(0, u64::from);
        let bad = |me: &mut Self, why: String| {
            me.bad_page_records += 1;
            if me.bad_page_records <= 8 {
                me.warnings.push(format!(
                    "PAGE_DATA record at offset {:#x}: {why}: its pages were skipped",
                    r.at
                ));
            }
        };
        if count == 0 || r.len < 8 + count.saturating_mul(8) {
            return bad(self, format!("{} bytes cannot hold {count} pfns", r.len));
        }
        let pfns_at = r.body + 8;
        let Some(pfns) = d.bytes_at(pfns_at, count * 8) else {
            return bad(self, "its pfn array is cut".into());
        };
        let mut with_data = 0u64;
        for e in pfns.chunks_exact(8) {
            let t = (u64::from_le_bytes(e.try_into().unwrap_or([0xff; 8])) >> 60) as u8;
            if !known_type(t) {
                return bad(self, format!("page type {t:#x} is reserved"));
            }
            with_data += u64::from(has_data(t));
        }
        if r.len != 8 + count * 8 + with_data * PAGE_SIZE {
            return bad(
                self,
                format!(
                    "{} bytes, but {count} pfns with {with_data} pages of data make {}",
                    r.len,
                    8 + count * 8 + with_data * PAGE_SIZE
                ),
            );
        }
        if self.verify {
            self.facts.verify_pages += with_data;
            return;
        }
        if !self.index.has_room(with_data) {
            return bad(self, "the stream holds more page copies than 2^32".into());
        }
        self.index.start_batch(pfns_at + count * 8);
        let limit = self
            .pv_max_pfn
            .unwrap_or(pages::MAX_PFN)
            .min(pages::MAX_PFN);
        for e in pfns.chunks_exact(8) {
            let v = u64::from_le_bytes(e.try_into().unwrap_or([0xff; 8]));
            let t = (v >> 60) as u8;
            let pfn = v & ((1 << PFN_BITS) - 1);
            self.page_types[usize::from(t)] += 1;
            if !has_data(t) {
                self.facts.pages_without_data += 1;
                continue;
            }
            if pfn > limit {
                // Its data still takes its place in the record.
                self.out_of_range += 1;
                self.index.skip_slot();
                continue;
            }
            self.index.page(pfn);
        }
    }

    fn pv_info(&mut self, r: Record) -> Result<()> {
        if self.guest_kind != GuestKind::Pv {
            self.warnings.push(format!(
                "X86_PV_INFO record at offset {:#x} in an HVM stream: ignored",
                r.at
            ));
            return Ok(());
        }
        if self.pv.is_some() {
            self.warnings.push(format!(
                "a second X86_PV_INFO record at offset {:#x}: ignored",
                r.at
            ));
            return Ok(());
        }
        let (Some(&w), Some(&l)) = (
            self.data.get(r.body as usize),
            self.data.get(r.body as usize + 1),
        ) else {
            return Ok(());
        };
        if r.len < 8 || !matches!((w, l), (8, 4) | (4, 3)) {
            return Err(DumpError::BadField {
                header: "X86_PV_INFO record",
                field: "guest_width/pt_levels",
                found: u64::from(w) << 8 | u64::from(l),
                expected: "8-byte guests with 4 levels or 4-byte guests with 3".into(),
            });
        }
        self.pv = Some(PvInfo {
            guest_width: w,
            pt_levels: l,
            ..PvInfo::default()
        });
        Ok(())
    }

    fn p2m_frames(&mut self, r: Record) {
        let d = self.data;
        let width = self.pv.as_ref().map_or(8, |p| u64::from(p.guest_width));
        let (Some(start), Some(end)) = (d.u32_at(r.body), d.u32_at(r.body + 4)) else {
            return;
        };
        let (start, end) = (u64::from(start), u64::from(end));
        let per_frame = PAGE_SIZE / width;
        let frames = (end / per_frame + 1).saturating_sub(start / per_frame);
        if self.guest_kind != GuestKind::Pv
            || start > end
            || r.len != 8 + frames * 8
            || self.pv.is_none()
        {
            self.warnings.push(format!(
                "X86_PV_P2M_FRAMES record at offset {:#x} (pfns {start:#x}-{end:#x}, {} bytes) is not what a PV stream after X86_PV_INFO holds: ignored",
                r.at, r.len
            ));
            return;
        }
        let list: Vec<u64> = (0..frames.min(1 << 20))
            .filter_map(|i| d.u64_at(r.body + 8 + i * 8))
            .collect();
        if let Some(pv) = &mut self.pv {
            pv.p2m_pfns = Some((start, end));
            pv.p2m_frames = list;
        }
        self.pv_max_pfn = Some(end);
    }

    fn pv_vcpu(&mut self, r: Record) {
        let name = record_name(r.rtype);
        if self.guest_kind != GuestKind::Pv {
            self.warnings.push(format!(
                "{name} record at offset {:#x} in an HVM stream: ignored",
                r.at
            ));
            return;
        }
        let Some(id) = self.data.u32_at(r.body).filter(|_| r.len >= 8) else {
            self.warnings.push(format!(
                "{name} record at offset {:#x} is too short for its vCPU id",
                r.at
            ));
            return;
        };
        let blob = r.len - 8;
        if blob == 0 {
            // Xen 4.6–4.8 could write empty ones; Xen's restore skips them.
            return;
        }
        if u64::from(id) >= MAX_VCPUS {
            self.warnings.push(format!(
                "{name} record at offset {:#x} names vCPU {id}, beyond the {MAX_VCPUS} any Xen has: ignored",
                r.at
            ));
            return;
        }
        let s = Span {
            record: r.at,
            body: r.body + 8,
            len: blob,
        };
        match r.rtype {
            rec::X86_PV_VCPU_BASIC => {
                let want = self.pv.as_ref().map(|p| match p.guest_width {
                    4 => ContextLayout::X86_32.size(),
                    _ => ContextLayout::X86_64.size(),
                });
                let fits = match want {
                    Some(w) => blob == w,
                    None => {
                        blob == ContextLayout::X86_32.size() || blob == ContextLayout::X86_64.size()
                    }
                };
                if fits {
                    self.pending.pv_basic.insert(id, s);
                } else {
                    self.warnings.push(format!(
                        "X86_PV_VCPU_BASIC record of vCPU {id} at offset {:#x} is {blob} bytes, not a vcpu_guest_context of the guest's width: ignored",
                        r.at
                    ));
                }
            }
            rec::X86_PV_VCPU_EXTENDED => {
                self.pending.pv_extended.insert(id, blob);
            }
            rec::X86_PV_VCPU_XSAVE => {
                self.pending.pv_xsave.insert(id, blob);
            }
            _ => {
                self.pending.pv_msrs.insert(id, blob / 16);
            }
        }
    }

    /// Everything read: decide the state served, decode the vCPUs.
    fn finish(mut self) -> Result<Opened> {
        let checkpointed = self.facts.checkpoints > 0;
        let pending_pages = self.index.slots() - self.mark.slots();
        let state = if checkpointed {
            if pending_pages > 0 || !self.pending.is_empty() {
                self.warnings.push(format!(
                    "the stream goes on after its last CHECKPOINT ({} of them) with {pending_pages} page copies and other records that no checkpoint completes: served as of the last checkpoint, as Xen's restore fails over to it",
                    self.facts.checkpoints
                ));
            }
            self.facts.dropped_pages = pending_pages;
            self.index.rewind(self.mark);
            self.committed
        } else {
            let mut s = self.committed;
            s.absorb(self.pending);
            s
        };
        if self.out_of_range > 0 {
            self.warnings.push(format!(
                "{} pages name pfns beyond the guest's (PV: the p2m's last pfn, {:#x}; any guest: {:#x}): skipped",
                self.out_of_range,
                self.pv_max_pfn.unwrap_or(pages::MAX_PFN),
                pages::MAX_PFN
            ));
        }
        if self.bad_page_records > 8 {
            self.warnings.push(format!(
                "{} malformed PAGE_DATA records in all (the first 8 are named above)",
                self.bad_page_records
            ));
        }
        let pages = self.index.finish();
        let d = self.data;

        // Registers.
        let kind = self.guest_kind;
        let pv = self.pv.clone();
        let layout = match (&pv, kind) {
            (Some(p), GuestKind::Pv) if p.guest_width == 4 => ContextLayout::X86_32,
            (None, GuestKind::Pv) => {
                // No X86_PV_INFO: take the width from the vCPU records.
                let narrow = state
                    .pv_basic
                    .values()
                    .next()
                    .is_some_and(|s| s.len == ContextLayout::X86_32.size());
                self.warnings.push(
                    "no X86_PV_INFO record: the guest's width is taken from its vCPU records"
                        .to_string(),
                );
                if narrow {
                    ContextLayout::X86_32
                } else {
                    ContextLayout::X86_64
                }
            }
            _ => ContextLayout::X86_64,
        };
        let mut found: BTreeMap<u32, (VcpuState, (u64, u64))> = BTreeMap::new();
        let mut hvm_context = None;
        match kind {
            GuestKind::Pv => {
                for (&id, s) in &state.pv_basic {
                    if s.len != layout.size() {
                        continue;
                    }
                    let bytes = d.bytes_at(s.body, s.len).unwrap_or(&[]);
                    let st = context::decode(bytes, id as usize, layout, kind);
                    found.insert(id, (st, (s.body, s.len)));
                }
            }
            GuestKind::Hvm => {
                if let Some(s) = state.hvm_context {
                    let blob = d.bytes_at(s.body, s.len).unwrap_or(&[]);
                    let ctx = hvm::parse_context(blob, s.body);
                    self.warnings.extend(ctx.warnings.iter().cloned());
                    for &(instance, off, len) in &ctx.cpus {
                        let id = u32::from(instance);
                        if u64::from(id) >= MAX_VCPUS {
                            continue;
                        }
                        let rec = blob.bytes_at(off, len).unwrap_or(&[]);
                        let st = hvm::decode_cpu(rec, id as usize);
                        found.insert(id, (st, (s.body + off, len)));
                    }
                    hvm_context = Some(ctx);
                }
            }
        }
        let from_config = self
            .facts
            .xl
            .as_ref()
            .and_then(|x| x.config.as_ref())
            .and_then(|c| c.max_vcpus)
            .filter(|&n| n <= MAX_VCPUS)
            .unwrap_or(0);
        let highest = found.keys().next_back().map_or(0, |&id| u64::from(id) + 1);
        let slots = highest.max(from_config).max(1) as usize;
        if found.is_empty() {
            self.warnings.push(
                "the stream holds no vCPU registers (they follow the memory, which was cut short, or the records are missing): every vCPU is served without registers"
                    .to_string(),
            );
        }
        let mut vcpus = Vec::with_capacity(slots);
        let mut contexts = Vec::with_capacity(slots);
        for slot in 0..slots {
            match found.remove(&(slot as u32)) {
                Some((st, at)) => {
                    vcpus.push(st);
                    contexts.push(Some(at));
                }
                None => {
                    vcpus.push(VcpuState::unrecorded(slot, layout, kind));
                    contexts.push(None);
                }
            }
        }
        self.facts.vcpus_saved = vcpus
            .iter()
            .filter(|v| v.recorded)
            .map(|v| v.slot as u32)
            .collect();

        // Everything else the stream says.
        let ids: std::collections::BTreeSet<u32> = state
            .pv_extended
            .keys()
            .chain(state.pv_xsave.keys())
            .chain(state.pv_msrs.keys())
            .copied()
            .collect();
        self.facts.vcpu_extras = ids
            .into_iter()
            .map(|vcpu| VcpuExtras {
                vcpu,
                extended: state.pv_extended.get(&vcpu).copied().unwrap_or(0),
                xsave: state.pv_xsave.get(&vcpu).copied().unwrap_or(0),
                msrs: state.pv_msrs.get(&vcpu).copied().unwrap_or(0),
            })
            .collect();
        self.facts.tsc = state.tsc.map(|s| TscInfo {
            mode: d.u32_at(s.body).unwrap_or(0),
            khz: d.u32_at(s.body + 4).unwrap_or(0),
            nsec: d.u64_at(s.body + 8).unwrap_or(0),
            incarnation: d.u32_at(s.body + 16).unwrap_or(0),
        });
        if let Some(s) = state.hvm_params {
            let count = d.u32_at(s.body).map_or(0, u64::from).min(s.len / 16);
            self.facts.hvm_params = (0..count)
                .filter_map(|i| {
                    let at = s.body + 8 + 16 * i;
                    let index = d.u64_at(at)?;
                    Some(HvmParam {
                        index,
                        name: hvm_param_name(index),
                        value: d.u64_at(at + 8)?,
                    })
                })
                .collect();
        }
        self.facts.hvm_context = hvm_context;
        self.facts.emulator = state
            .emulator
            .iter()
            .map(|(&(t, emulator, index), &bytes)| EmulatorRecord {
                kind: libxl_record_name(t),
                emulator,
                index,
                bytes,
            })
            .collect();
        self.facts.pv = pv.clone();
        self.facts.records = self
            .counts
            .iter()
            .map(|(&(layer, t), &(count, bytes))| RecordCount {
                layer,
                record_type: t,
                name: if layer == "libxc" {
                    record_name(t)
                } else {
                    libxl_record_name(t)
                },
                count,
                bytes,
            })
            .collect();
        self.facts.page_types = self
            .page_types
            .iter()
            .enumerate()
            .filter(|(_, &n)| n > 0)
            .map(|(t, &count)| PageTypeCount {
                page_type: page_type_name(t as u8),
                count,
            })
            .collect();
        self.facts.page_copies = pages.copies() + self.facts.dropped_pages;
        self.facts.pages = pages.pages();
        self.facts.index_bytes = pages.bytes();
        let (n, batches) = pages.shape();
        self.facts.index_runs = pages.is_runs().then_some(n);
        self.facts.index_batches = batches;
        if pages.pages() == 0 {
            if self.facts.vcpus_saved.is_empty() {
                return Err(DumpError::MissingSection {
                    name: "PAGE_DATA",
                    why: "the saved image holds neither a page of memory nor a vCPU's registers: nothing to serve",
                });
            }
            self.warnings
                .push("the stream holds no page of memory".to_string());
        }
        Ok(Opened {
            guest_kind: kind,
            layout,
            vcpus,
            contexts,
            shared_info: state.shared_info.map(|s| s.body),
            pv_levels: pv.as_ref().map(|p| p.pt_levels),
            pages,
            facts: self.facts,
            warnings: self.warnings,
        })
    }
}

fn span(r: Record) -> Span {
    Span {
        record: r.at,
        body: r.body,
        len: r.len,
    }
}
