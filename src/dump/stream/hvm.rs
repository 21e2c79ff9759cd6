//! The HVM_CONTEXT record: Xen's HVM save blob (`xen/include/public/hvm/save.h`), a
//! sequence of `hvm_save_descriptor` (u16 typecode, u16 instance, u32 length) each
//! followed by `length` bytes, packed, from a HEADER entry to an END entry; and the
//! vCPU state in its CPU entries (`struct hvm_hw_cpu`, offsets below as compiled from
//! `arch-x86/hvm/save.h` with gcc -m64; docs/xl-save-format.md §5).

use serde::Serialize;

use crate::kinds::{ContextLayout, GuestKind};
use crate::vcpu::{
    FxSave, Gprs, Segment, Selectors, SystemRegisters, TableRegister, VcpuState, VGCF_I387_VALID,
    VGCF_ONLINE,
};

use super::super::source::LeRead;

/// `hvm_save_descriptor` size.
pub const DESCRIPTOR: u64 = 8;
/// `HVM_FILE_MAGIC`.
pub const HVM_FILE_MAGIC: u32 = 0x5438_1286;
/// Typecodes (`DECLARE_HVM_SAVE_TYPE`).
pub const CODE_END: u16 = 0;
pub const CODE_HEADER: u16 = 1;
pub const CODE_CPU: u16 = 2;
/// `sizeof(struct hvm_hw_cpu)` (Xen ≥ 4.7: with `flags`).
pub const CPU_SIZE: u64 = 1032;
/// `sizeof(struct hvm_hw_cpu_compat)` (no `msr_tsc_aux`, no `flags`).
pub const CPU_COMPAT_SIZE: u64 = 1016;
/// Most entries kept for the summary (a real context has a few per vCPU).
const MAX_ENTRIES: usize = 65_536;

/// Name of an HVM save typecode.
pub fn code_name(code: u16) -> &'static str {
    match code {
        0 => "END",
        1 => "HEADER",
        2 => "CPU",
        3 => "PIC",
        4 => "IOAPIC",
        5 => "LAPIC",
        6 => "LAPIC_REGS",
        7 => "PCI_IRQ",
        8 => "ISA_IRQ",
        9 => "PCI_LINK",
        10 => "PIT",
        11 => "RTC",
        12 => "HPET",
        13 => "PMTIMER",
        14 => "MTRR",
        15 => "VIRIDIAN_DOMAIN",
        16 => "CPU_XSAVE",
        17 => "VIRIDIAN_VCPU",
        18 => "VMCE_VCPU",
        19 => "TSC_ADJUST",
        20 => "CPU_MSR",
        _ => "unknown",
    }
}

/// `struct hvm_save_header`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct HvmHeader {
    pub magic: u32,
    pub version: u32,
    /// Xen changeset that saved it (`~0`: unknown).
    pub changeset: u64,
    /// CPUID leaf 1 EAX of the saving host.
    pub cpuid: u32,
    pub gtsc_khz: u32,
}

/// How many entries of one typecode the context holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryCount {
    pub typecode: u16,
    pub name: &'static str,
    pub count: u32,
    pub bytes: u64,
}

