//! Every kernel task a gdb thread, end to end: the real server with `--vmlinux` on a
//! builder guest laid out at the stand-in vmlinux's offsets (tests/fixtures/linux),
//! the real gdb started as users start it (`gdb -x gdbinit vmlinux`). The fixture's
//! scheduler path has frame pointers and CFI, and the builder lays out each sleeping
//! task's stack on it, so `bt` unwinds through `__schedule` as on a real kernel.
//! Expected values come from the builder's description and the fixture's code.

#[path = "support/kernel_fixture.rs"]
mod kernel_fixture;
#[path = "support/linux_guest.rs"]
mod linux_guest;
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kernel_fixture::{build, Bits, Shapes, Variant};
use linux_guest::{code_of, linux_case, LinuxCase};
use support::{gdb_path, reg, run_with_timeout, Server};
use xendump_gdbserver::builder::linux::{BuiltTask, Damage, LinuxFacts};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;
use xendump_gdbserver::os::linux::debuginfo::sym;

const KASLR: u64 = 0x1e00_0000;

/// `gdb -x gdbinit VMLINUX` against `server`, then `cmds`: the output.
fn gdb_gdbinit(server: &Server, vmlinux: &Path, cmds: &[&str]) -> String {
    let mut c = Command::new(gdb_path());
    c.env("XENDUMP_GDBSERVER", &server.addr)
        .env_remove("XENDUMP_NO_CONNECT")
        .env_remove("XENDUMP_NO_KASLR")
        .args(["-nx", "-batch", "-x"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("gdbinit"));
    for cmd in cmds {
        c.args(["-ex", cmd]);
    }
    c.arg(vmlinux);
    run_with_timeout(c, Duration::from_secs(120))
}

fn serve(c: &LinuxCase, dir: &tempfile::TempDir, name: &str) -> Server {
    let path = c.write(dir, name);
    let vmlinux = c.fixture.vmlinux.display().to_string();
    Server::start(&path, &["--vmlinux", &vmlinux])
}

/// The gdb thread of built task `t`.
fn thread_of(c: &LinuxCase, t: &BuiltTask) -> usize {
    let facts = &c.guest.facts;
    let i = facts
        .walk_order
        .iter()
        .position(|&k| facts.tasks[k].address == t.address)
        .unwrap();
    c.guest.spec.cpus + i + 1
}

/// The part of `out` between the markers `==NAME==` and the next one.
fn section<'a>(out: &'a str, name: &str) -> &'a str {
    let start = out
        .find(&format!("=={name}=="))
        .unwrap_or_else(|| panic!("no section {name} in:\n{out}"));
    let rest = &out[start + name.len() + 4..];
    &rest[..rest.find("\n==").map_or(rest.len(), |e| e + 1)]
}

fn marker(name: &str) -> String {
    format!("echo =={name}==\\n")
}

/// Function names of a `bt`, innermost first.
fn frames(bt: &str) -> Vec<String> {
    bt.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| {
            let l = l.split_once(" in ").map_or(l, |(_, f)| f);
            let l = l.trim_start_matches(|c: char| c == '#' || c.is_ascii_digit() || c == ' ');
            l.split_whitespace().next().unwrap_or("").to_string()
        })
        .collect()
}

