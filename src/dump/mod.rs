//! Dump formats: parse and validate a xendump once at open, then give cheap typed views.
//!
//! Speaks *file* terms only: page positions ([`PageIndex`]), file offsets, and the frame
//! numbers the dump records for each page. Nothing here walks page tables.

mod context;
mod elf;
mod error;
mod frames;
mod holes;
mod kinds;
mod notes;
mod source;
pub mod stream;

use std::path::Path;

pub use context::{cr3_offset, unfold_pv32_cr3, DescriptorTables};
pub use error::{DumpError, Result};
pub use frames::{
    FrameTable, FrameTableKind, LegacyHvmRule, RecoveredPfns, RecoveryStats, SlotContents, SlotRun,
    INVALID_FRAME,
};
pub use kinds::*;
// The dump's vocabulary, defined in the leaf module so the register model can share it.
pub use crate::kinds::{ContextLayout, FrameSpace, GuestKind, Width};
pub use holes::PageHoles;
pub use notes::{CoreHeader, XenVersion};
pub use source::DumpBytes;
pub use stream::SavedImage;

use crate::addr::{GuestFrame, MachineFrame, PageIndex, PAGE_SIZE};
use crate::vcpu::{VcpuState, VGCF_HVM_GUEST, VGCF_ONLINE};
use source::LeRead;

/// More vCPU slots than any Xen supports: refuse rather than allocate for them.
pub const MAX_VCPUS: u64 = 8192;
/// Page positions are kept as `u32` in the mfn index.
pub const MAX_PAGES: u64 = u32::MAX as u64;

/// `EM_386`.
const EM_386: u16 = 3;
/// `EM_X86_64`.
const EM_X86_64: u16 = 62;

/// An opened, validated Xen core dump.
#[derive(Debug)]
pub struct XenDump {
    bytes: DumpBytes,
    meta: Parsed,
}

