//! Container formats and their magics.

use serde::Serialize;

/// On-disk container format of a dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DumpFormat {
    /// ELF xc_core (Xen >= 3.1), with `.xen_p2m` (PV) or `.xen_pfn` (HVM/PVH).
    Elf,
    /// Pre-ELF xc_core (Xen 3.0.x), magic 0xF00FEBED / 0xF00FEBEE, mfn index only.
    Legacy,
    /// A saved domain: the libxc migration stream (v2/v3, Xen ≥ 4.6), inside the
    /// `xl save` container (`xl save`, `xl save -c`, `xl migrate`, Remus) or bare.
    /// Pages are addressed by pfn; PV page tables are canonical (pfns).
    SavedImage,
}

/// Magic of a PV dump header (`xch_magic`).
pub const XC_CORE_MAGIC: u32 = 0xF00F_EBED;
/// Magic of an HVM dump header (`xch_magic`).
pub const XC_CORE_MAGIC_HVM: u32 = 0xF00F_EBEE;
