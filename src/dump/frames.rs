//! Which frame each dumped page is: pfn and mfn lookups without reading the whole dump.
//!
//! ELF dumps list pages in ascending pfn order, so pfn → page is a binary search in the
//! mapped table itself. mfn → page needs an index, built once on first use: a `Vec<u32>`
//! of page positions sorted by mfn (4 bytes per page, the only per-page memory we spend).

use std::sync::OnceLock;

use crate::addr::{GuestFrame, MachineFrame, PageIndex};

use super::source::LeRead;

/// Xen's "no frame" marker in p2m/pfn tables.
pub const INVALID_FRAME: u64 = !0;

/// Start of the VGA hole the Xen 3.0.4 HVM builder skipped.
const VGA_HOLE: u64 = 0xA0;
/// Pages in that hole.
const VGA_HOLE_PAGES: u64 = 0x20;
/// First frame of the MMIO hole below 4 GiB; RAM that would land there was moved up.
const MMIO_HOLE: u64 = 0xF_0000;
/// Size of that hole, in pages.
const MMIO_HOLE_PAGES: u64 = 0x1_0000;

/// How a legacy (pre-ELF) HVM dump's page positions relate to pfns.
///
/// Legacy dumps store only mfns, in the hypervisor's allocation order. The HVM domain
/// builder populated memory in pfn order, so position ≈ pfn, apart from the holes it
/// skipped (derived from the Xen 3.0.3/3.0.4 builders; see xen-dump-format.md §2.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum LegacyHvmLayout {
    /// Xen 3.0.0–3.0.3 (magic 0xF00FEBED + VGCF_HVM_GUEST): position = pfn, RAM
    /// beyond the MMIO hole relocated above 4 GiB.
    Contiguous,
    /// Xen 3.0.4 (magic 0xF00FEBEE): the VGA hole 0xA0–0xBF skipped as well.
    SkipsVgaHole,
}

impl LegacyHvmLayout {
    fn position_to_pfn(self, p: u64) -> u64 {
        let mut q = p;
        if self == LegacyHvmLayout::SkipsVgaHole && q >= VGA_HOLE {
            q += VGA_HOLE_PAGES;
        }
        if q >= MMIO_HOLE {
            q += MMIO_HOLE_PAGES;
        }
        q
    }

    fn pfn_to_position(self, pfn: u64) -> Option<u64> {
        let mut q = pfn;
        if q >= MMIO_HOLE + MMIO_HOLE_PAGES {
            q -= MMIO_HOLE_PAGES;
        } else if q >= MMIO_HOLE {
            return None;
        }
        if self == LegacyHvmLayout::SkipsVgaHole && q >= VGA_HOLE {
            if q < VGA_HOLE + VGA_HOLE_PAGES {
                return None;
            }
            q -= VGA_HOLE_PAGES;
        }
        Some(q)
    }
}

