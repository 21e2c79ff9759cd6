//! Canonical page tables for PV guests: machine frames in page-table entries replaced by
//! the guest's pseudo-physical frames, so tools that walk a vmcore's tables as physical
//! (crash, drgn, makedumpfile) read a PV guest as they read a native one.
//!
//! This is what Xen's own save path does to every page-table page it sends
//! (`normalise_pagetable` in `tools/libs/guest/xg_sr_save_x86_pv.c`): each present
//! entry's machine frame becomes the pfn the p2m gives it, and Xen's own mappings are
//! removed. Xen knows which pages are tables from the hypervisor's page types; a dump
//! does not say, so the tables are found by walking them:
//!
//! 1. [`discover`] walks every table tree from its roots (each vCPU's `ctrlreg[3]`, the
//!    64-bit user table `ctrlreg[1]`, the kernel's own top-level table from
//!    VMCOREINFO's `SYMBOL(swapper_pg_dir)`, and any further roots the caller knows, such
//!    as tasks' `mm->pgd`). Each table page is read once, whatever the number of roots
//!    or of entries pointing at it: shared subtrees and cycles cost nothing. The result
//!    is a [`TableSet`], the sorted dump positions of the table pages with the role each
//!    was reached in (8 bytes per table page: 32 768 L1 tables map 64 GiB with 4 KiB
//!    pages, 256 KiB), and the counts of what the rewrite will do ([`TableStats`]),
//!    which go into the vmcore's notes before its pages are written.
//! 2. While the pages stream out, a page in the set is rewritten into a small buffer by
//!    [`rewrite_table`], the same function that counted them, so counts and bytes agree.
//!
//! Per entry (present ones only; a not-present entry is left as it is: it holds no
//! machine frame the CPU would use, and Linux keeps swap entries and `PROT_NONE` pfns
//! there):
//!
//! * a table pointer or a 4 KiB leaf: the frame field gets the pfn of its mfn;
//! * a large leaf (2 MiB, 4 MiB, 1 GiB): the same, when the machine frames it spans are
//!   the pfns `pfn .. pfn + n` with `pfn` aligned to the page size, the only case a
//!   physical reader can express. Xen's save path refuses such entries outright
//!   ("Cannot migrate superpage"): Linux never makes them in PV guests (Xen PV
//!   superpages were an opt-in, since removed); builder guests have them;
//! * an entry whose frame is not a guest frame (the dump's p2m has no pfn for it: grant
//!   or foreign mappings, I/O frames, Xen's own frames) or a large leaf that is not
//!   pfn-contiguous: the entry becomes 0, counted per level. Clearing only the present
//!   bit would not do: with `_PAGE_GLOBAL` still set Linux and crash read it as a
//!   `PROT_NONE` mapping of that (machine) frame, otherwise as a swap entry;
//! * Xen's own slots become 0, as Xen's save path clears them: L4 slots 256–271 of
//!   64-bit guests (the M2P, Xen's linear page table — a self-reference that would
//!   otherwise read as a cycle — and Xen's per-domain areas), PDPT entries 4–511 of PAE
//!   guests, the L2 entries mapping from `0xF5800000` up under PDPT slot 3 (PAE), and
//!   from `0xFC000000` up in 2-level guests.
//!
//! A page reached in two roles (say as an L2 and as an L1) is rewritten in the first
//! role it was reached in, and counted as a conflict.

use std::collections::hash_map::{Entry, HashMap};

use crate::addr::{MachineFrame, PageIndex, PAGE_SIZE};
use crate::dump::XenDump;
use crate::memory::paging::{
    PagingMode, ENTRY_LARGE_PAGE, ENTRY_PRESENT, FRAME_MASK_1G, FRAME_MASK_2M, FRAME_MASK_32,
    FRAME_MASK_4M_HIGH, FRAME_MASK_4M_LOW, FRAME_MASK_64,
};
use crate::memory::PageSize;

