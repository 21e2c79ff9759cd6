//! Container formats and their magics.

use serde::Serialize;

/// On-disk container format of a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DumpFormat {
    /// ELF xc_core (Xen >= 3.1), with `.xen_p2m` (PV) or `.xen_pfn` (HVM/PVH).
    Elf,
    /// Pre-ELF xc_core (Xen 3.0.x), magic 0xF00FEBED / 0xF00FEBEE, mfn index only.
    Legacy,
}

/// Magic of a PV dump header (`xch_magic`).
pub const XC_CORE_MAGIC: u32 = 0xF00F_EBED;
/// Magic of an HVM dump header (`xch_magic`).
pub const XC_CORE_MAGIC_HVM: u32 = 0xF00F_EBEE;
