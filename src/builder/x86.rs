//! x86 paging structures and Xen's CR3 encodings, written down for the builder alone.
//!
//! The builder's page tables and CR3 values are the oracle the reader is tested
//! against, so they are encoded here from the definitions themselves, never with the
//! reader's code ([`crate::memory`]): a mistake shared by the writer and the reader
//! would pass every test. [`PagingMode`] and [`PageSize`] are used as *names* only;
//! which address bits index which table, the entry formats and the CR3 formats are
//! spelled out below.
//!
//! Sources:
//! * Intel SDM Vol. 3A ch. 4 "Paging": §4.3 32-bit paging (Figure 4-2 "Linear-Address
//!   Translation to a 4-KByte Page", Figure 4-3 for 4-MByte pages, Table 4-4 PDE format,
//!   Table 4-3 CR3), §4.4 PAE paging (Table 4-7 CR3 and PDPTE, Figures 4-5/4-6),
//!   §4.5 4-level and 5-level paging (Figures 4-8 to 4-10, Tables 4-14 to 4-20);
//!   PSE-36: 4-MByte PDE bits 20:13 hold physical-address bits 39:32 (Table 4-4).
//! * Xen public headers: `xen/include/public/arch-x86/xen-x86_64.h`
//!   (`xen_pfn_to_cr3(pfn) = (pfn << 12)`), `xen-x86_32.h`
//!   (`xen_pfn_to_cr3(pfn) = ((unsigned)(pfn) << 12) | ((unsigned)(pfn) >> 20)`, the
//!   "extended CR3" that folds frame bits 31:20 into CR3 bits 11:0).
//! * Xen 3.0.x `arch_get_info_guest` (`xen/arch/x86/domctl.c`, `dom0_ops.c`): the dumped
//!   `ctrlreg[3]` of an HVM vCPU is `xen_pfn_to_cr3` of the *machine* frame of its
//!   top-level table (xen-dump-format.md §4.7, §5).

use crate::addr::PAGE_SIZE;
use crate::dump::Width;
use crate::memory::{PageSize, PagingMode};

/// P, bit 0: the entry is present.
pub const PRESENT: u64 = 1;
/// R/W, bit 1: writes allowed.
pub const WRITABLE: u64 = 2;
/// U/S, bit 2: user-mode accesses allowed.
pub const USER: u64 = 4;
/// PS, bit 7 of a PDE (or long-mode PDPTE): the entry maps a page, not a table.
pub const PAGE_SIZE_BIT: u64 = 0x80;
/// PAT, bit 7 of an entry that maps a 4 KiB page (where a PDE has PS).
pub const PAT_4K: u64 = 0x80;
/// G, bit 8: global translation (entries that map a page).
pub const GLOBAL: u64 = 0x100;
/// PAT, bit 12 of an entry that maps a 2 MiB, 4 MiB or 1 GiB page.
pub const PAT_LARGE: u64 = 0x1000;
/// XD, bit 63 (PAE and long mode, with IA32_EFER.NXE): no instruction fetches.
pub const EXECUTE_DISABLE: u64 = 0x8000_0000_0000_0000;
/// Bits 11:9, ignored by the processor in every entry format: free for software.
pub const IGNORED_LOW: u64 = 0xE00;
/// Bits 62:52, ignored in long-mode entries (62:59 are protection keys in leaf entries
/// when CR4.PKE is set, still not address bits). Reserved in legacy PAE entries.
pub const IGNORED_HIGH_LONG: u64 = 0x7FF0_0000_0000_0000;

/// Physical-address width the builder encodes for PAE and long mode (the architectural
/// maximum MAXPHYADDR).
const MAX_PHYS_BITS: u32 = 52;
/// Physical-address width of a 4 MiB page with PSE-36 (PSE-40 on AMD).
const PSE36_PHYS_BITS: u32 = 40;

/// One table of a mode's hierarchy and the linear-address bits that index it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// The SDM's name for the table.
    pub name: &'static str,
    /// Highest linear-address bit of the index.
    pub high_bit: u32,
    /// Lowest linear-address bit of the index.
    pub low_bit: u32,
    /// Size of the page an entry of this table maps when it is a leaf: always for the
    /// page table, with PS = 1 for the others that may map pages.
    pub leaf: Option<PageSize>,
}

