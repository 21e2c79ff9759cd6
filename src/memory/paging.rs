//! x86 paging modes described as data: levels, index bits, leaf sizes, frame masks,
//! reserved bits and canonical-address rules.
//!
//! Everything here is pure bit arithmetic on page-table *entries* and *virtual
//! addresses*; frame numbers come out in whatever space the guest's tables use (machine
//! frames for PV, guest frames for HVM). The walker in [`super::walk()`] is the only
//! consumer that reads tables.
//!
//! Unknowns are resolved towards accepting what some real CPU would accept, because a
//! dump cannot tell us the CPU model: MAXPHYADDR is taken as 52 (40 for PSE-36), and
//! EFER.NXE as set, so bit 63 is the NX bit and never "reserved".

use std::fmt;

use serde::Serialize;

use crate::addr::PAGE_SHIFT;
use crate::dump::Width;

/// Entry bit 0: present.
pub const ENTRY_PRESENT: u64 = 1 << 0;
/// Entry bit 1: writable (R/W).
pub const ENTRY_WRITABLE: u64 = 1 << 1;
/// Entry bit 2: user accessible (U/S).
pub const ENTRY_USER: u64 = 1 << 2;
/// Entry bit 3: page-level write-through (PWT).
pub const ENTRY_PWT: u64 = 1 << 3;
/// Entry bit 4: page-level cache disable (PCD).
pub const ENTRY_PCD: u64 = 1 << 4;
/// Entry bit 5: accessed.
pub const ENTRY_ACCESSED: u64 = 1 << 5;
/// Entry bit 6: dirty (leaf entries).
pub const ENTRY_DIRTY: u64 = 1 << 6;
/// Entry bit 7 in a PDE/PDPTE: page size (PS), the entry maps a large page.
pub const ENTRY_LARGE_PAGE: u64 = 1 << 7;
/// Entry bit 7 in a 4 KiB PTE: the PAT bit (same position as PS one level up).
pub const ENTRY_PAT_4K: u64 = 1 << 7;
/// Entry bit 8: global.
pub const ENTRY_GLOBAL: u64 = 1 << 8;
/// Entry bit 12 in a large-page entry: the PAT bit (inside the frame field of a table
/// pointer, hence excluded from the large-page frame masks).
pub const ENTRY_PAT_LARGE: u64 = 1 << 12;
/// Entry bit 63 (PAE and long mode): execute disable (XD/NX).
pub const ENTRY_NO_EXECUTE: u64 = 1 << 63;
/// Bits 11:9, available to software in every mode.
pub const SOFTWARE_BITS_LOW: u64 = 0x0000_0000_0000_0E00;
/// Bits 62:52, available to software in long mode (62:59 double as protection keys on
/// leaf entries when CR4.PKE is set; either way they are not address bits).
pub const SOFTWARE_BITS_HIGH: u64 = 0x7FF0_0000_0000_0000;

/// 2-level table pointer / 4 KiB frame field, bits 31:12.
pub const FRAME_MASK_32: u64 = 0xFFFF_F000;
/// PAE / long-mode table pointer, PDPTE and 4 KiB frame field, bits 51:12.
pub const FRAME_MASK_64: u64 = 0x000F_FFFF_FFFF_F000;
/// 2 MiB page frame field, bits 51:21 (bit 12 is PAT, bits 20:13 reserved).
pub const FRAME_MASK_2M: u64 = 0x000F_FFFF_FFE0_0000;
/// 1 GiB page frame field, bits 51:30 (bit 12 is PAT, bits 29:13 reserved).
pub const FRAME_MASK_1G: u64 = 0x000F_FFFF_C000_0000;
/// 2-level 4 MiB page: physical bits 31:22 sit in PDE bits 31:22.
pub const FRAME_MASK_4M_LOW: u64 = 0xFFC0_0000;
/// 2-level 4 MiB page (PSE-36/PSE-40): physical bits 39:32 sit in PDE bits 20:13.
pub const FRAME_MASK_4M_HIGH: u64 = 0x001F_E000;
/// How far [`FRAME_MASK_4M_HIGH`] bits move up to become physical bits 39:32.
const PSE36_SHIFT: u32 = 32 - 13;

