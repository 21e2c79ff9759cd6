//! The page-table walker: one generic loop over [`PagingMode::levels`], reading table
//! pages through a [`TableSource`].
//!
//! Speaks guest virtual addresses in and *table frames* out: frame numbers in whatever
//! space the guest's tables use (machine frames for PV, guest frames for HVM/PVH). The
//! walk visits at most one table per level, so hostile tables (self references, loops)
//! cannot make it spin, and every table access is bounds-checked.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use thiserror::Error;

use super::cr3::Root;
use super::paging::{
    level_name, LevelSpec, PageSize, PagingMode, ENTRY_LARGE_PAGE, ENTRY_NO_EXECUTE, ENTRY_PRESENT,
    ENTRY_USER, ENTRY_WRITABLE, MAX_LEVELS,
};
use crate::addr::{VirtAddr, PAGE_SHIFT, PAGE_SIZE};

/// Supplies the pages that hold page tables.
pub trait TableSource {
    /// Page holding table frame `frame` (frame numbers in the space the guest's tables
    /// use: mfn for PV, pfn for HVM), or `None` if not in the dump.
    ///
    /// The slice should be the whole 4096-byte page; a shorter one is not an error
    /// until the walker needs an entry beyond its end.
    fn table_page(&self, frame: u64) -> Option<&[u8]>;
}

impl<T: TableSource + ?Sized> TableSource for &T {
    fn table_page(&self, frame: u64) -> Option<&[u8]> {
        (**self).table_page(frame)
    }
}

/// In-memory tables, as produced by the page-table builder; mainly for tests.
impl<H: BuildHasher> TableSource for HashMap<u64, Box<[u8; PAGE_SIZE as usize]>, H> {
    fn table_page(&self, frame: u64) -> Option<&[u8]> {
        self.get(&frame).map(|page| &page[..])
    }
}

/// One entry read during a walk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WalkStep {
    /// Level of the table: 5 = PML5, 4 = PML4, 3 = PDPT, 2 = PD, 1 = PT.
    pub level: u8,
    /// Frame holding the table.
    pub table_frame: u64,
    /// Index of the entry in the table.
    pub index: u64,
    /// Byte offset of the entry within `table_frame`.
    pub entry_addr_in_frame: u64,
    /// Raw entry (zero-extended in 2-level mode).
    pub entry: u64,
}

impl WalkStep {
    /// Conventional name of the table this step read (PML4, PDPT, …).
    pub const fn level_name(&self) -> &'static str {
        level_name(self.level)
    }
}

impl fmt::Display for WalkStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entry {:#x} (frame {:#x} + {:#x}) = {:#018x}",
            self.level_name(),
            self.index,
            self.table_frame,
            self.entry_addr_in_frame,
            self.entry
        )
    }
}

/// Access rights accumulated over all levels of a walk, as the CPU combines them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRights {
    /// R/W set at every level that has it.
    pub writable: bool,
    /// U/S set at every level that has it.
    pub user: bool,
    /// NX set at some level (always false in 2-level mode and without paging).
    pub no_execute: bool,
}

impl PageRights {
    const ALL: PageRights = PageRights {
        writable: true,
        user: true,
        no_execute: false,
    };

    fn restrict(&mut self, mode: PagingMode, level: u8, entry: u64) {
        // A legacy PAE PDPTE has no R/W, U/S or NX bits (Xen's compat L3 entries set
        // R/W and U/S anyway, so they would not restrict either).
        if mode == PagingMode::Pae && level == 3 {
            return;
        }
        self.writable &= entry & ENTRY_WRITABLE != 0;
        self.user &= entry & ENTRY_USER != 0;
        self.no_execute |= mode.has_no_execute() && entry & ENTRY_NO_EXECUTE != 0;
    }
}

/// A successful translation of one virtual address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The translated address.
    pub va: VirtAddr,
    /// The 4 KiB frame holding `va` (same frame space as the tables).
    pub frame: u64,
    /// Byte offset of `va` within `frame`.
    pub offset: u64,
    /// Size of the page the leaf entry maps.
    pub page_size: PageSize,
    /// Combined access rights.
    pub rights: PageRights,
    steps: [WalkStep; MAX_LEVELS],
    step_count: u8,
}

impl Translation {
    /// The entries read, top level first (empty without paging).
    pub fn steps(&self) -> &[WalkStep] {
        &self.steps[..usize::from(self.step_count)]
    }

    /// The leaf entry, if there was a walk.
    pub fn leaf(&self) -> Option<&WalkStep> {
        self.steps().last()
    }

    /// Byte address of `va` in the frame space.
    pub const fn address(&self) -> u64 {
        (self.frame << PAGE_SHIFT) | self.offset
    }

    /// First 4 KiB frame of the (possibly large) page mapping `va`.
    pub const fn page_base_frame(&self) -> u64 {
        self.frame & !(self.page_size.frames() - 1)
    }
}