const fn level(name: &'static str, high_bit: u32, low_bit: u32, leaf: Option<PageSize>) -> Level {
    Level {
        name,
        high_bit,
        low_bit,
        leaf,
    }
}

// 32-bit paging (SDM Figure 4-2): PDE selected by bits 31:22, PTE by bits 21:12.
const TWO_LEVEL: [Level; 2] = [
    level("PD", 31, 22, None),
    level("PT", 21, 12, Some(PageSize::Size4K)),
];
const TWO_LEVEL_PSE: [Level; 2] = [
    level("PD", 31, 22, Some(PageSize::Size4M)),
    level("PT", 21, 12, Some(PageSize::Size4K)),
];
// PAE paging (SDM Figure 4-5): PDPTE bits 31:30, PDE 29:21, PTE 20:12.
const PAE: [Level; 3] = [
    level("PDPT", 31, 30, None),
    level("PD", 29, 21, Some(PageSize::Size2M)),
    level("PT", 20, 12, Some(PageSize::Size4K)),
];
// 4-level paging (SDM Figure 4-8): PML4E bits 47:39, PDPTE 38:30, PDE 29:21, PTE 20:12.
const FOUR_LEVEL: [Level; 4] = [
    level("PML4", 47, 39, None),
    level("PDPT", 38, 30, Some(PageSize::Size1G)),
    level("PD", 29, 21, Some(PageSize::Size2M)),
    level("PT", 20, 12, Some(PageSize::Size4K)),
];
// 5-level paging: a PML5E selected by bits 56:48 above the 4-level tables.
const FIVE_LEVEL: [Level; 5] = [
    level("PML5", 56, 48, None),
    level("PML4", 47, 39, None),
    level("PDPT", 38, 30, Some(PageSize::Size1G)),
    level("PD", 29, 21, Some(PageSize::Size2M)),
    level("PT", 20, 12, Some(PageSize::Size4K)),
];

/// The tables of `mode`, root first; empty without paging.
pub fn levels(mode: PagingMode) -> &'static [Level] {
    match mode {
        PagingMode::None => &[],
        PagingMode::TwoLevel { pse: false } => &TWO_LEVEL,
        PagingMode::TwoLevel { pse: true } => &TWO_LEVEL_PSE,
        PagingMode::Pae => &PAE,
        PagingMode::FourLevel => &FOUR_LEVEL,
        PagingMode::FiveLevel => &FIVE_LEVEL,
    }
}

impl Level {
    /// The index of `va`'s entry in this table: linear-address bits high..=low.
    pub fn index(&self, va: u64) -> u64 {
        let width = self.high_bit - self.low_bit + 1;
        (va >> self.low_bit) % (1u64 << width)
    }
}

/// Bytes per entry: 4 in 32-bit paging, 8 in PAE and long mode (0 without paging).
pub fn entry_bytes(mode: PagingMode) -> u64 {
    match mode {
        PagingMode::None => 0,
        PagingMode::TwoLevel { .. } => 4,
        PagingMode::Pae | PagingMode::FourLevel | PagingMode::FiveLevel => 8,
    }
}

/// Width of a linear address: 32 bits without long mode, 48 with 4-level paging, 57
/// with 5-level paging.
pub fn linear_bits(mode: PagingMode) -> u32 {
    match mode {
        PagingMode::None | PagingMode::TwoLevel { .. } | PagingMode::Pae => 32,
        PagingMode::FourLevel => 48,
        PagingMode::FiveLevel => 57,
    }
}

/// Whether the mode is one of a 32-bit guest (linear addresses of 32 bits).
pub fn is_32bit(mode: PagingMode) -> bool {
    linear_bits(mode) == 32
}