/// CR0.PG (bit 31): paging enabled.
pub const CR0_PG: u64 = 1 << 31;
/// CR4.PSE (bit 4): 4 MiB pages in 2-level paging.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE (bit 5): 64-bit entries (PAE, and a prerequisite of long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.LA57 (bit 12): 5-level paging when in long mode.
pub const CR4_LA57: u64 = 1 << 12;
/// CR4.PCIDE (bit 17): process-context identifiers; can only be set in long mode.
pub const CR4_PCIDE: u64 = 1 << 17;

/// Size of a page mapped by one leaf entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PageSize {
    /// 4 KiB, mapped by a PT entry.
    Size4K,
    /// 2 MiB, mapped by a PAE or long-mode PD entry with PS set.
    Size2M,
    /// 4 MiB, mapped by a 2-level PD entry with PS set (needs CR4.PSE).
    Size4M,
    /// 1 GiB, mapped by a long-mode PDPT entry with PS set.
    Size1G,
}

impl PageSize {
    /// log2 of the size in bytes.
    pub const fn shift(self) -> u32 {
        match self {
            PageSize::Size4K => 12,
            PageSize::Size2M => 21,
            PageSize::Size4M => 22,
            PageSize::Size1G => 30,
        }
    }

    /// Size in bytes.
    pub const fn bytes(self) -> u64 {
        1 << self.shift()
    }

    /// Number of 4 KiB frames the page spans.
    pub const fn frames(self) -> u64 {
        1 << (self.shift() - PAGE_SHIFT)
    }
}

impl fmt::Display for PageSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PageSize::Size4K => "4 KiB",
            PageSize::Size2M => "2 MiB",
            PageSize::Size4M => "4 MiB",
            PageSize::Size1G => "1 GiB",
        })
    }
}

/// One level of a paging structure hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelSpec {
    /// Level number: 1 = PT, 2 = PD, 3 = PDPT, 4 = PML4, 5 = PML5.
    pub level: u8,
    /// Lowest virtual-address bit of this level's index.
    pub shift: u32,
    /// Number of index bits (entries per table = 2^index_bits).
    pub index_bits: u32,
    /// Page size an entry at this level maps when it is a leaf. Level 1 entries are
    /// always leaves; higher levels only with PS set, and only if this is `Some`.
    pub leaf: Option<PageSize>,
}

impl LevelSpec {
    /// Index into this level's table for virtual address `va`.
    pub const fn index(&self, va: u64) -> u64 {
        (va >> self.shift) & ((1 << self.index_bits) - 1)
    }

    /// Conventional name of the table at this level.
    pub const fn name(&self) -> &'static str {
        level_name(self.level)
    }
}

/// Conventional (Intel SDM) name of the table at `level`: PML5, PML4, PDPT, PD, PT.
pub const fn level_name(level: u8) -> &'static str {
    match level {
        5 => "PML5",
        4 => "PML4",
        3 => "PDPT",
        2 => "PD",
        1 => "PT",
        _ => "L?",
    }
}

const fn level(level: u8, shift: u32, index_bits: u32, leaf: Option<PageSize>) -> LevelSpec {
    LevelSpec {
        level,
        shift,
        index_bits,
        leaf,
    }
}

const PT_32: LevelSpec = level(1, 12, 10, Some(PageSize::Size4K));
const PT_64: LevelSpec = level(1, 12, 9, Some(PageSize::Size4K));
const PD_64: LevelSpec = level(2, 21, 9, Some(PageSize::Size2M));
const PDPT_LONG: LevelSpec = level(3, 30, 9, Some(PageSize::Size1G));
const PML4: LevelSpec = level(4, 39, 9, None);
const PML5: LevelSpec = level(5, 48, 9, None);

const LEVELS_TWO: [LevelSpec; 2] = [level(2, 22, 10, None), PT_32];
const LEVELS_TWO_PSE: [LevelSpec; 2] = [level(2, 22, 10, Some(PageSize::Size4M)), PT_32];
const LEVELS_PAE: [LevelSpec; 3] = [level(3, 30, 2, None), PD_64, PT_64];
const LEVELS_FOUR: [LevelSpec; 4] = [PML4, PDPT_LONG, PD_64, PT_64];
const LEVELS_FIVE: [LevelSpec; 5] = [PML5, PML4, PDPT_LONG, PD_64, PT_64];

