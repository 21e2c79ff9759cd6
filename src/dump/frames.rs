//! Which frame each dumped page is: pfn and mfn lookups without reading the whole dump.
//!
//! ELF dumps list pages in ascending pfn order, so pfn → page is a binary search in the
//! mapped table itself. mfn → page needs an index, built once (at open for ELF PV dumps,
//! which need it to open, in the pass that checks the pfn order; on first use for
//! legacy ones): see [`MfnIndex`]. It never costs more than 4 bytes per page, the only
//! per-page memory we spend.

use std::sync::OnceLock;

use crate::addr::{GuestFrame, MachineFrame, PageIndex};

use super::source::{will_read_once, LeRead};

/// Xen's "no frame" marker in p2m/pfn tables.
pub const INVALID_FRAME: u64 = !0;

/// First frame of the VGA hole (0xA0000–0xBFFFF) that Xen 3.0.x HVM guests have no RAM in.
const VGA_HOLE: u64 = 0xA0;
/// Pages in that hole.
const VGA_HOLE_PAGES: u64 = 0x20;
/// First frame of the MMIO hole below 4 GiB; RAM that would land there was moved up.
const MMIO_HOLE: u64 = 0xF_0000;
/// Size of that hole, in pages.
const MMIO_HOLE_PAGES: u64 = 0x1_0000;

/// A stretch of a legacy HVM dump's page list: slots `slot .. slot + count` hold guest
/// frames `pfn .. pfn + count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SlotRun {
    /// First slot (page list position).
    pub slot: u64,
    /// Its guest frame.
    pub pfn: u64,
    /// Number of pages.
    pub count: u64,
}

impl SlotRun {
    fn pfn_end(&self) -> u64 {
        self.pfn + self.count
    }
    fn slot_end(&self) -> u64 {
        self.slot + self.count
    }
}

/// Which bytes a legacy HVM dump's slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum SlotContents {
    /// Slot *k* holds the page at list position *k* (the writer's intent).
    ByPosition,
    /// Slot *k* holds the guest page whose *pfn* equals `index[k]`, or stale bytes when
    /// no guest page has that number. Xen 3.0.4 (from b63e5446b8) translated foreign
    /// mappings gmfn → mfn while its dump writer still passed mfns.
    ByIndex,
}

/// One hypothesis of which guest frame each slot of a legacy (pre-ELF) HVM dump holds.
///
/// The format records only the machine frames of the domain's page list, in allocation
/// order. Xen's HVM builders gave list position *k* the pfn *k*, but the VGA hole's 32
/// pages were freed before the guest ran (3.0.3) or never allocated (3.0.4), so from
/// position 0xA0 on the pfn is *k* + 0x20, and RAM that would reach 0xF0000000 was moved
/// above 4 GiB. Anything else that changed the list (qemu's video RAM, pages given to
/// `add_to_physmap`, ballooning) shifts later positions: the memory layer checks the
/// hypotheses against the guest's page tables and picks one (docs/xen-dump-format.md §2.4).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LegacyHvmRule {
    /// What the hypothesis says, for people.
    pub name: String,
    /// List position ↔ pfn: sorted by pfn, disjoint in pfns and in slots.
    runs: Vec<SlotRun>,
    /// Indices into `runs`, sorted by slot.
    #[serde(skip)]
    by_slot: Vec<usize>,
    /// Which bytes each slot holds.
    pub contents: SlotContents,
}

impl LegacyHvmRule {
    /// Runs for list positions `0 .. slots`, the list being pfns from 0 up with the
    /// pfns in `skip` left out and the MMIO hole jumped.
    fn from_list(name: &str, slots: u64, skip: Option<(u64, u64)>) -> LegacyHvmRule {
        let mut runs = Vec::new();
        // Pfn segments the builder populated, in list order.
        let mut segments = vec![(0u64, MMIO_HOLE), (MMIO_HOLE + MMIO_HOLE_PAGES, u64::MAX)];
        if let Some((start, len)) = skip {
            segments = vec![
                (0, start),
                (start + len, MMIO_HOLE),
                (MMIO_HOLE + MMIO_HOLE_PAGES, u64::MAX),
            ];
        }
        let mut slot = 0u64;
        for (lo, hi) in segments {
            if slot >= slots {
                break;
            }
            let count = (hi - lo).min(slots - slot);
            if count > 0 {
                runs.push(SlotRun {
                    slot,
                    pfn: lo,
                    count,
                });
            }
            slot += count;
        }
        LegacyHvmRule::from_runs(name, runs, SlotContents::ByPosition)
    }

    /// Xen's 3.0.3/3.0.4 HVM builders: pfn = slot below 0xA0, slot + 0x20 from there
    /// (the VGA hole), RAM from 0xF0000000 on moved above 4 GiB.
    pub fn xen_builder(slots: u64) -> LegacyHvmRule {
        LegacyHvmRule::from_list(
            "Xen 3.0.3/3.0.4 HVM builder: pfn = slot, + 0x20 from slot 0xa0 (VGA hole freed)",
            slots,
            Some((VGA_HOLE, VGA_HOLE_PAGES)),
        )
    }

    /// Slot = pfn (what crash and Xen's own `xc_ptrace_core` assumed), RAM from
    /// 0xF0000000 on moved above 4 GiB.
    pub fn identity(slots: u64) -> LegacyHvmRule {
        LegacyHvmRule::from_list("pfn = slot (the VGA hole still in the list)", slots, None)
    }

    /// A rule from explicit runs. Where runs overlap (in pfns or in slots) the one with
    /// the higher pfns wins and the other loses the overlapping part, so every slot
    /// holds at most one pfn and back.
    pub fn from_runs(name: &str, mut runs: Vec<SlotRun>, contents: SlotContents) -> LegacyHvmRule {
        runs.retain(|r| r.count > 0);
        runs.sort_by_key(|r| std::cmp::Reverse(r.pfn));
        let mut kept: Vec<SlotRun> = Vec::with_capacity(runs.len());
        for mut r in runs {
            // Pfn overlap with the run above (sorted by descending pfn): cut the end.
            if let Some(above) = kept.last() {
                r.count = r.count.min(above.pfn.saturating_sub(r.pfn));
            }
            for k in &kept {
                if r.count == 0 {
                    break;
                }
                if r.slot < k.slot_end() && k.slot < r.slot_end() {
                    if r.slot < k.slot {
                        r.count = k.slot - r.slot;
                    } else {
                        let cut = (k.slot_end() - r.slot).min(r.count);
                        r = SlotRun {
                            slot: r.slot + cut,
                            pfn: r.pfn + cut,
                            count: r.count - cut,
                        };
                    }
                }
            }
            if r.count > 0 {
                kept.push(r);
            }
        }
        kept.reverse();
        let mut by_slot: Vec<usize> = (0..kept.len()).collect();
        by_slot.sort_by_key(|&i| kept[i].slot);
        LegacyHvmRule {
            name: name.to_string(),
            runs: kept,
            by_slot,
            contents,
        }
    }

    /// The same list positions, with the bytes of a slot taken as [`SlotContents`] says.
    pub fn with_contents(mut self, contents: SlotContents, name: &str) -> LegacyHvmRule {
        self.contents = contents;
        self.name = name.to_string();
        self
    }

    /// This rule with corrections: from each `(pfn, delta)` on (sorted by pfn), up to
    /// the next, the slot of a pfn is this rule's slot plus `delta`.
    pub fn shifted(&self, name: &str, shifts: &[(u64, i64)]) -> LegacyHvmRule {
        let mut shifts = shifts.to_vec();
        shifts.sort_by_key(|s| s.0);
        if shifts.first().is_none_or(|s| s.0 > 0) {
            shifts.insert(0, (0, 0));
        }
        let mut out = Vec::new();
        for run in &self.runs {
            for (i, &(from, delta)) in shifts.iter().enumerate() {
                let to = shifts.get(i + 1).map_or(u64::MAX, |s| s.0);
                let lo = run.pfn.max(from);
                let hi = run.pfn_end().min(to);
                if lo >= hi {
                    continue;
                }
                let slot = run.slot + (lo - run.pfn);
                let Some(slot) = slot.checked_add_signed(delta) else {
                    // Slots below 0: keep the part that starts at slot 0.
                    let skip = delta.unsigned_abs() - slot;
                    if lo + skip < hi {
                        out.push(SlotRun {
                            slot: 0,
                            pfn: lo + skip,
                            count: hi - lo - skip,
                        });
                    }
                    continue;
                };
                out.push(SlotRun {
                    slot,
                    pfn: lo,
                    count: hi - lo,
                });
            }
        }
        // Slots past the end of the list hold nothing.
        let slots = self.runs.iter().map(SlotRun::slot_end).max().unwrap_or(0);
        for r in &mut out {
            r.count = r.count.min(slots.saturating_sub(r.slot));
        }
        LegacyHvmRule::from_runs(name, out, self.contents)
    }

    /// The runs, sorted by pfn.
    pub fn runs(&self) -> &[SlotRun] {
        &self.runs
    }