/// L4 slots Xen reserves in 64-bit PV guests' tables (`HYPERVISOR_VIRT_START` =
/// `0xFFFF800000000000` to `HYPERVISOR_VIRT_END` = `0xFFFF880000000000`).
pub const XEN_L4_SLOTS: std::ops::RangeInclusive<usize> = 256..=271;
/// PAE PV guests may use only the first 4 PDPT entries; Xen may use the rest of the page.
const PAE_L3_GUEST_ENTRIES: usize = 4;
/// First L2 entry of Xen's area under PDPT slot 3 in PAE PV guests
/// (`HYPERVISOR_VIRT_START` = `0xF5800000`; compat guests on 64-bit Xen may only
/// lower their `HYPERVISOR_COMPAT_VIRT_START`, never raise it).
const PAE_XEN_L2_FIRST: usize = (0xF580_0000usize >> 21) & 511;
/// First L2 entry of Xen's area in 2-level PV guests (`0xFC000000` on non-PAE Xen).
const TWO_LEVEL_XEN_L2_FIRST: usize = 0xFC00_0000usize >> 22;

/// How a table page is read and rewritten.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TableRole {
    /// Paging mode of the tree the page belongs to.
    pub mode: PagingMode,
    /// 1 = PT … 4 = PML4 (5 = PML5).
    pub level: u8,
    /// A PAE page directory under PDPT slot 3, whose top entries are Xen's.
    pub xen_top: bool,
}

impl TableRole {
    /// The role of a root table of `mode`.
    pub fn root(mode: PagingMode) -> Option<TableRole> {
        let top = mode.levels().first()?;
        Some(TableRole {
            mode,
            level: top.level,
            xen_top: false,
        })
    }

    fn pack(self) -> u8 {
        let mode = match self.mode {
            PagingMode::None => 0,
            PagingMode::TwoLevel { pse: false } => 1,
            PagingMode::TwoLevel { pse: true } => 2,
            PagingMode::Pae => 3,
            PagingMode::FourLevel => 4,
            PagingMode::FiveLevel => 5,
        };
        mode | (self.level & 7) << 3 | u8::from(self.xen_top) << 6
    }

    fn unpack(v: u8) -> TableRole {
        let mode = match v & 7 {
            1 => PagingMode::TwoLevel { pse: false },
            2 => PagingMode::TwoLevel { pse: true },
            3 => PagingMode::Pae,
            4 => PagingMode::FourLevel,
            5 => PagingMode::FiveLevel,
            _ => PagingMode::None,
        };
        TableRole {
            mode,
            level: (v >> 3) & 7,
            xen_top: v & (1 << 6) != 0,
        }
    }

    /// Is entry `i` of a table in this role one of Xen's own?
    fn is_xen_slot(self, i: usize) -> bool {
        match (self.mode, self.level) {
            (PagingMode::FourLevel, 4) => XEN_L4_SLOTS.contains(&i),
            (PagingMode::Pae, 3) => i >= PAE_L3_GUEST_ENTRIES,
            (PagingMode::Pae, 2) => self.xen_top && i >= PAE_XEN_L2_FIRST,
            (PagingMode::TwoLevel { .. }, 2) => i >= TWO_LEVEL_XEN_L2_FIRST,
            _ => false,
        }
    }
}

/// Where one table tree starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableRoot {
    /// What names it ("vCPU 0 cr3", "SYMBOL(swapper_pg_dir)", …).
    pub source: String,
    /// Paging mode of the tree.
    pub mode: PagingMode,
    /// Machine frame of the top-level table (`None`: a virtual address that the
    /// kernel's page tables do not map to a page-aligned table).
    pub mfn: Option<u64>,
    /// Whether to check that the page looks like a table before trusting it. A vCPU's
    /// `ctrlreg[3]`/`ctrlreg[1]` is a table Xen validated and holds a reference to; a
    /// kernel symbol or a task's `pgd` read from guest memory is only a claim.
    pub check: bool,
}

