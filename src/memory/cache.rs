//! A bounded, direct-mapped cache of successful translations.
//!
//! Bulk reads (gdb fetching a stack or a structure) touch the same few pages many times;
//! caching the 4 KiB frame per (root, mode, virtual page) saves re-walking 2–5 levels
//! for each of them. A second, smaller level remembers which last-level table (PT)
//! serves each 2 MiB (4 MiB in 2-level paging) of address space, as the CPU's
//! paging-structure caches do: a page missing from the first level then costs one
//! table read instead of a whole walk, which is what reads spread over more pages
//! than the first level holds (a 64 MiB dump, scattered lookups) need. Keys include
//! the root, so vCPUs with different CR3 values can share one cache. Failed walks are
//! not cached. The cache does not know which [`TableSource`] produced an entry: use
//! one cache per dump, or [`clear`] it.
//!
//! [`clear`]: TranslationCache::clear

use super::cr3::Root;
use super::paging::{PageSize, PagingMode};
use super::walk::{walk, walk_last_level, TableSource, Translation, WalkError};
use crate::addr::{VirtAddr, PAGE_SHIFT, PAGE_SIZE};

/// The frame-level result of a translation, as kept by [`TranslationCache`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CachedTranslation {
    /// The 4 KiB frame holding the address (same space as the tables).
    pub frame: u64,
    /// Byte offset of the address within `frame`.
    pub offset: u64,
    /// Size of the page the leaf entry maps.
    pub page_size: PageSize,
}

impl From<&Translation> for CachedTranslation {
    fn from(tr: &Translation) -> Self {
        CachedTranslation {
            frame: tr.frame,
            offset: tr.offset,
            page_size: tr.page_size,
        }
    }
}

/// Hit and miss counts of a [`TranslationCache`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to walk (or that found nothing).
    pub misses: u64,
    /// Of the misses, those that read only a remembered last-level table.
    pub table_hits: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Slot {
    root: Root,
    mode: PagingMode,
    va_page: u64,
    frame: u64,
    page_size: PageSize,
}

/// Which last-level table maps a region (one table's span) of an address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TableSlot {
    root: Root,
    mode: PagingMode,
    region: u64,
    table_frame: u64,
}

/// Direct-mapped translation cache with a fixed number of slots.
#[derive(Clone, Debug)]
pub struct TranslationCache {
    slots: Box<[Option<Slot>]>,
    /// Last-level tables by region: an eighth as many slots, each spanning 512 or
    /// 1024 pages.
    tables: Box<[Option<TableSlot>]>,
    stats: CacheStats,
}

/// Largest accepted capacity; beyond this a cache stops paying for its memory.
const MAX_CAPACITY: usize = 1 << 20;

impl Default for TranslationCache {
    fn default() -> Self {
        TranslationCache::new(TranslationCache::DEFAULT_CAPACITY)
    }
}

impl TranslationCache {
    /// Slots in a default cache: 16 MiB of 4 KiB pages.
    pub const DEFAULT_CAPACITY: usize = 4096;