    /// The list position of guest frame `pfn`, if the rule places it.
    pub fn slot_of(&self, pfn: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.pfn <= pfn);
        let r = self.runs.get(i.checked_sub(1)?)?;
        (pfn < r.pfn_end()).then(|| r.slot + (pfn - r.pfn))
    }

    /// The guest frame at list position `slot`, if the rule names one.
    pub fn pfn_at(&self, slot: u64) -> Option<u64> {
        let i = self.by_slot.partition_point(|&i| self.runs[i].slot <= slot);
        let r = &self.runs[*self.by_slot.get(i.checked_sub(1)?)?];
        (slot < r.slot_end()).then(|| r.pfn + (slot - r.slot))
    }

    /// Lowest and highest pfn the rule places.
    pub fn pfn_bounds(&self) -> Option<(u64, u64)> {
        Some((self.runs.first()?.pfn, self.runs.last()?.pfn_end() - 1))
    }

    /// Number of slots the rule gives a pfn.
    pub fn placed(&self) -> u64 {
        self.runs.iter().map(|r| r.count).sum()
    }
}

/// The table that names the frame of each page.
#[derive(Clone, Copy, Debug)]
pub enum FrameTableKind {
    /// `.xen_p2m`: 16-byte `{pfn, gmfn}` entries (PV).
    P2m,
    /// `.xen_pfn`: 8-byte pfn entries (HVM/PVH). No machine frames.
    Pfn,
    /// Legacy index: mfns, 4 or 8 bytes each, in allocation order. For an HVM guest
    /// the pfns come from a [`LegacyHvmRule`].
    LegacyMfns { width: u8, hvm: bool },
}

/// Pseudo-physical frames of the pages of a dump that records machine frames only (a
/// legacy PV dump), recovered from outside the dump, e.g. from the guest kernel's own
/// p2m list. 4 bytes per page and 4 per pfn up to the highest one named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveredPfns {
    /// pfn of each page position ([`NO_FRAME`]: none).
    pfn_of_page: Vec<u32>,
    /// Page position of each pfn ([`NO_FRAME`]: none).
    page_of_pfn: Vec<u32>,
    /// Where they came from, for people.
    source: String,
}

/// "None" in [`RecoveredPfns`].
const NO_FRAME: u32 = u32::MAX;

/// What [`RecoveredPfns::new`] made of the pairs it was given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Pages that got a pfn.
    pub pages: u64,
    /// Pairs naming a page that already had a pfn, or a pfn that already had a page
    /// (the first pair wins).
    pub duplicates: u64,
    /// Pairs with a pfn or position too large to hold (from 2^32 − 1 on).
    pub out_of_range: u64,
}

impl RecoveredPfns {
    /// No pfns yet, for a dump of `pages` pages.
    pub fn empty(pages: u64) -> RecoveredPfns {
        RecoveredPfns {
            pfn_of_page: vec![NO_FRAME; usize::try_from(pages).unwrap_or(0)],
            page_of_pfn: Vec::new(),
            source: String::new(),
        }
    }

    /// Say where the pfns came from.
    pub fn with_source(mut self, source: impl Into<String>) -> Self {
        self.source = source.into();
        self
    }

    /// Where the pfns came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// From `(page position, pfn)` pairs, for a dump of `pages` pages.
    pub fn new(
        pages: u64,
        pairs: impl IntoIterator<Item = (PageIndex, u64)>,
    ) -> (RecoveredPfns, RecoveryStats) {
        let mut r = RecoveredPfns::empty(pages);
        let mut stats = RecoveryStats::default();
        for (page, pfn) in pairs {
            r.add(page, pfn, &mut stats);
        }
        r.page_of_pfn.shrink_to_fit();
        (r, stats)
    }

    /// Page `page` holds guest frame `pfn` (a pair naming a page or pfn that already has
    /// its partner is counted and ignored).
    pub fn add(&mut self, page: PageIndex, pfn: u64, stats: &mut RecoveryStats) {
        let pages = self.pfn_of_page.len() as u64;
        let (Ok(p), Ok(f)) = (u32::try_from(page.0), u32::try_from(pfn)) else {
            stats.out_of_range += 1;
            return;
        };
        if p == NO_FRAME || f == NO_FRAME || page.0 >= pages {
            stats.out_of_range += 1;
            return;
        }
        if self.page_of_pfn.len() <= f as usize {
            self.page_of_pfn.resize(f as usize + 1, NO_FRAME);
        }
        if self.pfn_of_page[p as usize] != NO_FRAME || self.page_of_pfn[f as usize] != NO_FRAME {
            stats.duplicates += 1;
            return;
        }
        self.pfn_of_page[p as usize] = f;
        self.page_of_pfn[f as usize] = p;
        stats.pages += 1;
    }

    fn pfn_of(&self, idx: PageIndex) -> Option<GuestFrame> {
        let v = *self.pfn_of_page.get(usize::try_from(idx.0).ok()?)?;
        (v != NO_FRAME).then_some(GuestFrame(u64::from(v)))
    }

    fn page_of_pfn(&self, pfn: GuestFrame) -> Option<PageIndex> {
        let v = *self.page_of_pfn.get(usize::try_from(pfn.0).ok()?)?;
        (v != NO_FRAME).then_some(PageIndex(u64::from(v)))
    }

    /// Every (pfn, page) pair, ascending by pfn.
    pub fn by_pfn(&self) -> impl Iterator<Item = (GuestFrame, PageIndex)> + '_ {
        self.page_of_pfn
            .iter()
            .enumerate()
            .filter(|(_, &p)| p != NO_FRAME)
            .map(|(f, &p)| (GuestFrame(f as u64), PageIndex(u64::from(p))))
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        (self.pfn_of_page.capacity() + self.page_of_pfn.capacity()) * 4
    }
}

/// Frame numbers of the dump's pages, read in place from the mapped table.
#[derive(Debug)]
pub struct FrameTable {
    kind: FrameTableKind,
    /// File offset of the table.
    offset: u64,
    /// Entries that describe real pages (the `~0` tail excluded).
    valid: u64,
    /// Built on first mfn lookup.
    by_mfn: OnceLock<MfnIndex>,
    /// First entry whose pfn is not above the one before it (a damaged table).
    unsorted_at: Option<u64>,
    /// Legacy HVM dumps: which pfn each slot holds.
    legacy_hvm: Option<LegacyHvmRule>,
    /// pfns from outside the dump, for a table that has none (legacy PV).
    recovered: Option<RecoveredPfns>,
}

/// Machine frame → page position.
///
/// Xen hands a guest its memory in 2 MiB superpages where it can and otherwise page by
/// page, and its buddy allocator gives out the pages of a split block from the top
/// down; so the mfns of consecutive pages mostly count up or down by one for long
/// stretches. The index keeps one entry per such stretch, found in one sequential pass
/// over the table, and falls back to one position per page when stretches are short,
/// placed by a counting sort by mfn in one or two more passes (never a comparison sort:
/// on 16 M pages that took 0.4 s of the 0.8 s a 64 GiB guest needed to open).
#[derive(Debug)]
enum MfnIndex {
    /// Stretches of consecutive mfns, sorted by their lowest mfn (16 bytes each, kept
    /// only while they average at least 4 pages).
    Runs(Vec<MfnRun>),
    /// Every frame from `lo` to `lo + pages.len() - 1` is in the dump, once: frame
    /// `lo + k` is at page `pages[k] - 1` (4 bytes a page, one read a lookup). What
    /// page-by-page allocation out of one stretch of machine memory gives.
    Dense { lo: u64, pages: Vec<u32> },
    /// Every page position, sorted by mfn (4 bytes a page).
    Positions(Vec<u32>),
}

/// Pages `first_page + i` (ascending) or `first_page - i` (descending) hold machine
/// frames `first_mfn + i`, for `i < len`.
#[derive(Clone, Copy, Debug)]
struct MfnRun {
    /// The run's lowest mfn.
    first_mfn: u64,
    /// Position of the page holding `first_mfn`.
    first_page: u32,
    /// Length in the low 31 bits; the top bit set when positions count down.
    len_and_direction: u32,
}

/// Top bit of [`MfnRun::len_and_direction`].
const DESCENDING: u32 = 1 << 31;
/// Longest run one entry holds.
const MAX_RUN: u32 = DESCENDING - 1;

impl MfnRun {
    fn len(&self) -> u64 {
        u64::from(self.len_and_direction & MAX_RUN)
    }

    fn page_of(&self, mfn: u64) -> Option<u64> {
        let i = mfn
            .checked_sub(self.first_mfn)
            .filter(|&i| i < self.len())?;
        let page = u64::from(self.first_page);
        if self.len_and_direction & DESCENDING != 0 {
            page.checked_sub(i)
        } else {
            Some(page + i)
        }
    }
}

/// 64 frames of the range: which are in the dump, and how many below them are.
#[derive(Clone, Copy, Default)]
struct RankWord {
    present: u64,
    below: u64,
}

/// What one pass over the frame table found.
struct MfnScan {
    /// The runs, if the table has long ones.
    runs: Option<Vec<MfnRun>>,
    /// Lowest and highest valid mfn.
    lo: u64,
    hi: u64,
    /// Valid entries.
    count: u64,
}

/// Entries a radix pass gathers per bucket before writing them out together.
const COMBINE: usize = 8;

