//! The vmcore's notes: one `NT_PRSTATUS` per vCPU (plus `NT_PRFPREG` for 64-bit vCPUs
//! with FPU state), the guest's `VMCOREINFO`, and the Xen facts as notes of our own.
//!
//! Our notes are named [`XENDUMP_NOTE`] (not `Xen`: crash takes `Xen` notes for a
//! hypervisor kdump), with types no tool knows (BFD, hence gdb, and readelf read types
//! 1-3 as `NT_PRSTATUS`, `NT_FPREGSET`, `NT_PRPSINFO` whatever the note's name):
//!
//! | type | descriptor |
//! |---|---|
//! | [`NT_XENDUMP_INFO`] | text, `KEY=value` lines like VMCOREINFO: dump format, Xen version and capabilities, guest kind and width, pages (and `PFNS_FROM` where a legacy PV dump's pfns were recovered), vCPUs with their control registers, the mappings found; for PV guests `PAGE_TABLE_FRAMES` (machine, or pseudo-physical when canonicalised) and what canonicalising did: `PAGE_TABLE_PAGES`, `PAGE_TABLE_ENTRIES_TRANSLATED` and `PAGE_TABLE_ENTRIES_DROPPED` per level (`L4:n L3:n …`), `PAGE_TABLE_LARGE_PAGES`, `PAGE_TABLE_XEN_ENTRIES_CLEARED`, one `PAGE_TABLE_ROOT` per root (its source, mfn, pfn, and why it was not used if it was not), `XEN_START_INFO_CLEARED` |
//! | [`NT_XENDUMP_CONTEXT`] | one per vCPU, in slot order: the raw `vcpu_guest_context` as Xen stored it (5168 bytes x86_64, 2800 bytes x86_32); for an HVM saved image the `hvm_hw_cpu` record (1032 or 1016 bytes, named by `CONTEXT_RECORD` in the info note); empty for a vCPU the file holds no registers for |
//! | [`NT_XENDUMP_P2M`] | dumps that record machine frames: little-endian `u64` triples `(pfn, mfn, count)`, ascending by pfn: pfn + i is machine frame mfn + i |

use std::fmt::Write as _;

use crate::dump::{DumpFormat, FrameSpace, GuestKind};
use crate::kinds::Width;
use crate::memory::Guest;

use super::elf::{encode_note, note_size, NT_PRFPREG, NT_PRSTATUS};
use super::prstatus::{prstatus32, prstatus64};
use super::tables::{per_level, Canonical};
use crate::os::linux::KernelMap;
use crate::os::linux::{StartInfoPointer, VmcoreInfo};

/// Name of our own notes.
pub const XENDUMP_NOTE: &str = "XENDUMP";
/// Text facts about the dump and the guest ("XD" 1).
pub const NT_XENDUMP_INFO: u32 = 0x5844_0001;
/// The p2m as `(pfn, mfn, count)` runs ("XD" 2).
pub const NT_XENDUMP_P2M: u32 = 0x5844_0002;
/// One vCPU's raw `vcpu_guest_context` ("XD" 3).
pub const NT_XENDUMP_CONTEXT: u32 = 0x5844_0003;
/// Name of Linux's own notes (`NT_PRSTATUS`, `NT_PRFPREG`).
pub const CORE_NOTE: &str = "CORE";
/// Name of the VMCOREINFO note.
pub const VMCOREINFO_NOTE: &str = "VMCOREINFO";

/// Bytes of one p2m run in [`NT_XENDUMP_P2M`].
pub const P2M_RUN_BYTES: u64 = 24;

/// The thread id a vCPU gets in the vmcore: slot + 1, as gdb numbers threads on the
/// gdbserver, so `info threads` reads the same on both.
pub fn vcpu_pid(slot: usize) -> u32 {
    u32::try_from(slot + 1).unwrap_or(u32::MAX)
}

