//! Reader tests against the independent dump builder: every format variant read back
//! field by field, and damaged inputs rejected with their own error.

use crate::addr::{GuestFrame, MachineFrame, PageIndex};
use crate::builder::{
    all_variants, pv32_cr3, pv64_cr3, DumpOptions, ElfOptions, GuestImage, Layout, LegacyOptions,
    VcpuImage,
};
use crate::dump::{ContextLayout, DumpError, DumpFormat, GuestKind, Width, XenDump};
use crate::vcpu::{VGCF_HVM_GUEST, VGCF_IN_KERNEL, VGCF_ONLINE};

/// A vCPU with a distinct value in every field, so a field read from the wrong offset
/// cannot match by accident.
fn busy_vcpu(seed: u64, cr3: u64) -> VcpuImage {
    let mut v = VcpuImage::online();
    let s = seed << 40;
    let g = &mut v.gprs;
    for (i, r) in [
        &mut g.rax, &mut g.rbx, &mut g.rcx, &mut g.rdx, &mut g.rsi, &mut g.rdi, &mut g.rbp,
        &mut g.rsp, &mut g.r8, &mut g.r9, &mut g.r10, &mut g.r11, &mut g.r12, &mut g.r13,
        &mut g.r14, &mut g.r15,
    ]
    .into_iter()
    .enumerate()
    {
        *r = s | 0x1111_0000 | (i as u64 + 1);
    }
    v.rip = s | 0xc0de_0010;
    v.rflags = 0x246;
    v.selectors.cs = 0xe033;
    v.selectors.ss = 0xe02b;
    v.selectors.ds = 0x2b;
    v.selectors.es = 0x2c;
    v.selectors.fs = 0x2d;
    v.selectors.gs = 0x2e;
    v.ctrlreg = [0x8005_003b, 0, s | 0xbad0, cr3, 0x26f0, 0, 0, 0];
    v.debugreg = [1, 2, 3, 4, 0, 0, 0xffff_0ff0, 0x400];
    v.fs_base = s | 0xf5;
    v.gs_base_kernel = s | 0x9b;
    v.gs_base_user = s | 0x9a;
    v.fpu[32..42].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 0x3f]);
    v
}

/// A small guest of each kind: three runs of frames with scrambled mfns (PV) or
/// holes (HVM), three vCPUs of which the last is offline.
fn sample(kind: GuestKind, width: Width) -> GuestImage {
    let mut img = GuestImage::new(kind, width);
    match kind {
        GuestKind::Pv => {
            img.add_run(GuestFrame(0), MachineFrame(0x8_1000), 0x40)
                .unwrap();
            img.add_run(GuestFrame(0x40), MachineFrame(0x2_0000), 0x20)
                .unwrap();
            img.add_run(GuestFrame(0x100), MachineFrame(0x5_0000), 0x10)
                .unwrap();
        }
        GuestKind::Hvm => {
            // Real HVM memory: the VGA hole 0xA0–0xBF is never populated.
            img.add_run(GuestFrame(0), MachineFrame(0x10_0000), 0xA0)
                .unwrap();
            img.add_run(GuestFrame(0xC0), MachineFrame(0x10_00C0), 0x40)
                .unwrap();
        }
    }
    img.stamp_pages();
    let root = match kind {
        GuestKind::Pv => img.pfn_to_mfn(GuestFrame(0x41)).unwrap(),
        GuestKind::Hvm => MachineFrame(0x41),
    };
    let cr3 = match (kind, width) {
        (GuestKind::Pv, Width::Bits64) => pv64_cr3(root),
        (GuestKind::Pv, Width::Bits32) => pv32_cr3(root),
        (GuestKind::Hvm, _) => root.0 << 12,
    };
    for i in 0..3 {
        let mut v = busy_vcpu(i + 1, cr3);
        if kind == GuestKind::Pv {
            v.flags |= VGCF_IN_KERNEL;
        }
        if i == 2 {
            v.flags &= !VGCF_ONLINE;
        }
        img.push_vcpu(v);
    }
    img
}

