//! LLDB (the debugger behind several IDEs) against the real server: threads, registers
//! (one by one, with `p` packets), memory.

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