/// What became of one root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootReport {
    /// The root.
    pub root: TableRoot,
    /// Its pfn, if its frame is a guest frame.
    pub pfn: Option<u64>,
    /// Why it was not walked, if it was not.
    pub rejected: Option<&'static str>,
}

/// What the rewrite does, counted while the tables are found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Table pages per level (index = level).
    pub pages: [u64; 6],
    /// Present entries whose machine frame became a pfn, per level.
    pub translated: [u64; 6],
    /// Present entries made not-present (zeroed) because their frame is not a guest
    /// frame, or because a large page is not pfn-contiguous, per level.
    pub dropped: [u64; 6],
    /// Large-page leaves among `translated`.
    pub large_translated: u64,
    /// Large-page leaves among `dropped`.
    pub large_dropped: u64,
    /// Non-zero entries in Xen's own slots, zeroed.
    pub xen_cleared: u64,
    /// Pages reached in two different roles (rewritten in the first).
    pub conflicts: u64,
    /// Table pages listed in the dump but not readable (truncated file), not walked.
    pub unreadable: u64,
}

impl TableStats {
    /// Table pages in all.
    pub fn total_pages(&self) -> u64 {
        self.pages.iter().sum()
    }
    /// Entries dropped in all.
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }
    /// Entries translated in all.
    pub fn total_translated(&self) -> u64 {
        self.translated.iter().sum()
    }
}

/// The table pages to rewrite, by dump position.
#[derive(Clone, Debug, Default)]
pub struct TableSet {
    /// `position << 8 | packed role`, ascending.
    pages: Vec<u64>,
}

impl TableSet {
    fn from_map(map: HashMap<u64, u8>) -> TableSet {
        let mut pages: Vec<u64> = map
            .into_iter()
            .map(|(index, role)| index << 8 | u64::from(role))
            .collect();
        pages.sort_unstable();
        TableSet { pages }
    }

    /// Number of table pages.
    pub fn len(&self) -> usize {
        self.pages.len()
    }

    /// No table pages at all.
    pub fn is_empty(&self) -> bool {
        self.pages.is_empty()
    }

    /// Bytes the set occupies.
    pub fn bytes(&self) -> usize {
        self.pages.capacity() * std::mem::size_of::<u64>()
    }

    /// The role of the page at `index`, if it is a table.
    pub fn role_of(&self, index: PageIndex) -> Option<TableRole> {
        let at = self.pages.partition_point(|&v| v >> 8 < index.0);
        self.pages
            .get(at)
            .filter(|&&v| v >> 8 == index.0)
            .map(|&v| TableRole::unpack(v as u8))
    }

    /// The tables among pages `first .. first + count`, ascending, as (position, role).
    pub fn within(
        &self,
        first: PageIndex,
        count: u64,
    ) -> impl Iterator<Item = (PageIndex, TableRole)> + '_ {
        let lo = self.pages.partition_point(|&v| v >> 8 < first.0);
        let end = first.0.saturating_add(count);
        let hi = lo + self.pages[lo..].partition_point(|&v| v >> 8 < end);
        self.pages[lo..hi]
            .iter()
            .map(|&v| (PageIndex(v >> 8), TableRole::unpack(v as u8)))
    }

    /// Every table page, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (PageIndex, TableRole)> + '_ {
        self.pages
            .iter()
            .map(|&v| (PageIndex(v >> 8), TableRole::unpack(v as u8)))
    }
}

/// The page tables of a PV guest, found and counted.
#[derive(Clone, Debug, Default)]
pub struct Canonical {
    /// The pages to rewrite.
    pub set: TableSet,
    /// What rewriting them does.
    pub stats: TableStats,
    /// Each root and what became of it.
    pub roots: Vec<RootReport>,
}

/// Something [`rewrite_table`] did to one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryEvent {
    /// A present table pointer to machine frame `mfn` (translated or dropped as well).
    Child { mfn: u64, role: TableRole },
    /// The entry's frame became a pfn.
    Translated { level: u8, large: bool },
    /// The entry was zeroed: its frame is not a guest frame (or a large page is not
    /// pfn-contiguous).
    Dropped { level: u8, large: bool },
    /// One of Xen's own slots, zeroed.
    XenCleared,
}

