//! `convert`: builder dumps of every format and guest kind turned into vmcores, read
//! back with the `object` crate and with the real gdb. Expected values come from the
//! scenario description (the builder's own facts), never from the converter.

#[path = "support/kernel_fixture.rs"]
mod kernel_fixture;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use object::elf::{FileHeader64, PT_LOAD, PT_NOTE};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;

use support::gdb_with;
use xendump_gdbserver::addr::PAGE_SIZE;
use xendump_gdbserver::builder::pagetable::PageTableBuilder;
use xendump_gdbserver::builder::scenario::{
    Scenario, ScenarioOptions, DIRECT_MAP_PAGES, VMALLOC_TEXT,
};
use xendump_gdbserver::builder::{all_variants, x86, DumpOptions, Layout};
use xendump_gdbserver::convert::{
    convert_file, write_vmcore, ConvertError, ConvertOptions, NoProgress, Plan, VmcoreinfoScan,
    NT_XENDUMP_CONTEXT, NT_XENDUMP_INFO, NT_XENDUMP_P2M,
};
use xendump_gdbserver::dump::{DumpFormat, GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingMode, Root};
use xendump_gdbserver::os::linux::{find_vmcoreinfo, FoundBy, KernelMap, ScanDepth};

const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;

fn modes() -> Vec<(GuestKind, PagingMode)> {
    vec![
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::FiveLevel),
        (GuestKind::Hvm, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::TwoLevel { pse: true }),
    ]
}

fn width(mode: PagingMode) -> Width {
    if x86::is_32bit(mode) {
        Width::Bits32
    } else {
        Width::Bits64
    }
}

/// A scenario carrying a VMCOREINFO note (KASLR offset `kaslr`).
fn scenario(kind: GuestKind, mode: PagingMode, kaslr: u64) -> Scenario {
    let mut s = Scenario::new(kind, mode).unwrap();
    let text = s.vmcoreinfo_text(kaslr);
    s.add_vmcoreinfo(&text).unwrap();
    s
}

fn guest_of(bytes: Vec<u8>) -> Guest {
    Guest::new(XenDump::from_bytes(bytes).unwrap(), GuestOptions::default()).unwrap()
}