/// Deepest hierarchy of any mode (5-level paging).
pub const MAX_LEVELS: usize = 5;

/// An x86 paging mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum PagingMode {
    /// CR0.PG = 0: linear addresses are physical addresses (32-bit).
    None,
    /// 32-bit 2-level paging (CR4.PAE = 0). `pse` = CR4.PSE: PDEs with PS set map
    /// 4 MiB pages; without it the PS bit is ignored, as on hardware.
    TwoLevel {
        /// CR4.PSE is set.
        pse: bool,
    },
    /// PAE paging: 4-entry PDPT, 2 MiB large pages, 32-bit linear addresses.
    Pae,
    /// 4-level long-mode paging, 48-bit canonical addresses.
    FourLevel,
    /// 5-level long-mode paging (CR4.LA57), 57-bit canonical addresses.
    FiveLevel,
}

impl fmt::Display for PagingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PagingMode::None => "no paging",
            PagingMode::TwoLevel { pse: false } => "2-level",
            PagingMode::TwoLevel { pse: true } => "2-level (PSE)",
            PagingMode::Pae => "PAE",
            PagingMode::FourLevel => "4-level",
            PagingMode::FiveLevel => "5-level",
        })
    }
}

impl PagingMode {
    /// Mode of an HVM/PVH vCPU from its architectural control registers.
    ///
    /// `long_mode` stands for EFER.LMA, which Xen does not dump: take it from the user,
    /// the guest kernel's ELF class, or [`infer_long_mode`]. Long mode without CR4.PAE
    /// cannot exist, so CR4.PAE = 0 yields 2-level paging whatever `long_mode` says.
    pub const fn from_control_regs(cr0: u64, cr4: u64, long_mode: bool) -> PagingMode {
        if cr0 & CR0_PG == 0 {
            PagingMode::None
        } else if cr4 & CR4_PAE == 0 {
            PagingMode::TwoLevel {
                pse: cr4 & CR4_PSE != 0,
            }
        } else if !long_mode {
            PagingMode::Pae
        } else if cr4 & CR4_LA57 != 0 {
            PagingMode::FiveLevel
        } else {
            PagingMode::FourLevel
        }
    }

    /// Mode of a PV guest of the given width. PV guests never use LA57, and 32-bit PV
    /// guests are PAE on every Xen since 3.0.3 (compat guests on 64-bit Xen always);
    /// force [`PagingMode::TwoLevel`] for dumps of an old non-PAE 32-bit hypervisor.
    /// The CR0/CR4 stored for PV vCPUs are Xen's virtual values and say nothing here.
    pub const fn for_pv(width: Width) -> PagingMode {
        match width {
            Width::Bits64 => PagingMode::FourLevel,
            Width::Bits32 => PagingMode::Pae,
        }
    }

