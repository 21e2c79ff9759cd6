//! The ELF writer (Xen ≥ 3.1), imitating `xc_domain_dumpcore_via_callback` (§3).

use std::io::{Seek, Write};

use super::error::BuildError;
use super::image::{DumpLayout, GuestImage, Region, XenVersionImage};
use super::options::ElfOptions;
use super::sparse::SparseWriter;
use crate::addr::PAGE_SIZE;
use crate::dump::{ContextLayout, GuestKind, Width, XC_CORE_MAGIC, XC_CORE_MAGIC_HVM};

const EM_386: u16 = 3;
const EM_X86_64: u16 = 62;
const SHT_PROGBITS: u32 = 1;
const SHT_STRTAB: u32 = 3;
const SHT_NOTE: u32 = 7;

const XEN_ELFNOTE_DUMPCORE_NONE: u32 = 0x200_0000;
const XEN_ELFNOTE_DUMPCORE_HEADER: u32 = 0x200_0001;
const XEN_ELFNOTE_DUMPCORE_XEN_VERSION: u32 = 0x200_0002;
const XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION: u32 = 0x200_0003;
/// Note header: namesz, descsz, type, "Xen\0".
const NOTE_HEADER_SIZE: u64 = 16;
const HEADER_DESC_SIZE: u64 = 32;
const FORMAT_VERSION_DESC_SIZE: u64 = 8;
/// Offset of `platform_parameters.virt_start` in the XEN_VERSION descriptor.
const VIRT_START_OFFSET: usize = 1264;

/// `~0`: invalid pfn / gmfn in `.xen_p2m` / `.xen_pfn`.
const INVALID: u64 = u64::MAX;

/// One section as it will appear in the section header table.
struct Section {
    name: &'static str,
    sh_type: u32,
    name_index: u32,
    offset: u64,
    size: u64,
    addralign: u64,
    entsize: u64,
}

/// Everything decided before the first byte is written.
pub(super) struct ElfPlan {
    pub(super) layout: DumpLayout,
    /// Section headers in table order (index 0 is the null section).
    sections: Vec<Section>,
    shstrtab: Vec<u8>,
    class32: bool,
    e_machine: u16,
    context_layout: ContextLayout,
    shared_info: bool,
    /// `.xen_pages` padding start.
    pad_before_pages: u64,
    xen_version_size: u64,
    pagesize_moved: bool,
}

fn native_context_size(tools: Width) -> u64 {
    match tools {
        Width::Bits64 => ContextLayout::X86_64.size(),
        Width::Bits32 => ContextLayout::X86_32.size(),
    }
}

fn machine_of(width: Width) -> u16 {
    match width {
        Width::Bits64 => EM_X86_64,
        Width::Bits32 => EM_386,
    }
}

/// Size of `xen_dumpcore_elfnote_xen_version_desc` as compiled for the tools:
/// `xen_ulong_t virt_start` and the i386 4-byte alignment of `uint64_t pagesize`.
fn xen_version_size(tools: Width) -> u64 {
    match tools {
        Width::Bits64 => 1280,
        Width::Bits32 => 1276,
    }
}