/// All notes except the streamed p2m note, in file order.
pub fn build_notes(
    guest: &Guest,
    kernel: &KernelMap,
    vmcoreinfo: Option<&VmcoreInfo>,
    tables: Option<&Canonical>,
    start_info: Option<&StartInfoPointer>,
) -> Vec<u8> {
    let mut out = Vec::new();
    let wide = guest.guest_width() == Width::Bits64;
    for v in guest.vcpus() {
        let pid = vcpu_pid(v.slot);
        // FXSAVE in Linux's user_i387_struct layout exists for x86_64 only; i386 cores
        // would need the FSAVE image, which Xen does not keep.
        let fpu = v.fpu.filter(|_| wide);
        if wide {
            encode_note(
                CORE_NOTE,
                NT_PRSTATUS,
                &prstatus64(v, pid, fpu.is_some()),
                &mut out,
            );
        } else {
            encode_note(CORE_NOTE, NT_PRSTATUS, &prstatus32(v, pid), &mut out);
        }
        if let Some(fx) = fpu {
            encode_note(CORE_NOTE, NT_PRFPREG, &fx.0, &mut out);
        }
    }
    if let Some(info) = vmcoreinfo {
        encode_note(VMCOREINFO_NOTE, 0, info.text.as_bytes(), &mut out);
    }
    encode_note(
        XENDUMP_NOTE,
        NT_XENDUMP_INFO,
        info_text(guest, kernel, tables, start_info).as_bytes(),
        &mut out,
    );
    let dump = guest.dump();
    for slot in 0..guest.vcpus().len() {
        let bytes = dump.raw_context(slot).unwrap_or(&[]);
        encode_note(XENDUMP_NOTE, NT_XENDUMP_CONTEXT, bytes, &mut out);
    }
    out
}

/// Header of the p2m note with `runs` runs (the runs themselves are streamed).
pub fn p2m_note_header(runs: u64) -> Option<Vec<u8>> {
    let descsz = u32::try_from(runs.checked_mul(P2M_RUN_BYTES)?).ok()?;
    let mut out = Vec::new();
    encode_note(XENDUMP_NOTE, NT_XENDUMP_P2M, &[], &mut out);
    out[4..8].copy_from_slice(&descsz.to_le_bytes());
    Some(out)
}

/// Size of the p2m note with `runs` runs (its descriptor is a multiple of 4 already).
pub fn p2m_note_size(runs: u64) -> u64 {
    note_size(XENDUMP_NOTE, 0) as u64 + runs * P2M_RUN_BYTES
}