impl XenDump {
    /// Map and validate the dump at `path` (read-only).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::from_source(DumpBytes::map(path.as_ref())?)
    }

    /// Validate a dump held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        Self::from_source(DumpBytes::Owned(bytes))
    }

    /// Validate a dump from any byte source.
    pub fn from_source(bytes: DumpBytes) -> Result<Self> {
        let data = bytes.as_slice();
        if data.len() < 4 {
            return Err(DumpError::TooShort {
                len: data.len() as u64,
                needed: 24,
                what: "dump header",
            });
        }
        let parsed = if stream::is_saved_image(data) {
            // Headers and pfn arrays every few MiB: without this, the kernel's
            // read-around would read the whole file (8 MiB around each fault on a
            // typical disk) for a few KiB a record.
            bytes.scattered_access(true);
            let parsed = open_saved(data, &bytes);
            bytes.scattered_access(false);
            let parsed = parsed?;
            // The pass read every record header and pfn array: nothing of the file
            // needs to stay resident until a page is read.
            bytes.release(0, data.len() as u64);
            parsed
        } else if data[..4] == *b"\x7fELF" {
            open_elf(data)?
        } else {
            match data.u32_at(0) {
                Some(kinds::XC_CORE_MAGIC) | Some(kinds::XC_CORE_MAGIC_HVM) => open_legacy(data)?,
                _ => {
                    return Err(DumpError::UnknownFormat {
                        found: data[..data.len().min(8)].to_vec(),
                    })
                }
            }
        };
        Ok(XenDump {
            bytes,
            meta: parsed,
        })
    }

    /// The raw bytes of the whole file (within the dump layer only: callers read pages).
    fn file(&self) -> &[u8] {
        self.bytes.as_slice()
    }
    /// Size of the dump file in bytes.
    pub fn file_len(&self) -> u64 {
        self.file().len() as u64
    }
    /// Container format.
    pub fn format(&self) -> DumpFormat {
        self.meta.format
    }
    /// PV or HVM.
    pub fn guest_kind(&self) -> GuestKind {
        self.meta.guest_kind
    }
    /// Layout of the vCPU contexts.
    pub fn context_layout(&self) -> ContextLayout {
        self.meta.layout
    }
    /// Width of a PV guest (its context layout). HVM guests' width depends on their
    /// paging mode, which the memory layer works out; this returns `None` for them.
    pub fn pv_guest_width(&self) -> Option<Width> {
        match (self.meta.guest_kind, self.meta.layout) {
            (GuestKind::Pv, ContextLayout::X86_64) => Some(Width::Bits64),
            (GuestKind::Pv, ContextLayout::X86_32) => Some(Width::Bits32),
            (GuestKind::Hvm, _) => None,
        }
    }
    /// Width of the dom0 toolstack that wrote the dump, when it can be told.
    pub fn tools_width(&self) -> Option<Width> {
        self.meta.tools_width
    }
    /// `e_machine` of an ELF dump.
    pub fn elf_machine(&self) -> Option<u16> {
        self.meta.elf_machine
    }
    /// Is the ELF file of class 64 (`None` for legacy dumps)?
    pub fn elf_class64(&self) -> Option<bool> {
        self.meta.elf_class64
    }
    /// The hypervisor's version note (ELF dumps only).
    pub fn xen_version(&self) -> Option<&XenVersion> {
        self.meta.version.as_ref()
    }
    /// The `FORMAT_VERSION` note: major in the high 32 bits, minor in the low.
    pub fn format_version(&self) -> Option<u64> {
        self.meta.format_version
    }
    /// `xch_magic`.
    pub fn magic(&self) -> u32 {
        self.meta.magic
    }
    /// Page size (always 4096 on x86; checked at open).
    pub fn page_size(&self) -> u64 {
        PAGE_SIZE
    }
    /// Number of page slots in the dump, `~0` padding included.
    pub fn page_count(&self) -> u64 {
        self.meta.nr_pages
    }
    /// Number of pages that belong to the guest (padding excluded).
    pub fn valid_page_count(&self) -> u64 {
        match &self.meta.pages {
            PageStore::Saved(p) => p.pages(),
            PageStore::Dump { .. } => self.meta.frames.valid_entries(),
        }
    }
    /// Number of pages whose bytes are actually in the file (less if it was cut short).
    pub fn pages_present(&self) -> u64 {
        self.meta.pages_present
    }
    /// The frame table of a core dump. A saved image names its pages in its records
    /// (indexed elsewhere): its table is empty.
    pub fn frames(&self) -> &FrameTable {
        &self.meta.frames
    }
    /// What a saved image says of itself (`None` for core dumps).
    pub fn saved_image(&self) -> Option<&SavedImage> {
        self.meta.saved.as_ref().map(|s| &s.facts)
    }
    /// Can pages be found by pfn? Not in a legacy PV dump, until its pfns are
    /// recovered from the guest.
    pub fn knows_pfns(&self) -> bool {
        match &self.meta.pages {
            PageStore::Saved(_) => true,
            PageStore::Dump { .. } => self.meta.frames.knows_pfns(),
        }
    }
    /// Can pages be found by mfn? Not in HVM dumps (they record guest frames only) nor
    /// in saved images (the stream speaks pfns only, its page tables included).
    pub fn knows_mfns(&self) -> bool {
        match &self.meta.pages {
            PageStore::Saved(_) => false,
            PageStore::Dump { .. } => self.meta.frames.knows_mfns(),
        }
    }
    /// Are pages listed in ascending pfn order (pfn-contiguous runs are runs of
    /// consecutive pages)?
    pub fn in_pfn_order(&self) -> bool {
        match &self.meta.pages {
            PageStore::Saved(_) => true,
            PageStore::Dump { .. } => self.meta.frames.in_pfn_order(),
        }
    }
    /// Bytes held by the frame lookups (the mfn index, a saved image's page index).
    pub fn index_bytes(&self) -> usize {
        match &self.meta.pages {
            PageStore::Saved(p) => p.bytes(),
            PageStore::Dump { .. } => self.meta.frames.index_bytes(),
        }
    }
    /// Lowest and highest guest frame in the dump.
    pub fn pfn_range(&self) -> Option<(GuestFrame, GuestFrame)> {
        match &self.meta.pages {
            PageStore::Saved(p) => p.pfn_range(),
            PageStore::Dump { .. } => self.meta.frames.pfn_range(self.file()),
        }
    }
    /// Lowest and highest machine frame in the dump.
    pub fn mfn_range(&self) -> Option<(MachineFrame, MachineFrame)> {
        match &self.meta.pages {
            PageStore::Saved(_) => None,
            PageStore::Dump { .. } => self.meta.frames.mfn_range(self.file()),
        }
    }
    /// Is the mfn index made of runs of consecutive frames (rather than pairs)?
    pub fn mfn_index_is_runs(&self) -> bool {
        match &self.meta.pages {
            PageStore::Saved(_) => false,
            PageStore::Dump { .. } => self.meta.frames.mfn_index_is_runs(self.file()),
        }
    }
    /// Page-table levels a PV guest uses, when the format says (saved images: 3 for
    /// 32-bit PAE guests, 4 for 64-bit ones).
    pub fn pv_paging_levels(&self) -> Option<u8> {
        self.meta.saved.as_ref().and_then(|s| s.pv_levels)
    }
    /// Is the hypervisor that wrote the file 64-bit, when the file tells? ELF dumps:
    /// from its capabilities; saved images: always (the migration stream exists from
    /// Xen 4.6, which is 64-bit only); legacy dumps: unknown.
    pub fn hypervisor_64bit(&self) -> Option<bool> {
        match self.meta.format {
            DumpFormat::SavedImage => Some(true),
            _ => self
                .meta
                .version
                .as_ref()
                .map(XenVersion::hypervisor_is_64bit),
        }
    }
    /// Decoded vCPU contexts, in slot order.
    pub fn vcpus(&self) -> &[VcpuState] {
        &self.meta.vcpus
    }
    /// The bytes of context slot `slot` as the file stores them, for tools that want
    /// the record itself: a `vcpu_guest_context` (core dumps, PV saved images) or a
    /// `struct hvm_hw_cpu` (HVM saved images, see [`XenDump::context_record`]);
    /// `None` for a vCPU the file holds no registers for.
    pub fn raw_context(&self, slot: usize) -> Option<&[u8]> {
        if let Some(s) = &self.meta.saved {
            let (at, len) = (*s.contexts.get(slot)?)?;
            return self.file().bytes_at(at, len);
        }
        let start = self
            .meta
            .context_offset
            .checked_add((slot as u64).checked_mul(self.meta.context_stride)?)?;
        self.file().bytes_at(start, self.meta.layout.size())
    }
    /// What [`XenDump::raw_context`] returns: `"vcpu_guest_context"` or `"hvm_hw_cpu"`.
    pub fn context_record(&self) -> &'static str {
        match (self.meta.format, self.meta.guest_kind) {
            (DumpFormat::SavedImage, GuestKind::Hvm) => "hvm_hw_cpu",
            _ => "vcpu_guest_context",
        }
    }
    /// The guest's shared-info page, when the dump carries one.
    pub fn shared_info(&self) -> Option<&[u8]> {
        self.file()
            .bytes_at(self.meta.shared_info_offset?, PAGE_SIZE)
    }
    /// Things that looked wrong but did not stop the dump from opening.
    pub fn warnings(&self) -> &[String] {
        &self.meta.warnings
    }
    /// Frame space of page-table entries: machine frames for PV guests, except in a
    /// saved image, whose save path rewrote every PV table canonical (pfns).
    pub fn table_frame_space(&self) -> FrameSpace {
        match (self.meta.format, self.meta.guest_kind) {
            (DumpFormat::SavedImage, _) | (_, GuestKind::Hvm) => FrameSpace::Guest,
            (_, GuestKind::Pv) => FrameSpace::Machine,
        }
    }
    /// Frame space of CR3 (and of the other frames a PV context names: the 64-bit
    /// user table in `ctrlreg[1]`, `gdt_frames`): as the tables, except that legacy
    /// (3.0.x) Xen stored the *machine* frame of an HVM guest's top-level table.
    pub fn cr3_frame_space(&self) -> FrameSpace {
        match (self.meta.format, self.meta.guest_kind) {
            (DumpFormat::Legacy, _) => FrameSpace::Machine,
            (DumpFormat::Elf | DumpFormat::SavedImage, _) => self.table_frame_space(),
        }
    }
    /// The page holding frame `frame` of `space`.
    pub fn page_of_frame(&self, space: FrameSpace, frame: u64) -> Option<PageIndex> {
        match space {
            FrameSpace::Guest => self.page_of_pfn(GuestFrame(frame)),
            FrameSpace::Machine => self.page_of_mfn(MachineFrame(frame)),
        }
    }

    /// The 4096 bytes of page `index`.
    pub fn page(&self, index: PageIndex) -> Result<&[u8]> {
        if index.0 >= self.meta.nr_pages {
            return Err(DumpError::PageOutOfRange {
                index,
                count: self.meta.nr_pages,
            });
        }
        if index.0 >= self.meta.pages_present {
            return Err(DumpError::PageTruncated {
                index,
                file_len: self.file().len() as u64,
            });
        }
        let truncated = DumpError::PageTruncated {
            index,
            file_len: self.file().len() as u64,
        };
        let off = self.page_offset(index).ok_or(DumpError::PageOutOfRange {
            index,
            count: self.meta.nr_pages,
        })?;
        if !self.bytes.still_holds(off, PAGE_SIZE) {
            return Err(truncated);
        }
        self.file().bytes_at(off, PAGE_SIZE).ok_or(truncated)
    }

    /// Copy bytes of page `index` from `offset` within it into `dst` (which must fit
    /// in the page). Unlike [`XenDump::page`], this stays right when the file shrinks
    /// while mapped: bytes no longer in the file are an error, never a fault.
    pub fn read_page(&self, index: PageIndex, offset: u64, dst: &mut [u8]) -> Result<()> {
        let page = self.page(index)?;
        let fits = usize::try_from(offset)
            .ok()
            .and_then(|o| o.checked_add(dst.len()))
            .is_some_and(|end| end <= page.len());
        if !fits {
            return Err(DumpError::PageOutOfRange {
                index,
                count: self.meta.nr_pages,
            });
        }
        let at = self.page_offset(index).unwrap_or(0) + offset;
        self.bytes.copy_at(at, dst)
    }

    /// SIGBUS faults contained so far: non-zero once the mapped file shrank under us.
    pub fn mapping_faults(&self) -> u64 {
        self.bytes.faults()
    }

    /// Hint that pages `first .. first + count` will not be read again soon (a
    /// sequential copy), so the kernel may drop them from this process.
    pub fn release_pages(&self, first: PageIndex, count: u64) {
        let mut at = first.0;
        let end = first.0.saturating_add(count);
        while at < end {
            let Some((off, n)) = self.span_of(PageIndex(at), end - at) else {
                return;
            };
            self.bytes.release(off, n * PAGE_SIZE);
            at += n;
        }
    }

    /// File offset of page `index` (not checked against the file length).
    fn page_offset(&self, index: PageIndex) -> Option<u64> {
        self.span_of(index, 1).map(|(off, _)| off)
    }

    /// File offset of page `index` and how many pages from it on (at most `max`) lie
    /// back to back in the file (core dumps: all of them).
    fn span_of(&self, index: PageIndex, max: u64) -> Option<(u64, u64)> {
        match &self.meta.pages {
            PageStore::Dump { offset } => Some((offset + index.0 * PAGE_SIZE, max)),
            PageStore::Saved(p) => p.offset_of(index, max),
        }
    }

    /// Where page `index` (and `offset` bytes into it) is, for people: "page #N at file
    /// offset 0x…".
    pub fn describe_page(&self, index: PageIndex, offset: u64) -> String {
        match self.page_offset(index) {
            Some(off) => format!("{index} at file offset {:#x}", off + offset),
            None => format!("{index} (not in the file)"),
        }
    }

    /// The bytes of pages `first ..` in one slice: as many of the `count` pages as lie
    /// back to back in the file, at least one (core dumps store all their pages back
    /// to back; a saved image only the pages of one record). Call again from where
    /// the slice ends for the rest. Each page must have been read once through
    /// [`XenDump::page`] (which checks the file still holds it) before.
    pub fn page_span(&self, first: PageIndex, count: u64) -> Result<&[u8]> {
        let truncated = || DumpError::PageTruncated {
            index: first,
            file_len: self.file().len() as u64,
        };
        let last = first.0.checked_add(count).ok_or_else(truncated)?;
        if last > self.meta.pages_present || count == 0 {
            return Err(truncated());
        }
        let (off, n) = self.span_of(first, count).ok_or_else(truncated)?;
        self.file()
            .bytes_at(off, n * PAGE_SIZE)
            .ok_or_else(truncated)
    }

    /// Which pages lie in holes of a sparse dump file (never written, so all zeros),
    /// asked from the filesystem; `None` when the dump is not a mapped file, or its
    /// pages are not one array (a saved image: Xen writes every page, zeros too).
    pub fn page_holes(&self) -> Option<PageHoles<'_>> {
        match &self.meta.pages {
            PageStore::Dump { offset } => PageHoles::new(self.bytes.file()?, *offset),
            PageStore::Saved(_) => None,
        }
    }

    /// The page holding guest frame `pfn`, if dumped.
    pub fn page_of_pfn(&self, pfn: GuestFrame) -> Option<PageIndex> {
        match &self.meta.pages {
            PageStore::Saved(p) => p.page_of_pfn(pfn),
            PageStore::Dump { .. } => self.meta.frames.page_of_pfn(self.file(), pfn),
        }
    }
    /// The page holding machine frame `mfn`, if dumped.
    pub fn page_of_mfn(&self, mfn: MachineFrame) -> Option<PageIndex> {
        match &self.meta.pages {
            PageStore::Saved(_) => None,
            PageStore::Dump { .. } => self.meta.frames.page_of_mfn(self.file(), mfn),
        }
    }
    /// The guest frame of page `index`, if the dump records it.
    pub fn pfn_of(&self, index: PageIndex) -> Option<GuestFrame> {
        match &self.meta.pages {
            PageStore::Saved(p) => p.pfn_of(index),
            PageStore::Dump { .. } => self.meta.frames.pfn_of(self.file(), index),
        }
    }
    /// The machine frame of page `index`, if the dump records it.
    pub fn mfn_of(&self, index: PageIndex) -> Option<MachineFrame> {
        match &self.meta.pages {
            PageStore::Saved(_) => None,
            PageStore::Dump { .. } => self.meta.frames.mfn_of(self.file(), index),
        }
    }
    /// pfn → mfn through the dump's p2m (legacy HVM: the page list and its rule).
    pub fn pfn_to_mfn(&self, pfn: GuestFrame) -> Option<MachineFrame> {
        match &self.meta.pages {
            PageStore::Saved(_) => None,
            PageStore::Dump { .. } => self.meta.frames.pfn_to_mfn(self.file(), pfn),
        }
    }
    /// mfn → pfn through the dump's p2m (the m2p direction).
    pub fn mfn_to_pfn(&self, mfn: MachineFrame) -> Option<GuestFrame> {
        match &self.meta.pages {
            PageStore::Saved(_) => None,
            PageStore::Dump { .. } => self.meta.frames.mfn_to_pfn(self.file(), mfn),
        }
    }

    /// Legacy HVM dumps: the rule that says which pfn each slot holds.
    pub fn legacy_hvm_rule(&self) -> Option<&LegacyHvmRule> {
        self.meta.frames.legacy_hvm_rule()
    }

    /// Legacy HVM dumps: the rules the writer's era makes plausible, most likely first
    /// (none for other dumps). Which one holds is for the guest's page tables to say.
    pub fn legacy_hvm_candidates(&self) -> Vec<LegacyHvmRule> {
        if self.legacy_hvm_rule().is_none() {
            return Vec::new();
        }
        let n = self.meta.nr_pages;
        let xen = LegacyHvmRule::xen_builder(n);
        let mut out = vec![xen.clone()];
        if self.meta.magic == kinds::XC_CORE_MAGIC_HVM {
            out.push(xen.with_contents(
                SlotContents::ByIndex,
                "Xen 3.0.4 writer: slot k holds the page whose pfn equals its index entry (mfns mapped as pfns)",
            ));
        }
        out.push(LegacyHvmRule::identity(n));
        out
    }

    /// Legacy HVM dumps: read pfns by `rule` from now on (see
    /// [`XenDump::legacy_hvm_candidates`]); ignored for other dumps.
    pub fn set_legacy_hvm_rule(&mut self, rule: LegacyHvmRule) {
        self.meta.frames.set_legacy_hvm_rule(rule);
    }

    /// The descriptor-table fields of context slot `slot` (GDT frames and LDT; PV
    /// guests fill them, HVM contexts leave them zero).
    pub fn descriptor_tables(&self, slot: usize) -> Option<DescriptorTables> {
        if self.context_record() != "vcpu_guest_context" {
            return None;
        }
        Some(context::descriptor_tables(
            self.raw_context(slot)?,
            self.meta.layout,
        ))
    }
    /// Build the mfn index now rather than on first use.
    pub fn prepare(&self) {
        self.meta.frames.prepare_mfn_index(self.file());
    }
    /// Give a dump that records machine frames only (a legacy PV dump) the pfns of its
    /// pages, found elsewhere (the guest kernel's own p2m): pfn lookups and the
    /// physical view then work as in a dump that records both. Returns `false`, and
    /// changes nothing, for a dump that has pfns of its own.
    pub fn set_recovered_pfns(&mut self, pfns: RecoveredPfns) -> bool {
        self.meta.frames.set_recovered(pfns)
    }
    /// Every dumped page with a known pfn, as (pfn, page), ascending by pfn.
    pub fn pages_by_pfn(&self) -> Box<dyn Iterator<Item = (GuestFrame, PageIndex)> + '_> {
        let by_index = (0..self.valid_page_count())
            .filter_map(|i| Some((self.pfn_of(PageIndex(i))?, PageIndex(i))));
        match self.meta.frames.recovered() {
            Some(r) => Box::new(r.by_pfn()),
            None if self.in_pfn_order() => Box::new(by_index),
            // Legacy HVM slots named by their index entries: sort them (16 bytes a page
            // while iterating; such dumps are of Xen 3.0.x guests).
            None => {
                let mut pairs: Vec<(GuestFrame, PageIndex)> = by_index.collect();
                pairs.sort_unstable_by_key(|&(pfn, _)| pfn.0);
                Box::new(pairs.into_iter())
            }
        }
    }
}

