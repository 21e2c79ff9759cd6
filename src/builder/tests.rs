//! Checks of the writers against the layouts in docs/xen-dump-format.md, using the
//! `object` crate as an independent ELF parser and the spec's absolute offsets.

use std::io::{Read, Seek, SeekFrom};

use object::read::elf::{ElfFile, FileHeader, SectionHeader};
use object::Endianness;

use super::*;
use crate::addr::{GuestFrame, MachineFrame, PhysAddr, PAGE_SIZE};
use crate::dump::{ContextLayout, GuestKind, Width};
use crate::vcpu::{Gprs, Selectors, VGCF_I387_VALID, VGCF_IN_KERNEL, VGCF_ONLINE};

fn u16_at(d: &[u8], off: u64) -> u16 {
    let o = off as usize;
    u16::from_le_bytes(d[o..o + 2].try_into().expect("2 bytes"))
}
fn u32_at(d: &[u8], off: u64) -> u32 {
    let o = off as usize;
    u32::from_le_bytes(d[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(d: &[u8], off: u64) -> u64 {
    let o = off as usize;
    u64::from_le_bytes(d[o..o + 8].try_into().expect("8 bytes"))
}
fn cstr_at(d: &[u8], off: u64) -> &str {
    let tail = &d[off as usize..];
    let end = tail.iter().position(|b| *b == 0).expect("NUL-terminated");
    std::str::from_utf8(&tail[..end]).expect("ASCII")
}

/// A section header as parsed by `object`.
#[derive(Debug, Clone, PartialEq)]
struct Sec {
    name: String,
    sh_type: u32,
    offset: u64,
    size: u64,
    addralign: u64,
    entsize: u64,
}

fn parse_sections<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> Vec<Sec> {
    let file = ElfFile::<Elf>::parse(data).expect("object parses the dump");
    let endian = file.endian();
    let table = file.elf_section_table();
    table
        .iter()
        .map(|sh| Sec {
            name: String::from_utf8(table.section_name(endian, sh).expect("name").to_vec())
                .expect("utf8"),
            sh_type: sh.sh_type(endian),
            offset: sh.sh_offset(endian).into(),
            size: sh.sh_size(endian).into(),
            addralign: sh.sh_addralign(endian).into(),
            entsize: sh.sh_entsize(endian).into(),
        })
        .collect()
}

fn sections64(data: &[u8]) -> Vec<Sec> {
    parse_sections::<object::elf::FileHeader64<Endianness>>(data)
}

fn find<'a>(secs: &'a [Sec], name: &str) -> &'a Sec {
    secs.iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no section {name}"))
}

fn names(secs: &[Sec]) -> Vec<&str> {
    secs.iter().map(|s| s.name.as_str()).collect()
}

/// A vCPU whose every field has a distinct recognisable value.
fn busy_vcpu(seed: u64) -> VcpuImage {
    let v = |n: u64| 0x1111_0000_0000_0000 * (seed + 1) + n;
    let mut fpu = [0u8; 512];
    for (i, b) in fpu.iter_mut().enumerate() {
        *b = (i as u8) ^ 0x5A;
    }
    VcpuImage {
        flags: VGCF_ONLINE | VGCF_I387_VALID | VGCF_IN_KERNEL,
        gprs: Gprs {
            rax: v(1),
            rbx: v(2),
            rcx: v(3),
            rdx: v(4),
            rsi: v(5),
            rdi: v(6),
            rbp: v(7),
            rsp: v(8),
            r8: v(9),
            r9: v(10),
            r10: v(11),
            r11: v(12),
            r12: v(13),
            r13: v(14),
            r14: v(15),
            r15: v(16),
        },
        rip: v(17),
        rflags: v(18),
        selectors: Selectors {
            cs: 0xe033,
            ss: 0xe02b,
            ds: 0x7b,
            es: 0x7b,
            fs: 0x63,
            gs: 0x6b,
        },
        saved_upcall_mask: 0xA5,
        error_code: 0x1234_5678,
        entry_vector: 0x9abc_def0,
        ctrlreg: [v(20), v(21), v(22), v(23), v(24), v(25), v(26), v(27)],
        debugreg: [v(30), v(31), v(32), v(33), v(34), v(35), v(36), v(37)],
        fs_base: v(40),
        gs_base_kernel: v(41),
        gs_base_user: v(42),
        kernel_ss: v(43),
        kernel_sp: v(44),
        ldt_base: v(45),
        ldt_ents: v(46),
        gdt_frames: [v(50); 16],
        gdt_ents: v(47),
        event_callback_cs: v(48),
        event_callback_eip: v(49),
        failsafe_callback_cs: v(51),
        failsafe_callback_eip: v(52),
        syscall_callback_eip: v(53),
        vm_assist: v(54),
        fpu,
        efer: v(55),
    }
}

/// PV guest: pfns 0–3 on mfns 0x1000–0x1003, pfns 0x10–0x11 on mfns 0x500–0x501
/// (mfn order differs from pfn order), every page stamped, a shared-info page.
fn small_guest(kind: GuestKind, width: Width, vcpus: usize) -> GuestImage {
    let mut img = GuestImage::new(kind, width);
    img.add_run(GuestFrame(0x10), MachineFrame(0x500), 2)
        .expect("run")
        .add_run(GuestFrame(0), MachineFrame(0x1000), 4)
        .expect("run");
    img.stamp_pages();
    for k in 0..vcpus {
        img.push_vcpu(busy_vcpu(k as u64));
    }
    let mut shinfo = Box::new([0u8; 4096]);
    shinfo[0] = 1;
    shinfo[3088..3096].copy_from_slice(&0x12u64.to_le_bytes());
    img.shared_info = Some(shinfo);
    img
}

const SMALL_PAGES: [(u64, u64); 6] = [
    (0, 0x1000),
    (1, 0x1001),
    (2, 0x1002),
    (3, 0x1003),
    (0x10, 0x500),
    (0x11, 0x501),
];

// ---------------------------------------------------------------- ELF, current writer

#[test]
fn elf_pv64_layout_matches_spec_example() {
    // §3.3: PV, 2 vCPUs, 64-bit tools, shared info: notes @512, prstatus @1896,
    // shared_info @12232, pages @16384.
    let img = small_guest(GuestKind::Pv, Width::Bits64, 2);
    let data = img.write(&DumpOptions::default()).expect("write");

    // ELF header (§3.1).
    assert_eq!(
        &data[0..16],
        &[0x7F, b'E', b'L', b'F', 2, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(u16_at(&data, 16), 4, "ET_CORE");
    assert_eq!(u16_at(&data, 18), 62, "EM_X86_64");
    assert_eq!(u32_at(&data, 20), 1);
    assert_eq!(u64_at(&data, 24), 0, "e_entry");
    assert_eq!(u64_at(&data, 32), 0, "e_phoff");
    assert_eq!(u64_at(&data, 40), 64, "e_shoff");
    assert_eq!(u32_at(&data, 48), 0, "e_flags");
    assert_eq!(u16_at(&data, 52), 64, "e_ehsize");
    assert_eq!(u16_at(&data, 54), 56, "e_phentsize");
    assert_eq!(u16_at(&data, 56), 0, "e_phnum");
    assert_eq!(u16_at(&data, 58), 64, "e_shentsize");
    assert_eq!(u16_at(&data, 60), 7, "e_shnum");
    assert_eq!(u16_at(&data, 62), 1, "e_shstrndx");

    let secs = sections64(&data);
    assert_eq!(
        names(&secs),
        [
            "",
            ".shstrtab",
            ".note.Xen",
            ".xen_prstatus",
            ".xen_shared_info",
            ".xen_pages",
            ".xen_p2m"
        ]
    );
    let at = |n| find(&secs, n).clone();
    let (note, prs, shi, pages, p2m, strtab) = (
        at(".note.Xen"),
        at(".xen_prstatus"),
        at(".xen_shared_info"),
        at(".xen_pages"),
        at(".xen_p2m"),
        at(".shstrtab"),
    );
    assert_eq!((note.offset, note.size, note.sh_type), (512, 1384, 7));
    assert_eq!(
        (prs.offset, prs.size, prs.entsize, prs.addralign),
        (1896, 2 * 5168, 5168, 8)
    );
    assert_eq!(
        (shi.offset, shi.size, shi.entsize, shi.addralign),
        (12232, 4096, 4096, 8)
    );
    assert_eq!(
        (pages.offset, pages.size, pages.entsize, pages.addralign),
        (16384, 6 * 4096, 4096, 4096)
    );
    assert_eq!(
        (p2m.offset, p2m.size, p2m.entsize, p2m.addralign),
        (16384 + 6 * 4096, 96, 16, 8)
    );
    assert_eq!(
        (strtab.sh_type, strtab.offset, strtab.addralign),
        (3, p2m.offset + 96, 0)
    );
    assert_eq!(
        strtab.offset + strtab.size,
        data.len() as u64,
        ".shstrtab ends the file"
    );
    assert_eq!(
        &data[strtab.offset as usize..],
        b"\0.shstrtab\0.note.Xen\0.xen_prstatus\0.xen_shared_info\0.xen_pages\0.xen_p2m\0"
    );
    for s in &secs[1..] {
        assert!(s.sh_type == 1 || s.name == ".shstrtab" || s.name == ".note.Xen");
    }
    // Padding between shared info and pages is zero.
    assert!(data[(12232 + 4096)..16384].iter().all(|b| *b == 0));
    // Shared info copied verbatim.
    assert_eq!(data[12232], 1);
    assert_eq!(u64_at(&data, 12232 + 3088), 0x12);
}

#[test]
fn elf_p2m_is_ascending_and_pages_follow_it() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 1);
    let data = img.write(&DumpOptions::default()).expect("write");
    let secs = sections64(&data);
    let p2m = find(&secs, ".xen_p2m");
    let pages = find(&secs, ".xen_pages");
    let entries: Vec<(u64, u64)> = (0..p2m.size / 16)
        .map(|k| {
            (
                u64_at(&data, p2m.offset + 16 * k),
                u64_at(&data, p2m.offset + 16 * k + 8),
            )
        })
        .collect();
    assert_eq!(entries, SMALL_PAGES);
    for (k, (pfn, mfn)) in SMALL_PAGES.iter().enumerate() {
        let page = pages.offset + k as u64 * 4096;
        assert_eq!(u64_at(&data, page), *pfn, "stamped pfn in page {k}");
        assert_eq!(u64_at(&data, page + 8), *mfn, "stamped mfn in page {k}");
    }
}

#[test]
fn elf_notes_follow_spec() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 2);
    let data = img.write(&DumpOptions::default()).expect("write");
    let n = 512u64;
    // (type, descsz) in order, each header "namesz=4 … Xen\0" (§3.5).
    let expect = [
        (0x200_0000u32, 0u32),
        (0x200_0001, 32),
        (0x200_0002, 1280),
        (0x200_0003, 8),
    ];
    let mut off = n;
    let mut descs = Vec::new();
    for (ty, sz) in expect {
        assert_eq!(u32_at(&data, off), 4, "namesz");
        assert_eq!(u32_at(&data, off + 4), sz, "descsz of {ty:#x}");
        assert_eq!(u32_at(&data, off + 8), ty);
        assert_eq!(&data[(off + 12) as usize..(off + 16) as usize], b"Xen\0");
        descs.push(off + 16);
        off += 16 + u64::from(sz);
    }
    assert_eq!(off, n + 1384);
    let h = descs[1];
    assert_eq!(u64_at(&data, h), 0xF00F_EBED);
    assert_eq!(u64_at(&data, h + 8), 2, "nr_vcpus");
    assert_eq!(u64_at(&data, h + 16), 6, "nr_pages");
    assert_eq!(u64_at(&data, h + 24), 4096, "page_size");
    let v = descs[2];
    assert_eq!(u64_at(&data, v), 4);
    assert_eq!(u64_at(&data, v + 8), 17);
    assert_eq!(cstr_at(&data, v + 16), ".0");
    assert_eq!(cstr_at(&data, v + 32), "gcc (Debian 12.2.0-14) 12.2.0");
    assert_eq!(cstr_at(&data, v + 96), "builder");
    assert_eq!(cstr_at(&data, v + 112), "example.org");
    assert_eq!(cstr_at(&data, v + 144), "Mon Jan  1 00:00:00 UTC 2024");
    assert_eq!(
        cstr_at(&data, v + 176),
        "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64"
    );
    assert!(cstr_at(&data, v + 1200).starts_with("Mon Dec 11"));
    assert_eq!(u64_at(&data, v + 1264), 0xFFFF_8000_0000_0000, "virt_start");
    assert_eq!(
        u64_at(&data, v + 1272),
        4096,
        "pagesize of a 64-bit guest, 64-bit tools"
    );
    assert_eq!(u64_at(&data, descs[3]), 1, "format version 0.1");

    // object's note iterator agrees on the note stream.
    let file = ElfFile::<object::elf::FileHeader64<Endianness>>::parse(&*data).expect("parse");
    let endian = file.endian();
    let table = file.elf_section_table();
    let (_, sh) = table
        .section_by_name(endian, b".note.Xen")
        .expect(".note.Xen");
    let mut notes = sh
        .notes(endian, &*data)
        .expect("notes")
        .expect("is a note section");
    let mut seen = Vec::new();
    while let Some(note) = notes.next().expect("note") {
        assert_eq!(note.name(), b"Xen");
        seen.push((note.n_type(endian), note.desc().len() as u32));
    }
    assert_eq!(seen, expect);
}

