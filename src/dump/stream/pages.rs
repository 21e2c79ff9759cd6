//! Where each page of a saved image is: built in one pass over the stream's PAGE_DATA
//! records, without copying a page.
//!
//! A stream sends pages in batches (PAGE_DATA records of up to 1024 pfns), and may send
//! a page more than once: live migration sends pages dirtied since the last pass again,
//! a checkpointed stream (Remus, COLO) sends each checkpoint's dirty pages. The newest
//! copy of a page is the one to serve. Every page copy that carries data gets a *slot*
//! number, in stream order; a small table of batches turns a slot into a file offset
//! (the pages of one record lie back to back after its pfn array), and the pfn → slot
//! map is kept as runs of consecutive pfns in consecutive slots (a pass sends pfns in
//! ascending order, so a whole pass is one run per stretch of populated memory). When a
//! stream is too scattered for runs to pay (under [`MIN_RUN`] pages per run on average),
//! the map falls back to one `(pfn, slot)` pair of 8 bytes per page.
//!
//! Page positions ([`PageIndex`]) are ranks in pfn order: position *k* is the *k*-th
//! lowest pfn the stream holds, so positions list pages by ascending pfn, as an ELF
//! dump does.

use std::collections::BTreeMap;

use crate::addr::{GuestFrame, PageIndex, PAGE_SIZE};

/// Fewest pages a run must average before the pair map is used instead.
pub const MIN_RUN: u64 = 16;
/// Runs kept before the average is checked at all (small streams keep runs).
const RUNS_BEFORE_CHECK: usize = 4096;
/// Highest pfn a page may have (the map keeps pfns and slots in 32 bits: a 16 TiB guest).
pub const MAX_PFN: u64 = u32::MAX as u64 - 1;
/// Most page copies a stream may hold (slots are 32-bit).
pub const MAX_SLOTS: u64 = u32::MAX as u64;

/// The pages of one PAGE_DATA record with data: slots `first_slot ..` start at
/// `data_offset` in the file, one page after the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Batch {
    data_offset: u64,
    first_slot: u32,
}

/// `count` pages from `pfn` are in slots `slot ..` (stream order while building; sorted
/// by pfn and disjoint once finished, with `rank` the position of `pfn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    pfn: u64,
    slot: u32,
    count: u32,
    rank: u32,
}

impl Run {
    fn pfn_end(&self) -> u64 {
        self.pfn + u64::from(self.count)
    }
}

/// The pfn → slot map while the stream is read.
#[derive(Debug)]
enum Building {
    Runs(Vec<Run>),
    /// `(pfn, slot)` in stream order.
    Pairs(Vec<(u32, u32)>),
}

/// Collects page copies in stream order.
#[derive(Debug)]
pub struct PageIndexBuilder {
    map: Building,
    batches: Vec<Batch>,
    slots: u64,
}

/// The slots and batches recorded when a checkpoint completed, to go back to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mark {
    slots: u64,
}

impl Mark {
    /// Page copies before the mark.
    pub fn slots(&self) -> u64 {
        self.slots
    }
}

impl Default for PageIndexBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl PageIndexBuilder {
    pub fn new() -> Self {
        PageIndexBuilder {
            map: Building::Runs(Vec::new()),
            batches: Vec::new(),
            slots: 0,
        }
    }

    /// Page copies so far.
    pub fn slots(&self) -> u64 {
        self.slots
    }

    /// Can another `pages` copies be taken?
    pub fn has_room(&self, pages: u64) -> bool {
        self.slots + pages <= MAX_SLOTS
    }

    /// A PAGE_DATA record's pages start at `data_offset`; the pages [`Self::page`]
    /// adds next are its, in order.
    pub fn start_batch(&mut self, data_offset: u64) {
        let first_slot = self.slots as u32;
        match self.batches.last_mut() {
            // A batch that got no page is replaced.
            Some(b) if u64::from(b.first_slot) == self.slots => b.data_offset = data_offset,
            _ => self.batches.push(Batch {
                data_offset,
                first_slot,
            }),
        }
    }