/// Sort `v` by its high 32-bit halves, of which only the low `key_bits` bits are ever
/// set: a least-significant-digit radix sort (stable, so equal keys keep their order),
/// in as few passes of at most 11-bit digits as the key needs. Linear in `v.len()`;
/// needs one scratch buffer of the same size.
///
/// Each pass gathers every bucket's entries in a cache line of its own and writes them
/// out a line at a time: with evenly filled buckets the write pointers sit exactly a
/// power of two apart, and writing them entry by entry thrashes the cache sets they
/// share (three times slower on a 64 GiB guest's frames).
fn radix_sort_high_words(v: &mut Vec<u64>, key_bits: u32) {
    let key_bits = key_bits.clamp(1, 32);
    let passes = key_bits.div_ceil(11);
    let digit = key_bits.div_ceil(passes);
    let buckets = 1usize << digit;
    let mask = (buckets - 1) as u64;
    // Every pass's histogram in one read of the data.
    let mut counts = vec![0usize; buckets * passes as usize];
    for &x in v.iter() {
        for p in 0..passes as usize {
            counts[p * buckets + ((x >> (32 + p as u32 * digit)) & mask) as usize] += 1;
        }
    }
    let mut scratch = vec![0u64; v.len()];
    let mut lines = vec![[0u64; COMBINE]; buckets];
    let mut filled = vec![0usize; buckets];
    for p in 0..passes as usize {
        let next = &mut counts[p * buckets..(p + 1) * buckets];
        if next.contains(&v.len()) {
            continue; // every key has the same digit here: nothing moves
        }
        let mut at = 0;
        for c in next.iter_mut() {
            let n = *c;
            *c = at;
            at += n;
        }
        let shift = 32 + p as u32 * digit;
        filled.iter_mut().for_each(|f| *f = 0);
        for &x in v.iter() {
            let b = ((x >> shift) & mask) as usize;
            let f = filled[b];
            lines[b][f] = x;
            if f + 1 == COMBINE {
                let d = next[b];
                scratch[d..d + COMBINE].copy_from_slice(&lines[b]);
                next[b] = d + COMBINE;
                filled[b] = 0;
            } else {
                filled[b] = f + 1;
            }
        }
        for (b, line) in lines.iter().enumerate() {
            let (f, d) = (filled[b], next[b]);
            scratch[d..d + f].copy_from_slice(&line[..f]);
        }
        std::mem::swap(v, &mut scratch);
    }
}

/// A run being collected during the scan, in page order.
#[derive(Clone, Copy)]
struct OpenRun {
    page: u32,
    mfn: u64,
    len: u32,
    /// +1 or -1: how the mfn changes from one page to the next.
    step: i8,
}

impl OpenRun {
    fn close(self) -> MfnRun {
        if self.step < 0 {
            let last = self.len - 1;
            MfnRun {
                first_mfn: self.mfn - u64::from(last),
                first_page: self.page + last,
                len_and_direction: self.len | DESCENDING,
            }
        } else {
            MfnRun {
                first_mfn: self.mfn,
                first_page: self.page,
                len_and_direction: self.len,
            }
        }
    }
}

/// Entries the scan looks at together.
const SCAN_BLOCK: usize = 32;

/// The pass behind [`FrameTable::scan_mfns`] over `table`'s entries of `W` bytes,
/// `decode` giving each one's pfn and mfn (`INVALID_FRAME` for none); pfns are checked
/// only if `check_pfns`.
///
/// Entries are taken [`SCAN_BLOCK`] at a time: a block that only continues the open run
/// (the common case, runs being 2 MiB or more) costs one comparison per entry, and once
/// the table has proved too fragmented for runs only the range and count are kept, with
/// no branches per entry; everything else goes entry by entry.
fn scan_table<const W: usize>(
    table: &[u8],
    check_pfns: bool,
    decode: impl Fn(&[u8; W]) -> (u64, u64),
) -> (MfnScan, Option<u64>) {
    let entries = table.len() / W;
    // 16 bytes a run: at most a quarter as many runs as pages stay within 4 bytes a
    // page. Reserved up front: only the part written becomes resident.
    let limit = (entries / 4).max(1);
    let mut runs = Some(Vec::with_capacity(limit.min(1 << 26)));
    // A table whose first stretch averages under 2 pages a run is taken as scattered
    // page by page without collecting runs to the limit: on 16 M scattered pages that
    // spares writing 64 MiB of runs only to drop them. (A table scattered at the start
    // and in long runs after it then gets positions: 4 bytes a page, as promised.)
    let early = (entries / 64).max(1 << 16);
    let mut scan = MfnScan {
        runs: None,
        lo: u64::MAX,
        hi: 0,
        count: 0,
    };
    let mut run = OpenRun {
        page: 0,
        mfn: 0,
        len: 0,
        step: 1,
    };
    // The mfn that would continue the open run on the next page, if any.
    let mut next_mfn: Option<u64> = None;
    let mut unsorted_at: Option<u64> = None;
    // The pfn before the first entry: any pfn but ~0 is above it.
    let mut prev_pfn: Option<u64> = None;
    let mut page = 0u32;
    for block in table.chunks(SCAN_BLOCK * W) {
        let n = block.len() / W;
        let entry = |j: usize| {
            let e: &[u8; W] = block[j * W..(j + 1) * W].try_into().unwrap_or(&[0xff; W]);
            decode(e)
        };
        if check_pfns && unsorted_at.is_none() {
            // Branch-free over the block; only a block with a bad entry is looked at
            // entry by entry.
            let mut bad = false;
            let mut last = prev_pfn.unwrap_or(0);
            let first = usize::from(prev_pfn.is_none());
            if first == 1 {
                last = entry(0).0;
                bad = last == INVALID_FRAME;
            }
            for j in first..n {
                let p = entry(j).0;
                bad |= (p <= last) | (p == INVALID_FRAME);
                last = p;
            }
            if bad {
                for j in 0..n {
                    let p = entry(j).0;
                    if p == INVALID_FRAME || prev_pfn.is_some_and(|l| p <= l) {
                        unsorted_at = Some(u64::from(page) + j as u64);
                        break;
                    }
                    prev_pfn = Some(p);
                }
            }
            prev_pfn = Some(last);
        }
        if runs.is_none() {
            // Only the range and count are wanted now.
            for j in 0..n {
                let m = entry(j).1;
                let valid = m != INVALID_FRAME;
                scan.lo = scan.lo.min(if valid { m } else { u64::MAX });
                scan.hi = scan.hi.max(if valid { m } else { 0 });
                scan.count += u64::from(valid);
            }
            page += n as u32;
            continue;
        }
        // The whole block continues the open run?
        if let Some(next) = next_mfn.filter(|_| n == SCAN_BLOCK && run.len < MAX_RUN - 64) {
            let step = i64::from(run.step);
            let last = next.checked_add_signed(step * (SCAN_BLOCK as i64 - 1));
            // Without an early exit, so the comparisons vectorise.
            let mut differ = 0u64;
            let mut expect = next;
            for j in 0..n {
                differ |= entry(j).1 ^ expect;
                expect = expect.wrapping_add_signed(step);
            }
            if last.is_some_and(|l| l != INVALID_FRAME) && differ == 0 {
                let last = last.unwrap_or(next);
                scan.lo = scan.lo.min(next.min(last));
                scan.hi = scan.hi.max(next.max(last));
                scan.count += n as u64;
                run.len += n as u32;
                next_mfn = last
                    .checked_add_signed(step)
                    .filter(|&m| m != INVALID_FRAME);
                page += n as u32;
                continue;
            }
        }
        for j in 0..n {
            let m = entry(j).1;
            let this = page;
            page += 1;
            if m == INVALID_FRAME {
                next_mfn = None;
                continue;
            }
            scan.lo = scan.lo.min(m);
            scan.hi = scan.hi.max(m);
            scan.count += 1;
            if next_mfn == Some(m) && run.len < MAX_RUN {
                run.len += 1;
            } else if run.len == 1 && run.page + 1 == this && run.mfn.checked_sub(1) == Some(m) {
                // The second page decides the direction.
                run.step = -1;
                run.len = 2;
            } else {
                if run.len > 0 {
                    match &mut runs {
                        Some(v)
                            if v.len() >= early
                                && this as usize >= early
                                && v.len() * 2 > this as usize =>
                        {
                            runs = None
                        }
                        Some(v) if v.len() < limit => v.push(run.close()),
                        // Too fragmented for runs: stop collecting, keep counting.
                        _ => runs = None,
                    }
                }
                run = OpenRun {
                    page: this,
                    mfn: m,
                    len: 1,
                    step: 1,
                };
            }
            next_mfn = m
                .checked_add_signed(i64::from(run.step))
                .filter(|&m| m != INVALID_FRAME);
        }
    }
    if let Some(v) = &mut runs {
        if run.len > 0 {
            if v.len() < limit {
                v.push(run.close());
            } else {
                runs = None;
            }
        }
    }
    if let Some(v) = &mut runs {
        v.sort_unstable_by_key(|r| r.first_mfn);
        v.shrink_to_fit();
    }
    scan.runs = runs;
    (scan, unsorted_at)
}