/// Convert in memory; the result is the vmcore bytes and the plan.
fn convert_bytes(guest: &Guest) -> Result<(Vec<u8>, Plan), ConvertError> {
    let plan = Plan::new(guest, &ConvertOptions::default())?;
    let mut out = std::io::Cursor::new(Vec::new());
    write_vmcore(guest, &plan, &mut out, &mut NoProgress)?;
    Ok((out.into_inner(), plan))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Load {
    vaddr: u64,
    paddr: u64,
    offset: u64,
    size: u64,
}

struct Note {
    name: String,
    kind: u32,
    desc: Vec<u8>,
}

/// The vmcore as an independent ELF reader sees it.
struct Core {
    machine: u16,
    loads: Vec<Load>,
    notes: Vec<Note>,
    bytes: Vec<u8>,
}

impl Core {
    fn parse(bytes: Vec<u8>) -> Core {
        let data = &bytes[..];
        let header = FileHeader64::<LittleEndian>::parse(data).expect("ELF64 header");
        let endian = header.endian().unwrap();
        assert_eq!(header.e_type(endian), object::elf::ET_CORE);
        let phdrs = header
            .program_headers(endian, data)
            .expect("program headers");
        assert_eq!(phdrs[0].p_type(endian), PT_NOTE, "PT_NOTE must come first");
        let mut loads = Vec::new();
        let mut notes = Vec::new();
        for ph in phdrs {
            match ph.p_type(endian) {
                PT_LOAD => {
                    assert_eq!(ph.p_filesz(endian), ph.p_memsz(endian));
                    assert_eq!(ph.p_align(endian), 0, "kdump vmcores have p_align 0");
                    loads.push(Load {
                        vaddr: ph.p_vaddr(endian),
                        paddr: ph.p_paddr(endian),
                        offset: ph.p_offset(endian),
                        size: ph.p_filesz(endian),
                    });
                }
                PT_NOTE => {
                    let mut it = ph.notes(endian, data).unwrap().expect("notes");
                    while let Some(n) = it.next().expect("well-formed note") {
                        notes.push(Note {
                            name: String::from_utf8_lossy(n.name()).into_owned(),
                            kind: n.n_type(endian),
                            desc: n.desc().to_vec(),
                        });
                    }
                }
                t => panic!("unexpected segment type {t}"),
            }
        }
        for l in &loads {
            assert!(
                l.offset + l.size <= bytes.len() as u64,
                "{l:?} past the end"
            );
        }
        Core {
            machine: header.e_machine(endian),
            loads,
            notes,
            bytes,
        }
    }

    /// Physical segments: every PT_LOAD not in the kernel image area.
    fn physical(&self) -> Vec<Load> {
        self.loads
            .iter()
            .copied()
            .filter(|l| l.vaddr < START_KERNEL_MAP)
            .collect()
    }

    fn image(&self) -> Vec<Load> {
        self.loads
            .iter()
            .copied()
            .filter(|l| l.vaddr >= START_KERNEL_MAP)
            .collect()
    }

    /// The page at guest-physical `pa`, through the physical segments.
    fn phys_page(&self, pa: u64) -> Option<&[u8]> {
        let l = self
            .physical()
            .into_iter()
            .find(|l| (l.paddr..l.paddr + l.size).contains(&pa))?;
        let at = (l.offset + pa - l.paddr) as usize;
        Some(&self.bytes[at..at + PAGE_SIZE as usize])
    }

    fn notes_named<'a>(&'a self, name: &'a str, kind: u32) -> impl Iterator<Item = &'a Note> {
        self.notes
            .iter()
            .filter(move |n| n.name == name && n.kind == kind)
    }
}

/// The guest-physical address `va` translates to through the vmcore's own tables (read
/// from its physical segments) from the table at guest-physical `root`, walked
/// independently of the crate's walker: 4 or 5 levels of 512 8-byte entries, PAE (a
/// 4-entry PDPT, then 512 8-byte entries), or 2 levels of 1024 4-byte entries; large
/// pages where PS is set at the levels that have them. `None` if not mapped.
fn walk_core(core: &Core, mode: PagingMode, root: u64, va: u64) -> Option<u64> {
    let (levels, bits, width, top_bits): (u32, u32, u64, u32) = match mode {
        PagingMode::FourLevel => (4, 9, 8, 9),
        PagingMode::FiveLevel => (5, 9, 8, 9),
        PagingMode::Pae => (3, 9, 8, 2),
        PagingMode::TwoLevel { .. } => (2, 10, 4, 10),
        PagingMode::None => return Some(va),
    };
    let frame_mask: u64 = if width == 4 {
        0xFFFF_F000
    } else {
        0x000F_FFFF_FFFF_F000
    };
    let mut table = root;
    for level in (1..=levels).rev() {
        let shift = 12 + bits * (level - 1);
        let index_bits = if level == levels { top_bits } else { bits };
        let index = (va >> shift) & ((1 << index_bits) - 1);
        let at = table + index * width;
        let page = core.phys_page(at & !0xFFF)?;
        let off = (at & 0xFFF) as usize;
        let entry = if width == 4 {
            u64::from(u32_at(page, off))
        } else {
            u64_at(page, off)
        };
        if entry & 1 == 0 {
            return None;
        }
        let large_allowed = match mode {
            PagingMode::Pae => level == 2,
            PagingMode::TwoLevel { .. } => level == 2,
            _ => level == 2 || level == 3,
        };
        if level > 1 && large_allowed && entry & 0x80 != 0 {
            let base = if width == 4 {
                (entry & 0xFFC0_0000) | (((entry >> 13) & 0xFF) << 32)
            } else {
                entry & 0x000F_FFFF_FFFF_F000 & !((1u64 << shift) - 1)
            };
            return Some(base | (va & ((1 << shift) - 1)));
        }
        table = entry & frame_mask;
        if level == 1 {
            return Some(table | (va & 0xFFF));
        }
    }
    None
}

/// Every mapping of each of the scenario's address spaces translates, through the
/// vmcore's tables, to the pfn the scenario mapped it to; mappings of frames outside
/// the guest translate to nothing; and no table page keeps a machine frame.
fn check_canonical_tables(name: &str, s: &Scenario, core: &Core) {
    let f = &s.facts;
    let mut spaces: Vec<(&str, Root, &PageTableBuilder)> = vec![
        ("kernel", f.roots[0], &s.kernel_tables),
        ("user", f.roots[1], &s.user_tables),
    ];
    if let Some((_, root)) = f.kernel_pgd {
        spaces.push(("swapper_pg_dir", root, &s.kernel_tables));
    }
    let pfn_of = |frame: u64| s.pfn_of_table_frame(frame).map(|p| p.0);
    let mut walked = 0;
    for (space, root, tables) in spaces {
        let root_pa = pfn_of(root.frame).expect("root is RAM") * PAGE_SIZE + u64::from(root.offset);
        for m in tables.mappings() {
            for i in 0..m.count.min(64) {
                let va = m.va.0 + i * m.page_size.bytes();
                for probe in [va, va + m.page_size.bytes() - 8] {
                    let (frame, off) = tables
                        .lookup(xendump_gdbserver::addr::VirtAddr(probe))
                        .unwrap();
                    let want = pfn_of(frame).map(|p| p * PAGE_SIZE + off);
                    let got = walk_core(core, s.mode, root_pa, probe);
                    assert_eq!(got, want, "{name}: {space} tables, {probe:#x}");
                    walked += 1;
                }
            }
        }
    }
    assert!(walked > 100, "{name}: {walked}");
    // No present entry of any table page names a frame beyond the guest's RAM.
    let ram_end = s.image.populated_pfns().map(|p| p.0).max().unwrap() + 1;
    let width = if matches!(s.mode, PagingMode::TwoLevel { .. }) {
        4
    } else {
        8
    };
    for &pfn in &f.table_pfns {
        let page = core.phys_page(pfn * PAGE_SIZE).unwrap();
        for at in (0..PAGE_SIZE as usize).step_by(width) {
            let e = if width == 4 {
                u64::from(u32_at(page, at))
            } else {
                u64_at(page, at)
            };
            let frame = if width == 4 {
                e >> 12
            } else {
                (e & 0x000F_FFFF_FFFF_F000) >> 12
            };
            assert!(
                e & 1 == 0 || frame < ram_end,
                "{name}: pfn {pfn:#x} entry {} = {e:#x} keeps a machine frame",
                at / width
            );
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Check one converted scenario against what the builder put in.
fn check_core(name: &str, s: &Scenario, core: &Core, opts: &DumpOptions) {
    let f = &s.facts;
    let img = &s.image_for(opts);
    let wide = !x86::is_32bit(s.mode);
    let legacy = matches!(opts.format, Layout::Legacy(_));
    assert_eq!(core.machine, if wide { 62 } else { 3 }, "{name}: e_machine");

    // Physical segments cover exactly the populated frames, in order, without overlap.
    let mut covered = Vec::new();
    let mut last_end = 0;
    for l in core.physical() {
        assert!(
            l.paddr >= last_end,
            "{name}: {l:?} overlaps or is out of order"
        );
        assert_eq!(l.paddr % PAGE_SIZE, 0);
        last_end = l.paddr + l.size;
        covered.extend(l.paddr / PAGE_SIZE..last_end / PAGE_SIZE);
    }
    let populated: Vec<u64> = img.populated_pfns().map(|p| p.0).collect();
    assert_eq!(covered, populated, "{name}: PT_LOADs vs populated frames");

    // Every page the builder wrote reads back at its guest-physical address, except a
    // PV guest's page tables, which are canonical (checked by walking them below).
    let canonical = img.kind == GuestKind::Pv && !legacy;
    for (pfn, page) in &img.contents {
        if canonical && f.table_pfns.contains(&pfn.0) {
            continue;
        }
        let got = core
            .phys_page(pfn.0 * PAGE_SIZE)
            .expect("page in a PT_LOAD");
        assert!(
            got == &page[..],
            "{name}: contents of pfn {:#x} differ",
            pfn.0
        );
    }
    if canonical {
        check_canonical_tables(name, s, core);
    }
    // Untouched pages read back as zeros (holes in the file).
    let zero = populated
        .iter()
        .find(|p| {
            !img.contents
                .contains_key(&xendump_gdbserver::addr::GuestFrame(**p))
        })
        .unwrap();
    assert!(core
        .phys_page(zero * PAGE_SIZE)
        .unwrap()
        .iter()
        .all(|&b| b == 0));

    // Direct-map addresses: PAGE_OFFSET + paddr exactly where the scenario maps it
    // (legacy HVM too: its CR3 names the root's machine frame, which the index finds).
    for l in core.physical() {
        let in_map = l.paddr / PAGE_SIZE < DIRECT_MAP_PAGES;
        if in_map {
            assert_eq!(l.vaddr, f.direct_map_va + l.paddr, "{name}: {l:?}");
            assert!(
                (l.paddr + l.size) / PAGE_SIZE <= DIRECT_MAP_PAGES,
                "{name}: {l:?} runs past the direct map"
            );
        } else {
            assert_eq!(l.vaddr, 0, "{name}: {l:?} should have no virtual address");
        }
    }

    // The kernel image mapping (x86_64): one segment, as crash derives phys_base from it.
    let image = core.image();
    if wide {
        assert_eq!(
            image,
            vec![Load {
                vaddr: f.text_va,
                paddr: f.text_pa,
                offset: image[0].offset,
                size: f.text_size,
            }],
            "{name}: kernel image PT_LOAD"
        );
        let phys_base = image[0]
            .paddr
            .wrapping_sub(image[0].vaddr & !START_KERNEL_MAP);
        assert_eq!(
            phys_base,
            f.text_pa.wrapping_sub(f.text_va - START_KERNEL_MAP)
        );
        // It shares the file bytes of the physical segment.
        let at = image[0].offset as usize;
        let banner_off = (f.banner_va - f.text_va) as usize;
        assert_eq!(
            &core.bytes[at + banner_off..at + banner_off + f.banner.len()],
            f.banner.as_bytes()
        );
        assert_eq!(
            core.phys_page(f.text_pa).unwrap().as_ptr(),
            core.bytes[at..].as_ptr(),
            "{name}: image segment shares the physical bytes"
        );
    } else {
        assert!(image.is_empty(), "{name}: {image:?}");
    }

    // One NT_PRSTATUS per vCPU, in slot order, pid = slot + 1, Linux register layout.
    let expected = img.expected_states();
    let prs: Vec<&Note> = core.notes_named("CORE", 1).collect();
    assert_eq!(prs.len(), expected.len(), "{name}: NT_PRSTATUS count");
    for (v, n) in expected.iter().zip(&prs) {
        if wide {
            assert_eq!(n.desc.len(), 336);
            assert_eq!(u32_at(&n.desc, 32), v.slot as u32 + 1);
            // pr_reg at 112: rax is index 10, rip 16, rsp 19, r15 0.
            assert_eq!(u64_at(&n.desc, 112 + 10 * 8), v.gprs.rax, "{name} rax");
            assert_eq!(u64_at(&n.desc, 112 + 16 * 8), v.rip, "{name} rip");
            assert_eq!(u64_at(&n.desc, 112 + 19 * 8), v.gprs.rsp, "{name} rsp");
            assert_eq!(u64_at(&n.desc, 112), v.gprs.r15, "{name} r15");
            assert_eq!(u64_at(&n.desc, 112 + 17 * 8), u64::from(v.selectors.cs));
        } else {
            assert_eq!(n.desc.len(), 144);
            assert_eq!(u32_at(&n.desc, 24), v.slot as u32 + 1);
            // pr_reg at 72: ebx is index 0, eax 6, eip 12, esp 15.
            assert_eq!(u64::from(u32_at(&n.desc, 72)), v.gprs.rbx & 0xffff_ffff);
            assert_eq!(
                u64::from(u32_at(&n.desc, 72 + 6 * 4)),
                v.gprs.rax & 0xffff_ffff
            );
            assert_eq!(u64::from(u32_at(&n.desc, 72 + 12 * 4)), v.rip & 0xffff_ffff);
            assert_eq!(
                u64::from(u32_at(&n.desc, 72 + 15 * 4)),
                v.gprs.rsp & 0xffff_ffff
            );
        }
    }
    assert_eq!(
        core.notes_named("CORE", 2).count(),
        if wide { expected.len() } else { 0 },
        "{name}: NT_PRFPREG count"
    );

    // VMCOREINFO, verbatim.
    let vmci: Vec<&Note> = core.notes_named("VMCOREINFO", 0).collect();
    assert_eq!(vmci.len(), 1, "{name}: VMCOREINFO note");
    let want = &f.vmcoreinfo.as_ref().unwrap().text;
    assert_eq!(std::str::from_utf8(&vmci[0].desc).unwrap(), want);

    // Our Xen notes: facts, one raw context per vCPU, the p2m where machine frames exist.
    let info: Vec<&Note> = core.notes_named("XENDUMP", NT_XENDUMP_INFO).collect();
    assert_eq!(info.len(), 1);
    let text = String::from_utf8(info[0].desc.clone()).unwrap();
    let kind = match img.kind {
        GuestKind::Pv => "GUEST_KIND=PV",
        GuestKind::Hvm => "GUEST_KIND=HVM",
    };
    assert!(text.contains(kind), "{name}: {text}");
    assert!(text.contains("VCPUS=3"), "{name}: {text}");
    let ctx_size = match img.context_layout() {
        xendump_gdbserver::dump::ContextLayout::X86_64 => 5168,
        xendump_gdbserver::dump::ContextLayout::X86_32 => 2800,
    };
    let ctxs: Vec<&Note> = core.notes_named("XENDUMP", NT_XENDUMP_CONTEXT).collect();
    assert_eq!(ctxs.len(), 3);
    assert!(ctxs.iter().all(|n| n.desc.len() == ctx_size));
    let p2m: Vec<&Note> = core.notes_named("XENDUMP", NT_XENDUMP_P2M).collect();
    let records_mfns = img.kind == GuestKind::Pv || legacy;
    if records_mfns && !(img.kind == GuestKind::Pv && legacy) {
        assert_eq!(p2m.len(), 1, "{name}: p2m note");
        let runs: Vec<[u64; 3]> = p2m[0]
            .desc
            .chunks_exact(24)
            .map(|c| [u64_at(c, 0), u64_at(c, 8), u64_at(c, 16)])
            .collect();
        let want: Vec<[u64; 3]> = if img.kind == GuestKind::Pv {
            img.frames
                .iter()
                .map(|r| [r.pfn.0, r.mfn.0, r.count])
                .collect()
        } else {
            // Legacy HVM: mfns in position order, pfns inferred; check the total only.
            vec![]
        };
        if !want.is_empty() {
            assert_eq!(runs, want, "{name}: p2m runs");
        }
        assert_eq!(
            runs.iter().map(|r| r[2]).sum::<u64>(),
            img.page_count(),
            "{name}"
        );
    } else {
        assert!(
            p2m.is_empty(),
            "{name}: HVM ELF dumps record no machine frames"
        );
    }
}

#[test]
fn every_format_converts_and_reads_back() {
    let mut checked = 0;
    for (kind, mode) in modes() {
        let s = scenario(kind, mode, 0);
        for (variant, opts) in all_variants(kind, width(mode)) {
            let name = format!("{variant}-{mode}");
            let guest = guest_of(s.write(&opts).unwrap());
            let legacy_pv = guest.dump().format() == DumpFormat::Legacy && kind == GuestKind::Pv;
            match convert_bytes(&guest) {
                Err(ConvertError::NoPseudoPhysical) if legacy_pv => {}
                Err(e) => panic!("{name}: {e}"),
                Ok((bytes, plan)) => {
                    assert!(!legacy_pv, "{name}: legacy PV converted");
                    assert_eq!(bytes.len() as u64, plan.file_size, "{name}");
                    check_core(&name, &s, &Core::parse(bytes), &opts);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 18, "{checked}");
}

#[test]
fn kernel_mappings_come_from_the_page_tables() {
    for (kind, mode) in modes() {
        let s = scenario(kind, mode, 0);
        let f = &s.facts;
        let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
        let map = KernelMap::detect(&guest);
        assert_eq!(
            map.direct_map.map(|d| d.base),
            Some(f.direct_map_va),
            "{kind:?} {mode}"
        );
        match map.text {
            Some(t) => {
                assert!(!x86::is_32bit(mode));
                assert_eq!((t.va, t.pa, t.size), (f.text_va, f.text_pa, f.text_size));
                assert_eq!(
                    t.phys_base(),
                    f.text_pa.wrapping_sub(f.text_va - START_KERNEL_MAP) as i64
                );
            }
            None => assert!(
                x86::is_32bit(mode),
                "{kind:?} {mode}: no image mapping found"
            ),
        }
    }
}

#[test]
fn vmcoreinfo_is_found_by_pointer_in_the_image_and_by_full_scan() {
    for mode in [PagingMode::FourLevel, PagingMode::Pae] {
        // Linux ≥ 4.13: page-aligned note, pointer in the image.
        let s = scenario(GuestKind::Pv, mode, 0x1e00_0000);
        let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
        let map = KernelMap::detect(&guest);
        let info = find_vmcoreinfo(&guest, &map, ScanDepth::Quick).expect("quick scan");
        let facts = s.facts.vmcoreinfo.as_ref().unwrap();
        assert_eq!(info.note_pa, facts.note_pa);
        assert_eq!(info.text, facts.text);
        assert_eq!(info.osrelease(), Some("6.1.0-xendump-demo"));
        if !x86::is_32bit(mode) {
            // The 64-bit quick scan reads the image only, so the pointer found it.
            assert_eq!(info.found_by, FoundBy::Pointer);
            assert_eq!(info.kernel_offset(), Some(0x1e00_0000));
            assert_eq!(
                info.phys_base(),
                Some(
                    s.facts
                        .text_pa
                        .wrapping_sub(s.facts.text_va - START_KERNEL_MAP)
                        as i64
                )
            );
            assert!(info.gdb_command().contains("-o 0x1e000000"));
        }
    }

    // Old kernels: the note inside the image's .bss, at an odd 4-byte offset, no pointer.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let text = s.vmcoreinfo_text(0);
    let pa = s.facts.text_pa + 0x1f_0ff4; // the name straddles a page boundary
    s.add_vmcoreinfo_at(pa, &text, false).unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let map = KernelMap::detect(&guest);
    let info = find_vmcoreinfo(&guest, &map, ScanDepth::Quick).expect("in the image");
    assert_eq!((info.note_pa, info.found_by), (pa, FoundBy::KernelImage));

    // A note outside the image with no pointer: only the full scan finds it.
    let mut s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let text = s.vmcoreinfo_text(0);
    let pa = 0x60_0000 + 0x340;
    s.add_vmcoreinfo_at(pa, &text, false).unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let map = KernelMap::detect(&guest);
    assert_eq!(find_vmcoreinfo(&guest, &map, ScanDepth::Quick), None);
    let info = find_vmcoreinfo(&guest, &map, ScanDepth::Full).expect("full scan");
    assert_eq!((info.note_pa, info.found_by), (pa, FoundBy::FullScan));

    // A guest without one: nothing, and the conversion says so.
    let s = Scenario::new(GuestKind::Hvm, PagingMode::FourLevel).unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let map = KernelMap::detect(&guest);
    assert_eq!(find_vmcoreinfo(&guest, &map, ScanDepth::Full), None);
    let plan = Plan::new(&guest, &ConvertOptions::default()).unwrap();
    assert!(plan.warnings.iter().any(|w| w.contains("VMCOREINFO")));
}

// ---------------------------------------------------------------- the binary

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xendump-gdbserver"))
}

fn write_dump(dir: &Path, name: &str, s: &Scenario, opts: &DumpOptions) -> PathBuf {
    let p = dir.join(format!("{name}.core"));
    s.image.write_file(&p, opts).unwrap();
    p
}

/// Files in `dir` other than the ones named.
fn leftovers(dir: &Path, keep: &[&Path]) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.iter().any(|k| k == p))
        .collect()
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().expect("run the binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn gdb_reads_the_vmcore() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, mode) in modes() {
        let s = scenario(kind, mode, 0);
        let f = &s.facts;
        let wide = !x86::is_32bit(mode);
        let name = format!("{kind:?}-{mode}").replace(' ', "");
        let dump = write_dump(dir.path(), &name, &s, &DumpOptions::default());
        let vmcore = dir.path().join(format!("{name}.vmcore"));
        let (ok, _, err) = run(bin().args(["convert", "-q", "-o"]).arg(&vmcore).arg(&dump));
        assert!(ok, "{name}: {err}");
        assert!(err.is_empty(), "{name}: -q still printed {err}");
        let note_text_va = f.direct_map_va + f.vmcoreinfo.as_ref().unwrap().note_pa + 24;
        let states = s.image.expected_states();
        let m = |v: u64| if wide { v } else { v & 0xffff_ffff };
        let mut cmds = vec![
            "info threads".to_string(),
            format!("x/s {note_text_va:#x}"),
            "p/x $pc".into(),
            "thread 2".into(),
            "p/x $sp".into(),
        ];
        if wide {
            cmds.push(format!("x/s {:#x}", f.banner_va));
            cmds.push("thread 1".into());
            cmds.push("p $st0".into());
            cmds.push("p/x $xmm0.uint128".into());
        }
        let refs: Vec<&str> = cmds.iter().map(String::as_str).collect();
        let core_arg = format!("core-file {}", vmcore.display());
        let out = gdb_with("", &refs, &["-ex", &core_arg], support::HANG);
        for lwp in 1..=3 {
            assert!(
                out.contains(&format!("LWP {lwp}")),
                "{name}: LWP {lwp}\n{out}"
            );
        }
        assert!(
            !out.contains("warning") && !out.contains("rror"),
            "{name}: gdb complained\n{out}"
        );
        assert!(
            out.contains("\"OSRELEASE=6.1.0-xendump-demo\\n"),
            "{name}: VMCOREINFO through the direct map\n{out}"
        );
        assert!(
            out.contains(&format!("= {:#x}", m(states[0].rip))),
            "{name}: vCPU 0 pc {:#x}\n{out}",
            states[0].rip
        );
        assert!(
            out.contains(&format!("= {:#x}", m(states[1].gprs.rsp))),
            "{name}: vCPU 1 sp\n{out}"
        );
        if wide {
            assert!(
                out.contains(&format!("\"{}\"", f.banner)),
                "{name}: banner through the image mapping\n{out}"
            );
            assert!(out.contains("= 1\n"), "{name}: st0 from NT_PRFPREG\n{out}");
            assert!(
                out.contains("0x112233445566778899aabbccddeeff00"),
                "{name}: xmm0\n{out}"
            );
        }
    }
}

#[test]
fn info_and_monitor_info_show_vmcoreinfo_and_the_gdb_command() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(GuestKind::Hvm, PagingMode::FourLevel, 0x1e00_0000);
    let dump = write_dump(dir.path(), "hvm64", &s, &DumpOptions::default());
    let (ok, out, err) = run(bin().arg("info").arg(&dump));
    assert!(ok, "{err}");
    for want in [
        "direct map:      0xffff888000000000",
        "kernel image:    0xffffffff81000000 = phys 0x400000",
        "VMCOREINFO:      at phys 0x80000",
        "OSRELEASE      6.1.0-xendump-demo",
        "KERNELOFFSET   0x1e000000 (KASLR)",
        "gdb:           add-symbol-file vmlinux -o 0x1e000000 -s .data..percpu 0",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let (ok, json, err) = run(bin().args(["info", "--json"]).arg(&dump));
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v["kernel"]["vmcoreinfo"]["kernel_offset"].as_str(),
        Some("0x1e000000")
    );
    assert_eq!(
        v["kernel"]["vmcoreinfo"]["phys_base"].as_i64(),
        Some(-0xc0_0000)
    );

    let server = support::Server::start(&dump, &[]);
    let out = support::gdb(&server.addr, &["monitor info", "monitor vmcoreinfo"]);
    assert!(out.contains("KERNELOFFSET   0x1e000000 (KASLR)"), "{out}");
    assert!(
        out.contains("add-symbol-file vmlinux -o 0x1e000000 -s .data..percpu 0"),
        "{out}"
    );
    assert!(
        out.contains("NUMBER(KERNEL_IMAGE_SIZE)=1073741824"),
        "{out}"
    );
}

#[test]
fn damaged_input_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(GuestKind::Pv, PagingMode::FourLevel, 0);
    let good = write_dump(dir.path(), "good", &s, &DumpOptions::default());

    // Not a dump at all.
    let mut bytes = std::fs::read(&good).unwrap();
    bytes[0] = 0;
    let bad = dir.path().join("bad.core");
    std::fs::write(&bad, &bytes).unwrap();
    let out = dir.path().join("bad.vmcore");
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&bad));
    assert!(!ok);
    assert!(err.contains("not a Xen core dump"), "{err}");

    // A frame table out of order: swap two p2m entries (pfns 1 and 2).
    let layout = s.image.layout(&DumpOptions::default()).unwrap();
    let p2m = layout.region(".xen_p2m").unwrap().offset as usize;
    let mut bytes = std::fs::read(&good).unwrap();
    let (a, b) = (p2m + 16, p2m + 32);
    let first: Vec<u8> = bytes[a..a + 16].to_vec();
    bytes.copy_within(b..b + 16, a);
    bytes[b..b + 16].copy_from_slice(&first);
    let unsorted = dir.path().join("unsorted.core");
    std::fs::write(&unsorted, &bytes).unwrap();
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&unsorted));
    assert!(!ok);
    assert!(err.contains("frame table is damaged"), "{err}");

    // A truncated (legacy HVM) dump: an error, unless missing pages may be left out.
    let h = scenario(GuestKind::Hvm, PagingMode::FourLevel, 0);
    let full = h.write(&DumpOptions::legacy(Width::Bits64)).unwrap();
    let cut = dir.path().join("cut.core");
    std::fs::write(&cut, &full[..full.len() - 10 * PAGE_SIZE as usize]).unwrap();
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&cut));
    assert!(!ok);
    assert!(
        err.contains("truncated") && err.contains("--allow-truncated"),
        "{err}"
    );

    // A legacy PV dump has no pfns.
    let legacy = write_dump(
        dir.path(),
        "legacy",
        &s,
        &DumpOptions::legacy(Width::Bits64),
    );
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&legacy));
    assert!(!ok);
    assert!(err.contains("machine frames only"), "{err}");

    assert_eq!(
        leftovers(dir.path(), &[&good, &bad, &unsorted, &cut, &legacy]),
        Vec::<PathBuf>::new(),
        "no output and no temporary file may be left behind"
    );

    let (ok, _, err) = run(bin()
        .args(["convert", "--allow-truncated", "-o"])
        .arg(&out)
        .arg(&cut));
    assert!(ok, "{err}");
    assert!(err.contains("left out of the vmcore"), "{err}");
    let core = Core::parse(std::fs::read(&out).unwrap());
    let pages: u64 = core.physical().iter().map(|l| l.size / PAGE_SIZE).sum();
    assert_eq!(pages, h.image.page_count() - 10);
}