    /// The next page of the current batch holds `pfn` (≤ [`MAX_PFN`]); the caller
    /// checked [`Self::has_room`].
    pub fn page(&mut self, pfn: u64) {
        let slot = self.slots as u32;
        self.slots += 1;
        let scattered = match &mut self.map {
            Building::Runs(runs) => {
                if let Some(r) = runs.last_mut() {
                    if r.pfn_end() == pfn && r.slot + r.count == slot && r.count < u32::MAX {
                        r.count += 1;
                        return;
                    }
                }
                runs.push(Run {
                    pfn,
                    slot,
                    count: 1,
                    rank: 0,
                });
                runs.len() >= RUNS_BEFORE_CHECK
                    && (runs.len() as u64).saturating_mul(MIN_RUN) > self.slots
            }
            Building::Pairs(pairs) => {
                pairs.push((pfn as u32, slot));
                false
            }
        };
        if scattered {
            if let Building::Runs(runs) = &self.map {
                self.map = Building::Pairs(expand(runs));
            }
        }
    }

    /// The next page of the current batch is not kept (its pfn is out of range): its
    /// bytes still take their place in the record.
    pub fn skip_slot(&mut self) {
        self.slots += 1;
    }

    /// Where the stream stands now (a checkpoint completed).
    pub fn mark(&self) -> Mark {
        Mark { slots: self.slots }
    }

    /// Forget every page copy after `mark` (a checkpoint the stream did not complete).
    pub fn rewind(&mut self, mark: Mark) {
        if mark.slots >= self.slots {
            return;
        }
        let keep = mark.slots;
        match &mut self.map {
            Building::Runs(runs) => {
                while let Some(r) = runs.last_mut() {
                    let start = u64::from(r.slot);
                    if start >= keep {
                        runs.pop();
                    } else {
                        r.count = r.count.min((keep - start) as u32);
                        break;
                    }
                }
            }
            Building::Pairs(pairs) => {
                let at = pairs.partition_point(|&(_, s)| u64::from(s) < keep);
                pairs.truncate(at);
            }
        }
        while self
            .batches
            .last()
            .is_some_and(|b| u64::from(b.first_slot) >= keep)
        {
            self.batches.pop();
        }
        self.slots = keep;
    }

    /// The finished index: the newest copy of every page, by pfn.
    pub fn finish(self) -> StreamPages {
        let PageIndexBuilder {
            map,
            mut batches,
            slots,
        } = self;
        batches.shrink_to_fit();
        let map = match map {
            Building::Runs(runs) => {
                let mut runs = newest_runs(runs);
                let mut rank = 0u64;
                for r in &mut runs {
                    r.rank = rank as u32;
                    rank += u64::from(r.count);
                }
                runs.shrink_to_fit();
                PfnMap::Runs { runs, pages: rank }
            }
            Building::Pairs(mut pairs) => {
                // Stable: copies of one pfn stay in stream order, and the last wins.
                pairs.sort_by_key(|&(pfn, _)| pfn);
                let mut out: Vec<(u32, u32)> = Vec::with_capacity(pairs.len());
                for p in pairs {
                    match out.last_mut() {
                        Some(last) if last.0 == p.0 => *last = p,
                        _ => out.push(p),
                    }
                }
                out.shrink_to_fit();
                PfnMap::Pairs(out)
            }
        };
        StreamPages {
            map,
            batches,
            copies: slots,
        }
    }
}

/// Runs, one pair per page.
fn expand(runs: &[Run]) -> Vec<(u32, u32)> {
    let pages: u64 = runs.iter().map(|r| u64::from(r.count)).sum();
    let mut pairs = Vec::with_capacity(pages as usize);
    for r in runs {
        for i in 0..r.count {
            pairs.push(((r.pfn + u64::from(i)) as u32, r.slot + i));
        }
    }
    pairs
}