fn open(img: &GuestImage, opts: &DumpOptions) -> XenDump {
    let bytes = img.write(opts).expect("builder writes");
    XenDump::from_bytes(bytes).expect("reader opens builder output")
}

/// Every builder variant of every guest kind and width, read back field by field.
#[test]
fn every_variant_reads_back() {
    let mut checked = 0;
    for kind in [GuestKind::Pv, GuestKind::Hvm] {
        for width in [Width::Bits64, Width::Bits32] {
            let img = sample(kind, width);
            for (name, opts) in all_variants(kind, width) {
                let d = open(&img, &opts);
                let legacy = matches!(opts.format, Layout::Legacy(_));
                assert_eq!(
                    d.format(),
                    if legacy {
                        DumpFormat::Legacy
                    } else {
                        DumpFormat::Elf
                    },
                    "{name}"
                );
                assert_eq!(d.guest_kind(), kind, "{name}");
                assert_eq!(d.context_layout(), img.context_layout(), "{name}");
                if kind == GuestKind::Pv {
                    assert_eq!(d.pv_guest_width(), Some(width), "{name}");
                }
                assert_eq!(d.valid_page_count(), img.page_count(), "{name}");
                assert_eq!(
                    d.vcpus(),
                    img.expected_states_for(&opts).as_slice(),
                    "{name}"
                );
                check_frames(&img, &d, &name);
                if !legacy {
                    let v = d.xen_version().expect("version note");
                    assert_eq!((v.major, v.minor), (img.xen.major, img.xen.minor), "{name}");
                    assert_eq!(v.capabilities, img.xen.capabilities, "{name}");
                    assert_eq!(v.page_size, 4096, "{name}");
                    assert_eq!(d.format_version(), Some(1), "{name}");
                    assert_eq!(d.tools_width(), Some(opts.tools), "{name}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 16, "only {checked} variants");
}

fn check_frames(img: &GuestImage, d: &XenDump, name: &str) {
    let legacy_pv = d.format() == DumpFormat::Legacy && d.guest_kind() == GuestKind::Pv;
    let elf_hvm = d.format() == DumpFormat::Elf && d.guest_kind() == GuestKind::Hvm;
    for pfn in img.populated_pfns() {
        let mfn = img.pfn_to_mfn(pfn).unwrap();
        // Pages were stamped with their own pfn and mfn: finding the page by either
        // frame number must give back those stamps.
        if !elf_hvm {
            let by_mfn = d
                .page_of_mfn(mfn)
                .unwrap_or_else(|| panic!("{name}: {mfn} not found"));
            let page = d.page(by_mfn).unwrap();
            assert_eq!(
                u64::from_le_bytes(page[8..16].try_into().unwrap()),
                mfn.0,
                "{name}"
            );
            assert_eq!(
                u64::from_le_bytes(page[0..8].try_into().unwrap()),
                pfn.0,
                "{name}"
            );
        }
        if !legacy_pv {
            let by_pfn = d
                .page_of_pfn(pfn)
                .unwrap_or_else(|| panic!("{name}: {pfn} not found"));
            let page = d.page(by_pfn).unwrap();
            assert_eq!(
                u64::from_le_bytes(page[0..8].try_into().unwrap()),
                pfn.0,
                "{name}"
            );
            assert_eq!(d.pfn_of(by_pfn), Some(pfn), "{name}");
        }
        if !legacy_pv && !elf_hvm {
            assert_eq!(d.pfn_to_mfn(pfn), Some(mfn), "{name}");
            assert_eq!(d.mfn_to_pfn(mfn), Some(pfn), "{name}");
        }
    }
    // Frames that are not populated are reported absent, never as some other page.
    for absent in [0xA0u64, 0xBF, 0x60, 0xFF, 0x1_0000, u64::MAX] {
        if img.pfn_to_mfn(GuestFrame(absent)).is_none() {
            assert_eq!(
                d.page_of_pfn(GuestFrame(absent)),
                None,
                "{name}: pfn {absent:#x}"
            );
        }
    }
    for absent in [0u64, 0x8_0FFF, 0x2_0020, u64::MAX] {
        if img.mfn_to_pfn(MachineFrame(absent)).is_none() {
            assert_eq!(
                d.page_of_mfn(MachineFrame(absent)),
                None,
                "{name}: mfn {absent:#x}"
            );
        }
    }
}

#[test]
fn legacy_pv_has_no_pfns_and_says_so() {
    let img = sample(GuestKind::Pv, Width::Bits64);
    let d = open(&img, &DumpOptions::legacy(Width::Bits64));
    assert!(!d.frames().knows_pfns());
    assert_eq!(d.page_of_pfn(GuestFrame(0)), None);
    assert!(d.warnings().iter().any(|w| w.contains("no p2m")));
}

#[test]
fn legacy_pages_in_allocation_order_are_found_by_mfn() {
    let img = sample(GuestKind::Pv, Width::Bits32);
    let mut order: Vec<GuestFrame> = img.populated_pfns().collect();
    order.reverse();
    order.swap(3, 40);
    let opts = DumpOptions {
        format: Layout::Legacy(LegacyOptions {
            page_order: Some(order),
            ..LegacyOptions::default()
        }),
        tools: Width::Bits32,
    };
    let d = open(&img, &opts);
    check_frames(&img, &d, "legacy shuffled");
}

#[test]
fn legacy_hvm_before_3_0_4_is_recognised_by_the_context_flag() {
    // A guest as Xen's HVM builder left it: no RAM in the VGA hole 0xA0–0xBF.
    let mut img = GuestImage::new(GuestKind::Hvm, Width::Bits64);
    img.add_run(GuestFrame(0), MachineFrame(0x3000), 0xA0)
        .unwrap();
    img.add_run(GuestFrame(0xC0), MachineFrame(0x30C0), 0x40)
        .unwrap();
    img.stamp_pages();
    let mut v = busy_vcpu(1, 0x3005 << 12);
    v.flags |= VGCF_HVM_GUEST;
    img.push_vcpu(v);
    let opts = DumpOptions {
        format: Layout::Legacy(LegacyOptions {
            magic: Some(0xF00F_EBED),
            hvm_cr3: crate::builder::LegacyHvmCr3::AsGiven,
            ..LegacyOptions::default()
        }),
        tools: Width::Bits64,
    };
    let d = open(&img, &opts);
    assert_eq!(d.guest_kind(), GuestKind::Hvm);
    // 3.0.3 freed the VGA hole's pages before the guest ran, as 3.0.4 never allocated
    // them: from slot 0xA0 on, the pfn is the slot + 0x20.
    assert_eq!(d.page_of_pfn(GuestFrame(0xB0)), None);
    let p = d.page_of_pfn(GuestFrame(0xC0)).unwrap();
    assert_eq!(p, PageIndex(0xA0));
    assert_eq!(d.mfn_of(p), Some(MachineFrame(0x30C0)));
    assert_eq!(d.mfn_to_pfn(MachineFrame(0x30C5)), Some(GuestFrame(0xC5)));
    let page = d.page(p).unwrap();
    assert_eq!(page[..8], 0xC0u64.to_le_bytes());
    // Two hypotheses for a 3.0.3 dump; the 3.0.4 writer adds its by-index defect.
    assert_eq!(d.legacy_hvm_candidates().len(), 2);
    let mut opts304 = opts.clone();
    if let Layout::Legacy(l) = &mut opts304.format {
        l.magic = None;
    }
    let d = open(&img, &opts304);
    let c = d.legacy_hvm_candidates();
    assert_eq!(c.len(), 3);
    assert_eq!(c[1].contents, crate::dump::SlotContents::ByIndex);
}

#[test]
fn legacy_hvm_contexts_hold_no_segment_bases_and_old_elf_hvm_neither() {
    let img = sample(GuestKind::Hvm, Width::Bits64);
    let d = open(&img, &DumpOptions::legacy(Width::Bits64));
    assert!(d
        .vcpus()
        .iter()
        .all(|v| v.fs_base.is_none() && v.gs_base_kernel.is_none()));
    let d = open(&img, &DumpOptions::elf(Width::Bits64));
    assert!(d.vcpus().iter().all(|v| v.fs_base.is_some()));
    let mut old = img.clone();
    old.xen.major = 4;
    old.xen.minor = 1;
    let d = open(&old, &DumpOptions::elf(Width::Bits64));
    assert!(d
        .vcpus()
        .iter()
        .all(|v| v.fs_base.is_none() && v.gs_base_user.is_none()));
    // PV guests always had them.
    let pv = sample(GuestKind::Pv, Width::Bits64);
    let d = open(&pv, &DumpOptions::legacy(Width::Bits64));
    assert!(d.vcpus().iter().all(|v| v.fs_base.is_some()));
}

#[test]
fn descriptor_tables_are_read_from_both_layouts() {
    for width in [Width::Bits64, Width::Bits32] {
        let mut img = sample(GuestKind::Pv, width);
        for v in &mut img.vcpus {
            v.gdt_frames[0] = 0x1234;
            v.gdt_frames[1] = 0x1235;
            v.gdt_ents = 32 * 8;
            v.ldt_base = 0xc100_0000;
            v.ldt_ents = 5;
        }
        let d = open(&img, &DumpOptions::elf(width));
        let t = d.descriptor_tables(0).unwrap();
        assert_eq!(t.gdt_frames[..3], [0x1234, 0x1235, 0], "{width:?}");
        assert_eq!((t.gdt_ents, t.ldt_base, t.ldt_ents), (256, 0xc100_0000, 5));
    }
}

#[test]
fn invalid_tail_entries_are_not_pages() {
    let img = sample(GuestKind::Hvm, Width::Bits64);
    let opts = DumpOptions {
        format: Layout::Elf(ElfOptions {
            invalid_tail: 5,
            ..ElfOptions::default()
        }),
        tools: Width::Bits64,
    };
    let d = open(&img, &opts);
    assert_eq!(d.page_count(), img.page_count() + 5);
    assert_eq!(d.valid_page_count(), img.page_count());
    assert_eq!(d.page_of_pfn(GuestFrame(u64::MAX)), None);
    check_frames(&img, &d, "tail");
}

#[test]
fn pre_3_4_tools_hide_a_32bit_guest_behind_em_x86_64() {
    // Xen 3.1–3.3 64-bit tools wrote e_machine = EM_X86_64 for a 32-bit PV guest; the
    // reader must notice from where CR3 points.
    let mut img = sample(GuestKind::Pv, Width::Bits32);
    img.xen.major = 3;
    img.xen.minor = 2;
    let opts = DumpOptions {
        format: Layout::Elf(ElfOptions {
            e_machine: Some(62),
            ..ElfOptions::default()
        }),
        tools: Width::Bits64,
    };
    let d = open(&img, &opts);
    assert_eq!(d.context_layout(), ContextLayout::X86_32);
    assert_eq!(d.vcpus(), img.expected_states().as_slice());
    assert!(d.warnings().iter().any(|w| w.contains("32-bit")));
}

#[test]
fn hvm_on_a_32bit_hypervisor_uses_the_32bit_layout() {
    let mut img = sample(GuestKind::Hvm, Width::Bits32);
    img.set_hypervisor(Width::Bits32);
    img.xen = crate::builder::XenVersionImage::for_hypervisor(Width::Bits32);
    let d = open(&img, &DumpOptions::elf(Width::Bits32));
    assert_eq!(d.context_layout(), ContextLayout::X86_32);
    assert_eq!(d.vcpus(), img.expected_states().as_slice());
}

#[test]
fn a_dump_file_opens_through_the_mapping() {
    let img = sample(GuestKind::Pv, Width::Bits64);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("guest.core");
    img.write_file(&path, &DumpOptions::elf(Width::Bits64))
        .unwrap();
    let d = XenDump::open(&path).unwrap();
    check_frames(&img, &d, "mapped");
    let err = XenDump::open(dir.path().join("missing.core")).unwrap_err();
    assert!(matches!(err, DumpError::Io { .. }), "{err}");
    assert!(err.to_string().contains("missing.core"));
}

// ---- damaged input ------------------------------------------------------------

fn built(kind: GuestKind, opts: &DumpOptions) -> (Vec<u8>, crate::builder::DumpLayout) {
    let img = sample(kind, Width::Bits64);
    let layout = img.layout(opts).unwrap();
    (img.write(opts).unwrap(), layout)
}

fn err_of(bytes: Vec<u8>) -> DumpError {
    match XenDump::from_bytes(bytes) {
        Ok(_) => panic!("damaged dump opened without error"),
        Err(e) => e,
    }
}

#[test]
fn truncation_at_every_structural_boundary_is_a_clear_error() {
    for (kind, opts) in [
        (GuestKind::Pv, DumpOptions::elf(Width::Bits64)),
        (GuestKind::Hvm, DumpOptions::elf(Width::Bits64)),
        (GuestKind::Pv, DumpOptions::legacy(Width::Bits64)),
    ] {
        let (bytes, layout) = built(kind, &opts);
        for r in &layout.regions {
            for cut in [r.offset, r.offset + r.size / 2] {
                if cut >= bytes.len() as u64 || cut == 0 {
                    continue;
                }
                let res = XenDump::from_bytes(bytes[..cut as usize].to_vec());
                match (r.name, res) {
                    // Cutting into the page data keeps the dump usable: the pages that
                    // are there stay readable and the rest are reported missing.
                    (name, Ok(d)) if name.contains("pages") => {
                        assert!(d.pages_present() < d.page_count(), "{name} cut {cut}");
                        assert!(d.warnings().iter().any(|w| w.contains("truncated")));
                        let last = PageIndex(d.page_count() - 1);
                        assert!(matches!(d.page(last), Err(DumpError::PageTruncated { .. })));
                    }
                    // Only the section names lost: sections are told apart without them.
                    (".shstrtab", Ok(d)) => {
                        assert!(d.warnings().iter().any(|w| w.contains("section names")));
                    }
                    (name, Ok(_)) => panic!("cut at {cut:#x} inside {name} was accepted"),
                    (_, Err(e)) => {
                        let msg = e.to_string();
                        assert!(
                            msg.contains("past the end")
                                || msg.contains("truncated")
                                || msg.contains("too short")
                                || msg.contains("malformed ELF"),
                            "cut at {cut:#x} in {}: unhelpful error {msg}",
                            r.name
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn bad_magic_names_what_was_found() {
    let (mut bytes, _) = built(GuestKind::Pv, &DumpOptions::legacy(Width::Bits64));
    bytes[0] = 0x00;
    let e = err_of(bytes);
    assert!(matches!(e, DumpError::UnknownFormat { .. }), "{e}");
    assert!(e.to_string().contains("not a Xen core dump"));
    assert!(matches!(
        err_of(b"LinuxGuestRecord".to_vec()),
        DumpError::UnknownFormat { .. }
    ));
    assert!(matches!(err_of(vec![]), DumpError::TooShort { .. }));
}

/// The file offset of section header `name`'s field at byte `field`.
fn section_field(bytes: &[u8], name: &str, field: usize) -> usize {
    let shoff = u64::from_le_bytes(bytes[0x28..0x30].try_into().unwrap()) as usize;
    let shnum = u16::from_le_bytes(bytes[0x3c..0x3e].try_into().unwrap()) as usize;
    let shstrndx = u16::from_le_bytes(bytes[0x3e..0x40].try_into().unwrap()) as usize;
    let strtab_off =
        u64::from_le_bytes(bytes[shoff + shstrndx * 64 + 24..][..8].try_into().unwrap()) as usize;
    for i in 0..shnum {
        let sh = shoff + i * 64;
        let n = u32::from_le_bytes(bytes[sh..sh + 4].try_into().unwrap()) as usize;
        let s = &bytes[strtab_off + n..];
        let end = s.iter().position(|&c| c == 0).unwrap();
        if &s[..end] == name.as_bytes() {
            return sh + field;
        }
    }
    panic!("no section {name}");
}

/// Patch the ELF section header of section `name`: field at byte `field` (u64).
fn patch_section(bytes: &mut [u8], name: &str, field: usize, value: u64) {
    let at = section_field(bytes, name, field);
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// The file offset of section `name`'s contents.
fn section_offset(bytes: &[u8], name: &str) -> u64 {
    let at = section_field(bytes, name, SH_OFFSET);
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

const SH_NAME: usize = 0;
const SH_OFFSET: usize = 24;
const SH_SIZE: usize = 32;
const SH_ENTSIZE: usize = 56;

#[test]
fn section_damage_gets_its_own_error() {
    let opts = DumpOptions::elf(Width::Bits64);
    let (good, _) = built(GuestKind::Pv, &opts);

    let mut b = good.clone();
    patch_section(&mut b, ".xen_p2m", SH_ENTSIZE, 12);
    let e = err_of(b);
    assert!(
        matches!(
            e,
            DumpError::BadEntrySize {
                name: ".xen_p2m",
                ..
            }
        ),
        "{e}"
    );

    let mut b = good.clone();
    patch_section(&mut b, ".xen_prstatus", SH_ENTSIZE, 100);
    assert!(matches!(
        err_of(b),
        DumpError::BadEntrySize {
            name: ".xen_prstatus",
            ..
        }
    ));

    let mut b = good.clone();
    patch_section(&mut b, ".xen_p2m", SH_OFFSET, 1 << 40);
    let e = err_of(b);
    assert!(
        matches!(
            e,
            DumpError::OutOfBounds {
                name: ".xen_p2m",
                ..
            }
        ),
        "{e}"
    );

    let mut b = good.clone();
    patch_section(&mut b, ".xen_p2m", SH_SIZE, 48);
    assert!(matches!(
        err_of(b),
        DumpError::SizeMismatch {
            name: ".xen_p2m",
            ..
        }
    ));

    let mut b = good.clone();
    patch_section(&mut b, ".xen_pages", SH_SIZE, u64::MAX);
    assert!(matches!(
        err_of(b),
        DumpError::SizeMismatch {
            name: ".xen_pages",
            ..
        }
    ));

    // A p2m placed on top of the vCPU contexts.
    let mut b = good.clone();
    let pr_off = section_offset(&good, ".xen_prstatus");
    patch_section(&mut b, ".xen_p2m", SH_OFFSET, pr_off);
    let e = err_of(b);
    assert!(matches!(e, DumpError::Overlap { .. }), "{e}");
    assert!(e.to_string().contains("overlaps"));

    // Renaming a section makes it missing (name offset 0 is the empty string).
    let mut b = good.clone();
    patch_section(&mut b, ".xen_prstatus", SH_NAME, 0);
    assert!(matches!(
        err_of(b),
        DumpError::MissingSection {
            name: ".xen_prstatus",
            ..
        }
    ));
    let mut b = good.clone();
    patch_section(&mut b, ".note.Xen", SH_NAME, 0);
    assert!(matches!(err_of(b), DumpError::NotXenElf { .. }));
    let mut b = good.clone();
    patch_section(&mut b, ".xen_p2m", SH_NAME, 0);
    assert!(matches!(
        err_of(b),
        DumpError::MissingSection {
            name: ".xen_p2m",
            ..
        }
    ));

    // Section header table pointing past the end.
    let mut b = good.clone();
    b[0x28..0x30].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = err_of(b);
    assert!(
        matches!(e, DumpError::OutOfBounds { .. } | DumpError::Elf { .. }),
        "{e}"
    );
}

/// Offset of the DUMPCORE_HEADER descriptor in an ELF dump.
fn header_note_desc(bytes: &[u8]) -> usize {
    let pos = bytes
        .windows(12)
        .position(|w| {
            w[0..4] == 4u32.to_le_bytes()
                && w[4..8] == 32u32.to_le_bytes()
                && w[8..12] == 0x200_0001u32.to_le_bytes()
        })
        .expect("header note");
    pos + 16
}

#[test]
fn header_note_damage_gets_its_own_error() {
    let (good, _) = built(GuestKind::Pv, &DumpOptions::elf(Width::Bits64));
    let at = header_note_desc(&good);

    let mut b = good.clone();
    b[at + 8..at + 16].copy_from_slice(&0u64.to_le_bytes());
    assert!(matches!(err_of(b), DumpError::NoVcpus { .. }));

    let mut b = good.clone();
    b[at + 8..at + 16].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = err_of(b);
    assert!(
        matches!(
            e,
            DumpError::BadField {
                field: "xch_nr_vcpus",
                ..
            }
        ),
        "{e}"
    );

    let mut b = good.clone();
    b[at + 16..at + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_nr_pages",
            ..
        }
    ));

    let mut b = good.clone();
    b[at + 16..at + 24].copy_from_slice(&1000u64.to_le_bytes());
    assert!(matches!(err_of(b), DumpError::SizeMismatch { .. }));

    let mut b = good.clone();
    b[at + 24..at + 32].copy_from_slice(&8192u64.to_le_bytes());
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_page_size",
            ..
        }
    ));

    let mut b = good.clone();
    b[at..at + 8].copy_from_slice(&0x1234u64.to_le_bytes());
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_magic",
            ..
        }
    ));

    // A note whose descsz runs off the section.
    let mut b = good.clone();
    b[at - 12..at - 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert!(matches!(err_of(b), DumpError::BadNote { .. }));
}

#[test]
fn legacy_header_damage_gets_its_own_error() {
    let (good, _) = built(GuestKind::Pv, &DumpOptions::legacy(Width::Bits64));
    let set =
        |b: &mut Vec<u8>, off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());

    let mut b = good.clone();
    set(&mut b, 4, 0);
    assert!(matches!(err_of(b), DumpError::NoVcpus { .. }));
    let mut b = good.clone();
    set(&mut b, 4, u32::MAX);
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_nr_vcpus",
            ..
        }
    ));
    let mut b = good.clone();
    set(&mut b, 12, 32);
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_ctxt_offset",
            ..
        }
    ));
    let mut b = good.clone();
    set(&mut b, 16, 24 + 3 * 5000);
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_index_offset",
            ..
        }
    ));
    let mut b = good.clone();
    set(&mut b, 20, 0x10_0000);
    assert!(matches!(
        err_of(b),
        DumpError::BadField {
            field: "xch_pages_offset",
            ..
        }
    ));
    let mut b = good.clone();
    set(&mut b, 8, u32::MAX);
    let e = err_of(b);
    assert!(
        matches!(
            e,
            DumpError::BadField { .. } | DumpError::OutOfBounds { .. }
        ),
        "{e}"
    );
}

#[test]
fn pages_out_of_range_are_errors_not_panics() {
    let img = sample(GuestKind::Pv, Width::Bits64);
    let d = open(&img, &DumpOptions::elf(Width::Bits64));
    let e = d.page(PageIndex(u64::MAX)).unwrap_err();
    assert!(matches!(e, DumpError::PageOutOfRange { .. }));
    assert_eq!(d.pfn_of(PageIndex(u64::MAX)), None);
    assert_eq!(d.mfn_of(PageIndex(d.page_count())), None);
}
