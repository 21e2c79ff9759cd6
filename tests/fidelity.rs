//! Fidelity on the guests real Xen 3.0.x and damaged dumps give: legacy HVM page lists
//! (both eras, shifted, the 3.0.4 writer's by-index contents), CR3 as the guest had
//! it, segment bases, and the kernel's own table when a vCPU's root is useless. Every
//! expected value comes from the builder's description of the guest.

use xendump_gdbserver::addr::{GuestFrame, VirtAddr, PAGE_SIZE};
use xendump_gdbserver::builder::legacy_hvm::{
    add_kernel_identity, add_kernel_identity_at, remove_pages, rotate_mfns, KernelIdentity, RELEASE,
};
use xendump_gdbserver::builder::scenario::Scenario;
use xendump_gdbserver::builder::{DumpOptions, Layout, LegacyOptions, PHYS_TABLE_MFN};
use xendump_gdbserver::dump::{GuestKind, SlotContents, Width, XenDump};
use xendump_gdbserver::memory::{
    Guest, GuestOptions, PagingMode, RootProblem, RootSource, TranslationCache, Via, CACHE_SLOTS,
};
use xendump_gdbserver::os::linux::apply_kernel_view;
use xendump_gdbserver::summary::Summary;
use xendump_gdbserver::threads::{BaseSource, Debuggee};

fn legacy(opts: LegacyOptions) -> DumpOptions {
    DumpOptions {
        format: Layout::Legacy(opts),
        tools: Width::Bits64,
    }
}

/// The guest as the server opens it: model, then the kernel's view.
fn open(s: &Scenario, opts: &DumpOptions) -> Guest {
    let dump = XenDump::from_bytes(s.image.write(opts).expect("builder writes")).expect("opens");
    let mut g = Guest::new(dump, GuestOptions::default()).expect("guest model");
    apply_kernel_view(&mut g);
    g
}

/// Every probe address reads as the scenario says through vCPU `slot`'s space, which
/// translates like the scenario's `oracle_slot`.
fn reads_match(s: &Scenario, g: &Guest, slot: usize, oracle_slot: usize, what: &str) -> usize {
    let f = &s.facts;
    let mut probes = vec![
        f.banner_va,
        f.jiffies_va,
        f.data_va,
        f.text_va,
        f.direct_map_va,
    ];
    for m in s.kernel_tables.mappings() {
        probes.extend([m.va.0, m.va.0 + 0xfff, m.last()]);
    }
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    let space = g.vcpu_space(slot).expect("space");
    let mut checked = 0;
    for a in probes {
        let mut b = [0u8; 1];
        let n = g.read(&mut cache, Via::Virtual(space), a, &mut b);
        let want = s.byte_at(oracle_slot, VirtAddr(a));
        assert_eq!(n == 1, want.is_some(), "{what}: vCPU {slot} {a:#x}");
        if let Some(w) = want {
            assert_eq!(b[0], w, "{what}: vCPU {slot} {a:#x}");
        }
        checked += 1;
    }
    checked
}

fn read_str(g: &Guest, slot: usize, va: u64, len: usize) -> Option<String> {
    let mut buf = vec![0u8; len];
    let mut cache = TranslationCache::new(16);
    g.read_exact(&mut cache, Via::Virtual(g.vcpu_space(slot)?), va, &mut buf)
        .ok()?;
    String::from_utf8(buf).ok()
}

#[test]
fn a_machine_cr3_above_4gib_keeps_a_32bit_guest_32bit() {
    // Scenario HVM guests live in machine frames from 0x100000 (4 GiB) up.
    for opts in [
        legacy(LegacyOptions::xen_3_0_3()),
        legacy(LegacyOptions::default()),
    ] {
        let s = Scenario::new(GuestKind::Hvm, PagingMode::Pae).unwrap();
        let g = open(&s, &opts);
        let stored = g.vcpus()[0].cr3();
        assert!(stored > u64::from(u32::MAX), "stored cr3 {stored:#x}");
        assert_eq!(g.guest_width(), Width::Bits32);
        assert!(!g.long_mode_inferred());
        assert_eq!(g.vcpu_space(0).unwrap().mode, PagingMode::Pae);
        let root = s.facts.roots[0];
        assert_eq!(g.guest_cr3(0), Some(root.frame * PAGE_SIZE));
        let summary = Summary::of(&g);
        assert_eq!(summary.register_layout, "i386");
        assert_eq!(
            summary.vcpus[0].cr3,
            Some(format!("{:#x}", root.frame * PAGE_SIZE))
        );
        assert_eq!(summary.vcpus[0].cr3_stored, Some(format!("{stored:#x}")));
        let l = g.legacy_layout().unwrap();
        assert!(l.fits && l.checked, "{}", l.describe());
        assert!(reads_match(&s, &g, 0, 0, "pae") > 10);
    }
}