/// Runs in stream order → disjoint runs sorted by pfn, where a later copy of a pfn
/// hides every earlier one.
fn newest_runs(runs: Vec<Run>) -> Vec<Run> {
    // One pass in pfn order, the common case: nothing was sent twice.
    if runs.windows(2).all(|w| w[0].pfn_end() <= w[1].pfn) {
        return runs;
    }
    // Newest first, keeping only what no newer run covered. `covered` holds disjoint
    // pfn intervals (start → end), merged as they grow.
    let mut covered: BTreeMap<u64, u64> = BTreeMap::new();
    let mut out = Vec::with_capacity(runs.len());
    for r in runs.into_iter().rev() {
        let (start, end) = (r.pfn, r.pfn_end());
        // Pieces of [start, end) not covered yet.
        let mut at = start;
        let first = covered
            .range(..=start)
            .next_back()
            .filter(|(_, &e)| e > start)
            .map(|(&s, _)| s);
        let mut overlapping: Vec<(u64, u64)> = first
            .map(|s| (s, covered[&s]))
            .into_iter()
            .chain(covered.range(start + 1..end).map(|(&s, &e)| (s, e)))
            .collect();
        overlapping.dedup();
        for &(s, e) in &overlapping {
            if s > at {
                out.push(piece(&r, at, s));
            }
            at = at.max(e);
        }
        if at < end {
            out.push(piece(&r, at, end));
        }
        // Merge [start, end) and what it touches into one interval.
        let mut lo = start;
        let mut hi = end;
        for (s, e) in overlapping {
            covered.remove(&s);
            lo = lo.min(s);
            hi = hi.max(e);
        }
        // Neighbours that merely touch.
        if let Some((&s, &e)) = covered.range(..lo).next_back() {
            if e == lo {
                covered.remove(&s);
                lo = s;
            }
        }
        if let Some(e) = covered.get(&hi).copied() {
            covered.remove(&hi);
            hi = e;
        }
        covered.insert(lo, hi);
    }
    out.sort_unstable_by_key(|r| r.pfn);
    out
}

/// The part `[from, to)` of run `r`.
fn piece(r: &Run, from: u64, to: u64) -> Run {
    Run {
        pfn: from,
        slot: r.slot + (from - r.pfn) as u32,
        count: (to - from) as u32,
        rank: 0,
    }
}

/// pfn → newest slot, sorted by pfn.
#[derive(Debug)]
enum PfnMap {
    Runs { runs: Vec<Run>, pages: u64 },
    Pairs(Vec<(u32, u32)>),
}

/// Every page of a saved image: its newest copy, found by pfn or by position.
#[derive(Debug)]
pub struct StreamPages {
    map: PfnMap,
    batches: Vec<Batch>,
    copies: u64,
}

impl StreamPages {
    /// Distinct pages.
    pub fn pages(&self) -> u64 {
        match &self.map {
            PfnMap::Runs { pages, .. } => *pages,
            PfnMap::Pairs(p) => p.len() as u64,
        }
    }

    /// Page copies the stream held (older copies included).
    pub fn copies(&self) -> u64 {
        self.copies
    }

    /// Bytes this index holds.
    pub fn bytes(&self) -> usize {
        let map = match &self.map {
            PfnMap::Runs { runs, .. } => runs.capacity() * std::mem::size_of::<Run>(),
            PfnMap::Pairs(p) => p.capacity() * 8,
        };
        map + self.batches.capacity() * std::mem::size_of::<Batch>()
    }

    /// Is the map made of runs (rather than one pair a page)?
    pub fn is_runs(&self) -> bool {
        matches!(self.map, PfnMap::Runs { .. })
    }

    /// Number of runs or pairs, and of batches.
    pub fn shape(&self) -> (usize, usize) {
        let n = match &self.map {
            PfnMap::Runs { runs, .. } => runs.len(),
            PfnMap::Pairs(p) => p.len(),
        };
        (n, self.batches.len())
    }

