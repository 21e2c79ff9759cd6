//! `convert`: builder dumps of every format and guest kind turned into vmcores, read
//! back with the `object` crate and with the real gdb. Expected values come from the
//! scenario description (the builder's own facts), never from the converter.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use object::elf::{FileHeader64, PT_LOAD, PT_NOTE};
use object::read::elf::{FileHeader, ProgramHeader};
use object::LittleEndian;

use support::gdb_with;
use xendump_gdbserver::addr::PAGE_SIZE;
use xendump_gdbserver::builder::scenario::{Scenario, DIRECT_MAP_PAGES};
use xendump_gdbserver::builder::{all_variants, x86, DumpOptions, Layout};
use xendump_gdbserver::convert::{
    convert_file, write_vmcore, ConvertError, ConvertOptions, NoProgress, Plan, VmcoreinfoScan,
    NT_XENDUMP_CONTEXT, NT_XENDUMP_INFO, NT_XENDUMP_P2M,
};
use xendump_gdbserver::dump::{DumpFormat, GuestKind, Width, XenDump};
use xendump_gdbserver::memory::{Guest, GuestOptions, PagingMode};
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

    // Every page the builder wrote reads back at its guest-physical address.
    for (pfn, page) in &img.contents {
        let got = core
            .phys_page(pfn.0 * PAGE_SIZE)
            .expect("page in a PT_LOAD");
        assert_eq!(got, &page[..], "{name}: contents of pfn {:#x}", pfn.0);
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
        "gdb:           symbol-file -o 0x1e000000 vmlinux",
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
    assert!(out.contains("symbol-file -o 0x1e000000 vmlinux"), "{out}");
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
