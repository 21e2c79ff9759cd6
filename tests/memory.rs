//! Guest memory through the dump: every format variant × guest kind × paging mode,
//! checked byte for byte against the scenario's own mapping list (the oracle).
//! Every format of every guest kind is here, the legacy HVM one included (its CR3 is
//! the machine address Xen 3.0.x stored: `Scenario::write`).

use xendump_gdbserver::addr::VirtAddr;
use xendump_gdbserver::builder::scenario::Scenario;
use xendump_gdbserver::builder::x86;
use xendump_gdbserver::builder::{all_variants, DumpOptions, Layout, StreamOptions};
use xendump_gdbserver::dump::{DumpFormat, GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{
    Guest, GuestOptions, MemoryError, PagingMode, TranslationCache, Via, WalkError, CACHE_SLOTS,
};

fn scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Pv, PagingMode::TwoLevel { pse: true }),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::FiveLevel),
        (GuestKind::Hvm, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::TwoLevel { pse: true }),
    ] {
        out.push(Scenario::new(kind, mode).expect("scenario builds"));
    }
    out
}

fn variants(s: &Scenario) -> Vec<(String, DumpOptions)> {
    let width = if x86::is_32bit(s.mode) {
        Width::Bits32
    } else {
        Width::Bits64
    };
    // Legacy HVM variants included: the builder stores CR3 as the machine address of
    // the top table, as Xen 3.0.x did, and the reader must find the guest's view.
    all_variants(s.image.kind, width)
}

fn guest(s: &Scenario, opts: &DumpOptions) -> Guest {
    let bytes = s.write(opts).expect("builder writes");
    let dump = XenDump::from_bytes(bytes).expect("reader opens");
    Guest::new(dump, GuestOptions::default()).expect("guest model")
}

/// Addresses around every mapping edge, plus known holes.
fn probe_addresses(s: &Scenario) -> Vec<u64> {
    let mut v = Vec::new();
    for m in s.user_tables.mappings() {
        let start = m.va.0;
        let end = m.last();
        for a in [
            start,
            start + 1,
            start + 0xfff,
            start + 0x1000,
            end - 7,
            end,
            end.wrapping_add(1),
            start.wrapping_sub(1),
        ] {
            v.push(a);
        }
    }
    let f = &s.facts;
    v.extend([
        f.unmapped_va,
        f.absent_va,
        f.banner_va,
        f.jiffies_va,
        f.user_va,
        0,
        0x1000,
    ]);
    if !x86::is_32bit(s.mode) {
        v.extend([0x0000_8000_0000_0000, 0xffff_7fff_ffff_ffff, u64::MAX]);
    } else {
        v.extend([0xffff_ffff, 0x1_0000_0000]);
    }
    v
}

