//! Small enums describing what kind of dump and guest we are looking at.

use serde::Serialize;

/// Paravirtualised or hardware-virtualised guest.
///
/// The distinction decides which frame numbers the guest's page tables hold:
/// machine frames (PV) or guest frames (HVM/PVH).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum GuestKind {
    /// Paravirtualised guest: page tables and CR3 hold machine frames (mfn).
    Pv,
    /// HVM or PVH guest (auto-translated): page tables hold guest frames (pfn).
    Hvm,
}

/// Word size of a guest, or of the dom0 toolstack that wrote the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Width {
    /// 32-bit (x86_32 / i386, or compat on 64-bit Xen).
    Bits32,
    /// 64-bit (x86_64).
    Bits64,
}

impl Width {
    /// Size of a native `unsigned long` of this width, in bytes.
    pub fn bytes(self) -> u64 {
        match self {
            Width::Bits32 => 4,
            Width::Bits64 => 8,
        }
    }
}

/// On-disk container format of a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DumpFormat {
    /// ELF xc_core (Xen >= 3.1), with `.xen_p2m` (PV) or `.xen_pfn` (HVM/PVH).
    Elf,
    /// Pre-ELF xc_core (Xen 3.0.x), magic 0xF00FEBED / 0xF00FEBEE, mfn index only.
    Legacy,
}

/// Layout of one `vcpu_guest_context` slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ContextLayout {
    /// `vcpu_guest_context_x86_64` (5168 bytes).
    X86_64,
    /// `vcpu_guest_context_x86_32` / compat (2800 bytes).
    X86_32,
}

impl ContextLayout {
    /// Size of the structure itself (a slot may be larger).
    pub fn size(self) -> u64 {
        match self {
            ContextLayout::X86_64 => 5168,
            ContextLayout::X86_32 => 2800,
        }
    }
}

/// Magic of a PV dump header (`xch_magic`).
pub const XC_CORE_MAGIC: u32 = 0xF00F_EBED;
/// Magic of an HVM dump header (`xch_magic`).
pub const XC_CORE_MAGIC_HVM: u32 = 0xF00F_EBEE;