/// Why a virtual address could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum WalkError {
    /// An entry on the way has P = 0.
    #[error("{va} is not mapped: {step} is not present")]
    NotPresent {
        /// Address being translated.
        va: VirtAddr,
        /// The non-present entry.
        step: WalkStep,
    },
    /// A table the walk needs is not in the dump (foreign, I/O or Xen frame, or a
    /// truncated dump).
    #[error(
        "{va}: {} table in frame {table_frame:#x} is not in the dump (needed entry {index:#x}{})",
        level_name(*.level),
        referenced_by_suffix(.referenced_by)
    )]
    TableMissing {
        /// Address being translated.
        va: VirtAddr,
        /// Level of the missing table.
        level: u8,
        /// The missing frame.
        table_frame: u64,
        /// Index the walk wanted to read in it.
        index: u64,
        /// The entry pointing to the table; `None` for the root (from CR3).
        referenced_by: Option<WalkStep>,
    },
    /// A present entry has bits set that the mode reserves.
    #[error("{va}: {step} has reserved bits {reserved:#x} set")]
    ReservedBits {
        /// Address being translated.
        va: VirtAddr,
        /// The offending entry.
        step: WalkStep,
        /// The reserved bits that are set.
        reserved: u64,
    },
    /// PS set at a level where the mode has no large pages (PML5E, PML4E, PAE PDPTE).
    #[error("{va}: {step} has PS set, but {mode} paging has no large pages at this level")]
    LargePageNotAllowed {
        /// Address being translated.
        va: VirtAddr,
        /// Paging mode of the walk.
        mode: PagingMode,
        /// The offending entry.
        step: WalkStep,
    },
    /// The address is not canonical for a long-mode walk.
    #[error("{va} is not a canonical address for {mode} paging")]
    NonCanonical {
        /// Address being translated.
        va: VirtAddr,
        /// Paging mode of the walk.
        mode: PagingMode,
    },
    /// The address does not fit in 32 bits, but the mode translates 32-bit addresses.
    #[error("{va} does not fit in 32 bits, as {mode} requires")]
    AddressTooWide {
        /// Address being translated.
        va: VirtAddr,
        /// Paging mode of the walk.
        mode: PagingMode,
    },
    /// The entry lies beyond the end of the table page (a root offset too close to the
    /// end of the frame, or a short page from the source).
    #[error(
        "{va}: {} entry {index:#x} at byte {entry_offset:#x} lies outside table frame {table_frame:#x} ({table_len} bytes)",
        level_name(*.level)
    )]
    EntryOutOfBounds {
        /// Address being translated.
        va: VirtAddr,
        /// Level of the table.
        level: u8,
        /// Frame holding the table.
        table_frame: u64,
        /// Index of the entry.
        index: u64,
        /// Byte offset the entry would have.
        entry_offset: u64,
        /// Length of the page the source returned.
        table_len: usize,
    },
}

fn referenced_by_suffix(step: &Option<WalkStep>) -> String {
    match step {
        Some(step) => format!(", referenced by {step}"),
        None => ", root from CR3".to_owned(),
    }
}

impl WalkError {
    /// The address whose translation failed.
    pub const fn va(&self) -> VirtAddr {
        match *self {
            WalkError::NotPresent { va, .. }
            | WalkError::TableMissing { va, .. }
            | WalkError::ReservedBits { va, .. }
            | WalkError::LargePageNotAllowed { va, .. }
            | WalkError::NonCanonical { va, .. }
            | WalkError::AddressTooWide { va, .. }
            | WalkError::EntryOutOfBounds { va, .. } => va,
        }
    }

    /// The paging level at which the walk stopped, if it got to read tables.
    pub const fn level(&self) -> Option<u8> {
        match *self {
            WalkError::NotPresent { step, .. }
            | WalkError::ReservedBits { step, .. }
            | WalkError::LargePageNotAllowed { step, .. } => Some(step.level),
            WalkError::TableMissing { level, .. } | WalkError::EntryOutOfBounds { level, .. } => {
                Some(level)
            }
            WalkError::NonCanonical { .. } | WalkError::AddressTooWide { .. } => None,
        }
    }
}