fn round_up_page(x: u64) -> u64 {
    x.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

pub(super) fn plan(
    image: &GuestImage,
    tools: Width,
    opts: &ElfOptions,
) -> Result<ElfPlan, BuildError> {
    let era_3_1 = opts.p2m_before_pages;
    let is_pv = image.kind == GuestKind::Pv;
    let nr_vcpus = image.vcpus.len() as u64;
    let nr_pages = image.page_count() + opts.invalid_tail;
    let context_layout = image.context_layout();
    let slot = opts.context_slot.unwrap_or(if era_3_1 {
        native_context_size(tools)
    } else {
        // vcpu_guest_context_any_t since 4.0, whatever the tools width.
        ContextLayout::X86_64.size()
    });
    if slot < context_layout.size() {
        return Err(BuildError::ContextSlotTooSmall {
            layout: context_layout,
            needed: context_layout.size(),
            slot,
        });
    }
    let e_machine = opts.e_machine.unwrap_or(if era_3_1 || !is_pv {
        machine_of(tools)
    } else {
        machine_of(image.width)
    });
    let shared_info = opts.shared_info && (is_pv || image.shared_info.is_some());
    let pagesize_moved = opts
        .pagesize_moved
        .unwrap_or(!era_3_1 && is_pv && image.width == Width::Bits32 && tools == Width::Bits64);

    // __alignof__ of the written C types; i386 aligns structs of uint64_t to 4, and
    // before 4.0 the context and shared-info types were the tools-native ones.
    let narrow_tools = tools == Width::Bits32;
    let native_align = if narrow_tools { 4 } else { 8 };
    let era_align = if era_3_1 { native_align } else { 8 };
    let xen_version_size = xen_version_size(tools);
    let note_size =
        4 * NOTE_HEADER_SIZE + HEADER_DESC_SIZE + xen_version_size + FORMAT_VERSION_DESC_SIZE;
    let (table_name, table_entsize, table_align) = if is_pv {
        (".xen_p2m", 16, native_align)
    } else {
        (".xen_pfn", 8, 8)
    };

    let section = |name, sh_type, size, addralign, entsize| Section {
        name,
        sh_type,
        name_index: 0,
        offset: 0,
        size,
        addralign,
        entsize,
    };
    let mut sections = vec![
        section("", 0, 0, 0, 0),
        section(".shstrtab", SHT_STRTAB, 0, 0, 0),
        section(".note.Xen", SHT_NOTE, note_size, 0, 0),
        section(
            ".xen_prstatus",
            SHT_PROGBITS,
            nr_vcpus * slot,
            era_align,
            slot,
        ),
    ];
    if shared_info {
        sections.push(section(
            ".xen_shared_info",
            SHT_PROGBITS,
            PAGE_SIZE,
            era_align,
            PAGE_SIZE,
        ));
    }
    let pages = section(
        ".xen_pages",
        SHT_PROGBITS,
        nr_pages * PAGE_SIZE,
        PAGE_SIZE,
        PAGE_SIZE,
    );
    let table = section(
        table_name,
        SHT_PROGBITS,
        nr_pages * table_entsize,
        table_align,
        table_entsize,
    );
    if era_3_1 {
        sections.extend([table, pages]);
    } else {
        sections.extend([pages, table]);
    }

    // The string table lists names in section creation order, which is table order.
    let mut shstrtab = vec![0u8];
    for s in sections.iter_mut().skip(1) {
        s.name_index = shstrtab.len() as u32;
        shstrtab.extend_from_slice(s.name.as_bytes());
        shstrtab.push(0);
    }

    let (ehsize, shentsize) = if opts.class32 { (52, 40) } else { (64, 64) };
    let shnum = sections.len() as u64;
    let mut offset = ehsize + shnum * shentsize;
    let mut pad_before_pages = 0;
    for s in sections.iter_mut().skip(2) {
        if s.name == ".xen_pages" {
            pad_before_pages = round_up_page(offset) - offset;
            offset += pad_before_pages;
        }
        s.offset = offset;
        offset += s.size;
    }
    sections[1].offset = offset;
    sections[1].size = shstrtab.len() as u64;
    let file_size = offset + shstrtab.len() as u64;

    if opts.class32 {
        for s in &sections {
            for (field, value) in [("ELF32 sh_offset", s.offset), ("ELF32 sh_size", s.size)] {
                if value > u64::from(u32::MAX) {
                    return Err(BuildError::FieldOverflow {
                        field,
                        value,
                        bits: 32,
                    });
                }
            }
        }
    }

    let mut regions = vec![
        Region {
            name: "ELF header",
            offset: 0,
            size: ehsize,
        },
        Region {
            name: "section headers",
            offset: ehsize,
            size: shnum * shentsize,
        },
    ];
    regions.extend(sections.iter().skip(1).map(|s| Region {
        name: s.name,
        offset: s.offset,
        size: s.size,
    }));
    regions.sort_by_key(|r| r.offset);

    Ok(ElfPlan {
        layout: DumpLayout {
            file_size,
            regions,
            nr_pages,
            context_slot: slot,
        },
        sections,
        shstrtab,
        class32: opts.class32,
        e_machine,
        context_layout,
        shared_info,
        pad_before_pages,
        xen_version_size,
        pagesize_moved,
    })
}

fn elf_header(plan: &ElfPlan) -> Vec<u8> {
    let mut h = Vec::with_capacity(64);
    // EI_MAG, EI_CLASS, EI_DATA=LSB, EI_VERSION=1, EI_OSABI=SYSV, EI_ABIVERSION=EV_CURRENT.
    let class = if plan.class32 { 1 } else { 2 };
    h.extend_from_slice(&[
        0x7F, b'E', b'L', b'F', class, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ]);
    h.extend_from_slice(&4u16.to_le_bytes()); // e_type = ET_CORE
    h.extend_from_slice(&plan.e_machine.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes()); // e_version
    let shnum = plan.sections.len() as u16;
    if plan.class32 {
        h.extend_from_slice(&0u32.to_le_bytes()); // e_entry
        h.extend_from_slice(&0u32.to_le_bytes()); // e_phoff
        h.extend_from_slice(&52u32.to_le_bytes()); // e_shoff
        h.extend_from_slice(&0u32.to_le_bytes()); // e_flags
        h.extend_from_slice(&52u16.to_le_bytes()); // e_ehsize
        h.extend_from_slice(&32u16.to_le_bytes()); // e_phentsize
        h.extend_from_slice(&0u16.to_le_bytes()); // e_phnum
        h.extend_from_slice(&40u16.to_le_bytes()); // e_shentsize
    } else {
        h.extend_from_slice(&0u64.to_le_bytes());
        h.extend_from_slice(&0u64.to_le_bytes());
        h.extend_from_slice(&64u64.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&64u16.to_le_bytes());
        h.extend_from_slice(&56u16.to_le_bytes());
        h.extend_from_slice(&0u16.to_le_bytes());
        h.extend_from_slice(&64u16.to_le_bytes());
    }
    h.extend_from_slice(&shnum.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // e_shstrndx
    h
}

fn section_headers(plan: &ElfPlan) -> Vec<u8> {
    let mut out = Vec::new();
    for s in &plan.sections {
        if plan.class32 {
            // Offsets and sizes were checked to fit 32 bits when planning.
            for v in [
                u64::from(s.name_index),
                u64::from(s.sh_type),
                0, // sh_flags
                0, // sh_addr
                s.offset,
                s.size,
                0, // sh_link
                0, // sh_info
                s.addralign,
                s.entsize,
            ] {
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
        } else {
            out.extend_from_slice(&s.name_index.to_le_bytes());
            out.extend_from_slice(&s.sh_type.to_le_bytes());
            for v in [0, 0, s.offset, s.size] {
                out.extend_from_slice(&u64::to_le_bytes(v));
            }
            out.extend_from_slice(&0u32.to_le_bytes()); // sh_link
            out.extend_from_slice(&0u32.to_le_bytes()); // sh_info
            out.extend_from_slice(&s.addralign.to_le_bytes());
            out.extend_from_slice(&s.entsize.to_le_bytes());
        }
    }
    out
}

fn note(out: &mut Vec<u8>, note_type: u32, desc: &[u8]) {
    out.extend_from_slice(&4u32.to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&note_type.to_le_bytes());
    out.extend_from_slice(b"Xen\0");
    out.extend_from_slice(desc);
}

fn put_str(
    desc: &mut [u8],
    field: &'static str,
    offset: usize,
    size: usize,
    value: &str,
) -> Result<(), BuildError> {
    let bytes = value.as_bytes();
    // A string filling the whole field (no NUL) is allowed: readers must cope.
    if bytes.len() > size {
        return Err(BuildError::StringTooLong {
            field,
            len: bytes.len(),
            max: size,
        });
    }
    desc[offset..offset + bytes.len()].copy_from_slice(bytes);
    Ok(())
}

fn xen_version_desc(
    xen: &XenVersionImage,
    tools: Width,
    size: u64,
    pagesize_moved: bool,
) -> Result<Vec<u8>, BuildError> {
    let mut d = vec![0u8; size as usize];
    d[0..8].copy_from_slice(&xen.major.to_le_bytes());
    d[8..16].copy_from_slice(&xen.minor.to_le_bytes());
    put_str(&mut d, "extra_version", 16, 16, &xen.extra)?;
    put_str(&mut d, "compiler", 32, 64, &xen.compiler)?;
    put_str(&mut d, "compile_by", 96, 16, &xen.compile_by)?;
    put_str(&mut d, "compile_domain", 112, 32, &xen.compile_domain)?;
    put_str(&mut d, "compile_date", 144, 32, &xen.compile_date)?;
    put_str(&mut d, "capabilities", 176, 1024, &xen.capabilities)?;
    put_str(&mut d, "changeset", 1200, 64, &xen.changeset)?;
    match tools {
        Width::Bits64 => {
            let virt_start = xen.virt_start.unwrap_or(0xFFFF_8000_0000_0000);
            d[VIRT_START_OFFSET..VIRT_START_OFFSET + 8].copy_from_slice(&virt_start.to_le_bytes());
            d[1272..1280].copy_from_slice(&xen.pagesize.to_le_bytes());
            if pagesize_moved {
                // memmove(&pagesize - 4, &pagesize, 8): the old high half stays at 1276.
                d.copy_within(1272..1280, 1268);
            }
        }
        Width::Bits32 => {
            let virt_start = xen.virt_start.unwrap_or(0xF580_0000);
            let narrow = u32::try_from(virt_start).map_err(|_| BuildError::FieldOverflow {
                field: "XEN_VERSION virt_start (32-bit tools)",
                value: virt_start,
                bits: 32,
            })?;
            d[VIRT_START_OFFSET..VIRT_START_OFFSET + 4].copy_from_slice(&narrow.to_le_bytes());
            d[1268..1276].copy_from_slice(&xen.pagesize.to_le_bytes());
        }
    }
    Ok(d)
}

fn notes(
    image: &GuestImage,
    tools: Width,
    plan: &ElfPlan,
    opts: &ElfOptions,
) -> Result<Vec<u8>, BuildError> {
    let mut out = Vec::new();
    note(&mut out, XEN_ELFNOTE_DUMPCORE_NONE, &[]);
    let magic = match image.kind {
        GuestKind::Pv => XC_CORE_MAGIC,
        GuestKind::Hvm => XC_CORE_MAGIC_HVM,
    };
    let mut header = Vec::with_capacity(32);
    for v in [
        u64::from(magic),
        image.vcpus.len() as u64,
        plan.layout.nr_pages,
        PAGE_SIZE,
    ] {
        header.extend_from_slice(&v.to_le_bytes());
    }
    note(&mut out, XEN_ELFNOTE_DUMPCORE_HEADER, &header);
    let version = xen_version_desc(
        &image.xen,
        tools,
        plan.xen_version_size,
        plan.pagesize_moved,
    )?;
    note(&mut out, XEN_ELFNOTE_DUMPCORE_XEN_VERSION, &version);
    note(
        &mut out,
        XEN_ELFNOTE_DUMPCORE_FORMAT_VERSION,
        &opts.format_version.to_le_bytes(),
    );
    Ok(out)
}

pub(super) fn write<W: Write + Seek>(
    image: &GuestImage,
    tools: Width,
    opts: &ElfOptions,
    w: &mut W,
) -> Result<DumpLayout, BuildError> {
    let plan = plan(image, tools, opts)?;
    // Build the notes first so string errors surface before anything is written.
    let notes = notes(image, tools, &plan, opts)?;
    let mut out = SparseWriter::new(w);
    out.put(&elf_header(&plan))?;
    out.put(&section_headers(&plan))?;
    out.put(&notes)?;
    for vcpu in &image.vcpus {
        let ctx = vcpu.encode(plan.context_layout);
        out.put(&ctx)?;
        out.zeros(plan.layout.context_slot - ctx.len() as u64);
    }
    if plan.shared_info {
        out.page(image.shared_info.as_deref().map(|p| &p[..]), PAGE_SIZE)?;
    }
    if opts.p2m_before_pages {
        write_table(image, opts.invalid_tail, &mut out)?;
        out.zeros(plan.pad_before_pages);
        write_pages(image, opts.invalid_tail, &mut out)?;
    } else {
        out.zeros(plan.pad_before_pages);
        write_pages(image, opts.invalid_tail, &mut out)?;
        write_table(image, opts.invalid_tail, &mut out)?;
    }
    debug_assert_eq!(out.position(), plan.sections[1].offset);
    out.put(&plan.shstrtab)?;
    out.finish()?;
    Ok(plan.layout)
}

fn write_pages<W: Write + Seek>(
    image: &GuestImage,
    invalid_tail: u64,
    out: &mut SparseWriter<'_, W>,
) -> Result<(), BuildError> {
    image.write_pages_ascending(out)?;
    out.zeros(invalid_tail * PAGE_SIZE);
    Ok(())
}

/// `.xen_p2m` (`{pfn, gmfn}` pairs) for PV, `.xen_pfn` (pfns) for HVM, ascending by pfn.
fn write_table<W: Write + Seek>(
    image: &GuestImage,
    invalid_tail: u64,
    out: &mut SparseWriter<'_, W>,
) -> Result<(), BuildError> {
    let is_pv = image.kind == GuestKind::Pv;
    for run in &image.frames {
        for i in 0..run.count {
            out.put(&(run.pfn.0 + i).to_le_bytes())?;
            if is_pv {
                out.put(&(run.mfn.0 + i).to_le_bytes())?;
            }
        }
    }
    for _ in 0..invalid_tail {
        out.put(&INVALID.to_le_bytes())?;
        if is_pv {
            out.put(&INVALID.to_le_bytes())?;
        }
    }
    Ok(())
}