/// Everything validated at open: offsets, counts and decoded metadata.
#[derive(Debug)]
struct Parsed {
    format: DumpFormat,
    guest_kind: GuestKind,
    layout: ContextLayout,
    tools_width: Option<Width>,
    elf_machine: Option<u16>,
    elf_class64: Option<bool>,
    version: Option<XenVersion>,
    format_version: Option<u64>,
    magic: u32,
    nr_pages: u64,
    pages: PageStore,
    pages_present: u64,
    frames: FrameTable,
    context_offset: u64,
    context_stride: u64,
    vcpus: Vec<VcpuState>,
    shared_info_offset: Option<u64>,
    warnings: Vec<String>,
    /// A saved image's own records.
    saved: Option<Box<Saved>>,
}

/// Where a format keeps its pages.
#[derive(Debug)]
enum PageStore {
    /// Core dumps: one array of pages from `offset`, page *k* at `offset + k × 4096`.
    Dump { offset: u64 },
    /// Saved images: each page's newest copy, somewhere in the stream's records.
    Saved(stream::StreamPages),
}

/// What a saved image keeps beyond the common fields.
#[derive(Debug)]
struct Saved {
    facts: SavedImage,
    /// Each slot's vCPU record: file offset and length.
    contexts: Vec<Option<(u64, u64)>>,
    pv_levels: Option<u8>,
}