/// Translates `va` by walking the tables of `mode` from `root`.
///
/// Without paging ([`PagingMode::None`]) the address is its own frame address and no
/// table is read. Frames of data pages are not checked against the source: whether the
/// target page is in the dump is the caller's question.
///
/// ```
/// use xendump_gdbserver::addr::VirtAddr;
/// use xendump_gdbserver::builder::pagetable::{EntryFlags, PageTableBuilder};
/// use xendump_gdbserver::memory::{walk, Cr3Decode, PageSize, PagingMode};
///
/// let va = VirtAddr(0xffff_8000_0010_0abc);
/// let mut builder = PageTableBuilder::new(PagingMode::FourLevel);
/// let first = VirtAddr(0xffff_8000_0010_0000);
/// builder.map(first, 0x1234, PageSize::Size4K, 1, EntryFlags::default())?;
/// let mut next_frame = 0x100;
/// let tables = builder.build(|| {
///     next_frame += 1;
///     next_frame
/// })?;
/// let cr3 = tables.cr3(Cr3Decode::HvmLong).ok_or("root not representable")?;
/// let root = Cr3Decode::HvmLong.decode(cr3);
/// let pages = tables.into_map();
///
/// let tr = walk(&pages, PagingMode::FourLevel, root, va)?;
/// assert_eq!((tr.frame, tr.offset, tr.page_size), (0x1234, 0xabc, PageSize::Size4K));
/// let names: Vec<_> = tr.steps().iter().map(|s| s.level_name()).collect();
/// assert_eq!(names, ["PML4", "PDPT", "PD", "PT"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn walk<S: TableSource + ?Sized>(
    src: &S,
    mode: PagingMode,
    root: Root,
    va: VirtAddr,
) -> Result<Translation, WalkError> {
    if !mode.is_canonical(va.0) {
        return Err(if mode.is_32bit() {
            WalkError::AddressTooWide { va, mode }
        } else {
            WalkError::NonCanonical { va, mode }
        });
    }
    let mut out = Translation {
        va,
        frame: va.0 >> PAGE_SHIFT,
        offset: va.page_offset(),
        page_size: PageSize::Size4K,
        rights: PageRights::ALL,
        steps: [WalkStep::default(); MAX_LEVELS],
        step_count: 0,
    };
    let Some((last, upper)) = mode.levels().split_last() else {
        return Ok(out);
    };

    let mut table_frame = root.frame;
    let mut table_offset = u64::from(root.offset);
    let mut referenced_by = None;
    for spec in upper {
        let step = read_step(
            src,
            mode,
            spec,
            table_frame,
            table_offset,
            va,
            referenced_by,
        )?;
        out.push(step);
        let large = step.entry & ENTRY_LARGE_PAGE != 0;
        match spec.leaf {
            Some(size) if large => {
                check_reserved(mode, step, true, va)?;
                return Ok(out.finish(mode, size));
            }
            // PS where no large page can exist: reserved in long mode and PAE. In
            // 2-level mode without CR4.PSE the CPU ignores it, and so do we.
            None if large && !matches!(mode, PagingMode::TwoLevel { .. }) => {
                return Err(WalkError::LargePageNotAllowed { va, mode, step });
            }
            _ => check_reserved(mode, step, false, va)?,
        }
        table_frame = mode.table_frame(step.entry);
        table_offset = 0;
        referenced_by = Some(step);
    }
    let step = read_step(
        src,
        mode,
        last,
        table_frame,
        table_offset,
        va,
        referenced_by,
    )?;
    out.push(step);
    check_reserved(mode, step, false, va)?;
    Ok(out.finish(mode, PageSize::Size4K))
}

impl Translation {
    fn push(&mut self, step: WalkStep) {
        if let Some(slot) = self.steps.get_mut(usize::from(self.step_count)) {
            *slot = step;
            self.step_count += 1;
        }
    }

    /// Completes the translation from the leaf (the last pushed step).
    fn finish(mut self, mode: PagingMode, size: PageSize) -> Translation {
        let leaf = self.steps().last().copied().unwrap_or_default();
        let base = mode.leaf_frame(size, leaf.entry);
        let in_page = self.va.0 & (size.bytes() - 1);
        self.frame = base + (in_page >> PAGE_SHIFT);
        self.offset = in_page & (PAGE_SIZE - 1);
        self.page_size = size;
        for step in &self.steps[..usize::from(self.step_count)] {
            self.rights.restrict(mode, step.level, step.entry);
        }
        self
    }
}

/// Translates `va` to its 4 KiB frame from the last-level table `table_frame` that an
/// earlier [`walk`] of the same tables reached for another address of that table's
/// span: the one step a cache of upper-level results leaves to do.
pub(crate) fn walk_last_level<S: TableSource + ?Sized>(
    src: &S,
    mode: PagingMode,
    table_frame: u64,
    va: VirtAddr,
) -> Result<u64, WalkError> {
    let Some(spec) = mode.levels().last() else {
        return Ok(va.0 >> PAGE_SHIFT);
    };
    let step = read_step(src, mode, spec, table_frame, 0, va, None)?;
    check_reserved(mode, step, false, va)?;
    Ok(mode.leaf_frame(PageSize::Size4K, step.entry))
}

/// A run of virtual addresses mapped with the same combined rights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MappedRange {
    /// First address (canonical).
    pub start: u64,
    /// Length in bytes; the run ends at `start + len`, which wraps to 0 at the very top
    /// of a 64-bit space.
    pub len: u64,
    /// Rights combined over every level, as the CPU applies them.
    pub rights: PageRights,
}