#[test]
fn full_disk_fails_cleanly_without_output() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = scenario(GuestKind::Hvm, PagingMode::FourLevel, 0);
    // Make every page non-zero so the vmcore needs real space (8 MiB).
    s.image.stamp_pages();
    let dump = write_dump(dir.path(), "dump", &s, &DumpOptions::default());
    let out = dir.path().join("out.vmcore");
    // A file size limit of 1 MiB makes writes fail with EFBIG as a full disk fails
    // with ENOSPC; SIGXFSZ is ignored so the write returns the error.
    let script = "trap '' XFSZ; ulimit -f 2048; exec \"$0\" convert -o \"$1\" \"$2\"";
    let (ok, _, err) = run(Command::new("sh")
        .args(["-c", script])
        .arg(env!("CARGO_BIN_EXE_xendump-gdbserver"))
        .arg(&out)
        .arg(&dump));
    assert!(!ok, "conversion into a full disk succeeded");
    assert!(err.contains("writing the vmcore failed at offset"), "{err}");
    assert!(err.contains("too large"), "{err}");
    assert_eq!(leftovers(dir.path(), &[&dump]), Vec::<PathBuf>::new());
}

#[test]
fn output_is_sparse_atomic_and_not_clobbered() {
    let dir = tempfile::tempdir().unwrap();
    let s = scenario(GuestKind::Pv, PagingMode::FourLevel, 0);
    let dump = write_dump(dir.path(), "dump", &s, &DumpOptions::default());
    let out = dir.path().join("out.vmcore");
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&dump));
    assert!(ok, "{err}");
    // Not a terminal: no progress bar, just the summary line.
    assert!(!err.contains('\r'), "{err:?}");
    assert!(err.contains("wrote"), "{err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&out).unwrap();
        // 8 MiB of guest memory, of which a few dozen pages are not zero.
        assert!(meta.len() > 8 << 20);
        assert!(
            meta.blocks() * 512 < 1 << 20,
            "{} bytes allocated",
            meta.blocks() * 512
        );
    }
    let before = std::fs::read(&out).unwrap();
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&out).arg(&dump));
    assert!(!ok);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before);
    let (ok, _, err) = run(bin().args(["convert", "-o"]).arg(&dump).arg(&dump));
    assert!(!ok);
    assert!(err.contains("is the dump being converted"), "{err}");
    let (ok, _, err) = run(bin()
        .args(["convert", "--force", "-o"])
        .arg(&out)
        .arg(&dump));
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), before, "deterministic output");
    assert_eq!(leftovers(dir.path(), &[&dump, &out]), Vec::<PathBuf>::new());

    // The library entry point does the same.
    let guest = guest_of(std::fs::read(&dump).unwrap());
    let out2 = dir.path().join("lib.vmcore");
    let report = convert_file(
        &guest,
        Some(&dump),
        &out2,
        &ConvertOptions {
            vmcoreinfo: VmcoreinfoScan::Quick,
            ..ConvertOptions::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(std::fs::read(&out2).unwrap(), before);
    assert_eq!(report.stats.file_size, before.len() as u64);
    // Reading the sparse dump's holes from the filesystem changes nothing.
    assert_eq!(convert_bytes(&guest).unwrap().0, before);
}

/// A Python that can import drgn (Debian's python3-drgn; scripts/install-deps.sh).
fn drgn_python() -> PathBuf {
    for p in ["/usr/bin/python3", "python3"] {
        let ok = Command::new(p)
            .args(["-c", "import drgn"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return PathBuf::from(p);
        }
    }
    panic!("no python3 with drgn: run scripts/install-deps.sh (installs python3-drgn)");
}

/// drgn opens the vmcore as a Linux kernel core (it insists on VMCOREINFO) and reads
/// guest-physical and virtual memory from it; crash recognises it as a kdump vmcore and
/// reads the kernel release from its VMCOREINFO. 64-bit guests: Debian's crash is built
/// for x86_64 dumps only.
#[test]
fn drgn_and_crash_open_the_vmcore() {
    let dir = tempfile::tempdir().unwrap();
    let python = drgn_python();
    let script = "import sys, drgn\n\
        p = drgn.Program()\n\
        p.set_core_dump(sys.argv[1])\n\
        print('kernel', bool(p.flags & drgn.ProgramFlags.IS_LINUX_KERNEL))\n\
        n = int(sys.argv[5])\n\
        print('phys', p.read(int(sys.argv[2], 0), n, True).decode())\n\
        print('image', p.read(int(sys.argv[3], 0), n).decode())\n\
        print('direct', p.read(int(sys.argv[4], 0), 29).decode())\n";
    for kind in [GuestKind::Pv, GuestKind::Hvm] {
        let s = scenario(kind, PagingMode::FourLevel, 0);
        let f = &s.facts;
        let name = format!("{kind:?}");
        let dump = write_dump(dir.path(), &name, &s, &DumpOptions::default());
        let vmcore = dir.path().join(format!("{name}.vmcore"));
        let (ok, _, err) = run(bin().args(["convert", "-q", "-o"]).arg(&vmcore).arg(&dump));
        assert!(ok, "{err}");
        let note_text_va = f.direct_map_va + f.vmcoreinfo.as_ref().unwrap().note_pa + 24;
        let (ok, out, err) = run(Command::new(&python)
            .args(["-c", script])
            .arg(&vmcore)
            .arg(format!("{:#x}", f.banner_pa))
            .arg(format!("{:#x}", f.banner_va))
            .arg(format!("{note_text_va:#x}"))
            .arg(f.banner.len().to_string()));
        assert!(ok, "{name}: drgn failed: {err}");
        assert!(out.contains("kernel True"), "{name}: {out}");
        assert!(out.contains(&format!("phys {}", f.banner)), "{name}: {out}");
        assert!(
            out.contains(&format!("image {}", f.banner)),
            "{name}: {out}"
        );
        assert!(
            out.contains("direct OSRELEASE=6.1.0-xendump-demo"),
            "{name}: {out}"
        );

        let (ok, out, err) = run(Command::new("crash").arg("--osrelease").arg(&vmcore));
        assert!(
            ok,
            "{name}: crash failed to run (scripts/install-deps.sh installs it): {err}"
        );
        assert_eq!(out.trim(), "6.1.0-xendump-demo", "{name}: {err}");
    }
}

/// The optional parts of a scenario that exercise page-table canonicalisation.
const LINUX_LIKE: ScenarioOptions = ScenarioOptions {
    vmalloc_page: true,
    kernel_pgd: true,
    xen_slots: true,
    p2m_list: false,
    start_info: true,
};

/// A scenario with [`LINUX_LIKE`] parts and a VMCOREINFO note naming its kernel table.
fn linux_like(kind: GuestKind, mode: PagingMode) -> Scenario {
    let mut s = Scenario::with_options(kind, mode, LINUX_LIKE).unwrap();
    let text = s.vmcoreinfo_text(0);
    s.add_vmcoreinfo(&text).unwrap();
    s
}

/// Every page the builder wrote reads back as written, except page tables (checked by
/// walking them) and, when `cleared`, the kernel's `xen_start_info` pointer, which must
/// read as zero (the rest of its page as written).
fn check_pages_but_tables(name: &str, s: &Scenario, core: &Core, cleared: bool) {
    let f = &s.facts;
    let pointer = f.start_info.map(|(p, _)| p);
    for (pfn, page) in &s.image.contents {
        if f.table_pfns.contains(&pfn.0) {
            continue;
        }
        let got = core.phys_page(pfn.0 * PAGE_SIZE).unwrap();
        let mut want = page.to_vec();
        if let Some(p) = pointer.filter(|p| cleared && p / PAGE_SIZE == pfn.0) {
            let at = (p % PAGE_SIZE) as usize;
            let size = if s.mode.is_32bit() { 4 } else { 8 };
            assert!(want[at..at + size].iter().any(|&b| b != 0), "{name}");
            want[at..at + size].fill(0);
        }
        assert!(got == &want[..], "{name}: pfn {:#x}", pfn.0);
    }
}

fn xendump_info(core: &Core) -> String {
    let n = core
        .notes_named("XENDUMP", NT_XENDUMP_INFO)
        .next()
        .expect("XENDUMP info note");
    String::from_utf8(n.desc.clone()).unwrap()
}

/// PV guests of every paging mode: the tables reachable from every vCPU's roots and from
/// the kernel's own `swapper_pg_dir` translate each mapping to its pfn; entries to frames
/// outside the guest and Xen's own slots are gone, and the note says how many; with
/// `keep_machine_frames` the pages are the dump's own.
#[test]
fn pv_page_tables_are_canonical_in_every_pv_mode() {
    for mode in [
        PagingMode::FourLevel,
        PagingMode::Pae,
        PagingMode::TwoLevel { pse: true },
    ] {
        let s = linux_like(GuestKind::Pv, mode);
        let f = &s.facts;
        let name = format!("PV {mode}");
        let bytes = s.image.write(&DumpOptions::default()).unwrap();
        let guest = guest_of(bytes);
        let (out, plan) = convert_bytes(&guest).unwrap();
        let core = Core::parse(out);
        check_canonical_tables(&name, &s, &core);
        check_pages_but_tables(&name, &s, &core, true);
        let (pointer, start_info) = f.start_info.unwrap();
        let si = plan.start_info.expect("xen_start_info found");
        assert_eq!((si.pa, si.start_info_pa), (pointer, start_info), "{name}");
        assert_eq!(si.value, f.direct_map_va + start_info, "{name}");

        // Three address spaces (kernel, user, swapper_pg_dir), each with its own copy
        // of the tables, one large text page and one mapping of an absent frame.
        let t = plan.tables.as_ref().expect("PV tables canonicalised");
        assert_eq!(t.set.len(), f.table_pfns.len(), "{name}");
        assert_eq!(t.stats.total_pages(), f.table_pfns.len() as u64, "{name}");
        assert_eq!(t.stats.dropped[1], 3, "{name}: the absent frame, per space");
        assert_eq!(t.stats.total_dropped(), 3, "{name}");
        assert_eq!(t.stats.large_translated, 3, "{name}");
        let xen = if mode == PagingMode::FourLevel { 9 } else { 0 };
        assert_eq!(t.stats.xen_cleared, xen, "{name}");
        assert_eq!(t.stats.conflicts, 0, "{name}");
        assert!(
            t.roots.iter().all(|r| r.rejected.is_none()),
            "{name}: {:?}",
            t.roots
        );
        assert!(
            t.roots
                .iter()
                .any(|r| r.root.source.starts_with("SYMBOL(swapper_pg_dir)")),
            "{name}"
        );
        let info = xendump_info(&core);
        for want in [
            "PAGE_TABLE_FRAMES=pseudo-physical (canonicalised)".to_string(),
            "PAGE_TABLE_ENTRIES_DROPPED=L1:3\n".to_string(),
            format!("PAGE_TABLE_XEN_ENTRIES_CLEARED={xen}\n"),
            "PAGE_TABLE_LARGE_PAGES=translated:3 dropped:0".to_string(),
            format!(
                "PAGE_TABLE_ROOT=SYMBOL(swapper_pg_dir) {:#x}: mfn=",
                f.kernel_pgd.unwrap().0
            ),
            format!("XEN_START_INFO_CLEARED=pointer at phys {pointer:#x} (was "),
        ] {
            assert!(info.contains(&want), "{name}: no {want:?} in\n{info}");
        }
        let pages: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("PAGE_TABLE_PAGES="))
            .unwrap()
            .split(' ')
            .map(|p| p.split(':').nth(1).unwrap().parse::<u64>().unwrap())
            .sum();
        assert_eq!(pages, f.table_pfns.len() as u64, "{name}: {info}");

        // The raw view: tables exactly as dumped, so machine frames, which a walk of
        // the vmcore cannot follow.
        let plan = Plan::new(
            &guest,
            &ConvertOptions {
                keep_machine_frames: true,
                ..ConvertOptions::default()
            },
        )
        .unwrap();
        assert!(plan.tables.is_none() && plan.start_info.is_none());
        let mut raw = std::io::Cursor::new(Vec::new());
        write_vmcore(&guest, &plan, &mut raw, &mut NoProgress).unwrap();
        let raw = Core::parse(raw.into_inner());
        for &pfn in &f.table_pfns {
            let want = s
                .image
                .page(xendump_gdbserver::addr::GuestFrame(pfn))
                .unwrap();
            assert!(
                raw.phys_page(pfn * PAGE_SIZE).unwrap() == &want[..],
                "{name}"
            );
        }
        assert!(xendump_info(&raw).contains("PAGE_TABLE_FRAMES=machine\n"));
        check_pages_but_tables(&name, &s, &raw, false);

        // Canonical tables, but the pointer kept.
        let plan = Plan::new(
            &guest,
            &ConvertOptions {
                keep_xen_start_info: true,
                ..ConvertOptions::default()
            },
        )
        .unwrap();
        assert!(plan.tables.is_some() && plan.start_info.is_none());
        let root = s.pfn_of_table_frame(f.roots[0].frame).unwrap().0 * PAGE_SIZE;
        assert_eq!(
            walk_core(&raw, mode, root, f.jiffies_va),
            None,
            "{name}: machine frames lead outside the vmcore"
        );
    }
}

/// A kernel symbol that names something other than a page table is not trusted as one,
/// nor is a `xen_start_info` candidate when there are two.
#[test]
fn a_swapper_pg_dir_that_is_no_table_is_left_alone() {
    // The basic scenario's VMCOREINFO names a data page as swapper_pg_dir.
    let s = scenario(GuestKind::Pv, PagingMode::FourLevel, 0);
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let (out, plan) = convert_bytes(&guest).unwrap();
    let t = plan.tables.as_ref().unwrap();
    let r = t
        .roots
        .iter()
        .find(|r| r.root.source.starts_with("SYMBOL(swapper_pg_dir)"))
        .unwrap();
    assert!(r
        .rejected
        .unwrap()
        .contains("does not look like a page table"));
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.contains("swapper_pg_dir") && w.contains("not canonicalised")));
    // The data page is untouched.
    let core = Core::parse(out);
    let data_pfn = s
        .pfn_of_table_frame(
            s.lookup(
                0,
                xendump_gdbserver::addr::VirtAddr(s.facts.data_va + 0x1000),
            )
            .unwrap()
            .0,
        )
        .unwrap();
    assert!(
        core.phys_page(data_pfn.0 * PAGE_SIZE).unwrap() == &s.image.page(data_pfn).unwrap()[..]
    );
    // Two words of the image point at start_info: neither is cleared.
    let mut s = linux_like(GuestKind::Pv, PagingMode::FourLevel);
    let (pointer, start_info) = s.facts.start_info.unwrap();
    let value = s.facts.direct_map_va + start_info;
    s.image
        .write_phys(
            xendump_gdbserver::addr::PhysAddr(pointer + 0x1000),
            &value.to_le_bytes(),
        )
        .unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let (out, plan) = convert_bytes(&guest).unwrap();
    assert!(plan.start_info.is_none());
    assert!(
        plan.warnings.iter().any(|w| w.contains("start_info")),
        "{:?}",
        plan.warnings
    );
    check_pages_but_tables("two pointers", &s, &Core::parse(out), false);

    // HVM guests' tables are left as they are.
    let h = linux_like(GuestKind::Hvm, PagingMode::FourLevel);
    let guest = guest_of(h.image.write(&DumpOptions::default()).unwrap());
    let (_, plan) = convert_bytes(&guest).unwrap();
    assert!(plan.tables.is_none());
}

