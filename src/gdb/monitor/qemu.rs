//! QEMU's monitor commands, in QEMU's output format, where they mean something for a
//! dump: QEMU-aware front ends (GEF, pwndbg) run them through `monitor` and parse the
//! text.
//!
//! * `info mem`: the selected vCPU's page tables as `start-end size perms` runs (GEF's
//!   and pwndbg's kernel `vmmap`);
//! * `info registers`: the vCPU's registers in QEMU's layout, with only what the dump
//!   holds (pwndbg reads `IDT=`/`GDT=` from it; a Xen context has neither, so those
//!   lines are absent rather than made up; an HVM saved image's CPU record has them, and
//!   EFER and every segment's hidden part);
//! * `info version`;
//! * `xp /FMT ADDR`: physical memory, as QEMU dumps it;
//! * `gva2gpa ADDR`: a virtual address's guest-physical address;
//! * `halt`, `reset`: what IDE launch sequences (Eclipse CDT) send; nothing to do on a
//!   halted, read-only guest, said so.
//!
//! Formats follow QEMU's `target/i386/monitor.c` (`mem_info_*`),
//! `target/i386/cpu-dump.c` (`x86_cpu_dump_state`) and `monitor/hmp-cmds-target.c`
//! (`memory_dump`, `hmp_gva2gpa`).

use std::fmt::Write as _;

use crate::addr::{MachineFrame, PAGE_SHIFT};
use crate::kinds::{FrameSpace, Width};
use crate::memory::{PagingMode, TranslationCache, Via};
use crate::vcpu::VcpuState;

use super::{parse_num, Command, Context};

/// Most page tables `info mem` reads: 128 GiB of 4 KiB mappings. Beyond it (hostile or
/// looping tables) the list is cut short.
pub const INFO_MEM_MAX_TABLES: usize = 1 << 18;

/// Most units `xp` prints.
const XP_MAX_UNITS: u64 = 64 * 1024;

pub const XP: Command = Command {
    name: "xp",
    summary: "physical memory, as QEMU's xp prints it",
    aliases: &[],
    args: "/FMT ADDR",
    help: "guest-physical memory at ADDR in QEMU's format: FMT is\n\
           [COUNT][x|d|u|o|c][b|h|w|g], as in QEMU (xp /8xg 0x1000)",
    run: xp,
};

pub const GVA2GPA: Command = Command {
    name: "gva2gpa",
    summary: "the guest-physical address of a virtual address",
    aliases: &[],
    args: "ADDR",
    help: "the guest-physical address of virtual ADDR in the current\n\
           thread's page tables (QEMU's gva2gpa)",
    run: gva2gpa,
};

pub const HALT: Command = Command {
    name: "halt",
    summary: "accepted: the dumped guest is halted already",
    aliases: &["stop"],
    args: "",
    help: "nothing to do: the dumped guest is halted already\n\
           (IDE launch sequences send it)",
    run: |_, _| "the dumped guest is halted already: nothing to do".to_string(),
};

pub const RESET: Command = Command {
    name: "reset",
    summary: "accepted, changes nothing: a dump cannot be reset",
    aliases: &[],
    args: "[halt|init|run]",
    help: "nothing to do: a dump cannot be reset, every vCPU stays\n\
           as it was dumped (IDE launch sequences send it)",
    run: |_, _| "a dump cannot be reset: every vCPU stays as it was dumped".to_string(),
};

/// `info mem`: runs of mapped virtual addresses with QEMU's `u`/`r`/`w` flags.
pub fn info_mem(ctx: &mut Context<'_>) -> String {
    let Some(space) = ctx.read_space() else {
        return format!("{} has no address space", ctx.current);
    };
    if space.mode == PagingMode::None {
        return "PG disabled".to_string();
    }
    let map = ctx.guest().mapped_ranges(&space, INFO_MEM_MAX_TABLES);
    if map.truncated {
        tracing::warn!(
            "monitor info mem: stopped after {} page tables; the list is incomplete",
            map.tables
        );
    }
    // QEMU merges runs by user and write rights only (it does not show NX).
    let mut runs: Vec<(u64, u64, bool, bool)> = Vec::new();
    for r in &map.ranges {
        let (u, w) = (r.rights.user, r.rights.writable);
        match runs.last_mut() {
            Some(last) if last.0.wrapping_add(last.1) == r.start && (last.2, last.3) == (u, w) => {
                last.1 = last.1.wrapping_add(r.len);
            }
            _ => runs.push((r.start, r.len, u, w)),
        }
    }
    let digits = if space.mode.is_32bit() { 8 } else { 16 };
    let mut out = String::new();
    for (start, len, user, write) in runs {
        let _ = writeln!(
            out,
            "{start:0digits$x}-{:0digits$x} {len:0digits$x} {}r{}",
            start.wrapping_add(len),
            if user { 'u' } else { '-' },
            if write { 'w' } else { '-' },
        );
    }
    out
}

