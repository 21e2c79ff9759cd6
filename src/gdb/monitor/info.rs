//! `monitor info` and `monitor vmcoreinfo`: what the dump and the guest kernel say.

use std::fmt::Write as _;

use crate::os::linux::{find_vmcoreinfo, KernelMap, ScanDepth};
use crate::summary::Summary;

use super::{qemu, Command, Context};

pub const INFO: Command = Command {
    name: "info",
    summary: "what the dump holds; QEMU's info mem, registers, version",
    aliases: &[],
    args: "[mem|registers|version]",
    help: "the dump: format, Xen version, guest, pages, vCPUs,\n\
           the kernel's mappings and VMCOREINFO (KASLR offset);\n\
           with --vmlinux, the kernel's tasks and what could not be read;\n\
           mem: the current thread's page-table map, registers:\n\
           its registers, version: the server's (QEMU's formats)",
    run: info,
};

pub const VMCOREINFO: Command = Command {
    name: "vmcoreinfo",
    summary: "the guest's VMCOREINFO text",
    aliases: &[],
    args: "[full]",
    help: "the guest's VMCOREINFO text (full: search all memory)",
    run: vmcoreinfo,
};

fn info(ctx: &mut Context<'_>, args: &[&str]) -> String {
    match args.first().copied() {
        None => {}
        Some("mem") => return qemu::info_mem(ctx),
        Some("registers" | "reg" | "regs") => return qemu::info_registers(ctx),
        Some("version") => return qemu::info_version(),
        Some(other) => {
            return format!("unknown command: info {other} (monitor info [mem|registers|version])")
        }
    }
    let guest = ctx.guest();
    let mut summary = Summary::of(guest).with_kernel(guest, ScanDepth::Quick);
    if let Some(linux) = ctx.debuggee.linux() {
        summary = summary.with_linux(linux);
    }
    let mut out = format!("{summary}");
    let _ = write!(out, "memory view:     {}", ctx.settings.view.name());
    if let Some(c) = ctx.settings.cr3 {
        let _ = write!(out, " through cr3 {c:#x}");
    }
    out
}

fn vmcoreinfo(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let guest = ctx.guest();
    let depth = match args.first() {
        Some(&"full") => ScanDepth::Full,
        _ => ScanDepth::Quick,
    };
    let map = KernelMap::detect(guest);
    match find_vmcoreinfo(guest, &map, depth) {
        Some(info) => format!(
            "VMCOREINFO at phys {:#x} (found {}):\n{}",
            info.note_pa,
            info.found_by.describe(),
            info.text
        ),
        None if depth == ScanDepth::Quick => {
            "no VMCOREINFO in the kernel image; `monitor vmcoreinfo full` searches all memory"
                .to_string()
        }
        None => "no VMCOREINFO note in the guest's memory".to_string(),
    }
}