#[test]
fn x86_64_context_fields_at_spec_offsets() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 2);
    let data = img.write(&DumpOptions::default()).expect("write");
    let v = busy_vcpu(1);
    let c = 1896 + 5168; // slot 1
    assert_eq!(
        &data[c as usize..c as usize + 512],
        &v.fpu[..],
        "fpu_ctxt @0"
    );
    assert_eq!(u64_at(&data, c + 512), v.flags, "flags @512");
    // §4.3 absolute user_regs offsets.
    for (off, value) in [
        (520, v.gprs.r15),
        (528, v.gprs.r14),
        (536, v.gprs.r13),
        (544, v.gprs.r12),
        (552, v.gprs.rbp),
        (560, v.gprs.rbx),
        (568, v.gprs.r11),
        (576, v.gprs.r10),
        (584, v.gprs.r9),
        (592, v.gprs.r8),
        (600, v.gprs.rax),
        (608, v.gprs.rcx),
        (616, v.gprs.rdx),
        (624, v.gprs.rsi),
        (632, v.gprs.rdi),
        (648, v.rip),
        (664, v.rflags),
        (672, v.gprs.rsp),
        (4816, v.ldt_base),
        (4824, v.ldt_ents),
        (4832, v.gdt_frames[0]),
        (4952, v.gdt_frames[15]),
        (4960, v.gdt_ents),
        (4968, v.kernel_ss),
        (4976, v.kernel_sp),
        (4984, v.ctrlreg[0]),
        (4992, v.ctrlreg[1]),
        (5008, v.ctrlreg[3]),
        (5040, v.ctrlreg[7]),
        (5048, v.debugreg[0]),
        (5096, v.debugreg[6]),
        (5104, v.debugreg[7]),
        (5112, v.event_callback_eip),
        (5120, v.failsafe_callback_eip),
        (5128, v.syscall_callback_eip),
        (5136, v.vm_assist),
        (5144, v.fs_base),
        (5152, v.gs_base_kernel),
        (5160, v.gs_base_user),
    ] {
        assert_eq!(u64_at(&data, c + off), value, "u64 @{off}");
    }
    assert_eq!(u32_at(&data, c + 640), v.error_code, "error_code @640");
    assert_eq!(u32_at(&data, c + 644), v.entry_vector, "entry_vector @644");
    assert_eq!(data[(c + 660) as usize], 0xA5, "saved_upcall_mask @660");
    for (off, sel) in [
        (656, 0xe033),
        (680, 0xe02b),
        (688, 0x7b),
        (696, 0x7b),
        (704, 0x63),
        (712, 0x6b),
    ] {
        assert_eq!(u16_at(&data, c + off), sel, "selector @{off}");
        assert_eq!(u16_at(&data, c + off + 2), 0, "pad after selector @{off}");
    }
    // trap_ctxt is zero.
    assert!(data[(c + 720) as usize..(c + 4816) as usize]
        .iter()
        .all(|b| *b == 0));
}