/// `info version`.
pub fn info_version() -> String {
    format!(
        "{} {} (serving a Xen domain dump)",
        env!("CARGO_PKG_NAME"),
        env!("CARGO_PKG_VERSION")
    )
}

/// `info registers`: the current thread's vCPU in QEMU's layout.
pub fn info_registers(ctx: &mut Context<'_>) -> String {
    let Some(v) = ctx.debuggee.vcpu(ctx.current) else {
        return format!("{} is not a vCPU", ctx.current);
    };
    let wide = ctx.guest().guest_width() == Width::Bits64;
    qemu_registers(v, wide)
}

/// QEMU's `x86_cpu_dump_state` layout, limited to what a Xen context holds.
pub fn qemu_registers(v: &VcpuState, wide: bool) -> String {
    let g = &v.gprs;
    let mut out = String::new();
    let fl = v.rflags;
    let flag = |bit: u32, c: char| if fl & (1 << bit) != 0 { c } else { '-' };
    let flags: String = [
        flag(10, 'D'),
        flag(11, 'O'),
        flag(7, 'S'),
        flag(6, 'Z'),
        flag(4, 'A'),
        flag(2, 'P'),
        flag(0, 'C'),
    ]
    .iter()
    .collect();
    let cpl = v.selectors.cs & 3;
    let s = v.selectors;
    let segs = [
        ("ES", s.es, None),
        ("CS", s.cs, None),
        ("SS", s.ss, None),
        ("DS", s.ds, None),
        ("FS", s.fs, v.fs_base),
        ("GS", s.gs, v.active_gs_base()),
    ];
    if wide {
        let rows = [
            [
                ("RAX", g.rax),
                ("RBX", g.rbx),
                ("RCX", g.rcx),
                ("RDX", g.rdx),
            ],
            [
                ("RSI", g.rsi),
                ("RDI", g.rdi),
                ("RBP", g.rbp),
                ("RSP", g.rsp),
            ],
            [("R8 ", g.r8), ("R9 ", g.r9), ("R10", g.r10), ("R11", g.r11)],
            [
                ("R12", g.r12),
                ("R13", g.r13),
                ("R14", g.r14),
                ("R15", g.r15),
            ],
        ];
        for row in rows {
            let line: Vec<String> = row.iter().map(|(n, x)| format!("{n}={x:016x}")).collect();
            let _ = writeln!(out, "{}", line.join(" "));
        }
        let _ = writeln!(
            out,
            "RIP={:016x} RFL={:08x} [{flags}] CPL={cpl}",
            v.rip, fl as u32
        );
        if let Some(sys) = &v.system {
            hidden_segments(&mut out, sys, true);
        } else {
            for (name, sel, base) in segs {
                match base {
                    Some(b) => {
                        let _ = writeln!(out, "{name} ={sel:04x} {b:016x}");
                    }
                    None => {
                        let _ = writeln!(out, "{name} ={sel:04x}");
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:016x} CR3={:016x} CR4={:08x}",
            v.cr0() as u32,
            v.cr2(),
            v.cr3(),
            v.cr4() as u32
        );
        let d = &v.debugreg;
        let _ = writeln!(
            out,
            "DR0={:016x} DR1={:016x} DR2={:016x} DR3={:016x} \nDR6={:016x} DR7={:016x}",
            d[0], d[1], d[2], d[3], d[6], d[7]
        );
    } else {
        let m = |x: u64| x as u32;
        let _ = writeln!(
            out,
            "EAX={:08x} EBX={:08x} ECX={:08x} EDX={:08x}\nESI={:08x} EDI={:08x} EBP={:08x} ESP={:08x}",
            m(g.rax), m(g.rbx), m(g.rcx), m(g.rdx), m(g.rsi), m(g.rdi), m(g.rbp), m(g.rsp)
        );
        let _ = writeln!(
            out,
            "EIP={:08x} EFL={:08x} [{flags}] CPL={cpl}",
            m(v.rip),
            m(fl)
        );
        if let Some(sys) = &v.system {
            hidden_segments(&mut out, sys, false);
        } else {
            for (name, sel, base) in segs {
                match base {
                    Some(b) => {
                        let _ = writeln!(out, "{name} ={sel:04x} {:08x}", m(b));
                    }
                    None => {
                        let _ = writeln!(out, "{name} ={sel:04x}");
                    }
                }
            }
        }
        let _ = writeln!(
            out,
            "CR0={:08x} CR2={:08x} CR3={:08x} CR4={:08x}",
            m(v.cr0()),
            m(v.cr2()),
            m(v.cr3()),
            m(v.cr4())
        );
        let d = &v.debugreg;
        let _ = writeln!(
            out,
            "DR0={:08x} DR1={:08x} DR2={:08x} DR3={:08x} \nDR6={:08x} DR7={:08x}",
            m(d[0]),
            m(d[1]),
            m(d[2]),
            m(d[3]),
            m(d[6]),
            m(d[7])
        );
    }
    if let Some(e) = v.efer {
        let _ = writeln!(out, "EFER={e:016x}");
    }
    if let Some(fx) = &v.fpu {
        let _ = writeln!(
            out,
            "FCW={:04x} FSW={:04x} [ST={}] FTW={:02x} MXCSR={:08x}",
            fx.fcw(),
            fx.fsw(),
            fx.top(),
            fx.abridged_tag(),
            fx.mxcsr()
        );
        for (i, st) in fx.st().iter().enumerate() {
            let mant = u64::from_le_bytes(st[..8].try_into().unwrap_or([0; 8]));
            let exp = u16::from_le_bytes([st[8], st[9]]);
            let sep = if i % 2 == 1 { "\n" } else { " " };
            let _ = write!(out, "FPR{i}={mant:016x} {exp:04x}{sep}");
        }
        let count = if wide { 16 } else { 8 };
        for (i, x) in fx.xmm().iter().take(count).enumerate() {
            let sep = if i % 2 == 1 { "\n" } else { " " };
            let _ = write!(out, "XMM{i:02}={x:032x}{sep}");
        }
    }
    if v.system.is_none() {
        out.push_str(
            "(not in a Xen context: other segment bases, limits and attributes, LDT, TR, GDT, IDT, EFER)",
        );
    }
    out
}

/// The segment registers with their hidden parts, LDT, TR, GDT and IDT, as QEMU prints
/// them (`cpu-dump.c`: selector, base, limit, then the descriptor's flags word: Xen's
/// packed `arbytes` type/S/DPL/P in bits 15:8, AVL/L/D-B/G in bits 23:20).
fn hidden_segments(out: &mut String, sys: &crate::vcpu::SystemRegisters, wide: bool) {
    let flags = |a: u32| ((a & 0xff) << 8) | ((a & 0xf00) << 12);
    let base = |b: u64| {
        if wide {
            format!("{b:016x}")
        } else {
            format!("{:08x}", b as u32)
        }
    };
    for (name, sg) in [
        ("ES ", sys.es),
        ("CS ", sys.cs),
        ("SS ", sys.ss),
        ("DS ", sys.ds),
        ("FS ", sys.fs),
        ("GS ", sys.gs),
        ("LDT", sys.ldtr),
        ("TR ", sys.tr),
    ] {
        let _ = writeln!(
            out,
            "{name}={:04x} {} {:08x} {:08x} DPL={}",
            sg.selector,
            base(sg.base),
            sg.limit,
            flags(sg.attributes),
            (sg.attributes >> 5) & 3
        );
    }
    let _ = writeln!(
        out,
        "GDT=     {} {:08x}",
        base(sys.gdtr.base),
        sys.gdtr.limit
    );
    let _ = writeln!(
        out,
        "IDT=     {} {:08x}",
        base(sys.idtr.base),
        sys.idtr.limit
    );
}

/// `xp /FMT ADDR`.
fn xp(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let usage = "usage: monitor xp /[COUNT][x|d|u|o|c][b|h|w|g] ADDR";
    let (fmt, addr) = match args {
        [f, a] if f.starts_with('/') => (&f[1..], *a),
        [a] if !a.starts_with('/') => ("", *a),
        _ => return usage.to_string(),
    };
    let Some(addr) = parse_num(addr) else {
        return format!("not an address: {addr}\n{usage}");
    };
    let Some((count, format, size)) = parse_format(fmt) else {
        return format!("bad format /{fmt}\n{usage}");
    };
    let guest = ctx.guest();
    let via = if guest.dump().knows_pfns() {
        Via::Physical
    } else {
        return "physical addresses cannot be read in this dump (a legacy PV dump has no p2m)"
            .to_string();
    };
    let count = count.min(XP_MAX_UNITS);
    let len = usize::try_from(count * size).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; len];
    let mut cache = TranslationCache::disabled();
    let n = guest.read(&mut cache, via, addr, &mut buf);
    let per_line: u64 = if size == 1 { 8 } else { 16 };
    let width = match format {
        'x' => 2 * size as usize,
        'o' => (size as usize * 8).div_ceil(3),
        _ => (size as usize * 8 * 10).div_ceil(33),
    };
    let mut out = String::new();
    let mut offset = 0u64;
    while offset < count * size {
        if offset % per_line == 0 {
            if offset > 0 {
                out.push('\n');
            }
            let _ = write!(out, "{:016x}:", addr.wrapping_add(offset));
        }
        let at = offset as usize;
        if at + size as usize > n {
            let _ = write!(
                out,
                "\nCannot access memory at physical address {:#x}",
                addr.wrapping_add(offset)
            );
            break;
        }
        let mut raw = [0u8; 8];
        raw[..size as usize].copy_from_slice(&buf[at..at + size as usize]);
        let value = u64::from_le_bytes(raw);
        let signed = {
            let shift = 64 - 8 * size as u32;
            ((value << shift) as i64) >> shift
        };
        let _ = match format {
            'x' => write!(out, " 0x{value:0width$x}"),
            'o' => write!(out, " {:>width$}", format!("{value:#o}")),
            'u' => write!(out, " {value:>width$}"),
            'd' => write!(out, " {signed:>width$}"),
            _ => {
                let c = value as u8;
                if c.is_ascii_graphic() || c == b' ' {
                    write!(out, " '{}'", c as char)
                } else {
                    write!(out, " '\\x{c:02x}'")
                }
            }
        };
        offset += size;
    }
    out
}

/// QEMU's `/[COUNT][FORMAT][SIZE]` (either letter may come first): count, format, unit
/// size in bytes. Defaults: 1, `x`, 4 bytes (`c` forces 1).
fn parse_format(fmt: &str) -> Option<(u64, char, u64)> {
    let digits = fmt.chars().take_while(char::is_ascii_digit).count();
    let count = if digits == 0 {
        1
    } else {
        fmt[..digits].parse().ok()?
    };
    let (mut format, mut size) = ('x', None);
    for c in fmt[digits..].chars() {
        match c {
            'x' | 'd' | 'u' | 'o' | 'c' => format = c,
            'b' => size = Some(1),
            'h' => size = Some(2),
            'w' => size = Some(4),
            'g' => size = Some(8),
            _ => return None,
        }
    }
    let size = if format == 'c' { 1 } else { size.unwrap_or(4) };
    Some((count, format, size))
}

/// `gva2gpa ADDR`.
fn gva2gpa(ctx: &mut Context<'_>, args: &[&str]) -> String {
    let Some(addr) = args.first().and_then(|a| parse_num(a)) else {
        return "usage: monitor gva2gpa ADDR".to_string();
    };
    let Some(space) = ctx.read_space() else {
        return format!("{} has no address space", ctx.current);
    };
    let guest = ctx.guest();
    let tr = match guest.translate(&space, crate::addr::VirtAddr(addr)) {
        Ok(tr) => tr,
        Err(e) => return format!("Unmapped\n({e})"),
    };
    let pa = match guest.dump().table_frame_space() {
        FrameSpace::Guest => Some(tr.address()),
        FrameSpace::Machine => guest
            .dump()
            .mfn_to_pfn(MachineFrame(tr.frame))
            .map(|p| (p.0 << PAGE_SHIFT) | tr.offset),
    };
    match pa {
        Some(pa) => format!("gpa: {pa:#x}"),
        None => format!(
            "Unmapped\n(machine address {:#x}: this dump has no guest frame for it)",
            tr.address()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::scenario::{Scenario, DATA_PAGES};
    use crate::builder::DumpOptions;
    use crate::dump::{GuestKind, XenDump};
    use crate::gdb::monitor::run_command;
    use crate::gdb::target::ReadSettings;
    use crate::memory::{Guest, GuestOptions};
    use crate::threads::{Debuggee, ThreadId};

    fn debuggee(kind: GuestKind, mode: PagingMode) -> (Debuggee, Scenario) {
        let s = Scenario::new(kind, mode).unwrap();
        let width = if mode.is_32bit() {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let bytes = s.image.write(&DumpOptions::elf(width)).unwrap();
        let guest = Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default());
        (Debuggee::new(guest.unwrap()), s)
    }

    fn monitor(d: &Debuggee, thread: usize, line: &str) -> String {
        let mut settings = ReadSettings::default();
        let mut ctx = Context {
            debuggee: d,
            settings: &mut settings,
            current: ThreadId::new(thread).unwrap(),
        };
        run_command(&mut ctx, line)
    }

    /// `info mem` lines as (start, end, flags), each checked for QEMU's shape.
    fn info_mem(d: &Debuggee, thread: usize, digits: usize) -> Vec<(u64, u64, String)> {
        monitor(d, thread, "info mem")
            .lines()
            .map(|l| {
                let (range, rest) = l.split_once(' ').unwrap();
                let (size, flags) = rest.split_once(' ').unwrap();
                let (start, end) = range.split_once('-').unwrap();
                for field in [start, end, size] {
                    assert_eq!(field.len(), digits, "{l}");
                }
                let n = |t: &str| u64::from_str_radix(t, 16).unwrap();
                assert_eq!(n(end).wrapping_sub(n(start)), n(size), "{l}");
                assert!(matches!(flags, "-r-" | "-rw" | "ur-" | "urw"), "{l}");
                (n(start), n(end), flags.to_string())
            })
            .collect()
    }

    #[test]
    fn info_mem_lists_each_threads_mappings_in_qemus_format() {
        for (kind, mode, digits) in [
            (GuestKind::Pv, PagingMode::FourLevel, 16),
            (GuestKind::Hvm, PagingMode::FourLevel, 16),
            (GuestKind::Hvm, PagingMode::Pae, 8),
        ] {
            let (d, s) = debuggee(kind, mode);
            let f = &s.facts;
            let covers = |map: &[(u64, u64, String)], va: u64, flags: &str| {
                map.iter()
                    .any(|(a, b, fl)| *a <= va && va < *b && fl == flags)
            };
            let kernel = info_mem(&d, 1, digits);
            let what = format!("{kind:?} {mode}: {kernel:x?}");
            assert!(covers(&kernel, f.text_va, "-r-"), "{what}");
            assert!(covers(&kernel, f.data_va, "-rw"), "{what}");
            assert!(
                covers(&kernel, f.data_va + DATA_PAGES * 4096 - 1, "-rw"),
                "{what}"
            );
            assert!(covers(&kernel, f.direct_map_va, "-rw"), "{what}");
            assert!(!kernel
                .iter()
                .any(|(a, b, _)| *a <= f.unmapped_va && f.unmapped_va < *b));
            // The user page is in vCPU 1's tables only, user-accessible.
            assert!(!kernel
                .iter()
                .any(|(a, b, _)| *a <= f.user_va && f.user_va < *b));
            let user = info_mem(&d, 2, digits);
            assert!(
                covers(&user, f.user_va, "urw"),
                "{kind:?} {mode}: {user:x?}"
            );
        }
    }

    #[test]
    fn a_saved_image_gives_gdt_idt_efer_and_hidden_segments() {
        let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
        let opts = crate::builder::StreamOptions::xl_save();
        let bytes = s.write_stream(&opts).unwrap();
        let guest = Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default());
        let d = Debuggee::new(guest.unwrap());
        let v = &s.stream_states(&opts)[0];
        let sys = v.system.as_ref().unwrap();
        let regs = monitor(&d, 1, "info registers");
        for want in [
            format!("GDT=     {:016x} {:08x}", sys.gdtr.base, sys.gdtr.limit),
            format!("IDT=     {:016x} {:08x}", sys.idtr.base, sys.idtr.limit),
            format!("EFER={:016x}", v.efer.unwrap()),
            // A 64-bit kernel code segment: type 0xb, S, P; L, G.
            format!("CS =0010 {:016x} ffffffff 00a09b00 DPL=0", 0),
            format!("TR =0040 {:016x} 00004087 00008b00", sys.tr.base),
            format!("GS =0000 {:016x}", v.gs_base_kernel.unwrap()),
        ] {
            assert!(regs.contains(&want), "{want:?} not in:\n{regs}");
        }
        assert!(!regs.contains("not in a Xen context"), "{regs}");
        // The vCPU that was down has no registers at all.
        assert!(monitor(&d, 3, "vcpu 2").contains("holds no registers"));
    }

    #[test]
    fn registers_translation_and_physical_dumps() {
        let (d, s) = debuggee(GuestKind::Hvm, PagingMode::FourLevel);
        let v = &s.image.expected_states()[1];
        let regs = monitor(&d, 2, "info registers");
        assert!(regs.contains(&format!("RIP={:016x} RFL=", v.rip)), "{regs}");
        assert!(regs.contains(&format!("RSP={:016x}", v.gprs.rsp)), "{regs}");
        assert!(regs.contains(&format!("CR3={:016x}", v.cr3())), "{regs}");
        assert!(regs.contains(&format!(
            "FS ={:04x} {:016x}",
            v.selectors.fs,
            v.fs_base.unwrap()
        )));
        assert!(regs.contains("CPL=3"), "{regs}");
        assert!(!regs.contains("IDT=") && !regs.contains("GDT="), "{regs}");
        let f = &s.facts;
        assert_eq!(
            monitor(&d, 1, &format!("gva2gpa {:#x}", f.banner_va)),
            format!("gpa: {:#x}", f.banner_pa)
        );
        assert!(monitor(&d, 1, &format!("gva2gpa {:#x}", f.unmapped_va)).starts_with("Unmapped"));
        // "Linux ve" as two words, in both spellings of the format.
        let want = format!(
            "{:016x}: 0x{:08x} 0x{:08x}",
            f.banner_pa,
            u32::from_le_bytes(*b"Linu"),
            u32::from_le_bytes(*b"x ve")
        );
        assert_eq!(monitor(&d, 1, &format!("xp /2xw {:#x}", f.banner_pa)), want);
        assert_eq!(monitor(&d, 1, &format!("xp/2wx {:#x}", f.banner_pa)), want);
        let chars = monitor(&d, 1, &format!("xp /5c {:#x}", f.banner_pa));
        assert_eq!(chars, format!("{:016x}: 'L' 'i' 'n' 'u' 'x'", f.banner_pa));
        assert!(monitor(&d, 1, "xp /3q 0").starts_with("bad format"));
        assert!(monitor(&d, 1, "info nonsense").contains("unknown command"));
        assert!(monitor(&d, 1, "info version").contains(env!("CARGO_PKG_VERSION")));
        assert!(monitor(&d, 1, "halt").contains("halted already"));
        assert!(monitor(&d, 1, "reset halt").contains("cannot be reset"));
    }

    #[test]
    fn tables_that_are_not_in_the_dump_map_nothing() {
        let (d, _) = debuggee(GuestKind::Hvm, PagingMode::FourLevel);
        let mut settings = ReadSettings::default();
        let mut ctx = Context {
            debuggee: &d,
            settings: &mut settings,
            current: ThreadId::new(1).unwrap(),
        };
        // Through a CR3 of the wrong kind the tables are not found: nothing mapped.
        ctx.settings.cr3 = Some(0xdead_b000);
        assert_eq!(super::info_mem(&mut ctx), "");
    }

    #[test]
    fn formats_parse_as_qemu_reads_them() {
        assert_eq!(parse_format(""), Some((1, 'x', 4)));
        assert_eq!(parse_format("8xg"), Some((8, 'x', 8)));
        assert_eq!(parse_format("4gx"), Some((4, 'x', 8)));
        assert_eq!(parse_format("16c"), Some((16, 'c', 1)));
        assert_eq!(parse_format("2db"), Some((2, 'd', 1)));
        assert_eq!(parse_format("z"), None);
        assert_eq!(parse_format("99999999999999999999999"), None);
    }
}