impl stream::FileHints for DumpBytes {
    fn release(&self, offset: u64, len: u64) {
        DumpBytes::release(self, offset, len);
    }
    fn prefetch(&self, offset: u64, len: u64) {
        DumpBytes::prefetch(self, offset, len);
    }
}

/// A region of the file, for bounds and overlap checks.
struct Region {
    name: &'static str,
    start: u64,
    end: u64,
}

fn region(name: &'static str, offset: u64, size: u64, file_len: u64) -> Result<Region> {
    let end = offset.checked_add(size).filter(|&e| e <= file_len);
    match end {
        Some(end) => Ok(Region {
            name,
            start: offset,
            end,
        }),
        None => Err(DumpError::OutOfBounds {
            name,
            offset,
            size,
            file_len,
        }),
    }
}

fn check_overlaps(regions: &[Region]) -> Result<()> {
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            if a.start < a.end && b.start < b.end && a.start < b.end && b.start < a.end {
                return Err(DumpError::Overlap {
                    a: a.name,
                    a_start: a.start,
                    a_end: a.end,
                    b: b.name,
                    b_start: b.start,
                    b_end: b.end,
                });
            }
        }
    }
    Ok(())
}

fn count_limit(header: &'static str, field: &'static str, found: u64, max: u64) -> Result<()> {
    if found > max {
        return Err(DumpError::BadField {
            header,
            field,
            found,
            expected: format!("at most {max}"),
        });
    }
    Ok(())
}