/// What an HVM context blob holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HvmContext {
    pub bytes: u64,
    pub header: Option<HvmHeader>,
    /// Entries by typecode, in typecode order.
    pub entries: Vec<EntryCount>,
    /// Did the blob end with an END entry?
    pub ended: bool,
    /// CPU entries: (instance = vCPU id, offset of the record in the blob, length).
    #[serde(skip)]
    pub cpus: Vec<(u16, u64, u64)>,
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// Walk an HVM context blob. `at` is its file offset, for messages.
pub fn parse_context(blob: &[u8], at: u64) -> HvmContext {
    let mut out = HvmContext {
        bytes: blob.len() as u64,
        ..HvmContext::default()
    };
    let mut counts: std::collections::BTreeMap<u16, (u32, u64)> = Default::default();
    let mut off = 0u64;
    let mut seen = 0usize;
    loop {
        let (Some(code), Some(instance), Some(len)) =
            (blob.u16_at(off), blob.u16_at(off + 2), blob.u32_at(off + 4))
        else {
            if off < blob.len() as u64 {
                out.warnings.push(format!(
                    "HVM context at file offset {:#x}: {} stray bytes after the last entry",
                    at + off,
                    blob.len() as u64 - off
                ));
            } else {
                out.warnings.push(format!(
                    "HVM context at file offset {at:#x} has no END entry"
                ));
            }
            break;
        };
        let len = u64::from(len);
        let body = off + DESCRIPTOR;
        if code == CODE_END {
            out.ended = true;
            break;
        }
        if blob.bytes_at(body, len).is_none() {
            out.warnings.push(format!(
                "HVM context at file offset {:#x}: entry {} instance {instance} claims {len} bytes, past the record's end",
                at + off,
                code_name(code)
            ));
            break;
        }
        seen += 1;
        if seen > MAX_ENTRIES {
            out.warnings.push(format!(
                "HVM context at file offset {at:#x}: more than {MAX_ENTRIES} entries; the rest were not read"
            ));
            break;
        }
        let c = counts.entry(code).or_default();
        c.0 += 1;
        c.1 += len;
        match code {
            CODE_HEADER if len >= 24 => {
                out.header = Some(HvmHeader {
                    magic: blob.u32_at(body).unwrap_or(0),
                    version: blob.u32_at(body + 4).unwrap_or(0),
                    changeset: blob.u64_at(body + 8).unwrap_or(0),
                    cpuid: blob.u32_at(body + 16).unwrap_or(0),
                    gtsc_khz: blob.u32_at(body + 20).unwrap_or(0),
                });
            }
            CODE_CPU if len == CPU_SIZE || len == CPU_COMPAT_SIZE => {
                out.cpus.push((instance, body, len));
            }
            CODE_CPU => out.warnings.push(format!(
                "HVM context: the CPU entry of vCPU {instance} is {len} bytes, neither {CPU_SIZE} nor {CPU_COMPAT_SIZE}: its registers were not read"
            )),
            _ => {}
        }
        off = body + len;
    }
    if let Some(h) = out.header {
        if h.magic != HVM_FILE_MAGIC {
            out.warnings.push(format!(
                "HVM context header magic is {:#x}, not {HVM_FILE_MAGIC:#x}",
                h.magic
            ));
        }
    }
    out.entries = counts
        .into_iter()
        .map(|(typecode, (count, bytes))| EntryCount {
            typecode,
            name: code_name(typecode),
            count,
            bytes,
        })
        .collect();
    out
}

/// Field offsets of `struct hvm_hw_cpu` (gcc -m64 on Xen's public header).
mod cpu {
    pub const RAX: u64 = 512;
    pub const RIP: u64 = 640;
    pub const RFLAGS: u64 = 648;
    pub const CR0: u64 = 656;
    pub const DR0: u64 = 688;
    pub const SEL: u64 = 736;
    pub const LIMIT: u64 = 768;
    pub const BASE: u64 = 808;
    pub const ARBYTES: u64 = 888;
    pub const SYSENTER_CS: u64 = 920;
    pub const SHADOW_GS: u64 = 944;
    pub const LSTAR: u64 = 960;
    pub const EFER: u64 = 992;
    pub const TSC_AUX: u64 = 1000;
    /// `tsc`, `pending_event`, `error_code` in the full and the compat record.
    pub const TSC: (u64, u64) = (1008, 1000);
    pub const FLAGS: u64 = 1024;
    /// `XEN_X86_FPU_INITIALISED`.
    pub const FPU_INITIALISED: u32 = 1;
}