/// mfn → dump page and pfn through the dump's p2m, remembering the last answer: the
/// entries of a table mostly name consecutive machine frames, which mostly sit in
/// consecutive dump pages (Xen hands out memory in runs), so the next answer is usually
/// one frame-table read away instead of an index search.
pub struct FrameMap<'d> {
    dump: &'d XenDump,
    /// (mfn, dump page) of the last lookup.
    last: std::cell::Cell<(u64, u64)>,
}

/// How far from the last answer a guess is tried.
const NEAR: u64 = 1024;

impl<'d> FrameMap<'d> {
    /// Lookups in `dump`.
    pub fn new(dump: &'d XenDump) -> Self {
        FrameMap {
            dump,
            last: std::cell::Cell::new((u64::MAX, 0)),
        }
    }

    /// The dump.
    pub fn dump(&self) -> &'d XenDump {
        self.dump
    }

    /// The dump page holding machine frame `mfn`.
    pub fn page_of(&self, mfn: u64) -> Option<PageIndex> {
        let (last_mfn, last_page) = self.last.get();
        let delta = mfn.wrapping_sub(last_mfn);
        let near = delta < NEAR || delta.wrapping_neg() < NEAR;
        let holds = |p: u64| self.dump.mfn_of(PageIndex(p)) == Some(MachineFrame(mfn));
        // Machine frames in runs (ascending or descending): the page as far from the
        // last one as the frame is. Machine frames scattered page by page: a table that
        // maps consecutive pfns (the direct map) names the page next to the last one,
        // since dumps list pages by pfn.
        let hit = near
            .then(|| {
                [last_page.wrapping_add(delta), last_page.wrapping_sub(delta)]
                    .into_iter()
                    .find(|&p| holds(p))
            })
            .flatten()
            .or_else(|| {
                [last_page.wrapping_add(1), last_page.wrapping_sub(1)]
                    .into_iter()
                    .find(|&p| holds(p))
            })
            .map(PageIndex);
        let page = hit.or_else(|| self.dump.page_of_mfn(MachineFrame(mfn)))?;
        self.last.set((mfn, page.0));
        Some(page)
    }

    /// mfn → pfn.
    pub fn pfn_of(&self, mfn: u64) -> Option<u64> {
        self.dump.pfn_of(self.page_of(mfn)?).map(|p| p.0)
    }
}

/// The pfn the large page of `frames` machine frames from `mfn` is, if those frames are
/// pfns `pfn .. pfn + frames` with `pfn` aligned to `frames`.
fn contiguous_pfn(map: &FrameMap<'_>, mfn: u64, frames: u64) -> Option<u64> {
    let pfn = map.pfn_of(mfn)?;
    if pfn % frames != 0 {
        return None;
    }
    (1..frames)
        .all(|i| map.pfn_of(mfn + i) == Some(pfn + i))
        .then_some(pfn)
}

/// `entry` with its frame field (of a table pointer or 4 KiB leaf, or of a large leaf of
/// `size`) replaced by `pfn`, or `None` if `pfn` does not fit the field.
fn with_frame(mode: PagingMode, size: Option<PageSize>, entry: u64, pfn: u64) -> Option<u64> {
    let pa = pfn.checked_mul(PAGE_SIZE)?;
    let (mask, bits) = match (mode, size) {
        (PagingMode::TwoLevel { .. }, Some(PageSize::Size4M)) => {
            if pa >> 40 != 0 {
                return None;
            }
            let bits = (pa & FRAME_MASK_4M_LOW) | (((pa >> 32) << 13) & FRAME_MASK_4M_HIGH);
            (FRAME_MASK_4M_LOW | FRAME_MASK_4M_HIGH, bits)
        }
        (PagingMode::TwoLevel { .. }, _) => (FRAME_MASK_32, pa),
        (_, Some(PageSize::Size2M)) => (FRAME_MASK_2M, pa),
        (_, Some(PageSize::Size1G)) => (FRAME_MASK_1G, pa),
        _ => (FRAME_MASK_64, pa),
    };
    (bits & !mask == 0).then_some((entry & !mask) | bits)
}