#[test]
fn pv32_on_64bit_tools_uses_compat_layout_in_any_slot() {
    let mut img = small_guest(GuestKind::Pv, Width::Bits32, 1);
    img.vcpus[0].ctrlreg[3] = pv32_cr3(MachineFrame(0x1002));
    let data = img.write(&DumpOptions::elf(Width::Bits64)).expect("write");
    assert_eq!(u16_at(&data, 18), 3, "EM_386: PV guest width (≥ 3.4)");
    let secs = sections64(&data);
    let prs = find(&secs, ".xen_prstatus");
    assert_eq!((prs.entsize, prs.size), (5168, 5168));
    let c = prs.offset;
    let v = &img.vcpus[0];
    // §4.4 absolute offsets, 32-bit values.
    assert_eq!(u32_at(&data, c + 512), v.flags as u32, "flags @512");
    for (off, value) in [
        (516, v.gprs.rbx),
        (520, v.gprs.rcx),
        (524, v.gprs.rdx),
        (528, v.gprs.rsi),
        (532, v.gprs.rdi),
        (536, v.gprs.rbp),
        (540, v.gprs.rax),
        (548, v.rip),
        (556, v.rflags),
        (560, v.gprs.rsp),
        (2632, v.ldt_base),
        (2636, v.ldt_ents),
        (2640, v.gdt_frames[0]),
        (2704, v.gdt_ents),
        (2708, v.kernel_ss),
        (2712, v.kernel_sp),
        (2716, v.ctrlreg[0]),
        (2728, v.ctrlreg[3]),
        (2748, v.debugreg[0]),
        (2772, v.debugreg[6]),
        (2776, v.debugreg[7]),
        (2780, v.event_callback_cs),
        (2784, v.event_callback_eip),
        (2788, v.failsafe_callback_cs),
        (2792, v.failsafe_callback_eip),
        (2796, v.vm_assist),
    ] {
        assert_eq!(
            u64::from(u32_at(&data, c + off)),
            value & 0xFFFF_FFFF,
            "u32 @{off}"
        );
    }
    assert_eq!(u16_at(&data, c + 544), 0x5678, "error_code @544 (u16)");
    assert_eq!(u16_at(&data, c + 546), 0xdef0, "entry_vector @546 (u16)");
    assert_eq!(data[(c + 554) as usize], 0xA5, "saved_upcall_mask @554");
    for (off, sel) in [
        (552, 0xe033),
        (564, 0xe02b),
        (568, 0x7b),
        (572, 0x7b),
        (576, 0x63),
        (580, 0x6b),
    ] {
        assert_eq!(u16_at(&data, c + off), sel, "selector @{off}");
    }
    // 0x1002 << 12 = 0x0100_2000, 0x1002 >> 20 = 0.
    assert_eq!(u32_at(&data, c + 2728), 0x0100_2000);
    assert!(
        data[(c + 2800) as usize..(c + 5168) as usize]
            .iter()
            .all(|b| *b == 0),
        "rest of slot zero"
    );

    // XEN_VERSION: descsz stays 1280, pagesize moved to 1268 (§3.5).
    let v = 512 + 16 + 48 + 16;
    assert_eq!(u32_at(&data, 512 + 16 + 48 + 4), 1280);
    assert_eq!(u64_at(&data, v + 1268), 4096);
    assert_eq!(
        u32_at(&data, v + 1264),
        0,
        "low half of virt_start 0xFFFF800000000000"
    );
    assert_eq!(u64_at(&data, v + 1272), 0, "1272 no longer holds pagesize");
}