/// Decode one CPU entry (`hvm_hw_cpu`, or the 1016-byte compat record of Xen < 4.7)
/// into the register model, as vCPU slot `slot`.
pub fn decode_cpu(rec: &[u8], slot: usize) -> VcpuState {
    let q = |off: u64| rec.u64_at(off).unwrap_or(0);
    let d = |off: u64| rec.u32_at(off).unwrap_or(0);
    let compat = rec.len() as u64 == CPU_COMPAT_SIZE;
    // rax rbx rcx rdx rbp rsi rdi rsp r8 … r15, in that order.
    let g = |i: u64| q(cpu::RAX + 8 * i);
    let gprs = Gprs {
        rax: g(0),
        rbx: g(1),
        rcx: g(2),
        rdx: g(3),
        rbp: g(4),
        rsi: g(5),
        rdi: g(6),
        rsp: g(7),
        r8: g(8),
        r9: g(9),
        r10: g(10),
        r11: g(11),
        r12: g(12),
        r13: g(13),
        r14: g(14),
        r15: g(15),
    };
    // Segment order in each array: cs ds es fs gs ss tr ldtr (then idtr, gdtr for the
    // limits and bases).
    let seg = |i: u64| Segment {
        selector: d(cpu::SEL + 4 * i) as u16,
        limit: d(cpu::LIMIT + 4 * i),
        base: q(cpu::BASE + 8 * i),
        attributes: d(cpu::ARBYTES + 4 * i),
    };
    let (cs, ds, es, fs, gs, ss) = (seg(0), seg(1), seg(2), seg(3), seg(4), seg(5));
    let shadow_gs = q(cpu::SHADOW_GS);
    let tsc_at = if compat { cpu::TSC.1 } else { cpu::TSC.0 };
    let system = SystemRegisters {
        cs,
        ds,
        es,
        fs,
        gs,
        ss,
        tr: seg(6),
        ldtr: seg(7),
        idtr: TableRegister {
            limit: d(cpu::LIMIT + 4 * 8),
            base: q(cpu::BASE + 8 * 8),
        },
        gdtr: TableRegister {
            limit: d(cpu::LIMIT + 4 * 9),
            base: q(cpu::BASE + 8 * 9),
        },
        sysenter_cs: q(cpu::SYSENTER_CS),
        sysenter_esp: q(cpu::SYSENTER_CS + 8),
        sysenter_eip: q(cpu::SYSENTER_CS + 16),
        shadow_gs,
        lstar: q(cpu::LSTAR),
        star: q(cpu::LSTAR + 8),
        cstar: q(cpu::LSTAR + 16),
        syscall_mask: q(cpu::LSTAR + 24),
        tsc_aux: (!compat).then(|| q(cpu::TSC_AUX)),
        tsc: q(tsc_at),
        pending_event: d(tsc_at + 8),
        error_code: d(tsc_at + 12),
    };
    // The compat record predates `flags`; Xen's loader then takes the FPU as
    // initialised (`_hvm_hw_fix_cpu`).
    let fpu_valid = compat || d(cpu::FLAGS) & cpu::FPU_INITIALISED != 0;
    let fpu = fpu_valid.then(|| rec.get(..512)).flatten().map(|b| {
        let mut raw = [0u8; 512];
        raw.copy_from_slice(b);
        FxSave(raw)
    });
    // As Xen's own `arch_get_info_guest` fills a dump's context: the live GS base is
    // the kernel's in ring 0 (CPL from the CS selector), the user's otherwise, and the
    // shadow GS base is the other one.
    let ring0 = cs.selector & 3 == 0;
    let (gs_kernel, gs_user) = if ring0 {
        (gs.base, shadow_gs)
    } else {
        (shadow_gs, gs.base)
    };
    VcpuState {
        slot,
        layout: ContextLayout::X86_64,
        guest_kind: GuestKind::Hvm,
        flags: VGCF_ONLINE | if fpu_valid { VGCF_I387_VALID } else { 0 },
        gprs,
        rip: q(cpu::RIP),
        rflags: q(cpu::RFLAGS),
        selectors: Selectors {
            cs: cs.selector,
            ss: ss.selector,
            ds: ds.selector,
            es: es.selector,
            fs: fs.selector,
            gs: gs.selector,
        },
        ctrlreg: [
            q(cpu::CR0),
            0,
            q(cpu::CR0 + 8),
            q(cpu::CR0 + 16),
            q(cpu::CR0 + 24),
            0,
            0,
            0,
        ],
        debugreg: [
            q(cpu::DR0),
            q(cpu::DR0 + 8),
            q(cpu::DR0 + 16),
            q(cpu::DR0 + 24),
            0,
            0,
            q(cpu::DR0 + 32),
            q(cpu::DR0 + 40),
        ],
        fs_base: Some(fs.base),
        gs_base_kernel: Some(gs_kernel),
        gs_base_user: Some(gs_user),
        fpu,
        efer: Some(q(cpu::EFER)),
        system: Some(Box::new(system)),
        recorded: true,
    }
}
