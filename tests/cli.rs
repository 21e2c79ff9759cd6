//! The command line: `info` on every format variant (text and JSON), help, errors,
//! loopback by default, Ctrl-C.

mod support;

use std::process::Command;
use std::time::Duration;

use xendump_gdbserver::builder::scenario::Scenario;
use xendump_gdbserver::builder::{
    all_variants, x86, DumpOptions, ElfOptions, Layout, LegacyOptions,
};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
}

fn info_json(path: &std::path::Path) -> serde_json::Value {
    let out = bin().arg("info").arg("--json").arg(path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn info_reports_the_facts_of_every_variant() {
    let dir = tempfile::tempdir().unwrap();
    let mut seen = 0;
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
        let mut variants = all_variants(kind, width);
        if kind == GuestKind::Pv && width == Width::Bits32 {
            variants.push((
                "elfclass32-pv32".into(),
                DumpOptions {
                    format: Layout::Elf(ElfOptions::class32_2007()),
                    tools: Width::Bits32,
                },
            ));
            variants.push((
                "legacy-u64-index-pv32".into(),
                DumpOptions {
                    format: Layout::Legacy(LegacyOptions {
                        index_width: Some(8),
                        ..LegacyOptions::default()
                    }),
                    tools: Width::Bits32,
                },
            ));
        }
        for (name, opts) in variants {
            let path = support::dump_file(&dir, &name, &s.write(&opts).unwrap());
            let j = info_json(&path);
            let legacy = matches!(opts.format, Layout::Legacy(_));
            let ctx = format!("{name}: {j:#}");
            assert_eq!(
                j["format"].as_str().unwrap().starts_with("legacy"),
                legacy,
                "{ctx}"
            );
            assert_eq!(
                j["guest_kind"],
                if kind == GuestKind::Pv {
                    "PV"
                } else {
                    "HVM/PVH"
                },
                "{ctx}"
            );
            // Legacy HVM included: a CR3 stored as a machine address above 4 GiB must
            // not make a 32-bit guest 64-bit.
            assert_eq!(
                j["guest_width"],
                if x86::is_32bit(mode) { 32 } else { 64 },
                "{ctx}"
            );
            assert_eq!(j["page_size"], 4096, "{ctx}");
            assert_eq!(j["pages"], s.image.page_count(), "{ctx}");
            let pfns: Vec<u64> = s.image.populated_pfns().map(|p| p.0).collect();
            if !(legacy && kind == GuestKind::Pv) {
                assert_eq!(j["pfn_range"][0], format!("{:#x}", pfns[0]), "{ctx}");
                assert_eq!(
                    j["pfn_range"][1],
                    format!("{:#x}", pfns[pfns.len() - 1]),
                    "{ctx}"
                );
            } else {
                assert!(j["pfn_range"].is_null(), "{ctx}");
            }
            if kind == GuestKind::Pv {
                let mut mfns: Vec<u64> = pfns
                    .iter()
                    .map(|&p| {
                        s.image
                            .pfn_to_mfn(xendump_gdbserver::addr::GuestFrame(p))
                            .unwrap()
                            .0
                    })
                    .collect();
                mfns.sort();
                assert_eq!(j["mfn_range"][0], format!("{:#x}", mfns[0]), "{ctx}");
                assert_eq!(
                    j["mfn_range"][1],
                    format!("{:#x}", mfns[mfns.len() - 1]),
                    "{ctx}"
                );
            }
            if !legacy {
                assert_eq!(j["xen_version"], "4.17.0", "{ctx}");
                assert_eq!(j["format_version"], "0.1", "{ctx}");
                assert_eq!(
                    j["tools_width"],
                    if opts.tools == Width::Bits64 { 64 } else { 32 },
                    "{ctx}"
                );
            }
            if legacy && kind == GuestKind::Hvm {
                let l = &j["legacy_hvm_layout"];
                assert_eq!(l["fits"], true, "{ctx}");
                assert!(
                    l["rule"]
                        .as_str()
                        .unwrap()
                        .starts_with("Xen 3.0.3/3.0.4 HVM builder"),
                    "{ctx}"
                );
            } else {
                assert!(j["legacy_hvm_layout"].is_null(), "{ctx}");
            }
            let states = s.image.expected_states();
            let vcpus = j["vcpus"].as_array().unwrap();
            assert_eq!(vcpus.len(), 3, "{ctx}");
            for (i, v) in vcpus.iter().enumerate() {
                assert_eq!(v["rip"], format!("{:#x}", states[i].rip), "{ctx}");
                assert_eq!(v["rsp"], format!("{:#x}", states[i].gprs.rsp), "{ctx}");
                // The guest's own CR3; a legacy HVM dump stored the top table's machine
                // address instead, which `info` shows beside it.
                assert_eq!(v["cr3"], format!("{:#x}", states[i].cr3()), "{ctx}");
                assert_eq!(
                    v["cr3_stored"].is_string(),
                    legacy && kind == GuestKind::Hvm,
                    "{ctx}"
                );
                assert_eq!(v["online"], legacy || i != 2, "{ctx}");
                assert_eq!(v["mode"], if i == 1 { "user" } else { "kernel" }, "{ctx}");
                assert_eq!(v["paging"], s.mode.to_string(), "{ctx}");
                // 64-bit PV keeps the kernel table in CR3 even in user mode (the user table
                // is ctrlreg[1]); elsewhere vCPU 1's CR3 is its own table.
                let pv64 = kind == GuestKind::Pv && !x86::is_32bit(mode);
                let cr3_table = usize::from(i == 1 && !pv64);
                let root = s.facts.roots[cr3_table];
                assert_eq!(v["root_frame"], format!("{:#x}", root.frame), "{ctx}");
            }
            seen += 1;
        }
    }
    assert!(seen >= 16);
    // The text form says the same things in words.
    let path = dir.path().join("elf-pv64-tools64.core");
    let out = bin().arg("info").arg(&path).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("format:          ELF xc_core"), "{text}");
    assert!(text.contains("guest:           PV, 64-bit"), "{text}");
    assert!(text.contains("vCPU 2   offline"), "{text}");
}

