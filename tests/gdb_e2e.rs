//! End-to-end: the real gdb, over TCP, against the real server, on builder dumps of every
//! format, both guest kinds and both guest widths. Expected values come from the
//! scenario description.

mod support;

use support::{dump_file, gdb, gdb_with, reg, Server};
use xendump_gdbserver::addr::VirtAddr;
use xendump_gdbserver::builder::scenario::{Scenario, DATA_PAGES};
use xendump_gdbserver::builder::{all_variants, x86, DumpOptions, Layout};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;
use xendump_gdbserver::vcpu::VcpuState;

struct Case {
    name: String,
    scenario: Scenario,
    opts: DumpOptions,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
    ] {
        let s = Scenario::new(kind, mode).unwrap();
        let width = if x86::is_32bit(mode) {
            Width::Bits32
        } else {
            Width::Bits64
        };
        // Legacy HVM included: Xen 3.0.x stored CR3 as the top table's machine address
        // (above 4 GiB here), and gdb must see the guest's own.
        for (name, opts) in all_variants(kind, width) {
            out.push(Case {
                name: format!("{name}-{mode}"),
                scenario: s.clone(),
                opts,
            });
        }
    }
    out
}

/// The registers gdb must show for a vCPU, by gdb's names.
fn expected_regs(v: &VcpuState, wide: bool) -> Vec<(&'static str, u64)> {
    let g = &v.gprs;
    let m = |x: u64| if wide { x } else { x & 0xffff_ffff };
    let mut r = if wide {
        vec![
            ("rax", g.rax),
            ("rbx", g.rbx),
            ("rcx", g.rcx),
            ("rdx", g.rdx),
            ("rsi", g.rsi),
            ("rdi", g.rdi),
            ("rbp", g.rbp),
            ("rsp", g.rsp),
            ("r8", g.r8),
            ("r15", g.r15),
            ("rip", v.rip),
        ]
    } else {
        vec![
            ("eax", m(g.rax)),
            ("ebx", m(g.rbx)),
            ("ecx", m(g.rcx)),
            ("edx", m(g.rdx)),
            ("esi", m(g.rsi)),
            ("edi", m(g.rdi)),
            ("ebp", m(g.rbp)),
            ("esp", m(g.rsp)),
            ("eip", m(v.rip)),
        ]
    };
    r.extend([
        ("eflags", v.rflags & 0xffff_ffff),
        ("cs", u64::from(v.selectors.cs)),
        ("ss", u64::from(v.selectors.ss)),
        ("ds", u64::from(v.selectors.ds)),
        ("cr0", m(v.cr0())),
        ("cr2", m(v.cr2())),
        ("cr3", m(v.cr3())),
        ("cr4", m(v.cr4())),
    ]);
    r
}

