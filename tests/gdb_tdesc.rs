//! Load our target descriptions into the real gdb and check that the remote register
//! numbers and `g` packet offsets it computes are the ones our serialiser uses.
//!
//! gdb is a hard requirement of the test suite (the project installs it); a missing gdb
//! fails these tests instead of skipping them.

use std::path::Path;
use std::process::Command;

use gdbstub::arch::Arch;
use gdbstub::arch::RegId;
use xendump_gdbserver::gdb::arch::g_packet_layout;
use xendump_gdbserver::gdb::arch::I386Xen;
use xendump_gdbserver::gdb::arch::I386XenRegId;
use xendump_gdbserver::gdb::arch::X86_64Xen;
use xendump_gdbserver::gdb::arch::X86_64XenRegId;

const GDB: &str = "/usr/bin/gdb";

/// One row of `maint print remote-registers` that is part of the `g` packet.
#[derive(Debug, PartialEq, Eq)]
struct RemoteRegister {
    name: String,
    size: usize,
    remote_number: usize,
    g_offset: usize,
}

/// Run gdb on `xml` and return the `g`-packet registers, ordered by remote number.
fn gdb_remote_registers(architecture: &str, xml: &str) -> Vec<RemoteRegister> {
    assert!(
        Path::new(GDB).exists(),
        "{GDB} not found: these tests need GNU gdb (13.1 or later) installed \
         (Debian package `gdb`); the project's setup script installs it"
    );
    let dir = tempfile::tempdir().expect("temporary directory");
    let xml_path = dir.path().join("target.xml");
    std::fs::write(&xml_path, xml).expect("write target.xml");

    let output = Command::new(GDB)
        .args(["-nx", "-batch"])
        .args(["-ex", &format!("set architecture {architecture}")])
        .args(["-ex", &format!("set tdesc filename {}", xml_path.display())])
        .args(["-ex", "maint print remote-registers"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {GDB}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "gdb failed: {stderr}");
    // gdb reports a description it cannot parse or use as a warning and carries on with
    // a built-in one; treat any diagnostic as a failure.
    assert!(
        stderr.trim().is_empty(),
        "gdb complained about the target description:\n{stderr}"
    );

    // Columns: Name Nr Rel Offset Size Type [Rmt-Nr g/G-Offset]. Pseudo registers have
    // no remote columns.
    let mut registers: Vec<RemoteRegister> = stdout
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 8 {
                return None;
            }
            let number = |s: &str| s.parse::<usize>().ok();
            Some(RemoteRegister {
                name: fields[0].to_string(),
                size: number(fields[4])?,
                remote_number: number(fields[fields.len() - 2])?,
                g_offset: number(fields[fields.len() - 1])?,
            })
        })
        .collect();
    registers.sort_by_key(|r| r.remote_number);
    registers
}

fn expected_registers<I: RegId>(
    name_of: impl Fn(I) -> Option<&'static str>,
) -> Vec<RemoteRegister> {
    g_packet_layout::<I>()
        .into_iter()
        .map(|slot| {
            let (id, _) = I::from_raw_id(slot.raw_id).expect("raw id of the layout");
            RemoteRegister {
                name: name_of(id).expect("register name").to_string(),
                size: slot.size,
                remote_number: slot.raw_id,
                g_offset: slot.offset,
            }
        })
        .collect()
}

/// Compare register by register, so that a failure names the first register that differs.
fn assert_same_layout(from_gdb: &[RemoteRegister], ours: &[RemoteRegister]) {
    for (gdb, expected) in from_gdb.iter().zip(ours) {
        assert_eq!(
            gdb, expected,
            "gdb (left) and our serialiser (right) differ at remote register {}",
            expected.remote_number
        );
    }
    assert_eq!(from_gdb.len(), ours.len(), "number of g-packet registers");
}

#[test]
fn gdb_agrees_with_the_amd64_layout() {
    let xml = X86_64Xen::target_description_xml().expect("amd64 target.xml");
    let from_gdb = gdb_remote_registers("i386:x86-64", xml);
    let ours = expected_registers::<X86_64XenRegId>(|id| id.name());
    assert_same_layout(&from_gdb, &ours);
    // Pin the values from the notes too, in case both sides drift together.
    let find = |name: &str| from_gdb.iter().find(|r| r.name == name).unwrap();
    assert_eq!(
        (find("orig_rax").remote_number, find("orig_rax").g_offset),
        (57, 536)
    );
    assert_eq!(
        (find("fs_base").remote_number, find("fs_base").g_offset),
        (58, 544)
    );
    assert_eq!(
        (find("gs_base").remote_number, find("gs_base").g_offset),
        (59, 552)
    );
    assert_eq!((find("cr3").remote_number, find("cr3").g_offset), (62, 576));
    let last = from_gdb.last().unwrap();
    assert_eq!(last.g_offset + last.size, 640);
}

#[test]
fn gdb_agrees_with_the_i386_layout() {
    let xml = I386Xen::target_description_xml().expect("i386 target.xml");
    let from_gdb = gdb_remote_registers("i386", xml);
    let ours = expected_registers::<I386XenRegId>(|id| id.name());
    assert_same_layout(&from_gdb, &ours);
    let find = |name: &str| from_gdb.iter().find(|r| r.name == name).unwrap();
    assert_eq!((find("eip").remote_number, find("eip").g_offset), (8, 32));
    assert_eq!(
        (find("orig_eax").remote_number, find("orig_eax").g_offset),
        (41, 308)
    );
    // In a feature of ours: gdb 13's i386 GNU/Linux ABI (the default) aborts on
    // org.gnu.gdb.i386.segments next to org.gnu.gdb.i386.linux.
    assert_eq!(
        (find("fs_base").remote_number, find("fs_base").g_offset),
        (42, 312)
    );
    assert_eq!(
        (find("gs_base").remote_number, find("gs_base").g_offset),
        (43, 316)
    );
    assert_eq!((find("cr3").remote_number, find("cr3").g_offset), (46, 328));
    let last = from_gdb.last().unwrap();
    assert_eq!(last.g_offset + last.size, 360);
}
