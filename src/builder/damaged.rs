//! The damaged-dump corpus: builder dumps of tiny guests, each broken in one known
//! way, with what a reader must make of it.
//!
//! `examples/make-damaged-corpus.rs` writes the corpus to `tests/damaged/` (one file per
//! case plus `MANIFEST`, the expectations as text); `tests/damaged_corpus.rs` checks
//! every committed file against the manifest and that the generator still writes the
//! same bytes. Expectations come from the tiny guest's description (addresses, values,
//! where the builder put each structure), never from the reader.
//!
//! Two kinds of expectation: the dump is refused with a clear error (whose message
//! names the problem), or it opens with warnings saying what is damaged and serves
//! what is still readable (given reads succeed with known bytes, others fail with a
//! known reason).

use std::fmt::Write as _;

use crate::addr::{GuestFrame, PAGE_SIZE};
use crate::dump::{GuestKind, Width};
use crate::memory::PagingMode;

use super::tiny::{tiny_mfn, TinyGuest, DATA_PFN, TAIL_PFN, TEXT_PFN, TINY_PAGES};
use super::{DumpLayout, DumpOptions};

/// Which address space a read uses (as `monitor view` names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadView {
    Virtual,
    Physical,
    Machine,
}

impl ReadView {
    /// The name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            ReadView::Virtual => "virtual",
            ReadView::Physical => "physical",
            ReadView::Machine => "machine",
        }
    }

    /// Parse a manifest name.
    pub fn parse(s: &str) -> Option<ReadView> {
        match s {
            "virtual" => Some(ReadView::Virtual),
            "physical" => Some(ReadView::Physical),
            "machine" => Some(ReadView::Machine),
            _ => None,
        }
    }
}

/// A read and its expected outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedRead {
    pub view: ReadView,
    pub vcpu: usize,
    pub addr: u64,
    pub len: usize,
    /// `Ok(bytes)`: exactly these bytes; `Err(text)`: an error whose message contains
    /// `text`.
    pub outcome: Result<Vec<u8>, String>,
}

/// What a damaged dump must produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expectation {
    /// Opening fails with an error whose message contains this text.
    Refused(String),
    /// Opens; every listed text appears in some warning; the reads come out as given.
    Served {
        warnings: Vec<String>,
        reads: Vec<ExpectedRead>,
    },
}

/// One corpus entry.
#[derive(Clone, Debug)]
pub struct DamagedCase {
    /// File stem (`tests/damaged/NAME.core`).
    pub name: String,
    /// What was damaged, in words.
    pub about: String,
    pub bytes: Vec<u8>,
    pub expect: Expectation,
}

// ---- byte surgery ----------------------------------------------------------------

