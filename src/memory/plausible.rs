//! Does a page look like a page table of a given level?
//!
//! Used where the dump cannot say which page is which and the guest's own tables have
//! to tell: choosing how a legacy HVM dump's slots map to guest frames, and deciding
//! whether a vCPU's stored root is a table at all. A page passes when it has at least
//! one present entry and every present entry is well formed for its level: no reserved
//! bits, no PS bit where the mode has no large pages, and table pointers to frames
//! below `frame_limit`. Zero pages, text and most data fail on their first entries;
//! a page of small odd numbers could pass, which is why callers count over many tables.

use super::paging::{PagingMode, ENTRY_LARGE_PAGE, ENTRY_PRESENT};

/// The entries of a table: 4 bytes each in 2-level mode, 8 otherwise.
fn entries(mode: PagingMode, table: &[u8]) -> impl Iterator<Item = u64> + '_ {
    let size = mode.entry_size().max(1) as usize;
    table.chunks_exact(size).map(move |e| match size {
        4 => u64::from(u32::from_le_bytes([e[0], e[1], e[2], e[3]])),
        _ => u64::from_le_bytes([e[0], e[1], e[2], e[3], e[4], e[5], e[6], e[7]]),
    })
}

/// How a present entry at `depth` (0 = the root level) of `mode` reads.
enum Entry {
    /// Points to a next-level table in this frame.
    Table(u64),
    /// Maps a page (4 KiB or large) starting at this frame.
    Leaf(u64),
    /// Malformed.
    Bad,
}

/// Frames below this (4 GiB) are plausible leaf targets whatever the guest's size: the
/// MMIO hole and the local APIC live there.
const LOW_FRAMES: u64 = 1 << 20;

fn classify(mode: PagingMode, depth: usize, entry: u64) -> Entry {
    let levels = mode.levels();
    let Some(spec) = levels.get(depth) else {
        return Entry::Bad;
    };
    let last = depth + 1 == levels.len();
    let ps = entry & ENTRY_LARGE_PAGE != 0;
    // Without CR4.PSE the PS bit of a 2-level PDE is ignored.
    let large = !last && ps && spec.leaf.is_some();
    let ignored_ps = matches!(mode, PagingMode::TwoLevel { pse: false });
    if !last && ps && spec.leaf.is_none() && !ignored_ps {
        return Entry::Bad;
    }
    if mode.reserved_bits(spec.level, large, entry) != 0 {
        return Entry::Bad;
    }
    if last || large {
        let size = if last {
            super::paging::PageSize::Size4K
        } else {
            spec.leaf.unwrap_or(super::paging::PageSize::Size4K)
        };
        Entry::Leaf(mode.leaf_frame(size, entry))
    } else {
        Entry::Table(mode.table_frame(entry))
    }
}

/// Does `table` (the bytes of one table: a page, or a PAE PDPT's 32 bytes) look like a
/// table at `depth` (0 = the root level) of `mode`, with every table pointer below
/// `frame_limit`?
pub fn looks_like_table(mode: PagingMode, depth: usize, table: &[u8], frame_limit: u64) -> bool {
    let mut present = 0u32;
    for e in entries(mode, table) {
        if e & ENTRY_PRESENT == 0 {
            continue;
        }
        present += 1;
        match classify(mode, depth, e) {
            Entry::Bad => return false,
            Entry::Table(f) if f >= frame_limit => return false,
            Entry::Leaf(f) if f >= frame_limit.max(LOW_FRAMES) => return false,
            Entry::Table(_) | Entry::Leaf(_) => {}
        }
    }
    present > 0
}

/// Present entries of a root table (`depth` 0) and how many of them are malformed
/// (table pointers at or above `frame_limit` included).
pub fn table_quality(mode: PagingMode, table: &[u8], frame_limit: u64) -> (u32, u32) {
    let (mut present, mut bad) = (0, 0);
    for e in entries(mode, table).filter(|e| e & ENTRY_PRESENT != 0) {
        present += 1;
        match classify(mode, 0, e) {
            Entry::Bad => bad += 1,
            Entry::Table(f) if f >= frame_limit => bad += 1,
            _ => {}
        }
    }
    (present, bad)
}

/// The frames of the next-level tables `table` (at `depth` of `mode`) points to, in
/// entry order.
pub fn child_tables(mode: PagingMode, depth: usize, table: &[u8]) -> Vec<u64> {
    entries(mode, table)
        .filter(|e| e & ENTRY_PRESENT != 0)
        .filter_map(|e| match classify(mode, depth, e) {
            Entry::Table(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// The bytes of the root table in `page` at byte `offset`: a PAE PDPT is 32 bytes.
pub fn root_table(mode: PagingMode, page: &[u8], offset: u16) -> Option<&[u8]> {
    let len = match mode {
        PagingMode::Pae => 32,
        _ => page.len(),
    };
    let start = usize::from(offset);
    page.get(start..start.checked_add(len)?.min(page.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_of(entries: &[(usize, u64)]) -> Vec<u8> {
        let mut p = vec![0u8; 4096];
        for &(i, e) in entries {
            p[i * 8..i * 8 + 8].copy_from_slice(&e.to_le_bytes());
        }
        p
    }

    #[test]
    fn tables_pass_and_data_fails() {
        let four = PagingMode::FourLevel;
        let pml4 = page_of(&[(0, 0x1234_0067), (511, 0x1235_0063)]);
        assert!(looks_like_table(four, 0, &pml4, 0x2_0000));
        assert_eq!(child_tables(four, 0, &pml4), [0x12340, 0x12350]);
        // A pointer past the guest's memory is not a table pointer.
        assert!(!looks_like_table(four, 0, &pml4, 0x1_0000));
        // PS in a PML4 entry is malformed; in a PD entry it maps 2 MiB.
        let ps = page_of(&[(3, 0x20_0000 | 0x83)]);
        assert!(!looks_like_table(four, 0, &ps, u64::MAX));
        assert!(looks_like_table(four, 2, &ps, u64::MAX));
        assert!(child_tables(four, 2, &ps).is_empty());
        // Zero pages have no present entry; text has reserved bits or wild frames.
        assert!(!looks_like_table(four, 1, &[0u8; 4096], u64::MAX));
        let text: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert!(!looks_like_table(four, 3, &text, 0x10_0000));
        // A PAE PDPT is four entries; bit 8 is reserved there.
        let pdpt = page_of(&[(0, 0x5001), (3, 0x6001)]);
        let root = root_table(PagingMode::Pae, &pdpt, 0).unwrap();
        assert_eq!(root.len(), 32);
        assert!(looks_like_table(PagingMode::Pae, 0, root, 0x100));
        let bad = page_of(&[(0, 0x5101)]);
        assert!(!looks_like_table(PagingMode::Pae, 0, &bad[..32], 0x100));
        // 2-level: 4-byte entries.
        let mut pd = vec![0u8; 4096];
        pd[768 * 4..768 * 4 + 4].copy_from_slice(&0x0040_0083u32.to_le_bytes());
        pd[769 * 4..769 * 4 + 4].copy_from_slice(&0x0000_7067u32.to_le_bytes());
        let two = PagingMode::TwoLevel { pse: true };
        assert!(looks_like_table(two, 0, &pd, 0x800));
        assert_eq!(child_tables(two, 0, &pd), [7]);
    }
}