fn decode_vcpus(
    data: &[u8],
    offset: u64,
    stride: u64,
    count: u64,
    layout: ContextLayout,
    kind: GuestKind,
    legacy: bool,
) -> Vec<VcpuState> {
    (0..count)
        .map(|k| {
            let slot = data
                .bytes_at(offset + k * stride, layout.size())
                .unwrap_or(&[]);
            let mut st = context::decode(slot, k as usize, layout, kind);
            if legacy {
                // Xen 3.0.x predates VGCF_online: every stored context was of a vCPU
                // that was up, so mark it online rather than report it offline.
                st.flags |= VGCF_ONLINE;
            }
            st
        })
        .collect()
}

/// Forget the FS/GS bases of contexts whose fields Xen did not fill for this guest.
fn without_segment_bases(mut vcpus: Vec<VcpuState>) -> Vec<VcpuState> {
    for st in &mut vcpus {
        st.fs_base = None;
        st.gs_base_kernel = None;
        st.gs_base_user = None;
    }
    vcpus
}

/// Frame number stored in a context's CR3, decoded for `layout` (PV encodings).
fn pv_cr3_frame(data: &[u8], slot_off: u64, layout: ContextLayout) -> Option<MachineFrame> {
    let raw = match layout {
        ContextLayout::X86_64 => data.u64_at(slot_off + cr3_offset(layout))? >> 12,
        ContextLayout::X86_32 => {
            unfold_pv32_cr3(u64::from(data.u32_at(slot_off + cr3_offset(layout))?))
        }
    };
    (raw != 0).then_some(MachineFrame(raw))
}

