//! A dump file that shrinks while mapped must not kill the reader or the server with
//! SIGBUS: reads of the vanished bytes fail, everything else keeps working.
//!
//! Without the guard in `src/dump/source.rs` these tests do not fail politely: the
//! test process (or the server) dies of SIGBUS.

mod support;

use std::path::Path;

use support::{gdb, reg, Server};
use xendump_gdbserver::addr::{VirtAddr, PAGE_SIZE};
use xendump_gdbserver::builder::tiny::{TinyGuest, TEXT_PFN};
use xendump_gdbserver::builder::{DumpLayout, DumpOptions};
use xendump_gdbserver::dump::{GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{
    Guest, GuestOptions, MemoryError, PagingMode, TranslationCache, Via,
};

fn tiny() -> TinyGuest {
    TinyGuest::new(GuestKind::Pv, PagingMode::FourLevel).unwrap()
}

fn write(
    dir: &tempfile::TempDir,
    t: &TinyGuest,
    opts: &DumpOptions,
) -> (std::path::PathBuf, DumpLayout) {
    let path = dir.path().join("shrinking.core");
    let layout = t.image.write_file(&path, opts).unwrap();
    (path, layout)
}

/// Cut the file to `len` bytes, as another process (`truncate -s`) would.
fn shrink(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn pages_offset(layout: &DumpLayout) -> u64 {
    layout.region(".xen_pages").unwrap().offset
}

#[test]
fn reads_past_the_new_end_fail_and_earlier_pages_still_read() {
    // The 3.1 layout puts the p2m table before the pages, so cutting the page area
    // leaves every lookup intact: only the pages past the cut are gone.
    let t = tiny();
    let dir = tempfile::tempdir().unwrap();
    let (path, layout) = write(&dir, &t, &DumpOptions::elf_3_1(Width::Bits64));
    let guest = Guest::new(XenDump::open(&path).unwrap(), GuestOptions::default()).unwrap();
    let mut cache = TranslationCache::new(16);
    let banner_pa = TEXT_PFN * PAGE_SIZE + 0x100;
    let mut buf = vec![0u8; t.facts.banner.len()];
    guest
        .read_exact(
            &mut cache,
            Via::Virtual(guest.vcpu_space(0).unwrap()),
            t.facts.banner_va,
            &mut buf,
        )
        .unwrap();
    assert_eq!(buf, t.facts.banner.as_bytes());
    assert_eq!(guest.dump().mapping_faults(), 0);

    // Keep pages 0..8 (the text page among them); the data pages and tables go.
    shrink(&path, pages_offset(&layout) + 8 * PAGE_SIZE);

    let mut w = [0u8; 8];
    let err = guest
        .read_exact(&mut cache, Via::Physical, 0x1f * PAGE_SIZE, &mut w)
        .unwrap_err();
    assert!(
        matches!(err, MemoryError::FileShrank { .. }),
        "reading a vanished page: {err}"
    );
    assert!(err.to_string().contains("shrank"), "{err}");
    assert!(guest.dump().mapping_faults() > 0, "the fault was not seen");

    // A page before the cut still reads right, through the file.
    let mut b = vec![0u8; t.facts.banner.len()];
    guest
        .read_exact(&mut cache, Via::Physical, banner_pa, &mut b)
        .unwrap();
    assert_eq!(b, t.facts.banner.as_bytes());

    // Page tables are past the cut: virtual reads fail, they do not fault.
    let mut c2 = TranslationCache::new(16);
    assert!(guest
        .read_exact(
            &mut c2,
            Via::Virtual(guest.vcpu_space(0).unwrap()),
            t.facts.counter_va,
            &mut w
        )
        .is_err());
    // The summary says what happened.
    let summary = xendump_gdbserver::summary::Summary::of(&guest).to_string();
    assert!(summary.contains("shrank while in use"), "{summary}");
    // Registers were decoded at open and stay available.
    assert_eq!(guest.vcpus()[0], t.image.expected_states()[0]);
}

#[test]
fn a_file_cut_to_its_headers_fails_every_read_without_dying() {
    // Current layout: pages first, p2m last, so the cut also takes the frame table the
    // lookups binary-search in place.
    let t = tiny();
    let dir = tempfile::tempdir().unwrap();
    let (path, layout) = write(&dir, &t, &DumpOptions::elf(Width::Bits64));
    let guest = Guest::new(XenDump::open(&path).unwrap(), GuestOptions::default()).unwrap();
    shrink(&path, pages_offset(&layout));
    let mut cache = TranslationCache::new(16);
    let mut buf = [0u8; 64];
    let space = guest.vcpu_space(0).unwrap();
    for (via, addr) in [
        (Via::Virtual(space), t.facts.banner_va),
        (Via::Virtual(space), t.facts.counter_va),
        (Via::Physical, TEXT_PFN * PAGE_SIZE),
        (Via::Machine, 0x5_1004 * PAGE_SIZE),
    ] {
        assert!(
            guest.read_exact(&mut cache, via, addr, &mut buf).is_err(),
            "{:?} {addr:#x} read from a file cut before its pages",
            via.view()
        );
    }
    let _ = guest.translate(space, VirtAddr(t.facts.banner_va));
    let _ = xendump_gdbserver::summary::Summary::of(&guest).to_string();
}

#[test]
fn the_server_survives_its_dump_shrinking_and_answers_gdb_with_errors() {
    let t = tiny();
    let dir = tempfile::tempdir().unwrap();
    let (path, layout) = write(&dir, &t, &DumpOptions::elf_3_1(Width::Bits64));
    let mut server = Server::start(&path, &[]);
    let banner = format!("x/s {:#x}", t.facts.banner_va);
    let before = gdb(&server.addr, &[&banner]);
    assert!(before.contains(t.facts.banner), "{before}");

    shrink(&path, pages_offset(&layout) + 2 * PAGE_SIZE);

    let after = gdb(
        &server.addr,
        &[
            &banner,
            &format!("x/gx {:#x}", t.facts.counter_va),
            "info registers rax",
            "monitor info",
        ],
    );
    assert!(
        after.contains(&format!(
            "Cannot access memory at address {:#x}",
            t.facts.banner_va
        )),
        "{after}"
    );
    let v = &t.image.expected_states()[0];
    assert_eq!(
        reg(&after, "rax"),
        Some(v.gprs.rax),
        "registers still served: {after}"
    );
    assert!(
        after.contains("shrank while in use"),
        "monitor info: {after}"
    );
    assert!(server.alive(), "server died; log:\n{}", server.log());
    // And it still takes new sessions.
    let again = gdb(&server.addr, &["info registers rbx"]);
    assert_eq!(reg(&again, "rbx"), Some(v.gprs.rbx), "{again}");
    assert!(server.alive());
}