/// Whether `va` is a linear address of `mode`: below 4 GiB in the 32-bit modes; in long
/// mode canonical, i.e. bits 63 down to the top linear-address bit all equal.
pub fn is_linear_address(mode: PagingMode, va: u64) -> bool {
    let bits = linear_bits(mode);
    if bits == 32 {
        return va >> 32 == 0;
    }
    // Sign-extend from bit (bits - 1) and compare.
    let unused = 64 - bits;
    (((va << unused) as i64) >> unused) as u64 == va
}

/// Whether entries of `mode` have the XD bit (PAE and long mode).
pub fn has_execute_disable(mode: PagingMode) -> bool {
    entry_bytes(mode) == 8
}

/// Bits software may set in any entry of `mode` without the processor minding.
pub fn ignored_bits(mode: PagingMode) -> u64 {
    match mode {
        PagingMode::None => 0,
        PagingMode::TwoLevel { .. } | PagingMode::Pae => IGNORED_LOW,
        PagingMode::FourLevel | PagingMode::FiveLevel => IGNORED_LOW | IGNORED_HIGH_LONG,
    }
}

/// log2 of the bytes a page of `size` covers.
pub fn page_shift(size: PageSize) -> u32 {
    match size {
        PageSize::Size4K => 12,
        PageSize::Size2M => 21,
        PageSize::Size4M => 22,
        PageSize::Size1G => 30,
    }
}

/// Bytes a page of `size` covers.
pub fn page_bytes(size: PageSize) -> u64 {
    1 << page_shift(size)
}

/// 4 KiB frames a page of `size` covers.
pub fn page_frames(size: PageSize) -> u64 {
    page_bytes(size) / PAGE_SIZE
}

/// Highest physical-address bit + 1 an entry of `mode` can hold for a table or a page
/// of `size` (`None`: a table pointer).
fn phys_bits(mode: PagingMode, size: Option<PageSize>) -> u32 {
    match (mode, size) {
        // 32-bit paging: a PTE or a pointer to a page table holds bits 31:12.
        (PagingMode::TwoLevel { .. }, None | Some(PageSize::Size4K)) => 32,
        (PagingMode::TwoLevel { .. }, Some(_)) => PSE36_PHYS_BITS,
        _ => MAX_PHYS_BITS,
    }
}

/// Largest frame number an entry of `mode` can point to as a table (`size` `None`) or
/// as the first frame of a page of `size`.
pub fn max_frame(mode: PagingMode, size: Option<PageSize>) -> u64 {
    (1u64 << (phys_bits(mode, size) - 12)) - 1
}

/// The address bits of an entry of `mode` that points to the table in `frame`, with P
/// set (no other flags). `None` if the frame does not fit.
pub fn table_pointer(mode: PagingMode, frame: u64) -> Option<u64> {
    if entry_bytes(mode) == 0 || frame > max_frame(mode, None) {
        return None;
    }
    // Every format keeps a table's physical address in place: bits 31:12 (32-bit
    // paging) or bits M-1:12 (PAE, long mode).
    Some((frame * PAGE_SIZE) | PRESENT)
}

/// The address bits of an entry of `mode` mapping a page of `size` from frame `frame`
/// (aligned to the size), with P set and PS for a large page. `None` if the frame does
/// not fit or is not aligned.
pub fn page_pointer(mode: PagingMode, size: PageSize, frame: u64) -> Option<u64> {
    if entry_bytes(mode) == 0 || frame > max_frame(mode, Some(size)) {
        return None;
    }
    if frame % page_frames(size) != 0 {
        return None;
    }
    let pa = frame * PAGE_SIZE;
    Some(match size {
        PageSize::Size4K => pa | PRESENT,
        // 4 MiB PDE (PSE-36): bits 31:22 = PA[31:22], bits 20:13 = PA[39:32].
        PageSize::Size4M => {
            let low = pa % (1 << 32);
            let high = pa >> 32;
            low | (high << 13) | PAGE_SIZE_BIT | PRESENT
        }
        // 2 MiB PDE, 1 GiB PDPTE: the page's physical address in place.
        PageSize::Size2M | PageSize::Size1G => pa | PAGE_SIZE_BIT | PRESENT,
    })
}