    /// A cache with `capacity` slots, rounded up to a power of two in 1..=2^20.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY).next_power_of_two();
        TranslationCache {
            slots: vec![None; capacity].into_boxed_slice(),
            tables: vec![None; (capacity / 8).max(1)].into_boxed_slice(),
            stats: CacheStats::default(),
        }
    }

    /// A cache that remembers nothing: every lookup walks (for comparisons and for
    /// users who suspect the cache).
    pub fn disabled() -> Self {
        TranslationCache {
            slots: Box::default(),
            tables: Box::default(),
            stats: CacheStats::default(),
        }
    }

    /// Number of slots (0 when disabled).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Translates `va` from the cache, walking `src` and remembering the result on a miss.
    pub fn translate<S: TableSource + ?Sized>(
        &mut self,
        src: &S,
        mode: PagingMode,
        root: Root,
        va: VirtAddr,
    ) -> Result<CachedTranslation, WalkError> {
        if let Some(hit) = self.lookup(mode, root, va) {
            return Ok(hit);
        }
        if let Some(table_frame) = self.last_level_table(mode, root, va) {
            self.stats.table_hits += 1;
            let frame = walk_last_level(src, mode, table_frame, va)?;
            let va_page = va.0 >> PAGE_SHIFT;
            self.put(mode, root, va_page, frame, PageSize::Size4K);
            return Ok(CachedTranslation {
                frame,
                offset: va.0 & (PAGE_SIZE - 1),
                page_size: PageSize::Size4K,
            });
        }
        let tr = walk(src, mode, root, va)?;
        self.insert(mode, root, &tr);
        Ok(CachedTranslation::from(&tr))
    }

    /// The last-level table an earlier walk found for `va`'s region, if remembered.
    fn last_level_table(&self, mode: PagingMode, root: Root, va: VirtAddr) -> Option<u64> {
        let region = va.0 >> region_shift(mode)?;
        let index = table_slot_index(self.tables.len(), mode, root, region)?;
        self.tables
            .get(index)
            .copied()
            .flatten()
            .filter(|t| t.region == region && t.root == root && t.mode == mode)
            .map(|t| t.table_frame)
    }

    /// The cached translation of `va`, counting a hit or a miss.
    pub fn lookup(
        &mut self,
        mode: PagingMode,
        root: Root,
        va: VirtAddr,
    ) -> Option<CachedTranslation> {
        let va_page = va.0 >> PAGE_SHIFT;
        let found = self
            .slot_index(mode, root, va_page)
            .and_then(|i| self.slots.get(i))
            .copied()
            .flatten()
            .filter(|s| s.va_page == va_page && s.root == root && s.mode == mode);
        match found {
            Some(slot) => {
                self.stats.hits += 1;
                Some(CachedTranslation {
                    frame: slot.frame,
                    offset: va.0 & (PAGE_SIZE - 1),
                    page_size: slot.page_size,
                })
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Remembers a translation made with `mode` from `root`, evicting whatever shared
    /// its slot.
    pub fn insert(&mut self, mode: PagingMode, root: Root, tr: &Translation) {
        self.put(mode, root, tr.va.0 >> PAGE_SHIFT, tr.frame, tr.page_size);
        // A walk down to a last-level entry also tells which table serves the region.
        let leaf = tr.leaf().filter(|s| s.level == 1);
        if let (Some(leaf), Some(shift)) = (leaf, region_shift(mode)) {
            let region = tr.va.0 >> shift;
            let index = table_slot_index(self.tables.len(), mode, root, region);
            if let Some(slot) = index.and_then(|i| self.tables.get_mut(i)) {
                *slot = Some(TableSlot {
                    root,
                    mode,
                    region,
                    table_frame: leaf.table_frame,
                });
            }
        }
    }

    fn put(&mut self, mode: PagingMode, root: Root, va_page: u64, frame: u64, size: PageSize) {
        let index = self.slot_index(mode, root, va_page);
        if let Some(slot) = index.and_then(|i| self.slots.get_mut(i)) {
            *slot = Some(Slot {
                root,
                mode,
                va_page,
                frame,
                page_size: size,
            });
        }
    }

    /// Forgets every translation (the counters are kept).
    pub fn clear(&mut self) {
        self.slots.fill(None);
        self.tables.fill(None);
    }

    /// Hit and miss counts since creation or the last [`reset_stats`](Self::reset_stats).
    pub fn stats(&self) -> CacheStats {
        self.stats
    }

    /// Zeroes the hit and miss counters.
    pub fn reset_stats(&mut self) {
        self.stats = CacheStats::default();
    }

    /// Consecutive pages of one address space land in consecutive slots, so a linear
    /// read never evicts itself; the root and mode only rotate the starting slot.
    fn slot_index(&self, mode: PagingMode, root: Root, va_page: u64) -> Option<usize> {
        let mask = (self.slots.len() as u64).checked_sub(1)?;
        Some(((va_page ^ space_hash(mode, root)) & mask) as usize)
    }
}

/// Slot of `region` in a table level of `len` slots (`None` when there are none).
fn table_slot_index(len: usize, mode: PagingMode, root: Root, region: u64) -> Option<usize> {
    let mask = (len as u64).checked_sub(1)?;
    Some(((region ^ space_hash(mode, root)) & mask) as usize)
}

/// Rotates where an address space's entries start, so spaces do not all collide.
fn space_hash(mode: PagingMode, root: Root) -> u64 {
    let space = root
        .frame
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(root.offset).wrapping_mul(0xC2B2_AE3D_27D4_EB4F))
        .wrapping_add(mode_tag(mode));
    space >> 32
}

/// log2 of the bytes one last-level table maps (`None` without paging).
fn region_shift(mode: PagingMode) -> Option<u32> {
    mode.levels().last().map(|l| l.shift + l.index_bits)
}

fn mode_tag(mode: PagingMode) -> u64 {
    match mode {
        PagingMode::None => 0,
        PagingMode::TwoLevel { pse: false } => 1 << 40,
        PagingMode::TwoLevel { pse: true } => 2 << 40,
        PagingMode::Pae => 3 << 40,
        PagingMode::FourLevel => 4 << 40,
        PagingMode::FiveLevel => 5 << 40,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::paging::{ENTRY_LARGE_PAGE, ENTRY_PRESENT};
    use std::collections::HashMap;

    type Tables = HashMap<u64, Box<[u8; 4096]>>;

    fn put(t: &mut Tables, frame: u64, index: usize, entry: u64) {
        let page = t.entry(frame).or_insert_with(|| Box::new([0; 4096]));
        page[index * 8..index * 8 + 8].copy_from_slice(&entry.to_le_bytes());
    }

    /// Two 4-level address spaces: root 1 maps VA 0 → frame 0x100 + page, root 11
    /// maps VA 0 → frame 0x200 + page (512 pages each), root 21 maps a 2 MiB page at
    /// VA 0 → 0x4000_0000.
    fn two_spaces() -> Tables {
        let mut t = Tables::new();
        for (root, target) in [(1u64, 0x100u64), (11, 0x200)] {
            put(&mut t, root, 0, ((root + 1) << 12) | ENTRY_PRESENT);
            put(&mut t, root + 1, 0, ((root + 2) << 12) | ENTRY_PRESENT);
            put(&mut t, root + 2, 0, ((root + 3) << 12) | ENTRY_PRESENT);
            for i in 0..512 {
                put(
                    &mut t,
                    root + 3,
                    i,
                    ((target + i as u64) << 12) | ENTRY_PRESENT,
                );
            }
        }
        put(&mut t, 21, 0, (22 << 12) | ENTRY_PRESENT);
        put(&mut t, 22, 0, (23 << 12) | ENTRY_PRESENT);
        put(
            &mut t,
            23,
            0,
            0x4000_0000 | ENTRY_LARGE_PAGE | ENTRY_PRESENT,
        );
        t
    }

    const FOUR: PagingMode = PagingMode::FourLevel;

    #[test]
    fn second_lookup_hits() {
        let t = two_spaces();
        let mut cache = TranslationCache::new(64);
        let a = cache
            .translate(&t, FOUR, Root::new(1), VirtAddr(0x3123))
            .unwrap();
        let b = cache
            .translate(&t, FOUR, Root::new(1), VirtAddr(0x3FFF))
            .unwrap();
        assert_eq!((a.frame, a.offset), (0x103, 0x123));
        assert_eq!((b.frame, b.offset), (0x103, 0xFFF));
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 1,
                table_hits: 0
            }
        );
    }

    #[test]
    fn roots_and_modes_are_part_of_the_key() {
        let t = two_spaces();
        let mut cache = TranslationCache::new(64);
        let va = VirtAddr(0x5000);
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(1), va).unwrap().frame,
            0x105
        );
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(11), va).unwrap().frame,
            0x205
        );
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(1), va).unwrap().frame,
            0x105
        );
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(11), va).unwrap().frame,
            0x205
        );
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 2,
                misses: 2,
                table_hits: 0
            }
        );
        // Same root and address under a different mode is a different translation.
        assert!(cache
            .lookup(PagingMode::FiveLevel, Root::new(1), va)
            .is_none());
    }

    #[test]
    fn large_pages_cache_each_4k_frame() {
        let t = two_spaces();
        let mut cache = TranslationCache::new(8);
        for page in [0u64, 1, 511, 1] {
            let got = cache
                .translate(&t, FOUR, Root::new(21), VirtAddr(page << 12 | 8))
                .unwrap();
            assert_eq!(
                (got.frame, got.offset, got.page_size),
                (0x40000 + page, 8, PageSize::Size2M)
            );
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 1,
                misses: 3,
                table_hits: 0
            }
        );
    }

    #[test]
    fn collisions_evict_but_stay_correct() {
        let t = two_spaces();
        let mut cache = TranslationCache::new(1);
        assert_eq!(cache.capacity(), 1);
        for round in 0..3 {
            for page in [7u64, 9] {
                let got = cache
                    .translate(&t, FOUR, Root::new(1), VirtAddr(page << 12))
                    .unwrap();
                assert_eq!(got.frame, 0x100 + page, "round {round}");
            }
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                misses: 6,
                table_hits: 5
            }
        );
    }

    #[test]
    fn a_linear_range_fits_without_self_eviction() {
        let t = two_spaces();
        let mut cache = TranslationCache::new(512);
        for pass in 0..2 {
            for page in 0..512u64 {
                let got = cache
                    .translate(&t, FOUR, Root::new(11), VirtAddr(page << 12))
                    .unwrap();
                assert_eq!(got.frame, 0x200 + page, "pass {pass}");
            }
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 512,
                misses: 512,
                table_hits: 511
            }
        );
    }

    #[test]
    fn clear_forgets_and_errors_are_not_cached() {
        let mut t = two_spaces();
        let mut cache = TranslationCache::new(16);
        let va = VirtAddr(0x8000_0000); // PDPT[2]: not present yet
        assert!(matches!(
            cache.translate(&t, FOUR, Root::new(1), va),
            Err(WalkError::NotPresent { .. })
        ));
        put(
            &mut t,
            2,
            2,
            0x7_0000_0000 | ENTRY_LARGE_PAGE | ENTRY_PRESENT,
        );
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(1), va).unwrap().frame,
            0x70_0000
        );
        // Change the mapping: the cache keeps the stale frame until cleared.
        put(
            &mut t,
            2,
            2,
            0x8_0000_0000 | ENTRY_LARGE_PAGE | ENTRY_PRESENT,
        );
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(1), va).unwrap().frame,
            0x70_0000
        );
        cache.clear();
        assert_eq!(
            cache.translate(&t, FOUR, Root::new(1), va).unwrap().frame,
            0x80_0000
        );
        cache.reset_stats();
        assert_eq!(cache.stats(), CacheStats::default());
    }

    #[test]
    fn a_remembered_last_level_table_serves_its_whole_region() {
        let mut t = two_spaces();
        let mut cache = TranslationCache::new(64);
        let root = Root::new(1);
        assert_eq!(
            cache
                .translate(&t, FOUR, root, VirtAddr(0x1008))
                .unwrap()
                .frame,
            0x101
        );
        // Make every walk fail at the PML4, and a PTE of the region not present: only
        // the remembered PT is read now.
        put(&mut t, 1, 0, 0);
        put(&mut t, 4, 7, 0);
        let got = cache.translate(&t, FOUR, root, VirtAddr(0x5123)).unwrap();
        assert_eq!(
            (got.frame, got.offset, got.page_size),
            (0x105, 0x123, PageSize::Size4K)
        );
        // Its errors are the walker's, from the PT.
        let fresh = two_spaces();
        let mut broken_pte = fresh.clone();
        put(&mut broken_pte, 4, 7, 0);
        assert_eq!(
            cache.translate(&t, FOUR, root, VirtAddr(0x7000)),
            Err(walk(&broken_pte, FOUR, root, VirtAddr(0x7000)).unwrap_err())
        );
        // Another region or mode of this root: full walks, which now fail.
        for (mode, va) in [(FOUR, 0x20_0000), (PagingMode::FiveLevel, 0x5000)] {
            assert!(
                cache.translate(&t, mode, root, VirtAddr(va)).is_err(),
                "{va:#x}"
            );
        }
        // Another root: its own tables.
        let other = cache.translate(&t, FOUR, Root::new(11), VirtAddr(0x5000));
        assert_eq!(other.map(|c| c.frame), Ok(0x205));
        // Large pages have no last-level table to remember.
        let mut cache = TranslationCache::new(64);
        cache
            .translate(&fresh, FOUR, Root::new(21), VirtAddr(0x1000))
            .unwrap();
        assert_eq!(
            cache.last_level_table(FOUR, Root::new(21), VirtAddr(0x2000)),
            None
        );
        cache.clear();
        assert_eq!(cache.last_level_table(FOUR, root, VirtAddr(0x2000)), None);
    }

    #[test]
    fn a_disabled_cache_walks_every_time() {
        let t = two_spaces();
        let mut cache = TranslationCache::disabled();
        assert_eq!(cache.capacity(), 0);
        for _ in 0..3 {
            let got = cache
                .translate(&t, FOUR, Root::new(1), VirtAddr(0x7008))
                .unwrap();
            assert_eq!((got.frame, got.offset), (0x107, 8));
        }
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 0,
                misses: 3,
                table_hits: 0
            }
        );
        cache.clear();
    }

    #[test]
    fn capacity_is_a_bounded_power_of_two() {
        assert_eq!(TranslationCache::new(0).capacity(), 1);
        assert_eq!(TranslationCache::new(100).capacity(), 128);
        assert_eq!(TranslationCache::new(usize::MAX).capacity(), 1 << 20);
        assert_eq!(
            TranslationCache::default().capacity(),
            TranslationCache::DEFAULT_CAPACITY
        );
    }
}