/// drgn reads an address only page tables map (the vmalloc area: outside the direct map
/// and the kernel image) through `swapper_pg_dir` on the PV guest's vmcore as on the
/// HVM conversion of the same scenario; the raw (machine-frame) PV vmcore cannot.
#[test]
fn drgn_reads_vmalloc_memory_of_pv_and_hvm_vmcores_alike() {
    let dir = tempfile::tempdir().unwrap();
    let python = drgn_python();
    let script = "import sys, drgn\n\
        p = drgn.Program()\n\
        p.set_core_dump(sys.argv[1])\n\
        for a, n in ((int(sys.argv[2], 0), int(sys.argv[3])), (int(sys.argv[4], 0), 8)):\n\
        \x20   try:\n\
        \x20       print('read', p.read(a, n).hex())\n\
        \x20   except Exception as e:\n\
        \x20       print('fault', type(e).__name__, e)\n";
    let mut answers = Vec::new();
    for (kind, keep) in [
        (GuestKind::Hvm, false),
        (GuestKind::Pv, false),
        (GuestKind::Pv, true),
    ] {
        let s = linux_like(kind, PagingMode::FourLevel);
        let f = &s.facts;
        let name = format!("{kind:?}{}", if keep { "-raw" } else { "" });
        let dump = write_dump(dir.path(), &name, &s, &DumpOptions::default());
        let vmcore = dir.path().join(format!("{name}.vmcore"));
        let mut cmd = bin();
        cmd.args(["convert", "-q", "-o"]).arg(&vmcore).arg(&dump);
        if keep {
            cmd.arg("--keep-machine-frames");
        }
        let (ok, _, err) = run(&mut cmd);
        assert!(ok, "{name}: {err}");
        let (ok, out, err) = run(Command::new(&python)
            .args(["-c", script])
            .arg(&vmcore)
            .arg(format!("{:#x}", f.vmalloc_va.unwrap()))
            .arg(VMALLOC_TEXT.len().to_string())
            .arg(format!("{:#x}", f.jiffies_va)));
        assert!(ok, "{name}: drgn failed: {err}");
        answers.push((name, out));
    }
    let want = format!(
        "read {}\nread {}\n",
        hex(VMALLOC_TEXT.as_bytes()),
        hex(&0x1_0000_2a3bu64.to_le_bytes())
    );
    assert_eq!(answers[0].1, want, "HVM: {}", answers[0].1);
    assert_eq!(answers[1].1, answers[0].1, "PV reads as HVM");
    assert!(
        answers[2].1.starts_with("fault"),
        "raw PV tables hold machine frames drgn cannot follow: {}",
        answers[2].1
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Legacy (Xen 3.0.x) PV dumps record machine frames only, in the hypervisor's
/// allocation order: given the guest kernel's own p2m list, they convert like ELF PV
/// dumps (every page at its pfn, canonical page tables, the p2m note); a list that names
/// none of the dump's pages is refused.
#[test]
fn legacy_pv_dumps_convert_through_the_guests_p2m_list() {
    use xendump_gdbserver::addr::GuestFrame;
    use xendump_gdbserver::builder::LegacyOptions;
    use xendump_gdbserver::convert::recover_pfns;
    use xendump_gdbserver::os::linux::P2mList;
    for mode in [
        PagingMode::FourLevel,
        PagingMode::Pae,
        PagingMode::TwoLevel { pse: true },
    ] {
        let name = format!("legacy PV {mode}");
        let options = ScenarioOptions {
            p2m_list: true,
            ..LINUX_LIKE
        };
        let mut s = Scenario::with_options(GuestKind::Pv, mode, options).unwrap();
        let text = s.vmcoreinfo_text(0);
        s.add_vmcoreinfo(&text).unwrap();
        let f = &s.facts;
        // Pages in a scrambled allocation order: blocks of 64 backwards, each reversed.
        let pfns: Vec<GuestFrame> = s.image.populated_pfns().collect();
        let order: Vec<GuestFrame> = pfns
            .chunks(64)
            .rev()
            .flat_map(|c| c.iter().rev().copied())
            .collect();
        let tools = if mode.is_32bit() {
            Width::Bits32
        } else {
            Width::Bits64
        };
        let opts = DumpOptions {
            format: Layout::Legacy(LegacyOptions {
                page_order: Some(order),
                ..LegacyOptions::default()
            }),
            tools,
        };
        let bytes = s.image.write(&opts).unwrap();
        let mut guest = guest_of(bytes.clone());
        assert!(matches!(
            convert_bytes(&guest),
            Err(ConvertError::NoPseudoPhysical)
        ));

        let (va, entries) = f.p2m_list.unwrap();
        let r = recover_pfns(&mut guest, P2mList { va, entries }).unwrap();
        assert_eq!(r.pairs.pages, s.image.page_count(), "{name}: {r:?}");
        assert_eq!(
            (r.pages_without_pfn, r.not_in_dump, r.entries.unreadable),
            (0, 0, 0)
        );
        let (out, plan) = convert_bytes(&guest).unwrap();
        assert!(plan.warnings.is_empty(), "{name}: {:?}", plan.warnings);
        let core = Core::parse(out);
        let covered: Vec<u64> = core
            .physical()
            .iter()
            .flat_map(|l| l.paddr / PAGE_SIZE..(l.paddr + l.size) / PAGE_SIZE)
            .collect();
        let populated: Vec<u64> = pfns.iter().map(|p| p.0).collect();
        assert_eq!(covered, populated, "{name}");
        check_pages_but_tables(&name, &s, &core, true);
        check_canonical_tables(&name, &s, &core);
        let p2m = core.notes_named("XENDUMP", NT_XENDUMP_P2M).next().unwrap();
        let runs: Vec<[u64; 3]> = p2m
            .desc
            .chunks_exact(24)
            .map(|c| [u64_at(c, 0), u64_at(c, 8), u64_at(c, 16)])
            .collect();
        let want: Vec<[u64; 3]> = s
            .image
            .frames
            .iter()
            .map(|r| [r.pfn.0, r.mfn.0, r.count])
            .collect();
        assert_eq!(runs, want, "{name}");
        let info = xendump_info(&core);
        assert!(info.contains("DUMP_FORMAT=legacy\n"), "{info}");
        assert!(
            info.contains(&format!(
                "PFNS_FROM=the guest kernel's p2m list at {va:#x} ({entries} entries)"
            )),
            "{info}"
        );

        // The wrong address: nothing there names a page of the dump.
        let mut guest = guest_of(bytes);
        let err = recover_pfns(
            &mut guest,
            P2mList {
                va: f.jiffies_va,
                entries: 16,
            },
        )
        .err()
        .unwrap();
        assert!(
            matches!(err, ConvertError::P2mNamesNoPage { .. }),
            "{name}: {err}"
        );
    }

    // The command line: --p2m-list.
    let dir = tempfile::tempdir().unwrap();
    let options = ScenarioOptions {
        p2m_list: true,
        ..LINUX_LIKE
    };
    let mut s = Scenario::with_options(GuestKind::Pv, PagingMode::FourLevel, options).unwrap();
    let text = s.vmcoreinfo_text(0);
    s.add_vmcoreinfo(&text).unwrap();
    let dump = write_dump(
        dir.path(),
        "legacy",
        &s,
        &DumpOptions::legacy(Width::Bits64),
    );
    let out = dir.path().join("legacy.vmcore");
    let (va, entries) = s.facts.p2m_list.unwrap();
    let (ok, _, err) = run(bin()
        .args(["convert", "-o"])
        .arg(&out)
        .arg(format!("--p2m-list={va:#x},{entries}"))
        .arg(&dump));
    assert!(ok, "{err}");
    assert!(err.contains("pfns from the guest's p2m list"), "{err}");
    let core = Core::parse(std::fs::read(&out).unwrap());
    check_canonical_tables("legacy CLI", &s, &core);
    // An ELF dump records its pfns: a list is refused rather than ignored.
    let elf = write_dump(dir.path(), "elf", &s, &DumpOptions::default());
    let (ok, _, err) = run(bin()
        .args(["convert", "-o"])
        .arg(dir.path().join("elf.vmcore"))
        .arg(format!("--p2m-list={va:#x},{entries}"))
        .arg(&elf));
    assert!(!ok);
    assert!(err.contains("only needed"), "{err}");
}

/// Top-level tables only the caller knows (tasks' `mm->pgd`, from the kernel's symbols)
/// are canonicalised like the vCPUs' own, after the same check.
#[test]
fn extra_pgds_are_canonicalised_too() {
    // No VMCOREINFO: nothing names the kernel's own table.
    let s = Scenario::with_options(GuestKind::Pv, PagingMode::FourLevel, LINUX_LIKE).unwrap();
    let (pgd_va, pgd_root) = s.facts.kernel_pgd.unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let root_pa = s.pfn_of_table_frame(pgd_root.frame).unwrap().0 * PAGE_SIZE;
    let (out, _) = convert_bytes(&guest).unwrap();
    assert_eq!(
        walk_core(&Core::parse(out), s.mode, root_pa, s.facts.jiffies_va),
        None,
        "an unnamed table keeps its machine frames"
    );
    let opts = ConvertOptions {
        extra_pgds: vec![
            ("task 1 mm->pgd".to_string(), pgd_va),
            ("task 2 mm->pgd".to_string(), s.facts.data_va + 0x1000),
        ],
        ..ConvertOptions::default()
    };
    let plan = Plan::new(&guest, &opts).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    write_vmcore(&guest, &plan, &mut out, &mut NoProgress).unwrap();
    let core = Core::parse(out.into_inner());
    check_canonical_tables("extra pgd", &s, &core);
    let roots = &plan.tables.as_ref().unwrap().roots;
    let by = |name: &str| {
        roots
            .iter()
            .find(|r| r.root.source.starts_with(name))
            .unwrap()
    };
    assert_eq!(by("task 1").rejected, None);
    assert!(by("task 2").rejected.is_some(), "a data page is no table");
}

/// With the kernel's vmlinux, every task's own page tables (`mm->pgd`, from the task
/// walker) are canonical too, not only those some vCPU was running on: each process's
/// user page reads through its own tables in the vmcore.
#[test]
fn vmlinux_adds_every_tasks_page_tables() {
    use kernel_fixture::{build, Bits, Shapes, Variant};
    use xendump_gdbserver::builder::linux::{
        sample_tasks, KernelPlacement, LinuxFacts, LinuxGuest, LinuxSpec,
    };
    use xendump_gdbserver::convert::apply_vmlinux;
    use xendump_gdbserver::os::linux::debuginfo::{sym, DebugInfo};
    use xendump_gdbserver::os::linux::tasks::KernelAddresses;

    let f = build(Variant::new(Bits::X86_64, Shapes::Linux61));
    let info = DebugInfo::open(&f.vmlinux).unwrap();
    let layout = info.kernel_layout().unwrap();
    let addrs = KernelAddresses::from_debuginfo(&info, 0).unwrap();
    let at = |n: &str| info.runtime_address(info.symbol(n).unwrap(), 0);
    let placement = KernelPlacement {
        init_task: addrs.init_task,
        per_cpu_offset: addrs.per_cpu_offset.unwrap(),
        per_cpu_start: at(sym::PER_CPU_START),
        current_task: addrs.current_task.unwrap(),
        linux_banner: at(sym::LINUX_BANNER),
    };
    let mut spec = LinuxSpec::new(
        GuestKind::Pv,
        PagingMode::FourLevel,
        layout,
        placement,
        2,
        sample_tasks(Width::Bits64),
    );
    spec.banner = info.banner().unwrap().to_string();
    let g = LinuxGuest::build(spec).unwrap();
    let bytes = g.image.write(&DumpOptions::default()).unwrap();

    // Each process with tables of its own, and the pfn of its root.
    let pfn_of = |mfn: u64| {
        g.image
            .mfn_to_pfn(xendump_gdbserver::addr::MachineFrame(mfn))
            .unwrap()
            .0
    };
    let mut processes: Vec<(i32, u64)> = g
        .facts
        .tasks
        .iter()
        .filter_map(|t| Some((t.desc.tgid, pfn_of(t.root?.frame))))
        .collect();
    // Threads share their process's tables.
    processes.sort_unstable();
    processes.dedup();
    assert!(processes.len() >= 3, "{processes:?}");
    let user_value = |core: &Core, root_pfn: u64| {
        let pa = walk_core(
            core,
            PagingMode::FourLevel,
            root_pfn * PAGE_SIZE,
            g.facts.user_va,
        )?;
        let page = core.phys_page(pa & !(PAGE_SIZE - 1))?;
        Some(u64_at(page, (pa % PAGE_SIZE) as usize))
    };

    // Without the vmlinux only the running tasks' tables are found.
    let guest = guest_of(bytes.clone());
    let (out, _) = convert_bytes(&guest).unwrap();
    let core = Core::parse(out);
    let unreadable = processes
        .iter()
        .filter(|&&(tgid, root)| user_value(&core, root) != Some(LinuxFacts::user_value(tgid)))
        .count();
    assert!(unreadable > 0, "every process was running?");

    // With it, all of them.
    let mut guest = guest_of(bytes);
    let mut opts = ConvertOptions::default();
    let report = apply_vmlinux(&mut guest, &info, None, &mut opts).unwrap();
    assert!(report.tasks >= processes.len(), "{report:?}");
    assert_eq!(report.pgds, processes.len(), "{report:?}");
    let plan = Plan::new(&guest, &opts).unwrap();
    let t = plan.tables.as_ref().unwrap();
    // (The fixture guest keeps its kernel table elsewhere than the vmlinux's
    // swapper_pg_dir symbol, which is therefore refused.)
    let tasks: Vec<_> = t
        .roots
        .iter()
        .filter(|r| r.root.source.contains("mm->pgd"))
        .collect();
    assert_eq!(tasks.len(), processes.len());
    assert!(tasks.iter().all(|r| r.rejected.is_none()), "{tasks:?}");
    let mut out = std::io::Cursor::new(Vec::new());
    write_vmcore(&guest, &plan, &mut out, &mut NoProgress).unwrap();
    let core = Core::parse(out.into_inner());
    for &(tgid, root) in &processes {
        assert_eq!(
            user_value(&core, root),
            Some(LinuxFacts::user_value(tgid)),
            "process {tgid}"
        );
    }

    // The command line takes the same file.
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("linux.core");
    g.image.write_file(&dump, &DumpOptions::default()).unwrap();
    let vmcore = dir.path().join("linux.vmcore");
    let (ok, _, err) = run(bin()
        .args(["convert", "-o"])
        .arg(&vmcore)
        .arg("--vmlinux")
        .arg(&f.vmlinux)
        .arg(&dump));
    assert!(ok, "{err}");
    assert!(err.contains("page tables of their own (mm->pgd)"), "{err}");
    let core = Core::parse(std::fs::read(&vmcore).unwrap());
    for &(tgid, root) in &processes {
        assert_eq!(user_value(&core, root), Some(LinuxFacts::user_value(tgid)));
    }
}

/// `xen_start_info` from the kernel's symbols: the pointer there is cleared, whatever
/// else in the image points at `start_info`.
#[test]
fn xen_start_info_from_a_symbol_needs_no_search() {
    let mut s = linux_like(GuestKind::Pv, PagingMode::FourLevel);
    let (pointer, start_info) = s.facts.start_info.unwrap();
    // A second word pointing at start_info would stop the search; the symbol does not.
    let value = s.facts.direct_map_va + start_info;
    s.image
        .write_phys(
            xendump_gdbserver::addr::PhysAddr(pointer + 0x1000),
            &value.to_le_bytes(),
        )
        .unwrap();
    let guest = guest_of(s.image.write(&DumpOptions::default()).unwrap());
    let va = s.facts.text_va + (pointer - s.facts.text_pa);
    let opts = ConvertOptions {
        xen_start_info_va: Some(va),
        ..ConvertOptions::default()
    };
    let plan = Plan::new(&guest, &opts).unwrap();
    let p = plan.start_info.expect("cleared");
    assert_eq!(
        (p.pa, p.value, p.start_info_pa),
        (pointer, value, start_info)
    );
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

/// A legacy PV dump with the kernel's vmlinux: the p2m list is where its symbols say
/// (`xen_p2m_addr`, `xen_p2m_size`), with no `--p2m-list`.
#[test]
fn vmlinux_symbols_find_a_legacy_dumps_p2m_list() {
    use kernel_fixture::{build_with, Bits, Shapes, Variant};
    use xendump_gdbserver::convert::apply_vmlinux;
    use xendump_gdbserver::os::linux::debuginfo::DebugInfo;

    let f = build_with(
        Variant::new(Bits::X86_64, Shapes::Linux61),
        &["unsigned long *xen_p2m_addr = (void *)1;\nunsigned long xen_p2m_size = 1;\n"],
        false,
    );
    let info = DebugInfo::open(&f.vmlinux).unwrap();
    // (No kernel table of its own: the fixture's swapper_pg_dir symbol is elsewhere.)
    let options = ScenarioOptions {
        p2m_list: true,
        kernel_pgd: false,
        ..LINUX_LIKE
    };
    let mut s = Scenario::with_options(GuestKind::Pv, PagingMode::FourLevel, options).unwrap();
    let (list, entries) = s.facts.p2m_list.unwrap();
    // The fixture's image is linked where the scenario maps its kernel text: write the
    // two variables there.
    for (name, value) in [("xen_p2m_addr", list), ("xen_p2m_size", entries)] {
        let va = info.symbol(name).unwrap().address;
        let off = va - s.facts.text_va;
        assert!(
            off < s.facts.text_size,
            "{name} at {va:#x} is outside the text page"
        );
        s.image
            .write_phys(
                xendump_gdbserver::addr::PhysAddr(s.facts.text_pa + off),
                &value.to_le_bytes(),
            )
            .unwrap();
    }
    let mut guest = guest_of(s.image.write(&DumpOptions::legacy(Width::Bits64)).unwrap());
    let mut opts = ConvertOptions::default();
    let report = apply_vmlinux(&mut guest, &info, None, &mut opts).unwrap();
    let r = report.recovery.expect("pfns recovered through the symbols");
    assert_eq!((r.list.va, r.list.entries), (list, entries));
    assert_eq!(r.pairs.pages, s.image.page_count());
    let (out, _) = convert_bytes_with(&guest, &opts).unwrap();
    check_canonical_tables("legacy through vmlinux", &s, &Core::parse(out));
}

fn convert_bytes_with(
    guest: &Guest,
    opts: &ConvertOptions,
) -> Result<(Vec<u8>, Plan), ConvertError> {
    let plan = Plan::new(guest, opts)?;
    let mut out = std::io::Cursor::new(Vec::new());
    write_vmcore(guest, &plan, &mut out, &mut NoProgress)?;
    Ok((out.into_inner(), plan))
}

/// A saved image converts to the vmcore of the dump of the same guest: the same
/// segments holding the same bytes (a PV image's tables are canonical already, as
/// `convert` makes a dump's), `xen_start_info` cleared alike, the same `NT_PRSTATUS` for
/// every saved vCPU; the info note says where the tables came from.
#[test]
fn saved_images_convert_to_the_vmcore_of_the_same_guest() {
    use xendump_gdbserver::builder::StreamOptions;
    for (kind, mode) in [
        (GuestKind::Pv, PagingMode::FourLevel),
        (GuestKind::Pv, PagingMode::Pae),
        (GuestKind::Hvm, PagingMode::FourLevel),
        (GuestKind::Hvm, PagingMode::Pae),
    ] {
        let s = linux_like(kind, mode);
        let (dump_core, _) =
            convert_bytes(&guest_of(s.image.write(&DumpOptions::default()).unwrap())).unwrap();
        let dump_core = Core::parse(dump_core);
        for opts in [
            StreamOptions::xl_save(),
            StreamOptions::checkpointed(2, true),
        ] {
            let name = format!("{kind:?} {mode} {:?}", opts.passes);
            let guest = guest_of(s.write_stream(&opts).unwrap());
            let (out, plan) = convert_bytes(&guest).unwrap();
            let core = Core::parse(out);
            assert!(plan.tables.is_none(), "{name}: nothing to canonicalise");
            assert_eq!(
                plan.start_info.is_some(),
                kind == GuestKind::Pv,
                "{name}: xen_start_info cleared as in the dump's vmcore"
            );
            let strip = |ls: Vec<Load>| -> Vec<(u64, u64, u64)> {
                ls.into_iter().map(|l| (l.vaddr, l.paddr, l.size)).collect()
            };
            assert_eq!(
                strip(core.physical()),
                strip(dump_core.physical()),
                "{name}"
            );
            assert_eq!(strip(core.image()), strip(dump_core.image()), "{name}");
            for l in core.physical() {
                for pa in (l.paddr..l.paddr + l.size).step_by(PAGE_SIZE as usize) {
                    assert!(
                        core.phys_page(pa) == dump_core.phys_page(pa),
                        "{name}: page at {pa:#x}"
                    );
                }
            }
            if kind == GuestKind::Pv {
                check_canonical_tables(&name, &s, &core);
            }
            check_pages_but_tables(&name, &s, &core, kind == GuestKind::Pv);
            let prstatus = |c: &Core| -> Vec<Vec<u8>> {
                c.notes_named("CORE", object::elf::NT_PRSTATUS)
                    .map(|n| n.desc.clone())
                    .collect()
            };
            assert_eq!(prstatus(&core)[..2], prstatus(&dump_core)[..2], "{name}");
            let info = xendump_info(&core);
            for want in [
                "DUMP_FORMAT=saved-image\n",
                "SAVED_IMAGE=libxc stream v3",
                if kind == GuestKind::Pv {
                    "PAGE_TABLE_FRAMES=pseudo-physical (canonical in the saved image)\n"
                } else {
                    "PAGE_TABLE_FRAMES=pseudo-physical\n"
                },
                if kind == GuestKind::Pv {
                    "CONTEXT_RECORD=vcpu_guest_context\n"
                } else {
                    "CONTEXT_RECORD=hvm_hw_cpu\n"
                },
            ] {
                assert!(info.contains(want), "{name}: no {want:?} in\n{info}");
            }
            let contexts: Vec<usize> = core
                .notes_named("XENDUMP", NT_XENDUMP_CONTEXT)
                .map(|n| n.desc.len())
                .collect();
            assert_eq!(contexts.len(), 3, "{name}");
            assert_eq!(contexts[2], 0, "{name}: vCPU 2 was down");
        }
    }
}