/// The table that names the frame of each page.
#[derive(Clone, Copy, Debug)]
pub enum FrameTableKind {
    /// `.xen_p2m`: 16-byte `{pfn, gmfn}` entries (PV).
    P2m,
    /// `.xen_pfn`: 8-byte pfn entries (HVM/PVH). No machine frames.
    Pfn,
    /// Legacy index: mfns, 4 or 8 bytes each, in allocation order.
    LegacyMfns {
        width: u8,
        hvm: Option<LegacyHvmLayout>,
    },
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
    by_mfn: OnceLock<Vec<u32>>,
    /// First entry whose pfn is not above the one before it (a damaged table).
    unsorted_at: Option<u64>,
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
        };
        // Only a tail of `~0` entries may be invalid (padding to tot_pages); trim it so
        // the searches below see only real pages.
        if !matches!(kind, FrameTableKind::LegacyMfns { .. }) {
            while t.valid > 0 && t.raw_pfn(file, t.valid - 1) == Some(INVALID_FRAME) {
                t.valid -= 1;
            }
            // pfn lookups binary-search the table in place, which needs ascending
            // pfns; note where a damaged table breaks that so it can be reported.
            let mut prev: Option<u64> = None;
            for i in 0..t.valid {
                let pfn = t.raw_pfn(file, i);
                if pfn.is_none() || pfn == Some(INVALID_FRAME) || (prev.is_some() && pfn <= prev) {
                    t.unsorted_at = Some(i);
                    break;
                }
                prev = pfn;
            }
        }
        t
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

    /// The guest frame of page `idx`, if the dump says (legacy PV dumps never do).
    pub fn pfn_of(&self, file: &[u8], idx: PageIndex) -> Option<GuestFrame> {
        if idx.0 >= self.valid {
            return None;
        }
        match self.kind {
            FrameTableKind::LegacyMfns { hvm: Some(l), .. } => {
                Some(GuestFrame(l.position_to_pfn(idx.0)))
            }
            FrameTableKind::LegacyMfns { hvm: None, .. } => None,
            _ => self
                .raw_pfn(file, idx.0)
                .filter(|&v| v != INVALID_FRAME)
                .map(GuestFrame),
        }
    }

    /// The machine frame of page `idx`, if the dump says (ELF HVM dumps never do).
    pub fn mfn_of(&self, file: &[u8], idx: PageIndex) -> Option<MachineFrame> {
        if idx.0 >= self.valid {
            return None;
        }
        self.raw_mfn(file, idx.0)
            .filter(|&v| v != INVALID_FRAME)
            .map(MachineFrame)
    }

    /// Can this table answer pfn lookups at all?
    pub fn knows_pfns(&self) -> bool {
        !matches!(self.kind, FrameTableKind::LegacyMfns { hvm: None, .. })
    }

    /// Can this table answer mfn lookups at all?
    pub fn knows_mfns(&self) -> bool {
        !matches!(self.kind, FrameTableKind::Pfn)
    }

    /// The page holding guest frame `pfn`.
    pub fn page_of_pfn(&self, file: &[u8], pfn: GuestFrame) -> Option<PageIndex> {
        match self.kind {
            FrameTableKind::LegacyMfns { hvm: None, .. } => None,
            FrameTableKind::LegacyMfns { hvm: Some(l), .. } => l
                .pfn_to_position(pfn.0)
                .filter(|&p| p < self.valid)
                .map(PageIndex),
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

    fn mfn_index(&self, file: &[u8]) -> &[u32] {
        self.by_mfn.get_or_init(|| {
            // Positions fit in u32: open() rejects dumps of more than u32::MAX pages.
            let mut keyed: Vec<u32> = (0..self.valid as u32)
                .filter(|&i| {
                    self.raw_mfn(file, u64::from(i))
                        .is_some_and(|m| m != INVALID_FRAME)
                })
                .collect();
            keyed.sort_unstable_by_key(|&i| {
                self.raw_mfn(file, u64::from(i)).unwrap_or(INVALID_FRAME)
            });
            keyed
        })
    }

    /// The page holding machine frame `mfn`.
    pub fn page_of_mfn(&self, file: &[u8], mfn: MachineFrame) -> Option<PageIndex> {
        if !self.knows_mfns() {
            return None;
        }
        let idx = self.mfn_index(file);
        let key = |i: u32| self.raw_mfn(file, u64::from(i)).unwrap_or(INVALID_FRAME);
        let pos = idx.partition_point(|&i| key(i) < mfn.0);
        idx.get(pos)
            .filter(|&&i| key(i) == mfn.0)
            .map(|&i| PageIndex(u64::from(i)))
    }

    /// Lowest and highest pfn in the dump (from the table's ends: it is ascending).
    pub fn pfn_range(&self, file: &[u8]) -> Option<(GuestFrame, GuestFrame)> {
        if self.valid == 0 {
            return None;
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
        let idx = self.mfn_index(file);
        let first = self.mfn_of(file, PageIndex(u64::from(*idx.first()?)))?;
        let last = self.mfn_of(file, PageIndex(u64::from(*idx.last()?)))?;
        Some((first, last))
    }

    /// Bytes of memory used by indexes built so far.
    pub fn index_bytes(&self) -> usize {
        self.by_mfn.get().map_or(0, |v| v.capacity() * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_hvm_positions_skip_the_holes() {
        let l = LegacyHvmLayout::SkipsVgaHole;
        assert_eq!(l.position_to_pfn(0x9F), 0x9F);
        assert_eq!(l.position_to_pfn(0xA0), 0xC0);
        assert_eq!(l.pfn_to_position(0xB0), None);
        assert_eq!(l.pfn_to_position(0xC0), Some(0xA0));
        // Position whose pfn would fall in the MMIO hole is relocated above 4 GiB.
        assert_eq!(l.position_to_pfn(0xEFFE0), 0x10_0000);
        assert_eq!(l.pfn_to_position(0x10_0000), Some(0xEFFE0));
        assert_eq!(l.pfn_to_position(0xF_8000), None);
        let c = LegacyHvmLayout::Contiguous;
        assert_eq!(c.position_to_pfn(0xA0), 0xA0);
        for p in [0u64, 0x9F, 0xA0, 0xC0, 0x1234, 0xEFFFF, 0xF0000, 0x123456] {
            assert_eq!(c.pfn_to_position(c.position_to_pfn(p)), Some(p));
            assert_eq!(l.pfn_to_position(l.position_to_pfn(p)), Some(p));
        }
    }
}
