//! Registers as the guest saw them, where Xen stored something else or nothing.
//!
//! * CR3: a legacy (Xen 3.0.x) HVM dump stored the *machine* address of the top-level
//!   table; the guest had its guest-physical address ([`Guest::guest_cr3`]).
//! * FS/GS bases: the context's fields where Xen filled them (PV on x86_64 layouts; HVM
//!   on 64-bit Xen ≥ 4.2). A 32-bit guest's bases otherwise live only in the hidden
//!   part of its segment registers; the descriptor each selector names holds the base
//!   it was loaded with, and a PV context says where its GDT (`gdt_frames`, machine
//!   frames) and LDT (`ldt_base`, linear) are. Anything else is unavailable: a 64-bit
//!   base lives in an MSR, not a descriptor; an HVM context records no GDTR.

use serde::Serialize;

use crate::addr::PAGE_SIZE;
use crate::dump::{GuestKind, Width};
use crate::memory::{Guest, TranslationCache, Via};
use crate::vcpu::VcpuState;

/// Descriptors per GDT page.
const DESCRIPTORS_PER_PAGE: u64 = PAGE_SIZE / 8;
/// Selector bit 2: the descriptor is in the LDT.
const SELECTOR_TI: u16 = 1 << 2;
/// Descriptor bit 47: present.
const DESC_PRESENT: u64 = 1 << 47;
/// Descriptor bit 44: code or data segment (not a system descriptor).
const DESC_CODE_DATA: u64 = 1 << 44;

/// Where a vCPU's segment bases came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum BaseSource {
    /// The context's `fs_base` / `gs_base_*` fields.
    Context,
    /// The descriptors the selectors name (GDT or LDT).
    Descriptors,
    /// Not in the dump.
    Unavailable,
}

/// The values of one vCPU that are served differently from the stored context.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GuestView {
    /// CR3 as the guest had it; `None` when the dump cannot tell.
    pub cr3: Option<u64>,
    /// FS base; `None` when the dump cannot tell.
    pub fs_base: Option<u64>,
    /// The GS base that was live; `None` when the dump cannot tell.
    pub gs_base: Option<u64>,
    /// Where the bases came from.
    pub bases_from: BaseSource,
}

impl GuestView {
    /// Work out vCPU `state`'s view from the guest.
    pub fn of(guest: &Guest, state: &VcpuState) -> GuestView {
        let cr3 = guest.guest_cr3(state.slot);
        if state.fs_base.is_some() || state.active_gs_base().is_some() {
            return GuestView {
                cr3,
                fs_base: state.fs_base,
                gs_base: state.active_gs_base(),
                bases_from: BaseSource::Context,
            };
        }
        let (fs_base, gs_base) = if guest.guest_width() == Width::Bits32 {
            (
                descriptor_base(guest, state, state.selectors.fs),
                descriptor_base(guest, state, state.selectors.gs),
            )
        } else {
            (None, None)
        };
        GuestView {
            cr3,
            fs_base,
            gs_base,
            bases_from: if fs_base.is_some() || gs_base.is_some() {
                BaseSource::Descriptors
            } else {
                BaseSource::Unavailable
            },
        }
    }
}

/// The base of the segment `selector` names, read from the vCPU's GDT or LDT; `None`
/// for a null selector, a descriptor outside the table, not in the dump, not present,
/// or not a code/data descriptor.
pub fn descriptor_base(guest: &Guest, state: &VcpuState, selector: u16) -> Option<u64> {
    let dump = guest.dump();
    // Only a PV context says where its descriptor tables are.
    if dump.guest_kind() != GuestKind::Pv {
        return None;
    }
    let tables = dump.descriptor_tables(state.slot)?;
    let index = u64::from(selector >> 3);
    let mut raw = [0u8; 8];
    if selector & SELECTOR_TI != 0 {
        if index >= tables.ldt_ents {
            return None;
        }
        let space = guest.vcpu_space(state.slot)?;
        let at = tables.ldt_base.checked_add(index * 8)?;
        let mut cache = TranslationCache::new(1);
        guest
            .read_exact(&mut cache, Via::Virtual(space), at, &mut raw)
            .ok()?;
    } else {
        if index == 0 || index >= tables.gdt_ents {
            return None;
        }
        let frame = *tables
            .gdt_frames
            .get(usize::try_from(index / DESCRIPTORS_PER_PAGE).ok()?)?;
        if frame == 0 {
            return None;
        }
        // Machine frames in a dump, pfns in a saved image (its save path rewrote them).
        let page = dump.page_of_frame(dump.cr3_frame_space(), frame)?;
        dump.read_page(page, (index % DESCRIPTORS_PER_PAGE) * 8, &mut raw)
            .ok()?;
    }
    let d = u64::from_le_bytes(raw);
    if d & DESC_PRESENT == 0 || d & DESC_CODE_DATA == 0 {
        return None;
    }
    Some(((d >> 16) & 0xFF_FFFF) | ((d >> 56) & 0xFF) << 24)
}

#[cfg(test)]
mod tests {
    #[test]
    fn descriptor_base_bits() {
        // Base 0x12345678 in a flat data descriptor: bits 16–39 and 56–63.
        let base: u64 = 0x1234_5678;
        let d = 0x00cf_9300_0000_ffffu64 | ((base & 0xFF_FFFF) << 16) | ((base >> 24) << 56);
        assert_eq!(((d >> 16) & 0xFF_FFFF) | ((d >> 56) & 0xFF) << 24, base);
        assert_ne!(d & super::DESC_PRESENT, 0);
        assert_ne!(d & super::DESC_CODE_DATA, 0);
    }
}