fn put_u16(b: &mut [u8], at: u64, v: u16) {
    b[at as usize..at as usize + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: u64, v: u32) {
    b[at as usize..at as usize + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: u64, v: u64) {
    b[at as usize..at as usize + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u32(b: &[u8], at: u64) -> u32 {
    u32::from_le_bytes(b[at as usize..at as usize + 4].try_into().expect("4 bytes"))
}
fn get_u64(b: &[u8], at: u64) -> u64 {
    u64::from_le_bytes(b[at as usize..at as usize + 8].try_into().expect("8 bytes"))
}

/// ELF64 `e_shoff`, `e_shnum`, `e_shstrndx` offsets in the file header.
const E_SHOFF: u64 = 0x28;
const E_SHNUM: u64 = 0x3c;
const E_SHSTRNDX: u64 = 0x3e;
/// `Elf64_Shdr` size and field offsets.
const SHDR: u64 = 64;
const SH_OFFSET: u64 = 24;
const SH_SIZE: u64 = 32;
const SH_ENTSIZE: u64 = 56;

/// File offset of the ELF64 section header of section `name`.
fn shdr_of(b: &[u8], layout: &DumpLayout, name: &str) -> u64 {
    let shoff = get_u64(b, E_SHOFF);
    let strtab = layout.region(".shstrtab").expect(".shstrtab").offset;
    let count = u64::from(u16::from_le_bytes([
        b[E_SHNUM as usize],
        b[E_SHNUM as usize + 1],
    ]));
    (0..count)
        .map(|i| shoff + i * SHDR)
        .find(|&h| {
            let n = strtab + u64::from(get_u32(b, h));
            b[n as usize..].starts_with(name.as_bytes()) && b[n as usize + name.len()] == 0
        })
        .unwrap_or_else(|| panic!("section {name}"))
}

/// File offset of the descriptor of the `.note.Xen` note of `note_type`.
fn note_desc(b: &[u8], layout: &DumpLayout, note_type: u32) -> u64 {
    let r = layout.region(".note.Xen").expect(".note.Xen");
    let mut at = r.offset;
    while at < r.offset + r.size {
        let namesz = u64::from(get_u32(b, at));
        let descsz = u64::from(get_u32(b, at + 4));
        let desc = at + 12 + namesz.div_ceil(4) * 4;
        if get_u32(b, at + 8) == note_type {
            return desc;
        }
        at = desc + descsz.div_ceil(4) * 4;
    }
    panic!("note type {note_type:#x}")
}

/// `DUMPCORE_HEADER` note type and its fields.
const NOTE_HEADER: u32 = 0x200_0001;
const NOTE_XEN_VERSION: u32 = 0x200_0002;
const HDR_MAGIC: u64 = 0;
const HDR_NR_VCPUS: u64 = 8;
const HDR_NR_PAGES: u64 = 16;
const HDR_PAGE_SIZE: u64 = 24;

/// Offsets of `vcpu_guest_context` fields in the x86_64 layout (Xen's public
/// `arch-x86/xen-x86_64.h`: 512 bytes of FXSAVE, `flags`, then `cpu_user_regs`).
const CTX64_FLAGS: u64 = 0x200;
const CTX64_RIP: u64 = 0x208 + 0x80;
const CTX64_RSP: u64 = 0x208 + 0x98;
const CTX64_CTRLREG: u64 = 4984;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

// ---- the corpus ------------------------------------------------------------------

struct Base {
    t: TinyGuest,
    bytes: Vec<u8>,
    layout: DumpLayout,
}

impl Base {
    fn new(kind: GuestKind, mode: PagingMode, opts: &DumpOptions) -> Base {
        let t = TinyGuest::new(kind, mode).expect("tiny guest");
        let bytes = t.image.write(opts).expect("tiny dump");
        let layout = t.image.layout(opts).expect("tiny layout");
        Base { t, bytes, layout }
    }

    fn region(&self, name: &str) -> (u64, u64) {
        let r = self
            .layout
            .region(name)
            .unwrap_or_else(|| panic!("region {name}"));
        (r.offset, r.size)
    }

    /// File offset of page `pfn` (tiny guests are contiguous from pfn 0, so page
    /// index = pfn in ELF dumps and in ascending legacy dumps).
    fn page_at(&self, pfn: u64) -> u64 {
        let pages = self
            .layout
            .region(".xen_pages")
            .or_else(|| self.layout.region("pages"))
            .expect("page area");
        pages.offset + pfn * PAGE_SIZE
    }

    /// The table-space frame number of `pfn`.
    fn tf(&self, pfn: u64) -> u64 {
        match self.t.image.kind {
            GuestKind::Pv => tiny_mfn(pfn),
            GuestKind::Hvm => pfn,
        }
    }

    fn pfn_of_tf(&self, frame: u64) -> u64 {
        (0..TINY_PAGES)
            .find(|&p| self.tf(p) == frame)
            .expect("frame of a tiny page")
    }

    /// File offset of the 4-level entry of `level` (4 = PML4 … 1 = PT) on the way to
    /// `va`, following the builder's own tables in the image.
    fn entry_offset(&self, va: u64, level: u8) -> u64 {
        let mut table_pfn = self.pfn_of_tf(self.t.facts.root.frame);
        let mut l = 4u8;
        loop {
            let index = (va >> (12 + 9 * (u64::from(l) - 1))) & 0x1ff;
            if l == level {
                return self.page_at(table_pfn) + index * 8;
            }
            let page = self
                .t
                .image
                .page(GuestFrame(table_pfn))
                .expect("table page in the image");
            let entry = u64::from_le_bytes(
                page[index as usize * 8..index as usize * 8 + 8]
                    .try_into()
                    .expect("8 bytes"),
            );
            table_pfn = self.pfn_of_tf((entry >> 12) & 0xf_ffff_ffff);
            l -= 1;
        }
    }

    fn banner_read(&self) -> ExpectedRead {
        ExpectedRead {
            view: ReadView::Virtual,
            vcpu: 0,
            addr: self.t.facts.banner_va,
            len: self.t.facts.banner.len(),
            outcome: Ok(self.t.facts.banner.as_bytes().to_vec()),
        }
    }

    fn counter_read(&self) -> ExpectedRead {
        ExpectedRead {
            view: ReadView::Virtual,
            vcpu: 0,
            addr: self.t.facts.counter_va,
            len: 8,
            outcome: Ok(self.t.facts.counter.to_le_bytes().to_vec()),
        }
    }

    fn tail_read(&self, outcome: Result<Vec<u8>, &str>) -> ExpectedRead {
        ExpectedRead {
            view: ReadView::Virtual,
            vcpu: 0,
            addr: self.t.facts.tail_va,
            len: 8,
            outcome: outcome.map_err(str::to_string),
        }
    }
}

fn read(
    view: ReadView,
    vcpu: usize,
    addr: u64,
    len: usize,
    outcome: Result<Vec<u8>, &str>,
) -> ExpectedRead {
    ExpectedRead {
        view,
        vcpu,
        addr,
        len,
        outcome: outcome.map_err(str::to_string),
    }
}

/// Every case of the corpus, in a fixed order.
pub fn damaged_corpus() -> Vec<DamagedCase> {
    let mut out = Vec::new();
    let mut refuse = |name: &str, about: &str, bytes: Vec<u8>, err: &str| {
        out.push(DamagedCase {
            name: name.into(),
            about: about.into(),
            bytes,
            expect: Expectation::Refused(err.into()),
        })
    };

    // -- refused: the structure that locates everything else is broken --
    let pv = Base::new(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let b = &pv.bytes;
    refuse("empty", "a zero-length file", Vec::new(), "too short");
    refuse(
        "elf-header-cut",
        "the file ends inside the ELF header",
        b[..40].to_vec(),
        "malformed ELF header",
    );
    let (shoff, shsize) = pv.region("section headers");
    refuse(
        "section-headers-cut",
        "the file ends inside the section header table",
        b[..(shoff + shsize / 2) as usize].to_vec(),
        "ELF section header table",
    );
    let (note_off, _) = pv.region(".note.Xen");
    refuse(
        "notes-cut",
        "the file ends inside .note.Xen",
        b[..(note_off + 20) as usize].to_vec(),
        ".note.Xen",
    );
    let (pages_off, _) = pv.region(".xen_pages");
    refuse(
        "p2m-cut",
        "current layout cut inside the page area: the .xen_p2m table after it is gone",
        b[..(pages_off + 3 * PAGE_SIZE) as usize].to_vec(),
        ".xen_p2m",
    );
    let mut m = b.clone();
    m[0] = 0x7e;
    refuse(
        "elf-magic",
        "first byte of the ELF magic flipped",
        m,
        "not a Xen core dump",
    );
    let mut m = b.clone();
    put_u64(&mut m, E_SHOFF, 0x7fff_ffff_0000);
    refuse(
        "shoff-outside",
        "e_shoff points far past the end of the file",
        m,
        "ELF section header table",
    );
    let mut m = b.clone();
    put_u16(&mut m, E_SHSTRNDX, 0x7777);
    refuse(
        "shstrndx-bad",
        "e_shstrndx names no section",
        m,
        "malformed ELF header",
    );
    let mut m = b.clone();
    let h = shdr_of(b, &pv.layout, ".note.Xen");
    put_u64(&mut m, h + SH_SIZE, 0xffff_ffff_ffff);
    refuse(
        "note-size-huge",
        ".note.Xen sh_size far past the end of the file",
        m,
        "past the end of the file",
    );
    let mut m = b.clone();
    put_u32(&mut m, note_off, 0xffff_0000);
    refuse(
        "note-namesz-huge",
        "first note's namesz runs past the section",
        m,
        ".note.Xen: note at file offset",
    );
    let hd = note_desc(b, &pv.layout, NOTE_HEADER);
    let mut m = b.clone();
    put_u64(&mut m, hd + HDR_MAGIC, 0xdead_beef);
    refuse(
        "header-magic",
        "DUMPCORE_HEADER xch_magic is neither PV nor HVM",
        m,
        "xch_magic",
    );
    let mut m = b.clone();
    put_u64(&mut m, hd + HDR_NR_VCPUS, 0);
    refuse(
        "header-no-vcpus",
        "DUMPCORE_HEADER says 0 vCPUs",
        m,
        "no vCPU contexts",
    );
    let mut m = b.clone();
    put_u64(&mut m, hd + HDR_NR_VCPUS, 1 << 40);
    refuse(
        "header-vcpus-absurd",
        "DUMPCORE_HEADER says 2^40 vCPUs",
        m,
        "xch_nr_vcpus",
    );
    let mut m = b.clone();
    put_u64(&mut m, hd + HDR_NR_PAGES, TINY_PAGES + 1);
    refuse(
        "header-pages-mismatch",
        "DUMPCORE_HEADER page count one more than .xen_pages holds",
        m,
        ".xen_pages: size is",
    );
    let mut m = b.clone();
    put_u64(&mut m, hd + HDR_PAGE_SIZE, 8192);
    refuse(
        "header-page-size",
        "DUMPCORE_HEADER page size 8192",
        m,
        "xch_page_size",
    );
    let mut m = b.clone();
    let h = shdr_of(b, &pv.layout, ".xen_p2m");
    put_u64(&mut m, h + SH_ENTSIZE, 12);
    refuse("p2m-entsize", ".xen_p2m sh_entsize 12", m, "sh_entsize");
    let mut m = b.clone();
    let h = shdr_of(b, &pv.layout, ".xen_prstatus");
    put_u64(&mut m, h + SH_OFFSET, pages_off);
    refuse(
        "prstatus-overlaps-pages",
        ".xen_prstatus moved onto the page area",
        m,
        "overlaps",
    );
    let mut m = b.clone();
    let name_at = pv.layout.region(".shstrtab").expect(".shstrtab").offset
        + u64::from(get_u32(b, shdr_of(b, &pv.layout, ".note.Xen")));
    m[name_at as usize + 1] = b'N';
    refuse(
        "no-xen-note",
        ".note.Xen renamed: an ELF core that is not a xendump",
        m,
        "no section .note.Xen",
    );

    // -- refused: legacy header damage --
    let lg = Base::new(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::legacy(Width::Bits64),
    );
    let mut m = lg.bytes.clone();
    put_u32(&mut m, 4, 0);
    refuse(
        "legacy-no-vcpus",
        "legacy header says 0 vCPUs",
        m,
        "no vCPU contexts",
    );
    let mut m = lg.bytes.clone();
    put_u32(&mut m, 12, 32);
    refuse(
        "legacy-ctxt-offset",
        "legacy xch_ctxt_offset is not 24",
        m,
        "xch_ctxt_offset",
    );
    let mut m = lg.bytes.clone();
    put_u32(&mut m, 20, get_u32(&lg.bytes, 20) + 0x1000);
    refuse(
        "legacy-pages-offset",
        "legacy xch_pages_offset one page too far",
        m,
        "xch_pages_offset",
    );
    let mut m = lg.bytes.clone();
    put_u32(&mut m, 0, 0xf00f_ebef);
    refuse(
        "legacy-magic",
        "legacy magic one off",
        m,
        "not a Xen core dump",
    );

    // -- served: damage that leaves parts readable --
    let mut served =
        |name: &str, about: &str, bytes: Vec<u8>, warnings: &[&str], reads: Vec<ExpectedRead>| {
            out.push(DamagedCase {
                name: name.into(),
                about: about.into(),
                bytes,
                expect: Expectation::Served {
                    warnings: warnings.iter().map(|w| w.to_string()).collect(),
                    reads,
                },
            })
        };

    // The 3.1 layout (p2m before pages): a cut in the page area keeps every table.
    let old = Base::new(
        GuestKind::Pv,
        PagingMode::FourLevel,
        &DumpOptions::elf_3_1(Width::Bits64),
    );
    let cut = old.page_at(TAIL_PFN);
    served(
        "pages-cut",
        "3.1 layout cut before its last page: the tail page is gone, the rest reads",
        old.bytes[..cut as usize].to_vec(),
        &["file is truncated: only 31 of 32 pages"],
        vec![
            old.banner_read(),
            old.counter_read(),
            old.tail_read(Err("missing from the (truncated) file")),
        ],
    );
    served(
        "pages-cut-mid-page",
        "3.1 layout cut in the middle of the tail page",
        old.bytes[..(cut + 100) as usize].to_vec(),
        &["file is truncated: only 31 of 32 pages"],
        vec![
            old.banner_read(),
            old.tail_read(Err("missing from the (truncated) file")),
        ],
    );
    let lcut = lg.page_at(TAIL_PFN);
    served(
        "legacy-pages-cut",
        "legacy dump cut before its last page",
        lg.bytes[..lcut as usize].to_vec(),
        &["file is truncated: only 31 of 32 pages"],
        vec![
            lg.banner_read(),
            lg.counter_read(),
            lg.tail_read(Err("missing from the (truncated) file")),
        ],
    );

    // Page tables that loop: PML4[0x100] points back at the PML4 itself, so a walk
    // through index 0x100 at every level ends on the PML4 page.
    let root_pfn = pv.pfn_of_tf(pv.t.facts.root.frame);
    let self_entry = (pv.t.facts.root.frame << 12) | 0x67;
    let mut m = b.clone();
    put_u64(&mut m, pv.page_at(root_pfn) + 0x100 * 8, self_entry);
    let loop_va = 0xffff_8040_2010_0000u64;
    served(
        "pagetable-self-loop",
        "PML4 entry 0x100 points at the PML4 itself (a loop through every level)",
        m,
        &[],
        vec![
            read(
                ReadView::Virtual,
                0,
                loop_va + 0x100 * 8,
                8,
                Ok(self_entry.to_le_bytes().to_vec()),
            ),
            pv.banner_read(),
        ],
    );
    // A PT entry pointing outside the dump.
    let mut m = b.clone();
    put_u64(
        &mut m,
        pv.entry_offset(pv.t.facts.tail_va, 1),
        (0xdeadb << 12) | 0x63,
    );
    served(
        "pte-outside-dump",
        "the tail page's PTE points at machine frame 0xdeadb, which the dump does not hold",
        m,
        &[],
        vec![
            pv.tail_read(Err("frame 0xdeadb, which is not in the dump")),
            pv.banner_read(),
        ],
    );
    // A PDE pointing to a "page table" outside the dump.
    let mut m = b.clone();
    put_u64(
        &mut m,
        pv.entry_offset(pv.t.facts.tail_va, 2),
        (0xbad00 << 12) | 0x67,
    );
    served(
        "pde-outside-dump",
        "the PDE above the tail page names table frame 0xbad00, not in the dump",
        m,
        &[],
        vec![
            pv.tail_read(Err("table in frame 0xbad00 is not in the dump")),
            pv.counter_read(),
        ],
    );
    // Reserved bits and a large page where none may be.
    let mut m = b.clone();
    let pde = pv.entry_offset(pv.t.facts.tail_va, 2);
    put_u64(&mut m, pde, get_u64(b, pde) | 0x80 | (1 << 13));
    served(
        "pde-reserved-bits",
        "2 MiB PDE (PS set) with reserved bit 13",
        m,
        &[],
        vec![pv.tail_read(Err("has reserved bits")), pv.banner_read()],
    );
    let mut m = b.clone();
    let pml4e = pv.entry_offset(pv.t.facts.tail_va, 4);
    put_u64(&mut m, pml4e, get_u64(b, pml4e) | 0x80);
    served(
        "pml4e-large",
        "the kernel's PML4 entry has PS set (no large pages at that level): virtual reads fail, physical ones work",
        m,
        &[],
        vec![
            pv.tail_read(Err("has PS set")),
            read(ReadView::Virtual, 0, pv.t.facts.banner_va, 8, Err("has PS set")),
            read(
                ReadView::Physical,
                0,
                TEXT_PFN * PAGE_SIZE + 0x100,
                pv.t.facts.banner.len(),
                Ok(pv.t.facts.banner.as_bytes().to_vec()),
            ),
        ],
    );

    // p2m damage.
    let (p2m_off, _) = pv.region(".xen_p2m");
    let mut m = b.clone();
    put_u64(&mut m, p2m_off + TAIL_PFN * 16 + 8, u64::MAX);
    served(
        "p2m-mfn-invalid",
        "the tail page's p2m entry has mfn ~0: the page cannot be found by machine frame",
        m,
        &[],
        vec![
            pv.tail_read(Err("not in the dump")),
            pv.banner_read(),
            read(
                ReadView::Physical,
                0,
                TAIL_PFN * PAGE_SIZE,
                8,
                Ok(pv.t.facts.tail_value.to_le_bytes().to_vec()),
            ),
        ],
    );
    let mut m = b.clone();
    put_u64(&mut m, p2m_off + 5 * 16, 3);
    served(
        "p2m-unsorted",
        "p2m entry 5 says pfn 3 (out of order, a duplicate)",
        m,
        &[".xen_p2m is damaged: entry 5"],
        vec![
            pv.banner_read(),
            read(
                ReadView::Physical,
                0,
                DATA_PFN * PAGE_SIZE + 0x40,
                8,
                Ok(pv.t.facts.counter.to_le_bytes().to_vec()),
            ),
        ],
    );

    // vCPU contexts with absurd values.
    let (pr_off, _) = pv.region(".xen_prstatus");
    let mut m = b.clone();
    let slot1 = pr_off + pv.layout.context_slot;
    put_u64(
        &mut m,
        slot1 + (CTX64_CTRLREG + 3 * 8),
        0xffff_ffff_ffff_f000,
    );
    put_u64(
        &mut m,
        slot1 + CTX64_FLAGS,
        get_u64(b, slot1 + CTX64_FLAGS) | (1 << 5),
    );
    served(
        "vcpu-cr3-absurd",
        "vCPU 1 (marked online) has CR3 0xfffffffffffff000: vCPU 0 still reads",
        m,
        &["vCPU 1: its page-table root"],
        vec![
            pv.banner_read(),
            read(
                ReadView::Virtual,
                1,
                pv.t.facts.banner_va,
                8,
                Err("not in the dump"),
            ),
        ],
    );
    let mut m = b.clone();
    put_u64(&mut m, pr_off + CTX64_RIP, 0xdead_beef_dead_beef);
    put_u64(&mut m, pr_off + CTX64_RSP, u64::MAX);
    put_u64(&mut m, pr_off + CTX64_FLAGS, u64::MAX);
    for i in 0..8 {
        if i != 3 {
            put_u64(&mut m, pr_off + CTX64_CTRLREG + i * 8, u64::MAX ^ (i << 4));
        }
    }
    served(
        "vcpu-registers-absurd",
        "vCPU 0 has a non-canonical rip, rsp ~0, every flag set and garbage control registers (CR3 kept)",
        m,
        &[],
        vec![pv.banner_read(), read(ReadView::Virtual, 0, 0xdead_beef_dead_beef, 4, Err("not a canonical address"))],
    );
    let mut m = b.clone();
    let vd = note_desc(b, &pv.layout, NOTE_XEN_VERSION);
    for i in 0..1024u64 {
        m[(vd + i) as usize] = 0xff;
    }
    served(
        "xen-version-garbage",
        "XEN_VERSION note strings overwritten with 0xff bytes (not text)",
        m,
        &[],
        vec![pv.banner_read()],
    );

    // HVM: the pfn table out of order.
    let hvm = Base::new(
        GuestKind::Hvm,
        PagingMode::FourLevel,
        &DumpOptions::elf(Width::Bits64),
    );
    let (pfn_off, _) = hvm.region(".xen_pfn");
    let mut m = hvm.bytes.clone();
    put_u64(&mut m, pfn_off + TEXT_PFN * 8, 0x4_0000);
    served(
        "hvm-pfn-entry-absurd",
        "HVM .xen_pfn entry of the text page says pfn 0x40000 (out of order)",
        m,
        &[".xen_pfn is damaged: entry 2"],
        vec![
            hvm.counter_read(),
            hvm.tail_read(Ok(hvm.t.facts.tail_value.to_le_bytes().to_vec())),
        ],
    );
    out
}

// ---- the manifest ----------------------------------------------------------------

/// The manifest text for `cases`: one block per case,
///
/// ```text
/// case NAME
///   about TEXT
///   refused TEXT                              (or:)
///   warning TEXT                              (any number)
///   read VIEW VCPU ADDR LEN = HEX | ! TEXT    (any number)
/// ```
pub fn manifest(cases: &[DamagedCase]) -> String {
    let mut s = String::from(
        "# Damaged-dump corpus: written by `cargo run --example make-damaged-corpus`.\n\
         # Each case: `refused TEXT` (opening fails, the error contains TEXT) or any\n\
         # number of `warning TEXT` (a warning contains TEXT) and\n\
         # `read VIEW VCPU ADDR LEN = HEX` / `... ! TEXT` (bytes read / error contains TEXT).\n",
    );
    for c in cases {
        let _ = writeln!(s, "\ncase {}\n  about {}", c.name, c.about);
        match &c.expect {
            Expectation::Refused(e) => {
                let _ = writeln!(s, "  refused {e}");
            }
            Expectation::Served { warnings, reads } => {
                for w in warnings {
                    let _ = writeln!(s, "  warning {w}");
                }
                for r in reads {
                    let _ = write!(
                        s,
                        "  read {} {} {:#x} {}",
                        r.view.name(),
                        r.vcpu,
                        r.addr,
                        r.len
                    );
                    let _ = match &r.outcome {
                        Ok(b) => writeln!(s, " = {}", hex(b)),
                        Err(e) => writeln!(s, " ! {e}"),
                    };
                }
            }
        }
    }
    s
}

/// A case as read back from a manifest (no bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestCase {
    pub name: String,
    pub about: String,
    pub expect: Expectation,
}

/// Parse a manifest written by [`manifest`].
pub fn parse_manifest(text: &str) -> Result<Vec<ManifestCase>, String> {
    let mut out: Vec<ManifestCase> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("MANIFEST line {}: {line:?}", n + 1);
        let (word, rest) = line.split_once(' ').ok_or_else(bad)?;
        if word == "case" {
            out.push(ManifestCase {
                name: rest.to_string(),
                about: String::new(),
                expect: Expectation::Served {
                    warnings: Vec::new(),
                    reads: Vec::new(),
                },
            });
            continue;
        }
        let case = out.last_mut().ok_or_else(bad)?;
        match (word, &mut case.expect) {
            ("about", _) => case.about = rest.to_string(),
            ("refused", e) => *e = Expectation::Refused(rest.to_string()),
            ("warning", Expectation::Served { warnings, .. }) => warnings.push(rest.to_string()),
            ("read", Expectation::Served { reads, .. }) => {
                let (spec, outcome) = if let Some((a, b)) = rest.split_once(" = ") {
                    (a, Ok(unhex(b).ok_or_else(bad)?))
                } else if let Some((a, b)) = rest.split_once(" ! ") {
                    (a, Err(b.to_string()))
                } else {
                    return Err(bad());
                };
                let f: Vec<&str> = spec.split_whitespace().collect();
                let [view, vcpu, addr, len] = f.as_slice() else {
                    return Err(bad());
                };
                reads.push(ExpectedRead {
                    view: ReadView::parse(view).ok_or_else(bad)?,
                    vcpu: vcpu.parse().map_err(|_| bad())?,
                    addr: u64::from_str_radix(addr.trim_start_matches("0x"), 16)
                        .map_err(|_| bad())?,
                    len: len.parse().map_err(|_| bad())?,
                    outcome,
                });
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}