    /// The translation levels, top (root) first. Empty for [`PagingMode::None`].
    pub const fn levels(self) -> &'static [LevelSpec] {
        match self {
            PagingMode::None => &[],
            PagingMode::TwoLevel { pse: false } => &LEVELS_TWO,
            PagingMode::TwoLevel { pse: true } => &LEVELS_TWO_PSE,
            PagingMode::Pae => &LEVELS_PAE,
            PagingMode::FourLevel => &LEVELS_FOUR,
            PagingMode::FiveLevel => &LEVELS_FIVE,
        }
    }

    /// Size of one table entry in bytes: 4 for 2-level, 8 otherwise (0 without paging).
    pub const fn entry_size(self) -> u64 {
        match self {
            PagingMode::None => 0,
            PagingMode::TwoLevel { .. } => 4,
            _ => 8,
        }
    }

    /// Whether linear addresses are 32 bits wide in this mode.
    pub const fn is_32bit(self) -> bool {
        matches!(
            self,
            PagingMode::None | PagingMode::TwoLevel { .. } | PagingMode::Pae
        )
    }

    /// Whether the mode has 64-bit entries with the NX bit (PAE and long mode).
    pub const fn has_no_execute(self) -> bool {
        matches!(
            self,
            PagingMode::Pae | PagingMode::FourLevel | PagingMode::FiveLevel
        )
    }

    /// Whether `va` is a valid linear address for this mode: below 4 GiB for the
    /// 32-bit modes, canonical (bits 63:47 resp. 63:56 all equal) in long mode.
    pub const fn is_canonical(self, va: u64) -> bool {
        match self {
            PagingMode::None | PagingMode::TwoLevel { .. } | PagingMode::Pae => {
                va <= u32::MAX as u64
            }
            PagingMode::FourLevel => sign_extends(va, 47),
            PagingMode::FiveLevel => sign_extends(va, 56),
        }
    }

    /// Bits an entry may use for software purposes in this mode.
    pub const fn software_bits(self) -> u64 {
        match self {
            PagingMode::None => 0,
            PagingMode::TwoLevel { .. } | PagingMode::Pae => SOFTWARE_BITS_LOW,
            PagingMode::FourLevel | PagingMode::FiveLevel => SOFTWARE_BITS_LOW | SOFTWARE_BITS_HIGH,
        }
    }

    /// Frame number of the next-level table an entry points to (also the frame of a
    /// 4 KiB leaf): bits 31:12 in 2-level mode, bits 51:12 otherwise, so NX and
    /// software bits never leak into the frame.
    pub const fn table_frame(self, entry: u64) -> u64 {
        let mask = match self {
            PagingMode::TwoLevel { .. } => FRAME_MASK_32,
            _ => FRAME_MASK_64,
        };
        (entry & mask) >> PAGE_SHIFT
    }

    /// Number of the first 4 KiB frame of the page a leaf entry of `size` maps.
    pub const fn leaf_frame(self, size: PageSize, entry: u64) -> u64 {
        let base = match size {
            PageSize::Size4K => return self.table_frame(entry),
            PageSize::Size2M => entry & FRAME_MASK_2M,
            PageSize::Size1G => entry & FRAME_MASK_1G,
            PageSize::Size4M => {
                (entry & FRAME_MASK_4M_LOW) | ((entry & FRAME_MASK_4M_HIGH) << PSE36_SHIFT)
            }
        };
        base >> PAGE_SHIFT
    }

    /// Bits of `entry` that must be zero, for a present entry at `level` of this mode.
    /// `large` says whether the entry is being interpreted as a large-page leaf.
    ///
    /// Assumes MAXPHYADDR = 52 (40 for PSE-36) and EFER.NXE = 1, the most permissive
    /// CPU, since the dump does not say which CPU ran the guest. The PS bit where no
    /// large page may exist is reported separately by the walker, not here.
    pub const fn reserved_bits(self, level: u8, large: bool, entry: u64) -> u64 {
        let mask = match (self, level, large) {
            // PSE-36/40 4 MiB page: bit 21 is above PA bit 39.
            (PagingMode::TwoLevel { .. }, 2, true) => 1 << 21,
            // PAE PDPTE: architecturally bits 2:1, 8:5 and 63:52 are reserved. Xen runs
            // 32-bit PV guests in long mode under a hidden L4 and forces U/S and R/W
            // into their L3 entries (adjust_guest_l3e), and the CPU then sets A, so
            // bits 1, 2, 5 (and the unused 6) are tolerated; 8 and 63:52 are not.
            (PagingMode::Pae, 3, _) => (1 << 8) | 0xFFF0_0000_0000_0000,
            // Legacy PAE: bits 62:52 are reserved (not software bits as in long mode).
            (PagingMode::Pae, 2, true) => 0x7FF0_0000_001F_E000,
            (PagingMode::Pae, _, _) => 0x7FF0_0000_0000_0000,
            (PagingMode::FourLevel | PagingMode::FiveLevel, 3, true) => 0x3FFF_E000,
            (PagingMode::FourLevel | PagingMode::FiveLevel, 2, true) => 0x001F_E000,
            _ => 0,
        };
        entry & mask
    }
}

/// Whether bits 63..=`top_bit` of `va` are all equal.
const fn sign_extends(va: u64, top_bit: u32) -> bool {
    let high = va >> top_bit;
    high == 0 || high == (u64::MAX >> top_bit)
}