/// The frame an entry of `mode` points to as a table: the inverse of
/// [`table_pointer`], address bits 31:12 (32-bit paging) or M-1:12, every flag and
/// ignored bit dropped. For tests that check a reader's walk step by step.
pub fn pointer_frame(mode: PagingMode, entry: u64) -> u64 {
    (entry % (1u64 << phys_bits(mode, None))) / PAGE_SIZE
}

/// The first frame of the page of `size` a leaf entry of `mode` maps: the inverse of
/// [`page_pointer`] (PAT, PS and the bits below the page size dropped; PSE-36 bits
/// 20:13 of a 4 MiB PDE put back as address bits 39:32).
pub fn page_frame(mode: PagingMode, size: PageSize, entry: u64) -> u64 {
    let pa = match size {
        PageSize::Size4K => return pointer_frame(mode, entry),
        PageSize::Size4M => {
            let low = entry % (1 << 32);
            let high = (entry >> 13) % (1 << (PSE36_PHYS_BITS - 32));
            low + (high << 32)
        }
        PageSize::Size2M | PageSize::Size1G => entry % (1u64 << MAX_PHYS_BITS),
    };
    pa / page_bytes(size) * page_frames(size)
}

/// The PAT bit of an entry mapping a page of `size`.
pub fn pat_bit(size: PageSize) -> u64 {
    match size {
        PageSize::Size4K => PAT_4K,
        _ => PAT_LARGE,
    }
}

/// EFER.SCE, bit 0: SYSCALL enabled.
pub const EFER_SCE: u64 = 1;
/// EFER.LME, bit 8: long mode enabled.
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA, bit 10: long mode active.
pub const EFER_LMA: u64 = 1 << 10;
/// EFER.NXE, bit 11: the XD bit in PAE and long-mode entries.
pub const EFER_NXE: u64 = 1 << 11;

/// The IA32_EFER of a kernel running with paging `mode` (SDM Vol. 3A §2.2.1, §4.1.1):
/// long mode enabled and active (and SYSCALL on) in 4- and 5-level paging, NXE wherever
/// entries have the XD bit.
pub fn efer_for(mode: PagingMode) -> u64 {
    match mode {
        PagingMode::FourLevel | PagingMode::FiveLevel => EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE,
        PagingMode::Pae => EFER_NXE,
        PagingMode::None | PagingMode::TwoLevel { .. } => 0,
    }
}

/// Xen's x86_64 `xen_pfn_to_cr3`: the frame shifted into place, `pfn << 12`.
pub fn xen_cr3_64(mfn: u64) -> u64 {
    mfn * PAGE_SIZE
}

/// Xen's x86_32 (and compat) `xen_pfn_to_cr3`, the "extended CR3":
/// `((unsigned)pfn << 12) | ((unsigned)pfn >> 20)` in 32-bit unsigned arithmetic, so
/// frame bits 19:0 land in CR3 bits 31:12 and frame bits 31:20 in CR3 bits 11:0.
pub fn xen_cr3_32(mfn: u64) -> u64 {
    let pfn = mfn & 0xFFFF_FFFF;
    let low = (pfn << 12) & 0xFFFF_FFFF;
    let high = pfn >> 20;
    low | high
}

/// The architectural CR3 that points to a top-level table at physical address `table`
/// (PCID, PWT and PCD zero), or `None` if CR3 of `mode` cannot hold it.
///
/// 32-bit paging: bits 31:12 (page-aligned, below 4 GiB). PAE: bits 31:5 (the PDPT is
/// 32-byte aligned, below 4 GiB). 4-/5-level: bits M-1:12.
pub fn architectural_cr3(mode: PagingMode, table: u64) -> Option<u64> {
    let (align, limit) = match mode {
        PagingMode::None => return None,
        PagingMode::TwoLevel { .. } => (PAGE_SIZE, 1u64 << 32),
        PagingMode::Pae => (32, 1 << 32),
        PagingMode::FourLevel | PagingMode::FiveLevel => (PAGE_SIZE, 1 << MAX_PHYS_BITS),
    };
    (table % align == 0 && table < limit).then_some(table)
}

