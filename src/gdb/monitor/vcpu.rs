//! `monitor vcpu`: the vCPUs, one line each, or every register the dump holds for one.

use std::fmt::Write as _;

use crate::memory::{RootInfo, RootSource};
use crate::summary::Summary;
use crate::threads::BaseSource;

use super::{frame_both, parse_num, Command, Context};

pub const VCPU: Command = Command {
    name: "vcpu",
    summary: "the vCPUs, or every register of vCPU N",
    aliases: &["vcpus"],
    args: "[N]",
    help: "one line per vCPU; with N, every register the dump\n\
           holds for vCPU N",
    run: vcpu,
};

fn thread_of(ctx: &Context<'_>, slot: usize) -> String {
    ctx.debuggee
        .threads()
        .vcpu_thread(slot)
        .map_or("-".to_string(), |t| t.get().to_string())
}

fn vcpu(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let guest = ctx.guest();
    let mut out = String::new();
    let Some(n) = args.first() else {
        let s = Summary::of(guest);
        for v in &s.vcpus {
            let _ = writeln!(
                out,
                "vCPU {} (thread {}): {}, {} mode, rip {}, rsp {}, cr3 {}{}, {}{}",
                v.slot,
                thread_of(ctx, v.slot),
                if v.online { "online" } else { "offline" },
                v.mode,
                v.rip,
                v.rsp,
                v.cr3.as_deref().unwrap_or("unknown"),
                v.cr3_stored
                    .as_ref()
                    .map_or(String::new(), |c| format!(" (stored {c})")),
                v.paging,
                if v.root_source == "kernel" {
                    ", through the kernel's table"
                } else {
                    ""
                }
            );
        }
        return out;
    };
    let Some(v) = parse_num(n).and_then(|n| guest.vcpus().get(usize::try_from(n).ok()?)) else {
        return format!(
            "no vCPU {n}: the dump has {} (0..{})",
            guest.vcpus().len(),
            guest.vcpus().len()
        );
    };
    if !v.recorded {
        return format!(
            "vCPU {} (thread {}): offline; the file holds no registers for it (a saved image skips vCPUs that were down)",
            v.slot,
            thread_of(ctx, v.slot)
        );
    }
    let g = &v.gprs;
    let _ = writeln!(
        out,
        "vCPU {} (thread {}), {}, {} mode, flags {:#x}, context layout {:?}",
        v.slot,
        thread_of(ctx, v.slot),
        if v.online() { "online" } else { "offline" },
        if v.kernel_mode() { "kernel" } else { "user" },
        v.flags,
        v.layout
    );
    let regs = [
        ("rax", g.rax),
        ("rbx", g.rbx),
        ("rcx", g.rcx),
        ("rdx", g.rdx),
        ("rsi", g.rsi),
        ("rdi", g.rdi),
        ("rbp", g.rbp),
        ("rsp", g.rsp),
        ("r8", g.r8),
        ("r9", g.r9),
        ("r10", g.r10),
        ("r11", g.r11),
        ("r12", g.r12),
        ("r13", g.r13),
        ("r14", g.r14),
        ("r15", g.r15),
        ("rip", v.rip),
        ("rflags", v.rflags),
    ];
    for pair in regs.chunks(2) {
        let _ = writeln!(
            out,
            "  {:<7}{:#018x}   {:<7}{:#018x}",
            pair[0].0, pair[0].1, pair[1].0, pair[1].1
        );
    }
    let s = v.selectors;
    let _ = writeln!(
        out,
        "  cs {:#06x} ss {:#06x} ds {:#06x} es {:#06x} fs {:#06x} gs {:#06x}",
        s.cs, s.ss, s.ds, s.es, s.fs, s.gs
    );
    for (i, c) in v.ctrlreg.iter().enumerate().take(5) {
        let _ = writeln!(out, "  cr{i}    {c:#018x}");
    }
    let view = ctx.debuggee.guest_view(v.slot);
    if let Some(view) = view.filter(|w| w.cr3 != Some(v.cr3())) {
        let _ = writeln!(
            out,
            "         cr3 as stored is the top table's machine address; gdb's $cr3 is the guest's: {}",
            view.cr3.map_or(
                "unknown (the stored table is not the guest's or not in the dump)".to_string(),
                |c| format!("{c:#x}")
            )
        );
    }
    let _ = writeln!(
        out,
        "  dr0-3  {:#x} {:#x} {:#x} {:#x}  dr6 {:#x}  dr7 {:#x}",
        v.debugreg[0], v.debugreg[1], v.debugreg[2], v.debugreg[3], v.debugreg[6], v.debugreg[7]
    );
    if let Some(e) = v.efer {
        let _ = writeln!(
            out,
            "  efer   {e:#018x}{}",
            if v.long_mode() == Some(true) {
                " (long mode active)"
            } else {
                ""
            }
        );
    }
    if let Some(sys) = &v.system {
        for (name, sg) in [
            ("cs", sys.cs),
            ("ss", sys.ss),
            ("ds", sys.ds),
            ("es", sys.es),
            ("fs", sys.fs),
            ("gs", sys.gs),
            ("tr", sys.tr),
            ("ldtr", sys.ldtr),
        ] {
            let _ = writeln!(
                out,
                "  {name:<4} sel {:#06x} base {:#018x} limit {:#010x} attr {:#06x}",
                sg.selector, sg.base, sg.limit, sg.attributes
            );
        }
        let _ = writeln!(
            out,
            "  gdtr base {:#018x} limit {:#06x}   idtr base {:#018x} limit {:#06x}",
            sys.gdtr.base, sys.gdtr.limit, sys.idtr.base, sys.idtr.limit
        );
        let _ = writeln!(
            out,
            "  shadow gs {:#x}  lstar {:#x}  star {:#x}  cstar {:#x}  sfmask {:#x}",
            sys.shadow_gs, sys.lstar, sys.star, sys.cstar, sys.syscall_mask
        );
        let _ = writeln!(
            out,
            "  sysenter cs {:#x} esp {:#x} eip {:#x}  tsc {:#x}{}",
            sys.sysenter_cs,
            sys.sysenter_esp,
            sys.sysenter_eip,
            sys.tsc,
            sys.tsc_aux
                .map_or(String::new(), |a| format!("  tsc_aux {a:#x}"))
        );
    }
    let opt = |o: Option<u64>| o.map_or("-".to_string(), |x| format!("{x:#x}"));
    let _ = writeln!(
        out,
        "  fs_base {}  gs_base_kernel {}  gs_base_user {}",
        opt(v.fs_base),
        opt(v.gs_base_kernel),
        opt(v.gs_base_user)
    );
    if let Some(view) = view {
        let _ = writeln!(
            out,
            "  gdb's $fs_base {}  $gs_base {}  ({})",
            opt(view.fs_base),
            opt(view.gs_base),
            match view.bases_from {
                BaseSource::Context => "from the context",
                BaseSource::Descriptors => "from the descriptors the selectors name",
                BaseSource::Unavailable =>
                    "unavailable: neither the context nor a descriptor table in the dump holds them",
            }
        );
    }
    if let Some(sp) = guest.vcpu_space(v.slot) {
        let _ = write!(
            out,
            "  paging {} ({}), root {}",
            sp.mode,
            sp.mode_source,
            sp.root
                .map_or("-".to_string(), |r| frame_both(guest, r.frame))
        );
        match guest.root_info(v.slot) {
            Some(RootInfo {
                source: RootSource::Kernel { how },
                problem,
                ..
            }) => {
                let _ = write!(
                    out,
                    "\n  {}: reads go through {how}",
                    problem.map_or("its CR3 is not used", |p| p.describe())
                );
            }
            Some(RootInfo {
                problem: Some(p), ..
            }) => {
                let _ = write!(out, "\n  {}", p.describe());
            }
            _ => {}
        }
        if let Some(u) = sp.user_root {
            let _ = write!(
                out,
                "\n  user page table (ctrlreg[1], for lower-half addresses): {}",
                frame_both(guest, u.frame)
            );
        }
    }
    out
}