#[test]
fn gdb_sees_every_format_and_width() {
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    // 64-bit PV 4 variants, 32-bit PV 5, HVM 5 in each of two modes (legacy in the
    // 3.0.3 and the 3.0.4 style).
    assert_eq!(cases.len(), 19, "{}", cases.len());
    for kind in [GuestKind::Pv, GuestKind::Hvm] {
        for format in ["elf-", "elf31-", "legacy-"] {
            assert!(
                cases
                    .iter()
                    .any(|c| c.scenario.image.kind == kind && c.name.starts_with(format)),
                "no {format} case for {kind:?}"
            );
        }
    }
    for case in &cases {
        let s = &case.scenario;
        let f = &s.facts;
        let wide = !x86::is_32bit(s.mode);
        let path = dump_file(&dir, &case.name, &s.write(&case.opts).unwrap());
        let server = Server::start(&path, &[]);
        let (xw, unit) = if wide { ("g", 8) } else { ("w", 4) };
        let jiffies_cmd = format!("x/1x{xw} {:#x}", f.jiffies_va);
        let mut cmds = vec![
            "info threads".to_string(),
            format!("x/s {:#x}", f.banner_va),
            jiffies_cmd.clone(),
            format!("x/8x{xw} {:#x}", f.data_va + 8),
            format!("x/x{xw} {:#x}", f.unmapped_va),
            format!("x/x{xw} {:#x}", f.absent_va),
            "p/x $cr3".into(),
        ];
        for t in 1..=3 {
            cmds.push(format!("thread {t}"));
            cmds.push("echo ==REGS==\\n".into());
            cmds.push("info registers".into());
        }
        // Other address views.
        cmds.push("monitor view physical".into());
        cmds.push(format!("x/s {:#x}", f.banner_pa));
        cmds.push("monitor view virtual".into());
        let cmds_ref: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let out = gdb(&server.addr, &cmds_ref);
        let ctx = format!("{}:\n{out}\nserver log:\n{}", case.name, server.log());

        assert!(
            out.contains("Thread 1.1 (vCPU 0, online, kernel mode)"),
            "{ctx}"
        );
        assert!(
            out.contains("Thread 1.2 (vCPU 1, online, user mode)"),
            "{ctx}"
        );
        // Xen 3.0.x had no VGCF_online: every context in a legacy dump was of a running
        // vCPU, so the reader reports them all online.
        let legacy = matches!(case.opts.format, Layout::Legacy(_));
        let third = if legacy { "online" } else { "offline" };
        assert!(
            out.contains(&format!("Thread 1.3 (vCPU 2, {third}, kernel mode)")),
            "{ctx}"
        );
        assert!(out.contains(&format!("\"{}\"", f.banner)), "banner: {ctx}");
        let jline = format!(
            "{:#0w$x}",
            f.jiffies & if wide { u64::MAX } else { 0xffff_ffff },
            w = unit * 2 + 2
        );
        assert!(out.contains(&jline), "jiffies {jline}: {ctx}");
        // Data pages carry 0xda7a0000 + page index at offset 8: the first x/8 word.
        assert!(
            out.contains(&format!("{:#0w$x}", 0xda7a_0000u64, w = unit * 2 + 2)),
            "data: {ctx}"
        );
        assert!(
            out.contains(&format!(
                "Cannot access memory at address {:#x}",
                f.unmapped_va
            )),
            "{ctx}"
        );
        assert!(
            out.contains(&format!(
                "Cannot access memory at address {:#x}",
                f.absent_va
            )),
            "{ctx}"
        );
        // Registers of every thread, from the builder's own description: as the guest
        // had them (a legacy HVM dump stores CR3 as a machine address, gdb shows the
        // guest's).
        let expected = s.image.expected_states();
        let blocks: Vec<&str> = out.split("==REGS==").skip(1).collect();
        assert_eq!(blocks.len(), 3, "{ctx}");
        for (slot, block) in blocks.iter().enumerate() {
            for (name, want) in expected_regs(&expected[slot], wide) {
                assert_eq!(reg(block, name), Some(want), "vCPU {slot} {name}: {ctx}");
            }
        }
        let legacy_pv =
            matches!(case.opts.format, Layout::Legacy(_)) && s.image.kind == GuestKind::Pv;
        let banner_hits = out.matches(&format!("\"{}\"", f.banner)).count();
        if legacy_pv {
            assert!(out.contains("Cannot access memory"), "{ctx}");
            assert_eq!(banner_hits, 1, "{ctx}");
        } else {
            assert_eq!(banner_hits, 2, "physical view: {ctx}");
        }
        drop(server);
    }
}

#[test]
fn segment_bases_and_system_registers() {
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Hvm,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let out = gdb(
        &server.addr,
        &[
            "p/x $fs_base",
            "p/x $gs_base",
            "p $orig_rax",
            "p/x $cr3",
            "thread 2",
            "p/x $gs_base",
            "p/x $cr3",
        ],
    );
    let v = s.image.expected_states();
    let ctx = format!("{out}\n{}", server.log());
    // gdb's value history, $1 to $6, exactly.
    let want = [
        format!("{:#x}", v[0].fs_base.unwrap()),
        // Kernel mode: the kernel GS base is the live one.
        format!("{:#x}", v[0].gs_base_kernel.unwrap()),
        "<unavailable>".to_string(),
        format!("{:#x}", v[0].cr3()),
        // vCPU 1 is in user mode (cs & 3 == 3): the user GS base is live.
        format!("{:#x}", v[1].gs_base_user.unwrap()),
        format!("{:#x}", v[1].cr3()),
    ];
    for (i, want) in want.iter().enumerate() {
        assert_eq!(
            history(&out, i + 1),
            Some(want.as_str()),
            "${}: {ctx}",
            i + 1
        );
    }
}