/// What a Xen 3.0.x hypervisor of width `hypervisor` stored as an HVM vCPU's CR3: its
/// own `xen_pfn_to_cr3` of the machine frame `mfn` of the top-level table (the offset of
/// a PAE PDPT within its page is lost).
pub fn legacy_hvm_cr3(hypervisor: Width, mfn: u64) -> u64 {
    match hypervisor {
        Width::Bits64 => xen_cr3_64(mfn),
        Width::Bits32 => xen_cr3_32(mfn),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_bits_of_a_known_address() {
        // 0xFFFF_8880_1234_5678 = PML4 0x111, PDPT 0x000, PD 0x091, PT 0x145 (by hand:
        // bits 47:39 = 1_0001_0001, 38:30 = 0, 29:21 = 0_1001_0001, 20:12 = 1_0100_0101).
        let va = 0xFFFF_8880_1234_5678;
        let idx: Vec<u64> = levels(PagingMode::FourLevel)
            .iter()
            .map(|l| l.index(va))
            .collect();
        assert_eq!(idx, [0x111, 0, 0x91, 0x145]);
        let idx: Vec<u64> = levels(PagingMode::FiveLevel)
            .iter()
            .map(|l| l.index(0x01FF_8880_1234_5678))
            .collect();
        assert_eq!(idx, [0x1FF, 0x111, 0, 0x91, 0x145]);
        // 0xC123_4567: PAE PDPT 3, PD 0x009, PT 0x034; 32-bit paging PD 0x304, PT 0x234.
        let idx: Vec<u64> = levels(PagingMode::Pae)
            .iter()
            .map(|l| l.index(0xC123_4567))
            .collect();
        assert_eq!(idx, [3, 9, 0x34]);
        let idx: Vec<u64> = levels(PagingMode::TwoLevel { pse: false })
            .iter()
            .map(|l| l.index(0xC123_4567))
            .collect();
        assert_eq!(idx, [0x304, 0x234]);
    }

    #[test]
    fn pointers_and_pages_in_entry_format() {
        let two = PagingMode::TwoLevel { pse: true };
        assert_eq!(table_pointer(two, 0xF_FFFF), Some(0xFFFF_F001));
        assert_eq!(table_pointer(two, 0x10_0000), None);
        assert_eq!(
            table_pointer(PagingMode::FourLevel, 0xFF_FFFF_FFFF),
            Some(0xF_FFFF_FFFF_F001)
        );
        // PSE-36: PA 0xAB_00C0_0000 -> PDE bits 31:22 = 0x00C0_0000, bits 20:13 = 0xAB.
        assert_eq!(
            page_pointer(two, PageSize::Size4M, 0xAB_00C00),
            Some(0x00C0_0000 | (0xAB << 13) | 0x81)
        );
        assert_eq!(page_pointer(two, PageSize::Size4M, 0x1000_0000), None);
        assert_eq!(
            page_pointer(two, PageSize::Size4M, 0x200),
            None,
            "unaligned"
        );
        assert_eq!(
            page_pointer(PagingMode::Pae, PageSize::Size2M, 0x12_3400),
            Some(0x1_2340_0081)
        );
        assert_eq!(
            page_pointer(PagingMode::FourLevel, PageSize::Size1G, 0x408_0000),
            Some(0x40_8000_0081)
        );
    }

    #[test]
    fn decoding_inverts_encoding() {
        for (mode, size, frame) in [
            (
                PagingMode::TwoLevel { pse: true },
                PageSize::Size4K,
                0xF_FFFF,
            ),
            (
                PagingMode::TwoLevel { pse: true },
                PageSize::Size4M,
                0xFF_FFC00,
            ),
            (PagingMode::Pae, PageSize::Size2M, 0xF_FFFF_FE00),
            (PagingMode::FourLevel, PageSize::Size1G, 0xFF_FFFC_0000),
            (PagingMode::FiveLevel, PageSize::Size4K, 0xFF_FFFF_FFFF),
        ] {
            let flags = pat_bit(size) | GLOBAL | WRITABLE | IGNORED_LOW;
            let entry = page_pointer(mode, size, frame).unwrap() | flags;
            let entry = entry
                | if has_execute_disable(mode) {
                    EXECUTE_DISABLE | IGNORED_HIGH_LONG
                } else {
                    0
                };
            assert_eq!(page_frame(mode, size, entry), frame, "{mode} {size}");
            let pointer = table_pointer(mode, frame % (max_frame(mode, None) + 1)).unwrap();
            assert_eq!(
                pointer_frame(mode, pointer | WRITABLE | USER),
                frame % (max_frame(mode, None) + 1),
                "{mode}"
            );
        }
    }

    #[test]
    fn xen_cr3_encodings() {
        assert_eq!(xen_cr3_64(0x12_3456), 0x1_2345_6000);
        // 0x1234_5678: bits 19:0 = 0x45678 -> CR3 31:12, bits 31:20 = 0x123 -> CR3 11:0.
        assert_eq!(xen_cr3_32(0x1234_5678), 0x4567_8123);
        assert_eq!(xen_cr3_32(0xABCDE), 0xABCD_E000);
        assert_eq!(legacy_hvm_cr3(Width::Bits64, 0x10_0700), 0x1_0070_0000);
        assert_eq!(legacy_hvm_cr3(Width::Bits32, 0x10_0700), 0x0070_0001);
        assert_eq!(architectural_cr3(PagingMode::Pae, 0x2_0040), Some(0x2_0040));
        assert_eq!(architectural_cr3(PagingMode::Pae, 0x2_0050), None);
        assert_eq!(architectural_cr3(PagingMode::Pae, 1 << 32), None);
        assert_eq!(
            architectural_cr3(PagingMode::TwoLevel { pse: true }, 0x2_0040),
            None
        );
        assert_eq!(
            architectural_cr3(PagingMode::FourLevel, 0x12_3456_7000),
            Some(0x12_3456_7000)
        );
    }

    #[test]
    fn linear_address_limits() {
        assert!(is_linear_address(
            PagingMode::FourLevel,
            0x0000_7FFF_FFFF_FFFF
        ));
        assert!(!is_linear_address(
            PagingMode::FourLevel,
            0x0000_8000_0000_0000
        ));
        assert!(is_linear_address(
            PagingMode::FourLevel,
            0xFFFF_8000_0000_0000
        ));
        assert!(is_linear_address(
            PagingMode::FiveLevel,
            0x00FF_FFFF_FFFF_FFFF
        ));
        assert!(!is_linear_address(
            PagingMode::FiveLevel,
            0x0100_0000_0000_0000
        ));
        assert!(is_linear_address(PagingMode::Pae, 0xFFFF_FFFF));
        assert!(!is_linear_address(PagingMode::Pae, 0x1_0000_0000));
    }

    /// The builder may name modes, page sizes and roots with the reader's types, and
    /// nothing else of `crate::memory` outside its tests: the walker, its index and
    /// entry arithmetic and the CR3 decoder are what the builder's output checks.
    #[test]
    fn the_builder_uses_nothing_of_the_reader_but_names() {
        const ALLOWED: [&str; 4] = ["PageSize", "PagingMode", "Root", "Cr3Decode"];
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/builder");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("tests.rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            // Code outside the unit tests, without comments.
            let code: String = text
                .lines()
                .take_while(|l| l.trim() != "#[cfg(test)]")
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for (at, _) in code.match_indices("memory::") {
                let rest = &code[at + "memory::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(list) => list[..list.find('}').unwrap()]
                        .split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .collect(),
                    None => {
                        let end = rest
                            .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                            .unwrap_or(rest.len());
                        vec![&rest[..end]]
                    }
                };
                for name in names {
                    assert!(
                        ALLOWED.contains(&name),
                        "{} uses crate::memory::{name}: encode it in builder/x86.rs instead",
                        path.display()
                    );
                }
            }
            if path.ends_with("x86.rs") || path.ends_with("pagetable.rs") {
                continue;
            }
            // Only the conversion in pagetable.rs may mention the reader's CR3 names.
            assert!(
                !code.contains("Cr3Decode"),
                "{} encodes CR3 through the reader's names",
                path.display()
            );
        }
        assert!(
            files >= 10,
            "{files} builder files found in {}",
            dir.display()
        );
    }
}