#[test]
fn thirty_two_bit_tools_shrink_the_xen_version_note() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 1);
    let data = img.write(&DumpOptions::elf(Width::Bits32)).expect("write");
    assert_eq!(u16_at(&data, 18), 62, "guest width decides for PV");
    let secs = sections64(&data);
    let note = find(&secs, ".note.Xen");
    assert_eq!(note.size, 1380);
    assert_eq!(
        u32_at(&data, note.offset + 64 + 4),
        1276,
        "XEN_VERSION descsz"
    );
    let v = note.offset + 64 + 16;
    assert_eq!(u32_at(&data, v + 1264), 0xF580_0000, "4-byte virt_start");
    assert_eq!(u64_at(&data, v + 1268), 4096, "pagesize @1268");
    assert_eq!(
        u64_at(&data, note.offset + 64 + 16 + 1276 + 16),
        1,
        "format version follows"
    );
    let prs = find(&secs, ".xen_prstatus");
    assert_eq!(
        (prs.entsize, prs.addralign),
        (5168, 8),
        "≥ 4.0: any_t slot on 32-bit tools"
    );
    assert_eq!(
        find(&secs, ".xen_p2m").addralign,
        4,
        "i386 alignment of the p2m struct"
    );
    assert_eq!(find(&secs, ".xen_pages").offset % 4096, 0);
}

#[test]
fn hvm_uses_pfn_table_tools_machine_and_invalid_tail() {
    let mut img = small_guest(GuestKind::Hvm, Width::Bits32, 1);
    img.shared_info = None;
    let opts = DumpOptions {
        format: Layout::Elf(ElfOptions {
            invalid_tail: 3,
            ..ElfOptions::default()
        }),
        tools: Width::Bits64,
    };
    let data = img.write(&opts).expect("write");
    assert_eq!(u16_at(&data, 18), 62, "HVM: tools width");
    assert_eq!(u16_at(&data, 60), 6, "no shared info section");
    let secs = sections64(&data);
    assert_eq!(
        names(&secs),
        [
            "",
            ".shstrtab",
            ".note.Xen",
            ".xen_prstatus",
            ".xen_pages",
            ".xen_pfn"
        ]
    );
    let pfn = find(&secs, ".xen_pfn");
    assert_eq!((pfn.size, pfn.entsize, pfn.addralign), (9 * 8, 8, 8));
    let table: Vec<u64> = (0..9).map(|k| u64_at(&data, pfn.offset + 8 * k)).collect();
    assert_eq!(
        table,
        [0, 1, 2, 3, 0x10, 0x11, u64::MAX, u64::MAX, u64::MAX]
    );
    let pages = find(&secs, ".xen_pages");
    assert_eq!(pages.size, 9 * 4096);
    let tail = (pages.offset + 6 * 4096) as usize..(pages.offset + 9 * 4096) as usize;
    assert!(data[tail].iter().all(|b| *b == 0), "tail pages are zero");
    // Header note: HVM magic, nr_pages counts the tail.
    let h = 448 + 16 + 16; // 6 headers: notes at 64 + 6*64 = 448
    assert_eq!(find(&secs, ".note.Xen").offset, 448);
    assert_eq!(u64_at(&data, h), 0xF00F_EBEE);
    assert_eq!(u64_at(&data, h + 16), 9);
    // HVM contexts are in the hypervisor's (x86_64) layout even for a 32-bit guest.
    let c = find(&secs, ".xen_prstatus").offset;
    assert_eq!(u64_at(&data, c + 648), img.vcpus[0].rip);
    assert_eq!(img.context_layout(), ContextLayout::X86_64);

    // 32-bit tools: e_machine follows the tools even for a 64-bit-hypervisor HVM guest.
    let data32 = img.write(&DumpOptions::elf(Width::Bits32)).expect("write");
    assert_eq!(u16_at(&data32, 18), 3);
}