impl MappedRange {
    /// One past the last address (wrapping to 0 at the top of the space).
    pub const fn end(&self) -> u64 {
        self.start.wrapping_add(self.len)
    }
}

/// Everything a set of page tables maps, from [`mapped_ranges`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MappedRanges {
    /// Mapped runs in address order, adjacent runs with equal rights merged.
    pub ranges: Vec<MappedRange>,
    /// Tables read.
    pub tables: usize,
    /// The walk stopped at the table limit: later ranges are missing.
    pub truncated: bool,
}

impl MappedRanges {
    fn push(&mut self, start: u64, len: u64, rights: PageRights) {
        if let Some(last) = self.ranges.last_mut() {
            if last.end() == start && last.rights == rights {
                last.len = last.len.wrapping_add(len);
                return;
            }
        }
        self.ranges.push(MappedRange { start, len, rights });
    }
}

/// Every present leaf of the tables of `mode` at `root`, as runs of addresses: the
/// memory map a CPU with these tables sees (what QEMU's `info mem` lists).
///
/// Only root entries whose index is in `top` are followed (to take the lower and upper
/// halves of a 64-bit space from different tables). Entries the walker would refuse
/// (reserved bits, PS where there are no large pages) and tables missing from the
/// source map nothing. At most `max_tables` tables are read, so hostile tables (loops,
/// every entry pointing at one table) cannot make the walk run long; `truncated` tells.
pub fn mapped_ranges<S: TableSource + ?Sized>(
    src: &S,
    mode: PagingMode,
    root: Root,
    top: std::ops::Range<u64>,
    max_tables: usize,
) -> MappedRanges {
    let mut out = MappedRanges::default();
    let levels = mode.levels();
    if !levels.is_empty() {
        let at = Table {
            frame: root.frame,
            offset: u64::from(root.offset),
            va: 0,
            rights: PageRights::ALL,
        };
        visit(src, mode, levels, at, Some(&top), max_tables, &mut out);
    }
    out
}

/// A table to visit, and what the walk knows on reaching it.
#[derive(Clone, Copy)]
struct Table {
    frame: u64,
    offset: u64,
    /// Virtual address bits fixed by the levels above.
    va: u64,
    /// Rights restricted by the levels above.
    rights: PageRights,
}

fn visit<S: TableSource + ?Sized>(
    src: &S,
    mode: PagingMode,
    levels: &[LevelSpec],
    at: Table,
    top: Option<&std::ops::Range<u64>>,
    max_tables: usize,
    out: &mut MappedRanges,
) {
    let Some((spec, below)) = levels.split_first() else {
        return;
    };
    if out.tables >= max_tables {
        out.truncated = true;
        return;
    }
    out.tables += 1;
    let Some(page) = src.table_page(at.frame) else {
        return;
    };
    let size = mode.entry_size();
    let indexes = match top {
        Some(r) => r.start..r.end.min(1 << spec.index_bits),
        None => 0..1 << spec.index_bits,
    };
    for index in indexes {
        let Some(entry) = read_entry(page, at.offset + index * size, size) else {
            break;
        };
        if entry & ENTRY_PRESENT == 0 {
            continue;
        }
        let large = entry & ENTRY_LARGE_PAGE != 0;
        let leaf_size = match spec.leaf {
            _ if below.is_empty() => Some(PageSize::Size4K),
            Some(size) if large => Some(size),
            None if large && !matches!(mode, PagingMode::TwoLevel { .. }) => continue,
            _ => None,
        };
        if mode.reserved_bits(spec.level, large && leaf_size.is_some(), entry) != 0 {
            continue;
        }
        let mut rights = at.rights;
        rights.restrict(mode, spec.level, entry);
        let va = at.va | (index << spec.shift);
        match leaf_size {
            Some(size) => out.push(canonical(mode, va), size.bytes(), rights),
            None => {
                let next = Table {
                    frame: mode.table_frame(entry),
                    offset: 0,
                    va,
                    rights,
                };
                visit(src, mode, below, next, None, max_tables, out);
            }
        }
    }
}

/// Sign-extend a long-mode address from its top translated bit.
const fn canonical(mode: PagingMode, va: u64) -> u64 {
    let bits = match mode {
        PagingMode::FourLevel => 48,
        PagingMode::FiveLevel => 57,
        _ => return va,
    };
    let shift = 64 - bits;
    (((va << shift) as i64) >> shift) as u64
}

