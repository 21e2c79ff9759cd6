//! `monitor` commands (gdb's qRcmd): plain text answers, never fatal to the session.

use std::fmt::Write as _;

use gdbstub::target::ext::monitor_cmd::{outputln, ConsoleOutput, MonitorCmd};

use crate::addr::{GuestFrame, MachineFrame, VirtAddr};
use crate::convert::{find_vmcoreinfo, KernelMap, ScanDepth};
use crate::dump::FrameSpace;
use crate::memory::{Guest, View};
use crate::summary::Summary;

use super::arch::XenArch;
use super::target::DumpTarget;

const HELP: &str = "\
xendump-gdbserver monitor commands:
  monitor help                 this text
  monitor info                 the dump: format, Xen version, guest, pages, vCPUs,
                               the kernel's mappings and VMCOREINFO (KASLR offset)
  monitor vmcoreinfo [full]    the guest's VMCOREINFO text (full: search all memory)
  monitor vcpu                 one line per vCPU
  monitor vcpu N               every register the dump holds for vCPU N
  monitor translate ADDR [N]   walk the page tables for virtual ADDR (current vCPU or N),
                               showing each level with frames in pfn and mfn terms
  monitor p2m PFN              which machine frame and dump page hold guest frame PFN
  monitor m2p MFN              which guest frame and dump page hold machine frame MFN
  monitor view [KIND]          address space of memory reads: virtual (default),
                               physical (guest pfn space) or machine (mfn space)
  monitor cr3 [VALUE|off]      read virtual addresses through page tables at VALUE (as
                               the vCPU would store it), e.g. another process's; off:
                               back to each thread's own
Numbers: 0x-prefixed hex, or decimal.";

/// Parse a number the way gdb users write them.
fn parse_num(s: &str) -> Option<u64> {
    let s = s.trim();
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(&h.replace('_', ""), 16).ok()
    } else {
        s.replace('_', "").parse().ok()
    }
}

/// Describe a table-space frame in both pfn and mfn terms.
fn frame_both(guest: &Guest, frame: u64) -> String {
    let d = guest.dump();
    match d.table_frame_space() {
        FrameSpace::Machine => match d.mfn_to_pfn(MachineFrame(frame)) {
            Some(p) => format!("mfn {frame:#x} = pfn {:#x}", p.0),
            None => format!("mfn {frame:#x} (pfn unknown)"),
        },
        FrameSpace::Guest => match d.pfn_to_mfn(GuestFrame(frame)) {
            Some(m) => format!("pfn {frame:#x} = mfn {:#x}", m.0),
            None => format!("pfn {frame:#x}"),
        },
    }
}

/// Per-session settings that monitor commands change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadSettings {
    /// Address space of memory reads.
    pub view: View,
    /// A CR3 to read virtual addresses through instead of the thread's own.
    pub cr3: Option<u64>,
}

impl Default for ReadSettings {
    fn default() -> Self {
        ReadSettings {
            view: View::Virtual,
            cr3: None,
        }
    }
}