/// Rewrite the table page `src`, read in `role`, into `dst` (as many bytes), telling
/// `event` what happened to each entry that changed or points to a table.
pub fn rewrite_table(
    map: &FrameMap<'_>,
    role: TableRole,
    src: &[u8],
    dst: &mut [u8],
    mut event: impl FnMut(EntryEvent),
) {
    dst.copy_from_slice(src);
    let mode = role.mode;
    let Some(spec) = mode.levels().iter().find(|l| l.level == role.level) else {
        return;
    };
    let width = mode.entry_size() as usize;
    if width == 0 {
        return;
    }
    let level = role.level;
    for (i, slot) in dst.chunks_exact_mut(width).enumerate() {
        let entry = match width {
            4 => u64::from(u32::from_le_bytes(slot.try_into().unwrap_or([0; 4]))),
            _ => u64::from_le_bytes(slot.try_into().unwrap_or([0; 8])),
        };
        if entry == 0 {
            continue;
        }
        let new = if role.is_xen_slot(i) {
            event(EntryEvent::XenCleared);
            0
        } else if entry & ENTRY_PRESENT == 0 {
            continue;
        } else {
            let large = match spec.leaf {
                Some(size) if level > 1 && entry & ENTRY_LARGE_PAGE != 0 => Some(size),
                _ => None,
            };
            let translated = match large {
                Some(size) => {
                    let mfn = mode.leaf_frame(size, entry);
                    contiguous_pfn(map, mfn, size.frames())
                        .and_then(|pfn| with_frame(mode, Some(size), entry, pfn))
                }
                None => {
                    let mfn = mode.table_frame(entry);
                    if level > 1 {
                        event(EntryEvent::Child {
                            mfn,
                            role: TableRole {
                                mode,
                                level: level - 1,
                                xen_top: mode == PagingMode::Pae && level == 3 && i == 3,
                            },
                        });
                    }
                    map.pfn_of(mfn)
                        .and_then(|pfn| with_frame(mode, None, entry, pfn))
                }
            };
            let large = large.is_some();
            match translated {
                Some(v) => {
                    event(EntryEvent::Translated { level, large });
                    v
                }
                None => {
                    event(EntryEvent::Dropped { level, large });
                    0
                }
            }
        };
        match width {
            4 => slot.copy_from_slice(&(new as u32).to_le_bytes()),
            _ => slot.copy_from_slice(&new.to_le_bytes()),
        }
    }
}

/// Does the page at `index` look like a table of `role`: at least one present entry
/// outside Xen's slots, and every such entry pointing at a guest frame (a table Xen
/// validated can point nowhere else above level 1)?
fn looks_like_table(map: &FrameMap<'_>, role: TableRole, page: &[u8]) -> bool {
    let mut scratch = [0u8; PAGE_SIZE as usize];
    let (mut present, mut foreign) = (0u64, 0u64);
    rewrite_table(map, role, page, &mut scratch, |e| match e {
        EntryEvent::Translated { .. } => present += 1,
        EntryEvent::Dropped { .. } => foreign += 1,
        _ => {}
    });
    present > 0 && foreign == 0
}