#[test]
fn a_shifted_list_is_fitted_and_the_change_placed_at_the_break() {
    for (mode, opts) in [
        (PagingMode::FourLevel, legacy(LegacyOptions::xen_3_0_3())),
        (PagingMode::FourLevel, legacy(LegacyOptions::default())),
        (PagingMode::Pae, legacy(LegacyOptions::default())),
    ] {
        let mut s = Scenario::new(GuestKind::Hvm, mode).unwrap();
        // 32 pages ballooned out at 0x240: every later slot holds a pfn 32 higher.
        remove_pages(&mut s.image, 0x240, 0x20).unwrap();
        s.image
            .write_u64(GuestFrame(0x270), 0, 0x5417_7ed0)
            .unwrap();
        let g = open(&s, &opts);
        let l = g.legacy_layout().unwrap().clone();
        let what = format!("{mode} {}", l.describe());
        assert!(l.fits, "{what}");
        assert!(l.rule.contains("-32 from pfn 0x260"), "{what}");
        // The machine frames break exactly where the pages left: nothing uncertain.
        assert!(l.uncertain.is_empty(), "{what}: {:?}", l.uncertain);
        assert!(g.warnings().is_empty(), "{what}: {:?}", g.warnings());
        assert!(reads_match(&s, &g, 0, 0, &what) > 10);
        let mut cache = TranslationCache::new(4);
        let mut b = [0u8; 8];
        g.read_exact(&mut cache, Via::Physical, 0x270 * PAGE_SIZE, &mut b)
            .unwrap();
        assert_eq!(u64::from_le_bytes(b), 0x5417_7ed0, "{what}");
        assert!(g.dump().page_of_pfn(GuestFrame(0x250)).is_none(), "{what}");
        // Without the fit, the plain rule would have read pfn 0x270 from the wrong slot.
        assert!(
            l.checks
                .iter()
                .any(|c| c.rule.starts_with("Xen 3.0.3/3.0.4")
                    && c.tables_ok * 2 <= c.tables_checked),
            "{what}"
        );
    }
}

#[test]
fn contents_by_index_serve_what_the_index_names() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    // Machine frames that are guest frame numbers too: pfn p sits in mfn p + 0x100.
    rotate_mfns(&mut s.image, 0x100, 0x800);
    let g = open(&s, &legacy(LegacyOptions::xen_3_0_4_by_index()));
    let l = g.legacy_layout().unwrap();
    assert_eq!(l.contents, SlotContents::ByIndex, "{}", l.describe());
    assert!(l.fits, "{}", l.describe());
    // Pfns 0x1a0–0x1bf are named by no index entry (their numbers are the VGA
    // hole's mfns + 0x100); 0xa0–0xbf name no guest page.
    let (named, slots) = l.named_by_index.unwrap();
    assert_eq!(slots, s.image.page_count());
    assert_eq!(named, slots - 0x20);
    assert!(g.dump().page_of_pfn(GuestFrame(0x1a0)).is_none());
    assert!(
        g.warnings()
            .iter()
            .any(|w| w.contains("Xen 3.0.4") && w.contains(&format!("{named} of {slots}"))),
        "{:?}",
        g.warnings()
    );
    assert_eq!(
        read_str(&g, 0, s.facts.banner_va, s.facts.banner.len()).as_deref(),
        Some(s.facts.banner)
    );
    assert!(reads_match(&s, &g, 0, 0, "by index") > 10);
}

#[test]
fn contents_by_index_with_mfns_beyond_the_guest_serve_nothing_and_say_so() {
    // The usual case: machine frames far above the guest's size name no guest page,
    // so every slot holds stale bytes.
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let g = open(&s, &legacy(LegacyOptions::xen_3_0_4_by_index()));
    let l = g.legacy_layout().unwrap();
    assert_eq!(l.contents, SlotContents::ByIndex);
    assert!(!l.fits);
    assert_eq!(l.named_by_index.map(|n| n.0), Some(0));
    let w = g.warnings().join("\n");
    assert!(w.contains("no slot→pfn rule fits"), "{w}");
    assert!(w.contains("only those 0 of"), "{w}");
    assert!(read_str(&g, 0, s.facts.banner_va, 8).is_none());
    let mut cache = TranslationCache::new(4);
    let mut b = [0u8; 8];
    assert!(g
        .read_exact(&mut cache, Via::Physical, s.facts.banner_pa, &mut b)
        .is_err());
}