/// Reads the entry for `va` at one level and checks that it is present.
fn read_step<S: TableSource + ?Sized>(
    src: &S,
    mode: PagingMode,
    spec: &LevelSpec,
    table_frame: u64,
    table_offset: u64,
    va: VirtAddr,
    referenced_by: Option<WalkStep>,
) -> Result<WalkStep, WalkError> {
    let index = spec.index(va.0);
    let page = src.table_page(table_frame).ok_or(WalkError::TableMissing {
        va,
        level: spec.level,
        table_frame,
        index,
        referenced_by,
    })?;
    let entry_size = mode.entry_size();
    let entry_offset = table_offset + index * entry_size;
    let entry = read_entry(page, entry_offset, entry_size).ok_or(WalkError::EntryOutOfBounds {
        va,
        level: spec.level,
        table_frame,
        index,
        entry_offset,
        table_len: page.len(),
    })?;
    let step = WalkStep {
        level: spec.level,
        table_frame,
        index,
        entry_addr_in_frame: entry_offset,
        entry,
    };
    if entry & ENTRY_PRESENT == 0 {
        return Err(WalkError::NotPresent { va, step });
    }
    Ok(step)
}

fn check_reserved(
    mode: PagingMode,
    step: WalkStep,
    large: bool,
    va: VirtAddr,
) -> Result<(), WalkError> {
    match mode.reserved_bits(step.level, large, step.entry) {
        0 => Ok(()),
        reserved => Err(WalkError::ReservedBits { va, step, reserved }),
    }
}

