//! ELF64 core-file structures, encoded by hand (little-endian, x86 only).
//!
//! Field offsets follow the System V gABI `Elf64_Ehdr` / `Elf64_Phdr` / `Elf64_Shdr` and
//! the Linux note layout (`Elf64_Nhdr`: 4-byte fields, name and descriptor each padded to
//! 4 bytes). Tests read the result back with the `object` crate and with gdb, so this
//! file is checked against independent parsers rather than against itself.

/// `ET_CORE`.
pub const ET_CORE: u16 = 4;
/// `EM_386`.
pub const EM_386: u16 = 3;
/// `EM_X86_64`.
pub const EM_X86_64: u16 = 62;
/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// `PT_NOTE`.
pub const PT_NOTE: u32 = 4;
/// `PF_X | PF_W | PF_R`, as kexec-tools marks every vmcore segment.
pub const PF_RWX: u32 = 7;
/// `e_phnum` value meaning "the count is in section header 0's `sh_info`".
pub const PN_XNUM: u16 = 0xffff;
/// `NT_PRSTATUS`.
pub const NT_PRSTATUS: u32 = 1;
/// `NT_PRFPREG`.
pub const NT_PRFPREG: u32 = 2;

/// Size of `Elf64_Ehdr`.
pub const EHDR_SIZE: u64 = 64;
/// Size of `Elf64_Phdr`.
pub const PHDR_SIZE: u64 = 56;
/// Size of `Elf64_Shdr`.
pub const SHDR_SIZE: u64 = 64;

/// One program header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgramHeader {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_paddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