/// Check a guest through the gdbinit: KASLR relocation, threads, registers, `bt`,
/// user memory.
fn check_guest(c: &LinuxCase, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(c, &dir, name);
    let facts = &c.guest.facts;
    let wide = c.width == Width::Bits64;
    let (ip, sp, bp, bx, xw) = if wide {
        ("rip", "rsp", "rbp", "rbx", "g")
    } else {
        ("eip", "esp", "ebp", "ebx", "w")
    };
    let kthread = facts.task(3).unwrap(); // rcu_gp: a sleeping kernel thread
    let user = facts.task(95).unwrap(); // acc_worker: a sleeping user thread of 94
    let running = facts.task(1).unwrap(); // systemd, running on vCPU 1
    let mut cmds = vec![
        marker("THREADS"),
        "info threads".to_string(),
        marker("INIT"),
        "p &init_task".into(),
        "p &linux_banner".into(),
        marker("PERCPU"),
        // Loading again by hand gives the same symbols.
        "xd-kaslr".into(),
        "p/x (unsigned long)&__per_cpu_start".into(),
    ];
    for (tag, t) in [("KTHREAD", kthread), ("USER", user), ("RUNNING", running)] {
        cmds.push(format!("thread {}", thread_of(c, t)));
        cmds.push(marker(&format!("{tag}-REGS")));
        cmds.push(format!(
            "info registers {ip} {sp} {bp} {bx} {} eflags cs",
            if wide {
                "r12 r13 r14 r15 rax"
            } else {
                "esi edi eax"
            }
        ));
        cmds.push(marker(&format!("{tag}-BT")));
        cmds.push("bt".into());
        cmds.push(marker(&format!("{tag}-USER")));
        cmds.push(format!("x/x{xw} {:#x}", facts.user_va));
    }
    cmds.push(marker("PS"));
    cmds.push("monitor ps".into());
    cmds.push(marker("END"));
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let out = gdb_gdbinit(&server, &c.fixture.vmlinux, &cmds);
    let ctx = format!("{name}:\n{out}\nserver:\n{}", server.log());

    // The gdbinit relocated the symbols by the guest's KASLR offset, and said so.
    let said = format!("kernel moved by KASLR offset {:#x}", c.kaslr);
    if c.kaslr == 0 {
        assert!(out.contains("kernel not moved (KASLR offset 0)"), "{ctx}");
    } else {
        assert!(out.contains(&said), "{ctx}");
    }
    // The first stop is not shown with the symbols at their link addresses (vCPU 0's
    // pc would then fall in some unmoved symbol); it is shown again once moved.
    let first = out.lines().next().unwrap_or_default();
    assert!(first.ends_with(" in ?? ()"), "{first}: {ctx}");
    let init = section(&out, "INIT");
    assert!(
        init.contains(&format!("{:#x} <init_task>", c.addrs.init_task)),
        "{ctx}"
    );
    let banner = c
        .info
        .runtime_address(c.info.symbol(sym::LINUX_BANNER).unwrap(), c.kaslr);
    assert!(
        init.contains(&format!("{banner:#x} <linux_banner>")),
        "{ctx}"
    );
    // x86_64's per-CPU section stayed at 0; i386's moved with the image.
    let percpu = c
        .info
        .runtime_address(c.info.symbol(sym::PER_CPU_START).unwrap(), c.kaslr);
    assert_eq!(wide, percpu == 0, "{ctx}");
    assert!(
        section(&out, "PERCPU").contains(&format!("= {percpu:#x}")),
        "{ctx}"
    );

    // Every thread: vCPUs first, unchanged; then every task, named, with its label.
    let threads = section(&out, "THREADS");
    for slot in 0..c.guest.spec.cpus {
        assert!(
            threads.contains(&format!("Thread 1.{} (vCPU {slot}, online", slot + 1)),
            "{ctx}"
        );
    }
    for &k in &facts.walk_order {
        let t = &facts.tasks[k];
        let comm: String = t.desc.comm.chars().take(15).collect();
        let id = thread_of(c, t);
        let mut label = format!("Thread 1.{id} \"{comm}\" (pid {} {comm} ", t.desc.pid);
        if let Some(cpu) = t.current_on {
            label = format!("{label}R on vCPU {cpu})");
        }
        assert!(threads.contains(&label), "{label} missing: {ctx}");
    }
    assert!(
        threads.contains("__schedule ()"),
        "sleeping tasks are in __schedule: {ctx}"
    );

    // A sleeping kernel thread: the registers of its switch frame, the rest unavailable;
    // bt through the scheduler to ret_from_fork; no user memory.
    let mask = if wide { u64::MAX } else { 0xffff_ffff };
    // `x/x` prints a word in full: 0x and 16 or 8 digits.
    let digits = if wide { 18 } else { 10 };
    let frame_size = c.guest.spec.layout.frame.as_ref().map_or(8, |f| f.size);
    for (tag, t) in [("KTHREAD", kthread), ("USER", user)] {
        let regs = section(&out, &format!("{tag}-REGS"));
        let f = t.desc.frame;
        assert_eq!(reg(regs, ip), Some(f.ret_addr), "{tag} {ctx}");
        assert_eq!(
            reg(regs, sp),
            Some((t.thread_sp + frame_size) & mask),
            "{tag} {ctx}"
        );
        assert_eq!(reg(regs, bp), Some(f.bp), "{tag} {ctx}");
        assert_eq!(reg(regs, bx), Some(f.bx), "{tag} {ctx}");
        if wide {
            for (r, v) in [
                ("r12", f.r12),
                ("r13", f.r13),
                ("r14", f.r14),
                ("r15", f.r15),
            ] {
                assert_eq!(reg(regs, r), Some(v), "{tag} {r} {ctx}");
            }
        } else {
            assert_eq!(reg(regs, "esi"), Some(f.si), "{tag} {ctx}");
            assert_eq!(reg(regs, "edi"), Some(f.di), "{tag} {ctx}");
        }
        let unavailable: &[&str] = if wide {
            &["rax", "eflags", "cs"]
        } else {
            &["eax", "cs"]
        };
        for r in unavailable {
            assert!(
                regs.lines()
                    .any(|l| l.starts_with(r) && l.contains("<unavailable>")),
                "{tag} {r} should be unavailable: {ctx}"
            );
        }
        let bt = frames(section(&out, &format!("{tag}-BT")));
        let want: &[&str] = if tag == "KTHREAD" {
            &["__schedule", "schedule", "kthread", "ret_from_fork"]
        } else {
            &[
                "__schedule",
                "schedule",
                "do_syscall_64",
                "entry_SYSCALL_64",
            ]
        };
        assert_eq!(bt, want, "{tag} {ctx}");
    }
    let mem = section(&out, "KTHREAD-USER");
    assert!(mem.contains("Cannot access memory"), "{ctx}");
    // A user thread reads its process's page.
    let mem = section(&out, "USER-USER");
    let value = LinuxFacts::user_value(user.desc.tgid) & mask;
    assert!(mem.contains(&format!("{value:#0digits$x}")), "{ctx}");

    // A running task is its vCPU.
    let regs = section(&out, "RUNNING-REGS");
    let cpu = running.current_on.unwrap();
    assert_eq!(reg(regs, ip), Some(facts.vcpu_ip[cpu]), "{ctx}");
    assert_eq!(reg(regs, sp), Some(facts.vcpu_sp[cpu]), "{ctx}");
    assert!(
        regs.lines()
            .any(|l| l.starts_with("eflags") && l.contains("0x246")),
        "{ctx}"
    );
    let mem = section(&out, "RUNNING-USER");
    let value = LinuxFacts::user_value(running.desc.tgid) & mask;
    assert!(mem.contains(&format!("{value:#0digits$x}")), "{ctx}");

    // monitor ps: one line per task.
    let ps = section(&out, "PS");
    for &k in &facts.walk_order {
        let t = &facts.tasks[k];
        let id = thread_of(c, t);
        let line = ps
            .lines()
            .find(|l| l.split_whitespace().next() == Some(&id.to_string()))
            .unwrap_or_else(|| panic!("no ps line for thread {id}: {ctx}"));
        let w: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(w[1], t.desc.pid.to_string(), "{line}");
        let vcpu = t.current_on.map_or("-".to_string(), |c| c.to_string());
        assert_eq!(w[4], vcpu, "{line}");
        assert_eq!(w[6], format!("{:#x}", t.address), "{line}");
    }
}