impl FrameTable {
    /// A table at `offset` of `entries` entries (bounds already checked by the caller).
    pub(crate) fn new(kind: FrameTableKind, offset: u64, entries: u64, file: &[u8]) -> Self {
        let mut t = FrameTable {
            kind,
            offset,
            valid: entries,
            by_mfn: OnceLock::new(),
            unsorted_at: None,
            legacy_hvm: match kind {
                FrameTableKind::LegacyMfns { hvm: true, .. } => {
                    Some(LegacyHvmRule::xen_builder(entries))
                }
                _ => None,
            },
            recovered: None,
        };
        // Only a tail of `~0` entries may be invalid (padding to tot_pages); trim it so
        // the searches below see only real pages.
        if !matches!(kind, FrameTableKind::LegacyMfns { .. }) {
            while t.valid > 0 && t.raw_pfn(file, t.valid - 1) == Some(INVALID_FRAME) {
                t.valid -= 1;
            }
        }
        match kind {
            // A PV dump needs its mfn index to open (the vCPUs' roots are mfns): the one
            // pass over the table that finds the runs also checks the pfn order.
            FrameTableKind::P2m => {
                let (scan, unsorted_at) = t.scan_mfns(file);
                t.unsorted_at = unsorted_at;
                let index = t.index_from_scan(file, scan);
                let _ = t.by_mfn.set(index);
            }
            FrameTableKind::Pfn => t.unsorted_at = t.first_unsorted_pfn(file),
            FrameTableKind::LegacyMfns { .. } => {}
        }
        t
    }