/// Little-endian entry of `size` (4 or 8) bytes at `offset`, if it fits in `page`.
fn read_entry(page: &[u8], offset: u64, size: u64) -> Option<u64> {
    let start = usize::try_from(offset).ok()?;
    let end = start.checked_add(usize::try_from(size).ok()?)?;
    let bytes = page.get(start..end)?;
    let mut buf = [0u8; 8];
    buf.get_mut(..bytes.len())?.copy_from_slice(bytes);
    Some(u64::from_le_bytes(buf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::paging::{ENTRY_GLOBAL, ENTRY_PAT_LARGE, SOFTWARE_BITS_HIGH};

    type Tables = HashMap<u64, Box<[u8; 4096]>>;

    fn put(tables: &mut Tables, frame: u64, index: u64, entry: u64, size: usize) {
        let page = tables.entry(frame).or_insert_with(|| Box::new([0; 4096]));
        let at = index as usize * size;
        page[at..at + size].copy_from_slice(&entry.to_le_bytes()[..size]);
    }

    const P_RW: u64 = ENTRY_PRESENT | ENTRY_WRITABLE;

    /// Hand-built 4-level tables for VA 0xFFFF_8880_1234_5678:
    /// PML4 @0x10 [0x111] → PDPT @0x11 [0x000] → PD @0x12 [0x091] → PT @0x13 [0x145]
    /// → frame 0xABCDE.
    fn four_level_tables() -> Tables {
        let mut t = Tables::new();
        put(&mut t, 0x10, 0x111, (0x11 << 12) | P_RW | ENTRY_USER, 8);
        put(&mut t, 0x11, 0x000, (0x12 << 12) | P_RW | ENTRY_USER, 8);
        put(&mut t, 0x12, 0x091, (0x13 << 12) | P_RW | ENTRY_USER, 8);
        put(
            &mut t,
            0x13,
            0x145,
            (0xABCDE << 12) | P_RW | ENTRY_GLOBAL,
            8,
        );
        t
    }

    #[test]
    fn mapped_ranges_list_every_leaf_with_combined_rights() {
        let mut t = four_level_tables();
        // Next to the 4 KiB page: a read-only one (merges with nothing), then two
        // writable ones (merge).
        put(&mut t, 0x13, 0x146, (0x1 << 12) | ENTRY_PRESENT, 8);
        put(&mut t, 0x13, 0x147, (0x2 << 12) | P_RW, 8);
        put(&mut t, 0x13, 0x148, (0x3 << 12) | P_RW, 8);
        // A 2 MiB page in the lower half, user-accessible.
        put(&mut t, 0x10, 0x000, (0x20 << 12) | P_RW | ENTRY_USER, 8);
        put(&mut t, 0x20, 0x001, (0x21 << 12) | P_RW | ENTRY_USER, 8);
        put(
            &mut t,
            0x21,
            0x002,
            (0x40_0000) | P_RW | ENTRY_USER | ENTRY_LARGE_PAGE | ENTRY_NO_EXECUTE,
            8,
        );
        // A not-present entry and one with reserved bits map nothing.
        put(
            &mut t,
            0x21,
            0x003,
            0x60_0000 | P_RW | ENTRY_LARGE_PAGE | (1 << 13),
            8,
        );
        let m = mapped_ranges(&t, PagingMode::FourLevel, Root::new(0x10), 0..512, 100);
        let ranges: Vec<(u64, u64, bool, bool, bool)> = m
            .ranges
            .iter()
            .map(|r| {
                (
                    r.start,
                    r.len,
                    r.rights.user,
                    r.rights.writable,
                    r.rights.no_execute,
                )
            })
            .collect();
        let lower = (1u64 << 30) | (2 << 21);
        let upper = 0xFFFF_8880_1234_5000;
        assert_eq!(
            ranges,
            [
                (lower, 0x20_0000, true, true, true),
                (upper, 0x1000, false, true, false),
                (upper + 0x1000, 0x1000, false, false, false),
                (upper + 0x2000, 0x2000, false, true, false),
            ]
        );
        assert!(!m.truncated);
        // Only the upper half.
        let m = mapped_ranges(&t, PagingMode::FourLevel, Root::new(0x10), 256..512, 100);
        assert_eq!(m.ranges.len(), 3);
        assert!(m.ranges.iter().all(|r| r.start >= upper));
    }

    #[test]
    fn mapped_ranges_of_looping_tables_stop_at_the_limit() {
        // Every entry of every level points back at the root: 512^3 paths.
        let mut t = Tables::new();
        for i in 0..512 {
            put(&mut t, 5, i, (5 << 12) | P_RW, 8);
        }
        let m = mapped_ranges(&t, PagingMode::FourLevel, Root::new(5), 0..512, 1000);
        assert!(m.truncated);
        assert_eq!(m.tables, 1000);
        // Same in PAE with its 4-entry root at an offset.
        let m = mapped_ranges(&t, PagingMode::Pae, Root::new(5), 0..4, 10);
        assert!(m.truncated);
    }

    #[test]
    fn four_level_walk_reports_every_step() {
        let t = four_level_tables();
        let va = VirtAddr(0xFFFF_8880_1234_5678);
        let tr = walk(&t, PagingMode::FourLevel, Root::new(0x10), va).unwrap();
        assert_eq!(
            (tr.frame, tr.offset, tr.page_size),
            (0xABCDE, 0x678, PageSize::Size4K)
        );
        assert_eq!(tr.address(), 0xABCD_E678);
        let steps: Vec<(u8, u64, u64, u64)> = tr
            .steps()
            .iter()
            .map(|s| (s.level, s.table_frame, s.index, s.entry_addr_in_frame))
            .collect();
        assert_eq!(
            steps,
            [
                (4, 0x10, 0x111, 0x888),
                (3, 0x11, 0, 0),
                (2, 0x12, 0x91, 0x488),
                (1, 0x13, 0x145, 0xA28)
            ]
        );
        assert_eq!(tr.steps()[0].level_name(), "PML4");
        // The leaf lacks U/S, so the page is supervisor-only.
        assert_eq!(
            tr.rights,
            PageRights {
                writable: true,
                user: false,
                no_execute: false
            }
        );
    }

    #[test]
    fn nx_in_an_upper_level_makes_the_page_no_execute() {
        let mut t = four_level_tables();
        put(
            &mut t,
            0x10,
            0x111,
            (0x11 << 12) | P_RW | ENTRY_NO_EXECUTE | SOFTWARE_BITS_HIGH,
            8,
        );
        let tr = walk(
            &t,
            PagingMode::FourLevel,
            Root::new(0x10),
            VirtAddr(0xFFFF_8880_1234_5000),
        )
        .unwrap();
        assert!(tr.rights.no_execute);
        assert_eq!(
            tr.frame, 0xABCDE,
            "NX/software bits must not leak into the table frame"
        );
    }

    #[test]
    fn not_present_names_level_index_and_entry() {
        let mut t = four_level_tables();
        put(&mut t, 0x12, 0x091, 0x13 << 12, 8); // P clear, frame bits still set
        let va = VirtAddr(0xFFFF_8880_1234_5678);
        let err = walk(&t, PagingMode::FourLevel, Root::new(0x10), va).unwrap_err();
        let WalkError::NotPresent { step, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!(
            (step.level, step.table_frame, step.index, step.entry),
            (2, 0x12, 0x91, 0x13000)
        );
        let msg = err.to_string();
        assert!(
            msg.contains("PD entry 0x91") && msg.contains("0xffff888012345678"),
            "{msg}"
        );
    }

    #[test]
    fn missing_table_reports_the_pointing_entry() {
        let mut t = four_level_tables();
        t.remove(&0x12);
        let va = VirtAddr(0xFFFF_8880_1234_5678);
        let err = walk(&t, PagingMode::FourLevel, Root::new(0x10), va).unwrap_err();
        let WalkError::TableMissing {
            level,
            table_frame,
            index,
            referenced_by,
            ..
        } = err
        else {
            panic!("{err:?}")
        };
        assert_eq!((level, table_frame, index), (2, 0x12, 0x91));
        assert_eq!(referenced_by.map(|s| (s.level, s.index)), Some((3, 0)));
        // A missing root has no referencing entry.
        let err = walk(&t, PagingMode::FourLevel, Root::new(0x99), va).unwrap_err();
        assert!(matches!(
            err,
            WalkError::TableMissing {
                level: 4,
                referenced_by: None,
                ..
            }
        ));
        assert!(err.to_string().contains("root from CR3"));
    }

    #[test]
    fn large_pages_in_long_mode() {
        let mut t = Tables::new();
        // PML4[0] → PDPT @2; PDPT[1] = 1 GiB page at 0x80_0000_0000 with PAT;
        // PDPT[0] → PD @3; PD[5] = 2 MiB page at 0x1_2340_0000 with PAT and NX.
        put(&mut t, 1, 0, (2 << 12) | P_RW, 8);
        put(
            &mut t,
            2,
            1,
            0x80_0000_0000 | ENTRY_LARGE_PAGE | ENTRY_PAT_LARGE | P_RW,
            8,
        );
        put(&mut t, 2, 0, (3 << 12) | P_RW, 8);
        put(
            &mut t,
            3,
            5,
            0x1_2340_0000 | ENTRY_LARGE_PAGE | ENTRY_PAT_LARGE | ENTRY_NO_EXECUTE | P_RW,
            8,
        );
        let tr = walk(
            &t,
            PagingMode::FourLevel,
            Root::new(1),
            VirtAddr(0x7654_3210),
        )
        .unwrap();
        assert_eq!(tr.page_size, PageSize::Size1G);
        assert_eq!(tr.address(), 0x80_3654_3210);
        assert_eq!(tr.page_base_frame(), 0x80_0000_0000 >> 12);
        assert_eq!(tr.steps().len(), 2);
        let tr = walk(&t, PagingMode::FourLevel, Root::new(1), VirtAddr(0xA1_2345)).unwrap();
        assert_eq!(tr.page_size, PageSize::Size2M);
        assert_eq!(tr.address(), 0x1_2341_2345);
        assert!(tr.rights.no_execute);
    }

    #[test]
    fn pae_root_mid_page_and_4m_pse_pages() {
        let mut t = Tables::new();
        // PAE: PDPT at offset 0xFE0 of frame 7; PDPTE[3] (byte 0xFF8) → PD @8;
        // PD[0x1FF] = 2 MiB page at 0x3FE0_0000.
        let pdpte = (8 << 12) | ENTRY_PRESENT | ENTRY_USER | ENTRY_WRITABLE | 0x20;
        put(&mut t, 7, 0xFF8 / 8, pdpte, 8);
        put(&mut t, 8, 0x1FF, 0x3FE0_0000 | ENTRY_LARGE_PAGE | P_RW, 8);
        let root = Root {
            frame: 7,
            offset: 0xFE0,
        };
        let tr = walk(&t, PagingMode::Pae, root, VirtAddr(0xFFF1_2345)).unwrap();
        assert_eq!(tr.steps()[0].entry_addr_in_frame, 0xFF8);
        assert_eq!(
            (tr.address(), tr.page_size),
            (0x3FF1_2345, PageSize::Size2M)
        );
        // 2-level PSE: PDE[0x300] = 4 MiB page, PA[39:32] = 0x12 via PSE-36.
        let mut t = Tables::new();
        put(
            &mut t,
            1,
            0x300,
            0x0080_0000 | (0x12 << 13) | ENTRY_LARGE_PAGE | P_RW,
            4,
        );
        let pse = PagingMode::TwoLevel { pse: true };
        let tr = walk(&t, pse, Root::new(1), VirtAddr(0xC012_3456)).unwrap();
        assert_eq!(
            (tr.address(), tr.page_size),
            (0x12_0092_3456, PageSize::Size4M)
        );
        // Without CR4.PSE the PS bit is ignored: the PDE's bits 31:12 (0x0082_4000)
        // point to a page table at frame 0x824.
        let err = walk(
            &t,
            PagingMode::TwoLevel { pse: false },
            Root::new(1),
            VirtAddr(0xC012_3456),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                WalkError::TableMissing {
                    level: 1,
                    table_frame: 0x824,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn no_paging_is_identity_below_4g() {
        let t = Tables::new();
        let tr = walk(&t, PagingMode::None, Root::new(0), VirtAddr(0xFEE0_0123)).unwrap();
        assert_eq!((tr.frame, tr.offset, tr.steps().len()), (0xFEE00, 0x123, 0));
        let err = walk(&t, PagingMode::None, Root::new(0), VirtAddr(1 << 32)).unwrap_err();
        assert!(matches!(err, WalkError::AddressTooWide { .. }));
    }

    #[test]
    fn address_checks_come_before_any_table_read() {
        let t = Tables::new();
        let err = walk(
            &t,
            PagingMode::FourLevel,
            Root::new(1),
            VirtAddr(0x8000_0000_0000),
        )
        .unwrap_err();
        assert_eq!(
            err,
            WalkError::NonCanonical {
                va: VirtAddr(0x8000_0000_0000),
                mode: PagingMode::FourLevel
            }
        );
        assert_eq!(err.level(), None);
        let err = walk(&t, PagingMode::Pae, Root::new(1), VirtAddr(0x1_0000_0000)).unwrap_err();
        assert!(matches!(err, WalkError::AddressTooWide { .. }));
        // 0x0000_8000_0000_0000 is canonical with 57-bit addresses: it reaches the tables.
        let err = walk(
            &t,
            PagingMode::FiveLevel,
            Root::new(1),
            VirtAddr(0x8000_0000_0000),
        )
        .unwrap_err();
        assert!(matches!(err, WalkError::TableMissing { level: 5, .. }));
    }

    #[test]
    fn all_ones_entries_fail_cleanly_in_every_mode() {
        let mut ones = Tables::new();
        ones.insert(0, Box::new([0xFF; 4096]));
        let root = Root::new(0);
        let va = VirtAddr(0x1234_5678);
        // Long mode and PAE: PS in PML4E / PDPTE is not allowed.
        for mode in [
            PagingMode::FourLevel,
            PagingMode::FiveLevel,
            PagingMode::Pae,
        ] {
            let err = walk(&ones, mode, root, va).unwrap_err();
            assert!(
                matches!(err, WalkError::LargePageNotAllowed { .. }),
                "{mode}: {err:?}"
            );
        }
        // 2-level PSE: a 4 MiB page with reserved bit 21 set.
        let err = walk(&ones, PagingMode::TwoLevel { pse: true }, root, va).unwrap_err();
        assert!(
            matches!(
                err,
                WalkError::ReservedBits {
                    reserved: 0x20_0000,
                    ..
                }
            ),
            "{err:?}"
        );
        // 2-level without PSE: PS ignored, the PDE points at frame 0xFFFFF (absent).
        let err = walk(&ones, PagingMode::TwoLevel { pse: false }, root, va).unwrap_err();
        assert!(
            matches!(
                err,
                WalkError::TableMissing {
                    table_frame: 0xF_FFFF,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn reserved_bits_are_reported_with_the_entry() {
        let mut t = Tables::new();
        put(&mut t, 1, 0, (2 << 12) | P_RW, 8);
        put(&mut t, 2, 0, (3 << 12) | P_RW, 8);
        put(
            &mut t,
            3,
            0,
            0x20_0000 | (1 << 13) | ENTRY_LARGE_PAGE | P_RW,
            8,
        );
        let err = walk(&t, PagingMode::FourLevel, Root::new(1), VirtAddr(0x1000)).unwrap_err();
        let WalkError::ReservedBits { step, reserved, .. } = err else {
            panic!("{err:?}")
        };
        assert_eq!((step.level, reserved), (2, 1 << 13));
        // Legacy PAE PTE with bit 52: reserved there, a software bit in long mode.
        let mut t = Tables::new();
        put(&mut t, 1, 0, (2 << 12) | ENTRY_PRESENT, 8);
        put(&mut t, 2, 0, (3 << 12) | P_RW, 8);
        put(&mut t, 3, 0, (9 << 12) | (1 << 52) | P_RW, 8);
        let err = walk(&t, PagingMode::Pae, Root::new(1), VirtAddr(0x0)).unwrap_err();
        assert!(matches!(
            err,
            WalkError::ReservedBits {
                reserved: 0x10_0000_0000_0000,
                ..
            }
        ));
    }

    #[test]
    fn self_referencing_tables_terminate() {
        // PML4[0x1ED] points to the PML4 itself (the classic recursive slot): walking
        // an address through that slot 4 times lands on the PML4 frame as data.
        let mut t = Tables::new();
        put(&mut t, 5, 0x1ED, (5 << 12) | P_RW, 8);
        let slot = 0x1ED_u64;
        let va = 0xFFFF_0000_0000_0000
            | (slot << 39)
            | (slot << 30)
            | (slot << 21)
            | (slot << 12)
            | 0x10;
        let tr = walk(&t, PagingMode::FourLevel, Root::new(5), VirtAddr(va)).unwrap();
        assert_eq!((tr.frame, tr.offset, tr.steps().len()), (5, 0x10, 4));
    }

    #[test]
    fn short_pages_and_bad_root_offsets_are_errors() {
        let mut t: HashMap<u64, Vec<u8>> = HashMap::new();
        t.insert(1, vec![0xFF; 16]);
        struct Short(HashMap<u64, Vec<u8>>);
        impl TableSource for Short {
            fn table_page(&self, frame: u64) -> Option<&[u8]> {
                self.0.get(&frame).map(Vec::as_slice)
            }
        }
        let src = Short(t);
        let err = walk(
            &src,
            PagingMode::FourLevel,
            Root::new(1),
            VirtAddr(0x7000_0000_0000),
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                WalkError::EntryOutOfBounds {
                    entry_offset: 0x700,
                    table_len: 16,
                    ..
                }
            ),
            "{err:?}"
        );
        let mut full = Tables::new();
        full.insert(1, Box::new([0; 4096]));
        let root = Root {
            frame: 1,
            offset: 0xFFF0,
        };
        let err = walk(&full, PagingMode::Pae, root, VirtAddr(0)).unwrap_err();
        assert!(matches!(err, WalkError::EntryOutOfBounds { .. }));
    }
}
