//! Decoding of `vcpu_guest_context` slots (x86_64 and x86_32/compat layouts).
//!
//! Offsets are those of Xen's public `arch-x86/xen-x86_{64,32}.h` structures, unchanged
//! since Xen 3.0.0 (see docs/xen-dump-format.md §4).

use crate::vcpu::{FxSave, Gprs, Selectors, VcpuState, VGCF_I387_VALID};

use super::source::LeRead;
use crate::kinds::{ContextLayout, GuestKind};

/// Field offsets of the x86_64 context.
mod x64 {
    pub const FLAGS: u64 = 512;
    pub const REGS: u64 = 520;
    pub const LDT_BASE: u64 = 4816;
    pub const LDT_ENTS: u64 = 4824;
    pub const GDT_FRAMES: u64 = 4832;
    pub const GDT_ENTS: u64 = 4960;
    pub const CTRLREG: u64 = 4984;
    pub const DEBUGREG: u64 = 5048;
    pub const FS_BASE: u64 = 5144;
    pub const GS_BASE_KERNEL: u64 = 5152;
    pub const GS_BASE_USER: u64 = 5160;
}

/// Field offsets of the x86_32 / compat context.
mod x32 {
    pub const FLAGS: u64 = 512;
    pub const REGS: u64 = 516;
    pub const LDT_BASE: u64 = 2632;
    pub const LDT_ENTS: u64 = 2636;
    pub const GDT_FRAMES: u64 = 2640;
    pub const GDT_ENTS: u64 = 2704;
    pub const CTRLREG: u64 = 2716;
    pub const DEBUGREG: u64 = 2748;
}

/// Offset of `ctrlreg[3]` within a slot of the given layout.
pub fn cr3_offset(layout: ContextLayout) -> u64 {
    match layout {
        ContextLayout::X86_64 => x64::CTRLREG + 3 * 8,
        ContextLayout::X86_32 => x32::CTRLREG + 3 * 4,
    }
}

/// Offset of `flags` within a slot (the same in both layouts).
pub const FLAGS_OFFSET: u64 = 512;

/// Decode one context slot. `slot` must be at least `layout.size()` bytes (checked by
/// the caller at open time); a short slice yields zeros rather than a panic.
pub fn decode(slot_bytes: &[u8], slot: usize, layout: ContextLayout, kind: GuestKind) -> VcpuState {
    let b = slot_bytes;
    let q = |off: u64| b.u64_at(off).unwrap_or(0);
    let d = |off: u64| u64::from(b.u32_at(off).unwrap_or(0));
    let w = |off: u64| b.u16_at(off).unwrap_or(0);
    let mut st = match layout {
        ContextLayout::X86_64 => {
            let r = x64::REGS;
            VcpuState {
                slot,
                layout,
                guest_kind: kind,
                flags: q(x64::FLAGS),
                gprs: Gprs {
                    r15: q(r),
                    r14: q(r + 8),
                    r13: q(r + 16),
                    r12: q(r + 24),
                    rbp: q(r + 32),
                    rbx: q(r + 40),
                    r11: q(r + 48),
                    r10: q(r + 56),
                    r9: q(r + 64),
                    r8: q(r + 72),
                    rax: q(r + 80),
                    rcx: q(r + 88),
                    rdx: q(r + 96),
                    rsi: q(r + 104),
                    rdi: q(r + 112),
                    rsp: q(r + 152),
                },
                rip: q(r + 128),
                rflags: q(r + 144),
                selectors: Selectors {
                    cs: w(r + 136),
                    ss: w(r + 160),
                    es: w(r + 168),
                    ds: w(r + 176),
                    fs: w(r + 184),
                    gs: w(r + 192),
                },
                ctrlreg: std::array::from_fn(|i| q(x64::CTRLREG + 8 * i as u64)),
                debugreg: std::array::from_fn(|i| q(x64::DEBUGREG + 8 * i as u64)),
                fs_base: Some(q(x64::FS_BASE)),
                gs_base_kernel: Some(q(x64::GS_BASE_KERNEL)),
                gs_base_user: Some(q(x64::GS_BASE_USER)),
                fpu: None,
                efer: None,
                system: None,
                recorded: true,
            }
        }
        ContextLayout::X86_32 => {
            let r = x32::REGS;
            VcpuState {
                slot,
                layout,
                guest_kind: kind,
                flags: d(x32::FLAGS),
                gprs: Gprs {
                    rbx: d(r),
                    rcx: d(r + 4),
                    rdx: d(r + 8),
                    rsi: d(r + 12),
                    rdi: d(r + 16),
                    rbp: d(r + 20),
                    rax: d(r + 24),
                    rsp: d(r + 44),
                    ..Gprs::default()
                },
                rip: d(r + 32),
                rflags: d(r + 40),
                selectors: Selectors {
                    cs: w(r + 36),
                    ss: w(r + 48),
                    es: w(r + 52),
                    ds: w(r + 56),
                    fs: w(r + 60),
                    gs: w(r + 64),
                },
                ctrlreg: std::array::from_fn(|i| d(x32::CTRLREG + 4 * i as u64)),
                debugreg: std::array::from_fn(|i| d(x32::DEBUGREG + 4 * i as u64)),
                fs_base: None,
                gs_base_kernel: None,
                gs_base_user: None,
                fpu: None,
                efer: None,
                system: None,
                recorded: true,
            }
        }
    };
    if st.flags & VGCF_I387_VALID != 0 {
        if let Some(img) = b.bytes_at(0, 512) {
            let mut raw = [0u8; 512];
            raw.copy_from_slice(img);
            st.fpu = Some(FxSave(raw));
        }
    }
    st
}

/// A PV vCPU's descriptor tables as its context records them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DescriptorTables {
    /// `gdt_frames[]`: machine frames of the GDT's pages (16 slots; PV only).
    pub gdt_frames: [u64; 16],
    /// `gdt_ents`: descriptors in the GDT (0: none recorded).
    pub gdt_ents: u64,
    /// `ldt_base`: linear address of the LDT.
    pub ldt_base: u64,
    /// `ldt_ents`: descriptors in the LDT.
    pub ldt_ents: u64,
}

/// Read the descriptor-table fields of one context slot.
pub fn descriptor_tables(slot_bytes: &[u8], layout: ContextLayout) -> DescriptorTables {
    let b = slot_bytes;
    let q = |off: u64| b.u64_at(off).unwrap_or(0);
    let d = |off: u64| u64::from(b.u32_at(off).unwrap_or(0));
    match layout {
        ContextLayout::X86_64 => DescriptorTables {
            gdt_frames: std::array::from_fn(|i| q(x64::GDT_FRAMES + 8 * i as u64)),
            gdt_ents: q(x64::GDT_ENTS),
            ldt_base: q(x64::LDT_BASE),
            ldt_ents: q(x64::LDT_ENTS),
        },
        ContextLayout::X86_32 => DescriptorTables {
            gdt_frames: std::array::from_fn(|i| d(x32::GDT_FRAMES + 4 * i as u64)),
            gdt_ents: d(x32::GDT_ENTS),
            ldt_base: d(x32::LDT_BASE),
            ldt_ents: d(x32::LDT_ENTS),
        },
    }
}

/// Xen's folded 32-bit CR3 encoding, undone: a 32-bit rotate right by 12.
///
/// 32-bit PV guests (PAE "extended CR3", and compat guests on 64-bit Xen) store
/// `xen_pfn_to_cr3(mfn)`, which moves frame bits 20+ into the low 12 bits.
pub fn unfold_pv32_cr3(cr3: u64) -> u64 {
    u64::from((cr3 as u32).rotate_right(12))
}