    /// The table's valid entries as one slice (`None` if it does not lie in the file,
    /// which open() rules out).
    fn entries<'f>(&self, file: &'f [u8]) -> Option<&'f [u8]> {
        file.bytes_at(self.offset, self.valid * self.entry_size())
    }

    /// pfn lookups binary-search the table in place, which needs ascending pfns: the
    /// first entry of a damaged table that breaks that order (or is `~0`), so it can be
    /// reported. Blocks of entries are checked without branching, which lets the loop
    /// run at the speed of memory (a 64 GiB guest's table is 128 MiB).
    fn first_unsorted_pfn(&self, file: &[u8]) -> Option<u64> {
        let Some(table) = self.entries(file).inspect(|t| will_read_once(t)) else {
            return (self.valid > 0).then_some(0);
        };
        let width = self.entry_size() as usize;
        let pfn = |e: &[u8]| u64::from_le_bytes(e[..8].try_into().unwrap_or([0xff; 8]));
        let first = table.get(..width).map(pfn)?;
        if first == INVALID_FRAME {
            return Some(0);
        }
        // Entry i against entry i - 1, blocks of 64 pairs at a time.
        let mut prev = first;
        let mut at = 1u64;
        for block in table[width..].chunks(64 * width) {
            let mut bad = false;
            let mut last = prev;
            for e in block.chunks_exact(width) {
                let p = pfn(e);
                bad |= (p <= last) | (p == INVALID_FRAME);
                last = p;
            }
            if bad {
                for e in block.chunks_exact(width) {
                    let p = pfn(e);
                    if p <= prev || p == INVALID_FRAME {
                        return Some(at);
                    }
                    prev = p;
                    at += 1;
                }
            }
            prev = last;
            at += (block.len() / width) as u64;
        }
        None
    }

    /// The first entry that breaks the ascending pfn order (damage: pfn lookups may
    /// miss pages from there on), if any.
    pub fn unsorted_at(&self) -> Option<u64> {
        self.unsorted_at
    }

    /// Which table this is.
    pub fn kind(&self) -> FrameTableKind {
        self.kind
    }

    /// Number of entries that describe real pages.
    pub fn valid_entries(&self) -> u64 {
        self.valid
    }

    fn entry_size(&self) -> u64 {
        match self.kind {
            FrameTableKind::P2m => 16,
            FrameTableKind::Pfn => 8,
            FrameTableKind::LegacyMfns { width, .. } => u64::from(width),
        }
    }

    fn raw_pfn(&self, file: &[u8], i: u64) -> Option<u64> {
        let at = self.offset + i * self.entry_size();
        match self.kind {
            FrameTableKind::P2m | FrameTableKind::Pfn => file.u64_at(at),
            FrameTableKind::LegacyMfns { .. } => None,
        }
    }

    fn raw_mfn(&self, file: &[u8], i: u64) -> Option<u64> {
        let at = self.offset + i * self.entry_size();
        match self.kind {
            FrameTableKind::P2m => file.u64_at(at + 8),
            FrameTableKind::Pfn => None,
            FrameTableKind::LegacyMfns { width: 4, .. } => {
                let v = file.u32_at(at)?;
                // A 32-bit ~0 is the same "invalid" marker as a 64-bit one.
                Some(if v == u32::MAX {
                    INVALID_FRAME
                } else {
                    u64::from(v)
                })
            }
            FrameTableKind::LegacyMfns { .. } => file.u64_at(at),
        }
    }

    /// Give a table without pfns (legacy PV) the pfns found elsewhere. Ignored for
    /// tables that have their own.
    pub(crate) fn set_recovered(&mut self, pfns: RecoveredPfns) -> bool {
        if matches!(self.kind, FrameTableKind::LegacyMfns { hvm: false, .. }) {
            self.recovered = Some(pfns);
            true
        } else {
            false
        }
    }

    /// The pfns found elsewhere, if this table was given some.
    pub fn recovered(&self) -> Option<&RecoveredPfns> {
        self.recovered.as_ref()
    }

    /// Are the pages in ascending pfn order (so pfn-contiguous runs are runs of
    /// consecutive pages)? True for ELF dumps (they list pages by pfn) and legacy HVM
    /// dumps read by position; recovered pfns of a legacy PV dump follow the
    /// hypervisor's allocation order instead, and so do legacy HVM slots named by
    /// their index entries.
    pub fn in_pfn_order(&self) -> bool {
        self.recovered.is_none()
            && !matches!(
                self.legacy_hvm.as_ref().map(|r| r.contents),
                Some(SlotContents::ByIndex)
            )
    }

    /// The rule that places a legacy HVM dump's pfns.
    pub fn legacy_hvm_rule(&self) -> Option<&LegacyHvmRule> {
        self.legacy_hvm.as_ref()
    }

    /// Use `rule` for a legacy HVM dump's pfns (ignored for other tables).
    pub fn set_legacy_hvm_rule(&mut self, rule: LegacyHvmRule) {
        if self.legacy_hvm.is_some() {
            self.legacy_hvm = Some(rule);
        }
    }

    /// Is `v` a guest frame the legacy HVM rule places?
    fn rule_places(&self, v: u64) -> bool {
        self.legacy_hvm
            .as_ref()
            .is_some_and(|r| r.slot_of(v).is_some_and(|s| s < self.valid))
    }

    /// The guest frame whose bytes page `idx` holds, if the dump says (legacy PV dumps
    /// never do, unless pfns were recovered for them).
    pub fn pfn_of(&self, file: &[u8], idx: PageIndex) -> Option<GuestFrame> {
        if idx.0 >= self.valid {
            return None;
        }
        if let Some(r) = &self.recovered {
            return r.pfn_of(idx);
        }
        match (&self.kind, &self.legacy_hvm) {
            (FrameTableKind::LegacyMfns { .. }, None) => None,
            (_, Some(rule)) => match rule.contents {
                SlotContents::ByPosition => rule.pfn_at(idx.0).map(GuestFrame),
                SlotContents::ByIndex => self
                    .raw_mfn(file, idx.0)
                    .filter(|&v| self.rule_places(v))
                    .map(GuestFrame),
            },
            _ => self
                .raw_pfn(file, idx.0)
                .filter(|&v| v != INVALID_FRAME)
                .map(GuestFrame),
        }
    }

    /// The machine frame whose bytes page `idx` holds, if the dump says (ELF HVM dumps
    /// never do).
    pub fn mfn_of(&self, file: &[u8], idx: PageIndex) -> Option<MachineFrame> {
        if idx.0 >= self.valid {
            return None;
        }
        if let Some(SlotContents::ByIndex) = self.legacy_hvm.as_ref().map(|r| r.contents) {
            return self.pfn_to_mfn(file, self.pfn_of(file, idx)?);
        }
        self.raw_mfn(file, idx.0)
            .filter(|&v| v != INVALID_FRAME)
            .map(MachineFrame)
    }

    /// pfn → mfn. Legacy HVM: the mfn listed at the pfn's list position.
    pub fn pfn_to_mfn(&self, file: &[u8], pfn: GuestFrame) -> Option<MachineFrame> {
        match &self.legacy_hvm {
            Some(rule) => self
                .raw_mfn(file, rule.slot_of(pfn.0).filter(|&s| s < self.valid)?)
                .filter(|&v| v != INVALID_FRAME)
                .map(MachineFrame),
            None => self.mfn_of(file, self.page_of_pfn(file, pfn)?),
        }
    }

    /// mfn → pfn. Legacy HVM: the pfn of the mfn's list position.
    pub fn mfn_to_pfn(&self, file: &[u8], mfn: MachineFrame) -> Option<GuestFrame> {
        match &self.legacy_hvm {
            Some(rule) => rule
                .pfn_at(self.list_position_of_mfn(file, mfn)?.0)
                .map(GuestFrame),
            None => self.pfn_of(file, self.page_of_mfn(file, mfn)?),
        }
    }

    /// Can this table answer pfn lookups at all?
    pub fn knows_pfns(&self) -> bool {
        self.recovered.is_some()
            || !matches!(self.kind, FrameTableKind::LegacyMfns { hvm: false, .. })
    }

    /// Can this table answer mfn lookups at all?
    pub fn knows_mfns(&self) -> bool {
        !matches!(self.kind, FrameTableKind::Pfn)
    }

    /// The page holding guest frame `pfn`.
    pub fn page_of_pfn(&self, file: &[u8], pfn: GuestFrame) -> Option<PageIndex> {
        if let Some(r) = &self.recovered {
            return r.page_of_pfn(pfn).filter(|p| p.0 < self.valid);
        }
        if let Some(rule) = &self.legacy_hvm {
            let slot = rule.slot_of(pfn.0).filter(|&s| s < self.valid)?;
            return match rule.contents {
                SlotContents::ByPosition => Some(PageIndex(slot)),
                // The slot whose index entry names this pfn holds its bytes.
                SlotContents::ByIndex => self.list_position_of_mfn(file, MachineFrame(pfn.0)),
            };
        }
        match self.kind {
            FrameTableKind::LegacyMfns { .. } => None,
            FrameTableKind::P2m | FrameTableKind::Pfn => {
                // Ascending by pfn (guaranteed by every released writer). A hit is
                // self-verifying; an unsorted (corrupt) table can only cause misses.
                let (mut lo, mut hi) = (0u64, self.valid);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    let v = self.raw_pfn(file, mid)?;
                    match v.cmp(&pfn.0) {
                        std::cmp::Ordering::Equal => return Some(PageIndex(mid)),
                        std::cmp::Ordering::Less => lo = mid + 1,
                        std::cmp::Ordering::Greater => hi = mid,
                    }
                }
                None
            }
        }
    }

    /// Build (once) the mfn-sorted index of positions.
    pub fn prepare_mfn_index(&self, file: &[u8]) {
        if self.knows_mfns() {
            self.mfn_index(file);
        }
    }

    fn mfn_index(&self, file: &[u8]) -> &MfnIndex {
        self.by_mfn
            .get_or_init(|| self.index_from_scan(file, self.scan_mfns(file).0))
    }

    /// The index for what [`FrameTable::scan_mfns`] found: the runs if they are long,
    /// else one position per page.
    fn index_from_scan(&self, file: &[u8], scan: MfnScan) -> MfnIndex {
        if let Some(runs) = scan.runs {
            return MfnIndex::Runs(runs);
        }
        if scan.count > 0 && scan.hi - scan.lo + 1 == scan.count {
            if let Some(pages) = self.dense_pages(file, &scan) {
                return MfnIndex::Dense { lo: scan.lo, pages };
            }
        }
        MfnIndex::Positions(self.mfn_positions(file, &scan))
    }

    /// Frames that fill their range exactly: the page of every frame, by frame, stored
    /// plus one (0: none). One more pass over the table, one write a page (a counting
    /// sort whose counts are all 1). `None` if the table names a frame twice (damage),
    /// so it misses another: as many entries as frames in the range, every frame is
    /// there exactly when no slot is left empty, which one sequential look at the result
    /// tells (cheaper than testing each slot before writing it).
    ///
    /// The writes land at random, about one cache miss each, which is most of the time:
    /// with more than one CPU the range is split between threads, each reading the
    /// whole table and writing only its part (on 16 M pages, 2 threads: ~170 ms instead
    /// of ~290 ms when the second CPU is free, ~40 ms more CPU in all).
    fn dense_pages(&self, file: &[u8], scan: &MfnScan) -> Option<Vec<u32>> {
        // Zeroed by the allocator as it is touched: the threads fault their own parts.
        let mut pages = vec![0u32; usize::try_from(scan.count).ok()?];
        let threads = if pages.len() >= 1 << 20 {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
        } else {
            1
        };
        let part = pages.len().div_ceil(threads);
        let place = |slice: &mut [u32], base: u64| {
            let mut put = |page: u32, m: u64| {
                if m != INVALID_FRAME {
                    if let Some(slot) = slice.get_mut(m.wrapping_sub(base) as usize) {
                        *slot = page + 1;
                    }
                }
            };
            match (self.kind, self.entries(file)) {
                (FrameTableKind::P2m, Some(table)) => {
                    for (page, e) in (0..=u32::MAX).zip(table.chunks_exact(16)) {
                        put(
                            page,
                            u64::from_le_bytes(e[8..].try_into().unwrap_or([0xff; 8])),
                        );
                    }
                }
                _ => (0..=u32::MAX)
                    .zip(self.mfns(file))
                    .for_each(|(p, m)| put(p, m)),
            }
        };
        std::thread::scope(|scope| {
            let mut chunks = pages.chunks_mut(part).enumerate();
            let first = chunks.next();
            for (i, chunk) in chunks {
                let base = scan.lo + (i * part) as u64;
                let place = &place;
                scope.spawn(move || place(chunk, base));
            }
            if let Some((_, chunk)) = first {
                place(chunk, scan.lo);
            }
        });
        (!pages.contains(&0)).then_some(pages)
    }

    /// Every page's mfn (`INVALID_FRAME` where it has none), in page order, read in one
    /// pass over the mapped table.
    fn mfns<'f>(&self, file: &'f [u8]) -> impl Iterator<Item = u64> + 'f {
        self.frames(file).map(|(_, m)| m)
    }

    /// Every page's pfn and mfn as the table gives them (`INVALID_FRAME` where it gives
    /// none), in page order.
    fn frames<'f>(&self, file: &'f [u8]) -> impl Iterator<Item = (u64, u64)> + 'f {
        let width = self.entry_size() as usize;
        let kind = self.kind;
        // open() checked that the table lies in the file; an empty slice otherwise.
        let table = self.entries(file).unwrap_or(&[]);
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
        table.chunks_exact(width).map(move |e| match kind {
            FrameTableKind::P2m => (word(&e[..8]), word(&e[8..16])),
            FrameTableKind::Pfn => (word(e), INVALID_FRAME),
            FrameTableKind::LegacyMfns { width: 4, .. } => {
                // A 32-bit ~0 is the same "invalid" marker as a 64-bit one.
                let v = u32::from_le_bytes(e.try_into().unwrap_or([0xff; 4]));
                let m = if v == u32::MAX {
                    INVALID_FRAME
                } else {
                    u64::from(v)
                };
                (INVALID_FRAME, m)
            }
            FrameTableKind::LegacyMfns { .. } => (INVALID_FRAME, word(e)),
        })
    }

    /// One pass over the table: the runs of consecutive mfns, sorted (`None` if they
    /// average under 4 pages), and the range and count of the valid mfns, which the
    /// fallback index needs; for a `.xen_p2m` table also the first entry out of pfn
    /// order (see [`FrameTable::first_unsorted_pfn`]), from the same cache lines.
    fn scan_mfns(&self, file: &[u8]) -> (MfnScan, Option<u64>) {
        let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0xff; 8]));
        let Some(table) = self.entries(file).inspect(|t| will_read_once(t)) else {
            // open() rules this out; as if every entry were invalid.
            let unsorted = matches!(self.kind, FrameTableKind::P2m) && self.valid > 0;
            return (
                scan_table::<8>(&[], false, |_| (0, 0)).0,
                unsorted.then_some(0),
            );
        };
        match self.kind {
            FrameTableKind::P2m => scan_table::<16>(table, true, |e| {
                let (pfn, mfn) = e.split_at(8);
                (word(pfn), word(mfn))
            }),
            FrameTableKind::Pfn => scan_table::<8>(&[], false, |_| (0, 0)),
            FrameTableKind::LegacyMfns { width: 4, .. } => scan_table::<4>(table, false, |e| {
                // A 32-bit ~0 is the same "invalid" marker as a 64-bit one.
                let v = u32::from_le_bytes(*e);
                let m = if v == u32::MAX {
                    INVALID_FRAME
                } else {
                    u64::from(v)
                };
                (0, m)
            }),
            FrameTableKind::LegacyMfns { .. } => {
                scan_table::<8>(table, false, |e| (0, u64::from_le_bytes(*e)))
            }
        }
    }

    /// Every page position sorted by mfn, for tables without long runs.
    fn mfn_positions(&self, file: &[u8], scan: &MfnScan) -> Vec<u32> {
        let MfnScan { lo, hi, count, .. } = *scan;
        if count == 0 {
            return Vec::new();
        }
        if hi - lo > u64::from(u32::MAX) {
            // Frames spread over more than 16 TiB: sort positions by keys read from
            // the map (slow, but no memory beyond the index itself).
            let mut keyed: Vec<u32> = (0..=u32::MAX)
                .zip(self.mfns(file))
                .filter(|&(_, m)| m != INVALID_FRAME)
                .map(|(i, _)| i)
                .collect();
            keyed.sort_unstable_by_key(|&i| {
                self.raw_mfn(file, u64::from(i)).unwrap_or(INVALID_FRAME)
            });
            return keyed;
        }
        if (hi - lo) / 64 < count {
            if let Some(positions) = self.mfn_positions_by_rank(file, scan) {
                return positions;
            }
        }
        // Frames spread thinly, or a table naming a frame twice: (mfn - lo, position)
        // pairs, one u64 each, built in one more pass and sorted by a linear-time radix
        // sort on the key half: 16 bytes a page while sorting, then the 4-byte
        // positions are all that is kept.
        let key_bits = 64 - (hi - lo).leading_zeros();
        let mut pairs: Vec<u64> = Vec::with_capacity(count as usize);
        for (page, m) in (0..=u32::MAX).zip(self.mfns(file)) {
            if m != INVALID_FRAME {
                pairs.push((m - lo) << 32 | u64::from(page));
            }
        }
        radix_sort_high_words(&mut pairs, key_bits);
        let positions = pairs.iter().map(|&x| x as u32).collect();
        drop(pairs);
        positions
    }

    /// Positions sorted by mfn, for frames that fill at least 1/64 of their range
    /// (Xen handing out scattered single pages from part of the host's memory): a
    /// bitmap of the frames present, set in one pass, gives each frame its rank, and a
    /// second pass writes every position at its frame's rank (a counting sort by mfn).
    /// Linear time; besides the 4-byte positions it needs the bitmap and its per-word
    /// ranks (at most 16 bytes a page). `None` if the table names a frame twice
    /// (damage), which ranks cannot order.
    ///
    /// The writes land at random (ranks follow the frames), about one cache miss a
    /// page; gathering (rank, position) pairs by blocks of ranks first measured no
    /// faster on 16 M pages and needed 8 more bytes a page.
    fn mfn_positions_by_rank(&self, file: &[u8], scan: &MfnScan) -> Option<Vec<u32>> {
        let MfnScan { lo, hi, count, .. } = *scan;
        // Per 64 frames of the range: which are present, and how many are present
        // below them (filled in after the bitmap), side by side so finding a frame's
        // rank touches one cache line.
        let words = usize::try_from((hi - lo) / 64 + 1).ok()?;
        let mut bits = vec![RankWord::default(); words];
        for m in self.mfns(file).filter(|&m| m != INVALID_FRAME) {
            let k = m - lo;
            let word = &mut bits[(k / 64) as usize];
            if word.present >> (k % 64) & 1 == 1 {
                return None;
            }
            word.present |= 1 << (k % 64);
        }
        let mut below = 0u64;
        for w in &mut bits {
            w.below = below;
            below += u64::from(w.present.count_ones());
        }
        let mut positions = vec![0u32; usize::try_from(count).ok()?];
        for (page, m) in (0..=u32::MAX).zip(self.mfns(file)) {
            if m == INVALID_FRAME {
                continue;
            }
            let k = m - lo;
            let w = &bits[(k / 64) as usize];
            let rank = w.below + u64::from((w.present & ((1u64 << (k % 64)) - 1)).count_ones());
            positions[rank as usize] = page;
        }
        Some(positions)
    }

    /// The page holding machine frame `mfn`.
    pub fn page_of_mfn(&self, file: &[u8], mfn: MachineFrame) -> Option<PageIndex> {
        if let Some(SlotContents::ByIndex) = self.legacy_hvm.as_ref().map(|r| r.contents) {
            return self.page_of_pfn(file, self.mfn_to_pfn(file, mfn)?);
        }
        self.list_position_of_mfn(file, mfn)
    }

    /// The slot whose index entry (or p2m entry) is `mfn`.
    fn list_position_of_mfn(&self, file: &[u8], mfn: MachineFrame) -> Option<PageIndex> {
        if !self.knows_mfns() {
            return None;
        }
        match self.mfn_index(file) {
            MfnIndex::Runs(runs) => {
                // The last run starting at or below mfn is the only one that can hold
                // it (runs do not overlap unless the table repeats an mfn, which a
                // corrupt dump may: then this can miss, never answer wrongly).
                let i = runs.partition_point(|r| r.first_mfn <= mfn.0);
                runs.get(i.checked_sub(1)?)?.page_of(mfn.0).map(PageIndex)
            }
            MfnIndex::Dense { lo, pages } => {
                let k = usize::try_from(mfn.0.checked_sub(*lo)?).ok()?;
                let page = pages.get(k)?.checked_sub(1)?;
                Some(PageIndex(u64::from(page)))
            }
            MfnIndex::Positions(idx) => {
                let key = |i: u32| self.raw_mfn(file, u64::from(i)).unwrap_or(INVALID_FRAME);
                let pos = idx.partition_point(|&i| key(i) < mfn.0);
                idx.get(pos)
                    .filter(|&&i| key(i) == mfn.0)
                    .map(|&i| PageIndex(u64::from(i)))
            }
        }
    }

    /// Lowest and highest pfn in the dump (from the table's ends: it is ascending).
    pub fn pfn_range(&self, file: &[u8]) -> Option<(GuestFrame, GuestFrame)> {
        if self.valid == 0 {
            return None;
        }
        if let Some(r) = &self.recovered {
            let first = r.by_pfn().next()?.0;
            let last = r.by_pfn().last()?.0;
            return Some((first, last));
        }
        if let Some(rule) = &self.legacy_hvm {
            let (lo, hi) = rule.pfn_bounds()?;
            return Some((GuestFrame(lo), GuestFrame(hi)));
        }
        Some((
            self.pfn_of(file, PageIndex(0))?,
            self.pfn_of(file, PageIndex(self.valid - 1))?,
        ))
    }

    /// Lowest and highest mfn in the dump (builds the mfn index).
    pub fn mfn_range(&self, file: &[u8]) -> Option<(MachineFrame, MachineFrame)> {
        if !self.knows_mfns() {
            return None;
        }
        match self.mfn_index(file) {
            MfnIndex::Runs(runs) => {
                let first = runs.first()?.first_mfn;
                let last = runs.iter().map(|r| r.first_mfn + r.len() - 1).max()?;
                Some((MachineFrame(first), MachineFrame(last)))
            }
            MfnIndex::Dense { lo, pages } => {
                let last = lo + (pages.len() as u64).checked_sub(1)?;
                Some((MachineFrame(*lo), MachineFrame(last)))
            }
            MfnIndex::Positions(idx) => {
                let first = self.mfn_of(file, PageIndex(u64::from(*idx.first()?)))?;
                let last = self.mfn_of(file, PageIndex(u64::from(*idx.last()?)))?;
                Some((first, last))
            }
        }
    }

    /// Bytes of memory used by indexes built so far.
    pub fn index_bytes(&self) -> usize {
        match self.by_mfn.get() {
            None => 0,
            Some(MfnIndex::Runs(runs)) => runs.capacity() * std::mem::size_of::<MfnRun>(),
            Some(MfnIndex::Dense { pages, .. }) => pages.capacity() * 4,
            Some(MfnIndex::Positions(idx)) => idx.capacity() * 4,
        }
    }

    /// Is the mfn index (once built) the compact one of runs?
    pub fn mfn_index_is_runs(&self, file: &[u8]) -> bool {
        matches!(self.mfn_index(file), MfnIndex::Runs(_))
    }

    /// Which index the table got (`runs`, `dense` or `positions`), for tests.
    #[cfg(test)]
    fn mfn_index_kind(&self, file: &[u8]) -> &'static str {
        match self.mfn_index(file) {
            MfnIndex::Runs(_) => "runs",
            MfnIndex::Dense { .. } => "dense",
            MfnIndex::Positions(_) => "positions",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    #[test]
    fn recovered_pfns_keep_the_first_pair_and_list_by_pfn() {
        let pairs = [
            (PageIndex(2), 7),
            (PageIndex(0), 9),
            (PageIndex(2), 8),       // page 2 again
            (PageIndex(1), 9),       // pfn 9 again
            (PageIndex(5), 1),       // beyond the 4 pages
            (PageIndex(3), 1 << 32), // pfn too large
            (PageIndex(1), 3),
        ];
        let (r, stats) = RecoveredPfns::new(4, pairs);
        assert_eq!(
            stats,
            RecoveryStats {
                pages: 3,
                duplicates: 2,
                out_of_range: 2
            }
        );
        let by_pfn: Vec<(u64, u64)> = r.by_pfn().map(|(f, p)| (f.0, p.0)).collect();
        assert_eq!(by_pfn, [(3, 1), (7, 2), (9, 0)]);
        assert_eq!(r.pfn_of(PageIndex(3)), None);
        assert_eq!(r.page_of_pfn(GuestFrame(8)), None);
        assert_eq!(r.page_of_pfn(GuestFrame(1 << 40)), None);
        // Only a table without pfns takes them.
        let (mut t, _) = table(&[5, 6], false);
        assert!(!t.set_recovered(r.clone()));
        let (mut t32, file) = table(&[5, 6, 7, 8], true);
        assert!(!t32.knows_pfns());
        assert!(t32.set_recovered(r));
        assert!(t32.knows_pfns() && !t32.in_pfn_order());
        assert_eq!(t32.pfn_of(&file, PageIndex(1)), Some(GuestFrame(3)));
        assert_eq!(t32.page_of_pfn(&file, GuestFrame(9)), Some(PageIndex(0)));
        assert_eq!(t32.pfn_range(&file), Some((GuestFrame(3), GuestFrame(9))));
    }

    /// A `.xen_p2m` table (pfn = position) or a 4-byte legacy index holding `mfns`.
    fn table(mfns: &[u64], legacy32: bool) -> (FrameTable, Vec<u8>) {
        let mut file = Vec::new();
        for (i, &m) in mfns.iter().enumerate() {
            if legacy32 {
                let v = if m == INVALID_FRAME {
                    u32::MAX
                } else {
                    m as u32
                };
                file.extend_from_slice(&v.to_le_bytes());
            } else {
                file.extend_from_slice(&(i as u64).to_le_bytes());
                file.extend_from_slice(&m.to_le_bytes());
            }
        }
        let kind = if legacy32 {
            FrameTableKind::LegacyMfns {
                width: 4,
                hvm: false,
            }
        } else {
            FrameTableKind::P2m
        };
        (FrameTable::new(kind, 0, mfns.len() as u64, &file), file)
    }

    /// Every mfn is found at its position, absent ones are not, and the range is right;
    /// the oracle is a plain map built from the list.
    fn check(mfns: &[u64], legacy32: bool) -> Result<bool, TestCaseError> {
        let (t, file) = table(mfns, legacy32);
        let mut at = HashMap::new();
        for (i, &m) in mfns.iter().enumerate() {
            if m != INVALID_FRAME {
                at.insert(m, i as u64);
            }
        }
        for (&m, &i) in &at {
            prop_assert_eq!(t.page_of_mfn(&file, MachineFrame(m)), Some(PageIndex(i)));
        }
        let lo = at.keys().min().copied();
        let hi = at.keys().max().copied();
        let probes = [
            0,
            1,
            lo.unwrap_or(0).wrapping_sub(1),
            hi.unwrap_or(0) + 1,
            1 << 40,
        ];
        for m in probes.into_iter().chain(at.keys().map(|m| m + 1)) {
            if !at.contains_key(&m) {
                prop_assert_eq!(t.page_of_mfn(&file, MachineFrame(m)), None, "mfn {:#x}", m);
            }
        }
        let range = t.mfn_range(&file).map(|(a, b)| (a.0, b.0));
        prop_assert_eq!(range, lo.zip(hi));
        Ok(t.mfn_index_is_runs(&file))
    }

    /// Disjoint stretches of mfns (each counting up or down) in shuffled order, with
    /// invalid entries sprinkled in.
    fn layouts() -> impl Strategy<Value = Vec<u64>> {
        (
            prop::collection::vec((1u64..40, any::<bool>(), 0u64..3), 1..40),
            any::<u64>(),
            prop::collection::vec(0usize..2000, 0..4),
        )
            .prop_map(|(segments, seed, invalid)| {
                let mut base = 0x1000u64;
                let mut runs = Vec::new();
                for (len, down, gap) in segments {
                    let run: Vec<u64> = if down {
                        (0..len).rev().map(|i| base + i).collect()
                    } else {
                        (0..len).map(|i| base + i).collect()
                    };
                    runs.push(run);
                    base += len + gap;
                }
                // Deterministic shuffle of the stretches.
                let mut x = seed | 1;
                for i in (1..runs.len()).rev() {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    runs.swap(i, (x % (i as u64 + 1)) as usize);
                }
                let mut mfns: Vec<u64> = runs.concat();
                for i in invalid {
                    let at = i % (mfns.len() + 1);
                    mfns.insert(at, INVALID_FRAME);
                }
                mfns
            })
    }

    proptest! {
        #[test]
        fn mfn_lookups_match_a_plain_map(mfns in layouts(), legacy32 in any::<bool>()) {
            check(&mfns, legacy32)?;
        }

        /// Frames scattered page by page, filling anything from all to 1/4000 of
        /// their range: the positions index (by rank where the frames are dense, by
        /// radix sort where they are not) must answer every lookup.
        #[test]
        fn scattered_frames_are_found_by_the_positions_index(
            n in 8usize..600,
            sparseness in 1u64..4000,
            base in 0u64..(1 << 30),
            seed in any::<u64>(),
            legacy32 in any::<bool>(),
        ) {
            let mut x = seed | 1;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            // n distinct frames out of a range n × sparseness wide, shuffled.
            let universe = n as u64 * sparseness;
            let mut set = std::collections::BTreeSet::new();
            while set.len() < n {
                set.insert(base + next() % universe);
            }
            let mut mfns: Vec<u64> = set.into_iter().collect();
            for i in (1..mfns.len()).rev() {
                mfns.swap(i, (next() % (i as u64 + 1)) as usize);
            }
            check(&mfns, legacy32)?;
        }
    }

    #[test]
    fn long_runs_give_the_compact_index_and_short_ones_the_positions() {
        // 2 MiB chunks, in scrambled order and some counting down.
        let mut mfns = Vec::new();
        for c in [5u64, 0, 3, 1, 4, 2] {
            let chunk: Vec<u64> = (0..512).map(|i| 0x8_0000 + c * 512 + i).collect();
            if c % 2 == 0 {
                mfns.extend(chunk.into_iter().rev());
            } else {
                mfns.extend(chunk);
            }
        }
        assert!(check(&mfns, false).expect("lookups"));
        let (t, file) = table(&mfns, false);
        t.prepare_mfn_index(&file);
        assert_eq!(t.index_bytes(), 6 * std::mem::size_of::<MfnRun>());
        // Every page on its own (a multiplicative scramble) filling its range: one
        // page per frame, by frame.
        let scattered: Vec<u64> = (0..1000u64).map(|i| 0x10_0000 + i * 7919 % 1000).collect();
        assert!(!check(&scattered, true).expect("lookups"));
        let (t, file) = table(&scattered, true);
        assert_eq!(t.mfn_index_kind(&file), "dense");
        assert_eq!(t.index_bytes(), 1000 * 4);
        // Scattered frames with gaps: positions sorted by mfn, placed by rank (dense
        // enough for a bitmap) or by a radix sort (sparse), 4 bytes a page either way.
        for (spread, kind) in [(1u64, "dense"), (3, "positions"), (1000, "positions")] {
            let n = 3 << 14;
            let many: Vec<u64> = (0..n)
                .map(|i| 0x40_0000 + (i * 2_654_435_761 % n) * spread)
                .collect();
            assert!(!check(&many, false).expect("lookups"), "spread {spread}");
            let (t, file) = table(&many, false);
            assert_eq!(t.mfn_index_kind(&file), kind, "spread {spread}");
            assert_eq!(t.index_bytes(), n as usize * 4, "spread {spread}");
        }
        // Frames spread beyond 2^32 take the slow sort and still answer.
        let wide = [0x1_0000_0000_0000u64, 7, 0x20, 3, 0x3_0000_0000, 9, 1, 0x55];
        assert!(!check(&wide, false).expect("lookups"));
    }

    #[test]
    fn large_tables_take_the_scan_shortcuts_and_still_answer() {
        // Runs of 1000 pages, counting up and down, in scrambled order, broken here and
        // there by an invalid entry: whole blocks continue a run.
        let mut mfns = Vec::new();
        for r in 0..300u64 {
            let base = 0x10_0000 + (r * 7 % 300) * 1000;
            let run: Vec<u64> = (0..1000).map(|i| base + i).collect();
            if r % 2 == 0 {
                mfns.extend(run.into_iter().rev());
            } else {
                mfns.extend(run);
            }
            if r % 37 == 0 {
                mfns.push(INVALID_FRAME);
            }
        }
        assert!(check(&mfns, false).expect("lookups"));
        // Scattered page by page from the start: runs are given up early, and the rest
        // goes through the range-and-count loop.
        let n = 200_000u64;
        let scattered: Vec<u64> = (0..n).map(|i| 0x4000 + i * 7919 % n).collect();
        let (t, file) = table(&scattered, false);
        assert_eq!(t.mfn_index_kind(&file), "dense");
        assert!(!check(&scattered, false).expect("lookups"));
        // Enough pages for the dense table to be filled by several threads, split by
        // frame (the parts' edges fall anywhere in the table), and the same with one
        // frame named twice.
        let n = (1u64 << 20) + 7;
        let mut big: Vec<u64> = (0..n).map(|i| 0x9_0000 + i * 7919 % n).collect();
        let (t, file) = table(&big, false);
        assert_eq!(t.mfn_index_kind(&file), "dense");
        for (i, &m) in big.iter().enumerate().step_by(997) {
            assert_eq!(
                t.page_of_mfn(&file, MachineFrame(m)),
                Some(PageIndex(i as u64))
            );
        }
        assert_eq!(t.page_of_mfn(&file, MachineFrame(0x9_0000 + n)), None);
        assert_eq!(t.page_of_mfn(&file, MachineFrame(0x8_ffff)), None);
        big[12345] = big[54321];
        let (t, file) = table(&big, false);
        assert_ne!(t.mfn_index_kind(&file), "dense");
        assert_eq!(
            t.page_of_mfn(&file, MachineFrame(big[777])),
            Some(PageIndex(777))
        );
        // Scattered at the start, long runs after: positions (runs given up early).
        let mut mixed: Vec<u64> = (0..100_000u64)
            .map(|i| 0x4000 + i * 7919 % 100_000)
            .collect();
        mixed.extend((0..400_000u64).map(|i| 0x100_0000 + i));
        let (t, file) = table(&mixed, true);
        assert_eq!(t.mfn_index_kind(&file), "positions");
        assert!(!check(&mixed, true).expect("lookups"));
    }

    proptest! {
        #[test]
        fn radix_sort_orders_by_key_and_keeps_equal_keys_in_order(
            keys in prop::collection::vec(any::<u32>(), 0..3000),
            bits in 1u32..=32,
        ) {
            let mask = if bits == 32 { u32::MAX } else { (1 << bits) - 1 };
            let mut v: Vec<u64> = keys
                .iter()
                .enumerate()
                .map(|(i, &k)| u64::from(k & mask) << 32 | i as u64)
                .collect();
            // The oracle: the standard library's stable sort by key.
            let mut want = v.clone();
            want.sort_by_key(|&x| x >> 32);
            radix_sort_high_words(&mut v, bits);
            prop_assert_eq!(v, want);
        }
    }

    proptest! {
        /// The first entry out of ascending pfn order (or `~0` before the tail), found
        /// eight entries at a time (`.xen_pfn`) or in the pass that scans the mfns
        /// (`.xen_p2m`), is the one a plain loop finds.
        #[test]
        fn the_first_unsorted_pfn_is_found_in_either_table(
            steps in prop::collection::vec(0u64..4, 0..80),
            bad in prop::collection::vec((0usize..80, any::<bool>()), 0..3),
            tail in 0usize..3,
        ) {
            let mut pfns: Vec<u64> = steps.iter().scan(0u64, |p, &s| { *p += s; Some(*p) }).collect();
            for (at, invalid) in bad {
                if let Some(p) = pfns.get_mut(at) {
                    *p = if invalid { INVALID_FRAME } else { *p / 2 };
                }
            }
            pfns.extend(std::iter::repeat_n(INVALID_FRAME, tail));
            // The oracle, after the tail of ~0 is trimmed as new() does.
            let mut valid = pfns.len();
            while valid > 0 && pfns[valid - 1] == INVALID_FRAME {
                valid -= 1;
            }
            let want = (0..valid).find(|&i| {
                pfns[i] == INVALID_FRAME || (i > 0 && pfns[i] <= pfns[i - 1])
            });
            for kind in [FrameTableKind::P2m, FrameTableKind::Pfn] {
                let mut file = Vec::new();
                for (i, &p) in pfns.iter().enumerate() {
                    file.extend_from_slice(&p.to_le_bytes());
                    if matches!(kind, FrameTableKind::P2m) {
                        file.extend_from_slice(&(0x1000 + i as u64).to_le_bytes());
                    }
                }
                let t = FrameTable::new(kind, 0, pfns.len() as u64, &file);
                prop_assert_eq!(t.unsorted_at(), want.map(|i| i as u64), "{:?}", kind);
            }
        }
    }

    #[test]
    fn repeated_mfns_never_give_a_wrong_page() {
        // A corrupt table naming one frame twice (and overlapping runs), and one too
        // fragmented for runs, dense enough for ranks, with a frame named twice.
        let runs = vec![10u64, 11, 12, 13, 14, 11, 12, 13, 14, 15, 40];
        let scattered: Vec<u64> = (0..64u64).map(|i| 100 + i * 37 % 64).chain([117]).collect();
        // As many entries as frames in their range, one frame named twice so another
        // is missing: not a dense table, though the counts say it might be.
        let mut dense_but_not = scattered.clone();
        dense_but_not.pop();
        let at = dense_but_not.iter().position(|&m| m == 130).unwrap();
        dense_but_not[at] = 131;
        for mfns in [runs, scattered, dense_but_not] {
            let (t, file) = table(&mfns, false);
            assert_ne!(t.mfn_index_kind(&file), "dense");
            for m in 0..200 {
                if let Some(p) = t.page_of_mfn(&file, MachineFrame(m)) {
                    assert_eq!(mfns[p.0 as usize], m);
                }
            }
        }
    }

    #[test]
    fn legacy_hvm_positions_skip_the_holes() {
        let l = LegacyHvmRule::xen_builder(0x20_0000);
        assert_eq!(l.pfn_at(0x9F), Some(0x9F));
        assert_eq!(l.pfn_at(0xA0), Some(0xC0));
        assert_eq!(l.slot_of(0xB0), None);
        assert_eq!(l.slot_of(0xC0), Some(0xA0));
        // A position whose pfn would fall in the MMIO hole is relocated above 4 GiB.
        assert_eq!(l.pfn_at(0xEFFE0), Some(0x10_0000));
        assert_eq!(l.slot_of(0x10_0000), Some(0xEFFE0));
        assert_eq!(l.slot_of(0xF_8000), None);
        let c = LegacyHvmRule::identity(0x20_0000);
        assert_eq!(c.pfn_at(0xA0), Some(0xA0));
        for p in [0u64, 0x9F, 0xA0, 0xC0, 0x1234, 0xEFFFF, 0xF0000, 0x123456] {
            assert_eq!(c.slot_of(c.pfn_at(p).unwrap()), Some(p));
            assert_eq!(l.slot_of(l.pfn_at(p).unwrap()), Some(p));
        }
        // The list ends where the dump does.
        let short = LegacyHvmRule::xen_builder(0x100);
        assert_eq!(short.pfn_at(0xFF), Some(0x11F));
        assert_eq!(short.pfn_at(0x100), None);
        assert_eq!(short.slot_of(0x120), None);
        assert_eq!(short.pfn_bounds(), Some((0, 0x11F)));
    }

    #[test]
    fn shifted_rules_move_slots_and_never_share_one() {
        let base = LegacyHvmRule::xen_builder(0x400);
        // Page 0x250 left the list: later pfns sit one slot lower.
        let r = base.shifted("one page gone", &[(0x251, -1)]);
        assert_eq!(r.slot_of(0x24F), Some(0x22F));
        assert_eq!(r.slot_of(0x251), Some(0x230));
        assert_eq!(r.slot_of(0x250), None, "its slot belongs to 0x251 now");
        assert_eq!(r.pfn_at(0x230), Some(0x251));
        // Pages inserted: slots nobody claims.
        let r = base.shifted("two pages more", &[(0x300, 2)]);
        assert_eq!(r.slot_of(0x300), Some(0x2E2));
        assert_eq!(r.pfn_at(0x2E0), None);
        assert_eq!(r.pfn_at(0x2DF), Some(0x2FF));
        // Every slot names at most one pfn and back.
        for rule in [
            base.shifted("a", &[(0x100, -3), (0x200, 5), (0x280, -40)]),
            base.shifted("b", &[(0, -2)]),
        ] {
            for slot in 0..0x400 {
                if let Some(p) = rule.pfn_at(slot) {
                    assert_eq!(rule.slot_of(p), Some(slot), "{} slot {slot:#x}", rule.name);
                }
            }
        }
    }

    /// A 4-byte legacy index naming `mfns`, read as an HVM dump under `rule`.
    fn legacy_hvm(mfns: &[u64], rule: LegacyHvmRule) -> (FrameTable, Vec<u8>) {
        let file: Vec<u8> = mfns
            .iter()
            .flat_map(|&m| (m as u32).to_le_bytes())
            .collect();
        let mut t = FrameTable::new(
            FrameTableKind::LegacyMfns {
                width: 4,
                hvm: true,
            },
            0,
            mfns.len() as u64,
            &file,
        );
        t.set_legacy_hvm_rule(rule);
        (t, file)
    }

    #[test]
    fn contents_by_index_serve_only_pfns_an_entry_names() {
        // Six pages: mfns 0x1005, 3, 0x1007, 1, 0x2000, 0 at positions 0..6.
        let mfns = [0x1005u64, 3, 0x1007, 1, 0x2000, 0];
        let rule = LegacyHvmRule::identity(6).with_contents(SlotContents::ByIndex, "by index");
        let (t, file) = legacy_hvm(&mfns, rule);
        // pfn 3's bytes are in slot 1 (index[1] == 3); pfn 2 is named by no entry.
        assert_eq!(t.page_of_pfn(&file, GuestFrame(3)), Some(PageIndex(1)));
        assert_eq!(t.page_of_pfn(&file, GuestFrame(1)), Some(PageIndex(3)));
        assert_eq!(t.page_of_pfn(&file, GuestFrame(0)), Some(PageIndex(5)));
        assert_eq!(t.page_of_pfn(&file, GuestFrame(2)), None);
        assert_eq!(
            t.page_of_pfn(&file, GuestFrame(0x1005)),
            None,
            "not a guest pfn"
        );
        // Slot 0 holds stale bytes: index[0] is no guest pfn.
        assert_eq!(t.pfn_of(&file, PageIndex(0)), None);
        assert_eq!(t.pfn_of(&file, PageIndex(1)), Some(GuestFrame(3)));
        // The list itself still pairs mfns and pfns by position.
        assert_eq!(
            t.mfn_to_pfn(&file, MachineFrame(0x1007)),
            Some(GuestFrame(2))
        );
        assert_eq!(
            t.pfn_to_mfn(&file, GuestFrame(2)),
            Some(MachineFrame(0x1007))
        );
        // mfn 0x1007 is pfn 2, whose bytes are nowhere; mfn 3 is pfn 1, in slot 3.
        assert_eq!(t.page_of_mfn(&file, MachineFrame(0x1007)), None);
        assert_eq!(t.page_of_mfn(&file, MachineFrame(3)), Some(PageIndex(3)));
        assert_eq!(t.mfn_of(&file, PageIndex(3)), Some(MachineFrame(3)));
        // By position, the same table pairs slot k with pfn k.
        let (t, file) = legacy_hvm(&mfns, LegacyHvmRule::identity(6));
        assert_eq!(t.page_of_pfn(&file, GuestFrame(3)), Some(PageIndex(3)));
        assert_eq!(
            t.page_of_mfn(&file, MachineFrame(0x1007)),
            Some(PageIndex(2))
        );
    }
}