#[test]
fn hvm_shared_info_written_when_given() {
    let img = small_guest(GuestKind::Hvm, Width::Bits64, 1);
    let data = img.write(&DumpOptions::default()).expect("write");
    let secs = sections64(&data);
    assert_eq!(find(&secs, ".xen_shared_info").size, 4096);
    // And PV without a page still gets one (zeros), unless switched off.
    let mut pv = small_guest(GuestKind::Pv, Width::Bits64, 1);
    pv.shared_info = None;
    let data = pv.write(&DumpOptions::default()).expect("write");
    let secs = sections64(&data);
    let shi = find(&secs, ".xen_shared_info");
    assert!(data[shi.offset as usize..(shi.offset + 4096) as usize]
        .iter()
        .all(|b| *b == 0));
    let off = DumpOptions {
        format: Layout::Elf(ElfOptions {
            shared_info: false,
            ..ElfOptions::default()
        }),
        tools: Width::Bits64,
    };
    let data = pv.write(&off).expect("write");
    assert!(!names(&sections64(&data)).contains(&".xen_shared_info"));
}

// ---------------------------------------------------------------- ELF, older writers

#[test]
fn xen_3_1_order_puts_p2m_before_pages() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 1);
    let data = img
        .write(&DumpOptions::elf_3_1(Width::Bits64))
        .expect("write");
    let secs = sections64(&data);
    assert_eq!(
        names(&secs),
        [
            "",
            ".shstrtab",
            ".note.Xen",
            ".xen_prstatus",
            ".xen_shared_info",
            ".xen_p2m",
            ".xen_pages"
        ]
    );
    // 64 + 7*64 = 512; +1384 = 1896; +5168 = 7064; +4096 = 11160 (p2m, 96 B) → pad → 12288.
    assert_eq!(find(&secs, ".xen_prstatus").offset, 1896);
    assert_eq!(find(&secs, ".xen_shared_info").offset, 7064);
    assert_eq!(find(&secs, ".xen_p2m").offset, 11160);
    assert_eq!(find(&secs, ".xen_pages").offset, 12288);
    let strtab = find(&secs, ".shstrtab");
    assert_eq!(strtab.offset, 12288 + 6 * 4096);
    assert_eq!(
        &data[strtab.offset as usize..],
        b"\0.shstrtab\0.note.Xen\0.xen_prstatus\0.xen_shared_info\0.xen_p2m\0.xen_pages\0"
    );
    assert_eq!(
        u64_at(&data, 11160 + 16 * 4 + 8),
        0x500,
        "p2m entry 4 = (0x10, 0x500)"
    );
    assert_eq!(u64_at(&data, 12288 + 4 * 4096), 0x10, "page 4 is pfn 0x10");
}

#[test]
fn xen_3_1_32bit_guests() {
    // 64-bit tools: e_machine is the tools', pagesize not moved.
    let img = small_guest(GuestKind::Pv, Width::Bits32, 1);
    let data = img
        .write(&DumpOptions::elf_3_1(Width::Bits64))
        .expect("write");
    assert_eq!(u16_at(&data, 18), 62);
    let v = 512 + 16 + 48 + 16;
    assert_eq!(u64_at(&data, v + 1272), 4096);
    assert_eq!(find(&sections64(&data), ".xen_prstatus").entsize, 5168);
    // 32-bit tools: tools-native 2800-byte slots, i386 alignment.
    let data = img
        .write(&DumpOptions::elf_3_1(Width::Bits32))
        .expect("write");
    assert_eq!(u16_at(&data, 18), 3);
    let secs = sections64(&data);
    let prs = find(&secs, ".xen_prstatus");
    assert_eq!((prs.entsize, prs.size, prs.addralign), (2800, 2800, 4));
    assert_eq!(find(&secs, ".xen_shared_info").addralign, 4);
    assert_eq!(
        u32_at(&data, prs.offset + 548),
        img.vcpus[0].rip as u32,
        "eip @548"
    );
}

#[test]
fn class32_headers() {
    let img = small_guest(GuestKind::Pv, Width::Bits32, 1);
    let opts = DumpOptions {
        format: Layout::Elf(ElfOptions::class32_2007()),
        tools: Width::Bits32,
    };
    let data = img.write(&opts).expect("write");
    assert_eq!(data[4], 1, "ELFCLASS32");
    assert_eq!(u32_at(&data, 32), 52, "e_shoff");
    assert_eq!(u16_at(&data, 40), 52, "e_ehsize");
    assert_eq!(u16_at(&data, 42), 32, "e_phentsize");
    assert_eq!(u16_at(&data, 46), 40, "e_shentsize");
    assert_eq!(u16_at(&data, 48), 7, "e_shnum");
    let secs = parse_sections::<object::elf::FileHeader32<Endianness>>(&data);
    // 52 + 7*40 = 332.
    assert_eq!(find(&secs, ".note.Xen").offset, 332);
    assert_eq!(find(&secs, ".note.Xen").size, 1380);
    assert_eq!(find(&secs, ".xen_prstatus").offset, 332 + 1380);
    assert_eq!(find(&secs, ".xen_pages").offset % 4096, 0);
    assert_eq!(secs[5].name, ".xen_p2m");
}

// ---------------------------------------------------------------- legacy

#[test]
fn legacy_pv64_header_index_and_pages() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 2);
    let data = img
        .write(&DumpOptions::legacy(Width::Bits64))
        .expect("write");
    // §2.1: 24 + 2*5168 = 10360; index 6*8 = 48 → 10408 → round up 12288.
    assert_eq!(u32_at(&data, 0), 0xF00F_EBED);
    assert_eq!(u32_at(&data, 4), 2);
    assert_eq!(u32_at(&data, 8), 6);
    assert_eq!(u32_at(&data, 12), 24);
    assert_eq!(u32_at(&data, 16), 10360);
    assert_eq!(u32_at(&data, 20), 12288);
    assert_eq!(data.len(), 12288 + 6 * 4096);
    assert_eq!(
        u64_at(&data, 24 + 5168 + 648),
        busy_vcpu(1).rip,
        "rip of context 1"
    );
    assert_eq!(
        u64_at(&data, 24 + 5008),
        busy_vcpu(0).ctrlreg[3],
        "cr3 @5008"
    );
    let index: Vec<u64> = (0..6).map(|k| u64_at(&data, 10360 + 8 * k)).collect();
    assert_eq!(index, [0x1000, 0x1001, 0x1002, 0x1003, 0x500, 0x501]);
    assert!(data[10408..12288].iter().all(|b| *b == 0), "zero padding");
    for (k, (pfn, mfn)) in SMALL_PAGES.iter().enumerate() {
        assert_eq!(u64_at(&data, 12288 + 4096 * k as u64), *pfn);
        assert_eq!(u64_at(&data, 12288 + 4096 * k as u64 + 8), *mfn);
    }
}