/// What gdb printed for value-history entry `$n` (`$n = VALUE`).
fn history(out: &str, n: usize) -> Option<&str> {
    let prefix = format!("${n} = ");
    out.lines().find_map(|l| l.strip_prefix(prefix.as_str()))
}

#[test]
fn running_is_refused_and_changes_nothing() {
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let out = gdb(
        &server.addr,
        &[
            "thread 2",
            "stepi",
            "echo ==AFTER-STEPI==\\n",
            "info registers rip rsp",
            "thread 1",
            "continue",
            "echo ==AFTER-CONT==\\n",
            "info threads",
            "thread 1",
            "info registers rip rsp",
            "thread 2",
            "info registers rip rsp",
            "thread 3",
            "info registers rip rsp",
            "set {long}$rsp = 1",
            "set $rax = 5",
            "break *0xffffffff81000000",
            "continue",
        ],
    );
    let v = s.image.expected_states();
    let ctx = format!("{out}\n{}", server.log());
    assert!(out.contains("dump is read-only: vCPUs cannot run"), "{ctx}");
    let after_stepi = out.split("==AFTER-STEPI==").nth(1).unwrap();
    assert_eq!(
        reg(after_stepi, "rip"),
        Some(v[1].rip),
        "stepi moved vCPU 1: {ctx}"
    );
    let after = out.split("==AFTER-CONT==").nth(1).unwrap();
    let blocks: Vec<&str> = after.split("[Switching to thread").skip(1).collect();
    assert!(blocks.len() >= 3, "{ctx}");
    for (slot, b) in blocks.iter().take(3).enumerate() {
        assert_eq!(
            reg(b, "rip"),
            Some(v[slot].rip),
            "vCPU {slot} rip after continue: {ctx}"
        );
        assert_eq!(
            reg(b, "rsp"),
            Some(v[slot].gprs.rsp),
            "vCPU {slot} rsp after continue: {ctx}"
        );
    }
    assert!(
        out.contains("Cannot access memory at address"),
        "write: {ctx}"
    );
    assert!(
        out.contains("Could not write register") || out.contains("E79"),
        "register write: {ctx}"
    );
    assert!(
        out.contains("Cannot insert breakpoint"),
        "breakpoint: {ctx}"
    );
    assert!(!out.contains("Remote connection closed"), "{ctx}");
    assert!(!out.contains("internal-error"), "{ctx}");
}