/// Find every table page reachable from `roots` and count what rewriting them does.
/// Reads each table page once; memory is one entry per table page found.
pub fn discover(dump: &XenDump, roots: &[TableRoot]) -> Canonical {
    let map = FrameMap::new(dump);
    let mut seen: HashMap<u64, u8> = HashMap::new();
    let mut stats = TableStats::default();
    let mut reports = Vec::with_capacity(roots.len());
    let mut stack: Vec<(u64, TableRole)> = Vec::new();
    let mut scratch = vec![0u8; PAGE_SIZE as usize];
    for root in roots {
        let pfn = root.mfn.and_then(|m| map.pfn_of(m));
        let mut rejected = None;
        let page = root.mfn.and_then(|m| dump.page_of_mfn(MachineFrame(m)));
        match (TableRole::root(root.mode), root.mfn, page) {
            (None, _, _) => rejected = Some("no page tables in this paging mode"),
            (_, None, _) => {
                rejected = Some("the kernel's page tables do not map it to a page-aligned frame")
            }
            (_, _, None) => rejected = Some("its frame is not in the dump"),
            (Some(role), Some(_), Some(index)) => {
                let known = seen.contains_key(&index.0);
                if root.check && !known {
                    match dump.page(index) {
                        Ok(page) if looks_like_table(&map, role, page) => {}
                        Ok(_) => {
                            rejected = Some(
                                "the page does not look like a page table (an entry points outside the guest's memory, or none is present)",
                            )
                        }
                        Err(_) => rejected = Some("its page is missing from the dump file"),
                    }
                }
                if rejected.is_none() {
                    stack.push((index.0, role));
                    walk(&map, &mut stack, &mut seen, &mut stats, &mut scratch);
                }
            }
        }
        reports.push(RootReport {
            root: root.clone(),
            pfn,
            rejected,
        });
    }
    Canonical {
        set: TableSet::from_map(seen),
        stats,
        roots: reports,
    }
}

fn walk(
    map: &FrameMap<'_>,
    stack: &mut Vec<(u64, TableRole)>,
    seen: &mut HashMap<u64, u8>,
    stats: &mut TableStats,
    scratch: &mut [u8],
) {
    while let Some((index, role)) = stack.pop() {
        match seen.entry(index) {
            Entry::Occupied(e) => {
                if *e.get() != role.pack() {
                    stats.conflicts += 1;
                }
                continue;
            }
            Entry::Vacant(v) => {
                v.insert(role.pack());
            }
        }
        let Ok(page) = map.dump().page(PageIndex(index)) else {
            stats.unreadable += 1;
            continue;
        };
        let level = usize::from(role.level.min(5));
        stats.pages[level] += 1;
        rewrite_table(map, role, page, scratch, |e| match e {
            EntryEvent::Child { mfn, role } => {
                if let Some(i) = map.page_of(mfn) {
                    stack.push((i.0, role));
                }
            }
            EntryEvent::Translated { level, large } => {
                stats.translated[usize::from(level.min(5))] += 1;
                stats.large_translated += u64::from(large);
            }
            EntryEvent::Dropped { level, large } => {
                stats.dropped[usize::from(level.min(5))] += 1;
                stats.large_dropped += u64::from(large);
            }
            EntryEvent::XenCleared => stats.xen_cleared += 1,
        });
        // Read once here and once more while streaming: don't keep it mapped meanwhile.
        map.dump().release_pages(PageIndex(index), 1);
    }
}