#[test]
fn legacy_pv32_uses_4_byte_index_and_2800_byte_contexts() {
    let img = small_guest(GuestKind::Pv, Width::Bits32, 3);
    let data = img
        .write(&DumpOptions::legacy(Width::Bits32))
        .expect("write");
    // 24 + 3*2800 = 8424; + 6*4 = 8448 → 12288.
    assert_eq!(u32_at(&data, 16), 8424);
    assert_eq!(u32_at(&data, 20), 12288);
    let index: Vec<u32> = (0..6).map(|k| u32_at(&data, 8424 + 4 * k)).collect();
    assert_eq!(index, [0x1000, 0x1001, 0x1002, 0x1003, 0x500, 0x501]);
    assert_eq!(
        u32_at(&data, 24 + 2 * 2800 + 548),
        busy_vcpu(2).rip as u32,
        "eip @548"
    );
    assert_eq!(
        u32_at(&data, 24 + 2728),
        busy_vcpu(0).ctrlreg[3] as u32,
        "cr3 @2728"
    );
}

#[test]
fn legacy_page_order_magic_and_tail() {
    let img = small_guest(GuestKind::Hvm, Width::Bits64, 1);
    let order = vec![
        GuestFrame(0x11),
        GuestFrame(2),
        GuestFrame(0),
        GuestFrame(0x10),
        GuestFrame(3),
        GuestFrame(1),
    ];
    let opts = DumpOptions {
        format: Layout::Legacy(LegacyOptions {
            page_order: Some(order.clone()),
            invalid_tail: 2,
            ..LegacyOptions::default()
        }),
        tools: Width::Bits64,
    };
    let data = img.write(&opts).expect("write");
    assert_eq!(u32_at(&data, 0), 0xF00F_EBEE, "HVM magic (3.0.4)");
    assert_eq!(u32_at(&data, 8), 8, "nr_pages includes the tail");
    let index_off = u64::from(u32_at(&data, 16));
    let pages_off = u64::from(u32_at(&data, 20));
    let index: Vec<u64> = (0..8).map(|k| u64_at(&data, index_off + 8 * k)).collect();
    assert_eq!(
        index,
        [
            0x501,
            0x1002,
            0x1000,
            0x500,
            0x1003,
            0x1001,
            u64::MAX,
            u64::MAX
        ]
    );
    for (k, pfn) in order.iter().enumerate() {
        assert_eq!(
            u64_at(&data, pages_off + 4096 * k as u64),
            pfn.0,
            "page {k}"
        );
    }
    assert_eq!(
        data.len() as u64,
        pages_off + 8 * 4096,
        "trailing zero pages are materialised"
    );

    let ed = DumpOptions {
        format: Layout::Legacy(LegacyOptions {
            magic: Some(0xF00F_EBED),
            index_width: Some(4),
            ..LegacyOptions::default()
        }),
        tools: Width::Bits64,
    };
    let data = img.write(&ed).expect("write");
    assert_eq!(u32_at(&data, 0), 0xF00F_EBED);
    assert_eq!(
        u32_at(&data, 24 + 5168 + 4 * 4),
        0x500,
        "4-byte entries despite 5168 contexts"
    );
}

// ---------------------------------------------------------------- model helpers

#[test]
fn cr3_encodings() {
    assert_eq!(pv64_cr3(MachineFrame(0x12_3456)), 0x1_2345_6000);
    // Rotate left by 12 within 32 bits: 0x12345678 → 0x45678123 (§5).
    assert_eq!(pv32_cr3(MachineFrame(0x1234_5678)), 0x4567_8123);
    // Frames below 2^20 encode as plain machine addresses.
    assert_eq!(pv32_cr3(MachineFrame(0xABCDE)), 0xABCD_E000);
    // xen_cr3_to_pfn inverts it.
    let c = pv32_cr3(MachineFrame(0x00F0_0001)) as u32;
    assert_eq!(c.rotate_right(12), 0x00F0_0001);
}

#[test]
fn to_state_truncates_for_x86_32() {
    let v = busy_vcpu(0);
    let s64 = v.to_state(3, ContextLayout::X86_64, GuestKind::Pv);
    assert_eq!(s64.slot, 3);
    assert_eq!(s64.gprs, v.gprs);
    assert_eq!(s64.rip, 0x1111_0000_0000_0011);
    assert_eq!(s64.fs_base, Some(v.fs_base));
    assert_eq!(s64.gs_base_user, Some(v.gs_base_user));
    assert!(s64.kernel_mode());
    assert_eq!(s64.fpu.map(|f| f.0[1]), Some(1 ^ 0x5A));

    let s32 = v.to_state(0, ContextLayout::X86_32, GuestKind::Pv);
    assert_eq!(s32.rip, 0x11);
    assert_eq!(s32.gprs.rax, 1);
    assert_eq!(s32.gprs.r8, 0);
    assert_eq!(s32.gprs.r15, 0);
    assert_eq!(s32.ctrlreg[3], 23);
    assert_eq!(s32.fs_base, None);
    assert_eq!(s32.gs_base_kernel, None);
    assert_eq!(s32.selectors.cs, 0xe033);

    let mut no_fpu = v.clone();
    no_fpu.flags &= !VGCF_I387_VALID;
    assert!(no_fpu
        .to_state(0, ContextLayout::X86_64, GuestKind::Hvm)
        .fpu
        .is_none());
}