#[test]
fn two_gdbs_at_once_and_a_reconnect_after_a_killed_gdb() {
    let (dir, s, mut server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let f = s.facts.clone();
    // Two sessions at once, each switching threads and views independently. Each waits
    // for the other to have done so (a barrier of files) before reading: both sessions
    // are open while either reads.
    let handles: Vec<_> = (0..2)
        .map(|i| {
            let addr = server.addr.clone();
            let f = f.clone();
            let me = dir.path().join(format!("ready-{i}"));
            let other = dir.path().join(format!("ready-{}", 1 - i));
            std::thread::spawn(move || {
                let view = if i == 0 { "physical" } else { "virtual" };
                let addr_read = if i == 0 { f.banner_pa } else { f.banner_va };
                let cmds = [
                    format!("monitor view {view}"),
                    format!("thread {}", i + 1),
                    format!(
                        "shell touch {}; while [ ! -e {} ]; do sleep 0.01; done",
                        me.display(),
                        other.display()
                    ),
                    format!("x/s {addr_read:#x}"),
                    "p/x $rip".into(),
                ];
                let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
                gdb(&addr, &cmds)
            })
        })
        .collect();
    let outs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let v = s.image.expected_states();
    for (i, out) in outs.iter().enumerate() {
        assert!(out.contains(f.banner), "session {i}: {out}");
        assert_eq!(
            history(out, 1),
            Some(format!("{:#x}", v[i].rip).as_str()),
            "session {i}: {out}"
        );
    }
    assert!(
        server.wait_for_log("gdb disconnected", 2),
        "{}",
        server.log()
    );
    // A gdb killed mid-session must not take the server down. It connects, says so,
    // then waits on its standard input.
    let mut c = std::process::Command::new(support::gdb_path());
    c.args([
        "-nx",
        "-batch",
        "-ex",
        &format!("target remote {}", server.addr),
        "-ex",
        "echo VICTIM-CONNECTED\\n",
        "-ex",
        "shell read line",
    ]);
    let mut victim = c
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = victim.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let connected = loop {
        match rx.recv_timeout(support::HANG) {
            Ok(line) if line.contains("VICTIM-CONNECTED") => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    assert!(
        connected,
        "the victim gdb never connected:\n{}",
        server.log()
    );
    assert!(server.wait_for_log("gdb connected", 3), "{}", server.log());
    victim.kill().unwrap();
    victim.wait().unwrap();
    drop(victim.stdin.take()); // ends its `shell read`
                               // The server sees the session end, and serves the next one.
    assert!(
        server.wait_for_log_where(|log| {
            log.matches("gdb disconnected").count() + log.matches("session ended").count() >= 3
        }),
        "{}",
        server.log()
    );
    let out = gdb(&server.addr, &[&format!("x/s {:#x}", f.banner_va)]);
    assert!(out.contains(f.banner), "after reconnect: {out}");
    assert!(server.alive(), "server died:\n{}", server.log());
}

#[test]
fn the_gdbinit_connects_and_its_helpers_work() {
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let gdbinit = concat!(env!("CARGO_MANIFEST_DIR"), "/gdbinit");
    let mut c = std::process::Command::new(support::gdb_path());
    c.env("XENDUMP_GDBSERVER", &server.addr);
    c.args(["-nx", "-batch", "-x", gdbinit]);
    for cmd in [
        "xd-info".to_string(),
        "xd-vcpus".into(),
        "xd-vcpu 1".into(),
        format!("xd-translate {:#x}", s.facts.jiffies_va),
        "xd-p2m 0x300".into(),
        format!(
            "xd-m2p {:#x}",
            xendump_gdbserver::builder::scenario::scenario_mfn(0x300)
        ),
        "xd-physical".into(),
        format!("x/s {:#x}", s.facts.banner_pa),
        "xd-machine".into(),
        format!("x/s {:#x}", s.facts.banner_ma),
        "xd-virtual".into(),
        "monitor nonsense".into(),
        "show pagination".into(),
    ] {
        c.args(["-ex", &cmd]);
    }
    let out = support::run_with_timeout(c, support::HANG);
    let ctx = format!("{out}\n{}", server.log());
    assert!(out.contains("format:          ELF xc_core"), "{ctx}");
    assert!(
        out.contains("vCPU 1 (thread 2): online, user mode"),
        "{ctx}"
    );
    assert!(out.contains("PML4"), "{ctx}");
    assert!(out.contains("pfn 0x300 -> mfn 0x81300"), "{ctx}");
    assert!(out.contains("mfn 0x81300 -> pfn 0x300"), "{ctx}");
    assert_eq!(out.matches(s.facts.banner).count(), 2, "{ctx}");
    assert!(out.contains("unknown command \"nonsense\""), "{ctx}");
    assert!(out.contains("State of pagination is off"), "{ctx}");
}

/// gdb's memory cache, as the gdbinit sets it up: only what every thread reads alike
/// (the kernel half) is cached, so a user page that one vCPU maps is never served for
/// another, in either order and with the kernel page cached meanwhile (gdb 13 also
/// empties its cache when the current thread changes: this holds even with every address
/// cacheable); and after a `monitor` that changes what addresses mean, nothing cached
/// before is served (without the gdbinit's flush after `monitor`, the physical read
/// below returns the cached virtual bytes).
#[test]
fn the_gdbinit_caches_only_what_every_thread_reads_alike() {
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let f = &s.facts;
    let gdbinit = concat!(env!("CARGO_MANIFEST_DIR"), "/gdbinit");
    let mut c = std::process::Command::new(support::gdb_path());
    c.env("XENDUMP_GDBSERVER", &server.addr);
    c.env_remove("XENDUMP_NO_CACHE");
    c.args(["-nx", "-batch", "-x", gdbinit]);
    let user = format!("x/gx {:#x}", f.user_va);
    let kernel = format!("x/gx {:#x}", f.jiffies_va);
    for cmd in [
        "info mem",
        "thread 2",
        &user,
        &kernel,
        "thread 1",
        &user,
        &kernel,
        "thread 3",
        &user,
        "thread 2",
        &user,
        &kernel,
        "info dcache",
        // The physical view: the same numbers are other bytes now, whatever is cached.
        "xd-physical",
        &kernel,
        "xd-virtual",
        &kernel,
    ] {
        c.args(["-ex", cmd]);
    }
    let out = support::run_with_timeout(c, support::HANG);
    let ctx = format!("{out}\n{}", server.log());
    assert!(out.contains("ro cache"), "no cached region: {ctx}");
    let value = format!("{:#018x}", f.user_value);
    assert_eq!(
        out.matches(&value).count(),
        2,
        "vCPU 1's user page twice: {ctx}"
    );
    let refused = format!("Cannot access memory at address {:#x}", f.user_va);
    assert_eq!(
        out.matches(&refused).count(),
        2,
        "vCPUs 0 and 2 refused: {ctx}"
    );
    let jiffies = format!("{:#018x}", f.jiffies);
    assert_eq!(out.matches(&jiffies).count(), 4, "jiffies, cached: {ctx}");
    assert!(
        out.contains("active lines"),
        "the kernel page cached: {ctx}"
    );
    assert!(
        out.contains(&format!(
            "Cannot access memory at address {:#x}",
            f.jiffies_va
        )),
        "a kernel address in the physical view: {ctx}"
    );
}

#[test]
fn demo_dump_is_the_builder_output() {
    // The bundled demo must stay what `cargo run --example make-demo` writes.
    let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let want = s.image.write(&DumpOptions::elf(Width::Bits64)).unwrap();
    let have = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/demo-pv64.core")).unwrap();
    assert!(
        have == want,
        "demo/demo-pv64.core is stale: run `cargo run --example make-demo`"
    );
    let _ = gdb_with; // used by other test files
}

#[test]
fn monitor_cr3_reads_through_another_page_table() {
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Hvm,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let v = s.image.expected_states();
    let user = format!("x/xg {:#x}", s.facts.user_va);
    let cr3 = format!("monitor cr3 {:#x}", v[1].cr3());
    let out = gdb(
        &server.addr,
        &[
            "thread 1",
            &user,
            &cr3,
            &user,
            "monitor info",
            "monitor cr3 off",
            &user,
            "monitor cr3 zebra",
        ],
    );
    let ctx = format!("{out}\n{}", server.log());
    let hits = out
        .matches(&format!("{:#018x}", s.facts.user_value))
        .count();
    assert_eq!(hits, 1, "{ctx}");
    assert_eq!(
        out.matches(&format!(
            "Cannot access memory at address {:#x}",
            s.facts.user_va
        ))
        .count(),
        2,
        "{ctx}"
    );
    assert!(
        out.contains(&format!("through cr3 {:#x}", v[1].cr3())),
        "{ctx}"
    );
    assert!(out.contains("not a number: zebra"), "{ctx}");
}

#[test]
fn bulk_dumps_are_exact_and_stop_at_the_first_unreadable_page() {
    // Memory replies are built by the server's own encoder (run-length encoded zero
    // runs, 32 KiB per packet): check them byte for byte against the scenario.
    let dir = tempfile::tempdir().unwrap();
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
    ] {
        let s = Scenario::new(kind, mode).unwrap();
        let f = &s.facts;
        let name = format!("{kind:?}-{mode}");
        let width = if x86::is_32bit(mode) {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let path = dump_file(
            &dir,
            &name,
            &s.image.write(&DumpOptions::elf(width)).unwrap(),
        );
        let server = Server::start(&path, &[]);
        let out_path = |n: &str| dir.path().join(format!("{name}-{n}.bin"));
        let (direct, data, past, user) = (
            out_path("direct"),
            out_path("data"),
            out_path("past"),
            out_path("user"),
        );
        let page = 4096u64;
        // The direct map below the VGA hole (HVM guests have no RAM there): 0xA0
        // pages, mostly zero, several packets.
        let direct_len = 0xA0 * page;
        let data_end = f.data_va + DATA_PAGES * page;
        let cmds = [
            format!(
                "dump binary memory {} {:#x} {:#x}",
                direct.display(),
                f.direct_map_va,
                f.direct_map_va + direct_len
            ),
            // The 16 data pages (from an unaligned start), then one page further: gdb
            // must name the unmapped page.
            format!(
                "dump binary memory {} {:#x} {:#x}",
                data.display(),
                f.data_va + 8,
                data_end
            ),
            format!(
                "dump binary memory {} {:#x} {:#x}",
                past.display(),
                f.data_va + 8,
                data_end + page
            ),
            // vCPU 1's user page exists only in its own address space.
            format!("x/xg {:#x}", f.user_va),
            "thread 2".to_string(),
            format!(
                "dump binary memory {} {:#x} {:#x}",
                user.display(),
                f.user_va,
                f.user_va + page
            ),
        ];
        let cmds_ref: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let out = gdb(&server.addr, &cmds_ref);
        let ctx = format!("{name}:\n{out}\nserver log:\n{}", server.log());
        let expect = |slot: usize, va: u64, len: u64| -> Vec<u8> {
            (va..va + len)
                .map(|a| s.byte_at(slot, VirtAddr(a)).expect("mapped and dumped"))
                .collect()
        };
        let got = std::fs::read(&direct).unwrap_or_default();
        assert!(
            got == expect(0, f.direct_map_va, direct_len),
            "direct map differs ({} bytes): {ctx}",
            got.len()
        );
        let got = std::fs::read(&data).unwrap_or_default();
        assert!(
            got == expect(0, f.data_va + 8, data_end - f.data_va - 8),
            "data pages differ ({} bytes): {ctx}",
            got.len()
        );
        assert!(
            out.contains(&format!("Cannot access memory at address {data_end:#x}")),
            "{ctx}"
        );
        assert!(
            out.contains(&format!("Cannot access memory at address {:#x}", f.user_va)),
            "vCPU 0 has no user page: {ctx}"
        );
        let got = std::fs::read(&user).unwrap_or_default();
        assert!(
            got == expect(1, f.user_va, page),
            "user page differs: {ctx}"
        );
        assert_eq!(got[..8], f.user_value.to_le_bytes(), "{ctx}");
    }
}

/// Lines of one `info registers` block, by register name, without the ones named in
/// `skip`.
fn register_lines<'a>(block: &'a str, skip: &[&str]) -> Vec<&'a str> {
    block
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
                && l.split_whitespace().count() >= 2
                && !skip.contains(&l.split_whitespace().next().unwrap_or(""))
        })
        .collect()
}