/// Register values that hint at whether an HVM vCPU ran in long mode.
///
/// EFER is not in a Xen dump, so long mode has to be guessed; see [`infer_long_mode`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LongModeHints {
    /// Instruction pointer.
    pub rip: u64,
    /// Stack pointer.
    pub rsp: u64,
    /// FS base (0 if not dumped).
    pub fs_base: u64,
    /// Kernel GS base (0 if not dumped).
    pub gs_base_kernel: u64,
    /// User GS base (0 if not dumped).
    pub gs_base_user: u64,
    /// Architectural CR3.
    pub cr3: u64,
    /// Architectural CR4.
    pub cr4: u64,
}

/// Heuristic guess of EFER.LMA for an HVM/PVH vCPU, in this order:
///
/// 1. CR4.PAE clear ⇒ not long mode (long mode requires PAE).
/// 2. CR4.PCIDE set ⇒ long mode (the CPU refuses PCIDE outside long mode); CR4.LA57
///    set ⇒ long mode (only a 64-bit kernel enables it).
/// 3. Any of rip, rsp, the FS/GS bases or CR3 with non-zero upper 32 bits ⇒ long mode:
///    none of them can exceed 32 bits in legacy mode.
/// 4. Otherwise not long mode.
///
/// Rule 4 misjudges a 64-bit guest caught with all of these below 4 GiB (early boot,
/// or a 32-bit process on a 64-bit kernel with zero bases); callers should let the user
/// override the guess, e.g. from the ELF class of the guest kernel.
pub const fn infer_long_mode(hints: &LongModeHints) -> bool {
    if hints.cr4 & CR4_PAE == 0 {
        return false;
    }
    if hints.cr4 & (CR4_PCIDE | CR4_LA57) != 0 {
        return true;
    }
    let upper = hints.rip
        | hints.rsp
        | hints.fs_base
        | hints.gs_base_kernel
        | hints.gs_base_user
        | hints.cr3;
    upper >> 32 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_tables_match_the_sdm_index_splits() {
        // (mode, [(index bits, shift)], leaf sizes) as in docs/xen-dump-format.md §6.2.
        let split = |m: PagingMode| -> Vec<(u32, u32)> {
            m.levels().iter().map(|l| (l.index_bits, l.shift)).collect()
        };
        assert_eq!(
            split(PagingMode::TwoLevel { pse: true }),
            [(10, 22), (10, 12)]
        );
        assert_eq!(split(PagingMode::Pae), [(2, 30), (9, 21), (9, 12)]);
        assert_eq!(
            split(PagingMode::FourLevel),
            [(9, 39), (9, 30), (9, 21), (9, 12)]
        );
        assert_eq!(
            split(PagingMode::FiveLevel),
            [(9, 48), (9, 39), (9, 30), (9, 21), (9, 12)]
        );
        assert!(PagingMode::None.levels().is_empty());
        // Every mode's index bits plus the 12 offset bits cover its linear address width.
        for (mode, width) in [
            (PagingMode::TwoLevel { pse: false }, 32),
            (PagingMode::Pae, 32),
            (PagingMode::FourLevel, 48),
            (PagingMode::FiveLevel, 57),
        ] {
            let bits: u32 = mode.levels().iter().map(|l| l.index_bits).sum();
            assert_eq!(bits + 12, width, "{mode}");
        }
    }

    #[test]
    fn leaf_levels_per_mode() {
        let leaves = |m: PagingMode| -> Vec<(u8, Option<PageSize>)> {
            m.levels().iter().map(|l| (l.level, l.leaf)).collect()
        };
        use PageSize::*;
        assert_eq!(
            leaves(PagingMode::TwoLevel { pse: false }),
            [(2, None), (1, Some(Size4K))]
        );
        assert_eq!(
            leaves(PagingMode::TwoLevel { pse: true }),
            [(2, Some(Size4M)), (1, Some(Size4K))]
        );
        assert_eq!(
            leaves(PagingMode::Pae),
            [(3, None), (2, Some(Size2M)), (1, Some(Size4K))]
        );
        assert_eq!(
            leaves(PagingMode::FiveLevel),
            [
                (5, None),
                (4, None),
                (3, Some(Size1G)),
                (2, Some(Size2M)),
                (1, Some(Size4K))
            ]
        );
    }

    #[test]
    fn page_sizes() {
        assert_eq!(PageSize::Size4K.bytes(), 0x1000);
        assert_eq!(PageSize::Size2M.bytes(), 0x20_0000);
        assert_eq!(PageSize::Size4M.bytes(), 0x40_0000);
        assert_eq!(PageSize::Size1G.bytes(), 0x4000_0000);
        assert_eq!(PageSize::Size2M.frames(), 512);
        assert_eq!(PageSize::Size4M.frames(), 1024);
        assert_eq!(PageSize::Size1G.frames(), 262_144);
    }

    #[test]
    fn indices_of_a_known_address() {
        // 0xFFFF_8880_1234_5678: PML4 0x111, PDPT 0x000, PD 0x091, PT 0x145.
        let va = 0xFFFF_8880_1234_5678;
        let idx: Vec<u64> = PagingMode::FourLevel
            .levels()
            .iter()
            .map(|l| l.index(va))
            .collect();
        assert_eq!(idx, [0x111, 0x000, 0x091, 0x145]);
        // 0xC123_4567 in PAE: PDPT 3, PD 0x009, PT 0x034; 2-level: PD 0x304, PT 0x234.
        let va = 0xC123_4567;
        let idx: Vec<u64> = PagingMode::Pae
            .levels()
            .iter()
            .map(|l| l.index(va))
            .collect();
        assert_eq!(idx, [3, 0x009, 0x034]);
        let two = PagingMode::TwoLevel { pse: false };
        let idx: Vec<u64> = two.levels().iter().map(|l| l.index(va)).collect();
        assert_eq!(idx, [0x304, 0x234]);
    }

    #[test]
    fn table_frames_mask_nx_software_and_flag_bits() {
        let long = PagingMode::FourLevel;
        // NX, all software bits 62:52, AVL 11:9, all flag bits, frame 0xF_FFFF_FFFF.
        assert_eq!(long.table_frame(0xFFFF_FFFF_FFFF_FFFF), 0xFF_FFFF_FFFF);
        assert_eq!(long.table_frame(0x8010_0000_1234_5867), 0x12345);
        assert_eq!(
            PagingMode::Pae.table_frame(0x8000_0001_2345_6003),
            0x12_3456
        );
        let two = PagingMode::TwoLevel { pse: true };
        assert_eq!(two.table_frame(0xFFFF_FFFF), 0xF_FFFF);
        assert_eq!(two.table_frame(0x0123_4FFF), 0x1234);
    }

    #[test]
    fn large_frames_exclude_pat_and_use_pse36_high_bits() {
        let long = PagingMode::FourLevel;
        // 2 MiB: PAT (bit 12), PS, NX and software bits set; base 0x1_2340_0000.
        let e2m = ENTRY_NO_EXECUTE | 0x0010_0001_2340_1083;
        assert_eq!(long.leaf_frame(PageSize::Size2M, e2m), 0x1_2340_0000 >> 12);
        // 1 GiB: base 0x40_8000_0000 with PAT.
        let e1g = 0x0000_0040_8000_1083;
        assert_eq!(long.leaf_frame(PageSize::Size1G, e1g), 0x40_8000_0000 >> 12);
        // 4 MiB PSE-36: PA[31:22] = 0x3 << 22, PA[39:32] = 0xAB in PDE[20:13], PAT set.
        let e4m = (0x3 << 22) | (0xAB << 13) | ENTRY_PAT_LARGE | ENTRY_LARGE_PAGE | 1;
        let two = PagingMode::TwoLevel { pse: true };
        assert_eq!(two.leaf_frame(PageSize::Size4M, e4m), 0xAB_00C0_0000 >> 12);
        // 4 KiB leaf with PAT (bit 7) is just the frame field.
        assert_eq!(long.leaf_frame(PageSize::Size4K, 0x1234_5087), 0x12345);
    }

    #[test]
    fn reserved_bits_per_mode_and_level() {
        let long = PagingMode::FourLevel;
        assert_eq!(long.reserved_bits(2, true, 1 << 13), 1 << 13);
        assert_eq!(long.reserved_bits(2, true, ENTRY_PAT_LARGE | (1 << 21)), 0);
        assert_eq!(long.reserved_bits(3, true, 1 << 29), 1 << 29);
        assert_eq!(long.reserved_bits(3, false, 1 << 29), 0);
        // Long mode: 62:52 are software bits, never reserved.
        assert_eq!(
            long.reserved_bits(1, false, SOFTWARE_BITS_HIGH | ENTRY_NO_EXECUTE),
            0
        );
        // Legacy PAE: 62:52 reserved in PDE/PTE; NX allowed.
        let pae = PagingMode::Pae;
        assert_eq!(
            pae.reserved_bits(1, false, (1 << 52) | ENTRY_NO_EXECUTE),
            1 << 52
        );
        assert_eq!(pae.reserved_bits(2, true, 1 << 20), 1 << 20);
        // PAE PDPTE: NX and bit 8 reserved; Xen's U/S, R/W and A tolerated.
        assert_eq!(
            pae.reserved_bits(3, false, ENTRY_NO_EXECUTE | 0x127),
            ENTRY_NO_EXECUTE | 0x100
        );
        let two = PagingMode::TwoLevel { pse: true };
        assert_eq!(two.reserved_bits(2, true, 0xFFFF_FFFF), 1 << 21);
        assert_eq!(two.reserved_bits(1, false, 0xFFFF_FFFF), 0);
    }

    #[test]
    fn canonical_and_32bit_limits() {
        let four = PagingMode::FourLevel;
        assert!(four.is_canonical(0x0000_7FFF_FFFF_FFFF));
        assert!(!four.is_canonical(0x0000_8000_0000_0000));
        assert!(four.is_canonical(0xFFFF_8000_0000_0000));
        assert!(!four.is_canonical(0xFFFE_FFFF_FFFF_FFFF));
        let five = PagingMode::FiveLevel;
        assert!(five.is_canonical(0x00FF_FFFF_FFFF_FFFF));
        assert!(!five.is_canonical(0x0100_0000_0000_0000));
        assert!(five.is_canonical(0xFF00_0000_0000_0000));
        assert!(five.is_canonical(0x0000_8000_0000_0000));
        for m in [
            PagingMode::None,
            PagingMode::Pae,
            PagingMode::TwoLevel { pse: false },
        ] {
            assert!(m.is_canonical(0xFFFF_FFFF));
            assert!(!m.is_canonical(0x1_0000_0000));
        }
    }

    #[test]
    fn mode_from_control_registers() {
        let pg = CR0_PG | 1;
        assert_eq!(
            PagingMode::from_control_regs(0x11, CR4_PAE, true),
            PagingMode::None
        );
        assert_eq!(
            PagingMode::from_control_regs(pg, CR4_PSE, false),
            PagingMode::TwoLevel { pse: true }
        );
        assert_eq!(
            PagingMode::from_control_regs(pg, 0, true),
            PagingMode::TwoLevel { pse: false }
        );
        assert_eq!(
            PagingMode::from_control_regs(pg, CR4_PAE, false),
            PagingMode::Pae
        );
        assert_eq!(
            PagingMode::from_control_regs(pg, CR4_PAE, true),
            PagingMode::FourLevel
        );
        assert_eq!(
            PagingMode::from_control_regs(pg, CR4_PAE | CR4_LA57, true),
            PagingMode::FiveLevel
        );
        assert_eq!(PagingMode::for_pv(Width::Bits64), PagingMode::FourLevel);
        assert_eq!(PagingMode::for_pv(Width::Bits32), PagingMode::Pae);
    }

    #[test]
    fn long_mode_heuristic() {
        let base = LongModeHints {
            cr4: CR4_PAE,
            rip: 0xC100_0000,
            rsp: 0xC1F0_0000,
            ..Default::default()
        };
        assert!(!infer_long_mode(&base));
        assert!(infer_long_mode(&LongModeHints {
            rip: 0xFFFF_FFFF_8100_0000,
            ..base
        }));
        assert!(infer_long_mode(&LongModeHints {
            rsp: 0x7FFD_1234_0000,
            ..base
        }));
        assert!(infer_long_mode(&LongModeHints {
            gs_base_user: 0x7F00_0000_0000,
            ..base
        }));
        assert!(infer_long_mode(&LongModeHints {
            cr4: CR4_PAE | CR4_PCIDE,
            ..base
        }));
        assert!(infer_long_mode(&LongModeHints {
            cr3: 0x1_0000_0000,
            ..base
        }));
        // Without PAE nothing can make it long mode.
        assert!(!infer_long_mode(&LongModeHints {
            cr4: 0,
            rip: u64::MAX,
            ..base
        }));
    }
}