    /// Position of the page holding `pfn`.
    pub fn page_of_pfn(&self, pfn: GuestFrame) -> Option<PageIndex> {
        match &self.map {
            PfnMap::Runs { runs, .. } => {
                let i = runs.partition_point(|r| r.pfn <= pfn.0).checked_sub(1)?;
                let r = &runs[i];
                (pfn.0 < r.pfn_end()).then(|| PageIndex(u64::from(r.rank) + (pfn.0 - r.pfn)))
            }
            PfnMap::Pairs(pairs) => {
                let key = u32::try_from(pfn.0).ok()?;
                pairs
                    .binary_search_by_key(&key, |&(p, _)| p)
                    .ok()
                    .map(|i| PageIndex(i as u64))
            }
        }
    }

    /// The run (or pair) holding position `index`: its first position, pfn and slot,
    /// and how many positions it holds.
    fn locate(&self, index: PageIndex) -> Option<(u64, u64, u64, u64)> {
        match &self.map {
            PfnMap::Runs { runs, pages } => {
                if index.0 >= *pages {
                    return None;
                }
                let i = runs
                    .partition_point(|r| u64::from(r.rank) <= index.0)
                    .checked_sub(1)?;
                let r = &runs[i];
                Some((
                    u64::from(r.rank),
                    r.pfn,
                    u64::from(r.slot),
                    u64::from(r.count),
                ))
            }
            PfnMap::Pairs(pairs) => {
                let &(pfn, slot) = pairs.get(usize::try_from(index.0).ok()?)?;
                Some((index.0, u64::from(pfn), u64::from(slot), 1))
            }
        }
    }

    /// The pfn of position `index`.
    pub fn pfn_of(&self, index: PageIndex) -> Option<GuestFrame> {
        let (rank, pfn, _, _) = self.locate(index)?;
        Some(GuestFrame(pfn + (index.0 - rank)))
    }

    /// Lowest and highest pfn.
    pub fn pfn_range(&self) -> Option<(GuestFrame, GuestFrame)> {
        let n = self.pages();
        if n == 0 {
            return None;
        }
        Some((self.pfn_of(PageIndex(0))?, self.pfn_of(PageIndex(n - 1))?))
    }

