//! End-to-end fidelity: the real gdb against the real server on the dumps real Xen
//! 3.0.x and damaged dumps give (legacy HVM page lists of both eras, shifted or read by
//! index; machine-address CR3s; useless roots; i386 segment bases). gdb must answer as
//! it would on the live guest; expected values come from the builder's description.

mod support;

use support::{dump_file, gdb, reg, Server};
use xendump_gdbserver::addr::{GuestFrame, PAGE_SIZE};
use xendump_gdbserver::builder::legacy_hvm::{add_kernel_identity, remove_pages, rotate_mfns};
use xendump_gdbserver::builder::scenario::{scenario_mfn, Scenario};
use xendump_gdbserver::builder::{DumpOptions, Layout, LegacyOptions};
use xendump_gdbserver::dump::{GuestKind, Width};
use xendump_gdbserver::memory::PagingMode;

fn legacy(opts: LegacyOptions) -> DumpOptions {
    DumpOptions {
        format: Layout::Legacy(opts),
        tools: Width::Bits64,
    }
}

/// Serve `s` written with `opts`, run `cmds` in gdb; the output and the server log.
fn session(name: &str, s: &Scenario, opts: &DumpOptions, cmds: &[String]) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dump_file(&dir, name, &s.image.write(opts).unwrap());
    let server = Server::start(&path, &[]);
    let cmds: Vec<&str> = cmds.iter().map(String::as_str).collect();
    let out = gdb(&server.addr, &cmds);
    let log = server.log();
    (out.clone(), format!("{name}:\n{out}\nserver log:\n{log}"))
}

#[test]
fn a_3_0_3_dump_of_a_32bit_guest_answers_like_the_guest() {
    // Xen 3.0.3: magic 0xF00FEBED, VGCF_HVM_GUEST, CR3 the machine address of the
    // PDPT's page, above 4 GiB here; the list without the VGA hole's pages.
    let s = Scenario::new(GuestKind::Hvm, PagingMode::Pae).unwrap();
    let f = &s.facts;
    let want_cr3 = f.roots[0].frame * PAGE_SIZE;
    let stored = (s.image.pfn_to_mfn(GuestFrame(f.roots[0].frame)).unwrap().0) << 12;
    assert!(stored > u64::from(u32::MAX));
    let (out, ctx) = session(
        "303-pae",
        &s,
        &legacy(LegacyOptions::xen_3_0_3()),
        &[
            "show architecture".into(),
            format!("x/s {:#x}", f.banner_va),
            format!("x/1xw {:#x}", f.jiffies_va),
            "echo ==REGS==\\n".into(),
            "info registers".into(),
            "echo ==END==\\n".into(),
            "p $fs_base".into(),
            "monitor info".into(),
            "monitor vcpu 0".into(),
            // vCPU 1's tables by the CR3 gdb shows for it (not the stored one).
            format!("monitor cr3 {:#x}", f.roots[1].frame * PAGE_SIZE),
            format!("x/1xw {:#x}", f.user_va),
        ],
    );
    assert!(out.contains("(currently \"i386\")"), "{ctx}");
    assert!(out.contains(&format!("\"{}\"", f.banner)), "{ctx}");
    assert!(
        out.contains(&format!("{:#010x}", f.jiffies & 0xffff_ffff)),
        "{ctx}"
    );
    let regs = out
        .split("==REGS==")
        .nth(1)
        .unwrap()
        .split("==END==")
        .next()
        .unwrap();
    let v = &s.image.expected_states()[0];
    assert_eq!(reg(regs, "eip"), Some(v.rip & 0xffff_ffff), "{ctx}");
    assert_eq!(reg(regs, "cr3"), Some(want_cr3), "{ctx}");
    assert!(
        out.contains("$1 = <unavailable>"),
        "no bases in a 3.0.x HVM context: {ctx}"
    );
    assert!(
        out.contains("slot -> pfn:     Xen 3.0.3/3.0.4 HVM builder"),
        "{ctx}"
    );
    assert!(
        out.contains(&format!("stored cr3 {stored:#x} (a machine address)")),
        "{ctx}"
    );
    assert!(
        out.contains(&format!("gdb's $cr3 is the guest's: {want_cr3:#x}")),
        "{ctx}"
    );
    assert!(
        out.contains(&format!(
            "{:#x}:\t{:#010x}",
            f.user_va,
            f.user_value & 0xffff_ffff
        )),
        "monitor cr3: {ctx}"
    );
}

#[test]
fn a_shifted_3_0_4_list_is_read_at_the_right_slots() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    remove_pages(&mut s.image, 0x240, 0x20).unwrap();
    let f = s.facts.clone();
    let (out, ctx) = session(
        "304-shifted",
        &s,
        &legacy(LegacyOptions::default()),
        &[
            format!("x/s {:#x}", f.banner_va),
            format!("x/1xg {:#x}", f.jiffies_va),
            "p/x $cr3".into(),
            "monitor info".into(),
        ],
    );
    assert!(out.contains(&format!("\"{}\"", f.banner)), "{ctx}");
    assert!(out.contains(&format!("{:#018x}", f.jiffies)), "{ctx}");
    assert!(
        out.contains(&format!("$1 = {:#x}", f.roots[0].frame * PAGE_SIZE)),
        "{ctx}"
    );
    assert!(out.contains("shifted: -32 from pfn 0x260"), "{ctx}");
    assert!(!out.contains("no slot→pfn rule fits"), "{ctx}");
    assert!(!out.contains("placed by assumption"), "{ctx}");
}

