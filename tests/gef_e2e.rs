//! GEF (tests/gef/gef.py, vendored with its MIT licence) in the real gdb against the
//! real server: GEF must take the server for a QEMU system (kernel) target and its
//! memory-map commands must work from `monitor info mem`.

mod support;

use std::process::Command;
use std::time::Duration;

use xendump_gdbserver::builder::DumpOptions;
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

/// `(start, end, perms)` of GEF's `vmmap` lines between two markers.
fn vmmap(out: &str, marker: &str) -> Vec<(u64, u64, String)> {
    let section = out.split(marker).nth(1).unwrap_or_default();
    section
        .lines()
        .skip_while(|l| !l.starts_with("Start"))
        .skip(1)
        .map_while(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |s: &str| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok();
            Some((n(f.first()?)?, n(f.get(1)?)?, f.get(3)?.to_string()))
        })
        .collect()
}

#[test]
fn gef_sees_a_qemu_kernel_target_and_maps_its_memory() {
    let (dir, s, server) = support::serve_scenario(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let f = &s.facts;
    let vmlinux = support::mini_vmlinux(dir.path(), f.text_va, f.jiffies_va);
    let gef = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gef/gef.py");
    let mut c = Command::new(support::gdb_path());
    // GEF keeps history and settings in $HOME; give it a private one.
    c.env("HOME", dir.path())
        .env("GDBHISTFILE", dir.path().join("hist"));
    c.args(["-nx", "-batch", "-x", gef]);
    for cmd in [
        "gef config context.enable False".to_string(),
        format!("file {}", vmlinux.display()),
        format!("target remote {}", server.addr),
        // GEF probes the target as it connects, before its remote set-up (which needs
        // a remote file system no kernel target has); re-probe, as after any stop.
        "reset-cache".into(),
        "pi print('qemu-system:', is_qemu(), is_qemu_system())".into(),
        "echo ==VMMAP1==\\n".into(),
        "vmmap".into(),
        "echo ==XINFO==\\n".into(),
        "xinfo &jiffies".into(),
        "telescope &jiffies -l 2".into(),
        format!("xinfo {:#x}", f.unmapped_va),
        "thread 2".into(),
        "reset-cache".into(),
        "echo ==VMMAP2==\\n".into(),
        "vmmap".into(),
        "echo ==END==\\n".into(),
    ] {
        c.args(["-ex", &cmd]);
    }
    let out = support::strip_ansi(&support::run_with_timeout(c, Duration::from_secs(120)));
    let ctx = format!("{out}\nserver log:\n{}", server.log());
    assert!(out.contains("qemu-system: True True"), "{ctx}");

    let kernel = vmmap(&out, "==VMMAP1==");
    let has = |map: &[(u64, u64, String)], va: u64, perm: &str| {
        map.iter().any(|(a, b, p)| *a <= va && va < *b && p == perm)
    };
    assert!(has(&kernel, f.text_va, "r--"), "text: {ctx}");
    assert!(has(&kernel, f.jiffies_va, "rw-"), "data: {ctx}");
    assert!(has(&kernel, f.direct_map_va, "rw-"), "direct map: {ctx}");
    assert!(
        !has(&kernel, f.user_va, "rw-"),
        "user page on vCPU 0: {ctx}"
    );

    let xinfo = out.split("==XINFO==").nth(1).unwrap_or_default();
    assert!(xinfo.contains("Symbol: jiffies"), "{ctx}");
    assert!(xinfo.contains("Permissions: rw-"), "{ctx}");
    assert!(
        xinfo.contains(&format!("{:#018x}", f.jiffies)),
        "telescope: {ctx}"
    );
    assert!(
        xinfo.contains(&format!(
            "Cannot reach {:#x} in memory space",
            f.unmapped_va
        )),
        "unmapped: {ctx}"
    );

    // vCPU 1 (thread 2) runs a user process: its page tables add the user page.
    let user = vmmap(&out, "==VMMAP2==");
    assert!(has(&user, f.user_va, "rw-"), "user page: {ctx}");
    assert!(out.contains("==END=="), "{ctx}");
    assert!(!out.contains("Remote connection closed"), "{ctx}");
}
