//! The ELF xendump container (Xen >= 3.1): sections located by name, bounds-checked.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::LittleEndian;

use super::error::{DumpError, Result};

/// Index of the class byte in `e_ident`.
const EI_CLASS: usize = 4;
/// Index of the data-encoding byte in `e_ident`.
const EI_DATA: usize = 5;

/// One section header, reduced to what we use.
#[derive(Clone, Debug)]
pub struct Section {
    pub name: String,
    pub sh_type: u32,
    pub offset: u64,
    pub size: u64,
    pub entsize: u64,
}

/// What the ELF headers say.
#[derive(Clone, Debug)]
pub struct ElfLayout {
    pub class64: bool,
    pub e_machine: u16,
    /// End of the section header table, for overlap checks.
    pub headers_end: u64,
    pub sections: Vec<Section>,
    /// `.shstrtab` lies past the end of the file: the names were inferred.
    pub names_lost: bool,
}

impl ElfLayout {
    /// The section called `name`, if present.
    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }
}

fn elf_err(e: object::read::Error) -> DumpError {
    DumpError::Elf {
        what: e.to_string(),
    }
}

fn parse_generic<Elf: FileHeader<Endian = LittleEndian>>(data: &[u8]) -> Result<ElfLayout> {
    let header = Elf::parse(data).map_err(elf_err)?;
    let endian = header.endian().map_err(elf_err)?;
    if header.e_type(endian) != elf::ET_CORE {
        return Err(DumpError::BadField {
            header: "ELF header",
            field: "e_type",
            found: u64::from(header.e_type(endian)),
            expected: "4 (ET_CORE)".into(),
        });
    }
    let shoff: u64 = header.e_shoff(endian).into();
    let shentsize = u64::from(header.e_shentsize(endian));
    let shnum = header.shnum(endian, data).map_err(elf_err)? as u64;
    let headers_end = shoff
        .checked_add(shnum.saturating_mul(shentsize))
        .ok_or_else(|| DumpError::Elf {
            what: format!("section header table offset {shoff:#x} overflows"),
        })?;
    if headers_end > data.len() as u64 {
        return Err(DumpError::OutOfBounds {
            name: "ELF section header table",
            offset: shoff,
            size: headers_end - shoff,
            file_len: data.len() as u64,
        });
    }
    // Section names live in .shstrtab, which every writer puts at the very end of the
    // file: a cut-off copy loses it first. The section headers are still there, and
    // Xen's few sections can be told apart without names (see `infer_name`).
    let shstrndx = header.shstrndx(endian, data).map_err(elf_err)? as usize;
    let headers = header.section_headers(endian, data).map_err(elf_err)?;
    let names_lost = headers.get(shstrndx).is_some_and(|sh| {
        let (off, size): (u64, u64) = (sh.sh_offset(endian).into(), sh.sh_size(endian).into());
        off.checked_add(size)
            .is_none_or(|end| end > data.len() as u64)
    });
    let mut sections = Vec::with_capacity(headers.len());
    if names_lost {
        let mut page_sized = 0;
        for (i, sh) in headers.iter().enumerate() {
            let mut sec = Section {
                name: String::new(),
                sh_type: sh.sh_type(endian),
                offset: sh.sh_offset(endian).into(),
                size: sh.sh_size(endian).into(),
                entsize: sh.sh_entsize(endian).into(),
            };
            if i != shstrndx {
                sec.name = infer_name(&sec, &mut page_sized).to_string();
            }
            sections.push(sec);
        }
        // With two page-sized sections, the first is the shared-info page and the
        // second the page area, in every writer's order.
        if page_sized == 1 {
            if let Some(s) = sections.iter_mut().find(|s| s.name == ".xen_shared_info") {
                s.name = ".xen_pages".into();
            }
        } else if page_sized == 2 {
            if let Some(s) = sections
                .iter_mut()
                .rev()
                .find(|s| s.name == ".xen_shared_info")
            {
                s.name = ".xen_pages".into();
            }
        }
    } else {
        let table = header.sections(endian, data).map_err(elf_err)?;
        for sh in table.iter() {
            let name = table
                .section_name(endian, sh)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .unwrap_or_default();
            sections.push(Section {
                name,
                sh_type: sh.sh_type(endian),
                offset: sh.sh_offset(endian).into(),
                size: sh.sh_size(endian).into(),
                entsize: sh.sh_entsize(endian).into(),
            });
        }
    }
    Ok(ElfLayout {
        class64: Elf::is_type_64_sized(),
        e_machine: header.e_machine(endian),
        headers_end,
        sections,
        names_lost,
    })
}

/// The name of a Xen dump section told by its type and entry size, for a file that
/// lost `.shstrtab`. Page-sized sections are all called `.xen_shared_info` here and
/// `page_sized` counts them; the caller renames the page area.
fn infer_name(s: &Section, page_sized: &mut u32) -> &'static str {
    const PAGE: u64 = 4096;
    match (s.sh_type, s.entsize) {
        (elf::SHT_NOTE, _) => ".note.Xen",
        (elf::SHT_PROGBITS, 16) => ".xen_p2m",
        (elf::SHT_PROGBITS, 8) => ".xen_pfn",
        (elf::SHT_PROGBITS, PAGE) => {
            *page_sized += 1;
            ".xen_shared_info"
        }
        // vcpu_guest_context slots: 2800 (x86_32) to 5168 (x86_64 / the union).
        (elf::SHT_PROGBITS, 2800..=8192) => ".xen_prstatus",
        _ => "",
    }
}

/// Parse ELF headers of either class (ELFCLASS32 files were written briefly in 2007).
pub fn parse(data: &[u8]) -> Result<ElfLayout> {
    if data.len() < 16 {
        return Err(DumpError::TooShort {
            len: data.len() as u64,
            needed: 64,
            what: "ELF header",
        });
    }
    if data[EI_DATA] != elf::ELFDATA2LSB {
        return Err(DumpError::BadField {
            header: "ELF header",
            field: "e_ident[EI_DATA]",
            found: u64::from(data[EI_DATA]),
            expected: "1 (little-endian; Xen dumps are x86 only)".into(),
        });
    }
    match data[EI_CLASS] {
        elf::ELFCLASS64 => parse_generic::<elf::FileHeader64<LittleEndian>>(data),
        elf::ELFCLASS32 => parse_generic::<elf::FileHeader32<LittleEndian>>(data),
        c => Err(DumpError::BadField {
            header: "ELF header",
            field: "e_ident[EI_CLASS]",
            found: u64::from(c),
            expected: "1 or 2".into(),
        }),
    }
}