/// A scenario with a kernel identity whose vCPU 2 had paging off when Xen 3.0.x dumped
/// it (so its CR3 is Xen's own table).
fn paging_off_on_vcpu2(mode: PagingMode) -> (Scenario, KernelIdentity) {
    let mut s = Scenario::new(GuestKind::Hvm, mode).unwrap();
    let id = add_kernel_identity(&mut s).unwrap();
    s.image.vcpus[2].ctrlreg[0] &= !(1 << 31);
    (s, id)
}

#[test]
fn a_dummy_root_reads_through_the_kernel_table() {
    for mode in [PagingMode::FourLevel, PagingMode::Pae] {
        let (s, id) = paging_off_on_vcpu2(mode);
        let g = open(&s, &legacy(LegacyOptions::default()));
        assert_eq!(g.vcpus()[2].cr3() >> 12, PHYS_TABLE_MFN, "{mode}");
        let info = g.root_info(2).unwrap();
        assert_eq!(info.problem, Some(RootProblem::XenTable), "{mode}");
        let RootSource::Kernel { how } = &info.source else {
            panic!("{mode}: {info:?}");
        };
        assert!(how.contains("swapper_pg_dir"), "{how}");
        assert!(how.contains(&format!("phys {:#x}", id.swapper_pa)), "{how}");
        assert!(how.contains(RELEASE), "{how}");
        assert_eq!(g.vcpu_space(2).unwrap().mode, mode);
        assert_eq!(g.guest_cr3(2), None, "{mode}: the guest's CR3 is unknown");
        assert!(reads_match(&s, &g, 2, 0, &format!("{mode} dummy")) > 10);
        // vCPU 0 keeps its own tables.
        assert_eq!(g.root_info(0).unwrap().source, RootSource::Cr3);
        let l = g.legacy_layout().unwrap();
        assert!(
            l.kernel_check
                .as_deref()
                .is_some_and(|k| k.contains("init_uts_ns holds release")),
            "{mode}: {:?}",
            l.kernel_check
        );
        let summary = Summary::of(&g);
        assert_eq!(summary.vcpus[2].root_source, "kernel");
        assert_eq!(summary.vcpus[2].cr3, None);
        let text = summary.to_string();
        assert!(
            text.contains("root: paging was off and its CR3 names Xen's own table"),
            "{text}"
        );
        assert!(text.contains("kernel check:"), "{text}");
        assert!(g
            .warnings()
            .iter()
            .any(|w| w.starts_with("vCPU 2:") && w.contains("swapper_pg_dir")));
    }
}

#[test]
fn a_note_only_a_full_scan_finds_still_gives_the_kernel_table() {
    // The note outside the kernel image, and no pointer to it: a vCPU that needs the
    // kernel's table makes the search go through all memory.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    add_kernel_identity_at(&mut s, Some(0x6a0 * PAGE_SIZE + 0x40)).unwrap();
    s.image.vcpus[2].ctrlreg[0] &= !(1 << 31);
    let g = open(&s, &legacy(LegacyOptions::xen_3_0_3()));
    assert!(matches!(
        g.root_info(2).unwrap().source,
        RootSource::Kernel { .. }
    ));
    reads_match(&s, &g, 2, 0, "full scan");
}

#[test]
fn without_vmcoreinfo_a_dummy_root_is_only_reported() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    s.image.vcpus[2].ctrlreg[0] &= !(1 << 31);
    let g = open(&s, &legacy(LegacyOptions::default()));
    assert_eq!(g.root_info(2).unwrap().source, RootSource::Cr3);
    assert_eq!(g.vcpu_space(2).unwrap().mode, PagingMode::None);
    assert!(g
        .warnings()
        .iter()
        .any(|w| w.starts_with("vCPU 2:") && w.contains("no kernel table was found")));
    assert!(g
        .legacy_layout()
        .unwrap()
        .kernel_check
        .as_deref()
        .is_some_and(|k| k.contains("no VMCOREINFO")));
}

#[test]
fn no_vcpu_with_paging_still_gets_the_kernel_view() {
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    add_kernel_identity(&mut s).unwrap();
    for v in &mut s.image.vcpus {
        v.ctrlreg[0] &= !(1 << 31);
    }
    let g = open(&s, &legacy(LegacyOptions::xen_3_0_3()));
    let l = g.legacy_layout().unwrap();
    assert!(!l.checked);
    assert!(
        l.kernel_check
            .as_deref()
            .is_some_and(|k| k.contains("the kernel's own table")),
        "{:?}",
        l.kernel_check
    );
    for slot in 0..3 {
        assert!(matches!(
            g.root_info(slot).unwrap().source,
            RootSource::Kernel { .. }
        ));
        reads_match(&s, &g, slot, 0, "all paging off");
    }
    assert_eq!(g.guest_width(), Width::Bits64);
}