fn open_elf(data: &[u8]) -> Result<Parsed> {
    let file_len = data.len() as u64;
    let layout = elf::parse(data)?;
    let mut warnings = Vec::new();
    if layout.names_lost {
        warnings.push(
            "section names (.shstrtab, at the end of the file) are missing: the file is truncated; sections were told apart by type and entry size"
                .to_string(),
        );
    }

    let note_sec = layout
        .section(".note.Xen")
        .ok_or(DumpError::NotXenElf { name: ".note.Xen" })?;
    if note_sec.sh_type != object::elf::SHT_NOTE {
        warnings.push(format!(
            ".note.Xen has section type {} instead of SHT_NOTE",
            note_sec.sh_type
        ));
    }
    let note_region = region(".note.Xen", note_sec.offset, note_sec.size, file_len)?;
    let note_bytes = data.bytes_at(note_sec.offset, note_sec.size).unwrap_or(&[]);
    let notes = notes::parse(note_bytes, note_sec.offset)?;
    if !notes.saw_none_note {
        warnings.push(".note.Xen has no DUMPCORE_NONE marker note".to_string());
    }
    for (name, t) in &notes.unknown {
        warnings.push(format!(".note.Xen: ignored note {name:?} type {t:#x}"));
    }
    let header = notes.header.ok_or(DumpError::MissingNote {
        name: "DUMPCORE_HEADER",
        note_type: notes::NOTE_HEADER,
    })?;
    let guest_kind = match header.magic {
        m if m == u64::from(kinds::XC_CORE_MAGIC) => GuestKind::Pv,
        m if m == u64::from(kinds::XC_CORE_MAGIC_HVM) => GuestKind::Hvm,
        m => {
            return Err(DumpError::BadField {
                header: "DUMPCORE_HEADER note",
                field: "xch_magic",
                found: m,
                expected: "0xf00febed (PV) or 0xf00febee (HVM)".into(),
            })
        }
    };
    if header.page_size != PAGE_SIZE {
        return Err(DumpError::BadField {
            header: "DUMPCORE_HEADER note",
            field: "xch_page_size",
            found: header.page_size,
            expected: "4096 (x86 pages)".into(),
        });
    }
    if header.nr_vcpus == 0 {
        return Err(DumpError::NoVcpus {
            where_: "DUMPCORE_HEADER note",
        });
    }
    count_limit(
        "DUMPCORE_HEADER note",
        "xch_nr_vcpus",
        header.nr_vcpus,
        MAX_VCPUS,
    )?;
    count_limit(
        "DUMPCORE_HEADER note",
        "xch_nr_pages",
        header.nr_pages,
        MAX_PAGES,
    )?;
    if let Some(v) = notes.format_version {
        if v >> 32 != 0 {
            warnings.push(format!(
                "unknown dump format version {}.{} (only 0.1 was ever written)",
                v >> 32,
                v & 0xffff_ffff
            ));
        }
    }
    let tools_width = match notes.version_descsz {
        Some(1276) => Some(Width::Bits32),
        Some(1280) => Some(Width::Bits64),
        _ => None,
    };
    let nr_pages = header.nr_pages;
    let nr_vcpus = header.nr_vcpus;

    // .xen_pages
    let pages = layout
        .section(".xen_pages")
        .ok_or(DumpError::MissingSection {
            name: ".xen_pages",
            why: "every xendump stores its page contents there",
        })?;
    if pages.entsize != PAGE_SIZE && pages.entsize != 0 {
        return Err(DumpError::BadEntrySize {
            name: ".xen_pages",
            expected: "4096".into(),
            found: pages.entsize,
        });
    }
    let pages_bytes = nr_pages * PAGE_SIZE;
    if pages.size != pages_bytes {
        return Err(DumpError::SizeMismatch {
            name: ".xen_pages",
            expected: pages_bytes,
            found: pages.size,
            why: format!("the header note says {nr_pages} pages of 4096 bytes"),
        });
    }

    // .xen_p2m / .xen_pfn
    let (table_name, entry, kind) = match guest_kind {
        GuestKind::Pv => (".xen_p2m", 16, FrameTableKind::P2m),
        GuestKind::Hvm => (".xen_pfn", 8, FrameTableKind::Pfn),
    };
    let table = layout
        .section(table_name)
        .ok_or(DumpError::MissingSection {
            name: if guest_kind == GuestKind::Pv {
                ".xen_p2m"
            } else {
                ".xen_pfn"
            },
            why: if guest_kind == GuestKind::Pv {
                "a PV dump (magic 0xf00febed) maps its pages with it"
            } else {
                "an HVM dump (magic 0xf00febee) maps its pages with it"
            },
        })?;
    let table_name: &'static str = if guest_kind == GuestKind::Pv {
        ".xen_p2m"
    } else {
        ".xen_pfn"
    };
    if table.entsize != entry {
        return Err(DumpError::BadEntrySize {
            name: table_name,
            expected: entry.to_string(),
            found: table.entsize,
        });
    }
    if table.size != nr_pages * entry {
        return Err(DumpError::SizeMismatch {
            name: table_name,
            expected: nr_pages * entry,
            found: table.size,
            why: format!("the header note says {nr_pages} pages of {entry}-byte entries"),
        });
    }
    let table_region = region(table_name, table.offset, table.size, file_len)?;

    // .xen_prstatus
    let pr = layout
        .section(".xen_prstatus")
        .ok_or(DumpError::MissingSection {
            name: ".xen_prstatus",
            why: "it holds the vCPU contexts",
        })?;
    let stride = if pr.entsize != 0 {
        pr.entsize
    } else {
        pr.size / nr_vcpus
    };
    if stride < ContextLayout::X86_32.size() {
        return Err(DumpError::BadEntrySize {
            name: ".xen_prstatus",
            expected: "at least 2800 (a vcpu_guest_context)".into(),
            found: stride,
        });
    }
    if pr.size != nr_vcpus.saturating_mul(stride) {
        return Err(DumpError::SizeMismatch {
            name: ".xen_prstatus",
            expected: nr_vcpus.saturating_mul(stride),
            found: pr.size,
            why: format!("the header note says {nr_vcpus} vCPUs of {stride} bytes"),
        });
    }
    let pr_region = region(".xen_prstatus", pr.offset, pr.size, file_len)?;

    let shared = layout.section(".xen_shared_info");
    let mut regions = vec![
        Region {
            name: "ELF headers",
            start: 0,
            end: layout.headers_end,
        },
        note_region,
        pr_region,
        table_region,
    ];
    if let Some(s) = shared {
        regions.push(region(".xen_shared_info", s.offset, s.size, file_len)?);
        if s.size < PAGE_SIZE {
            warnings.push(format!(".xen_shared_info is only {} bytes", s.size));
        }
    }
    // The page area may be cut short (a truncated copy): keep the pages that are there.
    let pages_present = if pages.offset >= file_len {
        0
    } else {
        ((file_len - pages.offset) / PAGE_SIZE).min(nr_pages)
    };
    if pages_present < nr_pages {
        warnings.push(format!(
            "file is truncated: only {pages_present} of {nr_pages} pages of .xen_pages are present"
        ));
    }
    regions.push(Region {
        name: ".xen_pages",
        start: pages.offset,
        end: pages.offset.saturating_add(pages.size),
    });
    check_overlaps(&regions)?;

    let frames = FrameTable::new(kind, table.offset, nr_pages, data);
    if let Some(i) = frames.unsorted_at() {
        warnings.push(format!(
            "{table_name} is damaged: entry {i} (file offset {:#x}) is not in ascending pfn order, so some pages may not be found",
            table.offset + i * entry
        ));
    }

    // Context layout (§3.6): PV by guest width, HVM by hypervisor width.
    let version = notes.version;
    let ctx_layout = if stride < ContextLayout::X86_64.size() {
        ContextLayout::X86_32
    } else {
        match guest_kind {
            GuestKind::Hvm => match &version {
                Some(v) if !v.hypervisor_is_64bit() => ContextLayout::X86_32,
                _ => ContextLayout::X86_64,
            },
            GuestKind::Pv if layout.e_machine == EM_386 => ContextLayout::X86_32,
            GuestKind::Pv => {
                // EM_X86_64 is the guest width from Xen 3.4 on; before that it was the
                // tools' width, so a 32-bit guest could hide behind it. Writer versions
                // are not always recorded truthfully, so decide by which decoding of
                // CR3 names a frame that is actually in the dump.
                if layout.e_machine != EM_X86_64 {
                    warnings.push(format!(
                        "unexpected e_machine {}; treating the guest as 64-bit",
                        layout.e_machine
                    ));
                }
                {
                    let found = |l| {
                        (0..nr_vcpus).any(|k| {
                            pv_cr3_frame(data, pr.offset + k * stride, l)
                                .is_some_and(|m| frames.page_of_mfn(data, m).is_some())
                        })
                    };
                    if found(ContextLayout::X86_64) {
                        ContextLayout::X86_64
                    } else if found(ContextLayout::X86_32) {
                        warnings.push(
                            "e_machine says x86_64 but the vCPU contexts are 32-bit (pre-3.4 tools dumping a 32-bit PV guest)"
                                .to_string(),
                        );
                        ContextLayout::X86_32
                    } else {
                        warnings.push(
                            "no vCPU's CR3 names a page in the dump; assuming 64-bit contexts"
                                .to_string(),
                        );
                        ContextLayout::X86_64
                    }
                }
            }
        }
    };
    // Xen fills an HVM vCPU's fs_base/gs_base_* from its segment registers only since
    // 4.2 (arch_get_info_guest); before, they were copies of unused PV fields.
    let bases_recorded =
        guest_kind == GuestKind::Pv || version.as_ref().is_none_or(|v| v.at_least(4, 2));
    let mut vcpus = decode_vcpus(
        data, pr.offset, stride, nr_vcpus, ctx_layout, guest_kind, false,
    );
    if !bases_recorded {
        vcpus = without_segment_bases(vcpus);
    }

    Ok(Parsed {
        format: DumpFormat::Elf,
        guest_kind,
        layout: ctx_layout,
        tools_width,
        elf_machine: Some(layout.e_machine),
        elf_class64: Some(layout.class64),
        version,
        format_version: notes.format_version,
        magic: header.magic as u32,
        nr_pages,
        pages: PageStore::Dump {
            offset: pages.offset,
        },
        pages_present,
        frames,
        context_offset: pr.offset,
        context_stride: stride,
        vcpus,
        shared_info_offset: shared.map(|s| s.offset),
        warnings,
        saved: None,
    })
}