#[test]
fn virtual_reads_match_the_oracle_everywhere() {
    let mut checked = 0u64;
    for s in scenarios() {
        for (name, opts) in variants(&s) {
            let g = guest(&s, &opts);
            let mut cache = TranslationCache::new(CACHE_SLOTS);
            for slot in 0..3 {
                for &a in &probe_addresses(&s) {
                    let mut b = [0u8; 1];
                    let n = g.read(
                        &mut cache,
                        Via::Virtual(g.vcpu_space(slot).unwrap()),
                        a,
                        &mut b,
                    );
                    let want = s.byte_at(slot, VirtAddr(a));
                    assert_eq!(
                        n == 1,
                        want.is_some(),
                        "{name} {:?} vCPU {slot} {a:#x}",
                        s.mode
                    );
                    if let Some(w) = want {
                        assert_eq!(b[0], w, "{name} {:?} vCPU {slot} {a:#x}", s.mode);
                    }
                    checked += 1;
                }
            }
            // Known contents.
            let f = &s.facts;
            let mut banner = vec![0u8; f.banner.len()];
            g.read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(0).unwrap()),
                f.banner_va,
                &mut banner,
            )
            .unwrap();
            assert_eq!(banner, f.banner.as_bytes(), "{name}");
            let mut j = [0u8; 8];
            g.read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(0).unwrap()),
                f.jiffies_va,
                &mut j,
            )
            .unwrap();
            assert_eq!(u64::from_le_bytes(j), f.jiffies, "{name}");
            // The user page exists only in vCPU 1's address space.
            g.read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(1).unwrap()),
                f.user_va,
                &mut j,
            )
            .unwrap();
            assert_eq!(u64::from_le_bytes(j), f.user_value, "{name}");
            assert!(g
                .read_exact(
                    &mut cache,
                    Via::Virtual(g.vcpu_space(0).unwrap()),
                    f.user_va,
                    &mut j
                )
                .is_err());
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn reads_stop_at_the_first_unreadable_page() {
    for s in scenarios() {
        let (name, opts) = &variants(&s)[0];
        let g = guest(&s, opts);
        let mut cache = TranslationCache::new(CACHE_SLOTS);
        let f = &s.facts;
        // The data area is 16 pages followed by an unmapped page.
        let end = f.data_va + 16 * 4096;
        let mut buf = vec![0u8; 3 * 4096];
        let n = g.read(
            &mut cache,
            Via::Virtual(g.vcpu_space(0).unwrap()),
            end - 100,
            &mut buf,
        );
        assert_eq!(n, 100, "{name}");
        let e = g
            .read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(0).unwrap()),
                end - 100,
                &mut buf,
            )
            .unwrap_err();
        match e {
            MemoryError::Partial {
                completed,
                expected,
                cause,
                ..
            } => {
                assert_eq!((completed, expected), (100, buf.len()));
                assert!(
                    matches!(*cause, MemoryError::Walk(WalkError::NotPresent { .. })),
                    "{cause}"
                );
                assert!(cause.to_string().contains(&format!("{end:#x}")), "{cause}");
            }
            other => panic!("{name}: {other}"),
        }
        // Mapped to a frame that the dump does not hold: an error naming the frame.
        let e = g
            .read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(0).unwrap()),
                f.absent_va,
                &mut buf[..8],
            )
            .unwrap_err();
        assert!(matches!(e, MemoryError::FrameAbsent { .. }), "{name}: {e}");
        assert!(e.to_string().contains("not in the dump"), "{e}");
    }
}

#[test]
fn physical_and_machine_views() {
    for s in scenarios() {
        for (name, opts) in variants(&s) {
            let g = guest(&s, &opts);
            let mut cache = TranslationCache::new(CACHE_SLOTS);
            let f = &s.facts;
            let mut buf = vec![0u8; f.banner.len()];
            let legacy = matches!(opts.format, Layout::Legacy(_));
            let phys = g.read_exact(&mut cache, Via::Physical, f.banner_pa, &mut buf);
            if legacy && s.image.kind == GuestKind::Pv {
                let e = phys.unwrap_err();
                assert!(
                    matches!(e, MemoryError::ViewUnavailable { .. }),
                    "{name}: {e}"
                );
                assert!(e.to_string().contains("p2m"), "{e}");
            } else {
                phys.unwrap();
                assert_eq!(buf, f.banner.as_bytes(), "{name}");
            }
            let mach = g.read_exact(&mut cache, Via::Machine, f.banner_ma, &mut buf);
            if s.image.kind == GuestKind::Hvm && g.dump().format() == DumpFormat::Elf {
                assert!(
                    matches!(mach, Err(MemoryError::ViewUnavailable { .. })),
                    "{name}"
                );
            } else {
                mach.unwrap();
                assert_eq!(buf, f.banner.as_bytes(), "{name}");
            }
        }
    }
}

#[test]
fn translate_reports_each_level_and_the_right_widths() {
    for s in scenarios() {
        let levels = x86::levels(s.mode);
        for (name, opts) in variants(&s) {
            let g = guest(&s, &opts);
            for (slot, root) in s.facts.roots.iter().enumerate() {
                // vCPU 1 is in user mode: its user page is reached only through its own
                // root (a 64-bit PV vCPU's user table is in ctrlreg[1]).
                let va = if slot == 1 {
                    s.facts.user_va
                } else {
                    s.facts.jiffies_va
                };
                let tr = g
                    .translate(g.vcpu_space(slot).unwrap(), VirtAddr(va))
                    .unwrap();
                // The walk starts at the vCPU's root, as the builder placed it.
                assert_eq!(
                    tr.steps()[0].table_frame,
                    root.frame,
                    "{name} {} vCPU {slot}",
                    s.mode
                );
                // One step per level, at the index the architecture says.
                let steps: Vec<(&str, u64)> = tr
                    .steps()
                    .iter()
                    .map(|st| (st.level_name(), st.index))
                    .collect();
                let want: Vec<(&str, u64)> = levels.iter().map(|l| (l.name, l.index(va))).collect();
                assert_eq!(steps, want, "{name} {} vCPU {slot}", s.mode);
                let (frame, off) = s.lookup(slot, VirtAddr(va)).unwrap();
                assert_eq!((tr.frame, tr.offset), (frame, off), "{name}");
                // The kernel text is one large page: the walk ends a level early.
                let tr = g
                    .translate(g.vcpu_space(slot).unwrap(), VirtAddr(s.facts.banner_va))
                    .unwrap();
                assert_eq!(tr.steps().len(), levels.len() - 1, "{name}");
                assert_eq!(
                    (tr.frame, tr.offset),
                    s.lookup(slot, VirtAddr(s.facts.banner_va)).unwrap(),
                    "{name}"
                );
            }
            let expect = if x86::is_32bit(s.mode) {
                Width::Bits32
            } else {
                Width::Bits64
            };
            assert_eq!(g.guest_width(), expect, "{name}");
            for slot in 0..3 {
                assert_eq!(
                    g.vcpu_space(slot).unwrap().mode,
                    s.mode,
                    "{name} vCPU {slot}"
                );
            }
        }
    }
}