#[test]
fn hostile_roots_fall_back_to_the_kernel_table() {
    // ELF HVM: vCPU 1's CR3 names a data page. ELF PV: vCPU 0's names an absent frame.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    add_kernel_identity(&mut s).unwrap();
    s.image.vcpus[1].ctrlreg[3] = 0x300 << 12;
    let g = open(&s, &DumpOptions::elf(Width::Bits64));
    assert_eq!(
        g.root_info(1).unwrap().problem,
        Some(RootProblem::NotATable)
    );
    assert!(matches!(
        g.root_info(1).unwrap().source,
        RootSource::Kernel { .. }
    ));
    reads_match(&s, &g, 1, 0, "hvm not a table");
    // An ELF dump's CR3 is the guest's own: still shown, only not used.
    assert_eq!(g.guest_cr3(1), Some(0x300 << 12));

    let mut s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    add_kernel_identity(&mut s).unwrap();
    s.image.vcpus[0].ctrlreg[3] = 0x7777_7000;
    let g = open(&s, &DumpOptions::elf(Width::Bits64));
    assert_eq!(g.root_info(0).unwrap().problem, Some(RootProblem::Absent));
    assert!(matches!(
        g.root_info(0).unwrap().source,
        RootSource::Kernel { .. }
    ));
    reads_match(&s, &g, 0, 0, "pv absent");
}

#[test]
fn segment_bases_from_the_context_and_from_descriptor_tables() {
    use xendump_gdbserver::builder::scenario::scenario_mfn;
    // 32-bit HVM on Xen 4.17: the context has FS.base / GS.base.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::Pae).unwrap();
    s.image.vcpus[0].fs_base = 0x1f40_0000;
    s.image.vcpus[0].gs_base_kernel = 0x0000_0abc;
    let d = Debuggee::new(open(&s, &DumpOptions::elf(Width::Bits64)));
    let v = d.guest_view(0).unwrap();
    assert_eq!((v.fs_base, v.gs_base), (Some(0x1f40_0000), Some(0xabc)));
    assert_eq!(v.bases_from, BaseSource::Context);
    // The same guest dumped by Xen 3.0.x: no bases anywhere.
    let d = Debuggee::new(open(&s, &legacy(LegacyOptions::default())));
    let v = d.guest_view(0).unwrap();
    assert_eq!(
        (v.fs_base, v.gs_base, v.bases_from),
        (None, None, BaseSource::Unavailable)
    );

    // 32-bit PV: the GDT (machine frames in gdt_frames) and the LDT (linear).
    let mut s = Scenario::new(GuestKind::Pv, PagingMode::Pae).unwrap();
    let gdt_pfn = 0x340;
    let desc =
        |base: u64| 0x00cf_9300_0000_ffffu64 | ((base & 0xff_ffff) << 16) | ((base >> 24) << 56);
    s.image
        .write_u64(GuestFrame(gdt_pfn), 27 * 8, desc(0x1f40_0000))
        .unwrap();
    // The LDT lies in the kernel's data area (mapped for every vCPU), page 2.
    let ldt_pfn = 0x302;
    s.image
        .write_u64(GuestFrame(ldt_pfn), 8, desc(0x0804_c000))
        .unwrap();
    for v in &mut s.image.vcpus {
        v.gdt_frames[0] = scenario_mfn(gdt_pfn);
        v.gdt_ents = 32;
        v.ldt_base = s.facts.data_va + 2 * PAGE_SIZE;
        v.ldt_ents = 2;
        v.selectors.fs = 0xd8; // GDT entry 27 (__KERNEL_PERCPU)
        v.selectors.gs = 0x0f; // LDT entry 1, RPL 3
    }
    s.image.vcpus[2].selectors.gs = 0; // null: no base to tell
    let d = Debuggee::new(open(&s, &DumpOptions::elf(Width::Bits32)));
    for slot in 0..3 {
        let v = d.guest_view(slot).unwrap();
        assert_eq!(v.bases_from, BaseSource::Descriptors, "vCPU {slot}");
        assert_eq!(v.fs_base, Some(0x1f40_0000), "vCPU {slot}");
        let gs = if slot == 2 { None } else { Some(0x0804_c000) };
        assert_eq!(v.gs_base, gs, "vCPU {slot}");
    }
}