#[test]
fn a_3_0_4_by_index_dump_serves_what_its_index_names() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    rotate_mfns(&mut s.image, 0x100, 0x800);
    let f = s.facts.clone();
    let (out, ctx) = session(
        "304-by-index",
        &s,
        &legacy(LegacyOptions::xen_3_0_4_by_index()),
        &[
            format!("x/s {:#x}", f.banner_va),
            "monitor view physical".into(),
            format!("x/xg {:#x}", 0x1a0 * PAGE_SIZE),
            "monitor info".into(),
        ],
    );
    assert!(out.contains(&format!("\"{}\"", f.banner)), "{ctx}");
    assert!(
        out.contains(&format!(
            "Cannot access memory at address {:#x}",
            0x1a0 * PAGE_SIZE
        )),
        "{ctx}"
    );
    assert!(
        out.contains("warning: legacy HVM dump of Xen 3.0.4"),
        "{ctx}"
    );
}

#[test]
fn a_vcpu_with_xens_own_table_reads_through_the_kernels() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let id = add_kernel_identity(&mut s).unwrap();
    s.image.vcpus[2].ctrlreg[0] &= !(1 << 31);
    let f = s.facts.clone();
    let (out, ctx) = session(
        "dummy-root",
        &s,
        &legacy(LegacyOptions::default()),
        &[
            "thread 3".into(),
            format!("x/s {:#x}", f.banner_va),
            format!("x/s {:#x}", id.uts_va + 130),
            "p $cr3".into(),
            "monitor vcpu 2".into(),
            "monitor info".into(),
        ],
    );
    assert!(out.contains(&format!("\"{}\"", f.banner)), "{ctx}");
    assert!(
        out.contains(&format!(
            "\"{}\"",
            xendump_gdbserver::builder::legacy_hvm::RELEASE
        )),
        "{ctx}"
    );
    assert!(out.contains("$1 = <unavailable>"), "{ctx}");
    assert!(
        out.contains("paging was off and its CR3 names Xen's own table"),
        "{ctx}"
    );
    assert!(
        out.contains("reads go through the kernel's swapper_pg_dir"),
        "{ctx}"
    );
    assert!(
        out.contains("kernel check:  the kernel image is where vCPU 0's page tables say"),
        "{ctx}"
    );
}

#[test]
fn i386_segment_bases_from_descriptors_and_from_the_context() {
    // 32-bit PV: fs names GDT entry 27, gs LDT entry 1.
    let mut s = Scenario::new(GuestKind::Pv, PagingMode::Pae).unwrap();
    let desc =
        |base: u64| 0x00cf_9300_0000_ffffu64 | ((base & 0xff_ffff) << 16) | ((base >> 24) << 56);
    s.image
        .write_u64(GuestFrame(0x340), 27 * 8, desc(0x1f40_0000))
        .unwrap();
    s.image
        .write_u64(GuestFrame(0x302), 8, desc(0x0804_c000))
        .unwrap();
    let ldt = s.facts.data_va + 2 * PAGE_SIZE;
    for v in &mut s.image.vcpus {
        v.gdt_frames[0] = scenario_mfn(0x340);
        v.gdt_ents = 32;
        v.ldt_base = ldt;
        v.ldt_ents = 2;
        v.selectors.fs = 0xd8;
        v.selectors.gs = 0x0f;
    }
    s.image.vcpus[2].selectors.gs = 0;
    let (out, ctx) = session(
        "pv32-bases",
        &s,
        &DumpOptions::elf(Width::Bits32),
        &[
            "p/x $fs_base".into(),
            "p/x $gs_base".into(),
            "thread 3".into(),
            "p/x $fs_base".into(),
            "p $gs_base".into(),
            "monitor vcpu 0".into(),
        ],
    );
    assert!(out.contains("$1 = 0x1f400000"), "{ctx}");
    assert!(out.contains("$2 = 0x804c000"), "{ctx}");
    assert!(out.contains("$3 = 0x1f400000"), "{ctx}");
    assert!(out.contains("$4 = <unavailable>"), "null selector: {ctx}");
    assert!(
        out.contains("from the descriptors the selectors name"),
        "{ctx}"
    );

    // 32-bit HVM on Xen ≥ 4.2: the context's fields.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::Pae).unwrap();
    s.image.vcpus[0].fs_base = 0x1f40_0000;
    s.image.vcpus[0].gs_base_kernel = 0xabc;
    let (out, ctx) = session(
        "hvm32-bases",
        &s,
        &DumpOptions::elf(Width::Bits64),
        &[
            "p/x $fs_base".into(),
            "p/x $gs_base".into(),
            "info registers fs_base".into(),
        ],
    );
    assert!(out.contains("$1 = 0x1f400000"), "{ctx}");
    assert!(out.contains("$2 = 0xabc"), "{ctx}");
    assert!(out.contains("fs_base        0x1f400000"), "{ctx}");
}