#[test]
fn x86_64_pv_guest_moved_by_kaslr() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::FourLevel,
        KASLR,
    );
    check_guest(&c, "pv64");
}

#[test]
fn x86_64_hvm_guest_of_linux_6_2() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux62),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    check_guest(&c, "hvm64");
}

#[test]
fn i386_hvm_pae_guest_moved_by_kaslr() {
    let c = linux_case(
        Variant::new(Bits::I386, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::Pae,
        0x40_0000,
    );
    check_guest(&c, "hvm32");
}

#[test]
fn i386_pv_guest_without_kaslr() {
    let c = linux_case(
        Variant::new(Bits::I386, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::Pae,
        0,
    );
    check_guest(&c, "pv32");
}

/// Guest memory is untrusted: a task list that loops, a task whose saved stack
/// pointer is garbage. The server starts, warns, serves the vCPUs and the tasks it
/// could follow; the broken task's registers are unavailable, not zero.
#[test]
fn hostile_task_memory_ends_in_warnings_not_a_hang() {
    let mut c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let facts = c.guest.facts.clone();
    let index = |pid: i32| facts.tasks.iter().position(|t| t.desc.pid == pid).unwrap();
    // pid 120 links back to pid 94: tasks after 120 are never reached.
    c.guest
        .damage(Damage::TasksCycle {
            from: index(120),
            to: index(94),
        })
        .unwrap();
    c.guest
        .damage(Damage::ThreadSp {
            at: index(3),
            value: 0x1234,
        })
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&c, &dir, "hostile");
    let log = server.log();
    assert!(log.contains("a cycle"), "{log}");
    assert!(log.contains("pid 3 (rcu_gp): no saved registers"), "{log}");
    let rcu = thread_of(&c, facts.task(3).unwrap());
    let out = gdb_gdbinit(
        &server,
        &c.fixture.vmlinux,
        &[
            "info threads",
            &format!("thread {rcu}"),
            "info registers rip rsp",
            "monitor info",
        ],
    );
    let ctx = format!("{out}\nserver:\n{log}");
    for slot in 0..3 {
        assert!(out.contains(&format!("(vCPU {slot}, online")), "{ctx}");
    }
    assert!(
        out.contains("(pid 3 rcu_gp I (no saved registers))"),
        "{ctx}"
    );
    assert!(out.contains("(pid 120 defunct Z)"), "{ctx}");
    assert!(!out.contains("(pid 121 "), "past the cycle: {ctx}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("rip") && l.contains("<unavailable>")),
        "{ctx}"
    );
    assert!(out.contains("walk INCOMPLETE"), "{ctx}");
}

/// A guest whose vCPUs' page tables map no kernel (every CR3 at an empty table): the
/// tasks cannot be read, the server says so and serves the vCPUs.
#[test]
fn a_kernel_no_vcpu_maps_gives_a_warning_and_the_vcpus() {
    let mut c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    // pfn 0 is low memory the builder leaves zero.
    for v in &mut c.guest.image.vcpus {
        v.ctrlreg[3] = 0;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = serve(&c, &dir, "unmapped");
    let log = server.log();
    assert!(
        log.contains("no vCPU's page tables map the kernel"),
        "{log}"
    );
    assert!(log.contains("serving the vCPUs only"), "{log}");
    let out = support::gdb(&server.addr, &["info threads", "monitor ps"]);
    assert!(out.contains("Thread 1.3 (vCPU 2"), "{out}");
    assert!(!out.contains("Thread 1.4"), "{out}");
    assert!(out.contains("no kernel tasks"), "{out}");
}

/// A vmlinux of another build is refused, naming both releases; so is one whose
/// release matches but whose build-id does not, and one of the other width.
#[test]
fn a_vmlinux_of_another_build_is_refused() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::FourLevel,
        KASLR,
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = c.write(&dir, "guest");
    let other = build(Variant::new(Bits::X86_64, Shapes::Linux62));
    let same_release = build(Variant {
        dwarf: Some(4),
        ..Variant::new(Bits::X86_64, Shapes::Linux61)
    });
    for (vmlinux, want) in [
        (
            &other.vmlinux,
            vec!["6.1.0-fixture", "6.2.0-fixture", "kernel release"],
        ),
        (&same_release.vmlinux, vec!["build-id"]),
    ] {
        for sub in [&["info"][..], &[]] {
            let out = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
                .args(sub)
                .arg("--vmlinux")
                .arg(vmlinux)
                .args(
                    ["--listen", "127.0.0.1:0"]
                        .iter()
                        .filter(|_| sub.is_empty()),
                )
                .arg(&dump)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{sub:?}: accepted: {err}");
            for w in &want {
                assert!(err.contains(w), "{w} missing: {err}");
            }
        }
    }
}

/// `info --vmlinux` says what the server would serve: the vmlinux, the KASLR offset,
/// the tasks; JSON lists every task.
#[test]
fn info_reports_the_kernel_and_its_tasks() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::FourLevel,
        KASLR,
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = c.write(&dir, "guest");
    let run = |json: bool| {
        let out = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
            .arg("info")
            .args(json.then_some("--json"))
            .arg("--vmlinux")
            .arg(&c.fixture.vmlinux)
            .arg(&dump)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(false);
    let n = c.guest.facts.walk_order.len();
    assert!(text.contains("6.1.0-fixture"), "{text}");
    assert!(
        text.contains(&format!(
            "KASLR offset   {KASLR:#x} (VMCOREINFO KERNELOFFSET)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "tasks          {n} (3 running on a vCPU), walk complete"
        )),
        "{text}"
    );
    assert!(text.contains("-s .data..percpu 0"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    let tasks = json["linux"]["task_list"].as_array().unwrap();
    assert_eq!(tasks.len(), n);
    let pids: Vec<i64> = tasks.iter().map(|t| t["pid"].as_i64().unwrap()).collect();
    let want: Vec<i64> = c
        .guest
        .facts
        .walk_order
        .iter()
        .map(|&k| i64::from(c.guest.facts.tasks[k].desc.pid))
        .collect();
    assert_eq!(pids, want);
}

/// Without `--vmlinux` the gdbinit still relocates the symbols (the server reads the
/// offset from VMCOREINFO) and the threads are the vCPUs alone.
#[test]
fn without_vmlinux_only_the_vcpus_are_threads_and_kaslr_still_works() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Pv,
        PagingMode::FourLevel,
        KASLR,
    );
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&c.write(&dir, "guest"), &[]);
    let out = gdb_gdbinit(
        &server,
        &c.fixture.vmlinux,
        &["info threads", "p &init_task", "monitor ps"],
    );
    assert!(
        out.contains(&format!("kernel moved by KASLR offset {KASLR:#x}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("{:#x} <init_task>", c.addrs.init_task)),
        "{out}"
    );
    assert!(out.contains("  3    Thread 1.3 (vCPU 2"), "{out}");
    assert!(!out.contains("Thread 1.4"), "{out}");
    assert!(
        out.contains("no kernel tasks: start the server with --vmlinux"),
        "{out}"
    );
    // The code is the fixture's, where the guest ran it.
    let code = code_of(&c.fixture);
    assert!(code.address("__schedule").unwrap() > 0);
}

/// The same backtraces from drgn: every sleeping task's `bt` through the server is
/// the function list drgn's `stack_trace()` gives on the vmcore `convert` writes for
/// the same dump (bench/linux-threads.sh times the two on 10,000 tasks).
#[test]
fn backtraces_agree_with_drgn_on_the_converted_vmcore() {
    let c = linux_case(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        GuestKind::Hvm,
        PagingMode::FourLevel,
        KASLR,
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = c.write(&dir, "guest");
    let vmcore = dir.path().join("vmcore");
    let st = Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
        .args(["convert", "-q"])
        .arg(&dump)
        .arg("-o")
        .arg(&vmcore)
        .status()
        .unwrap();
    assert!(st.success());
    let facts = &c.guest.facts;
    let sleeping: Vec<&BuiltTask> = facts
        .walk_order
        .iter()
        .map(|&k| &facts.tasks[k])
        .filter(|t| t.current_on.is_none())
        .collect();
    let script = "import sys, drgn\n\
        prog = drgn.Program()\n\
        prog.set_core_dump(sys.argv[1])\n\
        prog.load_debug_info([sys.argv[2]])\n\
        for a in sys.argv[3:]:\n\
        \x20   names = []\n\
        \x20   for f in prog.stack_trace(drgn.Object(prog, 'struct task_struct *', int(a, 16))):\n\
        \x20       n = f.name\n\
        \x20       if n is None:\n\
        \x20           try:\n\
        \x20               n = f.symbol().name\n\
        \x20           except LookupError:\n\
        \x20               break\n\
        \x20       names.append(n)\n\
        \x20   print(a, ' '.join(names))\n";
    let out = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&vmcore)
        .arg(&c.fixture.vmlinux)
        .args(sleeping.iter().map(|t| format!("{:#x}", t.address)))
        .output()
        .expect("python3 with drgn (scripts/install-deps.sh installs python3-drgn)");
    let drgn = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "drgn: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(
        &dump,
        &["--vmlinux", &c.fixture.vmlinux.display().to_string()],
    );
    let mut cmds = Vec::new();
    for t in &sleeping {
        cmds.push(format!("thread {}", thread_of(&c, t)));
        cmds.push(marker(&format!("{:#x}", t.address)));
        cmds.push("bt".to_string());
        cmds.push(marker("BT-END"));
    }
    cmds.push(marker("END"));
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let gdb = gdb_gdbinit(&server, &c.fixture.vmlinux, &cmds);
    for t in &sleeping {
        let a = format!("{:#x}", t.address);
        let ours = frames(section(&gdb, &a)).join(" ");
        let theirs = drgn
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{a} ")))
            .unwrap_or_else(|| panic!("drgn has no trace of {a}: {drgn}"));
        assert_eq!(
            ours, theirs,
            "pid {}: gdb {ours:?} drgn {theirs:?}",
            t.desc.pid
        );
        assert!(ours.starts_with("__schedule schedule "), "{ours}");
    }
}