#[test]
fn help_teaches_and_errors_are_clear() {
    let out = bin().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "127.0.0.1:1234",
        "gdb -x gdbinit vmlinux",
        "monitor help",
        "info --json",
        "--paging",
        "read-only",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    let out = bin().arg("/nonexistent/guest.core").output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("/nonexistent/guest.core") && err.contains("No such file"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let junk = support::dump_file(&dir, "junk", b"this is not a dump at all");
    let out = bin().arg("info").arg(&junk).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("not a Xen core dump"), "{err}");

    let out = bin()
        .args(["--listen", "not-an-address"])
        .arg(&junk)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("invalid --listen address"), "{err}");
}

#[test]
fn serves_on_loopback_by_default_and_stops_on_ctrl_c() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let path = support::dump_file(
        &dir,
        "pv",
        &s.image.write(&DumpOptions::elf(Width::Bits64)).unwrap(),
    );
    // No --listen: the default must be loopback (another process may hold port 1234, in
    // which case the error must say so).
    let mut child = bin()
        .arg(&path)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut err = String::new();
    let serving = loop {
        let Ok(line) = rx.recv_timeout(support::HANG) else {
            break false; // exited (or hung) without saying where it serves
        };
        err.push_str(&line);
        err.push('\n');
        if line.contains("serving") {
            break true;
        }
        if line.contains("cannot listen on") {
            break false;
        }
    };
    if serving {
        assert!(err.contains(" on 127.0.0.1:1234"), "{err}");
        // The Ctrl-C handler is installed before the "serving" line, so a Ctrl-C at
        // any moment after it ends the server cleanly: the kernel already reports
        // SIGINT (bit 1) caught.
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            .is_some_and(|mask| mask & (1 << 1) != 0);
        assert!(
            caught,
            "Ctrl-C is not caught when the server says it serves: {err}"
        );
    }
    if serving {
        // SIGINT, as Ctrl-C sends.
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    }
    let mut status = None;
    assert!(
        wait_for(|| {
            status = child.try_wait().unwrap();
            status.is_some()
        }),
        "server ignored Ctrl-C: {err}"
    );
    let status = status.unwrap();
    while let Ok(line) = rx.recv_timeout(support::HANG) {
        err.push_str(&line);
        err.push('\n');
    }
    if serving {
        assert!(status.success(), "{status:?}: {err}");
    } else {
        assert!(err.contains("cannot listen on 127.0.0.1:1234"), "{err}");
    }
}

/// Poll `cond` until it holds; false if it still does not after [`support::HANG`].
fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + support::HANG;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn info_says_what_a_saved_image_holds() {
    use xendump_gdbserver::builder::StreamOptions;
    let dir = tempfile::tempdir().unwrap();
    for (kind, mode, opts) in [
        (
            GuestKind::Pv,
            PagingMode::FourLevel,
            StreamOptions::xl_save(),
        ),
        (
            GuestKind::Hvm,
            PagingMode::FourLevel,
            StreamOptions::checkpointed(2, true),
        ),
    ] {
        let s = Scenario::new(kind, mode).unwrap();
        let path = dir.path().join(format!("{kind:?}.img"));
        std::fs::write(&path, s.write_stream(&opts).unwrap()).unwrap();
        let out = bin().arg("info").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let ctx = format!("{kind:?}:\n{text}");
        for want in [
            "format:          xl save image (libxl stream, libxc migration stream)",
            "magic:           XENF, stream version 3",
            "Xen version:     4.17",
            "name \"xendump-demo\"",
            "3 vCPUs (2 online)",
            "vCPU 2   offline (no registers saved: the vCPU was down)",
            "mfn range:       unknown (a saved image names pages by pfn only)",
            "page index:",
        ] {
            assert!(text.contains(want), "{want:?} missing: {ctx}");
        }
        let j = info_json(&path);
        assert_eq!(j["saved_image"]["libxc_version"], 3, "{ctx}");
        assert_eq!(j["vcpus"][2]["registers_saved"], false, "{ctx}");
        match kind {
            GuestKind::Pv => {
                for want in [
                    "stream:        complete (END record)",
                    "PV:            64-bit, 4 page-table levels, p2m of pfns 0x0..0x7ff in 4 frames (pfns 0x90 0x91 0x92 0x93)",
                    "x86 PV",
                ] {
                    assert!(text.contains(want), "{want:?} missing: {ctx}");
                }
                assert!(text.contains("L4TAB_PIN"), "{ctx}");
            }
            GuestKind::Hvm => {
                for want in [
                    "INCOMPLETE (no END record), 2 checkpoints: the last is served",
                    "HVM params:    STORE_PFN 0xfeffc",
                    "HVM context:",
                    "CPU×2",
                    "efer 0xd01",
                    "emulator:      EMULATOR_CONTEXT (emulator 2, index 0)",
                    "warning: the stream goes on after its last CHECKPOINT",
                ] {
                    assert!(text.contains(want), "{want:?} missing: {ctx}");
                }
                assert_eq!(j["vcpus"][0]["efer"], "0xd01", "{ctx}");
            }
        }
        eprintln!("{text}");
    }
}