/// Run one monitor command and return its text.
pub fn run_command(
    guest: &Guest,
    settings: &mut ReadSettings,
    current_slot: usize,
    line: &str,
) -> String {
    let view = &mut settings.view;
    let mut out = String::new();
    let words: Vec<&str> = line.split_whitespace().collect();
    let arg = |i: usize| words.get(i).copied();
    match words.first().copied().unwrap_or("help") {
        "help" | "?" => out.push_str(HELP),
        "info" => {
            let summary = Summary::of(guest).with_kernel(guest, ScanDepth::Quick);
            let _ = write!(out, "{summary}");
            let _ = write!(out, "memory view:     {}", view.name());
            if let Some(c) = settings.cr3 {
                let _ = write!(out, " through cr3 {c:#x}");
            }
        }
        "vmcoreinfo" => {
            let depth = match arg(1) {
                Some("full") => ScanDepth::Full,
                _ => ScanDepth::Quick,
            };
            let map = KernelMap::detect(guest);
            match find_vmcoreinfo(guest, &map, depth) {
                Some(info) => {
                    let _ = write!(
                        out,
                        "VMCOREINFO at phys {:#x} (found {}):\n{}",
                        info.note_pa,
                        info.found_by.describe(),
                        info.text
                    );
                }
                None if depth == ScanDepth::Quick => {
                    out.push_str("no VMCOREINFO in the kernel image; `monitor vmcoreinfo full` searches all memory");
                }
                None => out.push_str("no VMCOREINFO note in the guest's memory"),
            }
        }
        "vcpu" | "vcpus" => match arg(1) {
            None => {
                let s = Summary::of(guest);
                for v in &s.vcpus {
                    let _ = writeln!(
                        out,
                        "vCPU {} (thread {}): {}, {} mode, rip {}, rsp {}, cr3 {}, {}",
                        v.slot,
                        v.slot + 1,
                        if v.online { "online" } else { "offline" },
                        v.mode,
                        v.rip,
                        v.rsp,
                        v.cr3,
                        v.paging
                    );
                }
            }
            Some(n) => match parse_num(n).and_then(|n| guest.vcpus().get(n as usize)) {
                None => {
                    let _ = write!(
                        out,
                        "no vCPU {n}: the dump has {} (0..{})",
                        guest.vcpus().len(),
                        guest.vcpus().len()
                    );
                }
                Some(v) => {
                    let g = &v.gprs;
                    let _ = writeln!(
                        out,
                        "vCPU {} (thread {}), {}, {} mode, flags {:#x}, context layout {:?}",
                        v.slot,
                        v.slot + 1,
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
                    for (i, c) in v.ctrlreg.iter().enumerate() {
                        if i <= 4 {
                            let _ = writeln!(out, "  cr{i}    {c:#018x}");
                        }
                    }
                    let _ = writeln!(
                        out,
                        "  dr0-3  {:#x} {:#x} {:#x} {:#x}  dr6 {:#x}  dr7 {:#x}",
                        v.debugreg[0],
                        v.debugreg[1],
                        v.debugreg[2],
                        v.debugreg[3],
                        v.debugreg[6],
                        v.debugreg[7]
                    );
                    let opt = |o: Option<u64>| o.map_or("-".to_string(), |x| format!("{x:#x}"));
                    let _ = writeln!(
                        out,
                        "  fs_base {}  gs_base_kernel {}  gs_base_user {}",
                        opt(v.fs_base),
                        opt(v.gs_base_kernel),
                        opt(v.gs_base_user)
                    );
                    if let Some(sp) = guest.address_space(v.slot) {
                        let _ = write!(
                            out,
                            "  paging {} ({}), root {}",
                            sp.mode,
                            sp.mode_source,
                            sp.root
                                .map_or("-".to_string(), |r| frame_both(guest, r.frame))
                        );
                        if let Some(u) = sp.user_root {
                            let _ = write!(
                                out,
                                "\n  user page table (ctrlreg[1], for lower-half addresses): {}",
                                frame_both(guest, u.frame)
                            );
                        }
                    }
                }
            },
        },
        "translate" | "t" => {
            let Some(addr) = arg(1).and_then(parse_num) else {
                out.push_str("usage: monitor translate ADDR [VCPU]");
                return out;
            };
            let slot = match arg(2) {
                Some(n) => match parse_num(n) {
                    Some(n) => n as usize,
                    None => return format!("not a vCPU number: {n}"),
                },
                None => current_slot,
            };
            let Some(space) = guest.address_space(slot) else {
                return format!("no vCPU {slot}");
            };
            let _ = writeln!(
                out,
                "vCPU {slot}: {} paging, cr3 {:#x}, root {}",
                space.mode,
                guest.vcpus()[slot].cr3(),
                space
                    .root
                    .map_or("-".to_string(), |r| frame_both(guest, r.frame))
            );
            match guest.translate(slot, VirtAddr(addr)) {
                Ok(tr) => {
                    for st in tr.steps() {
                        let _ = writeln!(
                            out,
                            "  {:<5} [{:>3}] in {} -> entry {:#018x}",
                            st.level_name(),
                            st.index,
                            frame_both(guest, st.table_frame),
                            st.entry
                        );
                    }
                    let _ = writeln!(
                        out,
                        "  {:#x} -> {} + {:#x} ({} page{})",
                        addr,
                        frame_both(guest, tr.frame),
                        tr.offset,
                        tr.page_size,
                        if tr.rights.writable {
                            ", writable"
                        } else {
                            ", read-only"
                        }
                    );
                    let d = guest.dump();
                    let idx = match d.table_frame_space() {
                        FrameSpace::Guest => d.page_of_pfn(GuestFrame(tr.frame)),
                        FrameSpace::Machine => d.page_of_mfn(MachineFrame(tr.frame)),
                    };
                    match idx {
                        Some(i) => {
                            let _ = write!(
                                out,
                                "  in the dump: {i} at file offset {:#x}",
                                d.page_offset(i) + tr.offset
                            );
                        }
                        None => out.push_str("  not in the dump: reads of this address fail"),
                    }
                }
                Err(e) => {
                    let _ = write!(out, "  {e}");
                }
            }
        }
        "p2m" => {
            let Some(pfn) = arg(1).and_then(parse_num) else {
                return "usage: monitor p2m PFN".into();
            };
            let d = guest.dump();
            if !d.frames().knows_pfns() {
                return "this legacy PV dump has no p2m: pfns cannot be resolved".into();
            }
            match d.page_of_pfn(GuestFrame(pfn)) {
                Some(i) => {
                    let m = d
                        .mfn_of(i)
                        .map_or("mfn unknown (HVM dump)".to_string(), |m| {
                            format!("mfn {:#x}", m.0)
                        });
                    let _ = write!(
                        out,
                        "pfn {pfn:#x} -> {m}, {i} at file offset {:#x}",
                        d.page_offset(i)
                    );
                }
                None => {
                    let _ = write!(out, "pfn {pfn:#x} is not in the dump");
                }
            }
        }
        "m2p" => {
            let Some(mfn) = arg(1).and_then(parse_num) else {
                return "usage: monitor m2p MFN".into();
            };
            let d = guest.dump();
            if !d.frames().knows_mfns() {
                return "this HVM dump records no machine frames".into();
            }
            match d.page_of_mfn(MachineFrame(mfn)) {
                Some(i) => {
                    let p = d
                        .pfn_of(i)
                        .map_or("pfn unknown (legacy PV dump)".to_string(), |p| {
                            format!("pfn {:#x}", p.0)
                        });
                    let _ = write!(
                        out,
                        "mfn {mfn:#x} -> {p}, {i} at file offset {:#x}",
                        d.page_offset(i)
                    );
                }
                None => {
                    let _ = write!(out, "mfn {mfn:#x} is not in the dump");
                }
            }
        }
        "view" => match arg(1) {
            None => {
                let _ = write!(out, "memory reads use {} addresses", view.name());
            }
            Some(k) => {
                let new = match k {
                    "virtual" | "v" | "virt" => Some(View::Virtual),
                    "physical" | "p" | "phys" | "pseudo-physical" => Some(View::Physical),
                    "machine" | "m" | "mach" => Some(View::Machine),
                    _ => None,
                };
                match new {
                    Some(v) => {
                        *view = v;
                        let _ = write!(out, "memory reads now use {} addresses", v.name());
                    }
                    None => {
                        let _ = write!(out, "unknown view {k:?}: use virtual, physical or machine");
                    }
                }
            }
        },
        "cr3" => match arg(1) {
            None => match settings.cr3 {
                Some(c) => {
                    let _ = write!(
                        out,
                        "virtual reads use cr3 {c:#x} (monitor cr3 off to undo)"
                    );
                }
                None => out.push_str("virtual reads use each thread's own page tables"),
            },
            Some("off" | "reset" | "none") => {
                settings.cr3 = None;
                out.push_str("virtual reads use each thread's own page tables again");
            }
            Some(v) => match parse_num(v) {
                Some(c) => match guest.space_from_cr3(current_slot, c) {
                    Ok(space) => {
                        settings.cr3 = Some(c);
                        let _ = write!(
                            out,
                            "virtual reads now use cr3 {c:#x}: {} paging, root {}",
                            space.mode,
                            space
                                .root
                                .map_or("-".to_string(), |r| frame_both(guest, r.frame))
                        );
                    }
                    Err(e) => {
                        let _ = write!(out, "{e}");
                    }
                },
                None => {
                    let _ = write!(out, "not a number: {v}");
                }
            },
        },
        other => {
            let _ = write!(out, "unknown command {other:?}\n{HELP}");
        }
    }
    out
}

impl<A: XenArch> MonitorCmd for DumpTarget<A> {
    fn handle_monitor_cmd(
        &mut self,
        cmd: &[u8],
        mut out: ConsoleOutput<'_>,
    ) -> Result<(), Self::Error> {
        let line = String::from_utf8_lossy(cmd);
        let current = self.last_tid.get() - 1;
        let text = run_command(&self.guest, &mut self.settings, current, &line);
        outputln!(out, "{}", text.trim_end());
        Ok(())
    }
}