#[test]
fn the_cache_keeps_vcpus_apart() {
    let s = Scenario::new(GuestKind::Pv, PagingMode::FourLevel).unwrap();
    let g = guest(&s, &DumpOptions::elf(Width::Bits64));
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    let mut b = [0u8; 8];
    // Warm the cache through vCPU 1, whose tables map the user page, then ask vCPU 0.
    for _ in 0..2 {
        g.read_exact(
            &mut cache,
            Via::Virtual(g.vcpu_space(1).unwrap()),
            s.facts.user_va,
            &mut b,
        )
        .unwrap();
        assert!(g
            .read_exact(
                &mut cache,
                Via::Virtual(g.vcpu_space(0).unwrap()),
                s.facts.user_va,
                &mut b
            )
            .is_err());
    }
    let stats = cache.stats();
    assert!(stats.hits >= 1, "{stats:?}");
}

mod property {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// Every scenario in every format, built once.
    fn all() -> &'static Vec<(String, Scenario, Guest)> {
        static ALL: OnceLock<Vec<(String, Scenario, Guest)>> = OnceLock::new();
        ALL.get_or_init(|| {
            let mut v = Vec::new();
            for s in scenarios() {
                for (name, opts) in variants(&s) {
                    let g = guest(&s, &opts);
                    v.push((format!("{name} {}", s.mode), s.clone(), g));
                }
            }
            v
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// Random reads near every mapping, of random length, on a random vCPU, in a
        /// random format: the bytes read are exactly the oracle's readable prefix.
        #[test]
        fn random_reads_match_the_oracle(pick in any::<prop::sample::Index>(),
                                          mapping in any::<prop::sample::Index>(),
                                          delta in -0x3000i64..0x3000,
                                          len in 1usize..9000,
                                          slot in 0usize..3) {
            let (name, s, g) = pick.get(all());
            let maps: Vec<_> = s.user_tables.mappings().collect();
            let m = mapping.get(&maps);
            let base = if delta < 0 { m.va.0.wrapping_sub(delta.unsigned_abs()) } else { m.last().wrapping_add(delta as u64) };
            let mut cache = TranslationCache::new(64);
            let mut buf = vec![0u8; len];
            let n = g.read(&mut cache, Via::Virtual(g.vcpu_space(slot).unwrap()), base, &mut buf);
            let mut want = Vec::new();
            for i in 0..len as u64 {
                match s.byte_at(slot, VirtAddr(base.wrapping_add(i))) {
                    Some(b) if base.checked_add(i).is_some() => want.push(b),
                    _ => break,
                }
            }
            prop_assert_eq!(n, want.len(), "{} vCPU {} at {:#x}", name, slot, base);
            prop_assert_eq!(&buf[..n], &want[..], "{} vCPU {} at {:#x}", name, slot, base);
        }
    }
}

/// Linux KPTI: an HVM vCPU in user mode has the user PGD (kernel PGD + 4 KiB) loaded;
/// kernel addresses are read through the kernel PGD next to it.
#[test]
fn kpti_user_pgd_falls_back_to_the_kernel_pgd_for_kernel_addresses() {
    use xendump_gdbserver::addr::{GuestFrame, MachineFrame};
    use xendump_gdbserver::builder::pagetable::{EntryFlags, PageTableBuilder};
    use xendump_gdbserver::builder::{GuestImage, VcpuImage};
    use xendump_gdbserver::memory::{PageSize, PagingOverride};

    let mut img = GuestImage::new(GuestKind::Hvm, Width::Bits64);
    img.add_run(GuestFrame(0), MachineFrame(0x1000), 0x100)
        .unwrap();
    let (kva, uva) = (0xffff_ffff_8100_0000u64, 0x40_0000u64);
    let mut kt = PageTableBuilder::new(PagingMode::FourLevel);
    kt.map(
        VirtAddr(kva),
        0x50,
        PageSize::Size4K,
        1,
        EntryFlags::default(),
    )
    .unwrap();
    let mut ut = PageTableBuilder::new(PagingMode::FourLevel);
    ut.map(
        VirtAddr(uva),
        0x51,
        PageSize::Size4K,
        1,
        EntryFlags {
            user: true,
            ..EntryFlags::default()
        },
    )
    .unwrap();
    // Kernel PGD at pfn 0x20, user PGD at 0x21 (an 8 KiB-aligned pair, as Linux has it).
    for (tables, first, pool) in [(&kt, 0x20u64, 0x30u64), (&ut, 0x21, 0x40)] {
        let mut next = None;
        let built = tables
            .build(|| match next {
                None => {
                    next = Some(pool);
                    first
                }
                Some(n) => {
                    next = Some(n + 1);
                    n
                }
            })
            .unwrap();
        for (frame, page) in built.pages {
            img.set_page(GuestFrame(frame), &page).unwrap();
        }
    }
    img.write_u64(GuestFrame(0x50), 0, 0x6b65_726e_656c)
        .unwrap();
    img.write_u64(GuestFrame(0x51), 0, 0x7573_6572).unwrap();
    let mut v = VcpuImage::online();
    v.selectors.cs = 0x33;
    v.rip = uva;
    v.ctrlreg = [0x8005_0033, 0, 0, 0x21 << 12, 0x0035_06f0, 0, 0, 0];
    img.push_vcpu(v);
    let dump = XenDump::from_bytes(img.write(&DumpOptions::elf(Width::Bits64)).unwrap()).unwrap();
    let g = Guest::new(
        dump,
        GuestOptions {
            paging: Some(PagingOverride::FourLevel),
            ..GuestOptions::default()
        },
    )
    .unwrap();
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    let mut b = [0u8; 8];
    g.read_exact(
        &mut cache,
        Via::Virtual(g.vcpu_space(0).unwrap()),
        uva,
        &mut b,
    )
    .unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x7573_6572);
    g.read_exact(
        &mut cache,
        Via::Virtual(g.vcpu_space(0).unwrap()),
        kva,
        &mut b,
    )
    .unwrap();
    assert_eq!(u64::from_le_bytes(b), 0x6b65_726e_656c);
    assert_eq!(
        g.translate(g.vcpu_space(0).unwrap(), VirtAddr(kva))
            .unwrap()
            .frame,
        0x50
    );
    // Lower-half addresses never take the fallback.
    assert!(g
        .read_exact(
            &mut cache,
            Via::Virtual(g.vcpu_space(0).unwrap()),
            uva + 0x1000,
            &mut b
        )
        .is_err());
}