/// Size of the legacy `xc_core_header`.
const LEGACY_HEADER: u64 = 24;

fn open_legacy(data: &[u8]) -> Result<Parsed> {
    let file_len = data.len() as u64;
    if file_len < LEGACY_HEADER {
        return Err(DumpError::TooShort {
            len: file_len,
            needed: LEGACY_HEADER,
            what: "legacy xc_core header",
        });
    }
    let f = |off| u64::from(data.u32_at(off).unwrap_or(0));
    let magic = f(0) as u32;
    let nr_vcpus = f(4);
    let nr_pages = f(8);
    let ctxt_offset = f(12);
    let index_offset = f(16);
    let pages_offset = f(20);
    const H: &str = "legacy xc_core header";
    if nr_vcpus == 0 {
        return Err(DumpError::NoVcpus { where_: H });
    }
    count_limit(H, "xch_nr_vcpus", nr_vcpus, MAX_VCPUS)?;
    if ctxt_offset != LEGACY_HEADER {
        return Err(DumpError::BadField {
            header: H,
            field: "xch_ctxt_offset",
            found: ctxt_offset,
            expected: "24 (the header size)".into(),
        });
    }
    let ctx_bytes = index_offset
        .checked_sub(ctxt_offset)
        .ok_or(DumpError::BadField {
            header: H,
            field: "xch_index_offset",
            found: index_offset,
            expected: "at least xch_ctxt_offset (24)".into(),
        })?;
    let ctx_size = ctx_bytes / nr_vcpus;
    let layout = match (ctx_size, ctx_bytes % nr_vcpus) {
        (5168, 0) => ContextLayout::X86_64,
        (2800, 0) => ContextLayout::X86_32,
        _ => {
            return Err(DumpError::BadField {
                header: H,
                field: "xch_index_offset",
                found: index_offset,
                expected: format!(
                    "24 + {nr_vcpus} vCPUs × 2800 or 5168 bytes ({} or {})",
                    24 + nr_vcpus * 2800,
                    24 + nr_vcpus * 5168
                ),
            })
        }
    };
    let ctx_region = region("legacy vCPU contexts", ctxt_offset, ctx_bytes, file_len)?;
    // Index entries are the tools' `unsigned long`, whose width matches the context
    // layout in every release; a short-lived unstable writer used u64 on 32-bit tools.
    // The header's page offset tells which, since it rounds up the end of the index.
    let native_width: u64 = if layout == ContextLayout::X86_64 {
        8
    } else {
        4
    };
    let fits = |w: u64| {
        index_offset
            .checked_add(nr_pages * w)
            .map(|end| end.div_ceil(PAGE_SIZE) * PAGE_SIZE)
            == Some(pages_offset)
    };
    let index_width = if fits(native_width) {
        native_width
    } else if fits(12 - native_width) {
        12 - native_width
    } else {
        return Err(DumpError::BadField {
            header: H,
            field: "xch_pages_offset",
            found: pages_offset,
            expected: format!(
                "the index end rounded up to a page: {:#x} for {native_width}-byte entries",
                (index_offset + nr_pages * native_width).div_ceil(PAGE_SIZE) * PAGE_SIZE
            ),
        });
    };
    let index_region = region(
        "legacy page index",
        index_offset,
        nr_pages * index_width,
        file_len,
    )?;
    check_overlaps(&[ctx_region, index_region])?;

    let mut warnings = Vec::new();
    let pages_present = if pages_offset >= file_len {
        0
    } else {
        ((file_len - pages_offset) / PAGE_SIZE).min(nr_pages)
    };
    if pages_present < nr_pages {
        warnings.push(format!(
            "file is truncated: only {pages_present} of {nr_pages} pages are present"
        ));
    }

    // HVM: magic 0xF00FEBEE (3.0.4), or VGCF_HVM_GUEST in the contexts (3.0.0–3.0.3).
    let first_flags = match layout {
        ContextLayout::X86_64 => data.u64_at(ctxt_offset + context::FLAGS_OFFSET),
        ContextLayout::X86_32 => data
            .u32_at(ctxt_offset + context::FLAGS_OFFSET)
            .map(u64::from),
    }
    .unwrap_or(0);
    let hvm = magic == kinds::XC_CORE_MAGIC_HVM || first_flags & VGCF_HVM_GUEST != 0;
    let guest_kind = if hvm { GuestKind::Hvm } else { GuestKind::Pv };
    if hvm {
        warnings.push(
            "legacy HVM dump: pfns are inferred from page positions (the format stores none)"
                .to_string(),
        );
    } else {
        warnings.push(
            "legacy PV dump: no p2m, so pseudo-physical addresses cannot be read (virtual and machine reads work)"
                .to_string(),
        );
    }
    let frames = FrameTable::new(
        FrameTableKind::LegacyMfns {
            width: index_width as u8,
            hvm,
        },
        index_offset,
        nr_pages,
        data,
    );
    let vcpus = decode_vcpus(
        data,
        ctxt_offset,
        ctx_size,
        nr_vcpus,
        layout,
        guest_kind,
        true,
    );
    // 3.0.x filled only user_regs and ctrlreg from an HVM vCPU's hardware state.
    let vcpus = if guest_kind == GuestKind::Hvm {
        without_segment_bases(vcpus)
    } else {
        vcpus
    };
    Ok(Parsed {
        format: DumpFormat::Legacy,
        guest_kind,
        layout,
        tools_width: Some(if layout == ContextLayout::X86_64 {
            Width::Bits64
        } else {
            Width::Bits32
        }),
        elf_machine: None,
        elf_class64: None,
        version: None,
        format_version: None,
        magic,
        nr_pages,
        pages: PageStore::Dump {
            offset: pages_offset,
        },
        pages_present,
        frames,
        context_offset: ctxt_offset,
        context_stride: ctx_size,
        vcpus,
        shared_info_offset: None,
        warnings,
        saved: None,
    })
}

/// A saved domain (docs/xl-save-format.md): pages by pfn from the stream's index.
fn open_saved(data: &[u8], hints: &dyn stream::FileHints) -> Result<Parsed> {
    let s = stream::open(data, hints)?;
    let pages = s.pages.pages();
    Ok(Parsed {
        format: DumpFormat::SavedImage,
        guest_kind: s.guest_kind,
        layout: s.layout,
        tools_width: None,
        elf_machine: None,
        elf_class64: None,
        version: None,
        format_version: None,
        magic: 0,
        nr_pages: pages,
        pages: PageStore::Saved(s.pages),
        pages_present: pages,
        frames: FrameTable::new(FrameTableKind::Pfn, 0, 0, &[]),
        context_offset: 0,
        context_stride: 0,
        vcpus: s.vcpus,
        shared_info_offset: s.shared_info,
        warnings: s.warnings,
        saved: Some(Box::new(Saved {
            facts: s.facts,
            contexts: s.contexts,
            pv_levels: s.pv_levels,
        })),
    })
}

#[cfg(test)]
mod tests;