impl ProgramHeader {
    /// Encode as `Elf64_Phdr`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.p_type.to_le_bytes());
        out.extend_from_slice(&self.p_flags.to_le_bytes());
        for v in [
            self.p_offset,
            self.p_vaddr,
            self.p_paddr,
            self.p_filesz,
            self.p_memsz,
            self.p_align,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// Size of the headers for `phnum` program headers: ELF header, program headers and,
/// past [`PN_XNUM`] - 1 of them, the one section header that carries the real count.
pub fn headers_size(phnum: u64) -> u64 {
    EHDR_SIZE + phnum * PHDR_SIZE + if needs_xnum(phnum) { SHDR_SIZE } else { 0 }
}

fn needs_xnum(phnum: u64) -> bool {
    phnum >= u64::from(PN_XNUM)
}

/// Encode the ELF header of a core with `phnum` program headers right after it (and, with
/// extended numbering, one section header after those).
pub fn encode_ehdr(machine: u16, phnum: u64, out: &mut Vec<u8>) {
    let xnum = needs_xnum(phnum);
    out.extend_from_slice(b"\x7fELF");
    // ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE, ABI version 0, padding.
    out.extend_from_slice(&[2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&ET_CORE.to_le_bytes());
    out.extend_from_slice(&machine.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes()); // e_version
    out.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    out.extend_from_slice(&EHDR_SIZE.to_le_bytes()); // e_phoff
    let shoff = if xnum {
        EHDR_SIZE + phnum * PHDR_SIZE
    } else {
        0
    };
    out.extend_from_slice(&shoff.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    out.extend_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
    out.extend_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    let e_phnum = if xnum { PN_XNUM } else { phnum as u16 };
    out.extend_from_slice(&e_phnum.to_le_bytes());
    let (shentsize, shnum) = if xnum {
        (SHDR_SIZE as u16, 1u16)
    } else {
        (0, 0)
    };
    out.extend_from_slice(&shentsize.to_le_bytes());
    out.extend_from_slice(&shnum.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes()); // e_shstrndx = SHN_UNDEF
}

/// Encode section header 0 of extended numbering: `SHT_NULL` with `sh_info` = `phnum`
/// (what Linux's `fill_extnum_info` writes for process cores).
pub fn encode_xnum_shdr(phnum: u64, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + SHDR_SIZE as usize, 0);
    // sh_size (offset 32) holds e_shnum = 1; sh_info (offset 44) the program header count.
    out[start + 32..start + 40].copy_from_slice(&1u64.to_le_bytes());
    let info = u32::try_from(phnum).unwrap_or(u32::MAX);
    out[start + 44..start + 48].copy_from_slice(&info.to_le_bytes());
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Bytes an ELF note with this name and descriptor length takes.
pub fn note_size(name: &str, desc_len: usize) -> usize {
    12 + pad4(name.len() + 1) + pad4(desc_len)
}

/// Append an ELF note (`namesz` counts the terminating NUL, both parts 4-byte padded).
pub fn encode_note(name: &str, note_type: u32, desc: &[u8], out: &mut Vec<u8>) {
    let namesz = name.len() + 1;
    out.extend_from_slice(&(namesz as u32).to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&note_type.to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.resize(out.len() + pad4(namesz) - name.len(), 0);
    out.extend_from_slice(desc);
    out.resize(out.len() + pad4(desc.len()) - desc.len(), 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_sizes_follow_the_gabi() {
        let mut v = Vec::new();
        encode_ehdr(EM_X86_64, 3, &mut v);
        assert_eq!(v.len() as u64, EHDR_SIZE);
        ProgramHeader {
            p_type: PT_LOAD,
            p_flags: PF_RWX,
            p_offset: 1,
            p_vaddr: 2,
            p_paddr: 3,
            p_filesz: 4,
            p_memsz: 5,
            p_align: 0,
        }
        .encode(&mut v);
        assert_eq!(v.len() as u64, EHDR_SIZE + PHDR_SIZE);
        // p_paddr sits at byte 24 of Elf64_Phdr.
        assert_eq!(v[64 + 24], 3);
        assert_eq!(headers_size(2), 64 + 112);
        assert_eq!(headers_size(0x1_0000), 64 + 0x1_0000 * 56 + 64);
    }

    #[test]
    fn notes_are_padded_to_four_bytes() {
        let mut v = Vec::new();
        encode_note("CORE", NT_PRSTATUS, &[1, 2, 3], &mut v);
        assert_eq!(v.len(), note_size("CORE", 3));
        assert_eq!(v.len(), 12 + 8 + 4);
        assert_eq!(&v[0..4], &5u32.to_le_bytes());
        assert_eq!(&v[12..17], b"CORE\0");
        let mut w = Vec::new();
        encode_note("VMCOREINFO", 0, b"OSRELEASE=1\n", &mut w);
        assert_eq!(w.len(), 12 + 12 + 12);
    }

    #[test]
    fn extended_numbering_moves_the_count() {
        let mut v = Vec::new();
        encode_ehdr(EM_386, 70_000, &mut v);
        assert_eq!(u16::from_le_bytes([v[56], v[57]]), PN_XNUM);
        let shoff = u64::from_le_bytes(v[40..48].try_into().unwrap());
        assert_eq!(shoff, 64 + 70_000 * 56);
        let mut s = Vec::new();
        encode_xnum_shdr(70_000, &mut s);
        assert_eq!(u32::from_le_bytes(s[44..48].try_into().unwrap()), 70_000);
    }

    #[test]
    fn object_reads_extended_numbering_back() {
        use object::read::elf::{FileHeader as _, ProgramHeader as _};
        let phnum = 70_000u64;
        let mut v = Vec::new();
        encode_ehdr(EM_X86_64, phnum, &mut v);
        for i in 0..phnum {
            ProgramHeader {
                p_type: PT_LOAD,
                p_flags: PF_RWX,
                p_offset: 0,
                p_vaddr: 0,
                p_paddr: i << 12,
                p_filesz: 0,
                p_memsz: 0,
                p_align: 0,
            }
            .encode(&mut v);
        }
        encode_xnum_shdr(phnum, &mut v);
        assert_eq!(v.len() as u64, headers_size(phnum));
        let h = object::elf::FileHeader64::<object::LittleEndian>::parse(&v[..]).unwrap();
        let e = h.endian().unwrap();
        let ph = h.program_headers(e, &v[..]).unwrap();
        assert_eq!(ph.len() as u64, phnum);
        assert_eq!(ph[69_999].p_paddr(e), 69_999 << 12);
    }
}