#[test]
fn gdb_sees_a_saved_image_as_the_dump_of_the_same_guest() {
    use xendump_gdbserver::builder::StreamOptions;
    let dir = tempfile::tempdir().unwrap();
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
    ] {
        let s = Scenario::new(kind, mode).unwrap();
        let f = &s.facts;
        let wide = !x86::is_32bit(mode);
        let width = if wide { Width::Bits64 } else { Width::Bits32 };
        let (xw, unit) = if wide { ("g", 8) } else { ("w", 4) };
        let cmds = [
            "info threads".to_string(),
            format!("x/s {:#x}", f.banner_va),
            format!("x/1x{xw} {:#x}", f.jiffies_va),
            format!("x/8x{xw} {:#x}", f.data_va + 8),
            format!("x/x{xw} {:#x}", f.unmapped_va),
            format!("x/x{xw} {:#x}", f.absent_va),
            "thread 1".into(),
            "echo ==REGS==\\n".into(),
            "info registers".into(),
            "thread 2".into(),
            "echo ==REGS==\\n".into(),
            "info registers".into(),
            "thread 3".into(),
            "echo ==REGS==\\n".into(),
            "info registers pc sp".into(),
            "echo ==END==\\n".into(),
            "monitor view physical".into(),
            format!("x/s {:#x}", f.banner_pa),
        ];
        let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let dump_path = dump_file(
            &dir,
            &format!("{kind:?}-{mode}"),
            &s.write(&DumpOptions::elf(width)).unwrap(),
        );
        let dump_out = {
            let server = Server::start(&dump_path, &[]);
            gdb(&server.addr, &cmds)
        };
        let dump_blocks: Vec<&str> = dump_out.split("==REGS==").skip(1).collect();
        for (name, opts) in [
            ("xl-save", StreamOptions::xl_save()),
            ("remus-2+unfinished", StreamOptions::checkpointed(2, true)),
        ] {
            let path = dir.path().join(format!("{kind:?}-{mode}-{name}.img"));
            std::fs::write(&path, s.write_stream(&opts).unwrap()).unwrap();
            let server = Server::start(&path, &[]);
            let out = gdb(&server.addr, &cmds);
            let ctx = format!(
                "{kind:?} {mode} {name}:\n{out}\nserver log:\n{}",
                server.log()
            );
            assert!(
                out.contains("Thread 1.1 (vCPU 0, online, kernel mode)"),
                "{ctx}"
            );
            assert!(
                out.contains("Thread 1.2 (vCPU 1, online, user mode)"),
                "{ctx}"
            );
            assert!(
                out.contains("Thread 1.3 (vCPU 2, offline, no registers saved)"),
                "{ctx}"
            );
            assert_eq!(
                out.matches(&format!("\"{}\"", f.banner)).count(),
                2,
                "{ctx}"
            );
            let jline = format!(
                "{:#0w$x}",
                f.jiffies & if wide { u64::MAX } else { 0xffff_ffff },
                w = unit * 2 + 2
            );
            assert!(out.contains(&jline), "jiffies {jline}: {ctx}");
            assert!(
                out.contains(&format!("{:#0w$x}", 0xda7a_0000u64, w = unit * 2 + 2)),
                "data: {ctx}"
            );
            for va in [f.unmapped_va, f.absent_va] {
                assert!(
                    out.contains(&format!("Cannot access memory at address {va:#x}")),
                    "{ctx}"
                );
            }
            let expected = s.stream_states(&opts);
            let blocks: Vec<&str> = out.split("==REGS==").skip(1).collect();
            assert_eq!(blocks.len(), 3, "{ctx}");
            for slot in 0..2 {
                for (name, want) in expected_regs(&expected[slot], wide) {
                    assert_eq!(
                        reg(blocks[slot], name),
                        Some(want),
                        "vCPU {slot} {name}: {ctx}"
                    );
                }
                // Every register as the dump of the same guest shows it, but a PV
                // guest's CR3: the saved image knows the pfn of its table, the dump
                // the machine frame.
                let skip: &[&str] = if kind == GuestKind::Pv { &["cr3"] } else { &[] };
                assert_eq!(
                    register_lines(blocks[slot], skip),
                    register_lines(dump_blocks[slot], skip),
                    "vCPU {slot}: {ctx}"
                );
            }
            let third = blocks[2].split("==END==").next().unwrap();
            assert!(third.contains("<unavailable>"), "{ctx}");
        }
    }
}
