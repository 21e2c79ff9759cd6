//! LLDB (the debugger behind several IDEs) against the real server: threads, registers
//! (one by one, with `p` packets naming their thread), memory (binary `x` reads after
//! LLDB's `x0,0` probe), switching threads back and forth.

mod support;

use std::process::Command;

use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

#[test]
fn lldb_reads_threads_registers_and_memory() {
    let ok = Command::new("lldb")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(ok, "lldb not found: run scripts/install-deps.sh");
    let (_dir, s, server) = support::serve_scenario(
        GuestKind::Hvm,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let port = server.addr.rsplit(':').next().unwrap();
    let mut c = Command::new("lldb");
    c.args(["--no-lldbinit", "--batch"]);
    for cmd in [
        format!("gdb-remote 127.0.0.1:{port}"),
        "thread list".into(),
        "register read rip rsp cr3 fs_base".into(),
        format!("memory read -s8 -fx -c1 {:#x}", s.facts.jiffies_va),
        format!("memory read -c16 {:#x}", s.facts.banner_va),
    ] {
        c.args(["-o", &cmd]);
    }
    let out = support::run_with_timeout(c, support::HANG);
    let v = s.image.expected_states();
    let ctx = format!("{out}\n{}", server.log());
    assert!(out.contains("thread #3: tid = 0x0003"), "{ctx}");
    assert!(out.contains(&format!("rip = {:#018x}", v[0].rip)), "{ctx}");
    assert!(
        out.contains(&format!("rsp = {:#018x}", v[0].gprs.rsp)),
        "{ctx}"
    );
    assert!(
        out.contains(&format!("cr3 = {:#018x}", v[0].cr3())),
        "{ctx}"
    );
    assert!(
        out.contains(&format!("fs_base = {:#018x}", v[0].fs_base.unwrap())),
        "{ctx}"
    );
    assert!(out.contains(&format!("{:#018x}", s.facts.jiffies)), "{ctx}");
    assert!(out.contains("Linux version 6."), "{ctx}");
}

/// LLDB's output after each command, keyed by the command as echoed (`(lldb) cmd`).
fn by_command(out: &str) -> Vec<(String, String)> {
    out.split("(lldb) ")
        .skip(1)
        .map(|chunk| {
            let (cmd, rest) = chunk.split_once('\n').unwrap_or((chunk, ""));
            (cmd.trim().to_string(), rest.to_string())
        })
        .collect()
}

#[test]
fn lldb_switches_threads_back_and_forth_for_registers_and_memory() {
    let (dir, s, server) = support::serve_scenario(
        GuestKind::Hvm,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let port = server.addr.rsplit(':').next().unwrap();
    let f = &s.facts;
    let v = s.image.expected_states();
    let user = format!("memory read -s8 -fx -c1 {:#x}", f.user_va);
    let kernel = format!("memory read -s8 -fx -c1 {:#x}", f.jiffies_va);
    // LLDB names the thread in each register packet (QThreadSuffixSupported) but not in
    // memory reads: the server's memory thread is chosen with Hg, as README says.
    let cmds = [
        "settings set target.process.disable-memory-cache true".to_string(),
        format!("gdb-remote 127.0.0.1:{port}"),
        "register read rip".into(),
        user.clone(),
        "thread select 2".into(),
        "register read rip rsp".into(),
        "process plugin packet send Hg2".into(),
        user.clone(),
        "thread select 1".into(),
        "process plugin packet send Hg1".into(),
        user.clone(),
        kernel.clone(),
        "register read rip rsp".into(),
        "thread select 2".into(),
        "process plugin packet send Hg2".into(),
        user.clone(),
        "register read rsp".into(),
        "process plugin packet send qGDBServerVersion".into(),
    ];
    // Failed reads are part of the test: run the commands from a file, without
    // stopping at errors (batch mode stops its -o commands at the first one).
    let script = dir.path().join("lldb-commands");
    std::fs::write(&script, cmds.join("\n") + "\n").unwrap();
    let mut c = Command::new("lldb");
    c.args(["--no-lldbinit", "--batch", "-o"]);
    c.arg(format!("command source -e false {}", script.display()));
    let out = support::run_with_timeout(c, std::time::Duration::from_secs(60));
    let ctx = format!("{out}\n{}", server.log());
    let steps = by_command(&out);
    let outputs: Vec<&str> = cmds
        .iter()
        .map(|cmd| {
            steps
                .iter()
                .find(|(c, _)| c == cmd)
                .map(|(_, o)| o.as_str())
                .unwrap_or_else(|| panic!("{cmd}: not run\n{ctx}"))
        })
        .collect();
    // The n-th occurrence of a command's output.
    let nth = |cmd: &str, n: usize| -> &str {
        steps
            .iter()
            .filter(|(c, _)| c == cmd)
            .nth(n)
            .map(|(_, o)| o.as_str())
            .unwrap_or_else(|| panic!("{cmd} #{n}: not run\n{ctx}"))
    };
    let value = format!("{:#018x}", f.user_value);
    assert!(
        outputs[2].contains(&format!("rip = {:#018x}", v[0].rip)),
        "{ctx}"
    );
    assert!(
        nth(&user, 0).contains("memory read failed"),
        "vCPU 0: {ctx}"
    );
    let regs2 = nth("register read rip rsp", 0);
    assert!(
        regs2.contains(&format!("rip = {:#018x}", v[1].rip)),
        "{ctx}"
    );
    assert!(
        regs2.contains(&format!("rsp = {:#018x}", v[1].gprs.rsp)),
        "{ctx}"
    );
    assert!(nth(&user, 1).contains(&value), "thread 2: {ctx}");
    assert!(
        nth(&user, 2).contains("memory read failed"),
        "back on 1: {ctx}"
    );
    assert!(
        outputs[11].contains(&format!("{:#018x}", f.jiffies)),
        "kernel memory: {ctx}"
    );
    let regs1 = nth("register read rip rsp", 1);
    assert!(
        regs1.contains(&format!("rip = {:#018x}", v[0].rip)),
        "{ctx}"
    );
    assert!(
        regs1.contains(&format!("rsp = {:#018x}", v[0].gprs.rsp)),
        "{ctx}"
    );
    assert!(nth(&user, 3).contains(&value), "thread 2 again: {ctx}");
    assert!(
        nth("register read rsp", 0).contains(&format!("rsp = {:#018x}", v[1].gprs.rsp)),
        "{ctx}"
    );
    assert!(
        nth("process plugin packet send qGDBServerVersion", 0)
            .contains("name:xendump-gdbserver;version:"),
        "{ctx}"
    );
}