fn info_text(
    guest: &Guest,
    kernel: &KernelMap,
    tables: Option<&Canonical>,
    start_info: Option<&StartInfoPointer>,
) -> String {
    let d = guest.dump();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "PRODUCER=xendump-gdbserver {}",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        t,
        "DUMP_FORMAT={}",
        match d.format() {
            DumpFormat::Elf => "elf",
            DumpFormat::Legacy => "legacy",
            DumpFormat::SavedImage => "saved-image",
        }
    );
    if let Some(v) = d.xen_version() {
        let _ = writeln!(t, "XEN_VERSION={}", v.version_string());
        let _ = writeln!(t, "XEN_CAPABILITIES={}", v.capabilities);
    }
    let _ = writeln!(
        t,
        "GUEST_KIND={}",
        match d.guest_kind() {
            GuestKind::Pv => "PV",
            GuestKind::Hvm => "HVM",
        }
    );
    let _ = writeln!(
        t,
        "GUEST_WIDTH={}",
        match guest.guest_width() {
            Width::Bits64 => 64,
            Width::Bits32 => 32,
        }
    );
    let _ = writeln!(
        t,
        "PAGE_TABLE_FRAMES={}",
        match (d.guest_kind(), tables, d.table_frame_space()) {
            (GuestKind::Pv, None, FrameSpace::Guest) =>
                "pseudo-physical (canonical in the saved image)",
            (GuestKind::Pv, None, FrameSpace::Machine) => "machine",
            (GuestKind::Pv, Some(_), _) => "pseudo-physical (canonicalised)",
            (GuestKind::Hvm, _, _) => "pseudo-physical",
        }
    );
    if let Some(c) = tables {
        table_text(&mut t, c);
    }
    let _ = writeln!(t, "PAGES={}", d.valid_page_count());
    if let Some(s) = d.saved_image() {
        let _ = writeln!(
            t,
            "SAVED_IMAGE=libxc stream v{}, {}, Xen {}.{}, {} checkpoints, {} page copies{}",
            s.libxc_version,
            s.domain_type,
            s.xen_major,
            s.xen_minor,
            s.checkpoints,
            s.page_copies,
            if s.complete { "" } else { ", incomplete" }
        );
        let _ = writeln!(t, "CONTEXT_RECORD={}", d.context_record());
    }
    if let Some(r) = d.frames().recovered() {
        let _ = writeln!(t, "PFNS_FROM={}", r.source());
    }
    let _ = writeln!(t, "VCPUS={}", guest.vcpus().len());
    for v in guest.vcpus() {
        let paging = guest
            .vcpu_space(v.slot)
            .map_or("?".to_string(), |s| s.mode.to_string());
        let _ = writeln!(
            t,
            "VCPU({})={} {} cr0={:#x} cr3={:#x} cr4={:#x} paging={}",
            v.slot,
            if v.online() { "online" } else { "offline" },
            if v.kernel_mode() { "kernel" } else { "user" },
            v.cr0(),
            v.cr3(),
            v.cr4(),
            paging.replace(' ', "_")
        );
    }
    if let Some(c) = tables {
        for r in &c.roots {
            let _ = writeln!(
                t,
                "PAGE_TABLE_ROOT={}: mfn={} pfn={}{}",
                r.root.source,
                r.root.mfn.map_or("-".into(), |m| format!("{m:#x}")),
                r.pfn.map_or("-".into(), |p| format!("{p:#x}")),
                match r.rejected {
                    Some(why) => format!(" not used: {why}"),
                    None => String::new(),
                }
            );
        }
    }
    if let Some(p) = start_info {
        let _ = writeln!(
            t,
            "XEN_START_INFO_CLEARED=pointer at phys {:#x} (was {:#x}, start_info at phys {:#x})",
            p.pa, p.value, p.start_info_pa
        );
    }
    if let Some(dm) = kernel.direct_map {
        let _ = writeln!(t, "DIRECT_MAP={:#x}", dm.base);
    }
    if let Some(tx) = kernel.text {
        let _ = writeln!(
            t,
            "KERNEL_TEXT={:#x} PHYS={:#x} SIZE={:#x}",
            tx.va, tx.pa, tx.size
        );
    }
    t
}

/// What the canonicalisation of a PV guest's page tables did, as `KEY=value` lines.
fn table_text(t: &mut String, c: &Canonical) {
    let s = &c.stats;
    let _ = writeln!(t, "PAGE_TABLE_PAGES={}", per_level(&s.pages));
    let _ = writeln!(
        t,
        "PAGE_TABLE_ENTRIES_TRANSLATED={}",
        per_level(&s.translated)
    );
    let _ = writeln!(t, "PAGE_TABLE_ENTRIES_DROPPED={}", per_level(&s.dropped));
    let _ = writeln!(
        t,
        "PAGE_TABLE_LARGE_PAGES=translated:{} dropped:{}",
        s.large_translated, s.large_dropped
    );
    let _ = writeln!(t, "PAGE_TABLE_XEN_ENTRIES_CLEARED={}", s.xen_cleared);
    if s.conflicts > 0 {
        let _ = writeln!(t, "PAGE_TABLE_CONFLICTS={}", s.conflicts);
    }
    if s.unreadable > 0 {
        let _ = writeln!(t, "PAGE_TABLE_PAGES_MISSING={}", s.unreadable);
    }
}