/// Large pages of every kind, with the PAT bit set, 4 MiB pages above 4 GiB (PSE-36) and
/// a 1 GiB page: HVM guests whose pages are populated only where the test reads, so a
/// gigabyte page costs one page of dump. Values are where the builder wrote them; a
/// frame of the page that the dump does not hold must be reported as such.
#[test]
fn large_pages_of_every_kind_read_back_through_the_dump() {
    use xendump_gdbserver::addr::{GuestFrame, MachineFrame};
    use xendump_gdbserver::builder::pagetable::{Cr3Encoding, EntryFlags, PageTableBuilder};
    use xendump_gdbserver::builder::{GuestImage, VcpuImage};
    use xendump_gdbserver::memory::PageSize;

    struct Page {
        va: u64,
        size: PageSize,
        /// First guest frame of the large page.
        frame: u64,
        /// The frame within it that the dump holds (and the test reads).
        within: u64,
    }
    let pat = EntryFlags {
        pat: true,
        writable: true,
        ..EntryFlags::default()
    };
    let cases: Vec<(PagingMode, u64, Vec<Page>)> = vec![
        (
            PagingMode::FourLevel,
            0x0035_06f0,
            vec![
                Page {
                    va: 0xffff_8880_4000_0000,
                    size: PageSize::Size1G,
                    frame: 0x8_0000, // 2 GiB
                    within: 0x2_3456,
                },
                Page {
                    va: 0xffff_ffff_8120_0000,
                    size: PageSize::Size2M,
                    frame: 0x1200, // PAT bit 12 would read as frame bit 0
                    within: 0x1ff,
                },
            ],
        ),
        (
            PagingMode::FiveLevel,
            0x0035_16f0,
            vec![Page {
                va: 0xff11_0000_4000_0000,
                size: PageSize::Size1G,
                frame: 0x4_0000,
                within: 0x3_ffff,
            }],
        ),
        (
            PagingMode::Pae,
            0x6b0,
            vec![Page {
                va: 0xc060_0000,
                size: PageSize::Size2M,
                frame: 0x600,
                within: 0x101,
            }],
        ),
        (
            PagingMode::TwoLevel { pse: true },
            0x690,
            vec![
                Page {
                    // PA 0x23_0040_0000: bits 39:32 = 0x23 go in PDE bits 20:13.
                    va: 0xc040_0000,
                    size: PageSize::Size4M,
                    frame: 0x230_0400,
                    within: 0x3ff,
                },
                Page {
                    va: 0xc080_0000,
                    size: PageSize::Size4M,
                    frame: 0xc00,
                    within: 0x1,
                },
            ],
        ),
    ];
    let table_pool = 0x100u64;
    let mut checked = 0;
    for (mode, cr4, pages) in cases {
        let width = if x86::is_32bit(mode) {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let mut img = GuestImage::new(GuestKind::Hvm, width);
        img.add_run(GuestFrame(table_pool), MachineFrame(0x1000), 16)
            .unwrap();
        let mut tables = PageTableBuilder::new(mode);
        for (i, p) in pages.iter().enumerate() {
            tables.map(VirtAddr(p.va), p.frame, p.size, 1, pat).unwrap();
            let pfn = GuestFrame(p.frame + p.within);
            img.add_run(pfn, MachineFrame(0x2000 + i as u64), 1)
                .unwrap();
            img.write_u64(pfn, 0x18, 0x1a29_e000_0000_0000 | pfn.0)
                .unwrap();
        }
        let mut next = table_pool;
        let built = tables
            .build(|| {
                next += 1;
                next - 1
            })
            .unwrap();
        let cr3 = built.cr3(Cr3Encoding::Architectural).unwrap();
        for (frame, page) in &built.pages {
            img.set_page(GuestFrame(*frame), page).unwrap();
        }
        let mut v = VcpuImage::online();
        v.rip = pages[0].va;
        v.ctrlreg = [0x8005_0033, 0, 0, cr3, cr4, 0, 0, 0];
        img.push_vcpu(v);
        for (name, opts) in all_variants(GuestKind::Hvm, width) {
            if matches!(opts.format, Layout::Legacy(_)) {
                continue; // the 3.0.x position rule needs RAM from pfn 0 on
            }
            let g = Guest::new(
                XenDump::from_bytes(img.write(&opts).unwrap()).unwrap(),
                GuestOptions::default(),
            )
            .unwrap();
            assert_eq!(g.vcpu_space(0).unwrap().mode, mode, "{name}");
            let mut cache = TranslationCache::new(CACHE_SLOTS);
            for p in &pages {
                let va = p.va + p.within * 4096 + 0x18;
                let ctx = format!("{name} {mode} {:?} at {va:#x}", p.size);
                let mut b = [0u8; 8];
                g.read_exact(
                    &mut cache,
                    Via::Virtual(g.vcpu_space(0).unwrap()),
                    va,
                    &mut b,
                )
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
                assert_eq!(
                    u64::from_le_bytes(b),
                    0x1a29_e000_0000_0000 | (p.frame + p.within),
                    "{ctx}"
                );
                let tr = g.translate(g.vcpu_space(0).unwrap(), VirtAddr(va)).unwrap();
                assert_eq!(
                    (tr.frame, tr.page_size),
                    (p.frame + p.within, p.size),
                    "{ctx}"
                );
                // The first frame of the page is not in the dump.
                let e = g
                    .read_exact(
                        &mut cache,
                        Via::Virtual(g.vcpu_space(0).unwrap()),
                        p.va,
                        &mut b,
                    )
                    .unwrap_err();
                assert!(
                    matches!(e, MemoryError::FrameAbsent { frame, .. } if frame == p.frame),
                    "{ctx}: {e}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 12, "{checked}");
}

#[test]
fn an_address_space_without_a_root_reads_nothing() {
    // A vCPU whose CR3 names no table: reads fail, never walk from frame 0.
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let g = guest(&s, &DumpOptions::default());
    let mut rootless = *g.vcpu_space(0).unwrap();
    rootless.root = None;
    rootless.kpti_kernel_root = None;
    let mut cache = TranslationCache::new(CACHE_SLOTS);
    let mut b = [0u8; 8];
    let va = s.facts.jiffies_va;
    assert_eq!(g.read(&mut cache, Via::Virtual(&rootless), va, &mut b), 0);
    let e = g
        .read_exact(&mut cache, Via::Virtual(&rootless), va, &mut b)
        .unwrap_err();
    assert!(
        matches!(e, MemoryError::NoRoot { addr } if addr == va),
        "{e}"
    );
    assert!(g.translate(&rootless, VirtAddr(va)).is_err());
    // The same address through the real root reads the scenario's jiffies.
    g.read_exact(
        &mut cache,
        Via::Virtual(g.vcpu_space(0).unwrap()),
        va,
        &mut b,
    )
    .unwrap();
    assert_eq!(u64::from_le_bytes(b), s.facts.jiffies);
}

/// Saved images of every kind of guest a migration stream can hold (PV 2-level guests
/// ran only on 32-bit Xen, which never had one).
fn saved_image_cases() -> Vec<(String, Scenario, StreamOptions)> {
    let mut out = Vec::new();
    for s in scenarios() {
        if matches!(s.mode, PagingMode::TwoLevel { .. }) && s.image.kind == GuestKind::Pv {
            continue;
        }
        for (name, opts) in [
            ("xl-save", StreamOptions::xl_save()),
            ("live-3", StreamOptions::live(3)),
            ("remus-2+", StreamOptions::checkpointed(2, true)),
        ] {
            out.push((
                format!("{name} {:?} {}", s.image.kind, s.mode),
                s.clone(),
                opts,
            ));
        }
    }
    out
}

#[test]
fn saved_images_read_as_the_dump_of_the_same_guest() {
    for (name, s, opts) in saved_image_cases() {
        let dump = XenDump::from_bytes(s.write_stream(&opts).unwrap()).unwrap();
        let g = Guest::new(dump, GuestOptions::default()).unwrap();
        let elf = guest(&s, &DumpOptions::elf(variant_width(&s)));
        let mut cache = TranslationCache::new(CACHE_SLOTS);
        let mut elf_cache = TranslationCache::new(CACHE_SLOTS);
        // vCPUs 0 and 1 are saved; vCPU 2 was down, and a saved image has no registers
        // for it.
        for slot in 0..2 {
            assert_eq!(
                g.vcpu_space(slot).map(|s| s.mode),
                elf.vcpu_space(slot).map(|s| s.mode),
                "{name} vCPU {slot}"
            );
            for &a in &probe_addresses(&s) {
                let mut b = [0u8; 1];
                let mut e = [0u8; 1];
                let n = g.read(
                    &mut cache,
                    Via::Virtual(g.vcpu_space(slot).unwrap()),
                    a,
                    &mut b,
                );
                let m = elf.read(
                    &mut elf_cache,
                    Via::Virtual(elf.vcpu_space(slot).unwrap()),
                    a,
                    &mut e,
                );
                // The absent frame's entry is gone from a PV image (the save path
                // refuses frames outside the guest; the builder zeroes the entry).
                assert_eq!((n, b), (m, e), "{name} vCPU {slot} {a:#x}");
                assert_eq!(
                    (n == 1).then_some(b[0]),
                    s.byte_at(slot, VirtAddr(a)),
                    "{name} vCPU {slot} {a:#x}"
                );
            }
        }
        assert!(!g.vcpus()[2].recorded, "{name}");
        assert_eq!(g.guest_width(), elf.guest_width(), "{name}");
        if s.image.kind == GuestKind::Hvm {
            // EFER says, nothing is inferred.
            assert!(!g.long_mode_inferred(), "{name}");
            assert_eq!(
                g.vcpu_space(0).unwrap().mode_source,
                "CR0/CR4/EFER",
                "{name}"
            );
        }
        let f = &s.facts;
        let mut buf = vec![0u8; f.banner.len()];
        g.read_exact(&mut cache, Via::Physical, f.banner_pa, &mut buf)
            .unwrap();
        assert_eq!(buf, f.banner.as_bytes(), "{name}");
        let e = g
            .read_exact(&mut cache, Via::Machine, f.banner_ma, &mut buf)
            .unwrap_err();
        assert!(e.to_string().contains("saved image"), "{name}: {e}");
    }
}

fn variant_width(s: &Scenario) -> Width {
    if x86::is_32bit(s.mode) {
        Width::Bits32
    } else {
        Width::Bits64
    }
}

/// What gdb may cache (`monitor shared`): upper-half ranges whose top-level entries are
/// the same in every thread's tables. The user page (mapped by one vCPU only) never is
/// in one, and every range reads the same through every vCPU. The PV scenario's vCPUs
/// share their kernel table, so its kernel data is shared; the HVM scenario's user-mode
/// vCPU has tables of its own (a copy of the kernel's, and a KPTI fallback table that
/// is not the kernel's), so nothing is proved alike there. A table that maps the kernel
/// half otherwise takes the ranges it differs in away.
#[test]
fn only_ranges_every_space_maps_alike_are_shared() {
    for s in scenarios()
        .into_iter()
        .filter(|s| matches!(s.mode, PagingMode::FourLevel | PagingMode::FiveLevel))
    {
        let g = Guest::new(
            XenDump::from_bytes(s.image.write(&DumpOptions::default()).unwrap()).unwrap(),
            GuestOptions::default(),
        )
        .unwrap();
        let name = format!("{:?} {}", s.image.kind, s.mode);
        let spaces: Vec<_> = (0..g.vcpus().len())
            .filter_map(|i| g.vcpu_space(i))
            .copied()
            .collect();
        let shared = g.same_in_every_space(&spaces);
        let inside = |va: u64| shared.iter().any(|&(a, b)| va >= a && u128::from(va) < b);
        if s.image.kind == GuestKind::Pv {
            assert!(inside(s.facts.data_va), "{name}: {shared:x?}");
            assert!(inside(s.facts.banner_va), "{name}: {shared:x?}");
        }
        assert!(!inside(s.facts.user_va), "{name}: {shared:x?}");
        for (a, b) in &shared {
            assert!(*a >= 0xff00_0000_0000_0000 && u128::from(*a) < *b, "{name}");
        }
        // Every range reads the same through every vCPU: its first bytes, and the
        // kernel addresses the scenario knows (mapped, unmapped, absent) inside one.
        let mut cache = TranslationCache::new(CACHE_SLOTS);
        let known = [
            s.facts.data_va,
            s.facts.banner_va,
            s.facts.jiffies_va,
            s.facts.unmapped_va,
        ];
        let probes = shared
            .iter()
            .map(|&(a, _)| a)
            .chain(known.into_iter().filter(|&va| inside(va)));
        for a in probes {
            let reads: Vec<_> = spaces
                .iter()
                .map(|sp| {
                    let mut buf = [0u8; 64];
                    let n = g.read(&mut cache, Via::Virtual(sp), a, &mut buf);
                    (n, buf)
                })
                .collect();
            assert!(reads.windows(2).all(|w| w[0] == w[1]), "{name} at {a:#x}");
        }
        // A "table" that is really the user page: its entries differ from the kernel's
        // wherever either has one, so nothing the kernel maps stays shared.
        let user_frame = g
            .translate(&spaces[1], VirtAddr(s.facts.user_va))
            .expect("vCPU 1 maps its user page")
            .frame;
        let odd = g.space_from_root(
            s.mode,
            xendump_gdbserver::memory::Root::new(user_frame),
            "test",
        );
        let mut with_odd = spaces.clone();
        with_odd.push(odd);
        let fewer = g.same_in_every_space(&with_odd);
        assert!(
            !fewer
                .iter()
                .any(|&(a, b)| s.facts.data_va >= a && u128::from(s.facts.data_va) < b),
            "{name}: {fewer:x?}"
        );
        // 32-bit or mixed paging: nothing is shared.
        let mut mixed = spaces.clone();
        mixed[0].mode = PagingMode::Pae;
        assert!(g.same_in_every_space(&mixed).is_empty(), "{name}");
    }
}