    /// File offset of the page at position `index`, and how many positions from it on
    /// (at most `max`) lie back to back in the file.
    pub fn offset_of(&self, index: PageIndex, max: u64) -> Option<(u64, u64)> {
        let (rank, _, slot0, count) = self.locate(index)?;
        let slot = slot0 + (index.0 - rank);
        let in_run = count - (index.0 - rank);
        let b = self
            .batches
            .partition_point(|b| u64::from(b.first_slot) <= slot)
            .checked_sub(1)?;
        let batch = &self.batches[b];
        let batch_end = self
            .batches
            .get(b + 1)
            .map_or(self.copies, |n| u64::from(n.first_slot));
        let in_batch = batch_end.checked_sub(slot)?;
        let offset = batch.data_offset + (slot - u64::from(batch.first_slot)) * PAGE_SIZE;
        Some((offset, in_run.min(in_batch).min(max).max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Build from `batches`: each a data offset and its pfns.
    fn build(batches: &[(u64, &[u64])]) -> StreamPages {
        let mut b = PageIndexBuilder::new();
        for (off, pfns) in batches {
            b.start_batch(*off);
            for &p in *pfns {
                b.page(p);
            }
        }
        b.finish()
    }

    fn where_(s: &StreamPages, pfn: u64) -> Option<u64> {
        let i = s.page_of_pfn(GuestFrame(pfn))?;
        assert_eq!(s.pfn_of(i), Some(GuestFrame(pfn)));
        Some(s.offset_of(i, 1)?.0)
    }

    #[test]
    fn one_pass_is_one_run_per_stretch() {
        let s = build(&[(0x1000, &[0, 1, 2, 3]), (0x9000, &[4, 5, 7, 8])]);
        assert!(s.is_runs());
        // Consecutive slots across two batches stay one run; pfn 6 breaks it.
        assert_eq!(s.shape(), (2, 2));
        assert_eq!(s.pages(), 8);
        assert_eq!(where_(&s, 0), Some(0x1000));
        assert_eq!(where_(&s, 3), Some(0x4000));
        assert_eq!(where_(&s, 4), Some(0x9000));
        assert_eq!(where_(&s, 8), Some(0x9000 + 3 * 4096));
        assert_eq!(where_(&s, 6), None);
        assert_eq!(s.page_of_pfn(GuestFrame(7)), Some(PageIndex(6)));
        // Contiguity stops at the batch boundary.
        assert_eq!(s.offset_of(PageIndex(1), 100), Some((0x2000, 3)));
        assert_eq!(s.pfn_range(), Some((GuestFrame(0), GuestFrame(8))));
    }

    #[test]
    fn the_newest_copy_wins() {
        // Pass 1: 0..8; pass 2 resends 2, 3 and 6; pass 3 resends 3.
        let s = build(&[
            (0x10000, &[0, 1, 2, 3, 4, 5, 6, 7]),
            (0x90000, &[2, 3, 6]),
            (0xf0000, &[3]),
        ]);
        assert_eq!(s.pages(), 8);
        assert_eq!(s.copies(), 12);
        assert_eq!(where_(&s, 1), Some(0x10000 + 4096));
        assert_eq!(where_(&s, 2), Some(0x90000));
        assert_eq!(where_(&s, 3), Some(0xf0000));
        assert_eq!(where_(&s, 4), Some(0x10000 + 4 * 4096));
        assert_eq!(where_(&s, 6), Some(0x90000 + 2 * 4096));
        for p in 0..8 {
            assert_eq!(s.pfn_of(PageIndex(p)), Some(GuestFrame(p)));
        }
    }

    #[test]
    fn scattered_streams_use_pairs_with_the_same_answers() {
        let mut b = PageIndexBuilder::new();
        b.start_batch(0);
        // Every other pfn, descending: no run longer than one page.
        let n = (RUNS_BEFORE_CHECK as u64) * 2;
        for i in 0..n {
            b.page((n - i) * 2);
        }
        b.start_batch(1 << 40);
        b.page(4);
        let s = b.finish();
        assert!(!s.is_runs());
        assert_eq!(s.pages(), n);
        assert_eq!(where_(&s, 4), Some(1 << 40));
        assert_eq!(where_(&s, 6), Some((n - 3) * 4096));
        assert_eq!(where_(&s, 5), None);
        assert!(s.bytes() < (n as usize) * 9 + 64);
    }

    #[test]
    fn rewinding_forgets_an_unfinished_checkpoint() {
        let mut b = PageIndexBuilder::new();
        b.start_batch(0x1000);
        for p in 0..4 {
            b.page(p);
        }
        let mark = b.mark();
        b.start_batch(0x8000);
        b.page(1);
        b.page(9);
        b.rewind(mark);
        let s = b.finish();
        assert_eq!(s.pages(), 4);
        assert_eq!(where_(&s, 1), Some(0x2000));
        assert_eq!(where_(&s, 9), None);
    }

    #[test]
    fn overlaps_of_every_shape_resolve_to_the_newest() {
        // A brute-force oracle over small random-looking streams.
        let mut seed = 0x1234_5678u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..200 {
            let mut b = PageIndexBuilder::new();
            let mut oracle: BTreeMap<u64, u64> = BTreeMap::new();
            let mut off = 0u64;
            for _ in 0..(next() % 6 + 1) {
                b.start_batch(off);
                let start = next() % 40;
                for i in 0..(next() % 20) {
                    let pfn = if next() % 4 == 0 {
                        next() % 60
                    } else {
                        start + i
                    };
                    b.page(pfn);
                    oracle.insert(pfn, off);
                    off += 4096;
                }
                off += 1 << 20;
            }
            let s = b.finish();
            assert_eq!(s.pages(), oracle.len() as u64);
            for pfn in 0..70 {
                assert_eq!(where_(&s, pfn), oracle.get(&pfn).copied(), "pfn {pfn}");
            }
        }
    }
}