#[test]
fn expected_states_use_the_dump_layout() {
    let img = small_guest(GuestKind::Pv, Width::Bits32, 2);
    let states = img.expected_states();
    assert_eq!(states.len(), 2);
    assert_eq!(states[1].slot, 1);
    assert_eq!(states[1].layout, ContextLayout::X86_32);
    assert_eq!(states[1].rip, busy_vcpu(1).rip & 0xFFFF_FFFF);
    let mut hvm = small_guest(GuestKind::Hvm, Width::Bits32, 1);
    assert_eq!(hvm.expected_states()[0].layout, ContextLayout::X86_64);
    hvm.set_hypervisor(Width::Bits32);
    assert_eq!(hvm.expected_states()[0].layout, ContextLayout::X86_32);
    assert!(!hvm.xen.capabilities.contains("x86_64"));
}

#[test]
fn frame_map_helpers() {
    let img = small_guest(GuestKind::Pv, Width::Bits64, 0);
    assert_eq!(img.page_count(), 6);
    let pfns: Vec<u64> = img.populated_pfns().map(|p| p.0).collect();
    assert_eq!(pfns, [0, 1, 2, 3, 0x10, 0x11]);
    assert_eq!(img.pfn_to_mfn(GuestFrame(3)), Some(MachineFrame(0x1003)));
    assert_eq!(img.pfn_to_mfn(GuestFrame(0x11)), Some(MachineFrame(0x501)));
    assert_eq!(img.pfn_to_mfn(GuestFrame(4)), None);
    assert_eq!(img.pfn_to_mfn(GuestFrame(0x12)), None);
    assert_eq!(img.mfn_to_pfn(MachineFrame(0x500)), Some(GuestFrame(0x10)));
    assert_eq!(img.mfn_to_pfn(MachineFrame(0x502)), None);
}

#[test]
fn write_phys_spans_pages() {
    let mut img = GuestImage::new(GuestKind::Hvm, Width::Bits64);
    img.add_run(GuestFrame(7), MachineFrame(7), 2).expect("run");
    img.write_phys(PhysAddr(7 * 4096 + 4094), &[1, 2, 3, 4])
        .expect("write");
    assert_eq!(&img.page(GuestFrame(7)).expect("page 7")[4094..], &[1, 2]);
    assert_eq!(&img.page(GuestFrame(8)).expect("page 8")[..3], &[3, 4, 0]);
    assert!(matches!(
        img.write_bytes(GuestFrame(8), 4095, &[9, 9]),
        Err(BuildError::NotPopulated {
            pfn: GuestFrame(9),
            ..
        })
    ));
}

#[test]
fn description_errors() {
    let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
    img.add_run(GuestFrame(0), MachineFrame(100), 10)
        .expect("run");
    assert!(matches!(
        img.add_run(GuestFrame(9), MachineFrame(500), 1),
        Err(BuildError::OverlappingPfns { .. })
    ));
    assert!(matches!(
        img.add_run(GuestFrame(50), MachineFrame(95), 6),
        Err(BuildError::OverlappingMfns { .. })
    ));
    assert!(matches!(
        img.add_run(GuestFrame(50), MachineFrame(0), 0),
        Err(BuildError::BadRun { .. })
    ));
    assert!(matches!(
        img.add_run(GuestFrame((1 << 52) - 1), MachineFrame(0), 2),
        Err(BuildError::BadRun { .. })
    ));
    img.push_vcpu(VcpuImage::online());

    let slot_too_small = DumpOptions {
        format: Layout::Elf(ElfOptions {
            context_slot: Some(2800),
            ..ElfOptions::default()
        }),
        tools: Width::Bits64,
    };
    assert!(matches!(
        img.write(&slot_too_small),
        Err(BuildError::ContextSlotTooSmall {
            needed: 5168,
            slot: 2800,
            ..
        })
    ));
    let legacy = |o: LegacyOptions| DumpOptions {
        format: Layout::Legacy(o),
        tools: Width::Bits64,
    };
    assert!(matches!(
        img.write(&legacy(LegacyOptions {
            index_width: Some(2),
            ..Default::default()
        })),
        Err(BuildError::BadIndexWidth(2))
    ));
    assert!(matches!(
        img.write(&legacy(LegacyOptions {
            page_order: Some(vec![GuestFrame(1), GuestFrame(10)]),
            ..Default::default()
        })),
        Err(BuildError::PageOrderUnpopulated {
            position: 1,
            pfn: GuestFrame(10)
        })
    ));
    let mut high = GuestImage::new(GuestKind::Pv, Width::Bits64);
    high.add_run(GuestFrame(0), MachineFrame(1 << 32), 1)
        .expect("run");
    assert!(matches!(
        high.write(&legacy(LegacyOptions {
            index_width: Some(4),
            ..Default::default()
        })),
        Err(BuildError::FieldOverflow { bits: 32, .. })
    ));
    img.xen.extra = "x".repeat(17);
    assert!(matches!(
        img.write(&DumpOptions::default()),
        Err(BuildError::StringTooLong {
            field: "extra_version",
            len: 17,
            max: 16
        })
    ));
}

// ---------------------------------------------------------------- output paths

#[test]
fn write_write_to_and_write_file_agree() {
    let mut img = small_guest(GuestKind::Pv, Width::Bits64, 1);
    // Make the last pages zero so the legacy file ends in a hole.
    img.contents.remove(&GuestFrame(0x11));
    img.contents.remove(&GuestFrame(0x10));
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, opts) in all_variants(GuestKind::Pv, Width::Bits64) {
        let in_memory = img.write(&opts).expect("write");
        let path = dir.path().join(&name);
        let layout = img.write_file(&path, &opts).expect("write_file");
        let on_disk = std::fs::read(&path).expect("read back");
        assert_eq!(on_disk.len() as u64, layout.file_size, "{name}");
        assert_eq!(in_memory, on_disk, "{name}");
        assert_eq!(img.layout(&opts).expect("layout"), layout, "{name}");
    }
}