/// `count` per level, top level first, as `L4:3 L3:5 …` (levels with nothing left out;
/// `-` when all are zero).
pub fn per_level(counts: &[u64; 6]) -> String {
    let parts: Vec<String> = (1..=5)
        .rev()
        .filter(|&l| counts[l] > 0)
        .map(|l| format!("L{l}:{}", counts[l]))
        .collect();
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_pack_and_unpack() {
        for mode in [
            PagingMode::TwoLevel { pse: false },
            PagingMode::TwoLevel { pse: true },
            PagingMode::Pae,
            PagingMode::FourLevel,
            PagingMode::FiveLevel,
        ] {
            for level in 1..=5u8 {
                for xen_top in [false, true] {
                    let r = TableRole {
                        mode,
                        level,
                        xen_top,
                    };
                    assert_eq!(TableRole::unpack(r.pack()), r);
                }
            }
        }
    }

    #[test]
    fn xen_slots_per_mode() {
        let l4 = TableRole::root(PagingMode::FourLevel).unwrap();
        assert!(!l4.is_xen_slot(255) && l4.is_xen_slot(256) && l4.is_xen_slot(271));
        assert!(!l4.is_xen_slot(272));
        let l3 = TableRole::root(PagingMode::Pae).unwrap();
        assert!(!l3.is_xen_slot(3) && l3.is_xen_slot(4));
        let l2 = TableRole {
            mode: PagingMode::Pae,
            level: 2,
            xen_top: true,
        };
        // 0xF5800000 is PDPT slot 3, PD entry 0x1AC.
        assert_eq!(PAE_XEN_L2_FIRST, 0x1AC);
        assert!(!l2.is_xen_slot(0x1AB) && l2.is_xen_slot(0x1AC));
        assert!(!TableRole {
            xen_top: false,
            ..l2
        }
        .is_xen_slot(0x1FF));
        let two = TableRole::root(PagingMode::TwoLevel { pse: true }).unwrap();
        assert!(!two.is_xen_slot(0x3EF) && two.is_xen_slot(0x3F0));
    }

    #[test]
    fn frames_are_replaced_in_every_field_layout() {
        let long = PagingMode::FourLevel;
        // 4 KiB leaf with NX, software bits and PAT: only bits 51:12 change.
        let e = 0x8010_0000_1234_5087u64;
        assert_eq!(
            with_frame(long, None, e, 0x777),
            Some(0x8010_0000_0077_7087)
        );
        // 2 MiB leaf with PAT (bit 12) kept.
        let e = 0x0000_0001_2340_1083u64;
        assert_eq!(
            with_frame(long, Some(PageSize::Size2M), e, 0x400),
            Some(0x0000_0000_0040_1083)
        );
        // A pfn that does not fit the field (misaligned for a 2 MiB page).
        assert_eq!(with_frame(long, Some(PageSize::Size2M), e, 0x401), None);
        // 2-level 4 MiB with PSE-36 high bits.
        let two = PagingMode::TwoLevel { pse: true };
        let pa = 0xAB_00C0_0000u64;
        let e = 0x83u64 | (0x5 << 13);
        let got = with_frame(two, Some(PageSize::Size4M), e, pa >> 12).unwrap();
        assert_eq!(two.leaf_frame(PageSize::Size4M, got), pa >> 12);
        assert_eq!(got & 0xFFF, 0x83);
        // 2-level 4 KiB: 20-bit frame field.
        assert_eq!(with_frame(two, None, 0x1234_5067, 0x42), Some(0x0004_2067));
        assert_eq!(with_frame(two, None, 0x1234_5067, 0x10_0000), None);
    }

    #[test]
    fn frame_map_follows_runs_both_ways_and_agrees_with_the_dump() {
        use crate::addr::GuestFrame;
        use crate::builder::{DumpOptions, GuestImage, VcpuImage};
        use crate::dump::{GuestKind, Width};
        let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
        img.add_run(GuestFrame(0), MachineFrame(0x5000), 600)
            .unwrap();
        img.add_run(GuestFrame(600), MachineFrame(0x100), 40)
            .unwrap();
        img.push_vcpu(VcpuImage::online());
        let dump = XenDump::from_bytes(img.write(&DumpOptions::default()).unwrap()).unwrap();
        let map = FrameMap::new(&dump);
        // Up, down, jumps, misses, in an order that exercises the guess both ways.
        let mut mfns: Vec<u64> = (0x5000..0x5258).chain((0x100..0x128).rev()).collect();
        mfns.extend([0x5100, 0x110, 0x4fff, 0x99999, 0x5257, 0x5256]);
        for mfn in mfns {
            assert_eq!(
                map.pfn_of(mfn),
                dump.mfn_to_pfn(MachineFrame(mfn)).map(|p| p.0),
                "{mfn:#x}"
            );
        }
    }

    #[test]
    fn per_level_text() {
        let mut c = [0u64; 6];
        assert_eq!(per_level(&c), "-");
        c[4] = 1;
        c[1] = 20;
        assert_eq!(per_level(&c), "L4:1 L1:20");
    }
}
