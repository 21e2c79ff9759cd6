//! Decoding a dumped CR3 value into the root of a page-table walk.
//!
//! What `ctrlreg[3]` holds depends on the guest (docs/xen-dump-format.md §5): PV vCPUs store
//! Xen's encoding of the top table's *machine* frame (folded for 32-bit guests), HVM
//! vCPUs the architectural CR3 with a *guest-physical* address plus PCID/cache bits.
//! The result is a [`Root`]: a frame number in the same space the guest's tables use,
//! and a byte offset (non-zero only for an HVM PAE PDPT, which is 32-byte aligned).

use std::fmt;

use serde::Serialize;

use super::paging::PagingMode;
use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::dump::GuestKind;

/// Architectural CR3 base of 4- and 5-level paging: bits 51:12 (bits 11:0 are PCID
/// or PWT/PCD, bit 63 is the "no flush" hint of a MOV to CR3).
pub const CR3_MASK_LONG: u64 = 0x000F_FFFF_FFFF_F000;
/// Architectural CR3 base of PAE paging: bits 31:5 (the PDPT is 32-byte aligned).
pub const CR3_MASK_PAE: u64 = 0xFFFF_FFE0;
/// Architectural CR3 base of 2-level paging: bits 31:12.
pub const CR3_MASK_TWO_LEVEL: u64 = 0xFFFF_F000;

/// Where a walk starts: the top-level table's frame and the byte offset of the table
/// within that frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Root {
    /// Frame number of the page holding the top-level table (mfn for PV, gfn for HVM).
    pub frame: u64,
    /// Byte offset of the table in the frame; 0 except for an HVM PAE PDPT.
    pub offset: u16,
}

impl Root {
    /// A page-aligned root table in `frame`.
    pub const fn new(frame: u64) -> Root {
        Root { frame, offset: 0 }
    }

    /// Byte address of the root table in its frame space.
    pub const fn address(self) -> u64 {
        (self.frame << PAGE_SHIFT) | self.offset as u64
    }
}

impl fmt::Display for Root {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.offset == 0 {
            write!(f, "frame {:#x}", self.frame)
        } else {
            write!(f, "frame {:#x} + {:#x}", self.frame, self.offset)
        }
    }
}

/// How a dumped CR3 value encodes the top-level table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Cr3Decode {
    /// 64-bit PV: `mfn << 12`. Also 3.0.x legacy HVM dumps of a 64-bit Xen, whose CR3
    /// was replaced by the top table's machine frame.
    Pv64,
    /// 32-bit PV (PAE "extended CR3", compat guests): the frame folded into 32 bits,
    /// `(mfn << 12) | (mfn >> 20)`. Unfolding is a 32-bit rotate right by 12, and also
    /// correct for plain (unfolded) CR3 values of frames below 2^20.
    Pv32,
    /// HVM/PVH in 4- or 5-level paging: guest-physical base in bits 51:12.
    ///
    /// A Linux guest with KPTI may be caught on its user page tables: bit 12 set, the
    /// kernel's PGD being the 8 KiB-aligned frame below. That choice is left to the
    /// caller, as it is Linux-specific.
    HvmLong,
    /// HVM/PVH in PAE paging: PDPT at guest-physical `cr3 & 0xFFFF_FFE0`, possibly
    /// in the middle of a page.
    HvmPae,
    /// HVM/PVH in 2-level paging: guest-physical base in bits 31:12.
    HvmTwoLevel,
}

impl Cr3Decode {
    /// The encoding for a guest kind in a paging mode, or `None` when the mode has no
    /// page tables.
    pub const fn for_guest(kind: GuestKind, mode: PagingMode) -> Option<Cr3Decode> {
        match (kind, mode) {
            (_, PagingMode::None) => None,
            (GuestKind::Pv, PagingMode::FourLevel | PagingMode::FiveLevel) => Some(Cr3Decode::Pv64),
            (GuestKind::Pv, PagingMode::Pae | PagingMode::TwoLevel { .. }) => Some(Cr3Decode::Pv32),
            (GuestKind::Hvm, PagingMode::FourLevel | PagingMode::FiveLevel) => {
                Some(Cr3Decode::HvmLong)
            }
            (GuestKind::Hvm, PagingMode::Pae) => Some(Cr3Decode::HvmPae),
            (GuestKind::Hvm, PagingMode::TwoLevel { .. }) => Some(Cr3Decode::HvmTwoLevel),
        }
    }

    /// The root table a CR3 value points to.
    pub const fn decode(self, cr3: u64) -> Root {
        match self {
            Cr3Decode::Pv64 => Root::new(cr3 >> PAGE_SHIFT),
            // The stored value is a 32-bit register; ignore anything above.
            Cr3Decode::Pv32 => Root::new((cr3 as u32).rotate_right(PAGE_SHIFT) as u64),
            Cr3Decode::HvmLong => Root::new((cr3 & CR3_MASK_LONG) >> PAGE_SHIFT),
            Cr3Decode::HvmPae => {
                let base = cr3 & CR3_MASK_PAE;
                Root {
                    frame: base >> PAGE_SHIFT,
                    offset: (base & (PAGE_SIZE - 1)) as u16,
                }
            }
            Cr3Decode::HvmTwoLevel => Root::new((cr3 & CR3_MASK_TWO_LEVEL) >> PAGE_SHIFT),
        }
    }