#[test]
fn all_variants_cover_the_formats() {
    for (kind, width) in [
        (GuestKind::Pv, Width::Bits64),
        (GuestKind::Pv, Width::Bits32),
        (GuestKind::Hvm, Width::Bits64),
        (GuestKind::Hvm, Width::Bits32),
    ] {
        let variants = all_variants(kind, width);
        let mut names: Vec<&str> = variants.iter().map(|(n, _)| n.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), variants.len(), "unique names");
        let img = small_guest(kind, width, 2);
        let (mut elf, mut legacy) = (0, 0);
        for (name, opts) in &variants {
            let data = img.write(opts).expect(name);
            match &opts.format {
                Layout::Elf(_) => {
                    elf += 1;
                    assert_eq!(&data[..4], b"\x7FELF", "{name}");
                    let secs = sections64(&data);
                    let table = if kind == GuestKind::Pv {
                        ".xen_p2m"
                    } else {
                        ".xen_pfn"
                    };
                    assert_eq!(
                        find(&secs, table).size / find(&secs, table).entsize,
                        6,
                        "{name}"
                    );
                }
                Layout::Legacy(_) => {
                    legacy += 1;
                    // HVM: 0xF00FEBEE from Xen 3.0.4, 0xF00FEBED + VGCF_HVM_GUEST before.
                    let magic = if kind == GuestKind::Pv || name.starts_with("legacy-ed") {
                        0xF00F_EBED
                    } else {
                        0xF00F_EBEE
                    };
                    assert_eq!(u32_at(&data, 0), magic, "{name}");
                    let flags = u32_at(&data, 24 + 512);
                    assert_eq!(
                        flags & 2 != 0,
                        kind == GuestKind::Hvm && magic == 0xF00F_EBED,
                        "{name}: VGCF_HVM_GUEST"
                    );
                }
            }
        }
        let legacy_want = if kind == GuestKind::Hvm { 2 } else { 1 };
        assert!(
            elf >= 3 && legacy == legacy_want,
            "{kind:?}/{width:?}: {names:?}"
        );
    }
    assert_eq!(all_variants(GuestKind::Pv, Width::Bits32).len(), 5);
}

#[test]
fn large_guest_is_written_sparse() {
    use std::os::unix::fs::MetadataExt;
    // 4 GiB of guest memory: 1M pages, two of them non-zero.
    let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
    img.add_run(GuestFrame(0), MachineFrame(0x10_0000), 1 << 20)
        .expect("run");
    img.write_u64(GuestFrame(0x12345), 16, 0xDEAD_BEEF_0BAD_F00D)
        .expect("poke");
    img.write_u64(GuestFrame(0xFFFFF), 0, 0x5555).expect("poke");
    img.push_vcpu(VcpuImage::online());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.core");
    let layout = img
        .write_file(&path, &DumpOptions::default())
        .expect("write");

    let meta = std::fs::metadata(&path).expect("stat");
    let pages = layout.region(".xen_pages").expect("pages").clone();
    assert_eq!(pages.size, 4 << 30);
    assert_eq!(meta.len(), layout.file_size);
    assert_eq!(
        layout.file_size,
        pages.offset + (4 << 30) + 16 * (1 << 20) + 72
    );
    // Allocated: headers + two pages + the 16 MiB p2m, far below 4 GiB.
    let allocated = meta.blocks() * 512;
    assert!(allocated < 64 << 20, "allocated {allocated} bytes");

    let mut f = std::fs::File::open(&path).expect("open");
    let mut word = [0u8; 8];
    f.seek(SeekFrom::Start(pages.offset + 0x12345 * PAGE_SIZE + 16))
        .expect("seek");
    f.read_exact(&mut word).expect("read");
    assert_eq!(u64::from_le_bytes(word), 0xDEAD_BEEF_0BAD_F00D);
    f.seek(SeekFrom::Start(pages.offset + 0xFFFFF * PAGE_SIZE))
        .expect("seek");
    f.read_exact(&mut word).expect("read");
    assert_eq!(u64::from_le_bytes(word), 0x5555);
    f.seek(SeekFrom::Start(pages.offset + 0x12344 * PAGE_SIZE))
        .expect("seek");
    f.read_exact(&mut word).expect("read");
    assert_eq!(u64::from_le_bytes(word), 0, "holes read as zero");
    // Last p2m entry: (0xFFFFF, 0x1FFFFF).
    let p2m = layout.region(".xen_p2m").expect("p2m");
    f.seek(SeekFrom::Start(p2m.offset + p2m.size - 16))
        .expect("seek");
    let mut entry = [0u8; 16];
    f.read_exact(&mut entry).expect("read");
    assert_eq!(
        u64::from_le_bytes(entry[..8].try_into().expect("8")),
        0xFFFFF
    );
    assert_eq!(
        u64::from_le_bytes(entry[8..].try_into().expect("8")),
        0x1F_FFFF
    );
}

#[test]
#[ignore = "writes a 64 GiB sparse file (~256 MiB allocated); run by hand"]
fn huge_guest_64gib_is_written_sparse() {
    use std::os::unix::fs::MetadataExt;
    let mut img = GuestImage::new(GuestKind::Pv, Width::Bits64);
    img.add_run(GuestFrame(0), MachineFrame(0x40_0000), 16 << 20)
        .expect("run");
    img.write_u64(GuestFrame(0xFF_FFFF), 0, 1).expect("poke");
    img.push_vcpu(VcpuImage::online());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.core");
    let start = std::time::Instant::now();
    let layout = img
        .write_file(&path, &DumpOptions::default())
        .expect("write");
    // How long it took is for reading, not asserting: speed is the benchmarks' business.
    eprintln!("64 GiB guest written in {:?}", start.elapsed());
    let meta = std::fs::metadata(&path).expect("stat");
    assert_eq!(meta.len(), layout.file_size);
    assert!(meta.len() > 64 << 30);
    assert!(
        meta.blocks() * 512 < 300 << 20,
        "allocated {}",
        meta.blocks() * 512
    );
}
