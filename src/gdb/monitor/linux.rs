//! `monitor ps` and `monitor kaslr`: the guest kernel's tasks, and where its image was
//! moved to.

use std::fmt::Write as _;

use crate::os::linux::{find_vmcoreinfo, KernelMap, ScanDepth};

use super::{Command, Context};

pub const PS: Command = Command {
    name: "ps",
    summary: "every kernel task: thread, pid, ppid, state, vCPU, command, task",
    aliases: &["tasks"],
    args: "",
    help: "every kernel task (with --vmlinux): gdb thread, pid, ppid,\n\
           state (ps letter), vCPU it runs on, command, task_struct",
    run: ps,
};

pub const KASLR: Command = Command {
    name: "kaslr",
    summary: "the kernel's KASLR offset and how to load vmlinux there",
    aliases: &[],
    args: "",
    help: "the KASLR offset of the guest kernel (VMCOREINFO KERNELOFFSET)\n\
           and the gdb command that loads vmlinux there (gdbinit uses it)",
    run: kaslr,
};

/// The line the gdbinit reads: `KASLR offset: 0x…`.
pub const OFFSET_PREFIX: &str = "KASLR offset: ";

fn ps(ctx: &mut Context<'_>, _args: &[&str]) -> String {
    let d = ctx.debuggee;
    let Some(linux) = d.linux() else {
        return "no kernel tasks: start the server with --vmlinux VMLINUX (the dumped \
                kernel, with debug information)"
            .to_string();
    };
    let mut out = format!(
        "{:>7} {:>7} {:>7} {:2} {:>4} {:<16} TASK\n",
        "THREAD", "PID", "PPID", "ST", "VCPU", "COMM"
    );
    for (i, t) in linux.walk.tasks.iter().enumerate() {
        let thread = d
            .threads()
            .task_thread(i)
            .map_or("-".to_string(), |id| id.get().to_string());
        let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        // A command may hold spaces or controls: keep the columns parseable.
        let comm: String = t
            .comm
            .chars()
            .map(|c| {
                if c.is_whitespace() || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let _ = writeln!(
            out,
            "{:>7} {:>7} {:>7} {:2} {:>4} {:<16} {:#x}",
            thread,
            t.pid,
            opt(t.ppid.map(|p| p.to_string())),
            t.state,
            opt(t.running_on.map(|c| c.to_string())),
            if comm.is_empty() { "-".into() } else { comm },
            t.address
        );
    }
    if !linux.walk.complete {
        out.push_str("(the walk did not finish: see `monitor info` for why)\n");
    }
    out
}

fn kaslr(ctx: &mut Context<'_>, _args: &[&str]) -> String {
    if let Some(linux) = ctx.debuggee.linux() {
        return format!(
            "{OFFSET_PREFIX}{:#x} ({})\nper-CPU section: {}\ngdb: {}",
            linux.kaslr_offset,
            linux.offset_source.describe(),
            if linux.percpu_zero_based {
                "zero-based (.data..percpu stays at 0)"
            } else {
                "in the image (moved with it)"
            },
            linux.gdb_command()
        );
    }
    let guest = ctx.guest();
    let map = KernelMap::detect(guest);
    match find_vmcoreinfo(guest, &map, ScanDepth::Quick).map(|v| (v.kernel_offset(), v)) {
        Some((Some(off), v)) => format!(
            "{OFFSET_PREFIX}{off:#x} (VMCOREINFO KERNELOFFSET of {})\ngdb: {}",
            v.osrelease().unwrap_or("an unnamed release"),
            v.gdb_command()
        ),
        Some((None, _)) => {
            format!("{OFFSET_PREFIX}unknown: the guest's VMCOREINFO has no KERNELOFFSET (no KASLR)")
        }
        None => format!(
            "{OFFSET_PREFIX}unknown: no VMCOREINFO in the kernel image \
             (`monitor vmcoreinfo full` searches all memory)"
        ),
    }
}