    /// The CR3 value that decodes to `root` (flag/PCID bits zero), or `None` if this
    /// encoding cannot express it: frame too large, or an offset other than a 32-byte
    /// aligned one in HVM PAE (and other than 0 elsewhere).
    pub const fn encode(self, root: Root) -> Option<u64> {
        let aligned = root.offset == 0;
        match self {
            Cr3Decode::Pv64 if aligned && root.frame < 1 << 52 => Some(root.frame << PAGE_SHIFT),
            Cr3Decode::Pv32 if aligned && root.frame <= u32::MAX as u64 => {
                Some((root.frame as u32).rotate_left(PAGE_SHIFT) as u64)
            }
            Cr3Decode::HvmLong if aligned && root.frame < 1 << 40 => Some(root.frame << PAGE_SHIFT),
            Cr3Decode::HvmPae
                if root.frame < 1 << 20
                    && root.offset % 32 == 0
                    && (root.offset as u64) < PAGE_SIZE =>
            {
                Some(root.address())
            }
            Cr3Decode::HvmTwoLevel if aligned && root.frame < 1 << 20 => {
                Some(root.frame << PAGE_SHIFT)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv64_is_a_plain_shift() {
        assert_eq!(
            Cr3Decode::Pv64.decode(0x0000_0012_3456_7000),
            Root::new(0x123_4567)
        );
        assert_eq!(
            Cr3Decode::Pv64.encode(Root::new(0x123_4567)),
            Some(0x12_3456_7000)
        );
    }

    #[test]
    fn pv32_unfolds_high_frame_bits_from_the_low_bits() {
        // xen_pfn_to_cr3(0x123456) = (0x123456 << 12 mod 2^32) | (0x123456 >> 20)
        //                          = 0x2345_6000 | 0x1.
        assert_eq!(Cr3Decode::Pv32.decode(0x2345_6001), Root::new(0x12_3456));
        assert_eq!(
            Cr3Decode::Pv32.encode(Root::new(0x12_3456)),
            Some(0x2345_6001)
        );
        // Below 2^20 the folded and plain encodings coincide.
        assert_eq!(Cr3Decode::Pv32.decode(0x0ABC_D000), Root::new(0xABCD));
        // Upper half of a 64-bit container is ignored.
        assert_eq!(
            Cr3Decode::Pv32.decode(0xFFFF_FFFF_0ABC_D000),
            Root::new(0xABCD)
        );
        // Largest foldable frame.
        assert_eq!(Cr3Decode::Pv32.decode(0xFFFF_FFFF), Root::new(0xFFFF_FFFF));
    }

    #[test]
    fn hvm_long_mode_ignores_pcid_and_high_bits() {
        let cr3 = 0x8000_0001_2345_6ABC; // no-flush bit 63, PCID 0xABC
        assert_eq!(Cr3Decode::HvmLong.decode(cr3), Root::new(0x12_3456));
        assert_eq!(
            Cr3Decode::HvmLong.decode(0x0000_1234_5000_0018),
            Root::new(0x1_2345_0000)
        );
    }

    #[test]
    fn hvm_pae_keeps_the_32_byte_aligned_offset() {
        // PWT (bit 3) set, PDPT at offset 0xFE0 of frame 0x12345.
        let root = Cr3Decode::HvmPae.decode(0x1234_5FE8);
        assert_eq!(
            root,
            Root {
                frame: 0x12345,
                offset: 0xFE0
            }
        );
        assert_eq!(Cr3Decode::HvmPae.encode(root), Some(0x1234_5FE0));
        assert_eq!(
            Cr3Decode::HvmPae.encode(Root {
                frame: 1,
                offset: 0x10
            }),
            None
        );
        assert_eq!(Cr3Decode::HvmPae.encode(Root::new(1 << 20)), None);
        // Bits above 31 are not part of a PAE CR3.
        assert_eq!(
            Cr3Decode::HvmPae.decode(0x1_0000_2020),
            Root {
                frame: 2,
                offset: 0x20
            }
        );
    }

    #[test]
    fn hvm_two_level_drops_flag_bits() {
        assert_eq!(Cr3Decode::HvmTwoLevel.decode(0x0012_3018), Root::new(0x123));
        assert_eq!(
            Cr3Decode::HvmTwoLevel.encode(Root::new(0x123)),
            Some(0x12_3000)
        );
        assert_eq!(
            Cr3Decode::HvmTwoLevel.encode(Root {
                frame: 1,
                offset: 32
            }),
            None
        );
    }

    #[test]
    fn encoding_choice_per_guest() {
        use GuestKind::*;
        assert_eq!(
            Cr3Decode::for_guest(Pv, PagingMode::FourLevel),
            Some(Cr3Decode::Pv64)
        );
        assert_eq!(
            Cr3Decode::for_guest(Pv, PagingMode::Pae),
            Some(Cr3Decode::Pv32)
        );
        assert_eq!(
            Cr3Decode::for_guest(Hvm, PagingMode::FiveLevel),
            Some(Cr3Decode::HvmLong)
        );
        assert_eq!(
            Cr3Decode::for_guest(Hvm, PagingMode::Pae),
            Some(Cr3Decode::HvmPae)
        );
        assert_eq!(
            Cr3Decode::for_guest(Hvm, PagingMode::TwoLevel { pse: true }),
            Some(Cr3Decode::HvmTwoLevel)
        );
        assert_eq!(Cr3Decode::for_guest(Hvm, PagingMode::None), None);
    }
}
